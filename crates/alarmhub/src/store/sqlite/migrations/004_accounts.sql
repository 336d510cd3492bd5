-- Version 4: panel accounts managed at runtime (`alarmhub account …`, the v1 account RPCs),
-- seeded from [[accounts]]. `account_key` is the account in lower case (accounts match
-- ignoring ASCII case); `settings` is the whole account entry as JSON, so fields added to
-- [[accounts]] later round-trip without a migration.
CREATE TABLE IF NOT EXISTS accounts (
    account_key   TEXT PRIMARY KEY,
    settings      TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
