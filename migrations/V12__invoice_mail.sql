-- SPEC §16: invoices reach the customer.
--
-- 1. An invoice is due a number of days after it opens (INVOICE_DUE_DAYS);
--    invoices already open get 14 days from their creation. One invoice may
--    be approved above STRIPE_MAX_AMOUNT (`hoss invoice approve`), recorded
--    with the time. A draft gets a due date only when it is announced with
--    the payment instructions: from then it is as unpaid as an open one
--    (reminded, overdue).
ALTER TABLE invoice ADD COLUMN due_at INTEGER;
ALTER TABLE invoice ADD COLUMN approved_at INTEGER;
UPDATE invoice SET due_at = created_at + 14 * 86400 WHERE status = 'open';
CREATE INDEX invoice_unpaid_due ON invoice (due_at) WHERE status IN ('draft', 'open') AND due_at IS NOT NULL;

-- 2. The send ledger takes the customer's mail: kinds `invoice`, `reminder`
--    and `receipt`, each naming its invoice. SQLite cannot widen a CHECK, so
--    the table is rebuilt (foreign keys are off during migrations), with its
--    indexes and triggers as V1, V3, V4, V8 and V10 made them.
CREATE TABLE send_ledger_v12 (
    id                  INTEGER PRIMARY KEY,
    at                  INTEGER NOT NULL,
    -- start of the UTC clock hour of `at`, the unit of MAX_EMAILS_PER_HOUR
    hour_start          INTEGER NOT NULL,
    kind                TEXT    NOT NULL
                        CHECK (kind IN ('outreach', 'test', 'summary', 'invoice', 'reminder', 'receipt')),
    lead_id             INTEGER REFERENCES lead (id) ON DELETE SET NULL,
    step                INTEGER NOT NULL DEFAULT 1,
    recipient           TEXT    NOT NULL,
    subject             TEXT    NOT NULL DEFAULT '',
    mode                TEXT    NOT NULL CHECK (mode IN ('DRY_RUN', 'SENDGRID', 'SMTP')),
    outcome             TEXT    NOT NULL
                        CHECK (outcome IN ('reserved', 'sent', 'failed', 'dry_run', 'throttled',
                                           'suppressed', 'uncertain')),
    transient           INTEGER NOT NULL DEFAULT 0 CHECK (transient IN (0, 1)),
    error               TEXT,
    provider_message_id TEXT,
    finished_at         INTEGER,
    message_id          TEXT,
    variant             TEXT,
    invoice_id          INTEGER REFERENCES invoice (id),
    -- the customer's mail names its invoice; nothing else does
    CHECK ((invoice_id IS NOT NULL) = (kind IN ('invoice', 'reminder', 'receipt')))
);
INSERT INTO send_ledger_v12 (id, at, hour_start, kind, lead_id, step, recipient, subject, mode,
                             outcome, transient, error, provider_message_id, finished_at,
                             message_id, variant)
    SELECT id, at, hour_start, kind, lead_id, step, recipient, subject, mode,
           outcome, transient, error, provider_message_id, finished_at, message_id, variant
    FROM send_ledger;
DROP TABLE send_ledger;
ALTER TABLE send_ledger_v12 RENAME TO send_ledger;

CREATE UNIQUE INDEX send_ledger_once_uq ON send_ledger (lead_id, step)
    WHERE kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain');
CREATE INDEX send_ledger_hour ON send_ledger (hour_start, outcome);
CREATE INDEX send_ledger_at ON send_ledger (at, kind, outcome);
CREATE INDEX send_ledger_reserved ON send_ledger (outcome, at) WHERE outcome = 'reserved';
CREATE INDEX send_ledger_uncertain ON send_ledger (id) WHERE outcome = 'uncertain';
CREATE INDEX send_ledger_outreach_recipient ON send_ledger (recipient)
    WHERE kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain');
CREATE INDEX send_ledger_message_id ON send_ledger (message_id) WHERE message_id IS NOT NULL;
-- At most once per invoice, kind and step (the first notice is step 1, a
-- reminder's step is its day after the due date, an operator's re-send the
-- next free step): a live reservation, a send or an uncertain hand-over
-- blocks any second real attempt.
CREATE UNIQUE INDEX send_ledger_invoice_once_uq ON send_ledger (invoice_id, kind, step)
    WHERE invoice_id IS NOT NULL AND outcome IN ('reserved', 'sent', 'uncertain');
CREATE INDEX send_ledger_invoice ON send_ledger (invoice_id, at) WHERE invoice_id IS NOT NULL;

CREATE TRIGGER send_tally_insert AFTER INSERT ON send_ledger BEGIN
    INSERT INTO tally_hour (metric, hour, key, n)
        VALUES ('send', NEW.at - (NEW.at % 3600), NEW.kind || ':' || NEW.outcome, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO tally_second (metric, at, key, n)
        VALUES ('send', NEW.at, NEW.kind || ':' || NEW.outcome, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER send_tally_update AFTER UPDATE OF outcome ON send_ledger
WHEN OLD.outcome <> NEW.outcome BEGIN
    UPDATE tally_hour SET n = n - 1
        WHERE metric = 'send' AND hour = OLD.at - (OLD.at % 3600) AND key = OLD.kind || ':' || OLD.outcome;
    UPDATE tally_second SET n = n - 1
        WHERE metric = 'send' AND at = OLD.at AND key = OLD.kind || ':' || OLD.outcome;
    INSERT INTO tally_hour (metric, hour, key, n)
        VALUES ('send', NEW.at - (NEW.at % 3600), NEW.kind || ':' || NEW.outcome, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO tally_second (metric, at, key, n)
        VALUES ('send', NEW.at, NEW.kind || ':' || NEW.outcome, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER send_step_tally_insert AFTER INSERT ON send_ledger
WHEN NEW.kind = 'outreach' AND NEW.outcome = 'sent' BEGIN
    INSERT INTO tally_hour (metric, hour, key, n)
        VALUES ('send_step', NEW.at - (NEW.at % 3600), CASE WHEN NEW.step > 1 THEN 'follow_up' ELSE 'first' END, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO tally_second (metric, at, key, n)
        VALUES ('send_step', NEW.at, CASE WHEN NEW.step > 1 THEN 'follow_up' ELSE 'first' END, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER send_step_tally_sent AFTER UPDATE OF outcome ON send_ledger
WHEN NEW.kind = 'outreach' AND NEW.outcome = 'sent' AND OLD.outcome <> 'sent' BEGIN
    INSERT INTO tally_hour (metric, hour, key, n)
        VALUES ('send_step', NEW.at - (NEW.at % 3600), CASE WHEN NEW.step > 1 THEN 'follow_up' ELSE 'first' END, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO tally_second (metric, at, key, n)
        VALUES ('send_step', NEW.at, CASE WHEN NEW.step > 1 THEN 'follow_up' ELSE 'first' END, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER send_step_tally_unsent AFTER UPDATE OF outcome ON send_ledger
WHEN OLD.kind = 'outreach' AND OLD.outcome = 'sent' AND NEW.outcome <> 'sent' BEGIN
    UPDATE tally_hour SET n = n - 1
        WHERE metric = 'send_step' AND hour = OLD.at - (OLD.at % 3600)
          AND key = CASE WHEN OLD.step > 1 THEN 'follow_up' ELSE 'first' END;
    UPDATE tally_second SET n = n - 1
        WHERE metric = 'send_step' AND at = OLD.at
          AND key = CASE WHEN OLD.step > 1 THEN 'follow_up' ELSE 'first' END;
END;

-- 3. Invoices made before this version were never announced by hoss: it
--    announces those made after (ids above this mark) on its own; reminders
--    and receipts follow an announcement (the operator can send any invoice
--    with `hoss invoice send`).
INSERT INTO hoss_state (key, value)
    SELECT 'invoice_mail_after_id', CAST(COALESCE(MAX(id), 0) AS TEXT) FROM invoice;
