-- hoss V1: the whole domain of SPEC §4–8. Never edit this file once landed;
-- add V2__… instead. Times are INTEGER unix seconds (UTC); money is INTEGER
-- minor units beside its ISO currency; every status column has a CHECK.

CREATE TABLE customer (
    id              INTEGER PRIMARY KEY,
    company         TEXT    NOT NULL,
    contact_name    TEXT,
    contact_email   TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'paused', 'churned')),
    -- NULL only for rows imported without one; generated on first use.
    public_token    TEXT    UNIQUE CHECK (public_token IS NULL OR length(public_token) >= 22),
    -- the id in the Python HossAgent database it was imported from
    legacy_id       INTEGER UNIQUE,
    created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX customer_contact_email_uq ON customer (contact_email);

CREATE TABLE lead (
    id                  INTEGER PRIMARY KEY,
    name                TEXT,
    email               TEXT    NOT NULL CHECK (email = lower(trim(email)) AND email LIKE '%_@_%'),
    company             TEXT    NOT NULL DEFAULT '',
    -- company folded for comparison (lower case, no punctuation or legal suffix)
    company_key         TEXT    NOT NULL DEFAULT '',
    -- lower-cased host of the website (else of the email), without www.
    domain              TEXT    NOT NULL DEFAULT '',
    website             TEXT,
    niche               TEXT,
    source              TEXT    NOT NULL,
    status              TEXT    NOT NULL DEFAULT 'new'
                        CHECK (status IN ('new', 'contacted', 'responded', 'qualified', 'converted',
                                          'email_failed', 'unsubscribed', 'dead', 'invalid')),
    transient_failures  INTEGER NOT NULL DEFAULT 0 CHECK (transient_failures >= 0),
    status_reason       TEXT,
    -- the /unsubscribe/<token> of this lead's emails, made at first send
    unsubscribe_token   TEXT    UNIQUE,
    -- the id in the Python HossAgent database it was imported from
    legacy_id           INTEGER UNIQUE,
    customer_id         INTEGER REFERENCES customer (id),
    created_at          INTEGER NOT NULL,
    last_contacted_at   INTEGER
);
-- Dedupe is the database's job (SPEC §5): concurrent passes cannot race past it.
CREATE UNIQUE INDEX lead_email_uq ON lead (email) WHERE status <> 'invalid';
CREATE UNIQUE INDEX lead_company_domain_uq ON lead (company_key, domain)
    WHERE status <> 'invalid' AND company_key <> '' AND domain <> '';
CREATE INDEX lead_status_id ON lead (status, id);
CREATE INDEX lead_created_source ON lead (created_at, source);

-- Leads per status, kept exact by triggers so `status` answers in O(1) on
-- millions of leads (SPEC §11) instead of counting an index.
CREATE TABLE lead_status_count (
    status  TEXT    PRIMARY KEY,
    n       INTEGER NOT NULL DEFAULT 0
);
INSERT INTO lead_status_count (status) VALUES ('new'), ('contacted'), ('responded'), ('qualified'),
    ('converted'), ('email_failed'), ('unsubscribed'), ('dead'), ('invalid');
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

-- Every send attempt of every kind: the hour counter, at-most-once and digests.
CREATE TABLE send_ledger (
    id                  INTEGER PRIMARY KEY,
    at                  INTEGER NOT NULL,
    -- start of the UTC clock hour of `at`, the unit of MAX_EMAILS_PER_HOUR
    hour_start          INTEGER NOT NULL,
    kind                TEXT    NOT NULL CHECK (kind IN ('outreach', 'test', 'summary')),
    lead_id             INTEGER REFERENCES lead (id) ON DELETE SET NULL,
    step                INTEGER NOT NULL DEFAULT 1,
    recipient           TEXT    NOT NULL,
    subject             TEXT    NOT NULL DEFAULT '',
    mode                TEXT    NOT NULL CHECK (mode IN ('DRY_RUN', 'SENDGRID', 'SMTP')),
    outcome             TEXT    NOT NULL
                        CHECK (outcome IN ('reserved', 'sent', 'failed', 'dry_run', 'throttled',
                                           'suppressed', 'uncertain')),
    transient           INTEGER NOT NULL DEFAULT 0 CHECK (transient IN (0, 1)),
    error               TEXT,
    provider_message_id TEXT,
    finished_at         INTEGER
);
-- At most once per lead and outreach step: a live reservation, a send or an
-- uncertain hand-over blocks any second real attempt.
CREATE UNIQUE INDEX send_ledger_once_uq ON send_ledger (lead_id, step)
    WHERE kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain');
CREATE INDEX send_ledger_hour ON send_ledger (hour_start, outcome);
CREATE INDEX send_ledger_at ON send_ledger (at, kind, outcome);
CREATE INDEX send_ledger_reserved ON send_ledger (outcome, at) WHERE outcome = 'reserved';
CREATE INDEX send_ledger_uncertain ON send_ledger (id) WHERE outcome = 'uncertain';

CREATE TABLE lead_source_run (
    id          INTEGER PRIMARY KEY,
    provider    TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    result      TEXT    CHECK (result IS NULL OR result IN ('OK', 'API_ERROR', 'NO_CREDS', 'FALLBACK')),
    fetched     INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL DEFAULT 0,
    deduped     INTEGER NOT NULL DEFAULT 0,
    invalid     INTEGER NOT NULL DEFAULT 0,
    error       TEXT
);

CREATE TABLE invoice (
    id                      INTEGER PRIMARY KEY,
    customer_id             INTEGER NOT NULL REFERENCES customer (id),
    amount_cents            INTEGER NOT NULL CHECK (amount_cents >= 0),
    currency                TEXT    NOT NULL CHECK (length(currency) = 3 AND currency = lower(currency)),
    status                  TEXT    NOT NULL DEFAULT 'draft'
                            CHECK (status IN ('draft', 'open', 'paid', 'void')),
    payment_url             TEXT,
    stripe_price_id         TEXT,
    stripe_payment_link_id  TEXT    UNIQUE,
    link_active             INTEGER NOT NULL DEFAULT 0 CHECK (link_active IN (0, 1)),
    link_error              TEXT,
    out_of_range_logged     INTEGER NOT NULL DEFAULT 0 CHECK (out_of_range_logged IN (0, 1)),
    paid_via                TEXT    CHECK (paid_via IS NULL OR paid_via IN ('webhook', 'reconcile', 'manual', 'legacy')),
    legacy_id               INTEGER UNIQUE,
    created_at              INTEGER NOT NULL,
    paid_at                 INTEGER,
    voided_at               INTEGER,
    CHECK ((status = 'paid') = (paid_at IS NOT NULL)),
    -- hoss stores a payment URL only with the link it made; imported
    -- invoices keep the URL their customers already hold
    CHECK (payment_url IS NULL OR stripe_payment_link_id IS NOT NULL OR legacy_id IS NOT NULL)
);
CREATE INDEX invoice_status ON invoice (status, amount_cents);
CREATE INDEX invoice_customer ON invoice (customer_id, id);
CREATE INDEX invoice_created ON invoice (created_at, amount_cents);
CREATE INDEX invoice_paid_at ON invoice (paid_at, amount_cents) WHERE paid_at IS NOT NULL;
-- What status and summary warn about, without walking every draft.
CREATE INDEX invoice_out_of_range ON invoice (id) WHERE status = 'draft' AND out_of_range_logged = 1;
CREATE INDEX invoice_link_error ON invoice (id) WHERE status = 'draft' AND link_error IS NOT NULL;
-- A paid invoice never goes back.
CREATE TRIGGER invoice_paid_is_final BEFORE UPDATE OF status ON invoice
    WHEN OLD.status = 'paid' AND NEW.status <> 'paid'
BEGIN
    SELECT RAISE(ABORT, 'a paid invoice cannot change status');
END;

CREATE TABLE task (
    id              INTEGER PRIMARY KEY,
    customer_id     INTEGER NOT NULL REFERENCES customer (id),
    description     TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'done', 'failed')),
    amount_cents    INTEGER NOT NULL CHECK (amount_cents >= 0),
    cost_cents      INTEGER CHECK (cost_cents IS NULL OR cost_cents >= 0),
    result_summary  TEXT,
    error           TEXT,
    -- the invoice that billed this task; set once, in the invoice's transaction
    invoice_id      INTEGER REFERENCES invoice (id),
    legacy_id       INTEGER UNIQUE,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    completed_at    INTEGER,
    CHECK (invoice_id IS NULL OR status = 'done')
);
CREATE INDEX task_customer ON task (customer_id, id);
CREATE INDEX task_unbilled ON task (customer_id) WHERE status = 'done' AND invoice_id IS NULL;
CREATE INDEX task_status ON task (status);
CREATE INDEX task_invoice ON task (invoice_id) WHERE invoice_id IS NOT NULL;
-- A billed task stays billed by the same invoice.
CREATE TRIGGER task_billed_is_final BEFORE UPDATE OF invoice_id, status ON task
    WHEN OLD.invoice_id IS NOT NULL
     AND (NEW.invoice_id IS NOT OLD.invoice_id OR NEW.status <> 'done')
BEGIN
    SELECT RAISE(ABORT, 'a billed task cannot be changed');
END;

-- This database's random identity: part of every Stripe idempotency key, so
-- a restored or recreated database never reuses another one's keys.
CREATE TABLE install (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    install_id  TEXT    NOT NULL
);
INSERT INTO install (id, install_id) VALUES (1, lower(hex(randomblob(8))));

-- Verified Stripe events by id: replay protection and the webhook panel.
CREATE TABLE stripe_event (
    event_id    TEXT    PRIMARY KEY,
    type        TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('applied', 'ignored', 'error')),
    invoice_id  INTEGER,
    reason      TEXT,
    -- a payment that did not fit its invoice: shown in status and the digest
    needs_attention INTEGER NOT NULL DEFAULT 0 CHECK (needs_attention IN (0, 1))
);
CREATE INDEX stripe_event_received ON stripe_event (received_at);
CREATE INDEX stripe_event_attention ON stripe_event (received_at) WHERE needs_attention = 1;

CREATE TABLE suppression (
    email       TEXT    PRIMARY KEY CHECK (email = lower(trim(email))),
    reason      TEXT    NOT NULL CHECK (reason IN ('unsubscribe', 'bounce', 'complaint', 'manual')),
    note        TEXT,
    created_at  INTEGER NOT NULL
);

-- The operator log, capped at LOG_MAX_ENTRIES rows.
CREATE TABLE event_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    level   TEXT    NOT NULL CHECK (level IN ('ERROR', 'WARN', 'INFO', 'DEBUG', 'TRACE')),
    tag     TEXT    NOT NULL,
    message TEXT    NOT NULL
);
CREATE INDEX event_log_tag ON event_log (tag, id);

-- One row per command run, capped at LOG_MAX_ENTRIES rows.
CREATE TABLE command_run (
    id          INTEGER PRIMARY KEY,
    command     TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    outcome     TEXT    NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'ok', 'busy', 'error')),
    exit_code   INTEGER,
    report      TEXT
);
CREATE INDEX command_run_command ON command_run (command, id);
