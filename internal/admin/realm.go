package admin

import (
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/realm"
)

// Mount registers every endpoint of the admin API.
func (h *Handler) Mount(r *mux.Router) {
	h.route(r, http.MethodGet, "", RoleViewRealm, h.getRealm)
	h.mountUsers(r)
	h.route(r, http.MethodGet, "/clients", RoleViewClients, h.listClients)
	h.route(r, http.MethodGet, "/clients/{id}", RoleViewClients, h.getClient)
	h.route(r, http.MethodGet, "/roles", RoleViewRealm, h.listRoles)
	h.route(r, http.MethodGet, "/keys", RoleViewRealm, h.listKeys)
	h.route(r, http.MethodPost, "/keys/rotate", RoleManageRealm, h.rotateKeys)
}

func (h *Handler) getRealm(c *call) {
	rl := c.realm
	writeJSON(c.w, http.StatusOK, map[string]any{
		"id": rl.Name, "realm": rl.Name, "displayName": rl.DisplayName, "enabled": rl.Enabled,
		"sslRequired": rl.SSLRequired, "bruteForceProtected": rl.BruteForce.Enabled,
		"failureFactor": rl.BruteForce.FailureFactor, "accessTokenLifespan": int(rl.Lifetimes.AccessToken.Seconds()),
		"ssoSessionIdleTimeout": int(rl.Lifetimes.SSOIdle.Seconds()), "ssoSessionMaxLifespan": int(rl.Lifetimes.SSOMax.Seconds()),
	})
}

// clientRep is Keycloak's ClientRepresentation, from the config; never a secret.
type clientRep struct {
	ID                     string   `json:"id"`
	ClientID               string   `json:"clientId"`
	Enabled                bool     `json:"enabled"`
	PublicClient           bool     `json:"publicClient"`
	RedirectURIs           []string `json:"redirectUris"`
	WebOrigins             []string `json:"webOrigins"`
	StandardFlowEnabled    bool     `json:"standardFlowEnabled"`
	ImplicitFlowEnabled    bool     `json:"implicitFlowEnabled"`
	ServiceAccountsEnabled bool     `json:"serviceAccountsEnabled"`
	// DirectAccessGrantsEnabled is the password grant.
	DirectAccessGrantsEnabled bool   `json:"directAccessGrantsEnabled"`
	ClientAuthenticatorType   string `json:"clientAuthenticatorType"`
	Protocol                  string `json:"protocol"`
	// Attributes carry Keycloak's per-client settings that have no field
	// of their own: the device grant, back-channel logout, the JWKS URL.
	Attributes map[string]string `json:"attributes"`
}

func clientToRep(c *realm.Client) clientRep {
	uris := slices.Clone(c.RedirectURIs)
	for _, p := range c.RedirectPrefixes {
		uris = append(uris, p+"*")
	}
	attrs := map[string]string{
		"oauth2.device.authorization.grant.enabled": strconv.FormatBool(c.AllowsGrant(realm.GrantDeviceCode)),
	}
	if c.BackchannelLogoutURI != "" {
		attrs["backchannel.logout.url"] = c.BackchannelLogoutURI
		attrs["backchannel.logout.session.required"] = "true"
	}
	if c.JWKSURI != "" {
		attrs["use.jwks.url"], attrs["jwks.url"] = "true", c.JWKSURI
	}
	authenticator := c.Authenticator
	if authenticator == "" {
		authenticator = "client-secret"
	}
	return clientRep{ID: c.ID, ClientID: c.ID, Enabled: true, PublicClient: c.Public,
		RedirectURIs: nonNil(uris), WebOrigins: nonNil(slices.Clone(c.WebOrigins)),
		StandardFlowEnabled: c.AllowsGrant(realm.GrantAuthorizationCode), ImplicitFlowEnabled: c.AllowsGrant(realm.GrantImplicit),
		ServiceAccountsEnabled: c.AllowsGrant(realm.GrantClientCredentials), DirectAccessGrantsEnabled: c.AllowsGrant(realm.GrantPassword),
		ClientAuthenticatorType: authenticator, Protocol: "openid-connect", Attributes: attrs}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (h *Handler) listClients(c *call) {
	want := c.r.URL.Query().Get("clientId")
	reps := []clientRep{}
	for _, cl := range c.realm.Clients() {
		if want == "" || cl.ID == want {
			reps = append(reps, clientToRep(cl))
		}
	}
	writeJSON(c.w, http.StatusOK, reps)
}

func (h *Handler) getClient(c *call) {
	cl, ok := c.realm.Client(mux.Vars(c.r)["id"])
	if !ok {
		writeError(c.w, http.StatusNotFound, "Could not find client")
		return
	}
	writeJSON(c.w, http.StatusOK, clientToRep(cl))
}

// listRoles lists the realm roles in use: the well-known ones, the admin
// roles, and those the clients' service accounts and the users hold.
func (h *Handler) listRoles(c *call) {
	names := append([]string{realm.RoleMagicLinkSender, realm.RoleLinkGenerator}, Roles...)
	for _, cl := range c.realm.Clients() {
		names = append(names, cl.ServiceAccountRoles...)
	}
	after := ""
	for {
		page, err := c.realm.Store.ListUsers(c.r.Context(), c.realm.Name, after, 500)
		if err != nil {
			h.fault(c.w, c.r, "list users", err)
			return
		}
		for _, u := range page {
			names = append(names, u.Roles...)
		}
		if len(page) < 500 {
			break
		}
		after = page[len(page)-1].ID
	}
	slices.Sort(names)
	names = slices.Compact(names)
	reps := make([]roleRep, 0, len(names))
	for _, n := range names {
		reps = append(reps, roleRep{ID: n, Name: n})
	}
	writeJSON(c.w, http.StatusOK, reps)
}

// keyRep is a key of Keycloak's KeysMetadataRepresentation.
type keyRep struct {
	KID       string `json:"kid"`
	Algorithm string `json:"algorithm"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	PublicKey string `json:"publicKey,omitempty"`
	ValidTo   int64  `json:"validTo,omitempty"`
}

func (h *Handler) listKeys(c *call) {
	active := map[string]string{}
	keys := []keyRep{}
	cur := c.realm.Keys.Active()
	for _, k := range c.realm.Keys.All() {
		rep := keyRep{KID: k.ID, Algorithm: string(k.Algorithm), Type: keyType(string(k.Algorithm)), Status: "PASSIVE"}
		if cur != nil && k.ID == cur.ID {
			rep.Status = "ACTIVE"
			active[rep.Algorithm] = k.ID
		}
		if !k.VerifyUntil.IsZero() {
			rep.ValidTo = k.VerifyUntil.UnixMilli()
		}
		if der, err := x509.MarshalPKIXPublicKey(k.Public); err == nil {
			rep.PublicKey = base64.StdEncoding.EncodeToString(der)
		}
		keys = append(keys, rep)
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"active": active, "keys": keys})
}

func keyType(alg string) string {
	switch alg {
	case "ES256":
		return "EC"
	case "EdDSA":
		return "OKP"
	}
	return "RSA"
}

func (h *Handler) rotateKeys(c *call) {
	if err := h.RotateKeys(c.r, c.realm); err != nil {
		h.fault(c.w, c.r, "rotate keys", err)
		return
	}
	h.audit(c, "ACTION rotate keys", c.realm.Keys.Active().ID)
	writeJSON(c.w, http.StatusOK, map[string]string{"kid": c.realm.Keys.Active().ID})
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) { httpx.WriteJSON(w, status, v) }

// requestURL is the request's path under the configured public URL (the
// realm issuer's origin), never a Host header the client chose.
func requestURL(rl *realm.Realm, r *http.Request) string {
	u, err := url.Parse(rl.Issuer)
	if err != nil {
		return r.URL.Path
	}
	return u.Scheme + "://" + u.Host + r.URL.Path
}
