package oidc

import (
	"net/http"
	"time"

	"github.com/latchkey/latchkey/internal/platform/httpx"
)

// writeOAuthError answers in OAuth's error shape (RFC 6749 §5.2) from the
// endpoints Latchkey serves itself rather than through the library: the
// direct access grant, the device authorization limit, logout by refresh
// token, an oversized body. httpx.WriteJSON marks it uncacheable.
func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	httpx.WriteJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// writeOAuthLimited answers a rate-limited request: 429 with Retry-After and
// temporarily_unavailable, the nearest registered code (OAuth has none for
// rate limits).
func writeOAuthLimited(w http.ResponseWriter, wait time.Duration, desc string) {
	httpx.SetRetryAfter(w, wait)
	writeOAuthError(w, http.StatusTooManyRequests, "temporarily_unavailable", desc)
}
