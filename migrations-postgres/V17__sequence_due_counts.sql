-- hoss V17, PostgreSQL's twin of migrations/V17: the active sequences
-- counted by the UTC hour their next step is due in. The counters change
-- once per statement, over the rows it changed: each hour's row once, in
-- the hours' order, so two statements never wait for each other's counter
-- rows the other way round. A row is dropped when its count reaches zero.
-- Every write of a sequence holds the write lock (`Db::immediate`): a
-- statement outside it could wait for a counter row a transaction holds
-- while that transaction waits for its sequence row (a deadlock).
CREATE TABLE sequence_due_count (
    hour BIGINT PRIMARY KEY,
    n    BIGINT NOT NULL
);

INSERT INTO sequence_due_count (hour, n)
    SELECT next_due_at - (next_due_at % 3600 + 3600) % 3600, COUNT(*) FROM sequence
    WHERE state = 'active' AND next_due_at IS NOT NULL
    GROUP BY next_due_at - (next_due_at % 3600 + 3600) % 3600;

CREATE FUNCTION hoss_sequence_due_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO sequence_due_count (hour, n)
            SELECT next_due_at - (next_due_at % 3600 + 3600) % 3600, COUNT(*) FROM new_rows
             WHERE state = 'active' AND next_due_at IS NOT NULL
             GROUP BY 1 ORDER BY 1
            ON CONFLICT (hour) DO UPDATE SET n = sequence_due_count.n + EXCLUDED.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO sequence_due_count (hour, n)
            SELECT next_due_at - (next_due_at % 3600 + 3600) % 3600, -COUNT(*) FROM old_rows
             WHERE state = 'active' AND next_due_at IS NOT NULL
             GROUP BY 1 ORDER BY 1
            ON CONFLICT (hour) DO UPDATE SET n = sequence_due_count.n + EXCLUDED.n;
    ELSE
        -- Out of the old hour, into the new one: a row that stays where it
        -- was changes nothing.
        INSERT INTO sequence_due_count (hour, n)
            SELECT hour, SUM(d) FROM (
                SELECT next_due_at - (next_due_at % 3600 + 3600) % 3600 AS hour, -1 AS d FROM old_rows
                 WHERE state = 'active' AND next_due_at IS NOT NULL
                UNION ALL
                SELECT next_due_at - (next_due_at % 3600 + 3600) % 3600, 1 FROM new_rows
                 WHERE state = 'active' AND next_due_at IS NOT NULL) AS change
             GROUP BY hour HAVING SUM(d) <> 0 ORDER BY hour
            ON CONFLICT (hour) DO UPDATE SET n = sequence_due_count.n + EXCLUDED.n;
    END IF;
    DELETE FROM sequence_due_count WHERE n = 0;
    RETURN NULL;
END $$;

CREATE TRIGGER sequence_due_insert AFTER INSERT ON sequence
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hoss_sequence_due_count();
CREATE TRIGGER sequence_due_update AFTER UPDATE ON sequence
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hoss_sequence_due_count();
CREATE TRIGGER sequence_due_delete AFTER DELETE ON sequence
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hoss_sequence_due_count();
