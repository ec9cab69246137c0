package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/storage"
)

const userColumns = `realm, id, username, email, first_name, last_name, email_verified, enabled,
	password_hash, roles, attributes, api_key_version, created_at, updated_at`

// scanUser reads one row of userColumns; ErrNotFound for no row.
func scanUser(row pgx.Row) (storage.User, error) {
	var (
		u                storage.User
		attributes       []byte
		apiKeyVersion    int64
		created, updated *time.Time
	)
	err := row.Scan(&u.Realm, &u.ID, &u.Username, &u.Email, &u.FirstName, &u.LastName, &u.EmailVerified,
		&u.Enabled, &u.PasswordHash, &u.Roles, &attributes, &apiKeyVersion, &created, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.User{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.User{}, err
	}
	if u.Attributes, err = decodeAttributes(attributes); err != nil {
		return storage.User{}, fmt.Errorf("user %q in realm %q: %w", u.ID, u.Realm, err)
	}
	u.APIKeyVersion = int(apiKeyVersion)
	u.CreatedAt, u.UpdatedAt = fromTS(created), fromTS(updated)
	return u, nil
}

// encodeAttributes returns the attributes column's value: NULL (a nil
// interface) for none, else the JSON object as text, which the server parses
// into jsonb (and refuses, as errInvalidValue, when a value holds a NUL).
func encodeAttributes(attrs map[string][]string) (any, error) {
	if len(attrs) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return nil, fmt.Errorf("encode attributes: %w", err)
	}
	return string(b), nil
}

// decodeAttributes reads the attributes column back: nil for NULL, a JSON
// null or an empty object, as bboltstore returns for a user stored without
// attributes.
func decodeAttributes(b []byte) (map[string][]string, error) {
	if b == nil {
		return nil, nil
	}
	var attrs map[string][]string
	if err := json.Unmarshal(b, &attrs); err != nil {
		return nil, fmt.Errorf("decode attributes: %w", err)
	}
	if len(attrs) == 0 {
		return nil, nil
	}
	return attrs, nil
}

// CreateUser stores a new user. Empty emails and usernames are not indexed
// (several users may lack one). ErrAlreadyExists when the ID, email or
// username (case-insensitively) is taken.
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	err := s.run(ctx, func(ctx context.Context, q querier) error { return createUser(ctx, q, u) })
	if err != nil {
		return fmt.Errorf("create user %q in realm %q: %w", u.ID, u.Realm, err)
	}
	return nil
}

// createUser inserts u unless a unique index refuses it. ON CONFLICT DO
// NOTHING rather than a unique violation: a violation would abort the
// enclosing transaction, while Tx.CreateUser must refuse and let fn carry on.
func createUser(ctx context.Context, q querier, u storage.User) error {
	if !validIDs(u.Realm, u.ID) || !storable(u.Email, u.Username) {
		return errInvalidID
	}
	attributes, err := encodeAttributes(u.Attributes)
	if err != nil {
		return err
	}
	tag, err := q.Exec(ctx, `INSERT INTO users (realm, id, username, username_fold, email, email_fold,
			first_name, last_name, email_verified, enabled, password_hash, roles, attributes,
			api_key_version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		ON CONFLICT DO NOTHING`,
		u.Realm, u.ID, u.Username, fold(u.Username), u.Email, fold(u.Email), u.FirstName, u.LastName,
		u.EmailVerified, u.Enabled, u.PasswordHash, u.Roles, attributes,
		int64(u.APIKeyVersion), ts(u.CreatedAt), ts(u.UpdatedAt))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return userConflict(ctx, q, u)
}

// userConflict names the taken value after an insert did nothing.
func userConflict(ctx context.Context, q querier, u storage.User) error {
	var idTaken, emailTaken bool
	err := q.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM users WHERE realm = $1 AND id = $2),
			$3 <> '' AND EXISTS (SELECT 1 FROM users WHERE realm = $1 AND email_fold = $3)`,
		u.Realm, u.ID, fold(u.Email)).Scan(&idTaken, &emailTaken)
	switch {
	case err != nil:
		return err
	case idTaken:
		return fmt.Errorf("id: %w", storage.ErrAlreadyExists)
	case emailTaken:
		return fmt.Errorf("email: %w", storage.ErrAlreadyExists)
	}
	return fmt.Errorf("username: %w", storage.ErrAlreadyExists)
}

// GetUser returns the user or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, realm, id string) (storage.User, error) {
	var u storage.User
	err := s.run(ctx, func(ctx context.Context, q querier) (err error) {
		if !storable(realm, id) {
			return storage.ErrNotFound
		}
		u, err = scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE realm = $1 AND id = $2`, realm, id))
		return err
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("get user %q in realm %q: %w", id, realm, err)
	}
	return u, nil
}

// getUserByIndex looks a user up by a folded email or username column.
func getUserByIndex(ctx context.Context, q querier, column, realm, value string) (storage.User, error) {
	if value == "" || !storable(realm, value) {
		return storage.User{}, storage.ErrNotFound
	}
	return scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE realm = $1 AND `+column+` = $2`,
		realm, fold(value)))
}

// GetUserByEmail looks the email up case-insensitively; ErrNotFound if absent
// or empty.
func (s *Store) GetUserByEmail(ctx context.Context, realm, email string) (storage.User, error) {
	var u storage.User
	err := s.run(ctx, func(ctx context.Context, q querier) (err error) {
		u, err = getUserByIndex(ctx, q, "email_fold", realm, email)
		return err
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("get user by email in realm %q: %w", realm, err)
	}
	return u, nil
}

// GetUserByUsername looks the username up case-insensitively; ErrNotFound if
// absent or empty.
func (s *Store) GetUserByUsername(ctx context.Context, realm, username string) (storage.User, error) {
	var u storage.User
	err := s.run(ctx, func(ctx context.Context, q querier) (err error) {
		u, err = getUserByIndex(ctx, q, "username_fold", realm, username)
		return err
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("get user by username %q in realm %q: %w", username, realm, err)
	}
	return u, nil
}

// UpdateUser applies fn to the user, locked for the transaction, and writes
// the result. fn may run more than once (the transaction is retried after a
// serialization failure); its error is returned unchanged. fn must not
// change Realm or ID. ErrNotFound if absent, ErrAlreadyExists if the new
// email or username belongs to another user.
func (s *Store) UpdateUser(ctx context.Context, realm, id string, fn func(storage.User) (storage.User, error)) (storage.User, error) {
	var out storage.User
	err := s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if !storable(realm, id) {
			return storage.ErrNotFound
		}
		old, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users
			WHERE realm = $1 AND id = $2 FOR UPDATE`, realm, id))
		if err != nil {
			return err
		}
		u, err := fn(old)
		if err != nil {
			return fnError{err}
		}
		if u.Realm != realm || u.ID != id {
			return fmt.Errorf("updater changed realm or id to %q/%q: %w", u.Realm, u.ID, errInvalidID)
		}
		if !storable(u.Email, u.Username) {
			return errInvalidID
		}
		attributes, err := encodeAttributes(u.Attributes)
		if err != nil {
			return err
		}
		if attributes == nil {
			u.Attributes = nil // as a later GetUser returns it
		}
		_, err = tx.Exec(ctx, `UPDATE users SET username = $3, username_fold = $4, email = $5, email_fold = $6,
				first_name = $7, last_name = $8, email_verified = $9, enabled = $10, password_hash = $11,
				roles = $12, attributes = $13, api_key_version = $14, created_at = $15, updated_at = $16
			WHERE realm = $1 AND id = $2`,
			realm, id, u.Username, fold(u.Username), u.Email, fold(u.Email), u.FirstName, u.LastName,
			u.EmailVerified, u.Enabled, u.PasswordHash, u.Roles, attributes,
			int64(u.APIKeyVersion), ts(u.CreatedAt), ts(u.UpdatedAt))
		if c, ok := uniqueViolation(err); ok {
			field := "username"
			if c == "users_email_key" {
				field = "email"
			}
			return fmt.Errorf("%s: %w", field, storage.ErrAlreadyExists)
		}
		out = u
		return err
	})
	var fe fnError
	switch {
	case err == nil:
		return out, nil
	case errors.As(err, &fe):
		return storage.User{}, fe.err
	default:
		return storage.User{}, fmt.Errorf("update user %q in realm %q: %w", id, realm, err)
	}
}

// ListUsers returns the realm's users ordered by ID (byte order), at most
// limit of them (limit <= 0: all), starting after the ID after.
func (s *Store) ListUsers(ctx context.Context, realm, after string, limit int) ([]storage.User, error) {
	var users []storage.User
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		users = nil
		if !storable(realm, after) {
			return nil
		}
		var lim *int64
		if limit > 0 {
			l := int64(limit)
			lim = &l
		}
		rows, err := q.Query(ctx, `SELECT `+userColumns+` FROM users WHERE realm = $1 AND id > $2
			ORDER BY id LIMIT $3`, realm, after, lim)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			users = append(users, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list users in realm %q: %w", realm, err)
	}
	return users, nil
}

// CountUsers returns how many users the realm has.
func (s *Store) CountUsers(ctx context.Context, realm string) (int, error) {
	var n int64
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		if !storable(realm) {
			n = 0
			return nil
		}
		return q.QueryRow(ctx, `SELECT count(*) FROM users WHERE realm = $1`, realm).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count users in realm %q: %w", realm, err)
	}
	return int(n), nil
}

// DeleteUser removes the user, its sessions with their bound refresh tokens,
// its other refresh tokens, the one-time tokens whose Subject it is and its
// login-failure record (the one keyed by its ID), in one transaction;
// ErrNotFound, with nothing deleted, if the user is absent.
//
// The user's row goes first: a concurrent UpdateUser is waited for, and of
// concurrent deletions of one user the second finds none. Sessions come
// before refresh tokens, in separate statements, for DeleteSession's reason
// (and in its lock order): deleting a session waits for a rotation of one
// of its tokens, which holds the session FOR KEY SHARE, and the later token
// statements see the token it rotated in. A token without a session has no
// such lock to wait on: a rotation committing while the delete waits for
// the old token's row lock inserts a successor that the statement's
// snapshot cannot see. So the user's tokens are deleted until a statement
// finds none, each statement seeing what the rotations it waited for wrote.
func (s *Store) DeleteUser(ctx context.Context, realm, id string) error {
	err := s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if !storable(realm, id) {
			return storage.ErrNotFound
		}
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE realm = $1 AND id = $2`, realm, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		// "user_id <> ''" (always true for a stored user's ID) lets the
		// partial by-user indexes serve a generic plan as well.
		rows, err := tx.Query(ctx, `DELETE FROM sessions WHERE realm = $1 AND user_id = $2 AND user_id <> ''
			RETURNING id`, realm, id)
		if err != nil {
			return err
		}
		sessions, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(sessions) > 0 {
			_, err = tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE realm = $1 AND session_id = ANY($2)`, realm, sessions)
			if err != nil {
				return err
			}
		}
		for {
			tag, err := tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE realm = $1 AND user_id = $2 AND user_id <> ''`, realm, id)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				break
			}
		}
		// Consumed and superseded tokens go too, which the partial subject
		// index does not cover: a rare administrative delete may scan the
		// realm's tokens rather than every issue maintain a wider index.
		if _, err := tx.Exec(ctx, `DELETE FROM one_time_tokens WHERE realm = $1 AND subject = $2`, realm, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM login_failures WHERE realm = $1 AND key = $2`, realm, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete user %q in realm %q: %w", id, realm, err)
	}
	return nil
}
