-- Offline tokens (scope offline_access) are refresh tokens bound to no
-- browser session; sessions remember which clients received tokens in them,
-- so that back-channel logout can tell those clients when the session ends.
ALTER TABLE refresh_tokens ADD COLUMN IF NOT EXISTS offline boolean NOT NULL DEFAULT false;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS clients text[];
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS alt_issuer_clients text[];
