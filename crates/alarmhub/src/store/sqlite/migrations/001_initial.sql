-- Version 1: events, the per-account index, snapshots, consumer-group cursors.
-- Idempotent (IF NOT EXISTS everywhere) and run at every open, because files written by
-- earlier builds of version 1 may lack parts of it. Events by account live in
-- account_events, written in bulk by the writer (account_index.rs); the events_account_seq
-- index of earlier builds is dropped. Retransmissions are matched in memory (dedup.rs),
-- rebuilt through events_received_at at start; the events_dedup index of earlier builds put
-- every insert on a random page and is dropped.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    account        TEXT NOT NULL,
    source         TEXT NOT NULL,
    code           INTEGER NOT NULL,
    sia_code       TEXT,
    grp            INTEGER NOT NULL,
    zone           INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    panel_time     INTEGER,
    protocol       TEXT NOT NULL,
    frame_seq      TEXT NOT NULL,
    peer           TEXT NOT NULL,
    detail         TEXT NOT NULL,
    dedup_key      INTEGER
);
DROP INDEX IF EXISTS events_account_seq;
CREATE TABLE IF NOT EXISTS account_events (
    acct   TEXT NOT NULL,
    ev_seq INTEGER NOT NULL,
    PRIMARY KEY (acct, ev_seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_received_at ON events(received_at_ms);
DROP INDEX IF EXISTS events_dedup;
CREATE TABLE IF NOT EXISTS snapshot (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq    INTEGER NOT NULL,
    taken_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot_panels (
    account TEXT PRIMARY KEY,
    state   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consumer_groups (
    name          TEXT PRIMARY KEY,
    cursor        INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
