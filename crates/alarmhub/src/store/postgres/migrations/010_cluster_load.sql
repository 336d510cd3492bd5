-- Version 10: less work per append and per snapshot on a busy cluster.
--
-- An index the append statement (append.rs) can use whatever the planner's statistics
-- say. The writer runs the append as a generic plan; on a table that grows by thousands of
-- rows a second the statistics lag, and the release of this node's claims, planned on
-- `ah_panel_owners_node` alone, read every panel the node owns on each append. With the
-- account in the index the lookup is bounded by the accounts released.
DROP INDEX ah_panel_owners_node;
CREATE INDEX ah_panel_owners_node ON ah_panel_owners (node_id, account);
-- Which node saved the registry snapshot (snapshot.rs): a node skips its save while
-- another node's is recent, so N nodes do not each rewrite every panel every interval.
ALTER TABLE ah_snapshot ADD COLUMN node_id TEXT;
