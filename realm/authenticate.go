package realm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/storage"
)

// Authentication outcomes. Callers map them to their API's wire format.
var (
	ErrUnknownUser   = errors.New("unknown user")
	ErrWrongPassword = errors.New("wrong password")
	ErrUserDisabled  = errors.New("user disabled")
	// ErrLockoutStarted accompanies ErrWrongPassword (errors.Is matches both)
	// when this failure reached the failure factor and locked the account, so
	// callers can count and log lockouts exactly once.
	ErrLockoutStarted = errors.New("account locked by this failure")
)

// LockedError means the account is temporarily locked by the brute-force
// detector; RetryAfter is the remaining wait.
type LockedError struct{ RetryAfter time.Duration }

func (e *LockedError) Error() string {
	return fmt.Sprintf("account temporarily locked, retry after %s", e.RetryAfter.Round(time.Second))
}

// Authenticate checks a login (email or username) and password. Unknown users
// cost the same argon2id time as known ones. With brute-force protection on, a
// failure slot is reserved atomically before the password is checked, so that
// of N parallel wrong guesses at most failureFactor are evaluated; once the
// factor is reached every attempt gets a *LockedError until the wait is over.
// A success clears the counter.
func (r *Realm) Authenticate(ctx context.Context, login, pw string) (storage.User, error) {
	u, err := r.FindUser(ctx, login)
	if errors.Is(err, storage.ErrNotFound) {
		_ = password.VerifyDummy(pw)
		return storage.User{}, ErrUnknownUser
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("look up user in realm %q: %w", r.Name, err)
	}
	if !u.Enabled {
		_ = password.VerifyDummy(pw)
		return storage.User{}, ErrUserDisabled
	}
	wrong := ErrWrongPassword
	if r.BruteForce.Enabled {
		lockedNow, err := r.reserveAttempt(ctx, u.ID)
		if err != nil {
			return storage.User{}, err
		}
		if lockedNow {
			wrong = fmt.Errorf("%w: %w", ErrWrongPassword, ErrLockoutStarted)
		}
	}
	if u.PasswordHash == "" {
		_ = password.VerifyDummy(pw)
		return storage.User{}, wrong
	}
	switch err := password.Verify(pw, u.PasswordHash); {
	case errors.Is(err, password.ErrMismatch):
		return storage.User{}, wrong
	case err != nil:
		return storage.User{}, fmt.Errorf("verify password of user %q: %w", u.ID, err)
	}
	if r.BruteForce.Enabled {
		if err := r.ResetLoginFailures(ctx, u.ID); err != nil {
			return storage.User{}, err
		}
	}
	return u, nil
}

// reserveAttempt counts the attempt as a failure in advance (Keycloak's
// numFailures) and locks the account when the count reaches a multiple of the
// failure factor; lockedNow reports that this attempt set the lock.
func (r *Realm) reserveAttempt(ctx context.Context, userID string) (lockedNow bool, err error) {
	bf := r.BruteForce
	var locked *LockedError
	_, err = r.Store.UpdateLoginFailures(ctx, r.Name, userID, func(f storage.LoginFailures) (storage.LoginFailures, error) {
		// The store may run this function more than once (batched writes):
		// start from a clean slate each time.
		locked, lockedNow = nil, false
		now := r.Now()
		if now.Before(f.LockedUntil) {
			locked = &LockedError{RetryAfter: f.LockedUntil.Sub(now)}
			return f, locked
		}
		if bf.FailureResetTime > 0 && !f.LastFailure.IsZero() && now.Sub(f.LastFailure) > bf.FailureResetTime {
			f.NumFailures = 0
		}
		f.NumFailures++
		f.LastFailure = now
		if f.NumFailures%bf.FailureFactor == 0 {
			wait := bf.WaitIncrement * time.Duration(f.NumFailures/bf.FailureFactor)
			if bf.MaxWait > 0 && wait > bf.MaxWait {
				wait = bf.MaxWait
			}
			f.LockedUntil = now.Add(wait)
			lockedNow = true
		}
		return f, nil
	})
	if locked != nil && errors.As(err, &locked) {
		return false, locked
	}
	if err != nil {
		return false, fmt.Errorf("record login attempt in realm %q: %w", r.Name, err)
	}
	return lockedNow, nil
}

// ResetLoginFailures clears the brute-force counter of a user (after a
// successful login, or by an admin's unlock).
func (r *Realm) ResetLoginFailures(ctx context.Context, userID string) error {
	_, err := r.Store.UpdateLoginFailures(ctx, r.Name, userID, func(f storage.LoginFailures) (storage.LoginFailures, error) {
		f.NumFailures = 0
		f.LockedUntil = time.Time{}
		return f, nil
	})
	if err != nil {
		return fmt.Errorf("reset login failures in realm %q: %w", r.Name, err)
	}
	return nil
}
