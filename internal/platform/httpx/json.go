package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// Errors returned by DecodeJSON.
var (
	// ErrBodyTooLarge means the body exceeded the cap.
	ErrBodyTooLarge = errors.New("request body too large")
	// ErrEmptyBody means there was no body at all.
	ErrEmptyBody = errors.New("request body is empty")
)

// MalformedJSONError describes why a body is not the expected JSON.
type MalformedJSONError struct{ Reason string }

func (e *MalformedJSONError) Error() string { return "malformed JSON: " + e.Reason }

// DefaultMaxBody is the body cap used when none is configured.
const DefaultMaxBody = 64 << 10

// DecodeJSON reads at most maxBytes of the body and decodes one JSON value into
// v. The Content-Type is not enforced, because the curl examples that the
// JSON APIs' existing clients copied send JSON as form-encoded (curl -d). It rejects invalid UTF-8, trailing data
// and nesting deeper than 32 levels. Errors: ErrBodyTooLarge, ErrEmptyBody,
// *MalformedJSONError, or the read error.
func DecodeJSON(r *http.Request, maxBytes int64, v any) error {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBody
	}
	if r.ContentLength > maxBytes {
		return ErrBodyTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	if int64(len(body)) > maxBytes {
		return ErrBodyTooLarge
	}
	return UnmarshalJSON(body, v)
}

// UnmarshalJSON applies DecodeJSON's rules to an in-memory body.
func UnmarshalJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return ErrEmptyBody
	}
	if !utf8.Valid(body) {
		return &MalformedJSONError{Reason: "body is not valid UTF-8"}
	}
	if depth(body) > 32 {
		return &MalformedJSONError{Reason: "nesting too deep"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			field := typeErr.Field
			if field == "" {
				return &MalformedJSONError{Reason: fmt.Sprintf("expected a JSON %s", describe(v))}
			}
			return &MalformedJSONError{Reason: fmt.Sprintf("field %q must be a %s", field, typeErr.Type.String())}
		}
		return &MalformedJSONError{Reason: "invalid JSON"}
	}
	if dec.More() {
		return &MalformedJSONError{Reason: "unexpected data after the JSON value"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &MalformedJSONError{Reason: "unexpected data after the JSON value"}
	}
	return nil
}

func describe(v any) string {
	switch v.(type) {
	case *[]any, *[]string:
		return "array"
	default:
		return "object"
	}
}

// depth returns the maximum nesting of JSON arrays/objects, ignoring strings.
func depth(b []byte) int {
	d, maxD, inStr, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			d++
			if d > maxD {
				maxD = d
			}
		case c == '}' || c == ']':
			d--
		}
	}
	return maxD
}

// WriteJSON writes v as JSON with the status, marking the response uncacheable.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// SetRetryAfter writes Retry-After for a wait: whole seconds, rounded up,
// at least 1 (the header has no smaller unit, and 0 would invite a retry
// at once).
func SetRetryAfter(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
}
