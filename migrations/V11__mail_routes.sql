-- SPEC §15: where each domain takes mail, as DNS last answered. Read before
-- a real send; an answer older than 7 days is asked again. Only answers are
-- kept: a timeout or a server failure is not an answer.
CREATE TABLE mail_route (
    domain     TEXT PRIMARY KEY,
    accepts    INTEGER NOT NULL CHECK (accepts IN (0, 1)),
    detail     TEXT NOT NULL,
    checked_at INTEGER NOT NULL
) WITHOUT ROWID;
