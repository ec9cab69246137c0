package httpx_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/internal/testkit/logbuf"
)

type observed struct {
	path   string
	status int
}

func serve(t *testing.T, h http.HandlerFunc, maxBody int64, r *http.Request) (*httptest.ResponseRecorder, string, []observed) {
	t.Helper()
	var logs logbuf.Buffer
	logger := logs.Logger()
	var obs []observed
	mw := httpx.Middleware(h, logger, maxBody, func(r *http.Request, status int, _ time.Duration) {
		obs = append(obs, observed{r.URL.Path, status})
	})
	w := httptest.NewRecorder()
	mw.ServeHTTP(w, r)
	return w, logs.String(), obs
}

var requestIDRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestMiddlewareRequestID(t *testing.T) {
	var seen string
	var labels *httpx.RouteLabels
	h := func(w http.ResponseWriter, r *http.Request) {
		seen = httpx.RequestID(r.Context())
		labels = httpx.RouteLabelsFrom(r.Context())
		_, _ = io.WriteString(w, "ok")
	}
	w, logs, obs := serve(t, h, 0, httptest.NewRequest(http.MethodGet, "/p?code=SECRET-CODE", nil))
	id := w.Header().Get("X-Request-Id")
	if !requestIDRE.MatchString(id) || seen != id {
		t.Errorf("X-Request-Id = %q, context id %q; want the same 16 hex digits", id, seen)
	}
	if labels == nil {
		t.Error("RouteLabelsFrom = nil inside Middleware, want a holder")
	}
	if len(obs) != 1 || obs[0] != (observed{"/p", 200}) {
		t.Errorf("observer saw %v, want one /p 200", obs)
	}
	if !strings.Contains(logs, "request_id="+id) || strings.Contains(logs, "SECRET-CODE") {
		t.Errorf("access log = %q, want the request id and no query string", logs)
	}
	w2, _, _ := serve(t, h, 0, httptest.NewRequest(http.MethodGet, "/p", nil))
	if w2.Header().Get("X-Request-Id") == id {
		t.Error("two requests got the same request id")
	}
	if httpx.RequestID(httptest.NewRequest(http.MethodGet, "/", nil).Context()) != "" ||
		httpx.RouteLabelsFrom(httptest.NewRequest(http.MethodGet, "/", nil).Context()) != nil {
		t.Error("RequestID or RouteLabelsFrom outside Middleware is set, want empty")
	}
}

func TestMiddlewarePanic(t *testing.T) {
	tests := []struct {
		name       string
		h          http.HandlerFunc
		wantStatus int
		wantJSON   bool // the generic JSON 500
	}{
		{"panic before writing", func(http.ResponseWriter, *http.Request) {
			panic("boom: secret internals")
		}, 500, true},
		{"panic with an error", func(http.ResponseWriter, *http.Request) {
			panic(errors.New("boom: secret internals"))
		}, 500, true},
		// Headers are already out: nothing more can be said on the wire.
		{"panic after writing", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			panic("boom: secret internals")
		}, 202, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, logs, obs := serve(t, tt.h, 0, httptest.NewRequest(http.MethodPost, "/x", nil))
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			body := w.Body.String()
			if strings.Contains(body, "secret internals") || strings.Contains(body, "goroutine") || strings.Contains(body, ".go:") {
				t.Errorf("body leaks the panic or a stack trace: %q", body)
			}
			id := w.Header().Get("X-Request-Id")
			if tt.wantJSON {
				var got map[string]string
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
					t.Fatalf("body %q is not JSON: %v", body, err)
				}
				if want := map[string]string{"message": "internal error", "requestId": id}; len(got) != 2 || got["message"] != want["message"] || got["requestId"] != id {
					t.Errorf("body = %v, want %v", got, want)
				}
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
			}
			if !strings.Contains(logs, "panic serving request") || !strings.Contains(logs, "request_id="+id) || !strings.Contains(logs, "goroutine") {
				t.Errorf("log = %q, want the panic with request id and stack", logs)
			}
			if len(obs) != 1 || obs[0].status != tt.wantStatus {
				t.Errorf("observer saw %v, want status %d", obs, tt.wantStatus)
			}
		})
	}
}

// http.ErrAbortHandler is net/http's way to abort a response: it must reach
// the server untouched.
func TestMiddlewareRepanicsAbortHandler(t *testing.T) {
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", p)
		}
	}()
	serve(t, func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }, 0, httptest.NewRequest(http.MethodGet, "/", nil))
	t.Error("Middleware swallowed http.ErrAbortHandler")
}

func TestMiddlewareBodyCap(t *testing.T) {
	tests := []struct {
		name    string
		maxBody int64
		body    string
		wantErr bool
	}{
		{"under the cap", 10, "123456789", false},
		{"at the cap", 10, "1234567890", false},
		{"over the cap", 10, "12345678901", true},
		{"no cap", 0, strings.Repeat("x", 1<<20), false},
	}
	for _, tt := range tests {
		var n int
		var readErr error
		h := func(w http.ResponseWriter, r *http.Request) {
			var b []byte
			b, readErr = io.ReadAll(r.Body)
			n = len(b)
		}
		serve(t, h, tt.maxBody, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body)))
		var maxErr *http.MaxBytesError
		if tt.wantErr != errors.As(readErr, &maxErr) || (!tt.wantErr && n != len(tt.body)) {
			t.Errorf("%s: handler read %d bytes, err %v; want error %v", tt.name, n, readErr, tt.wantErr)
		}
		if tt.wantErr && int64(n) > tt.maxBody {
			t.Errorf("%s: handler read %d bytes past the %d cap", tt.name, n, tt.maxBody)
		}
	}
}

// DecodeJSON behind Middleware's cap, with the length unknown (chunked):
// the caller sees a *http.MaxBytesError it can map to 413.
func TestDecodeJSONBehindMiddlewareCap(t *testing.T) {
	var err error
	h := func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		err = httpx.DecodeJSON(r, 16, &v)
	}
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"a":"`+strings.Repeat("x", 32)+`"}`))
	r.ContentLength = -1
	serve(t, h, 16, r)
	var maxErr *http.MaxBytesError
	if !errors.Is(err, httpx.ErrBodyTooLarge) && !errors.As(err, &maxErr) {
		t.Errorf("DecodeJSON = %v, want ErrBodyTooLarge or *http.MaxBytesError", err)
	}
}

func TestStatusRecorder(t *testing.T) {
	tests := []struct {
		name string
		do   func(w http.ResponseWriter)
		want int
	}{
		{"nothing written", func(http.ResponseWriter) {}, 0},
		{"implicit 200", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, 200},
		{"explicit", func(w http.ResponseWriter) { w.WriteHeader(404) }, 404},
		{"first status wins", func(w http.ResponseWriter) { w.WriteHeader(201); w.WriteHeader(500) }, 201},
	}
	for _, tt := range tests {
		rec := &httpx.StatusRecorder{ResponseWriter: httptest.NewRecorder()}
		tt.do(rec)
		if rec.Status != tt.want {
			t.Errorf("%s: Status = %d, want %d", tt.name, rec.Status, tt.want)
		}
	}
	inner := httptest.NewRecorder()
	if (&httpx.StatusRecorder{ResponseWriter: inner}).Unwrap() != inner {
		t.Error("Unwrap does not return the wrapped writer")
	}
}

func TestPageHeaders(t *testing.T) {
	const base = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
	tests := []struct {
		name     string
		secure   bool
		hashes   []string
		targets  []string
		wantCSP  string
		wantHSTS string
	}{
		{"plain page", false, nil, nil,
			base + "script-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", ""},
		{"secure page", true, nil, nil,
			base + "script-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", "max-age=31536000"},
		{"one script, one target", true, []string{"sha256-abc="}, []string{"https://app.example.com"},
			base + "script-src 'sha256-abc='; form-action 'self' https://app.example.com; frame-ancestors 'none'; base-uri 'none'", "max-age=31536000"},
		{"empty target (no redirect URI) adds nothing", false, nil, []string{""},
			base + "script-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", ""},
		{"two scripts, two targets", false, []string{"sha256-a=", "sha256-b="}, []string{"https://a.example", "com.example.app:"},
			base + "script-src 'sha256-a=' 'sha256-b='; form-action 'self' https://a.example com.example.app:; frame-ancestors 'none'; base-uri 'none'", ""},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		httpx.PageHeaders(w, tt.secure, tt.hashes, tt.targets)
		h := w.Header()
		if got := h.Get("Content-Security-Policy"); got != tt.wantCSP {
			t.Errorf("%s: CSP =\n %q\nwant\n %q", tt.name, got, tt.wantCSP)
		}
		if got := h.Get("Strict-Transport-Security"); got != tt.wantHSTS {
			t.Errorf("%s: HSTS = %q, want %q", tt.name, got, tt.wantHSTS)
		}
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", tt.name, k, got, want)
			}
		}
	}
}
