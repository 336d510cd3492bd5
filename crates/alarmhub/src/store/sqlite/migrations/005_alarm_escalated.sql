-- Version 5: an alarm's escalated flag gets a column of its own, and the queue index carries
-- it, so the escalation ticker's read of the open alarms (once a second while alarms keep
-- changing) is answered from the index alone instead of fetching every `new` alarm's row
-- and parsing its JSON body. The body keeps the flag as before; the column mirrors it.
ALTER TABLE alarms ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0;
UPDATE alarms SET escalated = 1 WHERE coalesce(body ->> '$.escalated', 0) != 0;
DROP INDEX alarms_queue;
CREATE INDEX alarms_queue ON alarms (state, priority, opened_at_ms, id, escalated);
