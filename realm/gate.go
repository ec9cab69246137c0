package realm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/storage"
)

// Principal is who a bearer token speaks for, as established by the gate.
type Principal struct {
	Claims *tokens.Claims
	Kind   tokens.Kind
	// User is the token's user; zero for a service account.
	User storage.User
	// Client is the service account's client; nil for a user.
	Client *Client
	// Roles are the realm roles the token carries that its subject still
	// holds: a role removed since the token was minted no longer counts.
	Roles []string
}

// HasRole reports whether the principal holds the realm role.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// Subject is the token's sub.
func (p Principal) Subject() string { return p.Claims.Subject }

// serviceAccountPrefix starts every service account's subject.
const serviceAccountPrefix = "service-account-"

// Gate is the one place where a bearer token is judged. It verifies the
// token (signature, one of the realm's issuers, expiry), classifies its kind
// and refuses kinds outside accept, then checks that it is alive: not revoked
// (by jti or by its grant), its browser session (sid) not ended, its user
// present and enabled, or, for a service account, its client still
// configured for client_credentials. Every refusal wraps an error for which
// tokens.IsInvalid is true (the endpoint answers 401 in its own shape);
// anything else is a fault (storage unavailable).
func (r *Realm) Gate(ctx context.Context, raw string, accept tokens.Kind) (Principal, error) {
	c, err := r.Tokens.VerifySignature(raw)
	if err != nil {
		return Principal{}, err
	}
	kind := tokens.Classify(c)
	if kind == tokens.KindAccess {
		if _, ok := r.Client(c.AuthorizedParty); !ok {
			kind = tokens.KindUnknown // azp names no client of this realm
		}
	}
	if kind&accept == 0 || kind == tokens.KindUnknown {
		return Principal{}, fmt.Errorf("%w: %s token", tokens.ErrWrongKind, kind)
	}
	if err := r.Tokens.CheckLive(ctx, c); err != nil {
		return Principal{}, err
	}
	p := Principal{Claims: c, Kind: kind}
	if id, ok := strings.CutPrefix(c.Subject, serviceAccountPrefix); ok && kind == tokens.KindAccess {
		cl, ok := r.Client(id)
		if !ok || cl.Public || !cl.AllowsGrant(GrantClientCredentials) {
			return Principal{}, fmt.Errorf("%w: service account %q", tokens.ErrSubject, id)
		}
		p.Client = cl
		p.Roles = intersect(c.Roles(), cl.ServiceAccountRoles)
		return p, nil
	}
	u, err := r.Store.GetUser(ctx, r.Name, c.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return Principal{}, fmt.Errorf("%w: user deleted", tokens.ErrSubject)
	case err != nil:
		return Principal{}, fmt.Errorf("load token user in realm %q: %w", r.Name, err)
	case !u.Enabled:
		return Principal{}, fmt.Errorf("%w: user disabled", tokens.ErrSubject)
	}
	p.User = u
	p.Roles = intersect(c.Roles(), u.Roles)
	return p, nil
}

// intersect returns the elements of a that b also holds.
func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
