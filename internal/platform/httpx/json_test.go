package httpx_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/latchkey/latchkey/internal/platform/httpx"
)

type body struct {
	Email string `json:"email"`
	Count int    `json:"count"`
	Inner struct {
		Flag bool `json:"flag"`
	} `json:"inner"`
	List []string `json:"list"`
}

// nested returns n levels of arrays around 1.
func nested(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }

// nestedObj returns n levels of objects.
func nestedObj(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }

func TestUnmarshalJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		target  func() any
		wantErr error  // sentinel, or nil
		reason  string // *MalformedJSONError reason substring ("" = no such error)
	}{
		{name: "object", in: `{"email":"a@example.com","count":2,"inner":{"flag":true},"list":["x"]}`},
		{name: "surrounding space", in: " \n\t{\"email\":\"a\"}\n "},
		{name: "unknown fields ignored", in: `{"other":1}`},
		{name: "empty", in: ``, wantErr: httpx.ErrEmptyBody},
		{name: "whitespace only", in: " \r\n\t ", wantErr: httpx.ErrEmptyBody},
		{name: "invalid UTF-8 in a string", in: "{\"email\":\"\xff\"}", reason: "not valid UTF-8"},
		{name: "invalid UTF-8 outside strings", in: "{\"email\":\"a\"}\xc3", reason: "not valid UTF-8"},
		{name: "trailing object", in: `{"email":"a"}{"email":"b"}`, reason: "unexpected data after"},
		{name: "trailing garbage", in: `{"email":"a"} x`, reason: "unexpected data after"},
		{name: "trailing brace", in: `{"email":"a"}}`, reason: "unexpected data after"},
		{name: "trailing number", in: `{} 1`, reason: "unexpected data after"},
		{name: "truncated", in: `{"email":"a"`, reason: "invalid JSON"},
		{name: "not JSON", in: `email=a@example.com`, reason: "invalid JSON"},
		{name: "single quotes", in: `{'email':'a'}`, reason: "invalid JSON"},
		{name: "wrong type names the field", in: `{"count":"two"}`, reason: `field "count" must be a int`},
		{name: "wrong type of a string field", in: `{"email":5}`, reason: `field "email" must be a string`},
		{name: "wrong type nested field", in: `{"inner":{"flag":"yes"}}`, reason: `field "inner.flag" must be a bool`},
		{name: "wrong type list element", in: `{"list":[1]}`, reason: `field "list" must be a string`},
		{name: "array for an object", in: `[1,2]`, reason: "expected a JSON object"},
		{name: "string for an object", in: `"x"`, reason: "expected a JSON object"},
		{name: "object for an array", in: `{}`, target: func() any { return &[]string{} }, reason: "expected a JSON array"},
		{name: "array into []string", in: `["a","b"]`, target: func() any { return &[]string{} }},
		{name: "depth 32 arrays", in: nested(32), target: func() any { var v any; return &v }},
		{name: "depth 33 arrays", in: nested(33), target: func() any { var v any; return &v }, reason: "nesting too deep"},
		{name: "depth 32 objects", in: nestedObj(32), target: func() any { var v any; return &v }},
		{name: "depth 33 objects", in: nestedObj(33), target: func() any { var v any; return &v }, reason: "nesting too deep"},
		{name: "brackets inside strings do not count", in: `{"email":"` + strings.Repeat("[{", 40) + `"}`},
		{name: "escaped quote keeps the string open", in: `{"email":"\"` + strings.Repeat("[", 40) + `"}`},
		{name: "escaped backslash closes the string", in: `["\\"` + strings.Repeat(",[", 32) + strings.Repeat("]", 32) + `]`,
			target: func() any { var v any; return &v }, reason: "nesting too deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any = &body{}
			if tt.target != nil {
				v = tt.target()
			}
			err := httpx.UnmarshalJSON([]byte(tt.in), v)
			checkDecodeErr(t, err, tt.wantErr, tt.reason)
		})
	}
}

func checkDecodeErr(t *testing.T, err, wantErr error, reason string) {
	t.Helper()
	var mal *httpx.MalformedJSONError
	switch {
	case wantErr != nil:
		if !errors.Is(err, wantErr) {
			t.Fatalf("error = %v, want %v", err, wantErr)
		}
	case reason != "":
		if !errors.As(err, &mal) || !strings.Contains(mal.Reason, reason) {
			t.Fatalf("error = %v, want a *MalformedJSONError with reason containing %q", err, reason)
		}
		if !strings.HasPrefix(err.Error(), "malformed JSON: ") {
			t.Errorf("Error() = %q, want the prefix %q", err.Error(), "malformed JSON: ")
		}
	default:
		if err != nil {
			t.Fatalf("error = %v, want nil", err)
		}
	}
}

// The decoded value arrives intact.
func TestUnmarshalJSONValue(t *testing.T) {
	var b body
	err := httpx.UnmarshalJSON([]byte(`{"email":"a@example.com","count":2,"inner":{"flag":true},"list":["x","y"]}`), &b)
	if err != nil || b.Email != "a@example.com" || b.Count != 2 || !b.Inner.Flag || strings.Join(b.List, ",") != "x,y" {
		t.Errorf("decoded %+v, %v; want all fields set", b, err)
	}
}

func TestDecodeJSON(t *testing.T) {
	const limit = 64
	small := `{"email":"a@example.com"}`
	exact := `{"email":"` + strings.Repeat("a", limit-len(`{"email":""}`)) + `"}`
	if len(exact) != limit {
		t.Fatalf("test setup: exact body has %d bytes, want %d", len(exact), limit)
	}
	tests := []struct {
		name     string
		body     io.Reader
		length   int64 // Content-Length; -1 unknown
		maxBytes int64
		wantErr  error
		reason   string
	}{
		{"small", strings.NewReader(small), int64(len(small)), limit, nil, ""},
		{"exactly the cap", strings.NewReader(exact), limit, limit, nil, ""},
		{"exactly the cap, length unknown", strings.NewReader(exact), -1, limit, nil, ""},
		{"too large by Content-Length", strings.NewReader(small), limit + 1, limit, httpx.ErrBodyTooLarge, ""},
		{"too large by reading", strings.NewReader(exact + " "), -1, limit, httpx.ErrBodyTooLarge, ""},
		{"Content-Length understated", strings.NewReader(exact + "  "), 10, limit, httpx.ErrBodyTooLarge, ""},
		{"default cap for 0", strings.NewReader(`{"email":"` + strings.Repeat("a", httpx.DefaultMaxBody) + `"}`), -1, 0, httpx.ErrBodyTooLarge, ""},
		{"default cap allows less", strings.NewReader(small), -1, 0, nil, ""},
		{"empty", strings.NewReader(""), 0, limit, httpx.ErrEmptyBody, ""},
		{"no body", http.NoBody, 0, limit, httpx.ErrEmptyBody, ""},
		{"malformed", strings.NewReader("{"), 1, limit, nil, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", tt.body)
			r.ContentLength = tt.length
			var b body
			checkDecodeErr(t, httpx.DecodeJSON(r, tt.maxBytes, &b), tt.wantErr, tt.reason)
		})
	}
}

// A read failure is returned wrapped, not disguised as bad JSON.
func TestDecodeJSONReadError(t *testing.T) {
	boom := errors.New("connection reset")
	r := httptest.NewRequest(http.MethodPost, "/", iotest.ErrReader(boom))
	r.ContentLength = -1
	var b body
	err := httpx.DecodeJSON(r, 100, &b)
	var mal *httpx.MalformedJSONError
	if !errors.Is(err, boom) || errors.As(err, &mal) {
		t.Errorf("DecodeJSON = %v, want the read error wrapped", err)
	}
}

func TestWriteJSON(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		v          any
		wantStatus int
		wantBody   string
	}{
		{"object", http.StatusCreated, map[string]string{"a": "<b>"}, http.StatusCreated, `{"a":"\u003cb\u003e"}`},
		{"unencodable", http.StatusOK, map[string]any{"f": func() {}}, http.StatusInternalServerError, `{"message":"internal error"}`},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		httpx.WriteJSON(w, tt.status, tt.v)
		if w.Code != tt.wantStatus || w.Body.String() != tt.wantBody {
			t.Errorf("%s: WriteJSON = %d %s, want %d %s", tt.name, w.Code, w.Body, tt.wantStatus, tt.wantBody)
		}
		for k, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"} {
			if got := w.Header().Get(k); got != want {
				t.Errorf("%s: header %s = %q, want %q", tt.name, k, got, want)
			}
		}
	}
}

// FuzzUnmarshalJSON checks that UnmarshalJSON never panics, returns only its
// documented errors, and accepts only bodies encoding/json also accepts.
func FuzzUnmarshalJSON(f *testing.F) {
	for _, s := range []string{`{"email":"a@example.com","count":1}`, `[1,[2,[3]]]`, nested(33), `{"a":"\"["}`, "\xff", ``, `{} {}`, `{"count":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var v any
		err := httpx.UnmarshalJSON(in, &v)
		var mal *httpx.MalformedJSONError
		switch {
		case err == nil:
			if !json.Valid(in) {
				t.Fatalf("UnmarshalJSON accepted %q, which encoding/json calls invalid", in)
			}
		case errors.Is(err, httpx.ErrEmptyBody), errors.As(err, &mal):
		default:
			t.Fatalf("UnmarshalJSON(%q) = %v, want ErrEmptyBody or *MalformedJSONError", in, err)
		}
	})
}
