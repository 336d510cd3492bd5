-- Version 6: alarm records and the alarm change log (issue #15; alarms.rs). Same layout
-- as SQLite's 003_alarms.sql: the columns the queue filters and orders by, plus the whole
-- record as JSON (`body`); every change is a row of ah_alarm_changes with its own
-- increasing seq, written in the same transaction as the alarm row, with the alarm as it
-- was after the change. ah_alarm_sequence holds the last change seq and the last alarm id;
-- it is moved only under the alarm advisory lock, in the transaction that writes the
-- changes, so it always equals the highest committed change seq.
CREATE TABLE ah_alarm_sequence (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_change BIGINT NOT NULL,
    last_alarm  BIGINT NOT NULL
);
INSERT INTO ah_alarm_sequence (id, last_change, last_alarm) VALUES (1, 0, 0);
CREATE TABLE ah_alarms (
    id           BIGINT PRIMARY KEY,
    account      TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    priority     INTEGER NOT NULL,
    opened_at_ms BIGINT  NOT NULL,
    body         TEXT    NOT NULL
);
CREATE INDEX ah_alarms_queue ON ah_alarms (state, priority, opened_at_ms, id);
CREATE INDEX ah_alarms_account ON ah_alarms (account, state);
CREATE TABLE ah_alarm_changes (
    seq       BIGINT PRIMARY KEY,
    alarm_id  BIGINT NOT NULL REFERENCES ah_alarms (id),
    kind      TEXT   NOT NULL,
    actor     TEXT   NOT NULL,
    at_ms     BIGINT NOT NULL,
    event_seq BIGINT NOT NULL,
    detail    TEXT   NOT NULL,
    alarm     TEXT   NOT NULL
);
CREATE INDEX ah_alarm_changes_alarm ON ah_alarm_changes (alarm_id, seq);
