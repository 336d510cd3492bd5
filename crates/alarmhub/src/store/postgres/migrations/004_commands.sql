-- Version 4: remote commands routed to the node that holds the panel (commands.rs). The
-- issuing node inserts a row for the owner, the owner takes it, sends it and writes the
-- outcome back; the issuer reads the outcome and deletes the row.
CREATE TABLE ah_commands (
    id         BIGSERIAL PRIMARY KEY,
    account    TEXT NOT NULL,
    node_id    TEXT NOT NULL,
    action     TEXT NOT NULL,
    section    SMALLINT NOT NULL,
    password   TEXT,
    ademco_id  BIGINT,
    state      TEXT NOT NULL DEFAULT 'pending',
    outcome    TEXT,
    message    TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ah_commands_node_state ON ah_commands (node_id, state);
