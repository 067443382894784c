-- An address hoss ever emailed is never emailed again by another lead's
-- first step (SPEC §4.5): the reservation looks the recipient up in the
-- ledger and among contacted leads, inside its transaction.
CREATE INDEX send_ledger_outreach_recipient ON send_ledger (recipient)
    WHERE kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain');
-- The unique index on lead (email) skips `invalid` leads; these few get
-- their own, so a lookup by address finds every lead without a second
-- million-entry index to keep up on every insert.
CREATE INDEX lead_email_invalid ON lead (email) WHERE status = 'invalid';
