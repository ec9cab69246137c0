package oidc

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/internal/platform/ui"
)

// formPostErrors delivers the authorization endpoint's error responses by
// form_post when the request asked for that mode. The library always sends
// them as a query redirect (op.TryErrorRedirect), but OAuth 2.0 Form Post
// Response Mode covers error responses too, and a client whose callback only
// reads POSTed parameters would never see, for example, prompt=none's
// login_required.
//
// Only redirects the library built to the request's redirect_uri carrying an
// error are rewritten; the library sends those only after it validated the
// redirect_uri against the client, so nothing here can post to an
// unregistered URI.
func (p *Provider) formPostErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != pathAuth {
			next.ServeHTTP(w, r)
			return
		}
		// ParseForm keeps the parsed body, so the library can still read it.
		if err := r.ParseForm(); err != nil || r.Form.Get("response_mode") != ModeFormPost || r.Form.Get("redirect_uri") == "" {
			next.ServeHTTP(w, r)
			return
		}
		redirectURI := r.Form.Get("redirect_uri")
		rc := &errorRedirectCatcher{ResponseWriter: w, redirectURI: redirectURI}
		next.ServeHTTP(rc, r)
		if rc.params != nil {
			ui.FormPost(w, p.opts.Proxies.IsHTTPS(r), redirectURI, rc.params)
		}
	})
}

// errorRedirectCatcher swallows a 302 to redirectURI that carries an error
// and keeps its parameters; every other answer passes through unchanged.
type errorRedirectCatcher struct {
	http.ResponseWriter
	redirectURI string
	params      url.Values
}

func (c *errorRedirectCatcher) WriteHeader(status int) {
	if status == http.StatusFound || status == http.StatusSeeOther {
		loc := c.Header().Get("Location")
		if strings.HasPrefix(loc, c.redirectURI) {
			if u, err := url.Parse(loc); err == nil && u.Query().Get("error") != "" {
				c.params = u.Query()
				c.Header().Del("Location")
				c.Header().Del("Content-Type")
				return
			}
		}
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *errorRedirectCatcher) Write(b []byte) (int, error) {
	if c.params != nil {
		return len(b), nil // the redirect's body; the form_post page replaces it
	}
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *errorRedirectCatcher) Unwrap() http.ResponseWriter { return c.ResponseWriter }
