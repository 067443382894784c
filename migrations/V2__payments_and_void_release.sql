-- hoss V2: money fixes.
--
-- 1. The Checkout Session that paid an invoice is stored on it, so a replay
--    of that session (under any event id) is a duplicate, while a different
--    paid session is a second payment to refund.
-- 2. Every paid session hoss acted on — applied, or raised because it did
--    not fit (paid twice, void invoice, mismatch, not from a hoss link) — is
--    kept here for good: stripe_event rows are pruned after
--    LEDGER_RETENTION_DAYS, a record of money received must not be.
-- 3. Voiding an invoice releases its tasks to be billed again, unless the
--    invoice is written off (`invoice void --write-off`).

ALTER TABLE invoice ADD COLUMN paid_session_id TEXT;
CREATE UNIQUE INDEX invoice_paid_session_uq ON invoice (paid_session_id)
    WHERE paid_session_id IS NOT NULL;
ALTER TABLE invoice ADD COLUMN written_off INTEGER NOT NULL DEFAULT 0
    CHECK (written_off IN (0, 1));

CREATE TABLE stripe_session (
    session_id      TEXT    PRIMARY KEY,
    invoice_id      INTEGER REFERENCES invoice (id),
    -- applied: paid its invoice; the others need the operator
    outcome         TEXT    NOT NULL
                    CHECK (outcome IN ('applied', 'paid_twice', 'mismatch', 'not_hoss_link')),
    amount_cents    INTEGER,
    currency        TEXT,
    payment_link    TEXT,
    event_id        TEXT,
    reason          TEXT,
    received_at     INTEGER NOT NULL
);
CREATE INDEX stripe_session_attention ON stripe_session (received_at) WHERE outcome <> 'applied';

-- A billed task stays billed by the same invoice, except that a void invoice
-- that was not written off gives its tasks back (to be billed again).
DROP TRIGGER task_billed_is_final;
CREATE TRIGGER task_billed_is_final BEFORE UPDATE OF invoice_id, status ON task
    WHEN OLD.invoice_id IS NOT NULL
     AND (NEW.invoice_id IS NOT OLD.invoice_id OR NEW.status <> 'done')
     AND NOT (NEW.invoice_id IS NULL AND NEW.status = 'done'
              AND EXISTS (SELECT 1 FROM invoice
                          WHERE id = OLD.invoice_id AND status = 'void' AND written_off = 0))
BEGIN
    SELECT RAISE(ABORT, 'a billed task cannot be changed');
END;
