package realm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/latchkey/latchkey/storage"
)

// KindBackchannelLogout is the outbox kind of back-channel logout
// deliveries (OIDC Back-Channel Logout 1.0): one entry per client to tell.
const KindBackchannelLogout = "oidc.backchannel-logout"

// LogoutNotice is the outbox payload of a back-channel logout: the client to
// tell that the user's session ended. The logout token itself is minted at
// delivery, with the key that is active then.
type LogoutNotice struct {
	ClientID  string `json:"clientId"`
	SessionID string `json:"sid"`
	UserID    string `json:"sub"`
	// Issuer is the issuer the client got its tokens under (the realm has
	// one per URL prefix; a relying party checks the one it knows).
	Issuer string `json:"iss,omitempty"`
}

// EndSession ends a session (and the refresh tokens bound to it) and queues
// a back-channel logout for every client that received tokens in it and
// registered a backchannelLogoutUri. Ending an absent session is not an
// error. The notices are queued before the session is deleted: should the
// deletion fail, a client hears of a logout that did not happen — the
// safe side — rather than never hearing of one that did.
func (r *Realm) EndSession(ctx context.Context, id string) error {
	s, err := r.Store.GetSession(ctx, r.Name, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load session in realm %q: %w", r.Name, err)
	}
	if err := r.queueLogoutNotices(ctx, s); err != nil {
		return err
	}
	if err := r.Store.DeleteSession(ctx, r.Name, id); err != nil {
		return fmt.Errorf("delete session in realm %q: %w", r.Name, err)
	}
	return nil
}

// EndUserSessions ends every session of a user as EndSession does.
func (r *Realm) EndUserSessions(ctx context.Context, userID string) error {
	if err := r.queueUserLogoutNotices(ctx, userID); err != nil {
		return err
	}
	if err := r.Store.DeleteUserSessions(ctx, r.Name, userID); err != nil {
		return fmt.Errorf("delete sessions of user %q in realm %q: %w", userID, r.Name, err)
	}
	return nil
}

// queueLogoutNotices enqueues, in one transaction, the back-channel logouts
// of the sessions' clients that want them.
func (r *Realm) queueLogoutNotices(ctx context.Context, sessions ...storage.Session) error {
	entries := r.LogoutNotices(sessions...)
	if len(entries) == 0 {
		return nil
	}
	if err := r.Store.EnqueueOutbox(ctx, entries...); err != nil {
		return fmt.Errorf("queue back-channel logouts in realm %q: %w", r.Name, err)
	}
	return nil
}

// LogoutNotices returns the outbox entries that tell the sessions' clients
// with a backchannelLogoutUri that the sessions ended (for callers that end
// sessions in their own transaction, such as deleting a user).
func (r *Realm) LogoutNotices(sessions ...storage.Session) []storage.OutboxEntry {
	var out []storage.OutboxEntry
	now := r.Now()
	for _, s := range sessions {
		for _, id := range s.Clients {
			if c, ok := r.Client(id); !ok || c.BackchannelLogoutURI == "" {
				continue
			}
			iss := r.Issuer
			if slices.Contains(s.AltIssuerClients, id) {
				iss = r.AltIssuer
			}
			payload, _ := json.Marshal(LogoutNotice{ClientID: id, SessionID: s.ID, UserID: s.UserID, Issuer: iss})
			out = append(out, storage.OutboxEntry{
				Realm: r.Name, Kind: KindBackchannelLogout, Payload: payload, NextAttemptAt: now, CreatedAt: now,
			})
		}
	}
	return out
}

// DeleteUser deletes a user and everything of theirs (storage.Users.DeleteUser)
// and queues the back-channel logouts of their sessions first.
func (r *Realm) DeleteUser(ctx context.Context, userID string) error {
	if err := r.queueUserLogoutNotices(ctx, userID); err != nil {
		return err
	}
	return r.Store.DeleteUser(ctx, r.Name, userID)
}

// queueUserLogoutNotices queues the back-channel logouts of every session
// of a user that is about to end.
func (r *Realm) queueUserLogoutNotices(ctx context.Context, userID string) error {
	sessions, err := r.Store.ListUserSessions(ctx, r.Name, userID)
	if err != nil {
		return fmt.Errorf("list sessions of user %q in realm %q: %w", userID, r.Name, err)
	}
	return r.queueLogoutNotices(ctx, sessions...)
}
