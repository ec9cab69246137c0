package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/realm"
)

// capabilities are the optional parts of the protocol that some client of
// the realm has enabled; discovery lists each exactly then, so a relying
// party never tries what no client may use.
type capabilities struct {
	password          bool // the direct access grant
	device            bool // the device authorization grant
	offline           bool // offline_access: some client has the refresh_token grant
	backchannelLogout bool // some client has a backchannelLogoutUri
	sessionIframe     bool // some client has webOrigins (only they may frame the status iframe)
}

func (p *Provider) capabilities() capabilities {
	var caps capabilities
	for _, c := range p.realm.Clients() {
		caps.password = caps.password || c.AllowsGrant(realm.GrantPassword)
		caps.device = caps.device || c.AllowsGrant(realm.GrantDeviceCode)
		caps.offline = caps.offline || c.AllowsGrant(realm.GrantRefreshToken)
		caps.backchannelLogout = caps.backchannelLogout || c.BackchannelLogoutURI != ""
		caps.sessionIframe = caps.sessionIframe || len(c.WebOrigins) > 0
	}
	return caps
}

// buildDiscovery renders the discovery document of each issuer once; they
// change only when the realm's key algorithms change (see RefreshKeys).
func (p *Provider) buildDiscovery(ctx context.Context) error {
	docs := make(map[string][]byte, 2)
	for _, iss := range []string{p.realm.Issuer, p.realm.AltIssuer} {
		b, err := p.discoveryDocument(ctx, iss)
		if err != nil {
			return err
		}
		docs[iss] = b
	}
	p.discovery.Store(&docs)
	return nil
}

// discoveryDocument renders the discovery document of one issuer: every
// endpoint under that issuer, as Keycloak derives them from the request.
func (p *Provider) discoveryDocument(ctx context.Context, iss string) ([]byte, error) {
	ctx = op.ContextWithIssuer(ctx, iss)
	d := op.CreateDiscoveryConfig(ctx, p.op, p.storage)
	d.Issuer = iss
	d.AuthorizationEndpoint = iss + pathAuth
	d.TokenEndpoint = iss + pathToken
	d.UserinfoEndpoint = iss + pathUserinfo
	d.IntrospectionEndpoint = iss + pathIntrospect
	d.RevocationEndpoint = iss + pathRevoke
	d.EndSessionEndpoint = iss + pathLogout
	d.JwksURI = iss + pathCerts
	caps := p.capabilities()
	d.DeviceAuthorizationEndpoint = ""
	if caps.device {
		d.DeviceAuthorizationEndpoint = iss + pathDeviceAuth
	}
	d.CheckSessionIframe = ""
	if caps.sessionIframe {
		d.CheckSessionIframe = iss + pathLoginStatusIframe
	}
	d.BackChannelLogoutSupported = caps.backchannelLogout
	d.BackChannelLogoutSessionSupported = caps.backchannelLogout
	d.ResponseTypesSupported = []string{"code", "id_token", "token", "id_token token", "code id_token", "code token", "code id_token token"}
	d.ResponseModesSupported = []string{"query", "fragment", "form_post"}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeImplicit, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials}
	if caps.password {
		d.GrantTypesSupported = append(d.GrantTypesSupported, oidc.GrantType(realm.GrantPassword))
	}
	if caps.device {
		d.GrantTypesSupported = append(d.GrantTypesSupported, oidc.GrantTypeDeviceCode)
	}
	if !caps.offline {
		d.ScopesSupported = slices.DeleteFunc(d.ScopesSupported, func(s string) bool { return s == oidc.ScopeOfflineAccess })
	}
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	// Client authentication: the secret methods always, the signed-JWT
	// methods (and their algorithms) when some client uses them.
	authMethods, authAlgs := p.clientAuthMethods(), p.clientAuthSigningAlgs()
	d.TokenEndpointAuthMethodsSupported = append(slices.Clone(authMethods), oidc.AuthMethodNone)
	d.IntrospectionEndpointAuthMethodsSupported = authMethods
	d.RevocationEndpointAuthMethodsSupported = append(slices.Clone(authMethods), oidc.AuthMethodNone)
	d.TokenEndpointAuthSigningAlgValuesSupported = authAlgs
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = authAlgs
	d.RevocationEndpointAuthSigningAlgValuesSupported = authAlgs
	algs := make([]string, 0, 3)
	for _, a := range p.realm.Keys.Algorithms() {
		algs = append(algs, string(a))
	}
	d.IDTokenSigningAlgValuesSupported = algs
	d.UserinfoSigningAlgValuesSupported = nil
	d.RequestObjectSigningAlgValuesSupported = nil
	d.RequestParameterSupported = false
	d.RequestURIParameterSupported = false
	d.SubjectTypesSupported = []string{"public"}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode discovery document: %w", err)
	}
	return b, nil
}

// discoveryOf returns the discovery document of one of the realm's issuers.
func (p *Provider) discoveryOf(iss string) []byte { return (*p.discovery.Load())[iss] }

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	writeCachedJSON(w, p.discoveryOf(p.realm.IssuerForPath(r.URL.Path)))
}
