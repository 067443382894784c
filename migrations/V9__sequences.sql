-- Sequences and sending discipline (SPEC §14).

-- The lead's own IANA time zone (CSV column `timezone`, `lead set-timezone`);
-- NULL: SEND_TIMEZONE.
ALTER TABLE lead ADD COLUMN timezone TEXT;

-- One sequence per lead, made when its first step is sent. `step` is the
-- last step sent; `next_step` and `next_due_at` (UTC) say what comes next
-- while it is active. The Message-IDs of the steps sent so far thread the
-- follow-ups (In-Reply-To: the last; References: all).
CREATE TABLE sequence (
    lead_id         INTEGER PRIMARY KEY REFERENCES lead (id) ON DELETE CASCADE,
    step            INTEGER NOT NULL CHECK (step >= 1),
    next_step       INTEGER,
    next_due_at     INTEGER,
    state           TEXT    NOT NULL CHECK (state IN ('active', 'finished', 'stopped')),
    stop_reason     TEXT,
    -- the lead's company domain, for the per-domain caps ('' for free mail)
    domain          TEXT    NOT NULL DEFAULT '',
    first_subject   TEXT    NOT NULL,
    message_ids     TEXT    NOT NULL DEFAULT '',
    started_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK ((state = 'active') = (next_step IS NOT NULL AND next_due_at IS NOT NULL))
);
CREATE INDEX sequence_due ON sequence (next_due_at) WHERE state = 'active';
CREATE INDEX sequence_active_domain ON sequence (domain) WHERE state = 'active' AND domain <> '';
CREATE INDEX sequence_state ON sequence (state);

-- Which template pack (variant) each outreach send used.
ALTER TABLE send_ledger ADD COLUMN variant TEXT;

-- Facts hoss keeps about itself: the day of the first real send (day 0 of
-- the warm-up when WARMUP_START_DATE is not set).
CREATE TABLE hoss_state (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);

-- A database that sent before sequences existed keeps its warm-up: day 0 is
-- the earliest real send hoss knows of (the ledger, else a lead's last
-- contact), not the first send after this upgrade.
INSERT INTO hoss_state (key, value)
SELECT 'first_real_send_day', date(MIN(t), 'unixepoch')
FROM (
    SELECT MIN(at) AS t FROM send_ledger
        WHERE kind = 'outreach' AND outcome IN ('sent', 'uncertain')
    UNION ALL
    SELECT MIN(last_contacted_at) FROM lead WHERE last_contacted_at IS NOT NULL
)
WHERE t IS NOT NULL
HAVING COUNT(t) > 0;
