// Package jsonapi is the one request pipeline of the realm's JSON APIs (the
// magic-link, password-login, API-token and application-link APIs): realm
// lookup, path check, method, transport security, the bearer token through
// the realm's token gate, the role, the per-IP rate limit, the capped body
// decode and panic recovery (the path check, transport security and bearer
// token are steps an API opts into). Every step fails with a typed error; each
// API supplies one Writer that turns any error into its own wire shape, so the
// APIs differ only in their messages, never in how a request is judged.
package jsonapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Failures of the pipeline's own steps.
var (
	// ErrRealmNotFound: no enabled realm of that name (404).
	ErrRealmNotFound = errors.New("realm not found")
	// ErrMethodNotAllowed: the APIs take POST only (405, with Allow).
	ErrMethodNotAllowed = errors.New("method not allowed")
	// ErrHTTPSRequired: plain http where the realm's sslRequired forbids it (403).
	ErrHTTPSRequired = errors.New("HTTPS required")
	// ErrTooLarge: the body exceeds the cap (413).
	ErrTooLarge = errors.New("request body too large")
	// ErrEmptyBody: no body at all (400).
	ErrEmptyBody = errors.New("request body is empty")
	// ErrUnreadableBody: the client broke off or sent a broken body (400).
	ErrUnreadableBody = errors.New("request body could not be read")
	// ErrNoToken: no Authorization header (401).
	ErrNoToken = errors.New("no bearer token")
	// ErrNotBearer: an Authorization header of another scheme (401).
	ErrNotBearer = errors.New("authorization scheme is not Bearer")
	// ErrPanic: the API's code panicked (500; the stack is logged).
	ErrPanic = errors.New("internal error")
)

// MalformedError is a body that is not the expected JSON (400); Reason is
// safe to show (it names a field or a fixed reason, never echoes input).
type MalformedError struct{ Reason string }

func (e *MalformedError) Error() string { return "malformed JSON: " + e.Reason }

// TokenError is a bearer token the gate refused (401); Err says why (logs only).
type TokenError struct{ Err error }

func (e *TokenError) Error() string { return "bearer token refused: " + e.Err.Error() }
func (e *TokenError) Unwrap() error { return e.Err }

// ForbiddenError is a valid token whose subject lacks the role (403).
type ForbiddenError struct{ Role string }

func (e *ForbiddenError) Error() string { return "caller lacks the realm role " + e.Role }

// LimitedError is a rate-limit refusal (429 with Retry-After).
type LimitedError struct{ RetryAfter time.Duration }

func (e *LimitedError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s", e.RetryAfter.Round(time.Second))
}

// Writer writes err in an API's wire shape and returns the status it wrote.
type Writer func(w http.ResponseWriter, r *http.Request, err error) int

// Endpoint is one API's pipeline configuration.
type Endpoint struct {
	// API names the endpoint in logs.
	API     string
	Realms  *realm.Registry
	Proxies *httpx.Proxies
	// MaxBody caps request bodies (httpx.DefaultMaxBody when 0).
	MaxBody int64
	Logger  *slog.Logger
	// Check, when set, runs after the realm lookup and before the method
	// check (e.g. an unknown sub-path answers 404 whatever the method).
	Check func(*http.Request) error
	// HTTPS applies the realm's sslRequired (Keycloak's rule) to the caller.
	HTTPS bool
	// Write is the API's wire shape for every error.
	Write Writer
}

// Call is one request going through the pipeline.
type Call struct {
	W     http.ResponseWriter
	R     *http.Request
	Realm *realm.Realm
	e     *Endpoint
}

// Handle returns the endpoint's handler: the shared steps, then serve, which
// writes the success answer itself and returns any error for Write. Panics
// are recovered and answered as ErrPanic; answers of 5xx are logged with the
// request id.
func (e *Endpoint) Handle(serve func(*Call) error) http.Handler {
	if e.Logger == nil {
		e.Logger = slog.Default()
	}
	if e.Proxies == nil {
		e.Proxies = &httpx.Proxies{}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				e.Logger.ErrorContext(r.Context(), "JSON API panicked", "api", e.API, "panic", fmt.Sprint(v),
					"stack", string(debug.Stack()), "request_id", httpx.RequestID(r.Context()))
				e.Write(w, r, ErrPanic)
			}
		}()
		if err := e.run(w, r, serve); err != nil {
			e.fail(w, r, err)
		}
	})
}

func (e *Endpoint) run(w http.ResponseWriter, r *http.Request, serve func(*Call) error) error {
	rl, ok := e.realmOf(r)
	if !ok {
		return ErrRealmNotFound
	}
	if e.Check != nil {
		if err := e.Check(r); err != nil {
			return err
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return ErrMethodNotAllowed
	}
	if e.HTTPS && !e.Proxies.SSLRequirementMet(r, rl.SSLRequired) {
		return ErrHTTPSRequired
	}
	return serve(&Call{W: w, R: r, Realm: rl, e: e})
}

// fail writes err and logs server-side failures.
func (e *Endpoint) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := e.Write(w, r, err)
	if status >= 500 && !errors.Is(err, context.Canceled) {
		e.Logger.ErrorContext(r.Context(), "JSON API failed", "api", e.API, "status", status, "error", err,
			"request_id", httpx.RequestID(r.Context()))
	}
}

// realmOf returns the enabled realm named in the path, or the default realm
// for the root aliases.
func (e *Endpoint) realmOf(r *http.Request) (*realm.Realm, bool) {
	name, ok := mux.Vars(r)["realm"]
	if !ok {
		name = e.Realms.Default()
	}
	return e.Realms.Get(name)
}

// Issuer is the issuer of the prefix the request came through, for the
// tokens the API mints.
func (c *Call) Issuer() string { return c.Realm.IssuerForPath(c.R.URL.Path) }

// ClientIP is the caller's address (proxies believed as configured).
func (c *Call) ClientIP() string { return c.e.Proxies.ClientIP(c.R).String() }

// AllowIP applies the realm's per-IP rate limit.
func (c *Call) AllowIP() error {
	ok, wait, err := c.Realm.IPLimiter.Allow(c.R.Context(), httpx.LimitKey(c.e.Proxies.ClientIP(c.R)))
	switch {
	case err != nil:
		return err
	case !ok:
		return &LimitedError{RetryAfter: wait}
	}
	return nil
}

// Bearer authenticates the request's bearer token through the realm's token
// gate, accepting only the given kinds, and requires role when it is not
// empty. Errors: ErrNoToken, ErrNotBearer, *TokenError, *ForbiddenError, or a
// fault of the gate (storage).
func (c *Call) Bearer(accept tokens.Kind, role string) (realm.Principal, error) {
	raw, ok := httpx.BearerToken(c.R)
	if !ok {
		if h := c.R.Header.Get("Authorization"); h != "" && !strings.HasPrefix(strings.ToLower(h), "bearer ") {
			return realm.Principal{}, ErrNotBearer
		} else if h != "" {
			return realm.Principal{}, &TokenError{Err: tokens.ErrMalformed}
		}
		return realm.Principal{}, ErrNoToken
	}
	p, err := c.Realm.Gate(c.R.Context(), raw, accept)
	if err != nil {
		if tokens.IsInvalid(err) {
			return realm.Principal{}, &TokenError{Err: err}
		}
		return realm.Principal{}, err
	}
	if role != "" && !p.HasRole(role) {
		return realm.Principal{}, &ForbiddenError{Role: role}
	}
	return p, nil
}

// Decode reads the capped JSON body into v. Errors: ErrTooLarge,
// ErrEmptyBody, *MalformedError, ErrUnreadableBody.
func (c *Call) Decode(v any) error {
	err := httpx.DecodeJSON(c.R, c.e.MaxBody, v)
	var malformed *httpx.MalformedJSONError
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, httpx.ErrBodyTooLarge), errors.As(err, &tooBig):
		return ErrTooLarge
	case errors.Is(err, httpx.ErrEmptyBody):
		return ErrEmptyBody
	case errors.As(err, &malformed):
		return &MalformedError{Reason: malformed.Reason}
	default:
		return fmt.Errorf("%w: %w", ErrUnreadableBody, err)
	}
}

// RetryAfter reports the wait of a refusal that has one: a rate limit or a
// brute-force lockout.
func RetryAfter(err error) (time.Duration, bool) {
	var limited *LimitedError
	if errors.As(err, &limited) {
		return limited.RetryAfter, true
	}
	var locked *realm.LockedError
	if errors.As(err, &locked) {
		return locked.RetryAfter, true
	}
	return 0, false
}

// SetRetryAfter writes Retry-After for err when it has a wait: whole
// seconds, rounded up, at least 1.
func SetRetryAfter(w http.ResponseWriter, err error) {
	if d, ok := RetryAfter(err); ok {
		httpx.SetRetryAfter(w, d)
	}
}

// IsUnavailable reports whether err means the service cannot answer now
// (storage down, or the request's deadline passed): a 503.
func IsUnavailable(err error) bool {
	return errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}
