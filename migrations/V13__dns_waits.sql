-- SPEC §15: a domain DNS gave no answer about (a timeout, a refusal) is
-- not asked again for an hour: its leads wait without a question, and a
-- pass moves on to the leads behind them instead of stalling on the same
-- dead name servers every time. Never a verdict: an answer clears it.
CREATE TABLE dns_wait (
    domain TEXT PRIMARY KEY,
    until  INTEGER NOT NULL,
    reason TEXT NOT NULL
) WITHOUT ROWID;
