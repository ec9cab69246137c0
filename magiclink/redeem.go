package magiclink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/oidc"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Why a link (or a pending password reset) cannot be used. The landing page
// says each in words; anything else Redeem returns is a fault.
var (
	ErrLinkUnknown    = errors.New("magic link unknown")
	ErrLinkUsed       = errors.New("magic link already used")
	ErrLinkExpired    = errors.New("magic link expired")
	ErrLinkSuperseded = errors.New("magic link replaced by a newer one")
	ErrUserDisabled   = errors.New("user disabled or deleted")
	// ErrClientChanged means the client's configuration no longer allows
	// what the link completes (redirect URI, response type, the client itself).
	ErrClientChanged = errors.New("client no longer accepts the link")
)

// Pending is a live link (or pending password reset) not yet used: what the
// confirm page and the set-password form show.
type Pending struct {
	// Email is the address stored for the link's user.
	Email string
	// RedirectURI is where the authorization response will go.
	RedirectURI string
}

// Redemption is a used link: the authorization it completes and for whom.
type Redemption struct {
	User   storage.User
	Params oidc.AuthParams
	Pending
	// ResetKey is set when the link asks for a new password first: the key
	// of the pending completion the set-password form carries (RedeemReset).
	ResetKey string
}

// Peek reports whether a link (kindLink) or pending reset (kindReset) is
// still usable, without using it.
func (s *Service) Peek(ctx context.Context, r *realm.Realm, kind, key string) (Pending, error) {
	if !validKey(key) {
		return Pending{}, ErrLinkUnknown
	}
	t, err := r.Store.PeekOneTimeToken(ctx, r.Name, kind, hashKey(key))
	switch {
	case err != nil:
		return Pending{}, s.unusable(ctx, r, err, t)
	case !t.ConsumedAt.IsZero() || t.Superseded:
		return Pending{}, s.unusable(ctx, r, storage.ErrConsumed, t)
	case !r.Now().Before(t.ExpiresAt):
		return Pending{}, ErrLinkExpired
	}
	pl, err := decodePayload(t.Payload)
	if err != nil {
		return Pending{}, err
	}
	return Pending{Email: pl.Email, RedirectURI: pl.RedirectURI}, nil
}

// Redeem uses a link: exactly one of concurrent calls succeeds. It checks
// that what the link completes is still allowed (the client's configuration
// today, the user present and enabled) and marks the user's email verified:
// receiving the link proves the mailbox. A link that asks for a new password
// is parked as a pending reset (Redemption.ResetKey) so that the link itself
// stays single use and no session starts before the password is set.
func (s *Service) Redeem(ctx context.Context, r *realm.Realm, key string) (Redemption, error) {
	t, err := s.consume(ctx, r, kindLink, key)
	if err != nil {
		return Redemption{}, err
	}
	linksConsumed.WithLabelValues(r.Name).Inc()
	red, pl, err := s.redeemable(ctx, r, t)
	if err != nil {
		return Redemption{}, err
	}
	u, err := r.Store.UpdateUser(ctx, r.Name, red.User.ID, func(u storage.User) (storage.User, error) {
		if !u.EmailVerified {
			u.EmailVerified, u.UpdatedAt = true, r.Now()
		}
		return u, nil
	})
	if err != nil {
		return Redemption{}, fmt.Errorf("mark email verified in realm %q: %w", r.Name, err)
	}
	red.User = u
	if pl.ResetPassword {
		if red.ResetKey, err = s.parkReset(ctx, r, t, pl); err != nil {
			return Redemption{}, err
		}
	}
	return red, nil
}

// RedeemReset completes a pending password reset: the password must meet
// the realm's policy (realm.ErrPasswordPolicy, and nothing is used up), then
// the reset is used exactly once, the password stored and the brute-force
// counter cleared.
func (s *Service) RedeemReset(ctx context.Context, r *realm.Realm, key, password string) (Redemption, error) {
	if err := r.CheckPasswordPolicy(password); err != nil {
		return Redemption{}, err
	}
	t, err := s.consume(ctx, r, kindReset, key)
	if err != nil {
		return Redemption{}, err
	}
	red, _, err := s.redeemable(ctx, r, t)
	if err != nil {
		return Redemption{}, err
	}
	if err := r.SetPassword(ctx, red.User.ID, password); err != nil {
		return Redemption{}, fmt.Errorf("set password in realm %q: %w", r.Name, err)
	}
	// A new password is a fresh start for the brute-force detector.
	if err := r.ResetLoginFailures(ctx, red.User.ID); err != nil {
		s.logger.WarnContext(ctx, "reset login failures after password change", "realm", r.Name, "user_id", red.User.ID, "error", err)
	}
	s.logger.InfoContext(ctx, "password set through magic link", "realm", r.Name, "user_id", red.User.ID)
	return red, nil
}

// consume uses a one-time token of kind, mapping storage's answers to the
// typed errors.
func (s *Service) consume(ctx context.Context, r *realm.Realm, kind, key string) (storage.OneTimeToken, error) {
	if !validKey(key) {
		return storage.OneTimeToken{}, ErrLinkUnknown
	}
	t, err := r.Store.ConsumeOneTimeToken(ctx, r.Name, kind, hashKey(key), r.Now())
	if err != nil {
		if errors.Is(err, storage.ErrConsumed) {
			t, _ = r.Store.PeekOneTimeToken(ctx, r.Name, kind, hashKey(key))
		}
		return storage.OneTimeToken{}, s.unusable(ctx, r, err, t)
	}
	return t, nil
}

// unusable names why a token could not be used; a used token of a user who
// was disabled since is the disabling's doing (it revokes links), so that is
// what it says.
func (s *Service) unusable(ctx context.Context, r *realm.Realm, err error, t storage.OneTimeToken) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ErrLinkUnknown
	case errors.Is(err, storage.ErrConsumed) && t.Superseded:
		return ErrLinkSuperseded
	case errors.Is(err, storage.ErrConsumed) && s.userGone(ctx, r, t.Subject):
		return ErrUserDisabled
	case errors.Is(err, storage.ErrConsumed):
		return ErrLinkUsed
	case errors.Is(err, storage.ErrExpired):
		return ErrLinkExpired
	}
	return fmt.Errorf("look up magic link in realm %q: %w", r.Name, err)
}

// userGone reports whether the user is disabled or deleted.
func (s *Service) userGone(ctx context.Context, r *realm.Realm, userID string) bool {
	if userID == "" {
		return false
	}
	u, err := r.Store.GetUser(ctx, r.Name, userID)
	return errors.Is(err, storage.ErrNotFound) || err == nil && !u.Enabled
}

// redeemable decodes a used token and checks that what it completes is still
// allowed: the client, its redirect URI and response type against today's
// configuration, and the user present and enabled.
func (s *Service) redeemable(ctx context.Context, r *realm.Realm, t storage.OneTimeToken) (Redemption, payload, error) {
	pl, err := decodePayload(t.Payload)
	if err != nil {
		return Redemption{}, payload{}, err
	}
	p, ok := s.provider(r.Name)
	if !ok {
		return Redemption{}, payload{}, ErrLinkUnknown
	}
	params := pl.params()
	// An actions link without a client (SendActions) completes no
	// authorization; any other is checked against today's configuration.
	if params.ClientID == "" {
		params = oidc.AuthParams{}
	} else if err := p.ValidateParams(&params); err != nil {
		s.logger.WarnContext(ctx, "magic link no longer matches the client configuration",
			"realm", r.Name, "client_id", pl.ClientID, "error", err)
		return Redemption{}, payload{}, fmt.Errorf("%w: %w", ErrClientChanged, err)
	}
	u, err := r.Store.GetUser(ctx, r.Name, t.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return Redemption{}, payload{}, ErrUserDisabled
	case err != nil:
		return Redemption{}, payload{}, fmt.Errorf("load user in realm %q: %w", r.Name, err)
	case !u.Enabled:
		return Redemption{}, payload{}, ErrUserDisabled
	}
	return Redemption{User: u, Params: params, Pending: Pending{Email: pl.Email, RedirectURI: pl.RedirectURI}}, pl, nil
}

// parkReset stores a used link's completion for the set-password step and
// returns its key; it dies with newer links of the same user and client.
func (s *Service) parkReset(ctx context.Context, r *realm.Realm, t storage.OneTimeToken, pl payload) (string, error) {
	body, err := json.Marshal(pl)
	if err != nil {
		return "", fmt.Errorf("encode reset payload: %w", err)
	}
	key, now := newKey(), r.Now()
	err = r.Store.IssueOneTimeToken(ctx, storage.OneTimeToken{
		Realm: r.Name, Kind: kindReset, Hash: hashKey(key), Group: t.Group, Subject: t.Subject,
		Payload: body, CreatedAt: now, ExpiresAt: now.Add(resetLifespan),
	})
	if err != nil {
		return "", fmt.Errorf("store pending password reset in realm %q: %w", r.Name, err)
	}
	return key, nil
}
