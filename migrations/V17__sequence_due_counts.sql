-- hoss V17: the active sequences counted by the UTC hour their next step
-- is due in, kept by triggers, so a pass counts its due follow-ups (and
-- those not yet due) from at most one hour of the index plus a sum of
-- these rows, instead of counting every active sequence: PostgreSQL took
-- 9 ms to count 100,000. A row is dropped when its count reaches zero. An
-- hour starts at a multiple of 3600 s, rounded down (also before 1970).
-- Every write of a sequence holds the write lock (`Db::immediate`): the
-- counter rows are shared by all of them.
CREATE TABLE sequence_due_count (
    hour INTEGER PRIMARY KEY,
    n    INTEGER NOT NULL
);

INSERT INTO sequence_due_count (hour, n)
    SELECT next_due_at - (next_due_at % 3600 + 3600) % 3600, COUNT(*) FROM sequence
    WHERE state = 'active' AND next_due_at IS NOT NULL
    GROUP BY next_due_at - (next_due_at % 3600 + 3600) % 3600;

CREATE TRIGGER sequence_due_insert AFTER INSERT ON sequence
WHEN NEW.state = 'active' AND NEW.next_due_at IS NOT NULL
BEGIN
    INSERT INTO sequence_due_count (hour, n) VALUES (NEW.next_due_at - (NEW.next_due_at % 3600 + 3600) % 3600, 1)
    ON CONFLICT (hour) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER sequence_due_delete AFTER DELETE ON sequence
WHEN OLD.state = 'active' AND OLD.next_due_at IS NOT NULL
BEGIN
    UPDATE sequence_due_count SET n = n - 1 WHERE hour = OLD.next_due_at - (OLD.next_due_at % 3600 + 3600) % 3600;
    DELETE FROM sequence_due_count WHERE hour = OLD.next_due_at - (OLD.next_due_at % 3600 + 3600) % 3600 AND n = 0;
END;

-- An update counts out of the old hour and into the new one (the same
-- hour: out and back in, the row kept).
CREATE TRIGGER sequence_due_update AFTER UPDATE OF state, next_due_at ON sequence
WHEN (OLD.state = 'active' AND OLD.next_due_at IS NOT NULL)
  OR (NEW.state = 'active' AND NEW.next_due_at IS NOT NULL)
BEGIN
    UPDATE sequence_due_count SET n = n - 1
    WHERE hour = OLD.next_due_at - (OLD.next_due_at % 3600 + 3600) % 3600 AND OLD.state = 'active';
    INSERT INTO sequence_due_count (hour, n)
        SELECT NEW.next_due_at - (NEW.next_due_at % 3600 + 3600) % 3600, 1
        WHERE NEW.state = 'active' AND NEW.next_due_at IS NOT NULL
    ON CONFLICT (hour) DO UPDATE SET n = n + 1;
    DELETE FROM sequence_due_count WHERE hour = OLD.next_due_at - (OLD.next_due_at % 3600 + 3600) % 3600 AND n = 0;
END;
