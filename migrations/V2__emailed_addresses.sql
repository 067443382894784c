-- An address hoss ever emailed is never emailed again by another lead's
-- first step (SPEC §4.5): the reservation looks the recipient up in the
-- ledger and among contacted leads, inside its transaction.
CREATE INDEX send_ledger_outreach_recipient ON send_ledger (recipient)
    WHERE kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain');
CREATE INDEX lead_contacted_email ON lead (email) WHERE last_contacted_at IS NOT NULL;
