-- hoss V7 for PostgreSQL: the twin of migrations/V7__invoice_totals.sql.
-- Invoices by status and their amounts (whole billions, and the rest),
-- kept by triggers.
CREATE TABLE invoice_status_total (
    status TEXT   PRIMARY KEY,
    n      BIGINT NOT NULL,
    high   BIGINT NOT NULL,
    low    BIGINT NOT NULL
);

INSERT INTO invoice_status_total (status, n, high, low)
    SELECT status, COUNT(*), COALESCE(SUM(amount_cents / 1000000000), 0),
           COALESCE(SUM(amount_cents % 1000000000), 0)
    FROM invoice GROUP BY status;

CREATE FUNCTION invoice_total_add(p_status TEXT, p_amount BIGINT) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO invoice_status_total (status, n, high, low)
        VALUES (p_status, 1, p_amount / 1000000000, p_amount % 1000000000)
        ON CONFLICT (status) DO UPDATE
        SET n = invoice_status_total.n + 1,
            high = invoice_status_total.high + excluded.high,
            low = invoice_status_total.low + excluded.low;
$$;

CREATE FUNCTION invoice_total_sub(p_status TEXT, p_amount BIGINT) RETURNS void
LANGUAGE sql AS $$
    UPDATE invoice_status_total
        SET n = n - 1, high = high - p_amount / 1000000000, low = low - p_amount % 1000000000
        WHERE status = p_status;
$$;

CREATE FUNCTION invoice_total_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM invoice_total_add(NEW.status, NEW.amount_cents);
    RETURN NULL;
END $$;
CREATE TRIGGER invoice_total_insert AFTER INSERT ON invoice
    FOR EACH ROW EXECUTE FUNCTION invoice_total_insert();

CREATE FUNCTION invoice_total_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM invoice_total_sub(OLD.status, OLD.amount_cents);
    RETURN NULL;
END $$;
CREATE TRIGGER invoice_total_delete AFTER DELETE ON invoice
    FOR EACH ROW EXECUTE FUNCTION invoice_total_delete();

CREATE FUNCTION invoice_total_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM invoice_total_sub(OLD.status, OLD.amount_cents);
    PERFORM invoice_total_add(NEW.status, NEW.amount_cents);
    RETURN NULL;
END $$;
CREATE TRIGGER invoice_total_update AFTER UPDATE OF status, amount_cents ON invoice
    FOR EACH ROW WHEN (OLD.status <> NEW.status OR OLD.amount_cents <> NEW.amount_cents)
    EXECUTE FUNCTION invoice_total_update();
