//! The Python HossAgent database, read-only, whatever columns its age gave
//! it; and the inserts that bring its rows into hoss with their old ids
//! (`legacy_id`, unique), which is what makes a second import a no-op.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

use super::{Db, StoreResult, params};

use crate::domain::status::{CustomerStatus, InvoiceStatus, TaskStatus};
use crate::error::{Error, Result};
use crate::money::Cents;

/// Opens the old file read-only; nothing in it can change.
pub fn open_read_only(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(Error::Data(format!("{} is not a file", path.display())));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Error::Data(format!("cannot open {}: {e}", path.display())))?;
    conn.execute_batch("PRAGMA query_only = ON")
        .and_then(|_| conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |_| Ok(())))
        .map_err(|e| {
            Error::Data(format!(
                "{} is not a readable SQLite database: {e}",
                path.display()
            ))
        })?;
    Ok(conn)
}

/// The tables a HossAgent database holds (the importer reads these).
pub const TABLES: &[&str] = &["lead", "customer", "task", "invoice"];

/// Refuses a file that is not a HossAgent database before anything is read:
/// one with none of its tables, or hoss's own database.
pub fn check_is_legacy(conn: &Connection, path: &Path) -> Result<()> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if names.iter().any(|n| n == "refinery_schema_history") {
        return Err(Error::Data(format!(
            "{} is a hoss database, not a HossAgent one: nothing to import",
            path.display()
        )));
    }
    if !TABLES
        .iter()
        .any(|t| names.iter().any(|n| n.eq_ignore_ascii_case(t)))
    {
        let found = if names.is_empty() {
            "no tables".to_string()
        } else {
            format!("tables {}", names.join(", "))
        };
        return Err(Error::Data(format!(
            "{} is not a HossAgent database: it has {found}, none of {} (see replit.md, Moving from the Python app)",
            path.display(),
            TABLES.join(", ")
        )));
    }
    Ok(())
}

/// One old row: column name → value (absent columns are simply missing).
#[derive(Debug, Clone, Default)]
pub struct OldRow(HashMap<String, Value>);

impl OldRow {
    pub fn text(&self, column: &str) -> Option<String> {
        match self.0.get(column)? {
            Value::Text(s) => Some(s.clone()).filter(|s| !s.trim().is_empty()),
            Value::Integer(i) => Some(i.to_string()),
            Value::Real(f) => Some(f.to_string()),
            _ => None,
        }
    }

    pub fn int(&self, column: &str) -> Option<i64> {
        match self.0.get(column)? {
            Value::Integer(i) => Some(*i),
            Value::Real(f) if f.fract() == 0.0 => Some(*f as i64),
            Value::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Every row of `table` with the columns it has; an absent table is empty.
pub fn rows(conn: &Connection, table: &str) -> Result<Vec<OldRow>> {
    let columns: Vec<String> = conn
        .prepare(&format!("PRAGMA table_info({table})"))?
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<rusqlite::Result<_>>()?;
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let list = columns
        .iter()
        .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = conn.prepare(&format!("SELECT {list} FROM \"{table}\" ORDER BY rowid"))?;
    let rows = stmt
        .query_map([], |r| {
            let mut map = HashMap::new();
            for (i, c) in columns.iter().enumerate() {
                map.insert(c.to_ascii_lowercase(), r.get::<_, Value>(i)?);
            }
            Ok(OldRow(map))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn customer_by_legacy(db: Db<'_>, legacy_id: i64) -> StoreResult<Option<i64>> {
    db.query_opt(
        "SELECT id FROM customer WHERE legacy_id = ?1",
        params![legacy_id],
        |r| r.get(0),
    )
}

pub fn lead_imported(db: Db<'_>, legacy_id: i64) -> StoreResult<bool> {
    db.query_row(
        "SELECT EXISTS (SELECT 1 FROM lead WHERE legacy_id = ?1)",
        params![legacy_id],
        |r| r.get(0),
    )
}

pub fn task_imported(db: Db<'_>, legacy_id: i64) -> StoreResult<bool> {
    db.query_row(
        "SELECT EXISTS (SELECT 1 FROM task WHERE legacy_id = ?1)",
        params![legacy_id],
        |r| r.get(0),
    )
}

pub fn invoice_imported(db: Db<'_>, legacy_id: i64) -> StoreResult<bool> {
    db.query_row(
        "SELECT EXISTS (SELECT 1 FROM invoice WHERE legacy_id = ?1)",
        params![legacy_id],
        |r| r.get(0),
    )
}

/// Marks an existing customer as the one an old row stands for.
pub fn adopt_customer(db: Db<'_>, id: i64, legacy_id: i64) -> StoreResult<()> {
    db.execute(
        "UPDATE customer SET legacy_id = ?2 WHERE id = ?1 AND legacy_id IS NULL",
        params![id, legacy_id],
    )?;
    Ok(())
}

pub fn token_taken(db: Db<'_>, token: &str) -> StoreResult<bool> {
    db.query_row(
        "SELECT EXISTS (SELECT 1 FROM customer WHERE public_token = ?1)",
        params![token],
        |r| r.get(0),
    )
}

#[allow(clippy::too_many_arguments)]
pub fn insert_customer(
    db: Db<'_>,
    legacy_id: i64,
    company: &str,
    email: &str,
    status: CustomerStatus,
    token: &str,
    created_at: i64,
) -> StoreResult<i64> {
    db.insert_id(
        "INSERT INTO customer (company, contact_email, status, public_token, legacy_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![company, email, status, token, legacy_id, created_at],
    )
}

/// An old task; (status, amount, cost, summary, created, completed).
#[derive(Debug, Clone)]
pub struct TaskRow<'a> {
    pub legacy_id: i64,
    pub customer_id: i64,
    pub description: &'a str,
    pub status: TaskStatus,
    pub amount_cents: Cents,
    pub cost_cents: Option<Cents>,
    pub result_summary: Option<&'a str>,
    pub created_at: i64,
    pub completed_at: Option<i64>,
}

pub fn insert_task(db: Db<'_>, t: &TaskRow<'_>) -> StoreResult<i64> {
    db.insert_id(
        "INSERT INTO task (customer_id, description, status, amount_cents, cost_cents, result_summary, legacy_id,
                           created_at, completed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            t.customer_id,
            t.description,
            t.status,
            t.amount_cents,
            t.cost_cents,
            t.result_summary,
            t.legacy_id,
            t.created_at,
            t.completed_at
        ],
    )
}

#[derive(Debug, Clone)]
pub struct InvoiceRow<'a> {
    pub legacy_id: i64,
    pub customer_id: i64,
    pub amount_cents: Cents,
    pub currency: &'a str,
    pub status: InvoiceStatus,
    pub payment_url: Option<&'a str>,
    pub link_id: Option<&'a str>,
    pub created_at: i64,
    pub paid_at: Option<i64>,
}

pub fn insert_invoice(db: Db<'_>, i: &InvoiceRow<'_>) -> StoreResult<i64> {
    db.insert_id(
        "INSERT INTO invoice (customer_id, amount_cents, currency, status, payment_url, stripe_payment_link_id,
                              link_active, paid_via, legacy_id, created_at, paid_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            i.customer_id,
            i.amount_cents,
            i.currency,
            i.status,
            i.payment_url,
            i.link_id,
            i.link_id.is_some() && i.status != InvoiceStatus::Draft,
            (i.status == InvoiceStatus::Paid).then_some("legacy"),
            i.legacy_id,
            i.created_at,
            i.paid_at
        ],
    )
}

/// A done task imported just now was billed by the old app when its
/// customer has an imported invoice made at or after the work was finished:
/// link it to the first such (non-void) invoice, so `bill` never bills it
/// again. Work finished after the last invoice stays billable. Returns how
/// many were marked.
pub fn mark_old_work_billed(db: Db<'_>, task_ids: &[i64]) -> StoreResult<usize> {
    const MARK: &str = "UPDATE task SET invoice_id = (
             SELECT i.id FROM invoice i
             WHERE i.customer_id = task.customer_id AND i.legacy_id IS NOT NULL AND i.status <> 'void'
               AND i.created_at >= COALESCE(task.completed_at, task.created_at)
             ORDER BY i.created_at, i.id LIMIT 1)
         WHERE id = ?1 AND status = 'done' AND invoice_id IS NULL
           AND EXISTS (SELECT 1 FROM invoice i
             WHERE i.customer_id = task.customer_id AND i.legacy_id IS NOT NULL AND i.status <> 'void'
               AND i.created_at >= COALESCE(task.completed_at, task.created_at))";
    let mut marked = 0;
    for id in task_ids {
        marked += db.execute(MARK, params![*id])?;
    }
    Ok(marked)
}
