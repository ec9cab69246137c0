package admin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/magiclink"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// userRep is Keycloak's UserRepresentation, the fields Latchkey keeps.
type userRep struct {
	ID               string              `json:"id,omitempty"`
	CreatedTimestamp int64               `json:"createdTimestamp,omitempty"`
	Username         string              `json:"username,omitempty"`
	FirstName        *string             `json:"firstName,omitempty"`
	LastName         *string             `json:"lastName,omitempty"`
	Email            string              `json:"email,omitempty"`
	EmailVerified    *bool               `json:"emailVerified,omitempty"`
	Enabled          *bool               `json:"enabled,omitempty"`
	Credentials      []credentialRep     `json:"credentials,omitempty"`
	RequiredActions  []string            `json:"requiredActions"`
	Attributes       map[string][]string `json:"attributes,omitempty"`
	NotBefore        int                 `json:"notBefore"`
}

// credentialRep is Keycloak's CredentialRepresentation (passwords only).
type credentialRep struct {
	Type      string `json:"type"`
	Value     string `json:"value"`
	Temporary bool   `json:"temporary"`
}

// roleRep is Keycloak's RoleRepresentation of a realm role.
type roleRep struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Composite  bool   `json:"composite"`
	ClientRole bool   `json:"clientRole"`
}

func toRep(u storage.User) userRep {
	enabled, verified := u.Enabled, u.EmailVerified
	rep := userRep{ID: u.ID, CreatedTimestamp: u.CreatedAt.UnixMilli(), Username: u.Username, Email: u.Email,
		EmailVerified: &verified, Enabled: &enabled, RequiredActions: []string{}, Attributes: u.Attributes}
	if u.FirstName != "" {
		rep.FirstName = &u.FirstName
	}
	if u.LastName != "" {
		rep.LastName = &u.LastName
	}
	return rep
}

// mountUsers registers the user endpoints.
func (h *Handler) mountUsers(r *mux.Router) {
	h.route(r, http.MethodGet, "/users", RoleViewUsers, h.listUsers)
	h.route(r, http.MethodGet, "/users/count", RoleViewUsers, h.countUsers)
	h.route(r, http.MethodPost, "/users", RoleManageUsers, h.createUser)
	h.route(r, http.MethodGet, "/users/{id}", RoleViewUsers, h.getUser)
	h.route(r, http.MethodPut, "/users/{id}", RoleManageUsers, h.updateUser)
	h.route(r, http.MethodDelete, "/users/{id}", RoleManageUsers, h.deleteUser)
	h.route(r, http.MethodPut, "/users/{id}/reset-password", RoleManageUsers, h.resetPassword)
	h.route(r, http.MethodGet, "/users/{id}/role-mappings/realm", RoleViewUsers, h.getRoleMappings)
	h.route(r, http.MethodPost, "/users/{id}/role-mappings/realm", RoleManageUsers, h.addRoleMappings)
	h.route(r, http.MethodDelete, "/users/{id}/role-mappings/realm", RoleManageUsers, h.removeRoleMappings)
	h.route(r, http.MethodGet, "/users/{id}/sessions", RoleViewUsers, h.userSessions)
	h.route(r, http.MethodGet, "/users/{id}/offline-sessions/{client}", RoleViewUsers, h.offlineSessions)
	h.route(r, http.MethodPost, "/users/{id}/logout", RoleManageUsers, h.logoutUser)
	h.route(r, http.MethodPut, "/users/{id}/execute-actions-email", RoleManageUsers, h.executeActionsEmail)
	h.route(r, http.MethodGet, "/attack-detection/brute-force/users/{id}", RoleViewUsers, h.bruteForceStatus)
	h.route(r, http.MethodDelete, "/attack-detection/brute-force/users/{id}", RoleManageUsers, h.unlockUser)
}

// userFilter is the query of GET /users and /users/count.
type userFilter struct {
	search, email, username string
	exact                   bool
	enabled                 *bool
}

func filterOf(r *http.Request) userFilter {
	q := r.URL.Query()
	f := userFilter{search: q.Get("search"), email: q.Get("email"), username: q.Get("username"), exact: q.Get("exact") == "true"}
	if v := q.Get("enabled"); v != "" {
		b := v == "true"
		f.enabled = &b
	}
	return f
}

// match applies Keycloak's semantics: search is a substring of username or
// email ("*" alone matches all); email and username are substrings, or
// equal with exact, all case-insensitively.
func (f userFilter) match(u storage.User) bool {
	has := func(field, want string) bool {
		if want == "" {
			return true
		}
		field, want = strings.ToLower(field), strings.ToLower(want)
		if f.exact {
			return field == want
		}
		return strings.Contains(field, want)
	}
	if s := strings.Trim(strings.ToLower(f.search), "*"); s != "" &&
		!strings.Contains(strings.ToLower(u.Username), s) && !strings.Contains(strings.ToLower(u.Email), s) {
		return false
	}
	return has(u.Email, f.email) && has(u.Username, f.username) && (f.enabled == nil || *f.enabled == u.Enabled)
}

// matching lists the realm's users that match f, in id order.
func (h *Handler) matching(c *call, f userFilter) ([]storage.User, error) {
	var out []storage.User
	after := ""
	for {
		page, err := c.realm.Store.ListUsers(c.r.Context(), c.realm.Name, after, 500)
		if err != nil {
			return nil, err
		}
		for _, u := range page {
			if f.match(u) {
				out = append(out, u)
			}
		}
		if len(page) < 500 {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

func (h *Handler) listUsers(c *call) {
	users, err := h.matching(c, filterOf(c.r))
	if err != nil {
		h.fault(c.w, c.r, "list users", err)
		return
	}
	first, _ := strconv.Atoi(c.r.URL.Query().Get("first"))
	limit := 100
	if v, err := strconv.Atoi(c.r.URL.Query().Get("max")); err == nil && v >= 0 {
		limit = v
	}
	first = min(max(first, 0), len(users))
	users = users[first:min(first+limit, len(users))]
	reps := make([]userRep, 0, len(users))
	for _, u := range users {
		reps = append(reps, toRep(u))
	}
	writeJSON(c.w, http.StatusOK, reps)
}

func (h *Handler) countUsers(c *call) {
	users, err := h.matching(c, filterOf(c.r))
	if err != nil {
		h.fault(c.w, c.r, "count users", err)
		return
	}
	writeJSON(c.w, http.StatusOK, len(users))
}

// user loads the {id} of the path, answering 404 itself.
func (h *Handler) user(c *call) (storage.User, bool) {
	u, err := c.realm.Store.GetUser(c.r.Context(), c.realm.Name, mux.Vars(c.r)["id"])
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(c.w, http.StatusNotFound, "User not found")
		return storage.User{}, false
	case err != nil:
		h.fault(c.w, c.r, "load user", err)
		return storage.User{}, false
	}
	return u, true
}

func (h *Handler) getUser(c *call) {
	if u, ok := h.user(c); ok {
		writeJSON(c.w, http.StatusOK, toRep(u))
	}
}

func (h *Handler) createUser(c *call) {
	var rep userRep
	if !h.decode(c, &rep) {
		return
	}
	email := strings.TrimSpace(rep.Email)
	if email != "" {
		var err error
		if email, err = realm.NormalizeEmail(email); err != nil {
			writeError(c.w, http.StatusBadRequest, "invalid email address")
			return
		}
	}
	username := strings.ToLower(strings.TrimSpace(rep.Username))
	if username == "" {
		username = strings.ToLower(email)
	}
	if username == "" {
		writeError(c.w, http.StatusBadRequest, "User name is missing")
		return
	}
	pw, ok := passwordOf(c.w, rep.Credentials)
	if !ok {
		return
	}
	if pw != "" {
		if err := c.realm.CheckPasswordPolicy(pw); err != nil {
			writePolicyError(c.w, err)
			return
		}
	}
	u := c.realm.NewUser(email, nil)
	u.Username = username
	if rep.Enabled != nil {
		u.Enabled = *rep.Enabled
	} else {
		u.Enabled = false // Keycloak creates disabled users unless told otherwise
	}
	if rep.EmailVerified != nil {
		u.EmailVerified = *rep.EmailVerified
	}
	if rep.FirstName != nil {
		u.FirstName = *rep.FirstName
	}
	if rep.LastName != nil {
		u.LastName = *rep.LastName
	}
	u.Attributes = rep.Attributes
	ctx := c.r.Context()
	if err := c.realm.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			if _, e := c.realm.Store.GetUserByUsername(ctx, c.realm.Name, username); e == nil {
				writeConflict(c.w, "User exists with same username")
				return
			}
			writeConflict(c.w, "User exists with same email")
			return
		}
		h.fault(c.w, c.r, "create user", err)
		return
	}
	if pw != "" {
		if err := c.realm.SetPassword(ctx, u.ID, pw); err != nil {
			h.fault(c.w, c.r, "set password of new user", err)
			return
		}
	}
	h.audit(c, "CREATE user", u.ID)
	c.w.Header().Set("Location", strings.TrimSuffix(requestURL(c.realm, c.r), "/")+"/"+u.ID)
	c.w.WriteHeader(http.StatusCreated)
}

func (h *Handler) updateUser(c *call) {
	u, ok := h.user(c)
	if !ok {
		return
	}
	var rep userRep
	if !h.decode(c, &rep) {
		return
	}
	next := u
	if rep.Email != "" && !strings.EqualFold(rep.Email, u.Email) {
		email, err := realm.NormalizeEmail(rep.Email)
		if err != nil {
			writeError(c.w, http.StatusBadRequest, "invalid email address")
			return
		}
		next.Email, next.EmailVerified = email, false
	}
	if rep.Username != "" {
		next.Username = strings.ToLower(strings.TrimSpace(rep.Username))
	}
	if rep.EmailVerified != nil {
		next.EmailVerified = *rep.EmailVerified
	}
	ctx := c.r.Context()
	_, err := c.realm.Store.UpdateUser(ctx, c.realm.Name, u.ID, func(cur storage.User) (storage.User, error) {
		cur.Email, cur.Username, cur.EmailVerified, cur.UpdatedAt = next.Email, next.Username, next.EmailVerified, c.realm.Now()
		// Absent fields stay as they are (a partial update).
		if rep.FirstName != nil {
			cur.FirstName = *rep.FirstName
		}
		if rep.LastName != nil {
			cur.LastName = *rep.LastName
		}
		if rep.Attributes != nil {
			cur.Attributes = rep.Attributes
		}
		return cur, nil
	})
	if errors.Is(err, storage.ErrAlreadyExists) {
		writeConflict(c.w, "User exists with same username or email")
		return
	}
	if err != nil {
		h.fault(c.w, c.r, "update user", err)
		return
	}
	// Enabling and disabling go through the realm: disabling ends the
	// user's sessions, refresh tokens and links at once.
	if rep.Enabled != nil && *rep.Enabled != u.Enabled {
		if err := c.realm.SetEnabled(ctx, u.ID, *rep.Enabled); err != nil {
			h.fault(c.w, c.r, "enable or disable user", err)
			return
		}
	}
	if pw, ok := passwordOf(c.w, rep.Credentials); !ok {
		return
	} else if pw != "" {
		if err := c.realm.SetPassword(ctx, u.ID, pw); err != nil {
			writePolicyError(c.w, err)
			return
		}
	}
	h.audit(c, "UPDATE user", u.ID)
	c.w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) deleteUser(c *call) {
	u, ok := h.user(c)
	if !ok {
		return
	}
	if err := c.realm.DeleteUser(c.r.Context(), u.ID); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			writeError(c.w, http.StatusNotFound, "User not found")
			return
		}
		h.fault(c.w, c.r, "delete user", err)
		return
	}
	h.audit(c, "DELETE user", u.ID)
	c.w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) resetPassword(c *call) {
	u, ok := h.user(c)
	if !ok {
		return
	}
	var cred credentialRep
	if !h.decode(c, &cred) {
		return
	}
	if cred.Type != "" && cred.Type != "password" {
		writeError(c.w, http.StatusBadRequest, "Only password credentials are supported")
		return
	}
	if err := c.realm.SetPassword(c.r.Context(), u.ID, cred.Value); err != nil {
		if errors.Is(err, realm.ErrPasswordPolicy) {
			writePolicyError(c.w, err)
			return
		}
		h.fault(c.w, c.r, "reset password", err)
		return
	}
	// A new password is a fresh start for the brute-force detector.
	_ = c.realm.ResetLoginFailures(c.r.Context(), u.ID)
	h.audit(c, "UPDATE user password", u.ID)
	c.w.WriteHeader(http.StatusNoContent)
}

// passwordOf returns the password credential of a representation, if any.
func passwordOf(w http.ResponseWriter, creds []credentialRep) (string, bool) {
	pw := ""
	for _, cr := range creds {
		if cr.Type != "" && cr.Type != "password" {
			writeError(w, http.StatusBadRequest, "Only password credentials are supported")
			return "", false
		}
		pw = cr.Value
	}
	return pw, true
}

// writePolicyError is Keycloak's answer to a password the policy refuses.
func writePolicyError(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalidPasswordMinLengthMessage",
		"error_description": "Invalid password: " + strings.TrimPrefix(err.Error(), realm.ErrPasswordPolicy.Error()+": ")})
}

func (h *Handler) getRoleMappings(c *call) {
	u, ok := h.user(c)
	if !ok {
		return
	}
	reps := make([]roleRep, 0, len(u.Roles))
	for _, r := range u.Roles {
		reps = append(reps, roleRep{ID: r, Name: r})
	}
	writeJSON(c.w, http.StatusOK, reps)
}

func (h *Handler) addRoleMappings(c *call)    { h.changeRoles(c, true) }
func (h *Handler) removeRoleMappings(c *call) { h.changeRoles(c, false) }

// changeRoles adds or removes realm roles of a user.
func (h *Handler) changeRoles(c *call, add bool) {
	u, ok := h.user(c)
	if !ok {
		return
	}
	var reps []roleRep
	if !h.decode(c, &reps) {
		return
	}
	_, err := c.realm.Store.UpdateUser(c.r.Context(), c.realm.Name, u.ID, func(cur storage.User) (storage.User, error) {
		roles := slices.Clone(cur.Roles)
		for _, r := range reps {
			name := r.Name
			if name == "" {
				name = r.ID
			}
			i := slices.Index(roles, name)
			switch {
			case add && i < 0 && name != "":
				roles = append(roles, name)
			case !add && i >= 0:
				roles = slices.Delete(roles, i, i+1)
			}
		}
		cur.Roles, cur.UpdatedAt = roles, c.realm.Now()
		return cur, nil
	})
	if err != nil {
		h.fault(c.w, c.r, "change role mappings", err)
		return
	}
	h.audit(c, map[bool]string{true: "CREATE", false: "DELETE"}[add]+" role mapping", u.ID)
	c.w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) bruteForceStatus(c *call) {
	u, ok := h.user(c)
	if !ok {
		return
	}
	f, err := c.realm.Store.GetLoginFailures(c.r.Context(), c.realm.Name, u.ID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.fault(c.w, c.r, "load login failures", err)
		return
	}
	var last int64
	if !f.LastFailure.IsZero() {
		last = f.LastFailure.UnixMilli()
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"disabled": c.realm.Now().Before(f.LockedUntil),
		"numFailures": f.NumFailures, "lastFailure": last, "lastIPFailure": f.LastIPFailed})
}

func (h *Handler) unlockUser(c *call) {
	u, ok := h.user(c)
	if !ok {
		return
	}
	if err := c.realm.ResetLoginFailures(c.r.Context(), u.ID); err != nil {
		h.fault(c.w, c.r, "unlock user", err)
		return
	}
	h.audit(c, "DELETE brute-force lock", u.ID)
	c.w.WriteHeader(http.StatusNoContent)
}

// ActionsMailer mails a user a link that performs required actions.
type ActionsMailer interface {
	SendActions(ctx context.Context, r *realm.Realm, u storage.User, clientID, redirectURI string, lifespan time.Duration, actions []string) error
}

// executeActionsEmail is PUT /users/{id}/execute-actions-email: a magic link
// that performs UPDATE_PASSWORD and/or VERIFY_EMAIL, then signs the user in to
// client_id at redirect_uri when given.
func (h *Handler) executeActionsEmail(c *call) {
	u, ok := h.user(c)
	if !ok {
		return
	}
	if u.Email == "" || !u.Enabled {
		writeError(c.w, http.StatusBadRequest, "User is disabled or has no email address")
		return
	}
	var actions []string
	if !h.decode(c, &actions) {
		return
	}
	q := c.r.URL.Query()
	lifespan := time.Duration(0)
	if v, err := strconv.Atoi(q.Get("lifespan")); err == nil && v > 0 {
		lifespan = time.Duration(v) * time.Second
	}
	err := h.Actions.SendActions(c.r.Context(), c.realm, u, q.Get("client_id"), q.Get("redirect_uri"), lifespan, actions)
	var refused *magiclink.Error
	switch {
	case errors.Is(err, magiclink.ErrUnsupportedAction):
		writeError(c.w, http.StatusBadRequest, err.Error())
		return
	case errors.As(err, &refused) && refused.Code < 500:
		writeError(c.w, refused.Code, refused.Message)
		return
	case err != nil:
		h.fault(c.w, c.r, "send actions email", err)
		return
	}
	h.audit(c, "ACTION execute-actions-email "+strings.Join(actions, ","), u.ID)
	c.w.WriteHeader(http.StatusNoContent)
}
