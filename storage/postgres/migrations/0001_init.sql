-- Latchkey schema version 1: every aggregate of package storage.
--
-- Identifiers use the "C" collation so that ORDER BY is byte order (ListUsers
-- pages by ID, the outbox is served in ID order, as with bbolt) whatever the
-- database's default collation, and so that their btree indexes need no
-- locale-aware comparisons. A zero Go time is stored as NULL.

CREATE TABLE users (
    realm           text COLLATE "C" NOT NULL,
    id              text COLLATE "C" NOT NULL,
    username        text NOT NULL,
    -- strings.ToLower of username and email, computed by the application (as
    -- bboltstore does) rather than by SQL lower(), whose case mapping depends
    -- on the database's locale and could disagree with the Go side.
    username_fold   text COLLATE "C" NOT NULL,
    email           text NOT NULL,
    email_fold      text COLLATE "C" NOT NULL,
    email_verified  boolean NOT NULL,
    enabled         boolean NOT NULL,
    password_hash   text NOT NULL,
    roles           text[],
    api_key_version bigint NOT NULL,
    created_at      timestamptz,
    updated_at      timestamptz,
    CONSTRAINT users_pkey PRIMARY KEY (realm, id)
);
-- Empty emails and usernames are not indexed: many users may lack one.
CREATE UNIQUE INDEX users_email_key ON users (realm, email_fold) WHERE email_fold <> '';
CREATE UNIQUE INDEX users_username_key ON users (realm, username_fold) WHERE username_fold <> '';

CREATE TABLE signing_keys (
    realm        text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    algorithm    text NOT NULL,
    private_der  bytea,
    state        text NOT NULL,
    created_at   timestamptz,
    verify_until timestamptz,
    CONSTRAINT signing_keys_pkey PRIMARY KEY (realm, id)
);

CREATE TABLE realm_secrets (
    realm  text COLLATE "C" NOT NULL,
    name   text COLLATE "C" NOT NULL,
    secret bytea NOT NULL CHECK (length(secret) > 0),
    CONSTRAINT realm_secrets_pkey PRIMARY KEY (realm, name)
);

CREATE TABLE sessions (
    realm      text COLLATE "C" NOT NULL,
    id         text COLLATE "C" NOT NULL,
    token_hash text COLLATE "C" NOT NULL,
    user_id    text COLLATE "C" NOT NULL,
    auth_time  timestamptz,
    amr        text[],
    last_seen  timestamptz,
    idle_until timestamptz,
    expires_at timestamptz,
    created_at timestamptz,
    CONSTRAINT sessions_pkey PRIMARY KEY (realm, id)
);
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (realm, token_hash) WHERE token_hash <> '';
CREATE INDEX sessions_user_idx ON sessions (realm, user_id) WHERE user_id <> '';
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX sessions_idle_idx ON sessions (idle_until);

CREATE TABLE auth_requests (
    realm                 text COLLATE "C" NOT NULL,
    id                    text COLLATE "C" NOT NULL,
    client_id             text NOT NULL,
    redirect_uri          text NOT NULL,
    scopes                text[],
    response_type         text NOT NULL,
    response_mode         text NOT NULL,
    state                 text NOT NULL,
    nonce                 text NOT NULL,
    code_challenge        text NOT NULL,
    code_challenge_method text NOT NULL,
    prompt                text[],
    max_age               bigint,
    login_hint            text NOT NULL,
    user_id               text NOT NULL,
    session_id            text NOT NULL,
    auth_time             timestamptz,
    amr                   text[],
    done                  boolean NOT NULL,
    created_at            timestamptz,
    expires_at            timestamptz,
    CONSTRAINT auth_requests_pkey PRIMARY KEY (realm, id)
);
CREATE INDEX auth_requests_expires_idx ON auth_requests (expires_at);

CREATE TABLE one_time_tokens (
    realm       text COLLATE "C" NOT NULL,
    kind        text COLLATE "C" NOT NULL,
    hash        text COLLATE "C" NOT NULL,
    group_name  text COLLATE "C" NOT NULL,
    subject     text COLLATE "C" NOT NULL,
    payload     bytea,
    created_at  timestamptz,
    expires_at  timestamptz,
    consumed_at timestamptz,
    superseded  boolean NOT NULL,
    CONSTRAINT one_time_tokens_pkey PRIMARY KEY (realm, kind, hash)
);
-- The live tokens of a group (at most one, see IssueOneTimeToken) and of a subject.
CREATE INDEX one_time_tokens_group_idx ON one_time_tokens (realm, kind, group_name)
    WHERE group_name <> '' AND consumed_at IS NULL AND NOT superseded;
CREATE INDEX one_time_tokens_subject_idx ON one_time_tokens (realm, subject)
    WHERE subject <> '' AND consumed_at IS NULL AND NOT superseded;
CREATE INDEX one_time_tokens_expires_idx ON one_time_tokens (expires_at);

CREATE TABLE refresh_tokens (
    realm      text COLLATE "C" NOT NULL,
    hash       text COLLATE "C" NOT NULL,
    id         text COLLATE "C" NOT NULL,
    client_id  text COLLATE "C" NOT NULL,
    user_id    text COLLATE "C" NOT NULL,
    session_id text COLLATE "C" NOT NULL,
    grant_id   text NOT NULL,
    scopes     text[],
    audience   text[],
    auth_time  timestamptz,
    amr        text[],
    created_at timestamptz,
    expires_at timestamptz,
    rotated_at timestamptz,
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (realm, hash),
    CONSTRAINT refresh_tokens_id_key UNIQUE (realm, id)
);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (realm, user_id) WHERE user_id <> '';
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (realm, session_id) WHERE session_id <> '';
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

CREATE TABLE revocations (
    realm      text COLLATE "C" NOT NULL,
    jti        text COLLATE "C" NOT NULL,
    expires_at timestamptz,
    CONSTRAINT revocations_pkey PRIMARY KEY (realm, jti)
);
CREATE INDEX revocations_expires_idx ON revocations (expires_at);

CREATE TABLE login_failures (
    realm          text COLLATE "C" NOT NULL,
    key            text COLLATE "C" NOT NULL,
    num_failures   bigint NOT NULL DEFAULT 0,
    last_failure   timestamptz,
    locked_until   timestamptz,
    last_ip_failed text NOT NULL DEFAULT '',
    CONSTRAINT login_failures_pkey PRIMARY KEY (realm, key)
);

CREATE TABLE outbox (
    -- Not realm-scoped: one queue, served in ID (= time) order.
    id              text COLLATE "C" NOT NULL,
    realm           text NOT NULL,
    kind            text NOT NULL,
    payload         bytea,
    attempts        bigint NOT NULL,
    next_attempt_at timestamptz,
    created_at      timestamptz,
    last_error      text NOT NULL,
    CONSTRAINT outbox_pkey PRIMARY KEY (id)
);
CREATE INDEX outbox_next_attempt_idx ON outbox (next_attempt_at);
