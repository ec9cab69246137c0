// Package bboltstore is the storage.Store backend on a single bbolt file.
//
// # On-disk layout
//
// Every aggregate has a top-level bucket whose keys are realm-scoped: the
// realm, a NUL byte (written ␀ below), then the record's identity. Writes refuse identifiers
// that contain NUL (or are empty), so keys parse uniquely and a prefix scan
// over one realm (or one owner) never reaches into another.
//
//	meta                        "schema" -> layout version (1)
//	users                       realm␀id -> User
//	users_by_email              realm␀lower(email) -> user id
//	users_by_username           realm␀lower(username) -> user id
//	signing_keys                realm␀kid -> SigningKey
//	realm_secrets               realm␀name -> 0x01 + raw secret bytes
//	sessions                    realm␀id -> Session
//	sessions_by_token           realm␀token hash -> session id
//	sessions_by_user            realm␀user id␀session id -> session id
//	auth_requests               realm␀id -> AuthRequest
//	one_time_tokens             realm␀kind␀hash -> OneTimeToken
//	one_time_tokens_by_group    realm␀kind␀group -> hash of the group's latest token
//	one_time_tokens_by_subject  realm␀subject␀kind␀hash -> hash
//	refresh_tokens              realm␀hash -> RefreshToken
//	refresh_tokens_by_id        realm␀id -> hash
//	refresh_tokens_by_user      realm␀user id␀token id -> hash
//	refresh_tokens_by_session   realm␀session id␀token id -> hash
//	revocations                 realm␀jti -> {ExpiresAt}
//	login_failures              realm␀key -> LoginFailures
//	outbox                      entry id -> OutboxEntry (not realm-scoped; ID order is time order)
//
// Index buckets are written in the same transaction as their records. The
// index definitions in tables.go are what the writers maintain and what
// Check verifies.
//
// # Codec
//
// Values are one codec byte followed by the payload. Codec 0x01 is
// encoding/json of the storage entity, keyed by Go field name: renaming a
// field of a storage entity is a format change that needs a new codec byte
// (or a migration), while adding one is not (old records decode it as zero).
// The meta bucket's schema version covers the bucket layout and key format;
// Open refuses a file of another version.
//
// # Transactions
//
// Every read-modify-write and every multi-bucket write is one bbolt
// transaction; bbolt serialises writers, which is what makes
// ConsumeOneTimeToken and RotateRefreshToken have exactly one winner. Hot
// write paths go through db.Batch when other writes are in flight, so that
// concurrent requests share a commit and its fsync (a lone write commits at
// once rather than wait for company); their functions may run more than
// once, which is why the updaters of UpdateAuthRequest, UpdateLoginFailures,
// UpdateOutbox and InTx must be free of side effects. Consumed, superseded and rotated tokens stay
// as tombstones until they expire, so that reuse is reported as ErrConsumed,
// and Sweep removes them in bounded chunks.
package bboltstore
