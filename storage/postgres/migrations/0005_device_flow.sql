-- Latchkey schema version 5: the device authorization grant (RFC 8628).
--
-- A device grant is an auth request with device = true: denied records the
-- user's refusal, poll_interval_ns the grant's current minimum polling
-- interval (nanoseconds, storage.AuthRequest.PollInterval; it grows with each
-- slow_down) and last_polled_at the device's last poll (NULL: never).
-- Existing requests are ordinary browser requests: false, 0, NULL.
--
-- IF NOT EXISTS: a database whose version rows were removed by hand (see
-- TestMigrateResumes) is brought up to date again rather than refused.

ALTER TABLE auth_requests
    ADD COLUMN IF NOT EXISTS device           boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS denied           boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS poll_interval_ns bigint  NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS last_polled_at   timestamptz;
