-- Counts kept as rows arrive, so the digest and status never count a
-- window row by row (SPEC §11: a million leads imported within the window
-- still reads in milliseconds). Per hour for the whole hours of a window,
-- per second for its two ragged edges: exact to the second, at most
-- 2 × 3600 + 168 rows read per key. Kept in the same transaction as the row
-- they count (triggers); a pruned ledger row keeps its place in history.
CREATE TABLE tally_hour (
    metric TEXT NOT NULL,
    hour INTEGER NOT NULL,
    key TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (metric, hour, key)
) WITHOUT ROWID;

CREATE TABLE tally_second (
    metric TEXT NOT NULL,
    at INTEGER NOT NULL,
    key TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (metric, at, key)
) WITHOUT ROWID;

-- Leads created, by source.
CREATE TRIGGER lead_tally AFTER INSERT ON lead BEGIN
    INSERT INTO tally_hour (metric, hour, key, n)
        VALUES ('lead', NEW.created_at - (NEW.created_at % 3600), NEW.source, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO tally_second (metric, at, key, n)
        VALUES ('lead', NEW.created_at, NEW.source, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- Send attempts, by kind and outcome ('outreach:sent'); an outcome that
-- changes (reserved → sent) moves its count.
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

-- What is already there.
INSERT INTO tally_hour (metric, hour, key, n)
    SELECT 'lead', created_at - (created_at % 3600), source, COUNT(*) FROM lead GROUP BY 2, 3;
INSERT INTO tally_second (metric, at, key, n)
    SELECT 'lead', created_at, source, COUNT(*) FROM lead GROUP BY 2, 3;
INSERT INTO tally_hour (metric, hour, key, n)
    SELECT 'send', at - (at % 3600), kind || ':' || outcome, COUNT(*) FROM send_ledger GROUP BY 2, 3;
INSERT INTO tally_second (metric, at, key, n)
    SELECT 'send', at, kind || ':' || outcome, COUNT(*) FROM send_ledger GROUP BY 2, 3;
