package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	routeLabelsKey
)

// RouteLabels name the matched route and realm of a request. Middleware puts
// an empty one in the context; the router fills it in once a route matched
// (the outer middleware runs before routing and cannot see the match).
type RouteLabels struct {
	Route string
	Realm string
}

// RouteLabelsFrom returns the request's labels holder, or nil outside Middleware.
func RouteLabelsFrom(ctx context.Context) *RouteLabels {
	l, _ := ctx.Value(routeLabelsKey).(*RouteLabels)
	return l
}

// RequestID returns the id Middleware assigned to the request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// StatusRecorder captures the status code written by a handler.
type StatusRecorder struct {
	http.ResponseWriter
	Status int
}

// WriteHeader records the status.
func (s *StatusRecorder) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (s *StatusRecorder) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Observer is told about every finished request (metrics).
type Observer func(r *http.Request, status int, elapsed time.Duration)

// Middleware assigns a request id, caps the body, recovers panics into a
// generic 500 (never a stack trace on the wire), logs the request without its
// query string (which may carry codes or link keys) and reports to observe.
func Middleware(next http.Handler, logger *slog.Logger, maxBody int64, observe Observer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		r = r.WithContext(context.WithValue(ctx, routeLabelsKey, &RouteLabels{}))
		if r.Body != nil && maxBody > 0 {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		rec := &StatusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.ErrorContext(r.Context(), "panic serving request", "request_id", id,
					"method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if rec.Status == 0 {
					WriteJSON(rec, http.StatusInternalServerError, map[string]string{
						"message": "internal error", "requestId": id})
				}
			}
			status := rec.Status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			if observe != nil {
				observe(r, status, elapsed)
			}
			level := slog.LevelDebug
			if status >= 500 {
				level = slog.LevelWarn
			}
			if logger.Enabled(r.Context(), level) { // skip building the attributes on the hot path
				logger.Log(r.Context(), level, "request", "request_id", id, "method", r.Method,
					"path", r.URL.Path, "status", status, "duration_ms", elapsed.Milliseconds())
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// PageHeaders sets the security headers of an HTML page. scriptHashes are CSP
// hashes ('sha256-...') of inline scripts the page may run; formTargets are
// origins a form may post to (form_post responses).
func PageHeaders(w http.ResponseWriter, secure bool, scriptHashes []string, formTargets []string) {
	h := w.Header()
	script := "'none'"
	if len(scriptHashes) > 0 {
		script = ""
		for i, s := range scriptHashes {
			if i > 0 {
				script += " "
			}
			script += "'" + s + "'"
		}
	}
	form := "'self'"
	for _, t := range formTargets {
		if t != "" { // a request without a redirect URI (device flow) adds none
			form += " " + t
		}
	}
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; script-src "+
		script+"; form-action "+form+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if secure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}
