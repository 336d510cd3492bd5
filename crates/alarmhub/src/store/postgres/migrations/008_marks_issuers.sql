-- Version 8: the compat API's Sync marks, shared by every node (sync_marks.rs). A full
-- `Sync` on any node records, per panel, the registry versions it delivered; every node
-- follows the rows by `mark` (written under an advisory lock, so marks commit in order)
-- and counts those panels as synced in `IsNeedSync`.
CREATE SEQUENCE ah_sync_mark_seq;
CREATE TABLE ah_sync_marks (
    account       TEXT PRIMARY KEY,
    version       BIGINT NOT NULL,
    alarm_version BIGINT NOT NULL,
    mark          BIGINT NOT NULL
);
CREATE INDEX ah_sync_marks_mark ON ah_sync_marks (mark);
-- Routed commands (commands.rs) name their issuing node and its deadline, so the lease
-- sweep removes the rows (and a disarm's password) of an issuer that died while waiting.
ALTER TABLE ah_commands ADD COLUMN issuer TEXT, ADD COLUMN deadline TIMESTAMPTZ;
