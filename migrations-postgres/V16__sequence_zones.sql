-- hoss V16, PostgreSQL's twin of migrations/V16: a sequence carries its
-- lead's own time zone, kept by triggers, for the index of the sequences in
-- zones of their own. A sequence's insert and a lead's zone change both
-- hold the write lock (`Db::immediate`): without it, a zone changed while a
-- sequence was being inserted could leave the sequence in the old zone.
ALTER TABLE sequence ADD COLUMN timezone TEXT;

UPDATE sequence s SET timezone = l.timezone FROM lead l WHERE l.id = s.lead_id;

CREATE INDEX sequence_zone_due ON sequence (timezone, next_due_at, lead_id)
    WHERE state = 'active' AND timezone IS NOT NULL;

-- A new sequence takes its lead's zone.
CREATE FUNCTION hoss_sequence_zone() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    zone TEXT;
BEGIN
    SELECT timezone INTO zone FROM lead WHERE id = NEW.lead_id;
    IF FOUND THEN
        NEW.timezone := zone;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER sequence_zone BEFORE INSERT ON sequence
    FOR EACH ROW EXECUTE FUNCTION hoss_sequence_zone();

-- A lead whose zone changes moves its sequence with it.
CREATE FUNCTION hoss_lead_zone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sequence SET timezone = NEW.timezone WHERE lead_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER lead_zone AFTER UPDATE OF timezone ON lead
    FOR EACH ROW WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION hoss_lead_zone();
