-- hoss V10 for PostgreSQL: the twin of migrations/V10__sequence_views.sql.
-- Real outreach sends by step: 'first' (step 1) and 'follow_up' (2 on).
CREATE FUNCTION hoss_step_key(p_step BIGINT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_step > 1 THEN 'follow_up' ELSE 'first' END
$$;

CREATE FUNCTION send_step_tally_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hoss_tally_add('send_step', NEW.at, hoss_step_key(NEW.step));
    RETURN NULL;
END $$;
CREATE TRIGGER send_step_tally_insert AFTER INSERT ON send_ledger
    FOR EACH ROW WHEN (NEW.kind = 'outreach' AND NEW.outcome = 'sent')
    EXECUTE FUNCTION send_step_tally_add();
CREATE TRIGGER send_step_tally_sent AFTER UPDATE OF outcome ON send_ledger
    FOR EACH ROW WHEN (NEW.kind = 'outreach' AND NEW.outcome = 'sent' AND OLD.outcome <> 'sent')
    EXECUTE FUNCTION send_step_tally_add();

CREATE FUNCTION send_step_tally_unsent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hoss_tally_sub('send_step', OLD.at, hoss_step_key(OLD.step));
    RETURN NULL;
END $$;
CREATE TRIGGER send_step_tally_unsent AFTER UPDATE OF outcome ON send_ledger
    FOR EACH ROW WHEN (OLD.kind = 'outreach' AND OLD.outcome = 'sent' AND NEW.outcome <> 'sent')
    EXECUTE FUNCTION send_step_tally_unsent();

INSERT INTO tally_hour (metric, hour, key, n)
    SELECT 'send_step', at - (at % 3600), hoss_step_key(step), COUNT(*)
    FROM send_ledger WHERE kind = 'outreach' AND outcome = 'sent' GROUP BY 2, 3;
INSERT INTO tally_second (metric, at, key, n)
    SELECT 'send_step', at, hoss_step_key(step), COUNT(*)
    FROM send_ledger WHERE kind = 'outreach' AND outcome = 'sent' GROUP BY 2, 3;

CREATE INDEX lead_own_timezone ON lead (timezone, status, id) WHERE timezone IS NOT NULL;
