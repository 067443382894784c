-- What comes back (SPEC §13): replies, bounces, complaints and opt-outs,
-- from the inbox (IMAP) and from SendGrid (events and suppression lists).

-- A lead gains the status `replied` (set only by reply detection) and a
-- reply token for plus-addressed Reply-To. A CHECK cannot be altered in
-- SQLite: the table is rebuilt (hoss runs migrations with foreign keys
-- off, so send_ledger's references survive the swap), with its indexes
-- and triggers recreated exactly as V1, V3 and V4 made them.
CREATE TABLE lead_v8 (
    id                  INTEGER PRIMARY KEY,
    name                TEXT,
    email               TEXT    NOT NULL CHECK (email = lower(trim(email)) AND email LIKE '%_@_%'),
    company             TEXT    NOT NULL DEFAULT '',
    company_key         TEXT    NOT NULL DEFAULT '',
    domain              TEXT    NOT NULL DEFAULT '',
    website             TEXT,
    niche               TEXT,
    source              TEXT    NOT NULL,
    status              TEXT    NOT NULL DEFAULT 'new'
                        CHECK (status IN ('new', 'contacted', 'replied', 'responded', 'qualified',
                                          'converted', 'email_failed', 'unsubscribed', 'dead',
                                          'invalid')),
    transient_failures  INTEGER NOT NULL DEFAULT 0 CHECK (transient_failures >= 0),
    status_reason       TEXT,
    unsubscribe_token   TEXT    UNIQUE,
    legacy_id           INTEGER UNIQUE,
    customer_id         INTEGER REFERENCES customer (id),
    created_at          INTEGER NOT NULL,
    last_contacted_at   INTEGER,
    -- the `h<token>` of `local+h<token>@domain` (REPLY_TO_PLUS_TOKEN), made
    -- at first send; never the lead's id
    reply_token         TEXT    UNIQUE,
    -- an auto-reply named a return date: no next step before this time
    not_before          INTEGER
);
INSERT INTO lead_v8 (id, name, email, company, company_key, domain, website, niche, source, status,
                     transient_failures, status_reason, unsubscribe_token, legacy_id, customer_id,
                     created_at, last_contacted_at)
    SELECT id, name, email, company, company_key, domain, website, niche, source, status,
           transient_failures, status_reason, unsubscribe_token, legacy_id, customer_id,
           created_at, last_contacted_at
    FROM lead;
DROP TABLE lead;
ALTER TABLE lead_v8 RENAME TO lead;

CREATE UNIQUE INDEX lead_email_uq ON lead (email) WHERE status <> 'invalid';
CREATE UNIQUE INDEX lead_company_domain_uq ON lead (company_key, domain)
    WHERE status <> 'invalid' AND company_key <> '' AND domain <> '';
CREATE INDEX lead_status_id ON lead (status, id);
CREATE INDEX lead_created_source ON lead (created_at, source);
CREATE INDEX lead_email_invalid ON lead (email) WHERE status = 'invalid';
CREATE INDEX lead_domain ON lead (domain) WHERE domain <> '';

INSERT INTO lead_status_count (status) VALUES ('replied');
CREATE TRIGGER lead_count_insert AFTER INSERT ON lead BEGIN
    UPDATE lead_status_count SET n = n + 1 WHERE status = NEW.status;
END;
CREATE TRIGGER lead_count_delete AFTER DELETE ON lead BEGIN
    UPDATE lead_status_count SET n = n - 1 WHERE status = OLD.status;
END;
CREATE TRIGGER lead_count_update AFTER UPDATE OF status ON lead WHEN OLD.status <> NEW.status BEGIN
    UPDATE lead_status_count SET n = n - 1 WHERE status = OLD.status;
    UPDATE lead_status_count SET n = n + 1 WHERE status = NEW.status;
END;
CREATE TRIGGER lead_tally AFTER INSERT ON lead BEGIN
    INSERT INTO tally_hour (metric, hour, key, n)
        VALUES ('lead', NEW.created_at - (NEW.created_at % 3600), NEW.source, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO tally_second (metric, at, key, n)
        VALUES ('lead', NEW.created_at, NEW.source, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- The Message-ID hoss put on each message, so a reply's In-Reply-To or a
-- bounce's quoted headers find the send (and its lead).
ALTER TABLE send_ledger ADD COLUMN message_id TEXT;
CREATE INDEX send_ledger_message_id ON send_ledger (message_id) WHERE message_id IS NOT NULL;

-- Where each IMAP folder was read up to.
CREATE TABLE inbox_state (
    folder          TEXT    PRIMARY KEY,
    uid_validity    INTEGER NOT NULL,
    last_uid        INTEGER NOT NULL DEFAULT 0,
    last_sync_at    INTEGER NOT NULL
);

-- Everything that came back, once each (`source_key`: the Message-ID, else
-- a hash of the headers; the SendGrid event id; or list:address:created).
CREATE TABLE inbox_message (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    source      TEXT    NOT NULL CHECK (source IN ('imap', 'sendgrid_event', 'sendgrid_pull')),
    source_key  TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL
                CHECK (kind IN ('reply', 'auto_reply', 'bounce', 'opt_out', 'complaint', 'unmatched')),
    -- for bounces: hard (5.x.x), soft (4.x.x, delayed) or blocked (SendGrid)
    bounce      TEXT    CHECK (bounce IS NULL OR bounce IN ('hard', 'soft', 'blocked')),
    lead_id     INTEGER REFERENCES lead (id) ON DELETE SET NULL,
    -- the address the message concerns (the bounced recipient, the sender)
    address     TEXT,
    from_addr   TEXT,
    subject     TEXT    NOT NULL DEFAULT '',
    -- what hoss did: `lead 7 → replied`, `suppressed`, `nothing`
    action      TEXT    NOT NULL DEFAULT 'nothing',
    detail      TEXT
);
CREATE INDEX inbox_message_at ON inbox_message (at);
CREATE INDEX inbox_message_kind_at ON inbox_message (kind, at);
CREATE INDEX inbox_message_soft ON inbox_message (address, at) WHERE bounce = 'soft';

-- SendGrid suppression lists are read from a cursor (SPEC §13).
CREATE TABLE sendgrid_cursor (
    list        TEXT    PRIMARY KEY,
    start_time  INTEGER NOT NULL
);

-- A company domain that answered: its other leads are held (SPEC §13).
CREATE TABLE domain_hold (
    domain      TEXT    PRIMARY KEY,
    until       INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    lead_id     INTEGER REFERENCES lead (id) ON DELETE SET NULL,
    at          INTEGER NOT NULL
);

-- The outreach switch: a row with `resumed_at` NULL is a pause in force.
CREATE TABLE email_pause (
    id          INTEGER PRIMARY KEY,
    paused_at   INTEGER NOT NULL,
    source      TEXT    NOT NULL CHECK (source IN ('auto', 'operator')),
    reason      TEXT    NOT NULL,
    resumed_at  INTEGER
);
CREATE UNIQUE INDEX email_pause_one_in_force ON email_pause ((1)) WHERE resumed_at IS NULL;
