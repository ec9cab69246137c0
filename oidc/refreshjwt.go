package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/storage"
)

// Refresh and offline tokens are JWTs, as Keycloak's are, because Keycloak's
// JavaScript adapter decodes them (it reads exp). They are signed with a
// per-realm HMAC key (HS512, as Keycloak signs them), never with the realm's
// published signing keys: they are for the token endpoint alone, and the
// token gate, which verifies with the JWKS, refuses them everywhere else.
// The signature is not what makes one valid: the server stores only the
// hash of each token and checks it on use, exactly as for the opaque tokens
// before.

// Keycloak's typ values of refresh tokens.
const (
	typRefresh = "Refresh"
	typOffline = "Offline"
)

// maxRefreshTokenLen bounds a presented refresh token before it is hashed
// (a Latchkey refresh JWT is well under 1 KiB).
const maxRefreshTokenLen = 4096

// refreshClaims are the claims of a refresh or offline token.
type refreshClaims struct {
	Issuer          string `json:"iss"`
	Subject         string `json:"sub"`
	Audience        string `json:"aud"`
	Expiry          int64  `json:"exp"`
	IssuedAt        int64  `json:"iat"`
	ID              string `json:"jti"`
	Type            string `json:"typ"`
	AuthorizedParty string `json:"azp"`
	SessionID       string `json:"sid,omitempty"`
	Scope           string `json:"scope"`
}

// newRefreshSigner loads (or creates) the realm's refresh-token HMAC key.
func newRefreshSigner(ctx context.Context, store storage.Keys, realmName string) (jose.Signer, []byte, error) {
	key, err := store.RealmSecret(ctx, realmName, "refresh-token-hmac-key", randomBytes(64))
	if err != nil {
		return nil, nil, fmt.Errorf("load refresh token key: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS512, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, nil, fmt.Errorf("refresh token signer: %w", err)
	}
	return signer, key, nil
}

// signRefreshToken renders rt as a JWT under the request's issuer.
func (p *Provider) signRefreshToken(ctx context.Context, rt storage.RefreshToken) (string, error) {
	typ, sid := typRefresh, rt.SessionID
	if rt.Offline {
		typ = typOffline
	}
	iss := p.issuer(ctx)
	b, err := json.Marshal(refreshClaims{
		Issuer: iss, Subject: rt.UserID, Audience: iss, Expiry: rt.ExpiresAt.Unix(), IssuedAt: rt.CreatedAt.Unix(),
		ID: rt.ID, Type: typ, AuthorizedParty: rt.ClientID, SessionID: sid, Scope: strings.Join(rt.Scopes, " "),
	})
	if err != nil {
		return "", fmt.Errorf("encode refresh token: %w", err)
	}
	jws, err := p.refreshSigner.Sign(b)
	if err != nil {
		return "", fmt.Errorf("sign refresh token: %w", err)
	}
	return jws.CompactSerialize()
}

// isRefreshJWT reports whether token is one of this realm's refresh or
// offline tokens by its HMAC signature (whether it is still usable is the
// store's to say). Introspection and revocation use it to tell refresh
// tokens from access tokens.
func (p *Provider) isRefreshJWT(token string) bool {
	if len(token) > maxRefreshTokenLen || strings.Count(token, ".") != 2 {
		return false
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS512})
	if err != nil {
		return false
	}
	_, err = jws.Verify(p.refreshKey)
	return err == nil
}
