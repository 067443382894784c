-- hoss V15: invoices made and paid, counted as they change, so `summary`
-- never sums a window's invoices row by row (SPEC §11) — on either store.
-- Two more metrics in the V4 tallies, 'invoice_created' (at created_at)
-- and 'invoice_paid' (at paid_at), each with three keys: 'n' (how many)
-- and the amount in two parts, 'billions' (amount_cents / 10^9) and
-- 'units' (the rest), so no sum can overflow and the total is exact
-- (joined in an i128, as invoice_status_total does). A change is counted
-- as signed deltas: the old row's counts taken away, the new one's added.
CREATE TRIGGER invoice_tally_insert AFTER INSERT ON invoice BEGIN
    INSERT INTO tally_hour (metric, hour, key, n)
    VALUES ('invoice_created', NEW.created_at - (NEW.created_at % 3600), 'n', 1),
           ('invoice_created', NEW.created_at - (NEW.created_at % 3600), 'billions', (NEW.amount_cents / 1000000000)),
           ('invoice_created', NEW.created_at - (NEW.created_at % 3600), 'units', (NEW.amount_cents % 1000000000))
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO tally_second (metric, at, key, n)
    VALUES ('invoice_created', NEW.created_at, 'n', 1),
           ('invoice_created', NEW.created_at, 'billions', (NEW.amount_cents / 1000000000)),
           ('invoice_created', NEW.created_at, 'units', (NEW.amount_cents % 1000000000))
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO tally_hour (metric, hour, key, n)
        SELECT * FROM (SELECT 'invoice_paid', NEW.paid_at - (NEW.paid_at % 3600), 'n', 1
        UNION ALL SELECT 'invoice_paid', NEW.paid_at - (NEW.paid_at % 3600), 'billions', (NEW.amount_cents / 1000000000)
        UNION ALL SELECT 'invoice_paid', NEW.paid_at - (NEW.paid_at % 3600), 'units', (NEW.amount_cents % 1000000000))
        WHERE NEW.paid_at IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO tally_second (metric, at, key, n)
        SELECT * FROM (SELECT 'invoice_paid', NEW.paid_at, 'n', 1
        UNION ALL SELECT 'invoice_paid', NEW.paid_at, 'billions', (NEW.amount_cents / 1000000000)
        UNION ALL SELECT 'invoice_paid', NEW.paid_at, 'units', (NEW.amount_cents % 1000000000))
        WHERE NEW.paid_at IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER invoice_tally_created_update AFTER UPDATE OF amount_cents, created_at ON invoice
WHEN OLD.amount_cents <> NEW.amount_cents OR OLD.created_at <> NEW.created_at BEGIN
    INSERT INTO tally_hour (metric, hour, key, n)
    VALUES ('invoice_created', OLD.created_at - (OLD.created_at % 3600), 'n', -1),
           ('invoice_created', OLD.created_at - (OLD.created_at % 3600), 'billions', -(OLD.amount_cents / 1000000000)),
           ('invoice_created', OLD.created_at - (OLD.created_at % 3600), 'units', -(OLD.amount_cents % 1000000000))
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO tally_second (metric, at, key, n)
    VALUES ('invoice_created', OLD.created_at, 'n', -1),
           ('invoice_created', OLD.created_at, 'billions', -(OLD.amount_cents / 1000000000)),
           ('invoice_created', OLD.created_at, 'units', -(OLD.amount_cents % 1000000000))
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO tally_hour (metric, hour, key, n)
    VALUES ('invoice_created', NEW.created_at - (NEW.created_at % 3600), 'n', 1),
           ('invoice_created', NEW.created_at - (NEW.created_at % 3600), 'billions', (NEW.amount_cents / 1000000000)),
           ('invoice_created', NEW.created_at - (NEW.created_at % 3600), 'units', (NEW.amount_cents % 1000000000))
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO tally_second (metric, at, key, n)
    VALUES ('invoice_created', NEW.created_at, 'n', 1),
           ('invoice_created', NEW.created_at, 'billions', (NEW.amount_cents / 1000000000)),
           ('invoice_created', NEW.created_at, 'units', (NEW.amount_cents % 1000000000))
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER invoice_tally_paid_update AFTER UPDATE OF amount_cents, paid_at ON invoice
WHEN OLD.amount_cents <> NEW.amount_cents OR OLD.paid_at IS NOT NEW.paid_at BEGIN
    INSERT INTO tally_hour (metric, hour, key, n)
        SELECT * FROM (SELECT 'invoice_paid', OLD.paid_at - (OLD.paid_at % 3600), 'n', -1
        UNION ALL SELECT 'invoice_paid', OLD.paid_at - (OLD.paid_at % 3600), 'billions', -(OLD.amount_cents / 1000000000)
        UNION ALL SELECT 'invoice_paid', OLD.paid_at - (OLD.paid_at % 3600), 'units', -(OLD.amount_cents % 1000000000))
        WHERE OLD.paid_at IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO tally_second (metric, at, key, n)
        SELECT * FROM (SELECT 'invoice_paid', OLD.paid_at, 'n', -1
        UNION ALL SELECT 'invoice_paid', OLD.paid_at, 'billions', -(OLD.amount_cents / 1000000000)
        UNION ALL SELECT 'invoice_paid', OLD.paid_at, 'units', -(OLD.amount_cents % 1000000000))
        WHERE OLD.paid_at IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO tally_hour (metric, hour, key, n)
        SELECT * FROM (SELECT 'invoice_paid', NEW.paid_at - (NEW.paid_at % 3600), 'n', 1
        UNION ALL SELECT 'invoice_paid', NEW.paid_at - (NEW.paid_at % 3600), 'billions', (NEW.amount_cents / 1000000000)
        UNION ALL SELECT 'invoice_paid', NEW.paid_at - (NEW.paid_at % 3600), 'units', (NEW.amount_cents % 1000000000))
        WHERE NEW.paid_at IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO tally_second (metric, at, key, n)
        SELECT * FROM (SELECT 'invoice_paid', NEW.paid_at, 'n', 1
        UNION ALL SELECT 'invoice_paid', NEW.paid_at, 'billions', (NEW.amount_cents / 1000000000)
        UNION ALL SELECT 'invoice_paid', NEW.paid_at, 'units', (NEW.amount_cents % 1000000000))
        WHERE NEW.paid_at IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER invoice_tally_delete AFTER DELETE ON invoice BEGIN
    INSERT INTO tally_hour (metric, hour, key, n)
    VALUES ('invoice_created', OLD.created_at - (OLD.created_at % 3600), 'n', -1),
           ('invoice_created', OLD.created_at - (OLD.created_at % 3600), 'billions', -(OLD.amount_cents / 1000000000)),
           ('invoice_created', OLD.created_at - (OLD.created_at % 3600), 'units', -(OLD.amount_cents % 1000000000))
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO tally_second (metric, at, key, n)
    VALUES ('invoice_created', OLD.created_at, 'n', -1),
           ('invoice_created', OLD.created_at, 'billions', -(OLD.amount_cents / 1000000000)),
           ('invoice_created', OLD.created_at, 'units', -(OLD.amount_cents % 1000000000))
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO tally_hour (metric, hour, key, n)
        SELECT * FROM (SELECT 'invoice_paid', OLD.paid_at - (OLD.paid_at % 3600), 'n', -1
        UNION ALL SELECT 'invoice_paid', OLD.paid_at - (OLD.paid_at % 3600), 'billions', -(OLD.amount_cents / 1000000000)
        UNION ALL SELECT 'invoice_paid', OLD.paid_at - (OLD.paid_at % 3600), 'units', -(OLD.amount_cents % 1000000000))
        WHERE OLD.paid_at IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO tally_second (metric, at, key, n)
        SELECT * FROM (SELECT 'invoice_paid', OLD.paid_at, 'n', -1
        UNION ALL SELECT 'invoice_paid', OLD.paid_at, 'billions', -(OLD.amount_cents / 1000000000)
        UNION ALL SELECT 'invoice_paid', OLD.paid_at, 'units', -(OLD.amount_cents % 1000000000))
        WHERE OLD.paid_at IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
END;

-- What is already there.
INSERT INTO tally_hour (metric, hour, key, n)
    SELECT 'invoice_created', created_at - (created_at % 3600), 'n', COUNT(*) FROM invoice GROUP BY created_at - (created_at % 3600)
    UNION ALL SELECT 'invoice_created', created_at - (created_at % 3600), 'billions', SUM(amount_cents / 1000000000) FROM invoice GROUP BY created_at - (created_at % 3600)
    UNION ALL SELECT 'invoice_created', created_at - (created_at % 3600), 'units', SUM(amount_cents % 1000000000) FROM invoice GROUP BY created_at - (created_at % 3600);
INSERT INTO tally_second (metric, at, key, n)
    SELECT 'invoice_created', created_at, 'n', COUNT(*) FROM invoice GROUP BY created_at
    UNION ALL SELECT 'invoice_created', created_at, 'billions', SUM(amount_cents / 1000000000) FROM invoice GROUP BY created_at
    UNION ALL SELECT 'invoice_created', created_at, 'units', SUM(amount_cents % 1000000000) FROM invoice GROUP BY created_at;
INSERT INTO tally_hour (metric, hour, key, n)
    SELECT 'invoice_paid', paid_at - (paid_at % 3600), 'n', COUNT(*) FROM invoice WHERE paid_at IS NOT NULL GROUP BY paid_at - (paid_at % 3600)
    UNION ALL SELECT 'invoice_paid', paid_at - (paid_at % 3600), 'billions', SUM(amount_cents / 1000000000) FROM invoice WHERE paid_at IS NOT NULL GROUP BY paid_at - (paid_at % 3600)
    UNION ALL SELECT 'invoice_paid', paid_at - (paid_at % 3600), 'units', SUM(amount_cents % 1000000000) FROM invoice WHERE paid_at IS NOT NULL GROUP BY paid_at - (paid_at % 3600);
INSERT INTO tally_second (metric, at, key, n)
    SELECT 'invoice_paid', paid_at, 'n', COUNT(*) FROM invoice WHERE paid_at IS NOT NULL GROUP BY paid_at
    UNION ALL SELECT 'invoice_paid', paid_at, 'billions', SUM(amount_cents / 1000000000) FROM invoice WHERE paid_at IS NOT NULL GROUP BY paid_at
    UNION ALL SELECT 'invoice_paid', paid_at, 'units', SUM(amount_cents % 1000000000) FROM invoice WHERE paid_at IS NOT NULL GROUP BY paid_at;
