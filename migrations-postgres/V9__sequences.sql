-- hoss V9 for PostgreSQL: the twin of migrations/V9__sequences.sql.
ALTER TABLE lead ADD COLUMN timezone TEXT;

CREATE TABLE sequence (
    lead_id         BIGINT  PRIMARY KEY REFERENCES lead (id) ON DELETE CASCADE,
    step            BIGINT  NOT NULL CHECK (step >= 1),
    next_step       BIGINT,
    next_due_at     BIGINT,
    state           TEXT    NOT NULL CHECK (state IN ('active', 'finished', 'stopped')),
    stop_reason     TEXT,
    domain          TEXT    NOT NULL DEFAULT '',
    first_subject   TEXT    NOT NULL,
    message_ids     TEXT    NOT NULL DEFAULT '',
    started_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    CONSTRAINT sequence_state_next_check
        CHECK ((state = 'active') = (next_step IS NOT NULL AND next_due_at IS NOT NULL))
);
CREATE INDEX sequence_due ON sequence (next_due_at) WHERE state = 'active';
CREATE INDEX sequence_active_domain ON sequence (domain) WHERE state = 'active' AND domain <> '';
CREATE INDEX sequence_state ON sequence (state);

ALTER TABLE send_ledger ADD COLUMN variant TEXT;

CREATE TABLE hoss_state (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);

-- Day 0 of the warm-up of a database that sent before sequences (SQLite:
-- date(MIN(t), 'unixepoch')).
INSERT INTO hoss_state (key, value)
SELECT 'first_real_send_day', to_char(to_timestamp(MIN(t)) AT TIME ZONE 'UTC', 'YYYY-MM-DD')
FROM (
    SELECT MIN(at) AS t FROM send_ledger
        WHERE kind = 'outreach' AND outcome IN ('sent', 'uncertain')
    UNION ALL
    SELECT MIN(last_contacted_at) FROM lead WHERE last_contacted_at IS NOT NULL
) AS first_sends
WHERE t IS NOT NULL
HAVING COUNT(t) > 0;
