//! The `task` table: work for customers, priced in cents, billed once.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::clock::Timestamp;
use crate::domain::status::TaskStatus;
use crate::money::Cents;

/// A task as `task …` and `invoice show` give it (SPEC §12). Its amount is
/// in minor units of the configured currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    pub id: i64,
    pub customer_id: i64,
    pub description: String,
    pub status: TaskStatus,
    pub amount_cents: Cents,
    pub cost_cents: Option<Cents>,
    pub result_summary: Option<String>,
    pub error: Option<String>,
    pub invoice_id: Option<i64>,
    pub created_at: Timestamp,
    #[serde(skip)]
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
}

const COLUMNS: &str =
    "id, customer_id, description, status, amount_cents, cost_cents, result_summary, error,
    invoice_id, created_at, started_at, completed_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Task> {
    Ok(Task {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        description: r.get(2)?,
        status: r.get(3)?,
        amount_cents: r.get(4)?,
        cost_cents: r.get(5)?,
        result_summary: r.get(6)?,
        error: r.get(7)?,
        invoice_id: r.get(8)?,
        created_at: r.get(9)?,
        started_at: r.get(10)?,
        completed_at: r.get(11)?,
    })
}

/// A new pending task; `amount_cents` is in minor units of `currency`.
pub fn insert(
    conn: &Connection,
    customer_id: i64,
    description: &str,
    amount_cents: Cents,
    currency: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO task (customer_id, description, amount_cents, currency, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![customer_id, description, amount_cents, currency, now])?;
    Ok(conn.last_insert_rowid())
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Task>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM task WHERE id = ?1"),
        [id],
        row,
    )
    .optional()
}

pub fn list(
    conn: &Connection,
    customer_id: Option<i64>,
    status: Option<TaskStatus>,
    page: super::Page,
) -> rusqlite::Result<super::Listed<Task>> {
    let (filter, args) = super::where_equal(&[
        ("customer_id", customer_id.map(Into::into)),
        ("status", status.map(super::word)),
    ]);
    super::page_of(
        conn,
        COLUMNS,
        &format!("FROM task {filter}"),
        args,
        &["id"],
        page,
        row,
    )
}

/// The tasks an invoice billed.
pub fn by_invoice(conn: &Connection, invoice_id: i64) -> rusqlite::Result<Vec<Task>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM task WHERE invoice_id = ?1 ORDER BY id"
    ))?
    .query_map([invoice_id], row)?
    .collect()
}

/// The newest tasks of one customer, newest first.
pub fn recent_for_customer(
    conn: &Connection,
    customer_id: i64,
    limit: u32,
) -> rusqlite::Result<Vec<Task>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM task WHERE customer_id = ?1 ORDER BY id DESC LIMIT ?2"
    ))?
    .query_map(params![customer_id, limit], row)?
    .collect()
}

/// `pending|running|failed → done`. `false` if the task is not in such a state.
pub fn complete(
    conn: &Connection,
    id: i64,
    summary: Option<&str>,
    cost_cents: Option<Cents>,
    now: i64,
) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE task SET status = 'done', result_summary = COALESCE(?2, result_summary),
             cost_cents = COALESCE(?3, cost_cents), error = NULL, completed_at = ?4
         WHERE id = ?1 AND status IN ('pending', 'running', 'failed')",
        params![id, summary, cost_cents, now],
    )? == 1)
}

/// `pending|running → failed`.
pub fn fail(conn: &Connection, id: i64, reason: &str, now: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE task SET status = 'failed', error = ?2, completed_at = ?3
         WHERE id = ?1 AND status IN ('pending', 'running')",
        params![id, reason, now],
    )? == 1)
}

/// A failed task goes back to `pending` for the next `ops` pass.
pub fn retry(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE task SET status = 'pending', error = NULL, completed_at = NULL, started_at = NULL
         WHERE id = ?1 AND status = 'failed'",
        [id],
    )? == 1)
}

/// Claims a pending task for the executor.
pub fn start(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE task SET status = 'running', started_at = ?2 WHERE id = ?1 AND status = 'pending'",
        params![id, now],
    )? == 1)
}

/// Tasks left `running` since before `cutoff` go back to `pending`.
pub fn recover_running(conn: &Connection, cutoff: i64) -> rusqlite::Result<Vec<i64>> {
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM task WHERE status = 'running' AND started_at < ?1")?
        .query_map([cutoff], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in &ids {
        conn.execute(
            "UPDATE task SET status = 'pending', started_at = NULL WHERE id = ?1 AND status = 'running'",
            [id],
        )?;
    }
    Ok(ids)
}

pub fn pending(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<Task>> {
    conn.prepare(&format!(
        "SELECT {COLUMNS} FROM task WHERE status = 'pending'
         AND customer_id IN (SELECT id FROM customer WHERE status = 'active') ORDER BY id LIMIT ?1"
    ))?
    .query_map([limit], row)?
    .collect()
}

/// Done, unbilled work entered in another currency than `currency`: (task
/// id, its currency), at most 20.
pub fn unbilled_in_other_currency(
    conn: &Connection,
    currency: &str,
) -> rusqlite::Result<Vec<(i64, String)>> {
    conn.prepare_cached(
        "SELECT id, currency FROM task
         WHERE status = 'done' AND invoice_id IS NULL AND amount_cents > 0
           AND currency IS NOT NULL AND currency <> ?1 ORDER BY id LIMIT 20",
    )?
    .query_map([currency], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

/// Customers with done, unbilled, priced work.
pub fn customers_with_unbilled(conn: &Connection) -> rusqlite::Result<Vec<i64>> {
    conn.prepare(
        "SELECT DISTINCT customer_id FROM task
         WHERE status = 'done' AND invoice_id IS NULL AND amount_cents > 0 ORDER BY customer_id",
    )?
    .query_map([], |r| r.get(0))?
    .collect()
}
