package realm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/crypto/password"
	"github.com/latchkey/latchkey/storage"
)

// Errors of user operations.
var (
	ErrInvalidEmail   = errors.New("invalid email address")
	ErrPasswordPolicy = errors.New("password does not meet the realm's policy")
)

// NewUserID returns a random RFC 4122 version-4 UUID, the form Keycloak uses for user ids.
func NewUserID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// NormalizeEmail validates a bare email address (no display name, no header
// injection) and returns it trimmed. Lookups are case-insensitive in storage.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 254 || !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n<>,;\"()\\ \t") {
		return "", ErrInvalidEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at == len(s)-1 || !strings.Contains(s[at+1:], ".") && s[at+1:] != "localhost" {
		return "", ErrInvalidEmail
	}
	return s, nil
}

// CheckPasswordPolicy returns ErrPasswordPolicy when pw is unacceptable.
func (r *Realm) CheckPasswordPolicy(pw string) error {
	if utf8.RuneCountInString(pw) < r.MinPasswordLen {
		return fmt.Errorf("%w: at least %d characters", ErrPasswordPolicy, r.MinPasswordLen)
	}
	if len(pw) > 1024 {
		return fmt.Errorf("%w: at most 1024 bytes", ErrPasswordPolicy)
	}
	return nil
}

// NewUser builds (but does not store) an enabled user for email, username =
// email, as Keycloak does for users created by email.
func (r *Realm) NewUser(email string, roles []string) storage.User {
	now := r.Now()
	return storage.User{
		Realm: r.Name, ID: NewUserID(), Username: strings.ToLower(email), Email: email,
		Enabled: true, Roles: roles, CreatedAt: now, UpdatedAt: now,
	}
}

// EnsureUser returns the user with email, creating an enabled user with no
// password (email not verified) when absent. created reports which happened.
// Concurrent calls for one email end with one user.
func (r *Realm) EnsureUser(ctx context.Context, email string) (u storage.User, created bool, err error) {
	email, err = NormalizeEmail(email)
	if err != nil {
		return storage.User{}, false, err
	}
	u, err = r.Store.GetUserByEmail(ctx, r.Name, email)
	if err == nil {
		return u, false, nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, false, fmt.Errorf("look up user in realm %q: %w", r.Name, err)
	}
	u = r.NewUser(email, nil)
	if err := r.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			// A concurrent request created it first: use theirs.
			u, err = r.Store.GetUserByEmail(ctx, r.Name, email)
			if err != nil {
				return storage.User{}, false, fmt.Errorf("look up user in realm %q: %w", r.Name, err)
			}
			return u, false, nil
		}
		return storage.User{}, false, fmt.Errorf("create user in realm %q: %w", r.Name, err)
	}
	return u, true, nil
}

// SetPassword checks the policy, hashes pw and stores it.
func (r *Realm) SetPassword(ctx context.Context, userID, pw string) error {
	if err := r.CheckPasswordPolicy(pw); err != nil {
		return err
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	_, err = r.Store.UpdateUser(ctx, r.Name, userID, func(u storage.User) (storage.User, error) {
		u.PasswordHash = hash
		u.UpdatedAt = r.Now()
		return u, nil
	})
	if err != nil {
		return fmt.Errorf("set password of user %q in realm %q: %w", userID, r.Name, err)
	}
	return nil
}

// SetEnabled enables or disables a user. Disabling ends the user's sessions
// and kills their live magic links.
func (r *Realm) SetEnabled(ctx context.Context, userID string, enabled bool) error {
	_, err := r.Store.UpdateUser(ctx, r.Name, userID, func(u storage.User) (storage.User, error) {
		u.Enabled = enabled
		u.UpdatedAt = r.Now()
		return u, nil
	})
	if err != nil {
		return fmt.Errorf("update user %q in realm %q: %w", userID, r.Name, err)
	}
	if enabled {
		return nil
	}
	if err := r.EndUserSessions(ctx, userID); err != nil {
		return fmt.Errorf("end sessions of user %q: %w", userID, err)
	}
	if err := r.Store.DeleteRefreshTokensOf(ctx, r.Name, userID, ""); err != nil {
		return fmt.Errorf("revoke refresh tokens of user %q: %w", userID, err)
	}
	if err := r.Store.RevokeSubjectTokens(ctx, r.Name, userID, r.Now()); err != nil {
		return fmt.Errorf("revoke links of user %q: %w", userID, err)
	}
	return nil
}

// FindUser looks a user up by email or username (case-insensitive).
func (r *Realm) FindUser(ctx context.Context, login string) (storage.User, error) {
	login = strings.TrimSpace(login)
	if login == "" {
		return storage.User{}, storage.ErrNotFound
	}
	u, err := r.Store.GetUserByEmail(ctx, r.Name, login)
	if errors.Is(err, storage.ErrNotFound) {
		u, err = r.Store.GetUserByUsername(ctx, r.Name, login)
	}
	return u, err
}
