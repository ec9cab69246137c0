package httpx

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// CSRF issues and checks double-submit tokens: a random HttpOnly cookie and a
// form field holding an HMAC of it under a server key, bound to a purpose
// (e.g. the form's path) so that a token of one form is useless in another.
type CSRF struct {
	Key        []byte
	CookieName string
	// Secure reports whether a request came over https (cookie Secure flag).
	Secure func(*http.Request) bool
}

// FieldName is the hidden form field that carries the token.
const FieldName = "csrf_token"

// Token returns the form token for the request, setting the cookie if absent.
func (c *CSRF) Token(w http.ResponseWriter, r *http.Request, purpose string) string {
	seed := ""
	if ck, err := r.Cookie(c.CookieName); err == nil && len(ck.Value) >= 32 {
		seed = ck.Value
	} else {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		seed = base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{
			Name: c.CookieName, Value: seed, Path: "/", HttpOnly: true,
			Secure: c.Secure != nil && c.Secure(r), SameSite: http.SameSiteLaxMode,
		})
	}
	return c.mac(seed, purpose)
}

// Valid checks the submitted form token against the cookie in constant time.
func (c *CSRF) Valid(r *http.Request, purpose string) bool {
	ck, err := r.Cookie(c.CookieName)
	if err != nil || len(ck.Value) < 32 {
		return false
	}
	got := r.PostFormValue(FieldName)
	want := c.mac(ck.Value, purpose)
	return hmac.Equal([]byte(got), []byte(want))
}

func (c *CSRF) mac(seed, purpose string) string {
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(seed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
