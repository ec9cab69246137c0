package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/internal/jsonapi"
	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/internal/platform/metrics"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Token claims of the credential APIs' tokens.
const (
	// AuthorizedParty is the azp (and, at introspection, client_id) of every
	// token the two APIs mint: they are not issued to a configured client, and
	// a fixed name lets resource servers (and the token gate) tell them from
	// OIDC grants' tokens.
	AuthorizedParty = tokens.PartyAPI
	// TokenType is the token_type claim, as the generate-link API's tokens carry.
	TokenType = "access"
	// maxPasswordBytes matches the realm password policy's upper bound: a
	// longer password can never have been set, so it is refused unchecked.
	maxPasswordBytes = 1024
)

// TokenScopes are the scopes the APIs' tokens carry, so that the realm's
// userinfo endpoint answers them like an OIDC login's.
var TokenScopes = []string{"openid", "profile", "email"}

// Errors of the two APIs beyond the shared pipeline's (internal/jsonapi);
// each API's writer maps them to its wire format.
var (
	errWorkflowNotFound = errors.New("workflow not found")
	// errInvalidEmail means the login is not an email address at all.
	errInvalidEmail = errors.New("not a valid email address")
)

// inputError is a 400: the message is safe to show (it names a field or a
// fixed reason, never echoes input).
type inputError struct{ msg string }

func (e *inputError) Error() string { return "invalid request: " + e.msg }

// Options configure a Handler.
type Options struct {
	// Realms resolves {realm} and, for the root aliases, the default realm.
	Realms *realm.Registry
	// Proxies tells the client address for the per-IP rate limit.
	Proxies *httpx.Proxies
	// Logger receives request outcomes (never a password, token or API key).
	Logger *slog.Logger
	// MaxBody caps request bodies (httpx.DefaultMaxBody when 0).
	MaxBody int64
	// APIKeys derives the apiKey of /user/login.
	APIKeys *APIKeys
}

// Handler serves /user/login and /wf/generate-user-token for every realm.
type Handler struct{ o Options }

// New returns a Handler; Realms and APIKeys are required.
func New(o Options) (*Handler, error) {
	if o.Realms == nil || o.APIKeys == nil {
		return nil, errors.New("credentials: Realms and APIKeys are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Proxies == nil {
		o.Proxies = &httpx.Proxies{}
	}
	return &Handler{o: o}, nil
}

// Mount registers both APIs under every realm prefix and at the root for
// the default realm. Every method is routed here, so that a wrong one gets
// the API's own 405 instead of falling through to other routes.
func (h *Handler) Mount(r *mux.Router) {
	login := h.endpoint(apiUserLogin, nil, writeLoginError).Handle(h.observe(apiUserLogin, h.userLogin))
	wf := h.endpoint(apiWFToken, checkWorkflow, writeWFError).Handle(h.observe(apiWFToken, h.generateUserToken))
	for _, p := range append(append([]string(nil), realm.RoutePrefixes...), "") {
		r.Handle(p+"/user/login", login).Name("user-login")
		r.Handle(p+"/wf/{workflow:.*}", wf).Name("wf")
	}
}

// endpoint is the shared JSON API pipeline configured for one of the APIs.
func (h *Handler) endpoint(api string, check func(*http.Request) error, write jsonapi.Writer) *jsonapi.Endpoint {
	return &jsonapi.Endpoint{API: api, Realms: h.o.Realms, Proxies: h.o.Proxies, MaxBody: h.o.MaxBody,
		Logger: h.o.Logger, Check: check, Write: write}
}

// observe counts and logs the outcome of every request that reached serve.
func (h *Handler) observe(api string, serve func(*jsonapi.Call) error) func(*jsonapi.Call) error {
	return func(c *jsonapi.Call) error {
		err := serve(c)
		if err != nil {
			h.observeFailure(c.R, c.Realm, api, err)
		}
		return err
	}
}

func checkWorkflow(r *http.Request) error {
	if mux.Vars(r)["workflow"] != "generate-user-token" {
		return errWorkflowNotFound
	}
	return nil
}

// decode reads the capped JSON body into v; an unusable body is an
// *inputError with the reason (or jsonapi.ErrTooLarge).
func decode(c *jsonapi.Call, v any) error {
	err := c.Decode(v)
	var malformed *jsonapi.MalformedError
	switch {
	case err == nil, errors.Is(err, jsonapi.ErrTooLarge):
		return err
	case errors.Is(err, jsonapi.ErrEmptyBody):
		return &inputError{msg: "Request body is required"}
	case errors.As(err, &malformed):
		return &inputError{msg: "Invalid request body: " + malformed.Reason}
	default:
		return &inputError{msg: "Request body could not be read"}
	}
}

// authenticate applies the per-account rate limit and checks the password
// with the realm's brute-force protection. email is already normalized.
func (h *Handler) authenticate(ctx context.Context, rl *realm.Realm, email, pw string) (storage.User, error) {
	ok, wait, err := rl.AccountLimiter.Allow(ctx, rl.AccountKey(ctx, email))
	switch {
	case err != nil:
		return storage.User{}, err
	case !ok:
		return storage.User{}, &jsonapi.LimitedError{RetryAfter: wait}
	}
	return rl.Authenticate(ctx, email, pw)
}

// mint issues the API token of u, under the issuer of the request's prefix,
// and counts it.
func (h *Handler) mint(ctx context.Context, rl *realm.Realm, iss string, u storage.User, api string) (string, *tokens.Claims, error) {
	roles := append([]string{}, u.Roles...) // non-nil: the token always carries realm_access
	verified := u.EmailVerified
	raw, c, err := rl.Tokens.Mint(ctx, tokens.Spec{
		Issuer: iss, Subject: u.ID, AuthorizedParty: AuthorizedParty, Scopes: TokenScopes, Lifespan: rl.Lifetimes.APIToken,
		Roles: roles, Email: u.Email, EmailVerified: &verified, Username: u.Username,
		UserID: u.ID, TokenType: TokenType,
	})
	if err != nil {
		return "", nil, fmt.Errorf("mint API token in realm %q: %w", rl.Name, err)
	}
	metrics.TokensIssued.WithLabelValues(rl.Name, api).Inc()
	return raw, c, nil
}

// observeSuccess counts and logs a login that got a token.
func (h *Handler) observeSuccess(r *http.Request, rl *realm.Realm, api string, u storage.User) {
	loginAttempts.WithLabelValues(rl.Name, api, outcomeSuccess).Inc()
	h.o.Logger.InfoContext(r.Context(), "password login", "realm", rl.Name, "api", api, "user_id", u.ID,
		"client_ip", h.o.Proxies.ClientIP(r).String(), "request_id", httpx.RequestID(r.Context()))
}

// observeFailure counts and logs a refused login; faults are logged by route.
func (h *Handler) observeFailure(r *http.Request, rl *realm.Realm, api string, err error) {
	ctx := r.Context()
	outcome := outcomeOf(err)
	loginAttempts.WithLabelValues(rl.Name, api, outcome).Inc()
	attrs := []any{"realm", rl.Name, "api", api, "outcome", outcome,
		"client_ip", h.o.Proxies.ClientIP(r).String(), "request_id", httpx.RequestID(ctx)}
	switch outcome {
	case outcomeError:
	case outcomeBadRequest:
		h.o.Logger.DebugContext(ctx, "password login rejected", attrs...)
	default:
		h.o.Logger.InfoContext(ctx, "password login rejected", attrs...)
	}
	if errors.Is(err, realm.ErrLockoutStarted) {
		lockouts.WithLabelValues(rl.Name, api).Inc()
		h.o.Logger.WarnContext(ctx, "account temporarily locked after repeated failed logins", attrs...)
	}
}

func outcomeOf(err error) string {
	var locked *realm.LockedError
	var limited *jsonapi.LimitedError
	var input *inputError
	switch {
	case errors.As(err, &locked):
		return outcomeLocked
	case errors.As(err, &limited):
		return outcomeRateLimited
	case errors.As(err, &input), errors.Is(err, jsonapi.ErrTooLarge):
		return outcomeBadRequest
	case errors.Is(err, realm.ErrUnknownUser), errors.Is(err, errInvalidEmail):
		return outcomeUnknownUser
	case errors.Is(err, realm.ErrWrongPassword):
		return outcomeWrongPassword
	case errors.Is(err, realm.ErrUserDisabled):
		return outcomeDisabled
	default:
		return outcomeError
	}
}

// inputRules are an API's answers to unusable credential input.
type inputRules struct {
	missingEmail, missingPassword, passwordTooLong string
	invalidEmail                                   error
}

// issue is the common core of both APIs: it checks the decoded email and
// password (nil and blank mean missing), authenticates them against the
// realm with brute-force protection, and mints the API's access token.
func (h *Handler) issue(c *jsonapi.Call, api string, emailField, pwField *string, rules inputRules) (storage.User, string, *tokens.Claims, error) {
	r, rl := c.R, c.Realm
	var email, pw string
	if emailField != nil {
		email = strings.TrimSpace(*emailField)
	}
	if pwField != nil {
		pw = *pwField
	}
	switch {
	case email == "":
		return storage.User{}, "", nil, &inputError{msg: rules.missingEmail}
	case pw == "":
		return storage.User{}, "", nil, &inputError{msg: rules.missingPassword}
	case len(pw) > maxPasswordBytes:
		return storage.User{}, "", nil, &inputError{msg: rules.passwordTooLong}
	}
	email, err := realm.NormalizeEmail(email)
	if err != nil {
		return storage.User{}, "", nil, rules.invalidEmail
	}
	ctx := r.Context()
	u, err := h.authenticate(ctx, rl, email, pw)
	if err != nil {
		return storage.User{}, "", nil, err
	}
	raw, claims, err := h.mint(ctx, rl, c.Issuer(), u, api)
	if err != nil {
		return storage.User{}, "", nil, err
	}
	h.observeSuccess(r, rl, api, u)
	return u, raw, claims, nil
}
