-- Version 7: the notification outbox (issue #16; outbox.rs, outbox_sql.rs). The same
-- layout as SQLite's notify_* tables. A row is claimed by one node at a time: the claim
-- selects due rows with FOR UPDATE SKIP LOCKED (another node's claim in flight skips them)
-- and sets leased_until_ms (a node that dies mid-send lets the lease run out, and the row
-- is claimed again, with the same notification id).
CREATE TABLE ah_notify_outbox (
    id              BIGSERIAL PRIMARY KEY,
    notification_id TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    notification    TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    queued_ms       BIGINT  NOT NULL,
    due_ms          BIGINT  NOT NULL,
    leased_until_ms BIGINT  NOT NULL,
    last_error      TEXT,
    settled_ms      BIGINT,
    delivered_ms    BIGINT,
    UNIQUE (notification_id, channel, recipient)
);
CREATE INDEX ah_notify_outbox_due ON ah_notify_outbox (channel, due_ms)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX ah_notify_outbox_log ON ah_notify_outbox (channel, id);
CREATE INDEX ah_notify_outbox_settled ON ah_notify_outbox (settled_ms)
    WHERE settled_ms IS NOT NULL;
CREATE TABLE ah_notify_channels (
    name  TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
CREATE TABLE ah_notify_cursors (
    name TEXT PRIMARY KEY,
    seq  BIGINT NOT NULL
);
CREATE TABLE ah_notify_reminders (
    alarm_id     BIGINT PRIMARY KEY,
    notification TEXT    NOT NULL,
    sent         INTEGER NOT NULL,
    due_ms       BIGINT  NOT NULL,
    repeat_ms    BIGINT  NOT NULL,
    active       BOOLEAN NOT NULL
);
CREATE INDEX ah_notify_reminders_due ON ah_notify_reminders (due_ms) WHERE active;
