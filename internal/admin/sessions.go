package admin

import (
	"net/http"

	"github.com/gorilla/mux"
)

// sessionRep is Keycloak's UserSessionRepresentation.
type sessionRep struct {
	ID         string            `json:"id"`
	Username   string            `json:"username"`
	UserID     string            `json:"userId"`
	Start      int64             `json:"start"`
	LastAccess int64             `json:"lastAccess"`
	Clients    map[string]string `json:"clients"`
}

// userSessions lists the user's live browser sessions.
func (h *Handler) userSessions(c *call) {
	u, ok := h.user(c)
	if !ok {
		return
	}
	sessions, err := c.realm.Store.ListUserSessions(c.r.Context(), c.realm.Name, u.ID)
	if err != nil {
		h.fault(c.w, c.r, "list sessions", err)
		return
	}
	now := c.realm.Now()
	reps := make([]sessionRep, 0, len(sessions))
	for _, s := range sessions {
		if !now.Before(s.ExpiresAt) || !now.Before(s.IdleUntil) {
			continue // ended, not yet swept
		}
		reps = append(reps, sessionRep{ID: s.ID, Username: u.Username, UserID: u.ID,
			Start: s.AuthTime.UnixMilli(), LastAccess: s.LastSeen.UnixMilli(), Clients: clientMap(s.Clients...)})
	}
	writeJSON(c.w, http.StatusOK, reps)
}

func (h *Handler) logoutUser(c *call) {
	u, ok := h.user(c)
	if !ok {
		return
	}
	ctx := c.r.Context()
	if err := c.realm.EndUserSessions(ctx, u.ID); err != nil {
		h.fault(c.w, c.r, "end sessions", err)
		return
	}
	if err := c.realm.Store.DeleteRefreshTokensOf(ctx, c.realm.Name, u.ID, ""); err != nil {
		h.fault(c.w, c.r, "revoke refresh tokens", err)
		return
	}
	h.audit(c, "ACTION logout user", u.ID)
	c.w.WriteHeader(http.StatusNoContent)
}

// offlineSessions lists the user's live offline tokens of one client, as
// Keycloak's offline-sessions endpoint does: each offline grant is a
// session that outlives logout; its last access is its last refresh.
func (h *Handler) offlineSessions(c *call) {
	u, ok := h.user(c)
	if !ok {
		return
	}
	cl, ok := c.realm.Client(mux.Vars(c.r)["client"])
	if !ok {
		writeError(c.w, http.StatusNotFound, "Client not found")
		return
	}
	tokens, err := c.realm.Store.ListUserRefreshTokens(c.r.Context(), c.realm.Name, u.ID)
	if err != nil {
		h.fault(c.w, c.r, "list offline sessions", err)
		return
	}
	now := c.realm.Now()
	reps := make([]sessionRep, 0, len(tokens))
	for _, t := range tokens {
		if !t.Offline || t.ClientID != cl.ID || !now.Before(t.ExpiresAt) {
			continue
		}
		reps = append(reps, sessionRep{ID: t.GrantID, Username: u.Username, UserID: u.ID,
			Start: t.AuthTime.UnixMilli(), LastAccess: t.CreatedAt.UnixMilli(), Clients: clientMap(t.ClientID)})
	}
	writeJSON(c.w, http.StatusOK, reps)
}

// clientMap is a session representation's clients: id → clientId, which
// are the same in Latchkey (clients are named by their clientId).
func clientMap(ids ...string) map[string]string {
	m := make(map[string]string, len(ids))
	for _, id := range ids {
		m[id] = id
	}
	return m
}
