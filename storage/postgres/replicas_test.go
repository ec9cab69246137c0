package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/postgres/pgtest"
	"github.com/latchkey/latchkey/storage/storagetest"
)

// replicas is a storage.Store that sends each call to the next of two
// Stores on one database, as a load balancer spreads requests over two
// Latchkey replicas: a record is written by one and read, updated or
// consumed by the other, and the suite's concurrent calls are spread over
// both.
type replicas struct {
	r   [2]storage.Store
	dsn string
	n   atomic.Uint32
}

var _ storage.Store = (*replicas)(nil)

func (p *replicas) next() storage.Store { return p.r[p.n.Add(1)%2] }

// Close closes both replicas.
func (p *replicas) Close() error { return errors.Join(p.r[0].Close(), p.r[1].Close()) }

func (p *replicas) CreateUser(ctx context.Context, u storage.User) error {
	return p.next().CreateUser(ctx, u)
}
func (p *replicas) GetUser(ctx context.Context, realm, id string) (storage.User, error) {
	return p.next().GetUser(ctx, realm, id)
}
func (p *replicas) GetUserByEmail(ctx context.Context, realm, email string) (storage.User, error) {
	return p.next().GetUserByEmail(ctx, realm, email)
}
func (p *replicas) GetUserByUsername(ctx context.Context, realm, username string) (storage.User, error) {
	return p.next().GetUserByUsername(ctx, realm, username)
}
func (p *replicas) UpdateUser(ctx context.Context, realm, id string, fn func(storage.User) (storage.User, error)) (storage.User, error) {
	return p.next().UpdateUser(ctx, realm, id, fn)
}
func (p *replicas) DeleteUser(ctx context.Context, realm, id string) error {
	return p.next().DeleteUser(ctx, realm, id)
}
func (p *replicas) ListUsers(ctx context.Context, realm, after string, limit int) ([]storage.User, error) {
	return p.next().ListUsers(ctx, realm, after, limit)
}
func (p *replicas) CountUsers(ctx context.Context, realm string) (int, error) {
	return p.next().CountUsers(ctx, realm)
}
func (p *replicas) ListSigningKeys(ctx context.Context, realm string) ([]storage.SigningKey, error) {
	return p.next().ListSigningKeys(ctx, realm)
}
func (p *replicas) RotateSigningKey(ctx context.Context, next storage.SigningKey, retireAt time.Time) error {
	return p.next().RotateSigningKey(ctx, next, retireAt)
}
func (p *replicas) RealmSecret(ctx context.Context, realm, name string, generate func() ([]byte, error)) ([]byte, error) {
	return p.next().RealmSecret(ctx, realm, name, generate)
}
func (p *replicas) CreateSession(ctx context.Context, s storage.Session) error {
	return p.next().CreateSession(ctx, s)
}
func (p *replicas) GetSession(ctx context.Context, realm, id string) (storage.Session, error) {
	return p.next().GetSession(ctx, realm, id)
}
func (p *replicas) GetSessionByTokenHash(ctx context.Context, realm, tokenHash string) (storage.Session, error) {
	return p.next().GetSessionByTokenHash(ctx, realm, tokenHash)
}
func (p *replicas) UpdateSession(ctx context.Context, realm, id string, fn func(storage.Session) (storage.Session, error)) (storage.Session, error) {
	return p.next().UpdateSession(ctx, realm, id, fn)
}
func (p *replicas) DeleteSession(ctx context.Context, realm, id string) error {
	return p.next().DeleteSession(ctx, realm, id)
}
func (p *replicas) DeleteUserSessions(ctx context.Context, realm, userID string) error {
	return p.next().DeleteUserSessions(ctx, realm, userID)
}
func (p *replicas) ListUserSessions(ctx context.Context, realm, userID string) ([]storage.Session, error) {
	return p.next().ListUserSessions(ctx, realm, userID)
}
func (p *replicas) CreateAuthRequest(ctx context.Context, a storage.AuthRequest) error {
	return p.next().CreateAuthRequest(ctx, a)
}
func (p *replicas) GetAuthRequest(ctx context.Context, realm, id string) (storage.AuthRequest, error) {
	return p.next().GetAuthRequest(ctx, realm, id)
}
func (p *replicas) UpdateAuthRequest(ctx context.Context, realm, id string, fn func(storage.AuthRequest) (storage.AuthRequest, error)) (storage.AuthRequest, error) {
	return p.next().UpdateAuthRequest(ctx, realm, id, fn)
}
func (p *replicas) DeleteAuthRequest(ctx context.Context, realm, id string) error {
	return p.next().DeleteAuthRequest(ctx, realm, id)
}
func (p *replicas) IssueOneTimeToken(ctx context.Context, t storage.OneTimeToken) error {
	return p.next().IssueOneTimeToken(ctx, t)
}
func (p *replicas) PeekOneTimeToken(ctx context.Context, realm, kind, hash string) (storage.OneTimeToken, error) {
	return p.next().PeekOneTimeToken(ctx, realm, kind, hash)
}
func (p *replicas) ConsumeOneTimeToken(ctx context.Context, realm, kind, hash string, now time.Time) (storage.OneTimeToken, error) {
	return p.next().ConsumeOneTimeToken(ctx, realm, kind, hash, now)
}
func (p *replicas) DeleteOneTimeToken(ctx context.Context, realm, kind, hash string) error {
	return p.next().DeleteOneTimeToken(ctx, realm, kind, hash)
}
func (p *replicas) RevokeSubjectTokens(ctx context.Context, realm, subject string, now time.Time) error {
	return p.next().RevokeSubjectTokens(ctx, realm, subject, now)
}
func (p *replicas) CreateRefreshToken(ctx context.Context, t storage.RefreshToken) error {
	return p.next().CreateRefreshToken(ctx, t)
}
func (p *replicas) GetRefreshTokenByHash(ctx context.Context, realm, hash string) (storage.RefreshToken, error) {
	return p.next().GetRefreshTokenByHash(ctx, realm, hash)
}
func (p *replicas) RotateRefreshToken(ctx context.Context, realm, oldHash string, next storage.RefreshToken, now time.Time) error {
	return p.next().RotateRefreshToken(ctx, realm, oldHash, next, now)
}
func (p *replicas) DeleteRefreshToken(ctx context.Context, realm, id string) error {
	return p.next().DeleteRefreshToken(ctx, realm, id)
}
func (p *replicas) DeleteRefreshTokensOf(ctx context.Context, realm, userID, clientID string) error {
	return p.next().DeleteRefreshTokensOf(ctx, realm, userID, clientID)
}
func (p *replicas) ListUserRefreshTokens(ctx context.Context, realm, userID string) ([]storage.RefreshToken, error) {
	return p.next().ListUserRefreshTokens(ctx, realm, userID)
}
func (p *replicas) RevokeTokenID(ctx context.Context, realm, jti string, expiresAt time.Time) error {
	return p.next().RevokeTokenID(ctx, realm, jti, expiresAt)
}
func (p *replicas) IsTokenIDRevoked(ctx context.Context, realm, jti string) (bool, error) {
	return p.next().IsTokenIDRevoked(ctx, realm, jti)
}
func (p *replicas) UpdateLoginFailures(ctx context.Context, realm, key string, fn func(storage.LoginFailures) (storage.LoginFailures, error)) (storage.LoginFailures, error) {
	return p.next().UpdateLoginFailures(ctx, realm, key, fn)
}
func (p *replicas) GetLoginFailures(ctx context.Context, realm, key string) (storage.LoginFailures, error) {
	return p.next().GetLoginFailures(ctx, realm, key)
}
func (p *replicas) EnqueueOutbox(ctx context.Context, entries ...storage.OutboxEntry) error {
	return p.next().EnqueueOutbox(ctx, entries...)
}
func (p *replicas) DueOutbox(ctx context.Context, now time.Time, limit int) ([]storage.OutboxEntry, error) {
	return p.next().DueOutbox(ctx, now, limit)
}
func (p *replicas) UpdateOutbox(ctx context.Context, id string, fn func(storage.OutboxEntry) (storage.OutboxEntry, error)) (storage.OutboxEntry, error) {
	return p.next().UpdateOutbox(ctx, id, fn)
}
func (p *replicas) DeleteOutbox(ctx context.Context, id string) error {
	return p.next().DeleteOutbox(ctx, id)
}
func (p *replicas) CountOutbox(ctx context.Context) (int, error) { return p.next().CountOutbox(ctx) }
func (p *replicas) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]storage.OutboxEntry, error) {
	return p.next().ClaimOutbox(ctx, now, lease, limit)
}
func (p *replicas) CountEvent(ctx context.Context, key string, per time.Duration, now time.Time) (int, time.Time, error) {
	return p.next().CountEvent(ctx, key, per, now)
}
func (p *replicas) ReserveSlot(ctx context.Context, key string, until, now time.Time) (bool, time.Time, error) {
	return p.next().ReserveSlot(ctx, key, until, now)
}
func (p *replicas) ReleaseSlot(ctx context.Context, key string, until time.Time) error {
	return p.next().ReleaseSlot(ctx, key, until)
}
func (p *replicas) InTx(ctx context.Context, fn func(tx storage.Tx) error) error {
	return p.next().InTx(ctx, fn)
}
func (p *replicas) Sweep(ctx context.Context, now time.Time) (int, error) {
	return p.next().Sweep(ctx, now)
}
func (p *replicas) Ping(ctx context.Context) error { return p.next().Ping(ctx) }

// openReplicas opens two stores on dsn.
func openReplicas(t testing.TB, dsn string) *replicas {
	return &replicas{r: [2]storage.Store{openStore(t, dsn), openStore(t, dsn)}, dsn: dsn}
}

// TestConformanceTwoReplicas runs the whole conformance suite against two
// stores on one database, each call going to the other store than the one
// before: every exactly-one-winner, counting and claiming test is then a
// test across replicas.
func TestConformanceTwoReplicas(t *testing.T) {
	pgtest.Shared(t)
	storagetest.RunTests(t,
		func(t *testing.T) storage.Store { return openReplicas(t, pgtest.Shared(t).NewDatabase(t)) },
		func(t *testing.T, s storage.Store) storage.Store {
			p := s.(*replicas)
			if err := p.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openReplicas(t, p.dsn)
		})
}

// The two contested races of SPEC §8, spelled out: N concurrent consumers
// of one code and N concurrent rotations of one refresh token, spread over
// two replicas, have exactly one winner.
func TestReplicasRaces(t *testing.T) {
	p := openReplicas(t, pgtest.Shared(t).NewDatabase(t))
	defer p.Close()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	const n = 40

	// Written by one replica, read by the other.
	tok := storage.OneTimeToken{Realm: "a", Kind: "code", Hash: "h", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := p.r[0].IssueOneTimeToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if got, err := p.r[1].PeekOneTimeToken(ctx, "a", "code", "h"); err != nil || got.Hash != "h" {
		t.Fatalf("token issued at replica 0, peeked at replica 1: %+v, %v", got, err)
	}
	rt := storage.RefreshToken{Realm: "a", ID: "r0", Hash: "hash-r0", UserID: "u", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := p.r[1].CreateRefreshToken(ctx, rt); err != nil {
		t.Fatal(err)
	}

	races := map[string]func(i int) error{
		"ConsumeOneTimeToken": func(i int) error {
			_, err := p.r[i%2].ConsumeOneTimeToken(ctx, "a", "code", "h", now.Add(time.Second))
			return err
		},
		"RotateRefreshToken": func(i int) error {
			next := storage.RefreshToken{Realm: "a", ID: fmt.Sprintf("r%d", i+1), Hash: fmt.Sprintf("hash-r%d", i+1),
				UserID: "u", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			return p.r[i%2].RotateRefreshToken(ctx, "a", "hash-r0", next, now.Add(time.Second))
		},
	}
	for name, call := range races {
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = call(i)
			})
		}
		close(start)
		wg.Wait()
		wins, consumed := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, storage.ErrConsumed):
				consumed++
			default:
				t.Errorf("%s: unexpected error %v", name, err)
			}
		}
		if wins != 1 || consumed != n-1 {
			t.Errorf("%s: %d concurrent calls over two replicas: %d won, %d got ErrConsumed; want 1 and %d", name, n, wins, consumed, n-1)
		}
	}
}

// A logout (DeleteSession) racing a refresh (RotateRefreshToken) of one of
// the session's tokens on another replica leaves no token of the session
// behind: either the rotation finds its token gone, or the deletion takes
// the rotated-in token too.
func TestReplicasDeleteSessionRacesRotation(t *testing.T) {
	p := openReplicas(t, pgtest.Shared(t).NewDatabase(t))
	defer p.Close()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range 100 {
		sid := fmt.Sprintf("s%d", i)
		sess := storage.Session{Realm: "a", ID: sid, TokenHash: "cookie-" + sid, UserID: "u",
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		old := storage.RefreshToken{Realm: "a", ID: sid + "-r0", Hash: sid + "-h0", UserID: "u", SessionID: sid,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := p.r[0].CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if err := p.r[0].CreateRefreshToken(ctx, old); err != nil {
			t.Fatal(err)
		}
		next := old
		next.ID, next.Hash = sid+"-r1", sid+"-h1"
		var rotateErr, deleteErr error
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() { <-start; rotateErr = p.r[0].RotateRefreshToken(ctx, "a", old.Hash, next, now) })
		wg.Go(func() { <-start; deleteErr = p.r[1].DeleteSession(ctx, "a", sid) })
		close(start)
		wg.Wait()
		if deleteErr != nil || (rotateErr != nil && !errors.Is(rotateErr, storage.ErrNotFound)) {
			t.Fatalf("round %d: DeleteSession %v, RotateRefreshToken %v", i, deleteErr, rotateErr)
		}
		for _, h := range []string{old.Hash, next.Hash} {
			if _, err := p.r[1].GetRefreshTokenByHash(ctx, "a", h); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("round %d (rotation: %v): token %s of the deleted session survives (%v)", i, rotateErr, h, err)
			}
		}
	}
}
