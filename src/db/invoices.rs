//! The `invoice` and `stripe_event` tables: billing as a ledger. An invoice
//! and the links from its tasks are written in one transaction; a paid
//! invoice never changes status again (a trigger enforces it).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Db, StoreResult, Value, params};

use crate::clock::Timestamp;
use crate::domain::status::InvoiceStatus;
use crate::money::Cents;

/// An invoice as lists and `invoice show` give it (SPEC §12): the fields in
/// the contract's order, without the bookkeeping only `bill` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invoice {
    pub id: i64,
    pub customer_id: i64,
    pub amount_cents: Cents,
    pub currency: String,
    pub status: InvoiceStatus,
    pub payment_url: Option<String>,
    #[serde(skip)]
    pub stripe_price_id: Option<String>,
    pub stripe_payment_link_id: Option<String>,
    #[serde(skip)]
    pub link_active: bool,
    pub link_error: Option<String>,
    #[serde(skip)]
    pub out_of_range_logged: bool,
    pub paid_via: Option<String>,
    /// The Checkout Session that paid it, when paid through Stripe (webhook
    /// or reconciliation).
    pub paid_session_id: Option<String>,
    /// Voided with `--write-off`: its tasks stay tied to it.
    pub written_off: bool,
    pub created_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    /// When it is due (SPEC §16): set when it opens, or when a draft is
    /// announced; the portal shows it (`invoice show` reads it on its own).
    #[serde(skip)]
    pub due_at: Option<Timestamp>,
}

const COLUMNS: &str = "id, customer_id, amount_cents, currency, status, payment_url, stripe_price_id,
    stripe_payment_link_id, link_active, link_error, out_of_range_logged, paid_via, created_at, paid_at,
    paid_session_id, written_off, due_at";

/// `SUM(column)` that cannot overflow: SQLite raises "integer overflow"
/// past i64, so the sum is taken in two parts (billions and the rest, each
/// far from overflowing) and joined exactly in an `i128`. Each part is cast
/// to BIGINT: PostgreSQL's `SUM` of a BIGINT is NUMERIC (on SQLite the cast
/// changes nothing).
fn split_sum(column: &str) -> String {
    format!(
        "COALESCE(CAST(SUM({column} / 1000000000) AS BIGINT), 0), COALESCE(CAST(SUM({column} % 1000000000) AS BIGINT), 0)"
    )
}

pub(crate) fn join_sum(high: i64, low: i64) -> i128 {
    i128::from(high) * 1_000_000_000 + i128::from(low)
}

fn row(r: &super::Row<'_>) -> StoreResult<Invoice> {
    Ok(Invoice {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        amount_cents: r.get(2)?,
        currency: r.get(3)?,
        status: r.get(4)?,
        payment_url: r.get(5)?,
        stripe_price_id: r.get(6)?,
        stripe_payment_link_id: r.get(7)?,
        link_active: r.get(8)?,
        link_error: r.get(9)?,
        out_of_range_logged: r.get(10)?,
        paid_via: r.get(11)?,
        created_at: r.get(12)?,
        paid_at: r.get(13)?,
        paid_session_id: r.get(14)?,
        written_off: r.get(15)?,
        due_at: r.get(16)?,
    })
}

/// What billing a customer's unbilled work came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Billed {
    Nothing,
    /// (invoice id, amount, tasks linked)
    Invoice(i64, Cents, i64),
    /// The tasks add up to more than an invoice can hold; nothing was made.
    TooLarge {
        tasks: i64,
        total: i128,
    },
    /// Done work entered in another currency (task id, its currency): no
    /// invoice until the operator sorts it out.
    OtherCurrency {
        tasks: Vec<(i64, String)>,
    },
}

/// Bills a customer's done, unbilled, priced tasks as one invoice, in the
/// caller's transaction.
pub fn create_for_customer(
    db: Db<'_>,
    customer_id: i64,
    currency: &str,
    max_amount: Cents,
    now: i64,
) -> StoreResult<Billed> {
    // Work entered in another currency is never billed in this one: its
    // amount would be read in the wrong decimals.
    let foreign: Vec<(i64, String)> = db.query_all(
        "SELECT id, currency FROM task
         WHERE customer_id = ?1 AND status = 'done' AND invoice_id IS NULL AND amount_cents > 0
           AND currency IS NOT NULL AND currency <> ?2 ORDER BY id",
        params![customer_id, currency],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if !foreign.is_empty() {
        return Ok(Billed::OtherCurrency { tasks: foreign });
    }
    let (count, high, low): (i64, i64, i64) = db.query_row(
        &format!(
            "SELECT COUNT(*), {} FROM task
             WHERE customer_id = ?1 AND status = 'done' AND invoice_id IS NULL AND amount_cents > 0",
            split_sum("amount_cents")
        ),
        params![customer_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if count == 0 {
        return Ok(Billed::Nothing);
    }
    let total = join_sum(high, low);
    let Some(total) = crate::money::fit(total).filter(|t| *t <= max_amount) else {
        return Ok(Billed::TooLarge {
            tasks: count,
            total,
        });
    };
    let id = db.insert_id(
        "INSERT INTO invoice (customer_id, amount_cents, currency, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![customer_id, total, currency, now],
    )?;
    let linked = db.execute(
        "UPDATE task SET invoice_id = ?2
         WHERE customer_id = ?1 AND status = 'done' AND invoice_id IS NULL AND amount_cents > 0",
        params![customer_id, id],
    )?;
    debug_assert_eq!(linked as i64, count);
    Ok(Billed::Invoice(id, total, count))
}

/// This database's identity, the prefix of its Stripe idempotency keys.
pub fn install_id(db: Db<'_>) -> StoreResult<String> {
    db.query_row(
        "SELECT install_id FROM install WHERE id = 1",
        params![],
        |r| r.get(0),
    )
}

pub fn get(db: Db<'_>, id: i64) -> StoreResult<Option<Invoice>> {
    db.query_opt(
        &format!("SELECT {COLUMNS} FROM invoice WHERE id = ?1"),
        params![id],
        row,
    )
}

pub fn by_link(db: Db<'_>, link_id: &str) -> StoreResult<Option<Invoice>> {
    db.query_opt(
        &format!("SELECT {COLUMNS} FROM invoice WHERE stripe_payment_link_id = ?1"),
        params![link_id],
        row,
    )
}

/// Every invoice of the customers whose ids are `first..=last`, by customer
/// and then oldest first (the portal's pages, a batch at a time).
pub fn for_customers(db: Db<'_>, first: i64, last: i64) -> StoreResult<Vec<Invoice>> {
    db.query_all(
        &format!(
            "SELECT {COLUMNS} FROM invoice WHERE customer_id BETWEEN ?1 AND ?2 ORDER BY customer_id, id"
        ),
        params![first, last],
        row,
    )
}

pub fn list(
    db: Db<'_>,
    customer_id: Option<i64>,
    status: Option<InvoiceStatus>,
    page: super::Page,
) -> StoreResult<super::Listed<Invoice>> {
    let (filter, args) = super::where_equal(&[
        ("customer_id", customer_id.map(Into::into)),
        ("status", status.map(super::word)),
    ]);
    // `where_equal` gives rusqlite values (shared with files not moved):
    // integers and words only.
    let args = args
        .into_iter()
        .map(|v| match v {
            rusqlite::types::Value::Integer(n) => Value::Int(n),
            rusqlite::types::Value::Text(s) => Value::Text(s),
            rusqlite::types::Value::Real(f) => Value::Real(f),
            rusqlite::types::Value::Null | rusqlite::types::Value::Blob(_) => Value::Null,
        })
        .collect();
    super::page(
        db,
        COLUMNS,
        &format!("FROM invoice {filter}"),
        args,
        &["id"],
        page,
        row,
    )
}

/// Draft invoices that have no payment link yet.
pub fn needing_links(db: Db<'_>) -> StoreResult<Vec<Invoice>> {
    db.query_all(
        &format!(
            "SELECT {COLUMNS} FROM invoice WHERE status = 'draft' AND stripe_payment_link_id IS NULL ORDER BY id"
        ),
        params![],
        row,
    )
}

pub fn open_with_links(db: Db<'_>) -> StoreResult<Vec<Invoice>> {
    db.query_all(
        &format!(
            "SELECT {COLUMNS} FROM invoice WHERE status = 'open' AND stripe_payment_link_id IS NOT NULL ORDER BY id"
        ),
        params![],
        row,
    )
}

/// Paid or void invoices whose payment link may still accept money.
pub fn links_to_deactivate(db: Db<'_>) -> StoreResult<Vec<Invoice>> {
    db.query_all(
        &format!(
            "SELECT {COLUMNS} FROM invoice WHERE status IN ('paid', 'void') AND link_active = 1 ORDER BY id"
        ),
        params![],
        row,
    )
}

pub fn mark_out_of_range_logged(db: Db<'_>, id: i64) -> StoreResult<()> {
    db.execute(
        "UPDATE invoice SET out_of_range_logged = 1 WHERE id = ?1",
        params![id],
    )?;
    Ok(())
}

pub fn set_price(db: Db<'_>, id: i64, price_id: &str) -> StoreResult<()> {
    db.execute(
        "UPDATE invoice SET stripe_price_id = ?2 WHERE id = ?1",
        params![id, price_id],
    )?;
    Ok(())
}

/// Stores a created payment link; a draft becomes `open`. If the invoice
/// was voided or paid meanwhile, the link is still recorded (without its
/// URL) as active, so the next `bill` deactivates it. `true` when the
/// invoice is now open for payment.
/// Stores the link of a draft, which opens it, due at `due_at` (unless a
/// due date was set when it was announced as a draft).
pub fn set_link(db: Db<'_>, id: i64, link_id: &str, url: &str, due_at: i64) -> StoreResult<bool> {
    if db.execute(
        "UPDATE invoice SET stripe_payment_link_id = ?2, payment_url = ?3, link_active = 1, link_error = NULL,
             status = 'open', due_at = COALESCE(due_at, ?4)
         WHERE id = ?1 AND status = 'draft'",
        params![id, link_id, url, due_at],
    )? == 1
    {
        return Ok(true);
    }
    db.execute(
        "UPDATE invoice SET stripe_payment_link_id = ?2, link_active = 1
         WHERE id = ?1 AND stripe_payment_link_id IS NULL",
        params![id, link_id],
    )?;
    Ok(false)
}

pub fn set_link_error(db: Db<'_>, id: i64, error: Option<&str>) -> StoreResult<()> {
    db.execute(
        "UPDATE invoice SET link_error = ?2 WHERE id = ?1",
        params![id, error],
    )?;
    Ok(())
}

pub fn set_link_inactive(db: Db<'_>, id: i64) -> StoreResult<()> {
    db.execute(
        "UPDATE invoice SET link_active = 0 WHERE id = ?1",
        params![id],
    )?;
    Ok(())
}

/// `draft|open → paid`, with the Checkout Session that paid it (if any);
/// `false` when it was not payable.
pub fn mark_paid(
    db: Db<'_>,
    id: i64,
    via: &str,
    session_id: Option<&str>,
    now: i64,
) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE invoice SET status = 'paid', paid_at = ?2, paid_via = ?3, paid_session_id = ?4
         WHERE id = ?1 AND status IN ('draft', 'open')",
        params![id, now, via, session_id],
    )? == 1)
}

/// `draft|open → void`, in the caller's transaction. Its tasks are released
/// to be billed again, or kept tied to it when `write_off`. `None` when the
/// invoice was not voidable, else the number of tasks released.
pub fn void(db: Db<'_>, id: i64, write_off: bool, now: i64) -> StoreResult<Option<usize>> {
    if db.execute(
        "UPDATE invoice SET status = 'void', voided_at = ?2, written_off = ?3
         WHERE id = ?1 AND status IN ('draft', 'open')",
        params![id, now, write_off],
    )? != 1
    {
        return Ok(None);
    }
    if write_off {
        return Ok(Some(0));
    }
    Ok(Some(db.execute(
        "UPDATE task SET invoice_id = NULL WHERE invoice_id = ?1",
        params![id],
    )?))
}

pub fn count_by_status(db: Db<'_>) -> StoreResult<BTreeMap<String, i64>> {
    let mut counts: BTreeMap<String, i64> = InvoiceStatus::NAMES
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    // Kept by triggers (migration V7): four rows, however many invoices.
    let rows = db.query_all(
        "SELECT status, n FROM invoice_status_total",
        params![],
        |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
    )?;
    counts.extend(rows);
    Ok(counts)
}

/// Unpaid money: draft + open invoices, exact (see [`split_sum`]).
pub fn outstanding_cents(db: Db<'_>) -> StoreResult<i128> {
    db.query_row(
        "SELECT COALESCE(CAST(SUM(high) AS BIGINT), 0), COALESCE(CAST(SUM(low) AS BIGINT), 0)
         FROM invoice_status_total WHERE status IN ('draft', 'open')",
        params![],
        |r| Ok(join_sum(r.get(0)?, r.get(1)?)),
    )
}

/// Unpaid invoices (open, or drafts announced with a due date) past their
/// due date at `now` (`due_at < now`): (count, exact total, see
/// [`split_sum`]), read on the partial index `invoice_unpaid_due`, which
/// holds unpaid invoices with a due date only: the cost follows the overdue
/// invoices, never the whole table. Like [`outstanding_cents`], the
/// total is of every currency's minor units.
pub fn overdue(db: Db<'_>, now: i64) -> StoreResult<(i64, i128)> {
    db.query_row(
        &format!(
            "SELECT COUNT(*), {} FROM invoice INDEXED BY invoice_unpaid_due
             WHERE status IN ('draft', 'open') AND due_at IS NOT NULL AND due_at < ?1",
            split_sum("amount_cents")
        ),
        params![now],
        |r| Ok((r.get(0)?, join_sum(r.get(1)?, r.get(2)?))),
    )
}

/// An unpaid invoice that fell due, as the digest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FellDue {
    pub id: i64,
    pub company: String,
    pub amount_cents: Cents,
    pub currency: String,
    pub due_at: Timestamp,
}

/// Invoices still unpaid whose due date is in `[from, to)`: those that became
/// overdue between `from` and `to` (overdue is `due_at < now`), oldest due
/// first, at most `limit` of them, and how many there are in all. On the
/// partial index `invoice_unpaid_due`.
pub fn fell_due(db: Db<'_>, from: i64, to: i64, limit: u32) -> StoreResult<(Vec<FellDue>, i64)> {
    let rows: Vec<FellDue> = db.query_all(
        "SELECT i.id, COALESCE(c.company, ''), i.amount_cents, i.currency, i.due_at
         FROM invoice i INDEXED BY invoice_unpaid_due LEFT JOIN customer c ON c.id = i.customer_id
         WHERE i.status IN ('draft', 'open') AND i.due_at IS NOT NULL AND i.due_at >= ?1 AND i.due_at < ?2
         ORDER BY i.due_at, i.id LIMIT ?3",
        params![from, to, limit],
        |r| {
            Ok(FellDue {
                id: r.get(0)?,
                company: r.get(1)?,
                amount_cents: r.get(2)?,
                currency: r.get(3)?,
                due_at: r.get(4)?,
            })
        },
    )?;
    if rows.len() < limit as usize {
        let n = rows.len() as i64;
        return Ok((rows, n));
    }
    let all = db.query_row(
        "SELECT COUNT(*) FROM invoice INDEXED BY invoice_unpaid_due
         WHERE status IN ('draft', 'open') AND due_at IS NOT NULL AND due_at >= ?1 AND due_at < ?2",
        params![from, to],
        |r| r.get(0),
    )?;
    Ok((rows, all))
}

/// Invoice totals for one customer: (invoiced excluding void, paid), exact.
pub fn customer_totals(db: Db<'_>, customer_id: i64) -> StoreResult<(i128, i128)> {
    db.query_row(
        &format!(
            "SELECT {}, {} FROM invoice WHERE customer_id = ?1",
            split_sum("CASE WHEN status <> 'void' THEN amount_cents END"),
            split_sum("CASE WHEN status = 'paid' THEN amount_cents END")
        ),
        params![customer_id],
        |r| {
            Ok((
                join_sum(r.get(0)?, r.get(1)?),
                join_sum(r.get(2)?, r.get(3)?),
            ))
        },
    )
}

/// Drafts held back by the amount limits (for warnings).
pub fn out_of_range_drafts(db: Db<'_>) -> StoreResult<Vec<(i64, Cents)>> {
    // SQLite's planner prefers the status index here, then reads every draft
    // (a whole table's worth of pages); the partial index holds only these.
    db.query_all(
        "SELECT id, amount_cents FROM invoice INDEXED BY invoice_out_of_range WHERE status = 'draft' AND out_of_range_logged = 1 ORDER BY id",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Drafts whose last payment-link attempt failed.
pub fn link_errors(db: Db<'_>) -> StoreResult<Vec<(i64, String)>> {
    db.query_all(
        "SELECT id, link_error FROM invoice INDEXED BY invoice_link_error WHERE status = 'draft' AND link_error IS NOT NULL ORDER BY id",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// A verified Stripe event; `false` if this id was seen before (a replay).
#[allow(clippy::too_many_arguments)]
pub fn record_event(
    db: Db<'_>,
    event_id: &str,
    kind: &str,
    outcome: &str,
    invoice_id: Option<i64>,
    reason: Option<&str>,
    attention: bool,
    now: i64,
) -> StoreResult<bool> {
    Ok(db.execute(
        "INSERT INTO stripe_event (event_id, type, received_at, outcome, invoice_id, reason, needs_attention)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (event_id) DO NOTHING",
        params![event_id, kind, now, outcome, invoice_id, reason, attention],
    )? == 1)
}

/// A paid Checkout Session hoss applied or raised, kept for good (never
/// pruned). `false` if this session was recorded before.
#[derive(Debug, Clone)]
pub struct SessionRecord<'a> {
    pub session_id: &'a str,
    pub invoice_id: Option<i64>,
    pub outcome: &'a str,
    pub amount_cents: Option<Cents>,
    pub currency: Option<&'a str>,
    pub payment_link: Option<&'a str>,
    pub event_id: Option<&'a str>,
    pub reason: Option<&'a str>,
}

pub fn record_session(db: Db<'_>, s: &SessionRecord<'_>, now: i64) -> StoreResult<bool> {
    Ok(db.execute(
        "INSERT INTO stripe_session (session_id, invoice_id, outcome, amount_cents, currency, payment_link,
             event_id, reason, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (session_id) DO NOTHING",
        params![
            s.session_id,
            s.invoice_id,
            s.outcome,
            s.amount_cents,
            s.currency,
            s.payment_link,
            s.event_id,
            s.reason,
            now
        ],
    )? == 1)
}

/// The outcome recorded for a Checkout Session, if hoss has seen it paid.
pub fn session_outcome(db: Db<'_>, session_id: &str) -> StoreResult<Option<String>> {
    db.query_opt(
        "SELECT outcome FROM stripe_session WHERE session_id = ?1
         UNION ALL SELECT 'applied' FROM invoice WHERE paid_session_id = ?1 LIMIT 1",
        params![session_id],
        |r| r.get(0),
    )
}

pub fn event_seen(db: Db<'_>, event_id: &str) -> StoreResult<bool> {
    db.query_row(
        "SELECT EXISTS (SELECT 1 FROM stripe_event WHERE event_id = ?1)",
        params![event_id],
        |r| r.get(0),
    )
}

/// Events that need the operator, newest first: (received_at, event id, reason).
pub fn attention_events(db: Db<'_>, since: i64) -> StoreResult<Vec<(i64, String, String)>> {
    db.query_all(
        "SELECT received_at, event_id, COALESCE(reason, '') FROM stripe_event
         WHERE needs_attention = 1 AND received_at >= ?1 ORDER BY received_at DESC LIMIT 20",
        params![since],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// A payment event the operator has not acknowledged yet, as `attention
/// list` gives it (the event id is the id to acknowledge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attention {
    #[serde(rename = "id")]
    pub event_id: String,
    pub at: Timestamp,
    pub invoice_id: Option<i64>,
    pub reason: String,
}

/// Every payment event still needing the operator, newest first.
pub fn attention_open(db: Db<'_>) -> StoreResult<Vec<Attention>> {
    db.query_all(
        "SELECT event_id, received_at, invoice_id, COALESCE(reason, '') FROM stripe_event
         WHERE needs_attention = 1 ORDER BY received_at DESC, event_id",
        params![],
        |r| {
            Ok(Attention {
                event_id: r.get(0)?,
                at: r.get(1)?,
                invoice_id: r.get(2)?,
                reason: r.get(3)?,
            })
        },
    )
}

/// The operator has dealt with it: it leaves the warnings and the digest.
pub fn acknowledge(db: Db<'_>, event_id: &str) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE stripe_event SET needs_attention = 0 WHERE event_id = ?1 AND needs_attention = 1",
        params![event_id],
    )? == 1)
}

pub fn prune_events(db: Db<'_>, now: i64, retention_days: u32) -> StoreResult<usize> {
    db.execute(
        "DELETE FROM stripe_event WHERE received_at < ?1",
        params![now - i64::from(retention_days) * 86_400],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(db: Db<'_>) {
        db.execute_batch(
            "INSERT INTO customer (id, company, contact_email, created_at) VALUES (1, 'C', 'c@c.com', 0);
             INSERT INTO task (customer_id, description, status, amount_cents, created_at) VALUES
               (1, 'a', 'done', 1000, 0), (1, 'b', 'done', 250, 0), (1, 'c', 'pending', 999, 0), (1, 'free', 'done', 0, 0);",
        )
        .unwrap();
    }

    fn bill(db: Db<'_>, now: i64) -> Billed {
        create_for_customer(db, 1, "usd", Cents(crate::money::MAX_CENTS), now).unwrap()
    }

    #[test]
    fn done_work_is_billed_exactly_once() {
        crate::db::on_each_store(|db| {
            setup(db);
            let Billed::Invoice(id, total, count) = bill(db, 5) else {
                panic!("nothing billed")
            };
            assert_eq!((total, count), (Cents(1250), 2));
            assert_eq!(bill(db, 6), Billed::Nothing);
            let billed: i64 = db
                .query_row(
                    "SELECT COUNT(*) FROM task WHERE invoice_id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(billed, 2);
            assert!(
                db.execute(
                    "UPDATE task SET invoice_id = NULL WHERE invoice_id = ?1",
                    params![id]
                )
                .is_err(),
                "billed stays billed"
            );
        });
    }

    #[test]
    fn a_link_made_for_an_invoice_voided_meanwhile_is_kept_for_deactivation() {
        crate::db::on_each_store(|db| {
            setup(db);
            let Billed::Invoice(id, _, _) = bill(db, 5) else {
                panic!("nothing billed")
            };
            assert_eq!(void(db, id, false, 6).unwrap(), Some(2));
            assert!(!set_link(db, id, "plink_late", "https://buy.stripe.test/x", 0).unwrap());
            let inv = get(db, id).unwrap().unwrap();
            assert_eq!(
                (inv.status, inv.payment_url, inv.link_active),
                (InvoiceStatus::Void, None, true)
            );
            assert_eq!(
                links_to_deactivate(db).unwrap()[0]
                    .stripe_payment_link_id
                    .as_deref(),
                Some("plink_late")
            );
        });
    }

    #[test]
    fn replayed_events_are_recorded_once() {
        crate::db::on_each_store(|db| {
            setup(db);
            assert!(record_event(db, "evt_1", "x", "ignored", None, None, false, 1).unwrap());
            assert!(!record_event(db, "evt_1", "x", "applied", None, None, false, 2).unwrap());
            assert!(event_seen(db, "evt_1").unwrap());
        });
    }

    #[test]
    fn paid_is_final_and_outstanding_counts_draft_and_open() {
        crate::db::on_each_store(|db| {
            setup(db);
            let Billed::Invoice(id, _, _) = bill(db, 5) else {
                panic!("nothing billed")
            };
            assert_eq!(outstanding_cents(db).unwrap(), 1250);
            assert!(mark_paid(db, id, "manual", None, 9).unwrap());
            assert_eq!(void(db, id, false, 10).unwrap(), None);
            assert!(!mark_paid(db, id, "manual", None, 11).unwrap());
            assert_eq!(outstanding_cents(db).unwrap(), 0);
            assert_eq!(customer_totals(db, 1).unwrap(), (1250, 1250));
        });
    }

    #[test]
    fn voiding_releases_tasks_to_be_billed_again_unless_written_off() {
        crate::db::on_each_store(|db| {
            setup(db);
            let Billed::Invoice(first, _, _) = bill(db, 5) else {
                panic!("nothing billed")
            };
            assert_eq!(void(db, first, false, 6).unwrap(), Some(2));
            let Billed::Invoice(second, total, count) = bill(db, 7) else {
                panic!("released work was not billed again")
            };
            assert_eq!((total, count), (Cents(1250), 2));
            assert_eq!(void(db, second, true, 8).unwrap(), Some(0));
            assert_eq!(bill(db, 9), Billed::Nothing, "written off stays tied");
            assert!(
                db.execute(
                    "UPDATE task SET invoice_id = NULL WHERE invoice_id = ?1",
                    params![second]
                )
                .is_err(),
                "a written-off invoice keeps its tasks"
            );
        });
    }

    #[test]
    fn status_totals_follow_every_insert_and_change() {
        crate::db::on_each_store(|db| {
            setup(db);
            db.execute_batch(
                "INSERT INTO invoice (customer_id, amount_cents, currency, status, created_at) VALUES
                   (1, 1000, 'usd', 'draft', 0), (1, 2500, 'usd', 'open', 0), (1, 4000000000000000000, 'usd', 'draft', 0);
                 UPDATE invoice SET status = 'open' WHERE amount_cents = 1000;
                 UPDATE invoice SET status = 'paid', paid_at = 1 WHERE amount_cents = 2500;",
            )
            .unwrap();
            let by = count_by_status(db).unwrap();
            let direct = |sql: &str| -> i64 { db.query_row(sql, params![], |r| r.get(0)).unwrap() };
            for status in InvoiceStatus::NAMES {
                let n = direct(&format!(
                    "SELECT COUNT(*) FROM invoice WHERE status = '{status}'"
                ));
                assert_eq!(by[*status], n, "{status}");
            }
            assert_eq!(outstanding_cents(db).unwrap(), 4_000_000_000_000_001_000);
        });
    }

    #[test]
    fn overdue_is_unpaid_and_past_due_only() {
        crate::db::on_each_store(|db| {
            setup(db);
            // due at 100: open (overdue after 100), paid, void, a draft announced
            // with a due date, an open invoice due later, and a huge one.
            db.execute_batch(
                "INSERT INTO invoice (id, customer_id, amount_cents, currency, status, created_at, due_at) VALUES
                   (1, 1, 1500, 'usd', 'open', 0, 100), (2, 1, 700, 'usd', 'open', 0, 100),
                   (3, 1, 900, 'usd', 'open', 0, 200), (4, 1, 50, 'usd', 'draft', 0, 100),
                   (5, 1, 9000000000000000000, 'usd', 'open', 0, 300), (6, 1, 9000000000000000000, 'usd', 'open', 0, 300);
                 UPDATE invoice SET status = 'paid', paid_at = 150 WHERE id = 2;",
            )
            .unwrap();
            assert_eq!(
                overdue(db, 100).unwrap(),
                (0, 0),
                "due at 100 is not overdue at 100"
            );
            assert_eq!(
                overdue(db, 101).unwrap(),
                (2, 1550),
                "open, and a draft announced with its due date; paid never"
            );
            assert_eq!(overdue(db, 201).unwrap(), (3, 2450));
            db.execute("UPDATE invoice SET status = 'void' WHERE id = 3", params![])
                .unwrap();
            assert_eq!(overdue(db, 201).unwrap(), (2, 1550), "void never");
            assert_eq!(
                overdue(db, 301).unwrap(),
                (4, 18_000_000_000_000_001_550),
                "exact past i64"
            );

            let (rows, all) = fell_due(db, 100, 101, 10).unwrap();
            assert_eq!(
                (rows.iter().map(|r| r.id).collect::<Vec<_>>(), all),
                (vec![1, 4], 2)
            );
            assert_eq!(
                (
                    rows[0].company.as_str(),
                    rows[0].amount_cents,
                    rows[0].due_at
                ),
                ("C", Cents(1500), Timestamp(100))
            );
            assert_eq!(
                fell_due(db, 101, 400, 10).unwrap().1,
                2,
                "a later window: only 5 and 6"
            );
            assert_eq!(fell_due(db, 0, 100, 10).unwrap().1, 0, "not yet overdue");
            let (rows, all) = fell_due(db, 0, 400, 2).unwrap();
            assert_eq!(
                (rows.len(), all),
                (2, 4),
                "listed up to the limit, all counted"
            );
        });
    }

    #[test]
    fn sums_of_huge_amounts_neither_fail_nor_wrap() {
        crate::db::on_each_store(|db| {
            setup(db);
            db.execute_batch(
                "INSERT INTO invoice (customer_id, amount_cents, currency, created_at) VALUES
                   (1, 5000000000000000000, 'usd', 0), (1, 5000000000000000000, 'usd', 0);",
            )
            .unwrap();
            assert_eq!(outstanding_cents(db).unwrap(), 10_000_000_000_000_000_000);
            assert_eq!(
                customer_totals(db, 1).unwrap(),
                (10_000_000_000_000_000_000, 0)
            );
            db.execute_batch(
                "INSERT INTO task (customer_id, description, status, amount_cents, created_at) VALUES
                   (1, 'x', 'done', 9000000000000000000, 0);",
            )
            .unwrap();
            assert!(matches!(bill(db, 5), Billed::TooLarge { tasks: 3, .. }));
        });
    }

    #[test]
    fn links_sessions_attention_and_windows_on_each_store() {
        crate::db::on_each_store(|db| {
            setup(db);
            assert_eq!(install_id(db).unwrap().len(), 16);
            let Billed::Invoice(id, _, _) = bill(db, 5) else {
                panic!("nothing billed")
            };
            assert_eq!(needing_links(db).unwrap()[0].id, id);
            set_price(db, id, "price_1").unwrap();
            set_link_error(db, id, Some("stripe said no")).unwrap();
            assert_eq!(link_errors(db).unwrap(), [(id, "stripe said no".into())]);
            mark_out_of_range_logged(db, id).unwrap();
            assert_eq!(out_of_range_drafts(db).unwrap(), [(id, Cents(1250))]);
            assert!(set_link(db, id, "plink_1", "https://buy.stripe.test/1", 500).unwrap());
            let inv = by_link(db, "plink_1").unwrap().unwrap();
            assert_eq!(
                (inv.status, inv.stripe_price_id.as_deref(), inv.due_at),
                (InvoiceStatus::Open, Some("price_1"), Some(Timestamp(500)))
            );
            assert!(by_link(db, "plink_none").unwrap().is_none());
            assert_eq!(open_with_links(db).unwrap()[0].id, id);
            assert_eq!(
                list(
                    db,
                    Some(1),
                    Some(InvoiceStatus::Open),
                    super::super::Page::ALL
                )
                .unwrap()
                .rows[0]
                    .id,
                id
            );
            assert!(
                list(db, None, Some(InvoiceStatus::Paid), super::super::Page::ALL)
                    .unwrap()
                    .rows
                    .is_empty()
            );
            assert_eq!(count_by_status(db).unwrap()["open"], 1);

            let s = SessionRecord {
                session_id: "cs_1",
                invoice_id: Some(id),
                outcome: "applied",
                amount_cents: Some(Cents(1250)),
                currency: Some("usd"),
                payment_link: Some("plink_1"),
                event_id: Some("evt_1"),
                reason: None,
            };
            assert_eq!(session_outcome(db, "cs_1").unwrap(), None);
            assert!(mark_paid(db, id, "webhook", Some("cs_1"), 20).unwrap());
            assert_eq!(
                session_outcome(db, "cs_1").unwrap().as_deref(),
                Some("applied")
            );
            assert!(record_session(db, &s, 20).unwrap());
            assert!(!record_session(db, &s, 21).unwrap());
            assert_eq!(
                session_outcome(db, "cs_1").unwrap().as_deref(),
                Some("applied")
            );
            set_link_inactive(db, id).unwrap();
            assert!(links_to_deactivate(db).unwrap().is_empty());

            record_event(db, "evt_a", "x", "ignored", Some(id), Some("odd"), true, 30).unwrap();
            record_event(db, "evt_b", "x", "ignored", None, None, true, 40).unwrap();
            assert_eq!(
                attention_events(db, 35).unwrap(),
                [(40, "evt_b".into(), String::new())]
            );
            let open = attention_open(db).unwrap();
            assert_eq!(
                open.iter().map(|a| a.event_id.as_str()).collect::<Vec<_>>(),
                ["evt_b", "evt_a"]
            );
            assert_eq!(
                (open[1].invoice_id, open[1].reason.as_str()),
                (Some(id), "odd")
            );
            assert!(acknowledge(db, "evt_b").unwrap());
            assert!(!acknowledge(db, "evt_b").unwrap());
            assert_eq!(attention_open(db).unwrap().len(), 1);
            assert_eq!(prune_events(db, 86_400 + 35, 1).unwrap(), 1);
            assert!(!event_seen(db, "evt_a").unwrap());

            assert_eq!(
                super::super::digest::payments_received(db, 20, 21).unwrap(),
                (1, 1250)
            );
            assert_eq!(
                super::super::digest::invoices_created(db, 6, i64::MAX).unwrap(),
                (0, 0)
            );
        });
    }
}
