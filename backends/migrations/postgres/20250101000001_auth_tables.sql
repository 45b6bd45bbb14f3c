-- authstore PostgreSQL schema, version 1. Applied by `PostgresStorage::migrate()` (sqlx's
-- migrator, which holds a PostgreSQL advisory lock while it runs, so several processes may
-- call it at once). Every statement is idempotent, so a schema created by hand with this
-- file is adopted as is.
--
-- Ids and keys use COLLATE "C": compared and ordered byte by byte (UTF-8), case- and
-- accent-sensitive, never trimmed (SPEC.md VAL-1, VAL-2, LST-1, LST-4, LST-6). Records are
-- `json` (kept as text), not `jsonb`, which rejects the \u0000 escape that GEN-5 needs.

DO $$
BEGIN
    IF current_setting('server_encoding') <> 'UTF8' THEN
        RAISE EXCEPTION 'authstore needs a UTF8-encoded database, this one is %: ids and keys are compared as UTF-8 bytes',
            current_setting('server_encoding');
    END IF;
END
$$;

-- One row per token. `access_digest` is SHA-256 of the access token, never the token
-- (ACC-5); its unique index enforces ACC-2 and serves get_token_by_access_token.
CREATE TABLE IF NOT EXISTS auth_tokens (
    token_id      VARCHAR(255) COLLATE "C" NOT NULL PRIMARY KEY,
    user_id       VARCHAR(255) COLLATE "C" NOT NULL,
    access_digest BYTEA NOT NULL CHECK (octet_length(access_digest) = 32),
    expires_at    TIMESTAMPTZ NOT NULL,
    token_data    JSON NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS auth_tokens_access_digest_key ON auth_tokens (access_digest);
CREATE INDEX IF NOT EXISTS auth_tokens_user_idx ON auth_tokens (user_id, expires_at);
CREATE INDEX IF NOT EXISTS auth_tokens_expiry_idx ON auth_tokens (expires_at);

CREATE TABLE IF NOT EXISTS sessions (
    session_id   VARCHAR(255) COLLATE "C" NOT NULL PRIMARY KEY,
    user_id      VARCHAR(255) COLLATE "C" NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    session_data JSON NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user_idx ON sessions (user_id, expires_at);
-- Serves count_active_sessions (an index-only range scan over live sessions) and cleanup.
CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expires_at);

-- `expires_at` NULL: no expiry. The primary key's btree (collation "C") serves prefix
-- listing as a range scan in byte order.
CREATE TABLE IF NOT EXISTS kv_store (
    key        VARCHAR(512) COLLATE "C" NOT NULL PRIMARY KEY,
    value      BYTEA NOT NULL,
    expires_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS kv_store_expiry_idx ON kv_store (expires_at) WHERE expires_at IS NOT NULL;
