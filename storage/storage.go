// Package storage defines Latchkey's persistence contract: small interfaces per
// aggregate, the value entities they store, and the sentinel errors every backend
// returns. Every record is scoped to a realm; no lookup ever crosses realms.
//
// Updater functions (the fn of the Update methods and of InTx) run inside the
// backend's transaction. A backend may call them more than once (bbolt
// batches concurrent writes and retries), so they must be free of side
// effects. An updater's error aborts the change and is returned unchanged; an
// updater must not change the record's identity (Realm, ID or Key).
//
// Backends (the bbolt one in storage/bboltstore, any future one) must pass the
// conformance suite in storage/storagetest.
package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap them with context; callers test with errors.Is.
var (
	// ErrNotFound means the record does not exist in the given realm.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a record with the same identity (or unique index
	// value, such as a user's email) already exists in the realm.
	ErrAlreadyExists = errors.New("already exists")
	// ErrExpired means a one-time token, session or refresh token exists but
	// its lifetime is over.
	ErrExpired = errors.New("expired")
	// ErrConsumed means a one-time token or refresh token was already used
	// (or superseded by a newer one) and cannot be used again.
	ErrConsumed = errors.New("already consumed")
	// ErrUnavailable means the backend cannot serve requests (closed, I/O failure).
	ErrUnavailable = errors.New("storage unavailable")
)

// User is an account of one realm.
type User struct {
	Realm         string
	ID            string // stable, opaque; the `sub` of tokens
	Username      string
	Email         string // as entered; lookups are case-insensitive
	FirstName     string // given name as entered (Keycloak's firstName); not indexed
	LastName      string // family name as entered (Keycloak's lastName); not indexed
	EmailVerified bool
	Enabled       bool
	PasswordHash  string   // argon2id PHC string; empty: no password set
	Roles         []string // realm roles
	// Attributes are the user's custom attributes (Keycloak's
	// UserRepresentation attributes): each name with its values, in order;
	// not indexed. A user stored without attributes (a nil or an empty map)
	// reads back with a nil map; any other map reads back as stored.
	Attributes map[string][]string
	// APIKeyVersion is bumped to rotate the user's derived API key; the key
	// itself is never stored (see internal/credentials).
	APIKeyVersion int
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Users stores realm users with a case-insensitive unique index on email and a
// unique index on username.
type Users interface {
	// CreateUser stores a new user. It returns ErrAlreadyExists when the ID,
	// the email (case-insensitively) or the username is taken in the realm.
	// Empty emails and usernames are not indexed: many users may lack one.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns the user by ID or ErrNotFound.
	GetUser(ctx context.Context, realm, id string) (User, error)
	// GetUserByEmail looks the email up case-insensitively; ErrNotFound if
	// absent (always for an empty email).
	GetUserByEmail(ctx context.Context, realm, email string) (User, error)
	// GetUserByUsername looks the username up case-insensitively; ErrNotFound if absent.
	GetUserByUsername(ctx context.Context, realm, username string) (User, error)
	// UpdateUser applies fn to the current user inside one transaction and
	// stores the result, keeping the indexes in step. fn's error aborts the
	// update and is returned unchanged. ErrNotFound if the user is absent;
	// ErrAlreadyExists if the new email or username belongs to another user.
	UpdateUser(ctx context.Context, realm, id string, fn func(User) (User, error)) (User, error)
	// DeleteUser removes the user with its index entries and everything that
	// would let it act: its sessions (with their refresh tokens), its other
	// refresh tokens, its one-time tokens (codes, magic links, pending resets:
	// the records whose Subject is the user) and its login-failure record, in
	// one transaction. ErrNotFound if the user is absent.
	DeleteUser(ctx context.Context, realm, id string) error
	// ListUsers returns the realm's users ordered by ID, at most limit (<= 0:
	// all) starting after the ID `after` (which need not exist).
	ListUsers(ctx context.Context, realm, after string, limit int) ([]User, error)
	// CountUsers returns how many users the realm has.
	CountUsers(ctx context.Context, realm string) (int, error)
}

// KeyState is the lifecycle state of a signing key.
type KeyState string

// Signing key states: a realm has exactly one active key; retired keys still
// verify until their VerifyUntil passes.
const (
	KeyActive  KeyState = "active"
	KeyRetired KeyState = "retired"
)

// SigningKey is a realm's JWS key, stored with its private half (PKCS#8 DER).
type SigningKey struct {
	Realm       string
	ID          string // kid
	Algorithm   string // RS256 | ES256 | EdDSA
	PrivateDER  []byte // PKCS#8
	State       KeyState
	CreatedAt   time.Time
	VerifyUntil time.Time // zero while active; retired keys are dropped after it
}

// Keys stores signing keys and the realm's symmetric secrets.
type Keys interface {
	// ListSigningKeys returns all keys of the realm, active first, then by
	// creation time descending.
	ListSigningKeys(ctx context.Context, realm string) ([]SigningKey, error)
	// RotateSigningKey stores next as the realm's active key (its State and
	// VerifyUntil are overwritten) and retires the previously active one
	// (VerifyUntil = retireAt) in one transaction, and deletes retired keys
	// whose VerifyUntil is before next.CreatedAt. ErrAlreadyExists if next.ID
	// is taken.
	RotateSigningKey(ctx context.Context, next SigningKey, retireAt time.Time) error
	// RealmSecret returns the named secret of the realm, creating it with
	// generate() atomically if absent, so concurrent starters agree on one
	// value. generate is only called when the secret is missing and must
	// return a non-empty secret; its error is returned wrapped.
	RealmSecret(ctx context.Context, realm, name string, generate func() ([]byte, error)) ([]byte, error)
}

// Session is a browser SSO session of one user in one realm.
type Session struct {
	Realm     string
	ID        string // public id (the `sid` claim)
	TokenHash string // hash of the cookie secret; the secret itself is never stored
	UserID    string
	AuthTime  time.Time
	AMR       []string
	LastSeen  time.Time
	IdleUntil time.Time // LastSeen + ssoSessionIdle
	ExpiresAt time.Time // AuthTime + ssoSessionMax
	CreatedAt time.Time
	// Clients are the clients that received tokens in this session, in the
	// order they joined; they are told when it ends (back-channel logout).
	Clients []string
	// AltIssuerClients are those of Clients that got their tokens under the
	// realm's alternative issuer (Keycloak 17+'s /realms/ form), so that
	// their logout tokens carry the issuer they know.
	AltIssuerClients []string
}

// Sessions stores SSO sessions, findable by ID and by cookie-secret hash.
type Sessions interface {
	// CreateSession stores s; ErrAlreadyExists on a duplicate ID or token hash.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session by ID or ErrNotFound. Expired sessions
	// are returned too (until swept): callers check ExpiresAt and IdleUntil.
	GetSession(ctx context.Context, realm, id string) (Session, error)
	// GetSessionByTokenHash returns the session of a cookie or ErrNotFound;
	// like GetSession it does not check expiry.
	GetSessionByTokenHash(ctx context.Context, realm, tokenHash string) (Session, error)
	// UpdateSession applies fn in one transaction; ErrNotFound if absent,
	// ErrAlreadyExists if fn sets a token hash of another session.
	UpdateSession(ctx context.Context, realm, id string, fn func(Session) (Session, error)) (Session, error)
	// DeleteSession removes the session and every refresh token bound to it.
	// Deleting an absent session is not an error.
	DeleteSession(ctx context.Context, realm, id string) error
	// DeleteUserSessions removes all sessions (and their refresh tokens) of a user.
	DeleteUserSessions(ctx context.Context, realm, userID string) error
	// ListUserSessions returns the sessions of the user in the realm,
	// ordered by CreatedAt, then by ID; an empty slice (not an error) when
	// there are none, and for an empty userID. Like GetSession it does not
	// check expiry: expired sessions are listed until swept.
	ListUserSessions(ctx context.Context, realm, userID string) ([]Session, error)
}

// AuthRequest is a pending or completed OIDC authorization request.
type AuthRequest struct {
	Realm               string
	ID                  string
	ClientID            string
	RedirectURI         string
	Scopes              []string
	ResponseType        string
	ResponseMode        string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	MaxAge              *uint
	LoginHint           string
	UserID              string // set when the user authenticated
	SessionID           string
	AuthTime            time.Time
	AMR                 []string
	Done                bool
	CreatedAt           time.Time
	ExpiresAt           time.Time
	// Device marks a device authorization grant (RFC 8628): it has no
	// redirect URI, the user approves it on the verification page and the
	// device polls the token endpoint. It never yields an authorization code.
	Device bool
	// Denied is set when the user refused a device authorization.
	Denied bool
	// PollInterval is the device grant's current minimum time between polls;
	// it grows by 5 s with each slow_down answer (RFC 8628 §3.5).
	PollInterval time.Duration
	// LastPolledAt is when the device last polled the token endpoint (zero: never).
	LastPolledAt time.Time
}

// AuthRequests stores authorization requests.
type AuthRequests interface {
	// CreateAuthRequest stores a new request; ErrAlreadyExists on a duplicate ID.
	CreateAuthRequest(ctx context.Context, a AuthRequest) error
	// GetAuthRequest returns the request; ErrNotFound if absent, ErrExpired
	// once the current time is not before ExpiresAt (the record stays until
	// Sweep removes it).
	GetAuthRequest(ctx context.Context, realm, id string) (AuthRequest, error)
	// UpdateAuthRequest applies fn in one transaction; ErrNotFound and
	// ErrExpired as for GetAuthRequest (fn is not called then).
	UpdateAuthRequest(ctx context.Context, realm, id string, fn func(AuthRequest) (AuthRequest, error)) (AuthRequest, error)
	// DeleteAuthRequest removes the request; absent is not an error.
	DeleteAuthRequest(ctx context.Context, realm, id string) error
}

// OneTimeToken is a single-use secret's record (authorization codes, magic
// links): only the hash of the secret is stored. Payload is owned by the kind's
// package.
type OneTimeToken struct {
	Realm string
	Kind  string // e.g. "code", "magiclink"
	Hash  string // hex SHA-256 of the secret
	// Group, when set, makes the token supersede every earlier live token of
	// the same realm, kind and group ("the latest link wins").
	Group      string
	Subject    string // user id, for revocation when the user is disabled
	Payload    []byte
	CreatedAt  time.Time
	ExpiresAt  time.Time
	ConsumedAt time.Time // zero while usable
	// Superseded is set when a newer token of the same group replaced this one.
	Superseded bool
}

// OneTimeTokens is the atomic consume-once primitive.
type OneTimeTokens interface {
	// IssueOneTimeToken stores t and, if t.Group is set, marks every live
	// token of that group superseded, in one transaction. ErrAlreadyExists on
	// a duplicate hash (within the realm and kind).
	IssueOneTimeToken(ctx context.Context, t OneTimeToken) error
	// PeekOneTimeToken returns the record without consuming it, whatever its
	// state (callers inspect ConsumedAt, Superseded, ExpiresAt); ErrNotFound if unknown.
	PeekOneTimeToken(ctx context.Context, realm, kind, hash string) (OneTimeToken, error)
	// ConsumeOneTimeToken marks the token consumed at now and returns it. Of
	// any number of concurrent calls for one token exactly one succeeds.
	// Errors, checked in this order: ErrNotFound (unknown), ErrConsumed (used
	// or superseded; such records are kept until they expire so that reuse is
	// told apart from a wrong link), ErrExpired (now is not before ExpiresAt).
	ConsumeOneTimeToken(ctx context.Context, realm, kind, hash string, now time.Time) (OneTimeToken, error)
	// DeleteOneTimeToken removes the record (e.g. after a failed mail send);
	// absent is not an error.
	DeleteOneTimeToken(ctx context.Context, realm, kind, hash string) error
	// RevokeSubjectTokens marks every live token of a subject consumed at now
	// (user disabled); already consumed or superseded tokens are left as they are.
	RevokeSubjectTokens(ctx context.Context, realm, subject string, now time.Time) error
}

// RefreshToken is a rotating refresh token; only its hash is stored.
type RefreshToken struct {
	Realm     string
	ID        string // public id
	Hash      string // hex SHA-256 of the token value
	ClientID  string
	UserID    string
	SessionID string // empty for tokens without a browser session
	// GrantID names the grant (one code exchange and every rotation after
	// it); revoking the grant ends the access tokens that carry it too.
	GrantID string
	// Scopes are the grant's scopes: a refresh that asks for fewer narrows
	// only the access token issued then, never the rotated refresh token.
	Scopes    []string
	Audience  []string
	AuthTime  time.Time
	AMR       []string
	CreatedAt time.Time
	ExpiresAt time.Time
	// RotatedAt is set once the token was exchanged; the record is kept until
	// it expires so that a replay can be detected.
	RotatedAt time.Time
	// Offline marks an offline token (scope offline_access): it is bound to
	// no browser session (SessionID is empty) and outlives logout.
	Offline bool
}

// RefreshTokens stores refresh tokens and performs rotation atomically.
type RefreshTokens interface {
	// CreateRefreshToken stores a new token; ErrAlreadyExists on duplicate hash or ID.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// GetRefreshTokenByHash returns the token whatever its state; ErrNotFound if unknown.
	GetRefreshTokenByHash(ctx context.Context, realm, hash string) (RefreshToken, error)
	// RotateRefreshToken marks the token with oldHash rotated at now and stores
	// next, in one transaction. Exactly one of concurrent rotations succeeds;
	// the others get ErrConsumed. ErrExpired and ErrNotFound as their names say
	// (checked: ErrNotFound, ErrConsumed, ErrExpired). next must be in realm;
	// ErrAlreadyExists if its hash or ID is taken.
	RotateRefreshToken(ctx context.Context, realm, oldHash string, next RefreshToken, now time.Time) error
	// DeleteRefreshToken removes a token by its public ID; absent is not an error.
	DeleteRefreshToken(ctx context.Context, realm, id string) error
	// DeleteRefreshTokensOf removes every token of the user issued to clientID
	// (all clients when clientID is empty).
	DeleteRefreshTokensOf(ctx context.Context, realm, userID, clientID string) error
	// ListUserRefreshTokens returns the user's refresh tokens that are not
	// rotated, ordered by CreatedAt, then by ID; an empty slice (not an error)
	// when there are none. Like GetRefreshTokenByHash it does not check
	// expiry: expired tokens are listed until swept.
	ListUserRefreshTokens(ctx context.Context, realm, userID string) ([]RefreshToken, error)
}

// Revocations records revoked JWT access token IDs until the tokens expire.
type Revocations interface {
	// RevokeTokenID records jti as revoked until expiresAt.
	RevokeTokenID(ctx context.Context, realm, jti string, expiresAt time.Time) error
	// IsTokenIDRevoked reports whether jti was revoked (and not yet swept).
	IsTokenIDRevoked(ctx context.Context, realm, jti string) (bool, error)
}

// LoginFailures is the brute-force detector's state for one account.
type LoginFailures struct {
	Realm        string
	Key          string // user id (or normalised email)
	NumFailures  int
	LastFailure  time.Time
	LockedUntil  time.Time
	LastIPFailed string
}

// LoginFailureStore keeps brute-force counters, updated atomically.
type LoginFailureStore interface {
	// UpdateLoginFailures applies fn to the current record (zero value with
	// Realm and Key set when absent) in one transaction; when fn returns a
	// record with NumFailures == 0 and a zero LockedUntil, the record is
	// deleted. fn may be called more than once (see the package comment).
	UpdateLoginFailures(ctx context.Context, realm, key string, fn func(LoginFailures) (LoginFailures, error)) (LoginFailures, error)
	// GetLoginFailures returns the record or ErrNotFound.
	GetLoginFailures(ctx context.Context, realm, key string) (LoginFailures, error)
}

// OutboxEntry is durable work to do after a commit (mail, webhook delivery).
type OutboxEntry struct {
	ID            string // unique, time-ordered; also the delivery id receivers dedupe by
	Realm         string
	Kind          string // e.g. "email", "webhook"
	Payload       []byte
	Attempts      int
	NextAttemptAt time.Time
	CreatedAt     time.Time
	LastError     string
}

// Outbox is a durable queue of work items.
type Outbox interface {
	// EnqueueOutbox stores entries in one transaction. Entries with an empty
	// ID get a unique time-ordered one; caller-set IDs must sort byte-wise in
	// time order. ErrAlreadyExists (and nothing stored) if an ID is already
	// queued or repeated.
	EnqueueOutbox(ctx context.Context, entries ...OutboxEntry) error
	// DueOutbox returns up to limit (<= 0: all) entries whose NextAttemptAt is
	// not after now, oldest (lowest ID) first.
	DueOutbox(ctx context.Context, now time.Time, limit int) ([]OutboxEntry, error)
	// UpdateOutbox applies fn to the entry in one transaction (record an
	// attempt, reschedule); ErrNotFound if absent. fn may be called more than
	// once (see the package comment).
	UpdateOutbox(ctx context.Context, id string, fn func(OutboxEntry) (OutboxEntry, error)) (OutboxEntry, error)
	// DeleteOutbox removes a delivered or abandoned entry; absent is not an error.
	DeleteOutbox(ctx context.Context, id string) error
	// CountOutbox returns the number of queued entries.
	CountOutbox(ctx context.Context) (int, error)
	// ClaimOutbox leases up to limit (<= 0: all) due entries (NextAttemptAt
	// not after now), oldest first, by moving their NextAttemptAt to
	// now+lease in the same transaction, and returns them as stored. Of
	// concurrent claimers (other replicas) each entry goes to exactly one; a
	// claimer that dies leaves its entries due again once the lease is over.
	ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]OutboxEntry, error)
}

// Limits are the counters behind rate limits, kept in the store so that
// every replica counts against one budget. Keys are the caller's (they
// carry the realm); records are swept once their window or slot is over.
type Limits interface {
	// CountEvent adds one event to key's fixed window of length per that
	// contains now (windows start at multiples of per since the Unix epoch)
	// and returns how many events that window holds, this one included, and
	// when it ends.
	CountEvent(ctx context.Context, key string, per time.Duration, now time.Time) (count int, windowEnd time.Time, err error)
	// ReserveSlot takes key's slot until the time until unless another
	// reservation still holds it at now; then ok is false and heldUntil is
	// when it frees.
	ReserveSlot(ctx context.Context, key string, until, now time.Time) (ok bool, heldUntil time.Time, err error)
	// ReleaseSlot gives key's slot back if it is still the reservation that
	// ends at until (a later reservation is left alone); absent is not an error.
	ReleaseSlot(ctx context.Context, key string, until time.Time) error
}

// Tx is the subset of writes that can be combined into one atomic unit of work
// across aggregates (e.g. create users and enqueue their outbox entries). Its
// methods behave as the Store methods of the same name and see the
// transaction's own writes. A method that refuses (ErrAlreadyExists) has
// written nothing, so fn may carry on; returning the error rolls back all.
type Tx interface {
	GetUserByEmail(realm, email string) (User, error)
	CreateUser(u User) error
	IssueOneTimeToken(t OneTimeToken) error
	EnqueueOutbox(entries ...OutboxEntry) error
}

// Transactor runs a function as one transaction: either all its writes land or none.
type Transactor interface {
	// InTx runs fn in a single read-write transaction. fn may be called more
	// than once if the backend batches transactions, so it must not have side
	// effects outside tx. fn's error rolls back and is returned unchanged.
	InTx(ctx context.Context, fn func(tx Tx) error) error
}

// Store is everything a backend provides.
type Store interface {
	Users
	Keys
	Sessions
	AuthRequests
	OneTimeTokens
	RefreshTokens
	Revocations
	LoginFailureStore
	Outbox
	Limits
	Transactor
	// Sweep deletes expired auth requests, sessions, one-time tokens, refresh
	// tokens, revocations, stale login failures and finished rate-limit
	// windows and slots; it returns how many records it removed.
	// A record expires once now is not before its ExpiresAt (a zero ExpiresAt
	// counts as expired); a session also once past a non-zero IdleUntil, and
	// it takes its bound refresh tokens with it (they count as removed). Login
	// failures are stale when LockedUntil is before now and LastFailure is
	// more than 12 hours before now.
	Sweep(ctx context.Context, now time.Time) (int, error)
	// Ping reports whether the backend can serve requests (ErrUnavailable if not).
	Ping(ctx context.Context) error
	// Close releases the backend; later calls fail with ErrUnavailable.
	Close() error
}
