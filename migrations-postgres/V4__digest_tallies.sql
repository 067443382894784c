-- hoss V4 for PostgreSQL: the twin of migrations/V4__digest_tallies.sql.
-- Counts kept as rows arrive, in the same transaction as the row they
-- count (triggers). Two helpers do what each SQLite trigger body repeats:
-- add one to a tally (upsert, both grains), take one away (update only,
-- as SQLite's triggers do).
CREATE TABLE tally_hour (
    metric TEXT   NOT NULL,
    hour   BIGINT NOT NULL,
    key    TEXT   NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (metric, hour, key)
);

CREATE TABLE tally_second (
    metric TEXT   NOT NULL,
    at     BIGINT NOT NULL,
    key    TEXT   NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (metric, at, key)
);

CREATE FUNCTION hoss_tally_add(p_metric TEXT, p_at BIGINT, p_key TEXT) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO tally_hour (metric, hour, key, n)
        VALUES (p_metric, p_at - (p_at % 3600), p_key, 1)
        ON CONFLICT (metric, hour, key) DO UPDATE SET n = tally_hour.n + 1;
    INSERT INTO tally_second (metric, at, key, n)
        VALUES (p_metric, p_at, p_key, 1)
        ON CONFLICT (metric, at, key) DO UPDATE SET n = tally_second.n + 1;
$$;

CREATE FUNCTION hoss_tally_sub(p_metric TEXT, p_at BIGINT, p_key TEXT) RETURNS void
LANGUAGE sql AS $$
    UPDATE tally_hour SET n = n - 1
        WHERE metric = p_metric AND hour = p_at - (p_at % 3600) AND key = p_key;
    UPDATE tally_second SET n = n - 1
        WHERE metric = p_metric AND at = p_at AND key = p_key;
$$;

-- Leads created, by source.
CREATE FUNCTION lead_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hoss_tally_add('lead', NEW.created_at, NEW.source);
    RETURN NULL;
END $$;
CREATE TRIGGER lead_tally AFTER INSERT ON lead
    FOR EACH ROW EXECUTE FUNCTION lead_tally();

-- Send attempts, by kind and outcome ('outreach:sent'); an outcome that
-- changes (reserved → sent) moves its count.
CREATE FUNCTION send_tally_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hoss_tally_add('send', NEW.at, NEW.kind || ':' || NEW.outcome);
    RETURN NULL;
END $$;
CREATE TRIGGER send_tally_insert AFTER INSERT ON send_ledger
    FOR EACH ROW EXECUTE FUNCTION send_tally_insert();

CREATE FUNCTION send_tally_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hoss_tally_sub('send', OLD.at, OLD.kind || ':' || OLD.outcome);
    PERFORM hoss_tally_add('send', NEW.at, NEW.kind || ':' || NEW.outcome);
    RETURN NULL;
END $$;
CREATE TRIGGER send_tally_update AFTER UPDATE OF outcome ON send_ledger
    FOR EACH ROW WHEN (OLD.outcome <> NEW.outcome) EXECUTE FUNCTION send_tally_update();

-- What is already there.
INSERT INTO tally_hour (metric, hour, key, n)
    SELECT 'lead', created_at - (created_at % 3600), source, COUNT(*) FROM lead GROUP BY 2, 3;
INSERT INTO tally_second (metric, at, key, n)
    SELECT 'lead', created_at, source, COUNT(*) FROM lead GROUP BY 2, 3;
INSERT INTO tally_hour (metric, hour, key, n)
    SELECT 'send', at - (at % 3600), kind || ':' || outcome, COUNT(*) FROM send_ledger GROUP BY 2, 3;
INSERT INTO tally_second (metric, at, key, n)
    SELECT 'send', at, kind || ':' || outcome, COUNT(*) FROM send_ledger GROUP BY 2, 3;
