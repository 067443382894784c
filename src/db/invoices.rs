//! The `invoice` and `stripe_event` tables: billing as a ledger. An invoice
//! and the links from its tasks are written in one transaction; a paid
//! invoice never changes status again (a trigger enforces it).

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

pub const STATUSES: &[&str] = &["draft", "open", "paid", "void"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: i64,
    pub customer_id: i64,
    pub amount_cents: i64,
    pub currency: String,
    pub status: String,
    pub payment_url: Option<String>,
    pub stripe_price_id: Option<String>,
    pub stripe_payment_link_id: Option<String>,
    pub link_active: bool,
    pub link_error: Option<String>,
    pub out_of_range_logged: bool,
    pub paid_via: Option<String>,
    pub created_at: i64,
    pub paid_at: Option<i64>,
}

const COLUMNS: &str = "id, customer_id, amount_cents, currency, status, payment_url, stripe_price_id,
    stripe_payment_link_id, link_active, link_error, out_of_range_logged, paid_via, created_at, paid_at";

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
    })
}

/// Bills a customer's done, unbilled, priced tasks as one invoice, in the
/// caller's transaction. `None` when there is nothing to bill.
pub fn create_for_customer(
    tx: &Connection,
    customer_id: i64,
    currency: &str,
    now: i64,
) -> rusqlite::Result<Option<(i64, i64, i64)>> {
    let (count, total): (i64, Option<i64>) = tx.query_row(
        "SELECT COUNT(*), SUM(amount_cents) FROM task
         WHERE customer_id = ?1 AND status = 'done' AND invoice_id IS NULL AND amount_cents > 0",
        [customer_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let Some(total) = total.filter(|_| count > 0) else {
        return Ok(None);
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
    Ok(Some((id, total, count)))
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
    status: Option<&str>,
    limit: u32,
) -> rusqlite::Result<Vec<Invoice>> {
    let (filter, mut args) = super::where_equal(&[
        ("customer_id", customer_id.map(Into::into)),
        ("status", status.map(|s| s.to_string().into())),
    ]);
    args.push(i64::from(limit).into());
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM invoice {filter} ORDER BY id LIMIT ?{}",
        args.len()
    ))?
    .query_map(rusqlite::params_from_iter(args), row)?
    .collect()
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
pub fn set_link(conn: &Connection, id: i64, link_id: &str, url: &str) -> rusqlite::Result<bool> {
    if conn.execute(
        "UPDATE invoice SET stripe_payment_link_id = ?2, payment_url = ?3, link_active = 1, link_error = NULL,
             status = 'open'
         WHERE id = ?1 AND status = 'draft'",
        params![id, link_id, url],
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

/// `draft|open → paid`; `false` when it was not payable.
pub fn mark_paid(conn: &Connection, id: i64, via: &str, now: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE invoice SET status = 'paid', paid_at = ?2, paid_via = ?3 WHERE id = ?1 AND status IN ('draft', 'open')",
        params![id, now, via],
    )? == 1)
}

/// `draft|open → void`.
pub fn void(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE invoice SET status = 'void', voided_at = ?2 WHERE id = ?1 AND status IN ('draft', 'open')",
        params![id, now],
    )? == 1)
}

pub fn count_by_status(conn: &Connection) -> rusqlite::Result<BTreeMap<String, i64>> {
    let mut counts: BTreeMap<String, i64> = STATUSES.iter().map(|s| (s.to_string(), 0)).collect();
    let mut stmt = conn.prepare_cached("SELECT status, COUNT(*) FROM invoice GROUP BY status")?;
    for r in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (s, n) = r?;
        counts.insert(s, n);
    }
    Ok(counts)
}

/// Unpaid money: draft + open invoices.
pub fn outstanding_cents(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COALESCE(SUM(amount_cents), 0) FROM invoice WHERE status IN ('draft', 'open')",
    )?
    .query_row([], |r| r.get(0))
}

/// Invoice totals for one customer: (invoiced excluding void, paid).
pub fn customer_totals(conn: &Connection, customer_id: i64) -> rusqlite::Result<(i64, i64)> {
    conn.prepare_cached(
        "SELECT COALESCE(SUM(CASE WHEN status <> 'void' THEN amount_cents END), 0),
                COALESCE(SUM(CASE WHEN status = 'paid' THEN amount_cents END), 0)
         FROM invoice WHERE customer_id = ?1",
    )?
    .query_row([customer_id], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// Drafts held back by the amount limits (for warnings).
pub fn out_of_range_drafts(conn: &Connection) -> rusqlite::Result<Vec<(i64, i64)>> {
    conn.prepare("SELECT id, amount_cents FROM invoice WHERE status = 'draft' AND out_of_range_logged = 1 ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// Drafts whose last payment-link attempt failed.
pub fn link_errors(conn: &Connection) -> rusqlite::Result<Vec<(i64, String)>> {
    conn.prepare("SELECT id, link_error FROM invoice WHERE status = 'draft' AND link_error IS NOT NULL ORDER BY id")?
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

    #[test]
    fn done_work_is_billed_exactly_once() {
        let conn = setup();
        let (id, total, count) = create_for_customer(&conn, 1, "usd", 5).unwrap().unwrap();
        assert_eq!((total, count), (1250, 2));
        assert_eq!(create_for_customer(&conn, 1, "usd", 6).unwrap(), None);
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
        let (id, _, _) = create_for_customer(&conn, 1, "usd", 5).unwrap().unwrap();
        assert!(void(&conn, id, 6).unwrap());
        assert!(!set_link(&conn, id, "plink_late", "https://buy.stripe.test/x").unwrap());
        let inv = get(&conn, id).unwrap().unwrap();
        assert_eq!(
            (inv.status.as_str(), inv.payment_url, inv.link_active),
            ("void", None, true)
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
        let (id, _, _) = create_for_customer(&conn, 1, "usd", 5).unwrap().unwrap();
        assert_eq!(outstanding_cents(&conn).unwrap(), 1250);
        assert!(mark_paid(&conn, id, "manual", 9).unwrap());
        assert!(!void(&conn, id, 10).unwrap());
        assert!(!mark_paid(&conn, id, "manual", 11).unwrap());
        assert_eq!(outstanding_cents(&conn).unwrap(), 0);
        assert_eq!(customer_totals(&conn, 1).unwrap(), (1250, 1250));
    }
}
