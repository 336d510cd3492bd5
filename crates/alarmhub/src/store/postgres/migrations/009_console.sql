-- Version 8: what the console manages (auth/postgres_console.rs): token expiry, disabled
-- users, and console sessions by the SHA-256 of their cookie value, so a restart logs
-- nobody out and any node accepts a session.
ALTER TABLE ah_auth_tokens ADD COLUMN expires_at_ms BIGINT;
ALTER TABLE ah_auth_users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT false;
CREATE TABLE ah_console_sessions (
    id_hash       TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL
);
CREATE INDEX ah_console_sessions_seen ON ah_console_sessions (last_seen_ms);
CREATE INDEX ah_console_sessions_name ON ah_console_sessions (name);
-- The panel page's audit rows (target = the panel's account).
CREATE INDEX ah_audit_target ON ah_audit (target, id);
