-- hoss V15 for PostgreSQL: the twin of migrations/V15__invoice_tallies.sql.
-- Invoices made and paid, in the V4 tallies ('invoice_created' at
-- created_at, 'invoice_paid' at paid_at; keys 'n', 'billions', 'units'),
-- kept by triggers as signed deltas.
CREATE FUNCTION hoss_invoice_tally(p_metric TEXT, p_at BIGINT, p_amount BIGINT, p_sign BIGINT)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO tally_hour (metric, hour, key, n)
        VALUES (p_metric, p_at - (p_at % 3600), 'n', p_sign),
               (p_metric, p_at - (p_at % 3600), 'billions', p_sign * (p_amount / 1000000000)),
               (p_metric, p_at - (p_at % 3600), 'units', p_sign * (p_amount % 1000000000))
        ON CONFLICT (metric, hour, key) DO UPDATE SET n = tally_hour.n + excluded.n;
    INSERT INTO tally_second (metric, at, key, n)
        VALUES (p_metric, p_at, 'n', p_sign),
               (p_metric, p_at, 'billions', p_sign * (p_amount / 1000000000)),
               (p_metric, p_at, 'units', p_sign * (p_amount % 1000000000))
        ON CONFLICT (metric, at, key) DO UPDATE SET n = tally_second.n + excluded.n;
$$;

CREATE FUNCTION invoice_tally_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hoss_invoice_tally('invoice_created', NEW.created_at, NEW.amount_cents, 1);
    IF NEW.paid_at IS NOT NULL THEN
        PERFORM hoss_invoice_tally('invoice_paid', NEW.paid_at, NEW.amount_cents, 1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER invoice_tally_insert AFTER INSERT ON invoice
    FOR EACH ROW EXECUTE FUNCTION invoice_tally_insert();

CREATE FUNCTION invoice_tally_created_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hoss_invoice_tally('invoice_created', OLD.created_at, OLD.amount_cents, -1);
    PERFORM hoss_invoice_tally('invoice_created', NEW.created_at, NEW.amount_cents, 1);
    RETURN NULL;
END $$;
CREATE TRIGGER invoice_tally_created_update AFTER UPDATE OF amount_cents, created_at ON invoice
    FOR EACH ROW WHEN (OLD.amount_cents <> NEW.amount_cents OR OLD.created_at <> NEW.created_at)
    EXECUTE FUNCTION invoice_tally_created_update();

CREATE FUNCTION invoice_tally_paid_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.paid_at IS NOT NULL THEN
        PERFORM hoss_invoice_tally('invoice_paid', OLD.paid_at, OLD.amount_cents, -1);
    END IF;
    IF NEW.paid_at IS NOT NULL THEN
        PERFORM hoss_invoice_tally('invoice_paid', NEW.paid_at, NEW.amount_cents, 1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER invoice_tally_paid_update AFTER UPDATE OF amount_cents, paid_at ON invoice
    FOR EACH ROW WHEN (OLD.amount_cents <> NEW.amount_cents OR OLD.paid_at IS DISTINCT FROM NEW.paid_at)
    EXECUTE FUNCTION invoice_tally_paid_update();

CREATE FUNCTION invoice_tally_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hoss_invoice_tally('invoice_created', OLD.created_at, OLD.amount_cents, -1);
    IF OLD.paid_at IS NOT NULL THEN
        PERFORM hoss_invoice_tally('invoice_paid', OLD.paid_at, OLD.amount_cents, -1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER invoice_tally_delete AFTER DELETE ON invoice
    FOR EACH ROW EXECUTE FUNCTION invoice_tally_delete();

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
