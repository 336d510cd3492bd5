-- Version 2: the typed facts of an event get columns of their own, so the registry reads
-- them on apply and replay instead of parsing display JSON. Existing rows are filled from
-- the detail JSON they were kept in until now (only values the daemon could have written;
-- anything else stays NULL). The detail keeps them for display.
ALTER TABLE events ADD COLUMN dialect TEXT;
ALTER TABLE events ADD COLUMN ademco_id INTEGER;
ALTER TABLE events ADD COLUMN signal_strength INTEGER;
ALTER TABLE events ADD COLUMN unknown_account INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN control_action TEXT;
ALTER TABLE events ADD COLUMN control_outcome TEXT;
UPDATE events SET
    dialect = CASE json_extract(detail, '$.dialect')
        WHEN 'hb' THEN 'hb' WHEN 'dc09' THEN 'dc09' END,
    ademco_id = CASE WHEN json_type(detail, '$.ademco_id') = 'integer'
        AND json_extract(detail, '$.ademco_id') BETWEEN 0 AND 4294967295
        THEN json_extract(detail, '$.ademco_id') END,
    signal_strength = CASE WHEN code = 1799
        AND json_type(detail, '$.signal_strength') = 'integer'
        AND json_extract(detail, '$.signal_strength') BETWEEN 0 AND 255
        THEN json_extract(detail, '$.signal_strength') END,
    unknown_account = CASE WHEN json_type(detail, '$.unknown_account') = 'true'
        THEN 1 ELSE 0 END,
    control_action = CASE WHEN source = 'control'
        AND json_extract(detail, '$.action')
            IN ('arm_away', 'arm_stay', 'disarm', 'emergency', 'query_type')
        AND json_extract(detail, '$.outcome')
            IN ('done', 'timed_out', 'panel_offline', 'not_supported', 'bad_request')
        THEN json_extract(detail, '$.action') END,
    control_outcome = CASE WHEN source = 'control'
        AND json_extract(detail, '$.action')
            IN ('arm_away', 'arm_stay', 'disarm', 'emergency', 'query_type')
        AND json_extract(detail, '$.outcome')
            IN ('done', 'timed_out', 'panel_offline', 'not_supported', 'bad_request')
        THEN json_extract(detail, '$.outcome') END
WHERE json_valid(detail) AND detail <> '{}';
