package oidc

import (
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/realm"
)

// AuthParams are the parameters of an authorization request, for flows that
// finish an authorization outside the authorization endpoint (magic links).
type AuthParams struct {
	ClientID            string
	RedirectURI         string
	Scopes              []string
	ResponseType        string
	ResponseMode        string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	// AllowMissingPKCE lets a request without code_challenge pass for a
	// client that requires PKCE. Only for flows started by a trusted caller
	// rather than the client itself (the magic-link API, whose documented
	// requests carry no PKCE); the authorization endpoint never sets it.
	AllowMissingPKCE bool
	// DeviceRequestID names the device grant (RFC 8628) this sign-in
	// approves, for a link sent from that grant's login page. Such params
	// carry no redirect URI or response type: Complete approves the grant
	// and the device polls for its tokens.
	DeviceRequestID string
}

// Reasons ValidateParams rejects a request. Callers map them to their wire format.
var (
	ErrUnknownClient       = errors.New("client not found")
	ErrRedirectURI         = errors.New("redirect_uri is not registered for the client")
	ErrResponseTypeOrMode  = errors.New("response type or response mode not allowed")
	ErrOpenIDScopeRequired = errors.New("scope must include openid")
	ErrNonceRequired       = errors.New("nonce is required when an ID token is returned from the authorization endpoint")
	ErrPKCE                = errors.New("invalid PKCE parameters")
	// ErrDeviceGrant means the client is not (or no longer) allowed the device grant.
	ErrDeviceGrant = errors.New("client is not allowed the device authorization grant")
)

// ResponseModes Latchkey supports.
const (
	ModeQuery    = "query"
	ModeFragment = "fragment"
	ModeFormPost = "form_post"
)

var challengeRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// ValidateParams checks an authorization request against the client's
// configuration, normalizing ResponseType and defaulting ResponseMode
// (query for code, fragment otherwise) in place. It is the one rule set of the
// authorization endpoint and the magic-link API.
func (p *Provider) ValidateParams(ap *AuthParams) error {
	c, ok := p.realm.Client(ap.ClientID)
	if !ok {
		return ErrUnknownClient
	}
	if ap.DeviceRequestID != "" {
		if !c.AllowsGrant(realm.GrantDeviceCode) {
			return ErrDeviceGrant
		}
		return nil
	}
	if ap.RedirectURI == "" || !c.MatchRedirectURI(ap.RedirectURI) {
		return ErrRedirectURI
	}
	return checkParams(c, ap)
}

func checkParams(c *realm.Client, ap *AuthParams) error {
	rt := realm.NormalizeResponseType(ap.ResponseType)
	if rt == "" || !c.AllowsResponseType(rt) {
		return ErrResponseTypeOrMode
	}
	ap.ResponseType = rt
	switch ap.ResponseMode {
	case "":
		ap.ResponseMode = ModeFragment
		if rt == "code" {
			ap.ResponseMode = ModeQuery
		}
	case ModeQuery:
		// Tokens must never travel in a query string (OAuth 2.0 Multiple Response Types §5).
		if rt != "code" {
			return ErrResponseTypeOrMode
		}
	case ModeFormPost:
		// A form can only be posted to a web page: native apps' custom-scheme
		// redirect URIs must use query or fragment.
		if !strings.HasPrefix(ap.RedirectURI, "https://") && !strings.HasPrefix(ap.RedirectURI, "http://") {
			return ErrResponseTypeOrMode
		}
	case ModeFragment:
	default:
		return ErrResponseTypeOrMode
	}
	if strings.Contains(rt, "id_token") {
		if !slices.Contains(ap.Scopes, "openid") {
			return ErrOpenIDScopeRequired
		}
		if ap.Nonce == "" {
			return ErrNonceRequired
		}
	}
	switch {
	case ap.CodeChallenge != "":
		if ap.CodeChallengeMethod != "S256" || !challengeRE.MatchString(ap.CodeChallenge) {
			return ErrPKCE
		}
	case ap.CodeChallengeMethod != "":
		return ErrPKCE
	case c.PKCERequired && strings.Contains(rt, "code") && !ap.AllowMissingPKCE:
		return ErrPKCE
	}
	return nil
}
