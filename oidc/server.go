package oidc

import (
	"context"
	"encoding/json"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// server is the library's LegacyServer with the methods where Latchkey
// behaves like Keycloak overridden. Each flow lives in the file named for it:
// authorize.go, code.go, refresh.go, clientcredentials.go, userinfo.go,
// introspect.go, revoke.go, logout.go and device.go.
type server struct {
	*op.LegacyServer
	p *Provider
}

var _ op.ExtendedLegacyServer = (*server)(nil)

// Discovery answers with the document of the request's issuer.
func (s *server) Discovery(ctx context.Context, _ *op.Request[struct{}]) (*op.Response, error) {
	return op.NewResponse(json.RawMessage(s.p.discoveryOf(s.p.issuer(ctx)))), nil
}

// Keys answers with the realm's JWKS (public halves only).
func (s *server) Keys(context.Context, *op.Request[struct{}]) (*op.Response, error) {
	return op.NewResponse(json.RawMessage(s.p.realm.Keys.JWKSJSON())), nil
}

// VerifyClient authenticates the client of a token, revocation or device
// request by its configured method (see authenticateClient); failures are
// invalid_client with 401, as RFC 6749 §5.2 asks (the library answers 400).
func (s *server) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	c, err := s.p.authenticateClient(ctx, r.Form, r.Header)
	if err != nil {
		return nil, err
	}
	if c.Public && oidc.GrantType(r.Form.Get("grant_type")) == oidc.GrantTypeClientCredentials {
		// A service account needs an authenticated client; the library
		// would answer 400, RFC 6749 §5.2 says 401.
		return nil, s.p.authFailed(ctx, c.ID, "a public client asked for client_credentials", invalidClient(""))
	}
	return s.p.opClient(c), nil
}
