-- Latchkey schema version 2: the shared rate-limit counters of storage.Limits.
--
-- Keys are bytea: callers build them from request input (a login name, an
-- IP) joined with NUL bytes, which text could not hold.

-- One row per key and fixed window; until is the window's end.
CREATE TABLE rate_limit_windows (
    key          bytea NOT NULL,
    window_start timestamptz NOT NULL,
    count        bigint NOT NULL,
    until        timestamptz,
    CONSTRAINT rate_limit_windows_pkey PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limit_windows_until_idx ON rate_limit_windows (until);

-- One row per key: the reservation holding the slot, until it frees.
CREATE TABLE rate_limit_slots (
    key   bytea NOT NULL,
    until timestamptz,
    CONSTRAINT rate_limit_slots_pkey PRIMARY KEY (key)
);
CREATE INDEX rate_limit_slots_until_idx ON rate_limit_slots (until);
