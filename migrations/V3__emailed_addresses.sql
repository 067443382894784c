-- An address hoss ever emailed is never emailed again by another lead's
-- first step (SPEC §4.5): the reservation looks the recipient up in the
-- ledger and among contacted leads, inside its transaction.
CREATE INDEX send_ledger_outreach_recipient ON send_ledger (recipient)
    WHERE kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain');
-- Every lead by address, whatever its status (the unique index skips
-- `invalid` ones): lookups by email and the check above.
CREATE INDEX lead_email ON lead (email);
