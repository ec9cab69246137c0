package oidc

import (
	"crypto/x509"
	"encoding/base64"
	"net/http"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/platform/httpx"
)

// realmInfo is Keycloak's public realm representation (GET /realms/{realm}),
// which Keycloak client libraries read for the realm's RS256 public key.
type realmInfo struct {
	Realm           string `json:"realm"`
	PublicKey       string `json:"public_key,omitempty"`
	TokenService    string `json:"token-service"`
	AccountService  string `json:"account-service"`
	TokensNotBefore int    `json:"tokens-not-before"`
}

// serveRealmInfo answers GET /realms/{realm} (and /auth/realms/{realm}) as
// Keycloak does: public_key is the base64 DER (SubjectPublicKeyInfo) of the
// active RS256 key; realms that sign with another algorithm have none.
func (p *Provider) serveRealmInfo(w http.ResponseWriter, r *http.Request) {
	iss := p.issuer(r.Context())
	info := realmInfo{Realm: p.realm.Name, TokenService: iss + "/protocol/openid-connect", AccountService: iss + "/account"}
	if k := p.realm.Keys.Active(); k != nil && k.Algorithm == jose.RS256 {
		if der, err := x509.MarshalPKIXPublicKey(k.Public); err == nil {
			info.PublicKey = base64.StdEncoding.EncodeToString(der)
		}
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	httpx.WriteJSON(w, http.StatusOK, info)
}
