package oidc

import (
	"net/http"
	"net/url"

	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/realm"
)

// fastRoutes are the realm endpoints that carry most traffic, by path under
// the realm prefix, with their route (metrics) name.
var fastRoutes = map[string]string{
	pathDiscovery:  "discovery",
	pathCerts:      "certs",
	pathToken:      "token",
	pathIntrospect: "introspect",
	pathUserinfo:   "userinfo",
}

// FastPath serves discovery, JWKS and the token, introspection and userinfo
// endpoints of an enabled realm without the general router: gorilla/mux tries
// its routes' regular expressions in order, which costs more than serving a
// cached discovery document. It reports whether it handled the request;
// anything else (unknown realms, other paths, unexpected methods, paths that
// need cleaning) is left to the router, which answers as usual.
func (ps *Providers) FastPath(w http.ResponseWriter, r *http.Request) bool {
	name, sub, ok := realm.SplitPath(r.URL.Path)
	if !ok {
		return false
	}
	route, ok := fastRoutes[sub]
	if !ok || r.URL.RawPath != "" {
		return false
	}
	cached := sub == pathDiscovery || sub == pathCerts
	if cached && r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p, ok := ps.Get(name)
	if !ok {
		return false
	}
	if l := httpx.RouteLabelsFrom(r.Context()); l != nil {
		l.Route, l.Realm = route, name
	}
	switch sub {
	case pathDiscovery: // both read the path alone: no context to build on the hottest routes
		p.serveDiscovery(w, r)
	case pathCerts:
		p.serveJWKS(w, r)
	default:
		r = p.withIssuer(r)
		if ps.tooLarge(w, r) {
			return true
		}
		if sub == pathToken {
			noStoreHeader(w)
			if isPasswordGrant(r) {
				p.servePasswordGrant(w, r)
				return true
			}
		}
		// What http.StripPrefix does: the library routes relative to the issuer.
		r2 := new(http.Request)
		*r2 = *r
		r2.URL = new(url.URL)
		*r2.URL = *r.URL
		r2.URL.Path = sub
		p.handler.ServeHTTP(w, r2)
	}
	return true
}
