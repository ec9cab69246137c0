package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/storage"
)

// InTx runs fn in one transaction: all its writes land or none do. fn may be
// called more than once (the transaction is retried after a serialization
// failure or deadlock), so it must not have side effects outside tx. fn's
// error rolls back and is returned unchanged. The Tx methods refuse
// (ErrAlreadyExists and the like) without writing anything or aborting the
// transaction, so fn may carry on after a refusal; any other failure of a Tx
// method rolls the transaction back even if fn swallows it.
func (s *Store) InTx(ctx context.Context, fn func(tx storage.Tx) error) error {
	err := s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		t := &pgTx{s: s, ctx: ctx, tx: tx}
		if err := fn(t); err != nil {
			if t.failed != nil && errors.Is(err, t.failed) {
				// fn passed on a failure of ours: let withTx see it (and
				// retry it, if it is a serialization failure).
				return t.failed
			}
			return fnError{err}
		}
		return t.failed
	})
	var fe fnError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return fe.err
	default:
		return fmt.Errorf("run transaction: %w", err)
	}
}

// pgTx adapts a PostgreSQL transaction to storage.Tx.
type pgTx struct {
	s   *Store
	ctx context.Context
	tx  pgx.Tx
	// failed is the first error of a method that was not a clean refusal;
	// the server has aborted the transaction then, and InTx rolls back.
	failed error
}

var _ storage.Tx = (*pgTx)(nil)

// note records err when it is not a clean refusal, so that InTx rolls back,
// and returns it classified as the Store methods would.
func (t *pgTx) note(err error) error {
	if err == nil || isRefusal(err) {
		return err
	}
	if t.failed == nil {
		t.failed = err
	}
	return classify(t.ctx, err)
}

// GetUserByEmail sees the transaction's own writes.
func (t *pgTx) GetUserByEmail(realm, email string) (storage.User, error) {
	u, err := getUserByIndex(t.ctx, t.tx, "email_fold", realm, email)
	if err != nil {
		return storage.User{}, fmt.Errorf("get user by email in realm %q: %w", realm, t.note(err))
	}
	return u, nil
}

// CreateUser is Store.CreateUser inside the transaction.
func (t *pgTx) CreateUser(u storage.User) error {
	if err := createUser(t.ctx, t.tx, u); err != nil {
		return fmt.Errorf("create user %q in realm %q: %w", u.ID, u.Realm, t.note(err))
	}
	return nil
}

// IssueOneTimeToken is Store.IssueOneTimeToken inside the transaction.
func (t *pgTx) IssueOneTimeToken(tok storage.OneTimeToken) error {
	if err := issueOneTimeToken(t.ctx, t.tx, tok); err != nil {
		return fmt.Errorf("issue %s token in realm %q: %w", tok.Kind, tok.Realm, t.note(err))
	}
	return nil
}

// EnqueueOutbox is Store.EnqueueOutbox inside the transaction.
func (t *pgTx) EnqueueOutbox(entries ...storage.OutboxEntry) error {
	entries = t.s.withOutboxIDs(entries)
	if err := insertOutbox(t.ctx, t.tx, entries); err != nil {
		return fmt.Errorf("enqueue %d outbox entries: %w", len(entries), t.note(err))
	}
	return nil
}
