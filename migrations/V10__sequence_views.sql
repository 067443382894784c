-- What `summary`, `plan` and `why` read of sequences (SPEC §14), kept cheap
-- on a million rows.

-- Real outreach sends by step: 'first' (step 1) and 'follow_up' (steps 2
-- and on), counted as the ledger's outcome becomes 'sent' (and uncounted if
-- it ever leaves it), like the 'send' tallies of V4, so a digest window is
-- never counted row by row.
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

INSERT INTO tally_hour (metric, hour, key, n)
    SELECT 'send_step', at - (at % 3600), CASE WHEN step > 1 THEN 'follow_up' ELSE 'first' END, COUNT(*)
    FROM send_ledger WHERE kind = 'outreach' AND outcome = 'sent' GROUP BY 2, 3;
INSERT INTO tally_second (metric, at, key, n)
    SELECT 'send_step', at, CASE WHEN step > 1 THEN 'follow_up' ELSE 'first' END, COUNT(*)
    FROM send_ledger WHERE kind = 'outreach' AND outcome = 'sent' GROUP BY 2, 3;

-- The leads with their own time zone, by zone: when the send window is
-- closed in a zone, every lead there waits, and `plan` counts them at once
-- instead of walking each of a million leads.
CREATE INDEX lead_own_timezone ON lead (timezone, status, id) WHERE timezone IS NOT NULL;
