//! The customer's mail about an invoice in the send ledger (SPEC §16):
//! kinds `invoice` (step 1 the first notice, then the operator's re-sends),
//! `reminder` (step: its day after the due date) and `receipt` (step 1).
//! Like outreach, a real send is a reservation, the send, then
//! `outbox::finish`; the unique index `send_ledger_invoice_once_uq` makes a
//! second claim of the same (invoice, kind, step) impossible while one is
//! reserved, sent or uncertain. None of it counts toward the outreach caps.

use serde::Serialize;

use super::{Db, StoreResult, params};

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
pub fn settled(db: Db<'_>, invoice_id: i64, kind: MailKind, step: i64) -> StoreResult<bool> {
    db.query_row(
        &format!(
            "SELECT EXISTS (SELECT 1 FROM send_ledger INDEXED BY send_ledger_invoice
             WHERE invoice_id = ?1 AND kind = ?2 AND step >= ?3 AND {SETTLED})"
        ),
        params![invoice_id, kind.as_str(), step],
        |r| r.get(0),
    )
}

/// Whether a notice of the open invoice (with its payment link) is
/// settled.
pub fn open_notice_settled(db: Db<'_>, invoice_id: i64) -> StoreResult<bool> {
    db.query_row(
        &format!(
            "SELECT EXISTS (SELECT 1 FROM send_ledger INDEXED BY send_ledger_invoice
             WHERE invoice_id = ?1 AND kind = 'invoice' AND variant = 'open' AND {SETTLED})"
        ),
        params![invoice_id],
        |r| r.get(0),
    )
}

/// Whether hoss told the customer about the invoice (a notice that was
/// sent, or may have been): only then do reminders and a receipt follow.
pub fn announced(db: Db<'_>, invoice_id: i64) -> StoreResult<bool> {
    db.query_row(
        "SELECT EXISTS (SELECT 1 FROM send_ledger INDEXED BY send_ledger_invoice
         WHERE invoice_id = ?1 AND kind = 'invoice' AND outcome IN ('sent', 'uncertain'))",
        params![invoice_id],
        |r| r.get(0),
    )
}

/// The step a new mail of `kind` about the invoice takes (an operator's
/// re-send, a notice after the draft's): after every one so far.
pub fn next_step(db: Db<'_>, invoice_id: i64, kind: MailKind) -> StoreResult<i64> {
    db.query_row(
        "SELECT COALESCE(MAX(step), 0) + 1 FROM send_ledger INDEXED BY send_ledger_invoice
         WHERE invoice_id = ?1 AND kind = ?2",
        params![invoice_id, kind.as_str()],
        |r| r.get(0),
    )
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
/// tries again. The new row's id comes back by `RETURNING` (both stores),
/// so a refused claim returns no row rather than an older row's id. (`?1`
/// is cast in the CASE: PostgreSQL would deduce it as text there.)
pub fn record(
    db: Db<'_>,
    a: &Attempt<'_>,
    outcome: &str,
    error: Option<&str>,
    transient: bool,
    now: i64,
) -> StoreResult<Option<i64>> {
    db.query_opt(
        "INSERT INTO send_ledger
         (at, hour_start, kind, invoice_id, step, recipient, mode, outcome, error, transient, variant, finished_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, CASE WHEN ?8 = 'reserved' THEN NULL ELSE CAST(?1 AS BIGINT) END)
         ON CONFLICT DO NOTHING RETURNING id",
        params![
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
        ],
        |r| r.get(0),
    )
}

/// Sets the Message-ID of a reserved send before it goes.
pub fn set_message_id(db: Db<'_>, ledger_id: i64, message_id: &str) -> StoreResult<()> {
    db.execute(
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
pub fn history(db: Db<'_>, invoice_id: i64) -> StoreResult<Vec<Sent>> {
    db.query_all(
        "SELECT at, kind, step, recipient, subject, mode, outcome, error
         FROM send_ledger INDEXED BY send_ledger_invoice WHERE invoice_id = ?1 ORDER BY at, id",
        params![invoice_id],
        |r| {
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
        },
    )
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

/// The latest failure per invoice and kind: SQLite takes the bare columns
/// from the row of `MAX(s.at)` (the first such row it meets: the lowest id);
/// PostgreSQL refuses bare columns beside an aggregate, so its twin picks
/// the same row with `DISTINCT ON` (latest first, then the lowest id).
const PROBLEMS: &str =
    "SELECT s.invoice_id, s.kind, s.recipient, s.outcome, COALESCE(s.error, ''), MAX(s.at)
     FROM send_ledger s INDEXED BY send_ledger_invoice
     WHERE s.invoice_id IS NOT NULL AND s.at >= ?1 AND s.outcome IN ('failed', 'suppressed')
       AND NOT EXISTS (SELECT 1 FROM send_ledger t INDEXED BY send_ledger_invoice
                       WHERE t.invoice_id = s.invoice_id AND t.kind = s.kind
                         AND t.outcome IN ('sent', 'uncertain') AND t.at >= s.at)
     GROUP BY s.invoice_id, s.kind ORDER BY s.invoice_id, s.kind";
const PROBLEMS_POSTGRES: &str = "SELECT DISTINCT ON (s.invoice_id, s.kind)
         s.invoice_id, s.kind, s.recipient, s.outcome, COALESCE(s.error, ''), s.at
     FROM send_ledger s
     WHERE s.invoice_id IS NOT NULL AND s.at >= ?1 AND s.outcome IN ('failed', 'suppressed')
       AND NOT EXISTS (SELECT 1 FROM send_ledger t
                       WHERE t.invoice_id = s.invoice_id AND t.kind = s.kind
                         AND t.outcome IN ('sent', 'uncertain') AND t.at >= s.at)
     ORDER BY s.invoice_id, s.kind, s.at DESC, s.id";

/// Mail about an invoice that could not go since `since` and has not gone
/// since (the latest attempt per invoice and kind).
pub fn problems_since(db: Db<'_>, since: i64) -> StoreResult<Vec<Undelivered>> {
    db.query_all(db.pick(PROBLEMS, PROBLEMS_POSTGRES), params![since], |r| {
        Ok(Undelivered {
            invoice_id: r.get(0)?,
            kind: r.get(1)?,
            recipient: r.get(2)?,
            outcome: r.get(3)?,
            error: r.get(4)?,
        })
    })
}

/// The id above which invoices are announced on their own (those made
/// before this version never were).
pub fn announce_after_id(db: Db<'_>) -> StoreResult<i64> {
    Ok(db
        .query_opt(
            "SELECT value FROM hoss_state WHERE key = 'invoice_mail_after_id'",
            params![],
            |r| r.get::<String>(0),
        )?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// How old a draft may be to be announced on its own.
pub const DRAFT_NOTICE_WINDOW_SECS: i64 = 30 * 86_400;

/// Invoices hoss may announce on its own at `now`, oldest first: made by
/// this version (id above the mark, not imported), open and not yet due
/// (an invoice that fell due unannounced, while `INVOICE_EMAILS` was OFF,
/// is the operator's to send), or a draft of the last 30 days.
pub fn candidates(db: Db<'_>, after_id: i64, now: i64) -> StoreResult<Vec<i64>> {
    db.query_all(
        "SELECT id FROM invoice
         WHERE status IN ('open', 'draft') AND id > ?1 AND legacy_id IS NULL
           AND (due_at IS NULL OR due_at > ?2)
           AND (status = 'open' OR created_at >= ?2 - ?3)
         ORDER BY id",
        params![after_id, now, DRAFT_NOTICE_WINDOW_SECS],
        |r| r.get(0),
    )
}

/// Unpaid invoices (open, or drafts announced with the payment
/// instructions) due before `now`, announced, oldest due first.
pub fn overdue_announced(db: Db<'_>, now: i64) -> StoreResult<Vec<(i64, i64)>> {
    db.query_all(
        "SELECT i.id, i.due_at FROM invoice i INDEXED BY invoice_unpaid_due
         WHERE i.status IN ('draft', 'open') AND i.due_at IS NOT NULL AND i.due_at < ?1
           AND EXISTS (SELECT 1 FROM send_ledger s INDEXED BY send_ledger_invoice
                       WHERE s.invoice_id = i.id AND s.kind = 'invoice' AND s.outcome IN ('sent', 'uncertain'))
         ORDER BY i.due_at, i.id",
        params![now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Invoices paid since `since`, announced, without a settled receipt.
pub fn paid_without_receipt(db: Db<'_>, since: i64) -> StoreResult<Vec<i64>> {
    db.query_all(
        &format!(
            "SELECT i.id FROM invoice i WHERE i.status = 'paid' AND i.paid_at >= ?1
               AND EXISTS (SELECT 1 FROM send_ledger s INDEXED BY send_ledger_invoice
                           WHERE s.invoice_id = i.id AND s.kind = 'invoice' AND s.outcome IN ('sent', 'uncertain'))
               AND NOT EXISTS (SELECT 1 FROM send_ledger s INDEXED BY send_ledger_invoice
                           WHERE s.invoice_id = i.id AND s.kind = 'receipt' AND {SETTLED})
             ORDER BY i.paid_at, i.id"
        ),
        params![since],
        |r| r.get(0),
    )
}

/// When an invoice is due: set once, when it opens or is first announced.
pub fn set_due(db: Db<'_>, invoice_id: i64, due_at: i64) -> StoreResult<()> {
    db.execute(
        "UPDATE invoice SET due_at = ?2 WHERE id = ?1 AND due_at IS NULL",
        params![invoice_id, due_at],
    )?;
    Ok(())
}

/// Takes back the due date `due_at` a draft's notice started when that
/// notice did not go: a draft no notice reached has no due date (it is
/// neither reminded nor overdue).
pub fn unset_due(db: Db<'_>, invoice_id: i64, due_at: i64) -> StoreResult<()> {
    db.execute(
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
pub fn approve(db: Db<'_>, invoice_id: i64, now: i64) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE invoice SET approved_at = ?2 WHERE id = ?1 AND status = 'draft'",
        params![invoice_id, now],
    )? == 1)
}

/// An invoice's due date and approval.
pub fn terms(db: Db<'_>, invoice_id: i64) -> StoreResult<(Option<i64>, Option<i64>)> {
    Ok(db
        .query_opt(
            "SELECT due_at, approved_at FROM invoice WHERE id = ?1",
            params![invoice_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .unwrap_or((None, None)))
}

/// The task lines of an invoice: description and amount, in billing order.
pub fn lines(db: Db<'_>, invoice_id: i64) -> StoreResult<Vec<(String, i64)>> {
    db.query_all(
        "SELECT description, amount_cents FROM task WHERE invoice_id = ?1 ORDER BY id",
        params![invoice_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A customer, invoice 1 (open, due at 1000, made at 10) with two task
    /// lines, invoice 2 (a draft made at 20) and invoice 3 (paid at 500).
    fn setup(db: Db<'_>) {
        db.execute_batch(
            "INSERT INTO customer (id, company, contact_email, created_at) VALUES (1, 'C', 'c@c.example', 0);
             INSERT INTO invoice (id, customer_id, amount_cents, currency, status, created_at, due_at) VALUES
               (1, 1, 1250, 'usd', 'open', 10, 1000), (2, 1, 300, 'usd', 'draft', 20, NULL),
               (3, 1, 700, 'usd', 'open', 30, 900);
             UPDATE invoice SET status = 'paid', paid_at = 500 WHERE id = 3;
             INSERT INTO task (customer_id, description, status, amount_cents, created_at, invoice_id) VALUES
               (1, 'b', 'done', 250, 0, 1), (1, 'a', 'done', 1000, 0, 1);",
        )
        .unwrap();
    }

    fn attempt(invoice_id: i64, kind: MailKind, step: i64, status: &str) -> Attempt<'_> {
        Attempt {
            invoice_id,
            kind,
            step,
            recipient: "c@c.example",
            mode: "SMTP",
            status,
        }
    }

    #[test]
    fn a_claim_is_taken_once_and_settles_its_step() {
        crate::db::on_each_store(|db| {
            setup(db);
            let a = attempt(1, MailKind::Invoice, FIRST, "open");
            assert!(!settled(db, 1, MailKind::Invoice, FIRST).unwrap());
            assert_eq!(next_step(db, 1, MailKind::Invoice).unwrap(), 1);
            let id = record(db, &a, "reserved", None, false, 100)
                .unwrap()
                .unwrap();
            // The unique index refuses a second claim: no row, not an old id.
            assert_eq!(record(db, &a, "reserved", None, false, 101).unwrap(), None);
            assert!(settled(db, 1, MailKind::Invoice, FIRST).unwrap());
            assert!(open_notice_settled(db, 1).unwrap());
            assert!(!announced(db, 1).unwrap(), "reserved is not told yet");
            set_message_id(db, id, "m1@x").unwrap();
            db.execute(
                "UPDATE send_ledger SET outcome = 'sent', subject = 'Invoice 1', finished_at = 102 WHERE id = ?1",
                params![id],
            )
            .unwrap();
            assert!(announced(db, 1).unwrap());
            assert_eq!(next_step(db, 1, MailKind::Invoice).unwrap(), 2);
            // A transient failure is tried again; a permanent one is settled.
            let r = attempt(1, MailKind::Reminder, 3, "open");
            let failed = record(db, &r, "failed", Some("busy"), true, 103).unwrap();
            assert!(failed.is_some());
            assert!(!settled(db, 1, MailKind::Reminder, 3).unwrap());
            record(db, &r, "failed", Some("refused"), false, 104).unwrap();
            assert!(settled(db, 1, MailKind::Reminder, 3).unwrap());
            assert!(!settled(db, 1, MailKind::Reminder, 4).unwrap());
            let mails = history(db, 1).unwrap();
            assert_eq!(
                mails
                    .iter()
                    .map(|m| (m.at.0, m.kind.as_str(), m.step, m.outcome.as_str()))
                    .collect::<Vec<_>>(),
                [
                    (100, "invoice", 1, "sent"),
                    (103, "reminder", 3, "failed"),
                    (104, "reminder", 3, "failed")
                ]
            );
            assert_eq!(mails[0].subject, "Invoice 1");
            let finished: Vec<Option<i64>> = db
                .query_all(
                    "SELECT finished_at FROM send_ledger ORDER BY id",
                    params![],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(finished, [Some(102), Some(103), Some(104)]);
        });
    }

    #[test]
    fn the_latest_failure_per_invoice_and_kind_until_a_mail_goes() {
        // The PostgreSQL twin (DISTINCT ON) picks the row SQLite's bare
        // columns beside MAX(at) give.
        crate::db::on_each_store(|db| {
            setup(db);
            let to = |recipient| Attempt {
                recipient,
                ..attempt(1, MailKind::Reminder, 1, "open")
            };
            record(db, &to("old@x"), "failed", Some("first"), false, 100).unwrap();
            record(db, &to("new@x"), "suppressed", Some("second"), false, 200).unwrap();
            record(db, &to("tie@x"), "failed", None, false, 200).unwrap();
            let other = attempt(3, MailKind::Receipt, 1, "paid");
            record(db, &other, "failed", Some("gone"), false, 150).unwrap();
            let problems = problems_since(db, 0).unwrap();
            assert_eq!(
                problems,
                [
                    Undelivered {
                        invoice_id: 1,
                        kind: "reminder".into(),
                        recipient: "new@x".into(),
                        outcome: "suppressed".into(),
                        error: "second".into(),
                    },
                    Undelivered {
                        invoice_id: 3,
                        kind: "receipt".into(),
                        recipient: "c@c.example".into(),
                        outcome: "failed".into(),
                        error: "gone".into(),
                    }
                ]
            );
            // Only failures since `since` count.
            assert!(problems_since(db, 201).unwrap().is_empty());
            // A mail that went after the failure clears it.
            let went = Attempt {
                step: 2,
                ..attempt(1, MailKind::Reminder, 1, "open")
            };
            record(db, &went, "sent", None, false, 300).unwrap();
            assert_eq!(
                problems_since(db, 0)
                    .unwrap()
                    .iter()
                    .map(|u| u.invoice_id)
                    .collect::<Vec<_>>(),
                [3]
            );
        });
    }

    #[test]
    fn candidates_reminders_receipts_and_terms() {
        crate::db::on_each_store(|db| {
            setup(db);
            assert_eq!(announce_after_id(db).unwrap(), 0);
            // Open and not yet due, and the draft made within 30 days.
            assert_eq!(candidates(db, 0, 999).unwrap(), [1, 2]);
            assert_eq!(candidates(db, 1, 999).unwrap(), [2]);
            assert_eq!(candidates(db, 0, 1000).unwrap(), [2], "due is not before");
            assert_eq!(
                candidates(db, 0, 20 + DRAFT_NOTICE_WINDOW_SECS + 1).unwrap(),
                Vec::<i64>::new()
            );
            // Overdue and paid invoices follow only an announcement.
            assert!(overdue_announced(db, 2000).unwrap().is_empty());
            assert!(paid_without_receipt(db, 0).unwrap().is_empty());
            for id in [1, 3] {
                let status = if id == 1 { "open" } else { "paid" };
                record(
                    db,
                    &attempt(id, MailKind::Invoice, FIRST, status),
                    "sent",
                    None,
                    false,
                    50,
                )
                .unwrap();
            }
            assert!(overdue_announced(db, 1000).unwrap().is_empty());
            assert_eq!(overdue_announced(db, 1001).unwrap(), [(1, 1000)]);
            assert_eq!(paid_without_receipt(db, 0).unwrap(), [3]);
            assert!(paid_without_receipt(db, 501).unwrap().is_empty());
            record(
                db,
                &attempt(3, MailKind::Receipt, FIRST, "paid"),
                "sent",
                None,
                false,
                600,
            )
            .unwrap();
            assert!(paid_without_receipt(db, 0).unwrap().is_empty());

            // A draft's due date: set once, taken back only while no notice
            // to it is reserved, sent or uncertain.
            assert_eq!(terms(db, 2).unwrap(), (None, None));
            set_due(db, 2, 5000).unwrap();
            set_due(db, 2, 6000).unwrap();
            assert_eq!(terms(db, 2).unwrap().0, Some(5000));
            unset_due(db, 2, 4000).unwrap();
            assert_eq!(terms(db, 2).unwrap().0, Some(5000), "another due date");
            record(
                db,
                &attempt(2, MailKind::Invoice, FIRST, "draft"),
                "reserved",
                None,
                false,
                70,
            )
            .unwrap();
            unset_due(db, 2, 5000).unwrap();
            assert_eq!(terms(db, 2).unwrap().0, Some(5000), "a notice may go");
            db.execute(
                "UPDATE send_ledger SET outcome = 'failed' WHERE invoice_id = 2",
                params![],
            )
            .unwrap();
            unset_due(db, 2, 5000).unwrap();
            assert_eq!(terms(db, 2).unwrap().0, None);

            assert!(approve(db, 2, 80).unwrap());
            assert!(!approve(db, 1, 80).unwrap(), "only a draft");
            assert_eq!(terms(db, 2).unwrap(), (None, Some(80)));
            assert_eq!(terms(db, 99).unwrap(), (None, None));
            assert_eq!(
                lines(db, 1).unwrap(),
                [("b".to_string(), 250), ("a".to_string(), 1000)]
            );
        });
    }
}
