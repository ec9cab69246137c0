package magiclink

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/oidc"
	"github.com/latchkey/latchkey/realm"
)

// Request is the access-link API's body. The first eight fields are the KOBIL
// API's, which existing clients send; the rest are Latchkey's optional extras.
type Request struct {
	Email         string `json:"email"`
	ClientID      string `json:"clientId"`
	RedirectURI   string `json:"redirectUri"`
	Scope         string `json:"scope"`
	ResponseMode  string `json:"responseMode"`
	ResponseType  string `json:"responseType"`
	ForceCreate   bool   `json:"forceCreate"`
	ResetPassword bool   `json:"resetPassword"`

	State               string `json:"state"`
	Nonce               string `json:"nonce"`
	CodeChallenge       string `json:"codeChallenge"`
	CodeChallengeMethod string `json:"codeChallengeMethod"`
	LifespanSeconds     int64  `json:"lifespanSeconds"`
}

// maxParamLen bounds free-form parameters that end up in tokens and URLs.
const maxParamLen = 2048

// spec is a validated request: everything needed to issue and later use a link.
type spec struct {
	email         string
	params        oidc.AuthParams
	forceCreate   bool
	resetPassword bool
	lifespan      time.Duration
}

// validate checks the request against the realm's client configuration (p)
// before anything is created or mailed: a bad request must leave no user and
// send no mail.
func (req Request) validate(p *oidc.Provider) (spec, error) {
	r := p.Realm()
	for _, f := range []struct{ name, value string }{
		{"email", req.Email}, {"clientId", req.ClientID}, {"redirectUri", req.RedirectURI},
		{"scope", req.Scope}, {"responseMode", req.ResponseMode}, {"responseType", req.ResponseType},
	} {
		if strings.TrimSpace(f.value) == "" {
			return spec{}, badRequest("Missing required field: " + f.name)
		}
	}
	email, err := realm.NormalizeEmail(req.Email)
	if err != nil {
		return spec{}, badRequest("Invalid email address")
	}
	for _, f := range []struct{ name, value string }{
		{"redirectUri", req.RedirectURI}, {"state", req.State}, {"nonce", req.Nonce}, {"scope", req.Scope},
	} {
		if len(f.value) > maxParamLen {
			return spec{}, badRequest(fmt.Sprintf("Field %s is too long (at most %d bytes)", f.name, maxParamLen))
		}
	}
	lifespan := r.MagicLink.Lifespan
	switch maxSec := int64(r.MagicLink.MaxLifespan / time.Second); {
	case req.LifespanSeconds < 0:
		return spec{}, badRequest("lifespanSeconds must be a positive number of seconds")
	case req.LifespanSeconds > maxSec:
		return spec{}, badRequest(fmt.Sprintf("lifespanSeconds must not exceed %d (the realm's magicLink.maxLifespan)", maxSec))
	case req.LifespanSeconds > 0:
		lifespan = time.Duration(req.LifespanSeconds) * time.Second
	}
	scopes, scopeErr := parseScope(req.Scope)
	if scopeErr != nil {
		return spec{}, scopeErr
	}
	params := oidc.AuthParams{
		ClientID: req.ClientID, RedirectURI: req.RedirectURI, Scopes: scopes,
		ResponseType: req.ResponseType, ResponseMode: req.ResponseMode, State: req.State, Nonce: req.Nonce,
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: req.CodeChallengeMethod,
		// The KOBIL API's requests carry no PKCE: the caller is a trusted backend
		// holding the magic-link-sender role, not the client itself.
		AllowMissingPKCE: req.CodeChallenge == "" && req.CodeChallengeMethod == "",
	}
	if err := p.ValidateParams(&params); err != nil {
		return spec{}, paramsError(err)
	}
	return spec{email: email, params: params, forceCreate: req.ForceCreate, resetPassword: req.ResetPassword, lifespan: lifespan}, nil
}

// paramsError maps oidc.ValidateParams's reasons to the API's 400s.
func paramsError(err error) *Error {
	switch {
	case errors.Is(err, oidc.ErrUnknownClient):
		return badRequest("Invalid clientId: client not found")
	case errors.Is(err, oidc.ErrRedirectURI):
		return badRequest("Invalid redirectUri: not registered for the client")
	case errors.Is(err, oidc.ErrResponseTypeOrMode):
		return badRequest(MsgResponseType)
	case errors.Is(err, oidc.ErrOpenIDScopeRequired):
		return badRequest(msgScopeOpenID)
	case errors.Is(err, oidc.ErrNonceRequired):
		return badRequest("Missing nonce: required when the response type includes id_token")
	case errors.Is(err, oidc.ErrPKCE):
		return badRequest("Invalid codeChallenge or codeChallengeMethod (only S256 is supported)")
	}
	return badRequest("Invalid request")
}

const msgScopeOpenID = "Invalid scope: scope must include openid"

// parseScope splits a space-separated scope, accepting "open_id" (the
// spelling of the KOBIL API's own example, which clients copied) as
// "openid", dropping duplicates, and requiring openid. Scope tokens must be
// RFC 6749 §3.3 characters.
func parseScope(s string) ([]string, *Error) {
	var out []string
	for _, sc := range strings.Fields(s) {
		if sc == "open_id" {
			sc = "openid"
		}
		for _, c := range sc {
			if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
				return nil, badRequest("Invalid scope: unexpected character")
			}
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if !slices.Contains(out, "openid") {
		return nil, badRequest(msgScopeOpenID)
	}
	return out, nil
}
