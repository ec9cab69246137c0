package realm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/crypto/password"
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

// Authenticate checks a login (email or username) and password. Unknown and
// disabled users cost the same argon2id time as known ones.
//
// With brute-force protection on (Keycloak's model) the lockout is
// decided atomically on the stored failure record at the moment the answer is
// given:
//
//   - An account that is locked already gets a *LockedError at once; its
//     password is not evaluated (the answer does not depend on it).
//   - Otherwise the password is checked first, with nothing recorded while the
//     check runs, and only then is the outcome settled (recordFailure,
//     recordSuccess), each answering *LockedError instead if the account got
//     locked in the meantime.
//
// So an attempt counts as a failure only once it is known to be wrong: of N
// parallel wrong guesses at a fresh account exactly failureFactor answer
// ErrWrongPassword (the one that reaches the factor wrapping
// ErrLockoutStarted) and the rest get a *LockedError; and a right password
// succeeds whenever the account is not locked at that moment, however many
// other attempts are in flight. Counting attempts as failures before their
// check (reserving a slot) would bound the argon2id work of a parallel guess
// burst to failureFactor, but it breaks the latter: the parallel
// right-password logins of one service account would be failures in flight
// and lock it. The price is that the guesses of a burst that arrive before the
// lock is visible are all verified (bounded by internal/crypto/password's per-CPU
// semaphore and the realm's rate limits); none of them is answered, though,
// beyond failureFactor.
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
	bf := r.BruteForce.Enabled
	if bf {
		f, err := r.loginFailures(ctx, u.ID)
		if err != nil {
			return storage.User{}, err
		}
		if locked := r.lockedAt(f, r.Now()); locked != nil {
			return storage.User{}, locked
		}
	}
	match, err := r.checkPassword(u, pw)
	if err != nil {
		return storage.User{}, err
	}
	if !match {
		if bf {
			return storage.User{}, r.recordFailure(ctx, u.ID)
		}
		return storage.User{}, ErrWrongPassword
	}
	if bf {
		if err := r.recordSuccess(ctx, u.ID); err != nil {
			return storage.User{}, err
		}
	}
	return u, nil
}

// checkPassword reports whether pw is u's password. A user without a password
// never matches, at the cost of a dummy verification; a malformed stored hash
// is an error (a fault, not a failed login).
func (r *Realm) checkPassword(u storage.User, pw string) (bool, error) {
	if u.PasswordHash == "" {
		_ = password.VerifyDummy(pw)
		return false, nil
	}
	switch err := password.Verify(pw, u.PasswordHash); {
	case err == nil:
		return true, nil
	case errors.Is(err, password.ErrMismatch):
		return false, nil
	default:
		return false, fmt.Errorf("verify password of user %q: %w", u.ID, err)
	}
}

// loginFailures returns the user's failure record, the zero record if there
// is none.
func (r *Realm) loginFailures(ctx context.Context, userID string) (storage.LoginFailures, error) {
	f, err := r.Store.GetLoginFailures(ctx, r.Name, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.LoginFailures{}, nil
	}
	if err != nil {
		return storage.LoginFailures{}, fmt.Errorf("read login failures in realm %q: %w", r.Name, err)
	}
	return f, nil
}

// lockedAt returns the *LockedError of f at now, or nil when f is not locked
// then. The lock ends exactly at LockedUntil.
func (r *Realm) lockedAt(f storage.LoginFailures, now time.Time) *LockedError {
	if now.Before(f.LockedUntil) {
		return &LockedError{RetryAfter: f.LockedUntil.Sub(now)}
	}
	return nil
}

// recordFailure counts a wrong password (Keycloak's numFailures) in one store
// transaction and returns the answer for it: a *LockedError if the account is
// locked at that moment (another attempt locked it while this one's password
// was checked), else ErrWrongPassword, wrapping ErrLockoutStarted when this
// failure brought the count to a multiple of the failure factor and locked the
// account. Failures older than failureResetTime are forgotten first; the wait
// is waitIncrement × the number of lockouts so far, capped at maxWait.
func (r *Realm) recordFailure(ctx context.Context, userID string) error {
	bf := r.BruteForce
	var (
		locked    *LockedError
		lockedNow bool
	)
	_, err := r.Store.UpdateLoginFailures(ctx, r.Name, userID, func(f storage.LoginFailures) (storage.LoginFailures, error) {
		// The store may run this function more than once (batched writes):
		// start from a clean slate each time.
		locked, lockedNow = nil, false
		now := r.Now()
		if locked = r.lockedAt(f, now); locked != nil {
			return f, locked
		}
		if bf.FailureResetTime > 0 && !f.LastFailure.IsZero() && now.Sub(f.LastFailure) > bf.FailureResetTime {
			f.NumFailures = 0
		}
		f.NumFailures++
		f.LastFailure = now
		// Keycloak's model: from the factor on, every failure locks, for
		// waitIncrement per whole multiple of the factor. A lockout that has
		// run out therefore buys one guess, not another factor's worth.
		if f.NumFailures >= bf.FailureFactor {
			wait := bf.WaitIncrement * time.Duration(f.NumFailures/bf.FailureFactor)
			if bf.MaxWait > 0 && wait > bf.MaxWait {
				wait = bf.MaxWait
			}
			f.LockedUntil = now.Add(wait)
			lockedNow = true
		}
		return f, nil
	})
	switch {
	case locked != nil && errors.As(err, &locked):
		return locked
	case err != nil:
		return fmt.Errorf("record failed login in realm %q: %w", r.Name, err)
	case lockedNow:
		return fmt.Errorf("%w: %w", ErrWrongPassword, ErrLockoutStarted)
	default:
		return ErrWrongPassword
	}
}

// recordSuccess settles a right password: a *LockedError if the account is
// locked at that moment (another attempt locked it while this one's password
// was checked), else nil after clearing the failure counter (Keycloak resets
// it on success).
//
// It reads before it writes: with no failures recorded and no lock there is
// nothing to clear, and the read is the moment of the decision, so the common
// case — many right-password logins, possibly in parallel — answers without
// a write transaction per login. Only when there is something to clear does
// it take the write, which decides again on the record it updates.
func (r *Realm) recordSuccess(ctx context.Context, userID string) error {
	f, err := r.loginFailures(ctx, userID)
	if err != nil {
		return err
	}
	now := r.Now()
	if locked := r.lockedAt(f, now); locked != nil {
		return locked
	}
	if f.NumFailures == 0 {
		return nil
	}
	var locked *LockedError
	_, err = r.Store.UpdateLoginFailures(ctx, r.Name, userID, func(f storage.LoginFailures) (storage.LoginFailures, error) {
		// The store may run this function more than once (batched writes).
		if locked = r.lockedAt(f, r.Now()); locked != nil {
			return f, locked
		}
		f.NumFailures = 0
		f.LockedUntil = time.Time{}
		return f, nil
	})
	switch {
	case locked != nil && errors.As(err, &locked):
		return locked
	case err != nil:
		return fmt.Errorf("reset login failures in realm %q: %w", r.Name, err)
	}
	return nil
}

// ResetLoginFailures clears the brute-force counter and any lock of a user
// unconditionally: an admin's unlock, or a password reset proven by other
// means (a magic link). A password login settles its success through
// recordSuccess instead, which does not lift a lock set by other attempts.
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
