-- Version 5: panel accounts changed at runtime (the [[accounts]] entry as JSON, keyed by the
-- account in lower case so lookups ignore ASCII case), shared by every node.
CREATE TABLE ah_accounts (
    key        TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    settings   TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
