package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// The OAuth 2.0 Device Authorization Grant (RFC 8628), as Keycloak serves it:
// the device asks the device authorization endpoint for a device code and a
// user code, the user enters the user code on the verification page (device
// page.go) and signs in, and meanwhile the device polls the token endpoint
// with the device code.
//
// A grant is a storage.AuthRequest with Device set, plus two one-time tokens
// whose payload is that request's id: the device code (kindDeviceCode),
// consumed when the tokens are issued, and the user code (kindUserCode),
// consumed when the user answers the approval page. Both are stored hashed.
const (
	// pathDeviceAuth is the device authorization endpoint, relative to the issuer.
	pathDeviceAuth = "/protocol/openid-connect/auth/device"
	// pathDevice is the verification page (verification_uri).
	pathDevice = "/device"

	kindDeviceCode = "device_code"
	kindUserCode   = "user_code"

	// slowDownStep is what each slow_down adds to a grant's interval (RFC 8628 §3.5).
	slowDownStep = 5 * time.Second
	// pollJitterCap bounds how early a poll may come without slow_down (see pollJitter).
	pollJitterCap = time.Second
	// userCodeAttempts bounds the retries when a fresh user code collides
	// with a stored one (2.56e10 codes; a collision is rare, two are rarer).
	userCodeAttempts = 5
	// deviceMetricsGrant is the grant label of latchkey_tokens_issued_total.
	deviceMetricsGrant = "device_code"
)

// userCodeLen is the number of characters of a user code, without the dash.
var userCodeLen = op.UserCodeBase20.CharAmount

// DeviceAuthorization starts a device grant for an authenticated client that
// is allowed the grant (Keycloak's unauthorized_client otherwise). Unknown
// scopes are dropped, as at the authorization endpoint.
func (s *server) DeviceAuthorization(ctx context.Context, r *op.ClientRequest[oidc.DeviceAuthorizationRequest]) (*op.Response, error) {
	p := s.p
	c, ok := p.realm.Client(r.Client.GetID())
	if !ok || !c.AllowsGrant(realm.GrantDeviceCode) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("Client is not allowed to initiate OAuth 2.0 Device Authorization Grant. The flow is disabled for the client.")
	}
	var scopes []string
	if len(r.Data.Scopes) > 0 {
		var err error
		if scopes, err = op.ValidateAuthReqScopes(r.Client, r.Data.Scopes); err != nil {
			return nil, err
		}
	}
	deviceCode, userCode, err := p.startDeviceGrant(ctx, c, scopes)
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	verify := p.issuer(ctx) + pathDevice
	pol := p.realm.DeviceFlow
	return noStore(op.NewResponse(&oidc.DeviceAuthorizationResponse{
		DeviceCode: deviceCode, UserCode: userCode, VerificationURI: verify,
		VerificationURIComplete: verify + "?user_code=" + url.QueryEscape(userCode),
		ExpiresIn:               int(pol.Lifespan / time.Second), Interval: int(pol.PollInterval / time.Second),
	})), nil
}

// noStore marks a response that carries secrets (codes, tokens) as not to
// be cached (RFC 6749 §5.1).
func noStore(r *op.Response) *op.Response {
	r.Header = http.Header{}
	setNoStore(r.Header)
	return r
}

// startDeviceGrant stores a new device grant of c and returns its device
// code (256-bit random) and user code (XXXX-XXXX). On failure nothing usable
// is left behind.
func (p *Provider) startDeviceGrant(ctx context.Context, c *realm.Client, scopes []string) (deviceCode, userCode string, err error) {
	rlm, pol, now := p.realm, p.realm.DeviceFlow, p.realm.Now()
	a := storage.AuthRequest{
		Realm: rlm.Name, ID: newSecret(18), ClientID: c.ID, Scopes: scopes, Device: true,
		PollInterval: pol.PollInterval, CreatedAt: now, ExpiresAt: now.Add(pol.Lifespan),
	}
	if err := rlm.Store.CreateAuthRequest(ctx, a); err != nil {
		return "", "", fmt.Errorf("store device grant: %w", err)
	}
	// The request is useless without its codes: withdraw it if they fail.
	defer func() {
		if err != nil {
			_ = rlm.Store.DeleteAuthRequest(context.WithoutCancel(ctx), rlm.Name, a.ID)
		}
	}()
	for range userCodeAttempts {
		if userCode, err = op.NewUserCode([]rune(op.UserCodeBase20.CharSet), userCodeLen, op.UserCodeBase20.DashInterval); err != nil {
			return "", "", fmt.Errorf("generate user code: %w", err)
		}
		err = rlm.Store.IssueOneTimeToken(ctx, storage.OneTimeToken{
			Realm: rlm.Name, Kind: kindUserCode, Hash: p.userCodeHash(normalizeUserCode(userCode)),
			Payload: []byte(a.ID), CreatedAt: now, ExpiresAt: a.ExpiresAt,
		})
		if !errors.Is(err, storage.ErrAlreadyExists) {
			break
		}
	}
	if err != nil {
		return "", "", fmt.Errorf("store user code: %w", err)
	}
	deviceCode = newSecret(32)
	// The device code's record outlives the grant by one lifespan, so that a
	// device polling after the end is told expired_token rather than
	// invalid_grant until the record is swept.
	err = rlm.Store.IssueOneTimeToken(ctx, storage.OneTimeToken{
		Realm: rlm.Name, Kind: kindDeviceCode, Hash: hashSecret(deviceCode),
		Payload: []byte(a.ID), CreatedAt: now, ExpiresAt: a.ExpiresAt.Add(pol.Lifespan),
	})
	if err != nil {
		return "", "", fmt.Errorf("store device code: %w", err)
	}
	return deviceCode, userCode, nil
}

// userCodeHash is how a user code is stored: HMAC-SHA-256 under a per-realm
// key. A user code has only about 34 bits, so a plain hash in a leaked
// database would give live codes away to a brute-force search; without the
// key (which stays in the realm's secrets) the hashes say nothing.
func (p *Provider) userCodeHash(norm string) string {
	mac := hmac.New(sha256.New, p.userCodeKey)
	mac.Write([]byte(norm))
	return hex.EncodeToString(mac.Sum(nil))
}

// normalizeUserCode is how a user code is compared and hashed: upper case,
// without the dash or any spaces, so that "bcdf-ghjk", "BCDF GHJK" and
// "BCDFGHJK" are one code. It returns "" for anything that cannot be a code.
func normalizeUserCode(s string) string {
	if len(s) > 64 {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		case strings.ContainsRune(op.UserCodeBase20.CharSet, r):
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() != userCodeLen {
		return ""
	}
	return b.String()
}

// formatUserCode shows a normalized code as the device does: XXXX-XXXX.
func formatUserCode(norm string) string {
	if d := op.UserCodeBase20.DashInterval; len(norm) > d {
		return norm[:d] + "-" + norm[d:]
	}
	return norm
}

// pollOutcome is what a poll of a device grant found.
type pollOutcome int

const (
	pollPending pollOutcome = iota
	pollSlowDown
	pollApproved
	pollDenied
)

// errSettled aborts a poll's update of a grant the user has already
// answered: there is nothing to record then.
var errSettled = errors.New("device grant already answered")

// pollJitter is how much earlier than its interval a poll may arrive without
// slow_down. Devices time their polls from when they sent the last one, the
// server from when it handled it; the network's jitter between the two is
// not the device's fault.
func pollJitter(interval time.Duration) time.Duration { return min(interval/5, pollJitterCap) }

// pollDevice records one poll of a pending grant atomically: a poll that
// comes before the grant's interval has passed since the previous one is a
// slow_down and raises the interval by 5 s for good (RFC 8628 §3.5). A grant
// the user answered is returned as it is, without a write.
func (p *Provider) pollDevice(ctx context.Context, id string) (storage.AuthRequest, pollOutcome, error) {
	now := p.realm.Now()
	var (
		outcome pollOutcome
		seen    storage.AuthRequest
	)
	a, err := p.realm.Store.UpdateAuthRequest(ctx, p.realm.Name, id, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		seen = a
		switch {
		case a.Denied:
			outcome = pollDenied
			return a, errSettled
		case a.Done:
			outcome = pollApproved
			return a, errSettled
		}
		outcome = pollPending
		if !a.LastPolledAt.IsZero() && now.Sub(a.LastPolledAt) < a.PollInterval-pollJitter(a.PollInterval) {
			outcome = pollSlowDown
			a.PollInterval += slowDownStep
		}
		a.LastPolledAt = now
		return a, nil
	})
	if errors.Is(err, errSettled) {
		return seen, outcome, nil
	}
	return a, outcome, err
}

// DeviceToken answers a device's poll: authorization_pending while the user
// has not answered, slow_down when polled too fast, expired_token once the
// grant ended, access_denied after the user said no, and — exactly once, the
// device code being consumed atomically — a Keycloak-shaped token response
// after approval. A device code of another client is invalid_grant.
func (s *server) DeviceToken(ctx context.Context, r *op.ClientRequest[oidc.DeviceAccessTokenRequest]) (*op.Response, error) {
	p, rlm := s.p, s.p.realm
	invalid := func() (*op.Response, error) {
		return nil, oidc.ErrInvalidGrant().WithDescription("Device code not valid")
	}
	code := r.Data.DeviceCode
	if len(code) > 256 {
		return invalid()
	}
	hash := hashSecret(code)
	t, err := rlm.Store.PeekOneTimeToken(ctx, rlm.Name, kindDeviceCode, hash)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return invalid()
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	case !t.ConsumedAt.IsZero():
		return invalid()
	}
	// A grant that is gone either ended (expired_token) or was just
	// completed by a concurrent poll, which consumed the code first and
	// deleted the grant: the code's record tells which.
	gone := func() (*op.Response, error) {
		if t, err := rlm.Store.PeekOneTimeToken(ctx, rlm.Name, kindDeviceCode, hash); err != nil || !t.ConsumedAt.IsZero() {
			return invalid()
		}
		return nil, oidc.ErrExpiredDeviceCode()
	}
	a, err := rlm.Store.GetAuthRequest(ctx, rlm.Name, string(t.Payload))
	switch {
	case errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrNotFound):
		return gone()
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	case !a.Device || a.ClientID != r.Client.GetID():
		return invalid()
	}
	a, outcome, err := p.pollDevice(ctx, a.ID)
	switch {
	case errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrNotFound):
		return gone()
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	case outcome == pollPending:
		return nil, oidc.ErrAuthorizationPending()
	case outcome == pollSlowDown:
		return nil, oidc.ErrSlowDown()
	case outcome == pollDenied:
		return nil, oidc.ErrAccessDenied()
	}
	// Approved: of concurrent polls exactly one consumes the code and gets
	// the tokens.
	switch _, err := rlm.Store.ConsumeOneTimeToken(ctx, rlm.Name, kindDeviceCode, hash, rlm.Now()); {
	case errors.Is(err, storage.ErrConsumed), errors.Is(err, storage.ErrNotFound):
		return invalid()
	case errors.Is(err, storage.ErrExpired):
		return nil, oidc.ErrExpiredDeviceCode()
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	}
	defer func() { _ = rlm.Store.DeleteAuthRequest(context.WithoutCancel(ctx), rlm.Name, a.ID) }()
	if a.SessionID != "" {
		if _, err := p.liveSession(ctx, a.SessionID); err != nil {
			return nil, oidc.ErrInvalidGrant().WithDescription("Session not active")
		}
	}
	c, ok := rlm.Client(a.ClientID)
	if !ok {
		return invalid()
	}
	resp, err := p.tokenResponse(ctx, c, authRequest{a}, grant{id: newSecret(16), name: deviceMetricsGrant})
	if err != nil {
		return nil, err
	}
	return noStore(op.NewResponse(resp)), nil
}

// errDeviceSettled means a device grant can no longer be answered: it is
// not a device grant, it belongs to another client, or the user already
// approved or denied it.
var errDeviceSettled = errors.New("device grant already answered or not a device grant")

// approveDevice records the user's approval of a pending device grant, with
// the session the user signed in with; the next poll gets the tokens.
func (p *Provider) approveDevice(ctx context.Context, id, clientID string, u storage.User, sess storage.Session) (storage.AuthRequest, error) {
	return p.realm.Store.UpdateAuthRequest(ctx, p.realm.Name, id, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		if !a.Device || a.Done || a.Denied || (clientID != "" && a.ClientID != clientID) {
			return a, errDeviceSettled
		}
		a.UserID, a.SessionID, a.AuthTime, a.AMR, a.Done = u.ID, sess.ID, sess.AuthTime, sess.AMR, true
		return a, nil
	})
}

// denyDevice records the user's refusal; the next poll gets access_denied.
func (p *Provider) denyDevice(ctx context.Context, id string) (storage.AuthRequest, error) {
	return p.realm.Store.UpdateAuthRequest(ctx, p.realm.Name, id, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		if !a.Device || a.Done || a.Denied {
			return a, errDeviceSettled
		}
		a.Denied = true
		return a, nil
	})
}

// deviceAuthLimited applies the realm's per-IP rate limit to the device
// authorization endpoint: over it, 429 in OAuth's error shape with
// Retry-After (temporarily_unavailable, the nearest registered code).
func (p *Provider) deviceAuthLimited(w http.ResponseWriter, r *http.Request) bool {
	ok, wait, err := p.realm.IPLimiter.Allow(r.Context(), httpx.LimitKey(p.opts.Proxies.ClientIP(r)))
	switch {
	case err != nil:
		p.opts.Logger.ErrorContext(r.Context(), "device authorization: rate limit", "realm", p.realm.Name, "error", err,
			"request_id", httpx.RequestID(r.Context()))
		writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again later")
		return true
	case !ok:
		writeOAuthLimited(w, wait, "Too many requests, try again in "+humanDuration(wait))
		return true
	}
	return false
}
