//! The `invoice` and `stripe_event` tables: billing as a ledger. An invoice
//! and the links from its tasks are written in one transaction; a paid
//! invoice never changes status again (a trigger enforces it).

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

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
/// far from overflowing) and joined exactly in an `i128`.
fn split_sum(column: &str) -> String {
    format!("COALESCE(SUM({column} / 1000000000), 0), COALESCE(SUM({column} % 1000000000), 0)")
}

fn join_sum(high: i64, low: i64) -> i128 {
    i128::from(high) * 1_000_000_000 + i128::from(low)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Invoice> {
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
    tx: &Connection,
    customer_id: i64,
    currency: &str,
    max_amount: Cents,
    now: i64,
) -> rusqlite::Result<Billed> {
    // Work entered in another currency is never billed in this one: its
    // amount would be read in the wrong decimals.
    let foreign: Vec<(i64, String)> = tx
        .prepare_cached(
            "SELECT id, currency FROM task
             WHERE customer_id = ?1 AND status = 'done' AND invoice_id IS NULL AND amount_cents > 0
               AND currency IS NOT NULL AND currency <> ?2 ORDER BY id",
        )?
        .query_map(params![customer_id, currency], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if !foreign.is_empty() {
        return Ok(Billed::OtherCurrency { tasks: foreign });
    }
    let (count, high, low): (i64, i64, i64) = tx.query_row(
        &format!(
            "SELECT COUNT(*), {} FROM task
             WHERE customer_id = ?1 AND status = 'done' AND invoice_id IS NULL AND amount_cents > 0",
            split_sum("amount_cents")
        ),
        [customer_id],
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
    tx.execute(
        "INSERT INTO invoice (customer_id, amount_cents, currency, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![customer_id, total, currency, now],
    )?;
    let id = tx.last_insert_rowid();
    let linked = tx.execute(
        "UPDATE task SET invoice_id = ?2
         WHERE customer_id = ?1 AND status = 'done' AND invoice_id IS NULL AND amount_cents > 0",
        params![customer_id, id],
    )?;
    debug_assert_eq!(linked as i64, count);
    Ok(Billed::Invoice(id, total, count))
}

/// This database's identity, the prefix of its Stripe idempotency keys.
pub fn install_id(conn: &Connection) -> rusqlite::Result<String> {
    conn.query_row("SELECT install_id FROM install WHERE id = 1", [], |r| {
        r.get(0)
    })
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Invoice>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM invoice WHERE id = ?1"),
        [id],
        row,
    )
    .optional()
}

pub fn by_link(conn: &Connection, link_id: &str) -> rusqlite::Result<Option<Invoice>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM invoice WHERE stripe_payment_link_id = ?1"),
        [link_id],
        row,
    )
    .optional()
}

pub fn list(
    conn: &Connection,
    customer_id: Option<i64>,
    status: Option<InvoiceStatus>,
    page: super::Page,
) -> rusqlite::Result<super::Listed<Invoice>> {
    let (filter, args) = super::where_equal(&[
        ("customer_id", customer_id.map(Into::into)),
        ("status", status.map(super::word)),
    ]);
    super::page_of(
        conn,
        COLUMNS,
        &format!("FROM invoice {filter}"),
        args,
        &["id"],
        page,
        row,
    )
}

/// Draft invoices that have no payment link yet.
pub fn needing_links(conn: &Connection) -> rusqlite::Result<Vec<Invoice>> {
    conn.prepare(&format!(
        "SELECT {COLUMNS} FROM invoice WHERE status = 'draft' AND stripe_payment_link_id IS NULL ORDER BY id"
    ))?
    .query_map([], row)?
    .collect()
}

pub fn open_with_links(conn: &Connection) -> rusqlite::Result<Vec<Invoice>> {
    conn.prepare(&format!(
        "SELECT {COLUMNS} FROM invoice WHERE status = 'open' AND stripe_payment_link_id IS NOT NULL ORDER BY id"
    ))?
    .query_map([], row)?
    .collect()
}

/// Paid or void invoices whose payment link may still accept money.
pub fn links_to_deactivate(conn: &Connection) -> rusqlite::Result<Vec<Invoice>> {
    conn.prepare(&format!(
        "SELECT {COLUMNS} FROM invoice WHERE status IN ('paid', 'void') AND link_active = 1 ORDER BY id"
    ))?
    .query_map([], row)?
    .collect()
}

pub fn mark_out_of_range_logged(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE invoice SET out_of_range_logged = 1 WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

pub fn set_price(conn: &Connection, id: i64, price_id: &str) -> rusqlite::Result<()> {
    conn.execute(
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
pub fn set_link(
    conn: &Connection,
    id: i64,
    link_id: &str,
    url: &str,
    due_at: i64,
) -> rusqlite::Result<bool> {
    if conn.execute(
        "UPDATE invoice SET stripe_payment_link_id = ?2, payment_url = ?3, link_active = 1, link_error = NULL,
             status = 'open', due_at = COALESCE(due_at, ?4)
         WHERE id = ?1 AND status = 'draft'",
        params![id, link_id, url, due_at],
    )? == 1
    {
        return Ok(true);
    }
    conn.execute(
        "UPDATE invoice SET stripe_payment_link_id = ?2, link_active = 1
         WHERE id = ?1 AND stripe_payment_link_id IS NULL",
        params![id, link_id],
    )?;
    Ok(false)
}

pub fn set_link_error(conn: &Connection, id: i64, error: Option<&str>) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE invoice SET link_error = ?2 WHERE id = ?1",
        params![id, error],
    )?;
    Ok(())
}

pub fn set_link_inactive(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute("UPDATE invoice SET link_active = 0 WHERE id = ?1", [id])?;
    Ok(())
}

/// `draft|open → paid`, with the Checkout Session that paid it (if any);
/// `false` when it was not payable.
pub fn mark_paid(
    conn: &Connection,
    id: i64,
    via: &str,
    session_id: Option<&str>,
    now: i64,
) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE invoice SET status = 'paid', paid_at = ?2, paid_via = ?3, paid_session_id = ?4
         WHERE id = ?1 AND status IN ('draft', 'open')",
        params![id, now, via, session_id],
    )? == 1)
}

/// `draft|open → void`, in the caller's transaction. Its tasks are released
/// to be billed again, or kept tied to it when `write_off`. `None` when the
/// invoice was not voidable, else the number of tasks released.
pub fn void(
    conn: &Connection,
    id: i64,
    write_off: bool,
    now: i64,
) -> rusqlite::Result<Option<usize>> {
    if conn.execute(
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
    Ok(Some(conn.execute(
        "UPDATE task SET invoice_id = NULL WHERE invoice_id = ?1",
        [id],
    )?))
}

pub fn count_by_status(conn: &Connection) -> rusqlite::Result<BTreeMap<String, i64>> {
    let mut counts: BTreeMap<String, i64> = InvoiceStatus::NAMES
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    // Kept by triggers (migration V7): four rows, however many invoices.
    let mut stmt = conn.prepare_cached("SELECT status, n FROM invoice_status_total")?;
    for r in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (s, n) = r?;
        counts.insert(s, n);
    }
    Ok(counts)
}

/// Unpaid money: draft + open invoices, exact (see [`split_sum`]).
pub fn outstanding_cents(conn: &Connection) -> rusqlite::Result<i128> {
    conn.prepare_cached(
        "SELECT COALESCE(SUM(high), 0), COALESCE(SUM(low), 0) FROM invoice_status_total
         WHERE status IN ('draft', 'open')",
    )?
    .query_row([], |r| Ok(join_sum(r.get(0)?, r.get(1)?)))
}

/// Unpaid invoices (open, or drafts announced with a due date) past their
/// due date at `now` (`due_at < now`): (count, exact total, see
/// [`split_sum`]), read on the partial index `invoice_unpaid_due`, which
/// holds unpaid invoices with a due date only: the cost follows the overdue
/// invoices, never the whole table. Like [`outstanding_cents`], the
/// total is of every currency's minor units.
pub fn overdue(conn: &Connection, now: i64) -> rusqlite::Result<(i64, i128)> {
    conn.prepare_cached(&format!(
        "SELECT COUNT(*), {} FROM invoice INDEXED BY invoice_unpaid_due
         WHERE status IN ('draft', 'open') AND due_at IS NOT NULL AND due_at < ?1",
        split_sum("amount_cents")
    ))?
    .query_row([now], |r| Ok((r.get(0)?, join_sum(r.get(1)?, r.get(2)?))))
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
pub fn fell_due(
    conn: &Connection,
    from: i64,
    to: i64,
    limit: u32,
) -> rusqlite::Result<(Vec<FellDue>, i64)> {
    let rows: Vec<FellDue> = conn
        .prepare_cached(
            "SELECT i.id, COALESCE(c.company, ''), i.amount_cents, i.currency, i.due_at
             FROM invoice i INDEXED BY invoice_unpaid_due LEFT JOIN customer c ON c.id = i.customer_id
             WHERE i.status IN ('draft', 'open') AND i.due_at IS NOT NULL AND i.due_at >= ?1 AND i.due_at < ?2
             ORDER BY i.due_at, i.id LIMIT ?3",
        )?
        .query_map(params![from, to, limit], |r| {
            Ok(FellDue {
                id: r.get(0)?,
                company: r.get(1)?,
                amount_cents: r.get(2)?,
                currency: r.get(3)?,
                due_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    if rows.len() < limit as usize {
        let n = rows.len() as i64;
        return Ok((rows, n));
    }
    let all = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM invoice INDEXED BY invoice_unpaid_due
             WHERE status IN ('draft', 'open') AND due_at IS NOT NULL AND due_at >= ?1 AND due_at < ?2",
        )?
        .query_row(params![from, to], |r| r.get(0))?;
    Ok((rows, all))
}

/// Invoice totals for one customer: (invoiced excluding void, paid), exact.
pub fn customer_totals(conn: &Connection, customer_id: i64) -> rusqlite::Result<(i128, i128)> {
    conn.prepare_cached(&format!(
        "SELECT {}, {} FROM invoice WHERE customer_id = ?1",
        split_sum("CASE WHEN status <> 'void' THEN amount_cents END"),
        split_sum("CASE WHEN status = 'paid' THEN amount_cents END")
    ))?
    .query_row([customer_id], |r| {
        Ok((
            join_sum(r.get(0)?, r.get(1)?),
            join_sum(r.get(2)?, r.get(3)?),
        ))
    })
}

/// (count, exact total) of the invoices matching `filter` with `args`:
/// shared by the digest windows.
pub(crate) fn count_and_total(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> rusqlite::Result<(i64, i128)> {
    conn.prepare_cached(&format!(
        "SELECT COUNT(*), {} FROM invoice WHERE {filter}",
        split_sum("amount_cents")
    ))?
    .query_row(args, |r| Ok((r.get(0)?, join_sum(r.get(1)?, r.get(2)?))))
}

/// Drafts held back by the amount limits (for warnings).
pub fn out_of_range_drafts(conn: &Connection) -> rusqlite::Result<Vec<(i64, Cents)>> {
    // SQLite's planner prefers the status index here, then reads every draft
    // (a whole table's worth of pages); the partial index holds only these.
    conn.prepare_cached("SELECT id, amount_cents FROM invoice INDEXED BY invoice_out_of_range WHERE status = 'draft' AND out_of_range_logged = 1 ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// Drafts whose last payment-link attempt failed.
pub fn link_errors(conn: &Connection) -> rusqlite::Result<Vec<(i64, String)>> {
    conn.prepare_cached("SELECT id, link_error FROM invoice INDEXED BY invoice_link_error WHERE status = 'draft' AND link_error IS NOT NULL ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// A verified Stripe event; `false` if this id was seen before (a replay).
#[allow(clippy::too_many_arguments)]
pub fn record_event(
    conn: &Connection,
    event_id: &str,
    kind: &str,
    outcome: &str,
    invoice_id: Option<i64>,
    reason: Option<&str>,
    attention: bool,
    now: i64,
) -> rusqlite::Result<bool> {
    Ok(conn.execute(
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

pub fn record_session(
    conn: &Connection,
    s: &SessionRecord<'_>,
    now: i64,
) -> rusqlite::Result<bool> {
    Ok(conn.execute(
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
pub fn session_outcome(conn: &Connection, session_id: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT outcome FROM stripe_session WHERE session_id = ?1
         UNION ALL SELECT 'applied' FROM invoice WHERE paid_session_id = ?1 LIMIT 1",
        [session_id],
        |r| r.get(0),
    )
    .optional()
}

pub fn event_seen(conn: &Connection, event_id: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM stripe_event WHERE event_id = ?1)",
        [event_id],
        |r| r.get(0),
    )
}

/// Events that need the operator, newest first: (received_at, event id, reason).
pub fn attention_events(
    conn: &Connection,
    since: i64,
) -> rusqlite::Result<Vec<(i64, String, String)>> {
    conn.prepare_cached(
        "SELECT received_at, event_id, COALESCE(reason, '') FROM stripe_event
         WHERE needs_attention = 1 AND received_at >= ?1 ORDER BY received_at DESC LIMIT 20",
    )?
    .query_map([since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
    .collect()
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
pub fn attention_open(conn: &Connection) -> rusqlite::Result<Vec<Attention>> {
    conn.prepare_cached(
        "SELECT event_id, received_at, invoice_id, COALESCE(reason, '') FROM stripe_event
         WHERE needs_attention = 1 ORDER BY received_at DESC, event_id",
    )?
    .query_map([], |r| {
        Ok(Attention {
            event_id: r.get(0)?,
            at: r.get(1)?,
            invoice_id: r.get(2)?,
            reason: r.get(3)?,
        })
    })?
    .collect()
}

/// The operator has dealt with it: it leaves the warnings and the digest.
pub fn acknowledge(conn: &Connection, event_id: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE stripe_event SET needs_attention = 0 WHERE event_id = ?1 AND needs_attention = 1",
        [event_id],
    )? == 1)
}

pub fn prune_events(conn: &Connection, now: i64, retention_days: u32) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM stripe_event WHERE received_at < ?1",
        [now - i64::from(retention_days) * 86_400],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> Connection {
        let conn = crate::db::open_in_memory().unwrap();
        conn.execute_batch(
            "INSERT INTO customer (id, company, contact_email, created_at) VALUES (1, 'C', 'c@c.com', 0);
             INSERT INTO task (customer_id, description, status, amount_cents, created_at) VALUES
               (1, 'a', 'done', 1000, 0), (1, 'b', 'done', 250, 0), (1, 'c', 'pending', 999, 0), (1, 'free', 'done', 0, 0);",
        )
        .unwrap();
        conn
    }

    fn bill(conn: &Connection, now: i64) -> Billed {
        create_for_customer(conn, 1, "usd", Cents(crate::money::MAX_CENTS), now).unwrap()
    }

    #[test]
    fn done_work_is_billed_exactly_once() {
        let conn = setup();
        let Billed::Invoice(id, total, count) = bill(&conn, 5) else {
            panic!("nothing billed")
        };
        assert_eq!((total, count), (Cents(1250), 2));
        assert_eq!(bill(&conn, 6), Billed::Nothing);
        let billed: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM task WHERE invoice_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(billed, 2);
        assert!(
            conn.execute(
                "UPDATE task SET invoice_id = NULL WHERE invoice_id = ?1",
                [id]
            )
            .is_err(),
            "billed stays billed"
        );
    }

    #[test]
    fn a_link_made_for_an_invoice_voided_meanwhile_is_kept_for_deactivation() {
        let conn = setup();
        let Billed::Invoice(id, _, _) = bill(&conn, 5) else {
            panic!("nothing billed")
        };
        assert_eq!(void(&conn, id, false, 6).unwrap(), Some(2));
        assert!(!set_link(&conn, id, "plink_late", "https://buy.stripe.test/x", 0).unwrap());
        let inv = get(&conn, id).unwrap().unwrap();
        assert_eq!(
            (inv.status, inv.payment_url, inv.link_active),
            (InvoiceStatus::Void, None, true)
        );
        assert_eq!(
            links_to_deactivate(&conn).unwrap()[0]
                .stripe_payment_link_id
                .as_deref(),
            Some("plink_late")
        );
    }

    #[test]
    fn replayed_events_are_recorded_once() {
        let conn = setup();
        assert!(record_event(&conn, "evt_1", "x", "ignored", None, None, false, 1).unwrap());
        assert!(!record_event(&conn, "evt_1", "x", "applied", None, None, false, 2).unwrap());
        assert!(event_seen(&conn, "evt_1").unwrap());
    }

    #[test]
    fn paid_is_final_and_outstanding_counts_draft_and_open() {
        let conn = setup();
        let Billed::Invoice(id, _, _) = bill(&conn, 5) else {
            panic!("nothing billed")
        };
        assert_eq!(outstanding_cents(&conn).unwrap(), 1250);
        assert!(mark_paid(&conn, id, "manual", None, 9).unwrap());
        assert_eq!(void(&conn, id, false, 10).unwrap(), None);
        assert!(!mark_paid(&conn, id, "manual", None, 11).unwrap());
        assert_eq!(outstanding_cents(&conn).unwrap(), 0);
        assert_eq!(customer_totals(&conn, 1).unwrap(), (1250, 1250));
    }

    #[test]
    fn voiding_releases_tasks_to_be_billed_again_unless_written_off() {
        let conn = setup();
        let Billed::Invoice(first, _, _) = bill(&conn, 5) else {
            panic!("nothing billed")
        };
        assert_eq!(void(&conn, first, false, 6).unwrap(), Some(2));
        let Billed::Invoice(second, total, count) = bill(&conn, 7) else {
            panic!("released work was not billed again")
        };
        assert_eq!((total, count), (Cents(1250), 2));
        assert_eq!(void(&conn, second, true, 8).unwrap(), Some(0));
        assert_eq!(bill(&conn, 9), Billed::Nothing, "written off stays tied");
        assert!(
            conn.execute(
                "UPDATE task SET invoice_id = NULL WHERE invoice_id = ?1",
                [second]
            )
            .is_err(),
            "a written-off invoice keeps its tasks"
        );
    }

    #[test]
    fn status_totals_follow_every_insert_and_change() {
        let conn = setup();
        conn.execute_batch(
            "INSERT INTO invoice (customer_id, amount_cents, currency, status, created_at) VALUES
               (1, 1000, 'usd', 'draft', 0), (1, 2500, 'usd', 'open', 0), (1, 4000000000000000000, 'usd', 'draft', 0);
             UPDATE invoice SET status = 'open' WHERE amount_cents = 1000;
             UPDATE invoice SET status = 'paid', paid_at = 1 WHERE amount_cents = 2500;",
        )
        .unwrap();
        let by = count_by_status(&conn).unwrap();
        let direct = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        for status in InvoiceStatus::NAMES {
            let n = direct(&format!(
                "SELECT COUNT(*) FROM invoice WHERE status = '{status}'"
            ));
            assert_eq!(by[*status], n, "{status}");
        }
        assert_eq!(outstanding_cents(&conn).unwrap(), 4_000_000_000_000_001_000);
    }

    #[test]
    fn overdue_is_unpaid_and_past_due_only() {
        let conn = setup();
        // due at 100: open (overdue after 100), paid, void, a draft announced
        // with a due date, an open invoice due later, and a huge one.
        conn.execute_batch(
            "INSERT INTO invoice (id, customer_id, amount_cents, currency, status, created_at, due_at) VALUES
               (1, 1, 1500, 'usd', 'open', 0, 100), (2, 1, 700, 'usd', 'open', 0, 100),
               (3, 1, 900, 'usd', 'open', 0, 200), (4, 1, 50, 'usd', 'draft', 0, 100),
               (5, 1, 9000000000000000000, 'usd', 'open', 0, 300), (6, 1, 9000000000000000000, 'usd', 'open', 0, 300);
             UPDATE invoice SET status = 'paid', paid_at = 150 WHERE id = 2;",
        )
        .unwrap();
        assert_eq!(
            overdue(&conn, 100).unwrap(),
            (0, 0),
            "due at 100 is not overdue at 100"
        );
        assert_eq!(
            overdue(&conn, 101).unwrap(),
            (2, 1550),
            "open, and a draft announced with its due date; paid never"
        );
        assert_eq!(overdue(&conn, 201).unwrap(), (3, 2450));
        conn.execute("UPDATE invoice SET status = 'void' WHERE id = 3", [])
            .unwrap();
        assert_eq!(overdue(&conn, 201).unwrap(), (2, 1550), "void never");
        assert_eq!(
            overdue(&conn, 301).unwrap(),
            (4, 18_000_000_000_000_001_550),
            "exact past i64"
        );

        let (rows, all) = fell_due(&conn, 100, 101, 10).unwrap();
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
            fell_due(&conn, 101, 400, 10).unwrap().1,
            2,
            "a later window: only 5 and 6"
        );
        assert_eq!(fell_due(&conn, 0, 100, 10).unwrap().1, 0, "not yet overdue");
        let (rows, all) = fell_due(&conn, 0, 400, 2).unwrap();
        assert_eq!(
            (rows.len(), all),
            (2, 4),
            "listed up to the limit, all counted"
        );
    }

    #[test]
    fn sums_of_huge_amounts_neither_fail_nor_wrap() {
        let conn = setup();
        conn.execute_batch(
            "INSERT INTO invoice (customer_id, amount_cents, currency, created_at) VALUES
               (1, 5000000000000000000, 'usd', 0), (1, 5000000000000000000, 'usd', 0);",
        )
        .unwrap();
        assert_eq!(
            outstanding_cents(&conn).unwrap(),
            10_000_000_000_000_000_000
        );
        assert_eq!(
            customer_totals(&conn, 1).unwrap(),
            (10_000_000_000_000_000_000, 0)
        );
        conn.execute_batch(
            "INSERT INTO task (customer_id, description, status, amount_cents, created_at) VALUES
               (1, 'x', 'done', 9000000000000000000, 0);",
        )
        .unwrap();
        assert!(matches!(bill(&conn, 5), Billed::TooLarge { tasks: 3, .. }));
    }
}
