//! The customer's mail about an invoice in the send ledger (SPEC §16):
//! kinds `invoice` (step 1 the first notice, then the operator's re-sends),
//! `reminder` (step: its day after the due date) and `receipt` (step 1).
//! Like outreach, a real send is a reservation, the send, then
//! `outbox::finish`; the unique index `send_ledger_invoice_once_uq` makes a
//! second claim of the same (invoice, kind, step) impossible while one is
//! reserved, sent or uncertain. None of it counts toward the outreach caps.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::clock::{Timestamp, hour_start};

/// The kinds of the customer's mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailKind {
    Invoice,
    Reminder,
    Receipt,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Invoice => "invoice",
            MailKind::Reminder => "reminder",
            MailKind::Receipt => "receipt",
        }
    }
}

/// The step of the first notice and of the receipt.
pub const FIRST: i64 = 1;

/// Outcomes after which a step is not tried again on its own: it went (or
/// may have), was refused for good, or was suppressed. A transient failure
/// and a DRY_RUN simulation are tried again by the next pass.
const SETTLED: &str = "(outcome IN ('reserved', 'sent', 'uncertain', 'suppressed')
     OR (outcome = 'failed' AND transient = 0))";

/// Whether (invoice, kind, step) is settled.
pub fn settled(
    conn: &Connection,
    invoice_id: i64,
    kind: MailKind,
    step: i64,
) -> rusqlite::Result<bool> {
    conn.prepare_cached(&format!(
        "SELECT EXISTS (SELECT 1 FROM send_ledger INDEXED BY send_ledger_invoice
         WHERE invoice_id = ?1 AND kind = ?2 AND step >= ?3 AND {SETTLED})"
    ))?
    .query_row(params![invoice_id, kind.as_str(), step], |r| r.get(0))
}

/// Whether a notice of the open invoice (with its payment link) is
/// settled.
pub fn open_notice_settled(conn: &Connection, invoice_id: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached(&format!(
        "SELECT EXISTS (SELECT 1 FROM send_ledger INDEXED BY send_ledger_invoice
         WHERE invoice_id = ?1 AND kind = 'invoice' AND variant = 'open' AND {SETTLED})"
    ))?
    .query_row([invoice_id], |r| r.get(0))
}

/// Whether hoss told the customer about the invoice (a notice that was
/// sent, or may have been): only then do reminders and a receipt follow.
pub fn announced(conn: &Connection, invoice_id: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM send_ledger INDEXED BY send_ledger_invoice
         WHERE invoice_id = ?1 AND kind = 'invoice' AND outcome IN ('sent', 'uncertain'))",
    )?
    .query_row([invoice_id], |r| r.get(0))
}

/// The step a new mail of `kind` about the invoice takes (an operator's
/// re-send, a notice after the draft's): after every one so far.
pub fn next_step(conn: &Connection, invoice_id: i64, kind: MailKind) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COALESCE(MAX(step), 0) + 1 FROM send_ledger INDEXED BY send_ledger_invoice
         WHERE invoice_id = ?1 AND kind = ?2",
    )?
    .query_row(params![invoice_id, kind.as_str()], |r| r.get(0))
}

/// One mail about an invoice, before its outcome.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub invoice_id: i64,
    pub kind: MailKind,
    pub step: i64,
    pub recipient: &'a str,
    pub mode: &'a str,
    /// The invoice's status when it was sent (`draft`, `open`, `paid`): a
    /// notice sent to a draft is followed by one with the payment link
    /// once the invoice opens.
    pub status: &'a str,
}

/// Records an attempt with its outcome (`reserved` for a claim, which the
/// unique index may refuse: `None`). `transient`: a failure the next pass
/// tries again.
pub fn record(
    conn: &Connection,
    a: &Attempt<'_>,
    outcome: &str,
    error: Option<&str>,
    transient: bool,
    now: i64,
) -> rusqlite::Result<Option<i64>> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO send_ledger
             (at, hour_start, kind, invoice_id, step, recipient, mode, outcome, error, transient, variant, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, CASE WHEN ?8 = 'reserved' THEN NULL ELSE ?1 END)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            now,
            hour_start(now),
            a.kind.as_str(),
            a.invoice_id,
            a.step,
            a.recipient,
            a.mode,
            outcome,
            error,
            transient,
            a.status
        ])?;
    Ok((inserted == 1).then(|| conn.last_insert_rowid()))
}

/// Sets the Message-ID of a reserved send before it goes.
pub fn set_message_id(conn: &Connection, ledger_id: i64, message_id: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE send_ledger SET message_id = ?2 WHERE id = ?1",
        params![ledger_id, message_id],
    )?;
    Ok(())
}

/// One mail about an invoice, as `invoice show` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Sent {
    pub at: Timestamp,
    pub kind: String,
    pub step: i64,
    pub to: String,
    pub subject: String,
    pub mode: String,
    pub outcome: String,
    pub error: Option<String>,
}

/// Every mail about `invoice_id`, oldest first.
pub fn history(conn: &Connection, invoice_id: i64) -> rusqlite::Result<Vec<Sent>> {
    conn.prepare_cached(
        "SELECT at, kind, step, recipient, subject, mode, outcome, error
         FROM send_ledger INDEXED BY send_ledger_invoice WHERE invoice_id = ?1 ORDER BY at, id",
    )?
    .query_map([invoice_id], |r| {
        Ok(Sent {
            at: r.get(0)?,
            kind: r.get(1)?,
            step: r.get(2)?,
            to: r.get(3)?,
            subject: r.get(4)?,
            mode: r.get(5)?,
            outcome: r.get(6)?,
            error: r.get(7)?,
        })
    })?
    .collect()
}

/// Mail about an invoice that could not go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    pub invoice_id: i64,
    pub kind: String,
    pub recipient: String,
    pub outcome: String,
    pub error: String,
}

/// Mail about an invoice that could not go since `since` and has not gone
/// since (the latest attempt per invoice and kind).
pub fn problems_since(conn: &Connection, since: i64) -> rusqlite::Result<Vec<Undelivered>> {
    conn.prepare_cached(
        "SELECT s.invoice_id, s.kind, s.recipient, s.outcome, COALESCE(s.error, ''), MAX(s.at)
         FROM send_ledger s INDEXED BY send_ledger_invoice
         WHERE s.invoice_id IS NOT NULL AND s.at >= ?1 AND s.outcome IN ('failed', 'suppressed')
           AND NOT EXISTS (SELECT 1 FROM send_ledger t INDEXED BY send_ledger_invoice
                           WHERE t.invoice_id = s.invoice_id AND t.kind = s.kind
                             AND t.outcome IN ('sent', 'uncertain') AND t.at >= s.at)
         GROUP BY s.invoice_id, s.kind ORDER BY s.invoice_id, s.kind",
    )?
    .query_map([since], |r| {
        Ok(Undelivered {
            invoice_id: r.get(0)?,
            kind: r.get(1)?,
            recipient: r.get(2)?,
            outcome: r.get(3)?,
            error: r.get(4)?,
        })
    })?
    .collect()
}

/// The id above which invoices are announced on their own (those made
/// before this version never were).
pub fn announce_after_id(conn: &Connection) -> rusqlite::Result<i64> {
    Ok(conn
        .prepare_cached("SELECT value FROM hoss_state WHERE key = 'invoice_mail_after_id'")?
        .query_row([], |r| r.get::<_, String>(0))
        .optional()?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// How old a draft may be to be announced on its own.
pub const DRAFT_NOTICE_WINDOW_SECS: i64 = 30 * 86_400;

/// Invoices hoss may announce on its own at `now`, oldest first: made by
/// this version (id above the mark, not imported), open and not yet due
/// (an invoice that fell due unannounced, while `INVOICE_EMAILS` was OFF,
/// is the operator's to send), or a draft of the last 30 days.
pub fn candidates(conn: &Connection, after_id: i64, now: i64) -> rusqlite::Result<Vec<i64>> {
    conn.prepare_cached(
        "SELECT id FROM invoice
         WHERE status IN ('open', 'draft') AND id > ?1 AND legacy_id IS NULL
           AND (due_at IS NULL OR due_at > ?2)
           AND (status = 'open' OR created_at >= ?2 - ?3)
         ORDER BY id",
    )?
    .query_map(params![after_id, now, DRAFT_NOTICE_WINDOW_SECS], |r| {
        r.get(0)
    })?
    .collect()
}

/// Unpaid invoices (open, or drafts announced with the payment
/// instructions) due before `now`, announced, oldest due first.
pub fn overdue_announced(conn: &Connection, now: i64) -> rusqlite::Result<Vec<(i64, i64)>> {
    conn.prepare_cached(
        "SELECT i.id, i.due_at FROM invoice i INDEXED BY invoice_unpaid_due
         WHERE i.status IN ('draft', 'open') AND i.due_at IS NOT NULL AND i.due_at < ?1
           AND EXISTS (SELECT 1 FROM send_ledger s INDEXED BY send_ledger_invoice
                       WHERE s.invoice_id = i.id AND s.kind = 'invoice' AND s.outcome IN ('sent', 'uncertain'))
         ORDER BY i.due_at, i.id",
    )?
    .query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

/// Invoices paid since `since`, announced, without a settled receipt.
pub fn paid_without_receipt(conn: &Connection, since: i64) -> rusqlite::Result<Vec<i64>> {
    conn.prepare_cached(&format!(
        "SELECT i.id FROM invoice i WHERE i.status = 'paid' AND i.paid_at >= ?1
           AND EXISTS (SELECT 1 FROM send_ledger s INDEXED BY send_ledger_invoice
                       WHERE s.invoice_id = i.id AND s.kind = 'invoice' AND s.outcome IN ('sent', 'uncertain'))
           AND NOT EXISTS (SELECT 1 FROM send_ledger s INDEXED BY send_ledger_invoice
                       WHERE s.invoice_id = i.id AND s.kind = 'receipt' AND {SETTLED})
         ORDER BY i.paid_at, i.id"
    ))?
    .query_map([since], |r| r.get(0))?
    .collect()
}

/// When an invoice is due: set once, when it opens or is first announced.
pub fn set_due(conn: &Connection, invoice_id: i64, due_at: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE invoice SET due_at = ?2 WHERE id = ?1 AND due_at IS NULL",
        params![invoice_id, due_at],
    )?;
    Ok(())
}

/// Takes back the due date `due_at` a draft's notice started when that
/// notice did not go: a draft no notice reached has no due date (it is
/// neither reminded nor overdue).
pub fn unset_due(conn: &Connection, invoice_id: i64, due_at: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE invoice SET due_at = NULL
         WHERE id = ?1 AND status = 'draft' AND due_at = ?2
           AND NOT EXISTS (SELECT 1 FROM send_ledger INDEXED BY send_ledger_invoice
                           WHERE invoice_id = ?1 AND kind = 'invoice'
                             AND outcome IN ('reserved', 'sent', 'uncertain'))",
        params![invoice_id, due_at],
    )?;
    Ok(())
}

/// The operator's approval of one invoice above `STRIPE_MAX_AMOUNT`.
pub fn approve(conn: &Connection, invoice_id: i64, now: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE invoice SET approved_at = ?2 WHERE id = ?1 AND status = 'draft'",
        params![invoice_id, now],
    )? == 1)
}

/// An invoice's due date and approval.
pub fn terms(conn: &Connection, invoice_id: i64) -> rusqlite::Result<(Option<i64>, Option<i64>)> {
    Ok(conn
        .prepare_cached("SELECT due_at, approved_at FROM invoice WHERE id = ?1")?
        .query_row([invoice_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((None, None)))
}

/// The task lines of an invoice: description and amount, in billing order.
pub fn lines(conn: &Connection, invoice_id: i64) -> rusqlite::Result<Vec<(String, i64)>> {
    conn.prepare_cached(
        "SELECT description, amount_cents FROM task WHERE invoice_id = ?1 ORDER BY id",
    )?
    .query_map([invoice_id], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}
