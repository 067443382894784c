-- hoss V12 for PostgreSQL: the twin of migrations/V12__invoice_mail.sql.
ALTER TABLE invoice ADD COLUMN due_at BIGINT;
ALTER TABLE invoice ADD COLUMN approved_at BIGINT;
UPDATE invoice SET due_at = created_at + 14 * 86400 WHERE status = 'open';
CREATE INDEX invoice_unpaid_due ON invoice (due_at) WHERE status IN ('draft', 'open') AND due_at IS NOT NULL;

-- The send ledger takes the customer's mail. PostgreSQL widens the CHECK
-- in place (no rebuild: indexes and triggers stay).
ALTER TABLE send_ledger DROP CONSTRAINT send_ledger_kind_check;
ALTER TABLE send_ledger ADD CONSTRAINT send_ledger_kind_check
    CHECK (kind IN ('outreach', 'test', 'summary', 'invoice', 'reminder', 'receipt'));
ALTER TABLE send_ledger ADD COLUMN invoice_id BIGINT REFERENCES invoice (id);
ALTER TABLE send_ledger ADD CONSTRAINT send_ledger_invoice_id_kind_check
    CHECK ((invoice_id IS NOT NULL) = (kind IN ('invoice', 'reminder', 'receipt')));

CREATE UNIQUE INDEX send_ledger_invoice_once_uq ON send_ledger (invoice_id, kind, step)
    WHERE invoice_id IS NOT NULL AND outcome IN ('reserved', 'sent', 'uncertain');
CREATE INDEX send_ledger_invoice ON send_ledger (invoice_id, at) WHERE invoice_id IS NOT NULL;

INSERT INTO hoss_state (key, value)
    SELECT 'invoice_mail_after_id', CAST(COALESCE(MAX(id), 0) AS TEXT) FROM invoice;
