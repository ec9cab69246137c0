-- Latchkey schema version 3: the user profile fields of Keycloak's Admin REST
-- API (UserRepresentation firstName, lastName and attributes).
--
-- Existing users get empty names and no attributes. attributes holds the
-- JSON object of storage.User.Attributes (name to array of values); NULL
-- when the user has none, which reads back as a nil map, as with bbolt.
--
-- IF NOT EXISTS: a database whose version rows were removed by hand (see
-- TestMigrateResumes) is brought up to date again rather than refused.
--
-- ListUserSessions needs no new index: sessions_user_idx (realm, user_id)
-- of version 1 finds a user's sessions, which are few, sorted after the
-- lookup.

ALTER TABLE users
    ADD COLUMN IF NOT EXISTS first_name text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS last_name  text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS attributes jsonb;
