-- hoss V14 for PostgreSQL: the lead counters (lead_status_count and the
-- 'lead' tallies) count a lead insert once per statement, over the rows it
-- inserted, instead of once per row. Per row, a pass inserting thousands of
-- leads in one transaction updated the same few counter rows once per lead,
-- each update stepping over the row versions of the ones before it in that
-- transaction: the pass slowed down with its own size. The counts are the
-- same; the triggers keep their names.
DROP TRIGGER lead_count_insert ON lead;
DROP TRIGGER lead_tally ON lead;

CREATE OR REPLACE FUNCTION lead_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lead_status_count c SET n = c.n + d.n
      FROM (SELECT status, COUNT(*) AS n FROM inserted_leads GROUP BY status) d
     WHERE c.status = d.status;
    RETURN NULL;
END $$;
CREATE TRIGGER lead_count_insert AFTER INSERT ON lead
    REFERENCING NEW TABLE AS inserted_leads
    FOR EACH STATEMENT EXECUTE FUNCTION lead_count_insert();

CREATE OR REPLACE FUNCTION lead_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tally_hour (metric, hour, key, n)
        SELECT 'lead', created_at - (created_at % 3600), source, COUNT(*)
          FROM inserted_leads GROUP BY 2, 3
        ON CONFLICT (metric, hour, key) DO UPDATE SET n = tally_hour.n + EXCLUDED.n;
    INSERT INTO tally_second (metric, at, key, n)
        SELECT 'lead', created_at, source, COUNT(*)
          FROM inserted_leads GROUP BY 2, 3
        ON CONFLICT (metric, at, key) DO UPDATE SET n = tally_second.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE TRIGGER lead_tally AFTER INSERT ON lead
    REFERENCING NEW TABLE AS inserted_leads
    FOR EACH STATEMENT EXECUTE FUNCTION lead_tally();
