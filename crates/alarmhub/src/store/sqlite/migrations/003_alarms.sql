-- Version 3: alarm records and the alarm change log (issue #15). An alarm row keeps the
-- columns the queue filters and orders by, plus the whole record as JSON (`body`); every
-- change is a row of `alarm_changes` with its own increasing `seq`, written in the same
-- transaction as the alarm row, with the alarm as it was after the change.
CREATE TABLE alarms (
    id           INTEGER PRIMARY KEY,
    account      TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    priority     INTEGER NOT NULL,
    opened_at_ms INTEGER NOT NULL,
    body         TEXT    NOT NULL
);
CREATE INDEX alarms_queue ON alarms (state, priority, opened_at_ms, id);
CREATE INDEX alarms_account ON alarms (account, state);
CREATE TABLE alarm_changes (
    seq       INTEGER PRIMARY KEY,
    alarm_id  INTEGER NOT NULL REFERENCES alarms (id),
    kind      TEXT    NOT NULL,
    actor     TEXT    NOT NULL,
    at_ms     INTEGER NOT NULL,
    event_seq INTEGER NOT NULL,
    detail    TEXT    NOT NULL,
    alarm     TEXT    NOT NULL
);
CREATE INDEX alarm_changes_alarm ON alarm_changes (alarm_id, seq);
