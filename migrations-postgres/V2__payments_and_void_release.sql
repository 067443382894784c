-- hoss V2 for PostgreSQL: the twin of migrations/V2__payments_and_void_release.sql.

ALTER TABLE invoice ADD COLUMN paid_session_id TEXT;
CREATE UNIQUE INDEX invoice_paid_session_uq ON invoice (paid_session_id)
    WHERE paid_session_id IS NOT NULL;
ALTER TABLE invoice ADD COLUMN written_off BIGINT NOT NULL DEFAULT 0
    CHECK (written_off IN (0, 1));

CREATE TABLE stripe_session (
    session_id      TEXT    PRIMARY KEY,
    invoice_id      BIGINT  REFERENCES invoice (id),
    outcome         TEXT    NOT NULL
                    CHECK (outcome IN ('applied', 'paid_twice', 'mismatch', 'not_hoss_link')),
    amount_cents    BIGINT,
    currency        TEXT,
    payment_link    TEXT,
    event_id        TEXT,
    reason          TEXT,
    received_at     BIGINT  NOT NULL
);
CREATE INDEX stripe_session_attention ON stripe_session (received_at) WHERE outcome <> 'applied';

-- A billed task stays billed by the same invoice, except that a void invoice
-- that was not written off gives its tasks back. A trigger's WHEN cannot
-- hold a subquery in PostgreSQL: the EXISTS moves into the function.
DROP TRIGGER task_billed_is_final ON task;
CREATE OR REPLACE FUNCTION task_billed_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (NEW.invoice_id IS NULL AND NEW.status = 'done'
            AND EXISTS (SELECT 1 FROM invoice
                        WHERE id = OLD.invoice_id AND status = 'void' AND written_off = 0)) THEN
        RAISE EXCEPTION 'a billed task cannot be changed' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER task_billed_is_final BEFORE UPDATE OF invoice_id, status ON task
    FOR EACH ROW WHEN (OLD.invoice_id IS NOT NULL
                       AND (NEW.invoice_id IS DISTINCT FROM OLD.invoice_id OR NEW.status <> 'done'))
    EXECUTE FUNCTION task_billed_is_final();
