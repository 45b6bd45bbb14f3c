-- The authstore schema for MySQL 8 and MariaDB 10.6+ (used by `MySqlStorage::migrate`).
--
-- Ids, user ids and kv keys are VARBINARY: compared byte by byte, case- and
-- accent-sensitive and without PAD SPACE, so "a" and "a " are different ids (SPEC.md
-- VAL-1, VAL-2). utf8mb4_bin would not do: it is a PAD SPACE collation on MariaDB.
-- Instants are DATETIME(6) in UTC (TIMESTAMP stops in 2038; VAL-5 needs up to 9999),
-- compared with UTC_TIMESTAMP(6), so the session time_zone never matters.
-- Records are the JSON of the whole token or session as bytes (LONGBLOB, not JSON:
-- MySQL's JSON type rewrites documents, and GEN-3 wants them back exactly).
-- Every statement is idempotent, so a half-applied run can simply be repeated.

CREATE TABLE IF NOT EXISTS auth_tokens (
    token_id      VARBINARY(255) NOT NULL,
    user_id       VARBINARY(255) NOT NULL,
    -- SHA-256 of the access token: the lookup key and the ACC-2 uniqueness rule,
    -- without the token itself in an index (ACC-5).
    access_digest BINARY(32)     NOT NULL,
    expires_at    DATETIME(6)    NOT NULL,
    record        LONGBLOB       NOT NULL,
    PRIMARY KEY (token_id),
    UNIQUE KEY uq_auth_tokens_access_digest (access_digest),
    KEY ix_auth_tokens_user (user_id, expires_at),
    KEY ix_auth_tokens_expires_at (expires_at)
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS sessions (
    session_id VARBINARY(255) NOT NULL,
    user_id    VARBINARY(255) NOT NULL,
    expires_at DATETIME(6)    NOT NULL,
    record     LONGBLOB       NOT NULL,
    PRIMARY KEY (session_id),
    KEY ix_sessions_user (user_id, expires_at),
    -- Serves count_active_sessions as an index-only range scan (CNT-3).
    KEY ix_sessions_expires_at (expires_at)
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS kv_store (
    kv_key     VARBINARY(512) NOT NULL,
    kv_value   LONGBLOB       NOT NULL,
    -- NULL: no expiry.
    expires_at DATETIME(6)    NULL,
    PRIMARY KEY (kv_key),
    KEY ix_kv_store_expires_at (expires_at)
) ENGINE = InnoDB;
