//! The `customer` table and onboarding (lead → customer).

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::clock::Timestamp;
use crate::domain::status::CustomerStatus;
use crate::domain::token::new_token;
use crate::error::Error;

/// A customer as lists and `customer show` print it (with the portal token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Customer {
    pub id: i64,
    pub company: String,
    pub contact_name: Option<String>,
    pub contact_email: String,
    pub status: CustomerStatus,
    pub public_token: Option<String>,
    pub created_at: Timestamp,
}

const COLUMNS: &str = "id, company, contact_name, contact_email, status, public_token, created_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Customer> {
    Ok(Customer {
        id: r.get(0)?,
        company: r.get(1)?,
        contact_name: r.get(2)?,
        contact_email: r.get(3)?,
        status: r.get(4)?,
        public_token: r.get(5)?,
        created_at: r.get(6)?,
    })
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Customer>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM customer WHERE id = ?1"),
        [id],
        row,
    )
    .optional()
}

pub fn by_email(conn: &Connection, email: &str) -> rusqlite::Result<Option<Customer>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM customer WHERE contact_email = ?1"),
        [email],
        row,
    )
    .optional()
}

pub fn by_token(conn: &Connection, token: &str) -> rusqlite::Result<Option<Customer>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM customer WHERE public_token = ?1"),
        [token],
        row,
    )
    .optional()
}

pub fn list(conn: &Connection, page: super::Page) -> rusqlite::Result<super::Listed<Customer>> {
    super::page_of(
        conn,
        COLUMNS,
        "FROM customer",
        Vec::new(),
        &["id"],
        page,
        row,
    )
}

/// Customers by id after `after_id` (for streaming exports).
pub fn list_after(conn: &Connection, after_id: i64, limit: u32) -> rusqlite::Result<Vec<Customer>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM customer WHERE id > ?1 ORDER BY id LIMIT ?2"
    ))?
    .query_map(params![after_id, limit], row)?
    .collect()
}

pub fn insert(
    conn: &Connection,
    company: &str,
    contact_name: Option<&str>,
    contact_email: &str,
    token: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO customer (company, contact_name, contact_email, public_token, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![company, contact_name, contact_email, token, now],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn set_status(conn: &Connection, id: i64, status: CustomerStatus) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE customer SET status = ?2 WHERE id = ?1",
        params![id, status],
    )? == 1)
}

pub fn set_email(conn: &Connection, id: i64, email: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE customer SET contact_email = ?2 WHERE id = ?1",
        params![id, email],
    )? == 1)
}

pub fn set_token(conn: &Connection, id: i64, token: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE customer SET public_token = ?2 WHERE id = ?1",
        params![id, token],
    )? == 1)
}

/// Customers without a token yet (imported ones).
pub fn missing_tokens(conn: &Connection) -> rusqlite::Result<Vec<i64>> {
    conn.prepare("SELECT id FROM customer WHERE public_token IS NULL")?
        .query_map([], |r| r.get(0))?
        .collect()
}

/// Gives every customer without a portal token one (persisted); how many
/// were given one.
pub fn ensure_tokens(conn: &Connection) -> crate::error::Result<usize> {
    let missing = missing_tokens(conn)?;
    super::immediate(conn, |tx| {
        for id in &missing {
            set_token(tx, *id, &new_token().map_err(Error::Internal)?)?;
        }
        Ok(())
    })?;
    Ok(missing.len())
}

/// A lead ready to become a customer.
#[derive(Debug, Clone)]
pub struct Convertible {
    pub lead_id: i64,
    pub name: Option<String>,
    pub email: String,
    pub company: String,
}

/// Leads in `responded` or `qualified`, oldest first.
pub fn convertible_leads(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<Convertible>> {
    conn.prepare(
        "SELECT id, name, email, company FROM lead WHERE status IN ('responded', 'qualified')
         ORDER BY id LIMIT ?1",
    )?
    .query_map([limit], |r| {
        Ok(Convertible {
            lead_id: r.get(0)?,
            name: r.get(1)?,
            email: r.get(2)?,
            company: r.get(3)?,
        })
    })?
    .collect()
}

/// Marks a lead converted and links it to its customer (only from
/// `responded`/`qualified`, so a concurrent run cannot convert it twice).
pub fn link_lead(conn: &Connection, lead_id: i64, customer_id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE lead SET status = 'converted', customer_id = ?2, status_reason = NULL
         WHERE id = ?1 AND status IN ('responded', 'qualified')",
        params![lead_id, customer_id],
    )? == 1)
}
