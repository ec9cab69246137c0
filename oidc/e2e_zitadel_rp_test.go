package oidc_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/latchkey/latchkey/config"
)

// TestZitadelRelyingParty is one happy path with a second, independent RP
// library: zitadel's rp drives code + PKCE + nonce from its own HTTP server
// (state and verifier in its cookies), exchanges the code and calls userinfo.
func TestZitadelRelyingParty(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	rpSrv := httptest.NewServer(mux)
	t.Cleanup(rpSrv.Close)
	redirect := rpSrv.URL + "/callback"
	env := newEnv(t, func(cfg *config.Config) { addRedirect(cfg, "acme", "web", redirect) })

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	nonce := randomString()
	cookies := httphelper.NewCookieHandler(key, key, httphelper.WithUnsecure())
	party, err := rp.NewRelyingPartyOIDC(context.Background(), env.Issuer("acme"), "web", "", redirect,
		[]string{zoidc.ScopeOpenID, zoidc.ScopeProfile, zoidc.ScopeEmail},
		rp.WithPKCE(cookies), rp.WithHTTPClient(tlsClient(env)),
		rp.WithVerifierOpts(rp.WithNonce(func(context.Context) string { return nonce })))
	if err != nil {
		t.Fatalf("NewRelyingPartyOIDC: %v", err)
	}

	var (
		mu     sync.Mutex
		gotTok *zoidc.Tokens[*zoidc.IDTokenClaims]
		gotUI  *zoidc.UserInfo
		gotSt  string
	)
	state := "rp-" + randomString()[:10]
	mux.Handle("/login", rp.AuthURLHandler(func() string { return state }, party, rp.WithURLParam("nonce", nonce)))
	mux.Handle("/callback", rp.CodeExchangeHandler(rp.UserinfoCallback(
		func(w http.ResponseWriter, _ *http.Request, tokens *zoidc.Tokens[*zoidc.IDTokenClaims], st string, _ rp.RelyingParty, info *zoidc.UserInfo) {
			mu.Lock()
			gotTok, gotUI, gotSt = tokens, info, st
			mu.Unlock()
			_, _ = w.Write([]byte("signed in"))
		}), party))

	browser := env.Client()
	start := get(t, browser, rpSrv.URL+"/login")
	if start.Status != http.StatusFound || !strings.HasPrefix(start.Header.Get("Location"), env.Issuer("acme")+pAuth) {
		t.Fatalf("RP /login = %d Location %q, want 302 to the authorization endpoint", start.Status, start.Header.Get("Location"))
	}
	back := browserLogin(t, browser, start.Header.Get("Location"), "alice@example.com", alicePassword)
	ar := parseAuthResponse(t, back)
	if ar.Target != redirect || ar.Params.Get("code") == "" {
		t.Fatalf("authorization response %+v, want a code at %s", ar, redirect)
	}
	done := get(t, browser, back.Header.Get("Location"))
	if done.Status != http.StatusOK || done.Body != "signed in" {
		t.Fatalf("RP callback = %d %q, want 200 signed in", done.Status, done.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	if gotSt != state {
		t.Errorf("RP state = %q, want %q", gotSt, state)
	}
	if gotTok == nil || gotTok.IDTokenClaims == nil {
		t.Fatalf("RP got no ID token claims")
	}
	claims := gotTok.IDTokenClaims
	if claims.Issuer != env.Issuer("acme") || claims.Nonce != nonce || claims.AuthorizedParty != "web" {
		t.Errorf("ID token iss=%q nonce=%q azp=%q, want %q %q web", claims.Issuer, claims.Nonce, claims.AuthorizedParty, env.Issuer("acme"), nonce)
	}
	if gotUI.Subject != claims.Subject || gotUI.Email != "alice@example.com" {
		t.Errorf("userinfo sub=%q email=%q, want %q alice@example.com", gotUI.Subject, gotUI.Email, claims.Subject)
	}
	if gotTok.RefreshToken == "" {
		t.Errorf("RP got no refresh token")
	}
}
