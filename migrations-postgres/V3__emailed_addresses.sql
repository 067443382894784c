-- hoss V3 for PostgreSQL: the twin of migrations/V3__emailed_addresses.sql.
CREATE INDEX send_ledger_outreach_recipient ON send_ledger (recipient)
    WHERE kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain');
CREATE INDEX lead_email_invalid ON lead (email) WHERE status = 'invalid';
