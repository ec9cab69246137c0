package bboltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// InTx runs fn in one write transaction: all its writes land or none do. The
// transaction is batched with concurrent ones, so fn may be called more than
// once and must not have side effects outside tx. fn's error rolls back and
// is returned unchanged. The Tx methods refuse (ErrAlreadyExists and the
// like) before writing anything, so fn may carry on after a refusal; any
// other failure of a Tx method rolls the transaction back even if fn
// swallows it.
func (s *Store) InTx(ctx context.Context, fn func(tx storage.Tx) error) error {
	var fnErr error
	err := s.batch(ctx, func(btx *bolt.Tx) (error, error) {
		t := &boltTx{s: s, tx: btx}
		fnErr = fn(t)
		if fnErr != nil {
			return nil, fnErr
		}
		return nil, t.failed
	})
	switch {
	case err == nil:
		return nil
	case fnErr != nil && err == fnErr:
		return err
	default:
		return fmt.Errorf("run transaction: %w", err)
	}
}

// boltTx adapts a bbolt write transaction to storage.Tx.
type boltTx struct {
	s  *Store
	tx *bolt.Tx
	// failed is the first error of a method that may have written partially;
	// it forces a rollback.
	failed error
}

var _ storage.Tx = (*boltTx)(nil)

// note records err when it is not a clean refusal, so that InTx rolls back.
func (t *boltTx) note(err error) error {
	if err != nil && !isRefusal(err) && t.failed == nil {
		t.failed = err
	}
	return err
}

// GetUserByEmail sees the transaction's own writes.
func (t *boltTx) GetUserByEmail(realm, email string) (storage.User, error) {
	u, err := getUserByIndex(t.tx, bucketUsersByEmail, realm, email)
	if err != nil {
		return storage.User{}, fmt.Errorf("get user by email in realm %q: %w", realm, t.note(err))
	}
	return u, nil
}

// CreateUser is Store.CreateUser inside the transaction.
func (t *boltTx) CreateUser(u storage.User) error {
	if err := createUser(t.tx, u); err != nil {
		return fmt.Errorf("create user %q in realm %q: %w", u.ID, u.Realm, t.note(err))
	}
	return nil
}

// IssueOneTimeToken is Store.IssueOneTimeToken inside the transaction.
func (t *boltTx) IssueOneTimeToken(tok storage.OneTimeToken) error {
	err := oneTimeTable.checkNew(t.tx, tok)
	if err == nil {
		err = issueOneTimeToken(t.tx, tok)
	}
	if err != nil {
		return fmt.Errorf("issue %s token in realm %q: %w", tok.Kind, tok.Realm, t.note(err))
	}
	return nil
}

// EnqueueOutbox is Store.EnqueueOutbox inside the transaction.
func (t *boltTx) EnqueueOutbox(entries ...storage.OutboxEntry) error {
	entries = t.s.withOutboxIDs(entries)
	err := checkNewOutbox(t.tx, entries)
	if err == nil {
		err = putOutbox(t.tx, entries)
	}
	if err != nil {
		return fmt.Errorf("enqueue %d outbox entries: %w", len(entries), t.note(err))
	}
	return nil
}
