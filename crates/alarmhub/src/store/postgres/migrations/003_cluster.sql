-- Version 3: nodes and panel ownership (nodes.rs). A node holds a lease it renews every
-- second; ah_panel_owners says which node holds each panel's connection. Both are written
-- by appends under the sequence lock (an ONLINE claims the panel, an OFFLINE releases it)
-- and by the reaper, which turns a dead node's panels OFFLINE in one transaction.
CREATE TABLE ah_nodes (
    node_id     TEXT PRIMARY KEY,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until TIMESTAMPTZ NOT NULL
);
CREATE TABLE ah_panel_owners (
    account  TEXT PRIMARY KEY,
    node_id  TEXT NOT NULL,
    dialect  TEXT,
    since_ms BIGINT NOT NULL
);
CREATE INDEX ah_panel_owners_node ON ah_panel_owners (node_id);
