-- Version 2: tokens, users and the audit trail (auth/postgres.rs). Every change to tokens
-- or users bumps ah_meta.auth_generation in the same transaction; nodes poll it.
CREATE TABLE ah_auth_tokens (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    hash          TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    last_used_ms  BIGINT
);
CREATE TABLE ah_auth_users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    last_login_ms BIGINT
);
CREATE TABLE ah_audit (
    id      BIGSERIAL PRIMARY KEY,
    at_ms   BIGINT NOT NULL,
    who     TEXT NOT NULL,
    role    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    addr    TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX ah_audit_at ON ah_audit (at_ms);
CREATE INDEX ah_audit_who ON ah_audit (who, id);
INSERT INTO ah_meta (key, value) VALUES ('auth_generation', 0);
