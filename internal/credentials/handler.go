package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/metrics"
	"github.com/latchkey/latchkey/internal/tokens"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Token claims of the credential APIs' tokens.
const (
	// AuthorizedParty is the azp (and, at introspection, client_id) of every
	// token the two APIs mint: they are not issued to a configured client, and
	// a fixed name lets resource servers tell them from OIDC grants' tokens.
	AuthorizedParty = "latchkey-api"
	// TokenType is the token_type claim, as the generate-link API's tokens carry.
	TokenType = "access"
	// maxPasswordBytes matches the realm password policy's upper bound: a
	// longer password can never have been set, so it is refused unchecked.
	maxPasswordBytes = 1024
)

// TokenScopes are the scopes the APIs' tokens carry, so that the realm's
// userinfo endpoint answers them like an OIDC login's.
var TokenScopes = []string{"openid", "profile", "email"}

// Errors of the pipeline; each API's writeError maps them to its wire format.
var (
	errRealmNotFound    = errors.New("realm not found")
	errMethodNotAllowed = errors.New("method not allowed")
	errWorkflowNotFound = errors.New("workflow not found")
	errTooLarge         = errors.New("request body too large")
	// errInvalidEmail means the login is not an email address at all.
	errInvalidEmail = errors.New("not a valid email address")
)

// inputError is a 400: the message is safe to show (it names a field or a
// fixed reason, never echoes input).
type inputError struct{ msg string }

func (e *inputError) Error() string { return "invalid request: " + e.msg }

// limitedError is a rate-limit refusal (per IP or per account).
type limitedError struct{ retryAfter time.Duration }

func (e *limitedError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s", e.retryAfter.Round(time.Second))
}

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

// Mount registers both APIs under every realm prefix (e.g. oidc.Prefixes,
// which must contain the {realm} variable) and at the root for the default
// realm. Every method is routed here, so that a wrong one gets the API's own
// 405 instead of falling through to other routes.
func (h *Handler) Mount(r *mux.Router, prefixes []string) {
	for _, p := range append(append([]string(nil), prefixes...), "") {
		r.Handle(p+"/user/login", h.route(apiUserLogin, nil, h.userLogin, writeLoginError)).Name("user-login")
		r.Handle(p+"/wf/{workflow:.*}", h.route(apiWFToken, checkWorkflow, h.generateUserToken, writeWFError)).Name("wf")
	}
}

// route resolves the realm, checks the path and the method, runs serve and
// hands any error to the API's writer. Outcomes of requests that reached
// serve are counted and logged.
func (h *Handler) route(api string, check func(*http.Request) error,
	serve func(*realm.Realm, http.ResponseWriter, *http.Request) error,
	writeErr func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rl, ok := h.realmOf(r)
		if !ok {
			writeErr(w, r, errRealmNotFound)
			return
		}
		if check != nil {
			if err := check(r); err != nil {
				writeErr(w, r, err)
				return
			}
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeErr(w, r, errMethodNotAllowed)
			return
		}
		if err := serve(rl, w, r); err != nil {
			h.observeFailure(r, rl, api, err)
			if isFault(err) {
				h.o.Logger.ErrorContext(r.Context(), "password credential API failed", "realm", rl.Name, "api", api,
					"request_id", httpx.RequestID(r.Context()), "error", err)
			}
			writeErr(w, r, err)
		}
	})
}

func checkWorkflow(r *http.Request) error {
	if mux.Vars(r)["workflow"] != "generate-user-token" {
		return errWorkflowNotFound
	}
	return nil
}

// realmOf returns the enabled realm named in the path, or the default realm
// for the root aliases.
func (h *Handler) realmOf(r *http.Request) (*realm.Realm, bool) {
	name, ok := mux.Vars(r)["realm"]
	if !ok {
		name = h.o.Realms.Default
	}
	return h.o.Realms.Get(name)
}

// allowIP applies the realm's per-IP rate limit.
func (h *Handler) allowIP(rl *realm.Realm, r *http.Request) error {
	if ok, wait := rl.IPLimiter.Allow(h.o.Proxies.ClientIP(r).String()); !ok {
		return &limitedError{retryAfter: wait}
	}
	return nil
}

// decode reads the capped JSON body into v, turning every way it can be bad
// into errTooLarge or an *inputError.
func (h *Handler) decode(r *http.Request, v any) error {
	err := httpx.DecodeJSON(r, h.o.MaxBody, v)
	var malformed *httpx.MalformedJSONError
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, httpx.ErrBodyTooLarge), errors.As(err, &tooBig):
		return errTooLarge
	case errors.Is(err, httpx.ErrEmptyBody):
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
	if ok, wait := rl.AccountLimiter.Allow(rl.Name + "\x00" + strings.ToLower(email)); !ok {
		return storage.User{}, &limitedError{retryAfter: wait}
	}
	return rl.Authenticate(ctx, email, pw)
}

// mint issues the API token of u and counts it.
func (h *Handler) mint(ctx context.Context, rl *realm.Realm, u storage.User, api string) (string, *tokens.Claims, error) {
	roles := append([]string{}, u.Roles...) // non-nil: the token always carries realm_access
	verified := u.EmailVerified
	raw, c, err := rl.Tokens.Mint(ctx, tokens.Spec{
		Subject: u.ID, AuthorizedParty: AuthorizedParty, Scopes: TokenScopes, Lifespan: rl.Lifetimes.APIToken,
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
	var limited *limitedError
	var input *inputError
	switch {
	case errors.As(err, &locked):
		return outcomeLocked
	case errors.As(err, &limited):
		return outcomeRateLimited
	case errors.As(err, &input), errors.Is(err, errTooLarge):
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

// isFault reports whether err is a server-side failure (as opposed to a
// refusal of the request), which is logged with the request id.
func isFault(err error) bool {
	return outcomeOf(err) == outcomeError && !errors.Is(err, context.Canceled)
}

// isUnavailable reports whether err means the service cannot answer now
// (storage down, or the client gave up): a 503.
func isUnavailable(err error) bool {
	return errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}

// retryAfter reports the refusal's wait, if err is a lockout or rate limit.
func retryAfter(err error) (time.Duration, bool) {
	var locked *realm.LockedError
	if errors.As(err, &locked) {
		return locked.RetryAfter, true
	}
	var limited *limitedError
	if errors.As(err, &limited) {
		return limited.retryAfter, true
	}
	return 0, false
}

// setRetryAfter writes Retry-After in whole seconds, rounded up, at least 1.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
}

// inputRules are an API's answers to unusable credential input.
type inputRules struct {
	missingEmail, missingPassword, passwordTooLong string
	invalidEmail                                   error
}

// issue is the common core of both APIs: it checks the decoded email and
// password (nil and blank mean missing), authenticates them against the
// realm with brute-force protection, and mints the API's access token.
func (h *Handler) issue(r *http.Request, rl *realm.Realm, api string, emailField, pwField *string, rules inputRules) (storage.User, string, *tokens.Claims, error) {
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
	raw, claims, err := h.mint(ctx, rl, u, api)
	if err != nil {
		return storage.User{}, "", nil, err
	}
	h.observeSuccess(r, rl, api, u)
	return u, raw, claims, nil
}
