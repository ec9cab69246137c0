package oidc

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/gorilla/mux"
	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Keycloak-compatible endpoint paths, relative to the issuer.
const (
	pathAuth       = "/protocol/openid-connect/auth"
	pathToken      = "/protocol/openid-connect/token"
	pathUserinfo   = "/protocol/openid-connect/userinfo"
	pathIntrospect = "/protocol/openid-connect/token/introspect"
	pathRevoke     = "/protocol/openid-connect/revoke"
	pathLogout     = "/protocol/openid-connect/logout"
	pathCerts      = "/protocol/openid-connect/certs"
	pathLogin      = "/login-actions/authenticate"
	pathLoggedOut  = "/login-actions/logged-out"
	pathDiscovery  = "/.well-known/openid-configuration"
)

// LinkSender sends a sign-in link that completes the given authorization
// request; the login page's "email me a sign-in link" button uses it. The
// magic-link package implements it on top of these providers, so it is
// handed over after both exist (Providers.OfferLoginLinks).
type LinkSender interface {
	SendLoginLink(ctx context.Context, r *realm.Realm, email string, params AuthParams) error
}

// Options configure all providers.
type Options struct {
	Logger  *slog.Logger
	Proxies *httpx.Proxies
	CSRF    *httpx.CSRF
	// MaxBody is the request body cap (server.maxBodyBytes). Larger bodies get
	// 413 in OAuth's error shape; the library alone would answer 400 "error
	// parsing form".
	MaxBody int64
}

// Provider is the OIDC provider of one realm.
type Provider struct {
	realm   *realm.Realm
	op      *op.Provider
	server  *server
	handler http.Handler
	// logoutByRefresh is Keycloak's logout by refresh token behind the same
	// CORS policy as the library's endpoints (a SPA may call it with fetch).
	logoutByRefresh http.Handler
	storage         *opStorage
	opts            *Options
	set             *Providers
	// refreshSigner signs refresh and offline tokens with refreshKey, the
	// realm's HMAC key for them (see refreshjwt.go).
	refreshSigner jose.Signer
	refreshKey    []byte
	// userCodeKey keys the hashes of device user codes (see userCodeHash).
	userCodeKey []byte
	// discovery holds the rendered discovery document of each issuer; it is
	// swapped whole when the keys are reloaded.
	discovery atomic.Pointer[map[string][]byte]
}

// Providers holds the provider of every realm.
type Providers struct {
	byRealm atomic.Pointer[map[string]*Provider]
	opts    *Options
	reg     *realm.Registry
	// links sends the login page's sign-in links (nil: not offered).
	links LinkSender
	// jwks caches clients' jwksUri sets for private_key_jwt; providers reach
	// it through their set, so it outlives a config reload (see Replace).
	jwks *jwksCache
}

// New builds one provider per realm of the registry. It does no I/O beyond
// reading each realm's persisted crypto key.
func New(ctx context.Context, reg *realm.Registry, opts Options) (*Providers, error) {
	ps := &Providers{opts: &opts, reg: reg, jwks: newJWKSCache(opts.Logger)}
	byRealm := map[string]*Provider{}
	for _, r := range reg.All() {
		p, err := newProvider(ctx, r, ps)
		if err != nil {
			return nil, fmt.Errorf("build OIDC provider of realm %q: %w", r.Name, err)
		}
		byRealm[r.Name] = p
	}
	ps.byRealm.Store(&byRealm)
	return ps, nil
}

// Replace makes next's providers (built for a reloaded config, on the realms
// of a registry that replaced this one's view) this set's, atomically. The
// login-link sender stays this set's.
func (ps *Providers) Replace(next *Providers) {
	for _, p := range *next.byRealm.Load() {
		p.set = ps
	}
	ps.byRealm.Store(next.byRealm.Load())
}

// Get returns the provider of an enabled realm.
func (ps *Providers) Get(name string) (*Provider, bool) {
	if _, ok := ps.reg.Get(name); !ok {
		return nil, false
	}
	p, ok := (*ps.byRealm.Load())[name]
	return p, ok
}

// Realm returns the provider's realm.
func (p *Provider) Realm() *realm.Realm { return p.realm }

func newProvider(ctx context.Context, r *realm.Realm, set *Providers) (*Provider, error) {
	opts := set.opts
	key, err := r.Store.RealmSecret(ctx, r.Name, "oidc-crypto-key", randomBytes(32))
	if err != nil {
		return nil, fmt.Errorf("load crypto key: %w", err)
	}
	p := &Provider{realm: r, opts: opts, set: set}
	if p.refreshSigner, p.refreshKey, err = newRefreshSigner(ctx, r.Store, r.Name); err != nil {
		return nil, err
	}
	if p.userCodeKey, err = r.Store.RealmSecret(ctx, r.Name, "device-user-code-key", randomBytes(32)); err != nil {
		return nil, fmt.Errorf("load user code key: %w", err)
	}
	p.storage = &opStorage{p: p}
	cfg := &op.Config{
		CryptoKeyId:              "1",
		DefaultLogoutRedirectURI: r.Issuer + pathLoggedOut,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English},
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess, "roles"},
		SupportedClaims: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid",
			"at_hash", "c_hash", "email", "email_verified", "preferred_username", "realm_access"},
	}
	copy(cfg.CryptoKey[:], key)
	var popts []op.Option
	if strings.HasPrefix(r.Issuer, "http://") {
		popts = append(popts, op.WithAllowInsecure())
	}
	if p.op, err = op.NewProvider(cfg, p.storage, p.issuerFunc, popts...); err != nil {
		return nil, err
	}
	endpoints := op.Endpoints{
		Authorization: op.NewEndpoint(pathAuth), Token: op.NewEndpoint(pathToken),
		Introspection: op.NewEndpoint(pathIntrospect), Userinfo: op.NewEndpoint(pathUserinfo),
		Revocation: op.NewEndpoint(pathRevoke), EndSession: op.NewEndpoint(pathLogout),
		JwksURI: op.NewEndpoint(pathCerts), DeviceAuthorization: op.NewEndpoint(pathDeviceAuth),
	}
	p.server = &server{LegacyServer: op.NewLegacyServer(p.op, endpoints), p: p}
	p.handler = p.formPostErrors(op.RegisterLegacyServer(p.server, p.authorizeCallback, op.WithServerCORSOptions(p.corsOptions())))
	p.logoutByRefresh = cors.New(*p.corsOptions()).Handler(http.HandlerFunc(p.serveLogoutByRefreshToken))
	if err := p.buildDiscovery(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// issuerFunc gives the library the issuer our mount put in the request's
// context (the issuer of the prefix the request came through); the library's
// own guessing from Host headers is never used.
func (p *Provider) issuerFunc(bool) (op.IssuerFromRequest, error) {
	return func(r *http.Request) string { return p.issuer(r.Context()) }, nil
}

// issuer returns the issuer of the request being served: the one of the URL
// prefix it came through (see realm.IssuerForPath), the canonical one when
// the context carries none (magic-link landings, background work).
func (p *Provider) issuer(ctx context.Context) string {
	if iss := op.IssuerFromContext(ctx); iss != "" && p.realm.Tokens.IsIssuer(iss) {
		return iss
	}
	return p.realm.Issuer
}

// withIssuer puts the issuer of r's URL prefix into its context, as the
// library's issuer interceptor would; it must run before any prefix is stripped.
func (p *Provider) withIssuer(r *http.Request) *http.Request {
	ctx := op.ContextWithIssuer(r.Context(), p.realm.IssuerForPath(r.URL.Path))
	// The library hands our overrides the request's headers, not its peer:
	// the client IP rides in the context for the per-IP limits.
	ctx = context.WithValue(ctx, clientIPKey{}, httpx.LimitKey(p.opts.Proxies.ClientIP(r)))
	return r.WithContext(ctx)
}

// clientIPKey carries the request's client IP, as its rate-limit key
// (httpx.LimitKey; see withIssuer).
type clientIPKey struct{}

// clientIP returns the client IP that withIssuer put in ctx.
func clientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// allowIP spends one request of the client IP's budget for one kind of
// work (the realm's perIP rate, a bucket per kind, so that starting
// authorizations cannot starve the same IP's logins). A limiter fault is
// returned for the caller to report; it is not a refusal.
func (p *Provider) allowIP(ctx context.Context, kind string) (ok bool, wait time.Duration, err error) {
	return p.realm.IPLimiter.Allow(ctx, kind+":"+clientIP(ctx))
}

func (p *Provider) corsOptions() *cors.Options {
	var origins []string
	for _, c := range p.realm.Clients() {
		origins = append(origins, clientWebOrigins(c)...)
	}
	o := &cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowedHeaders:   []string{"Authorization", "Content-Type"},
		AllowCredentials: true,
	}
	if len(origins) == 0 {
		// rs/cors treats an empty list as "every origin": a realm without
		// webOrigins must allow none.
		o.AllowOriginFunc = func(string) bool { return false }
	}
	return o
}

// clientWebOrigins returns the origins a client's webOrigins allow, with
// Keycloak's "+" expanded to the origins of its redirect URIs ("*" stays).
func clientWebOrigins(c *realm.Client) []string {
	var out []string
	for _, o := range c.WebOrigins {
		if o == "+" {
			out = append(out, redirectOrigins(c)...)
			continue
		}
		out = append(out, o)
	}
	return out
}

// redirectOrigins returns the scheme://host origins of a client's redirect
// URIs (exact and wildcard), which Keycloak's web origin "+" stands for.
func redirectOrigins(c *realm.Client) []string {
	var out []string
	for _, raw := range append(append([]string(nil), c.RedirectURIs...), c.RedirectPrefixes...) {
		if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Host != "" {
			out = append(out, u.Scheme+"://"+u.Host)
		}
	}
	return out
}

func (p *Provider) opClient(c *realm.Client) *opClient {
	// The library never asks for the login URL (Authorize redirects itself,
	// under the request's issuer); the canonical one satisfies op.Client.
	return &opClient{c: c, idTTL: p.realm.Lifetimes.IDToken, loginURL: func(id string) string {
		return p.realm.Issuer + pathLogin + "?authRequestID=" + id
	}}
}

// loginURL is the login page of an authorization request, under the
// request's issuer.
func (p *Provider) loginURL(ctx context.Context, id string) string {
	return p.issuer(ctx) + pathLogin + "?authRequestID=" + id
}

// RefreshKeys reloads the realm's keys from storage (after a rotation) and
// rebuilds the cached documents.
func (p *Provider) RefreshKeys(ctx context.Context) error {
	if err := p.realm.Keys.Reload(ctx); err != nil {
		return err
	}
	return p.buildDiscovery(ctx)
}

func (p *Provider) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	writeCachedJSON(w, p.realm.Keys.JWKSJSON())
}

func writeCachedJSON(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Cache-Control"] = []string{"public, max-age=60"}
	h["Access-Control-Allow-Origin"] = []string{"*"}
	_, _ = w.Write(b)
}

// Mount registers every realm's OIDC routes on r under both prefixes. It must
// be called after the other packages mounted their realm routes, because the
// protocol handler is a catch-all.
func (ps *Providers) Mount(r *mux.Router) {
	for _, prefix := range realm.RoutePrefixes {
		r.HandleFunc(prefix, ps.withProvider((*Provider).serveRealmInfo)).Methods(http.MethodGet, http.MethodHead).Name("realm-info")
		sub := r.PathPrefix(prefix).Subrouter()
		sub.HandleFunc(pathDiscovery, ps.withProvider(func(p *Provider, w http.ResponseWriter, r *http.Request) {
			p.serveDiscovery(w, r)
		})).Methods(http.MethodGet, http.MethodHead).Name("discovery")
		sub.HandleFunc(pathCerts, ps.withProvider(func(p *Provider, w http.ResponseWriter, r *http.Request) {
			p.serveJWKS(w, r)
		})).Methods(http.MethodGet, http.MethodHead).Name("certs")
		sub.HandleFunc(pathLogin, ps.withProvider((*Provider).serveLogin)).Methods(http.MethodGet, http.MethodPost).Name("login")
		sub.HandleFunc(pathLoggedOut, ps.withProvider((*Provider).serveLoggedOut)).Methods(http.MethodGet).Name("logged-out")
		sub.HandleFunc(pathLogoutConfirm, ps.withProvider((*Provider).serveLogoutConfirm)).Methods(http.MethodGet, http.MethodPost).Name("logout-confirm")
		sub.HandleFunc(pathDevice, ps.withProvider((*Provider).serveDevice)).Methods(http.MethodGet, http.MethodPost).Name("device")
		ps.mountKeycloakJS(sub)
		strip := strings.TrimSuffix(prefix, "/{realm}") + "/"
		protocol := ps.withProvider(func(p *Provider, w http.ResponseWriter, r *http.Request) {
			if ps.tooLarge(w, r) {
				return
			}
			http.StripPrefix(strip+p.realm.Name, p.handler).ServeHTTP(w, r)
		})
		// Keycloak's logout by refresh token is ours; every other logout
		// request is the library's end_session.
		sub.Handle(pathLogout, ps.withProvider(func(p *Provider, w http.ResponseWriter, r *http.Request) {
			if ps.tooLarge(w, r) {
				return
			}
			if isRefreshTokenLogout(r) {
				p.logoutByRefresh.ServeHTTP(w, r)
				return
			}
			protocol(w, r)
		})).Name("logout")
		// The device authorization endpoint spends the per-IP budget first:
		// each call stores a grant.
		sub.Handle(pathDeviceAuth, ps.withProvider(func(p *Provider, w http.ResponseWriter, r *http.Request) {
			if p.deviceAuthLimited(w, r) {
				return
			}
			protocol(w, r)
		})).Name("device-auth")
		// The direct access grant is ours; every other grant is the library's.
		sub.Handle(pathToken, ps.withProvider(func(p *Provider, w http.ResponseWriter, r *http.Request) {
			if ps.tooLarge(w, r) {
				return
			}
			noStoreHeader(w)
			if isPasswordGrant(r) {
				p.servePasswordGrant(w, r)
				return
			}
			protocol(w, r)
		})).Name("token")
		// Named routes give each endpoint its own metrics label; the library's
		// router does the actual dispatch.
		for name, path := range map[string]string{
			"auth": pathAuth, "auth-callback": pathAuth + "/callback", "userinfo": pathUserinfo,
			"introspect": pathIntrospect, "revoke": pathRevoke,
		} {
			sub.Handle(path, protocol).Name(name)
		}
		sub.PathPrefix("/").Handler(protocol).Name("protocol")
	}
}

func (ps *Providers) withProvider(h func(*Provider, http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := ps.Get(mux.Vars(r)["realm"])
		if !ok {
			httpx.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "Realm does not exist"})
			return
		}
		h(p, w, p.withIssuer(r))
	}
}

func randomBytes(n int) func() ([]byte, error) {
	return func() ([]byte, error) {
		b := make([]byte, n)
		_, err := randRead(b)
		return b, err
	}
}

func (p *Provider) newAuthRequest(req *oidc.AuthRequest) storage.AuthRequest {
	now := p.realm.Now()
	return storage.AuthRequest{
		Realm: p.realm.Name, ID: newSecret(18), ClientID: req.ClientID, RedirectURI: req.RedirectURI,
		Scopes: req.Scopes, ResponseType: string(req.ResponseType), ResponseMode: string(req.ResponseMode),
		State: req.State, Nonce: req.Nonce, CodeChallenge: req.CodeChallenge,
		CodeChallengeMethod: string(req.CodeChallengeMethod), Prompt: req.Prompt, MaxAge: req.MaxAge,
		LoginHint: req.LoginHint, CreatedAt: now, ExpiresAt: now.Add(authRequestLifespan),
	}
}

// sessionCookieName is per realm, so one browser can hold sessions of several realms.
func sessionCookieName(realmName string) string { return "LATCHKEY_SESSION_" + realmName }

func sum256(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// tooLarge answers 413 when the declared body exceeds the cap.
func (ps *Providers) tooLarge(w http.ResponseWriter, r *http.Request) bool {
	if ps.opts.MaxBody <= 0 || r.ContentLength <= ps.opts.MaxBody {
		return false
	}
	writeOAuthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "request body too large")
	return true
}
