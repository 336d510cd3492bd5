-- Version 1: events, the one sequence counter, snapshots, named cursors, meta.
-- Every table is prefixed ah_ so alarmhub can share a database with other software.
CREATE TABLE ah_meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
-- The last seq handed out. Updated only by an append holding the sequence lock, in the
-- transaction that inserts the events, so it always equals the highest committed seq.
CREATE TABLE ah_sequence (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    last BIGINT NOT NULL
);
INSERT INTO ah_sequence (id, last) VALUES (1, 0);
CREATE TABLE ah_events (
    seq             BIGINT PRIMARY KEY,
    account         TEXT NOT NULL,
    source          TEXT NOT NULL,
    code            INTEGER NOT NULL,
    sia_code        TEXT,
    grp             INTEGER NOT NULL,
    zone            INTEGER NOT NULL,
    received_at_ms  BIGINT NOT NULL,
    panel_time      BIGINT,
    protocol        TEXT NOT NULL,
    frame_seq       TEXT NOT NULL,
    peer            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    dedup_key       BIGINT,
    dialect         TEXT,
    ademco_id       BIGINT,
    signal_strength SMALLINT,
    unknown_account BOOLEAN NOT NULL DEFAULT FALSE,
    control_action  TEXT,
    control_outcome TEXT
);
CREATE INDEX ah_events_account_seq ON ah_events (account, seq);
CREATE INDEX ah_events_received_at ON ah_events (received_at_ms);
CREATE INDEX ah_events_dedup ON ah_events (dedup_key) WHERE dedup_key IS NOT NULL;
CREATE TABLE ah_snapshot (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq    BIGINT NOT NULL,
    taken_at_ms BIGINT NOT NULL
);
CREATE TABLE ah_snapshot_panels (
    account TEXT PRIMARY KEY,
    state   TEXT NOT NULL
);
CREATE TABLE ah_cursors (
    name          TEXT PRIMARY KEY,
    cursor        BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
