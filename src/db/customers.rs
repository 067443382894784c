//! The `customer` table and onboarding (lead → customer).

use serde::Serialize;

use super::{Db, Row, StoreResult, params};

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

fn row(r: &Row<'_>) -> StoreResult<Customer> {
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

pub fn get(db: Db<'_>, id: i64) -> StoreResult<Option<Customer>> {
    db.query_opt(
        &format!("SELECT {COLUMNS} FROM customer WHERE id = ?1"),
        params![id],
        row,
    )
}

pub fn by_email(db: Db<'_>, email: &str) -> StoreResult<Option<Customer>> {
    db.query_opt(
        &format!("SELECT {COLUMNS} FROM customer WHERE contact_email = ?1"),
        params![email],
        row,
    )
}

pub fn by_token(db: Db<'_>, token: &str) -> StoreResult<Option<Customer>> {
    db.query_opt(
        &format!("SELECT {COLUMNS} FROM customer WHERE public_token = ?1"),
        params![token],
        row,
    )
}

pub fn list(db: Db<'_>, page: super::Page) -> StoreResult<super::Listed<Customer>> {
    super::page(db, COLUMNS, "FROM customer", Vec::new(), &["id"], page, row)
}

/// Customers by id after `after_id` (for streaming exports).
pub fn list_after(db: Db<'_>, after_id: i64, limit: u32) -> StoreResult<Vec<Customer>> {
    db.query_all(
        &format!("SELECT {COLUMNS} FROM customer WHERE id > ?1 ORDER BY id LIMIT ?2"),
        params![after_id, limit],
        row,
    )
}

pub fn insert(
    db: Db<'_>,
    company: &str,
    contact_name: Option<&str>,
    contact_email: &str,
    token: &str,
    now: i64,
) -> StoreResult<i64> {
    db.insert_id(
        "INSERT INTO customer (company, contact_name, contact_email, public_token, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![company, contact_name, contact_email, token, now],
    )
}

pub fn set_status(db: Db<'_>, id: i64, status: CustomerStatus) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE customer SET status = ?2 WHERE id = ?1",
        params![id, status],
    )? == 1)
}

pub fn set_email(db: Db<'_>, id: i64, email: &str) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE customer SET contact_email = ?2 WHERE id = ?1",
        params![id, email],
    )? == 1)
}

pub fn set_token(db: Db<'_>, id: i64, token: &str) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE customer SET public_token = ?2 WHERE id = ?1",
        params![id, token],
    )? == 1)
}

/// Customers without a token yet (imported ones).
pub fn missing_tokens(db: Db<'_>) -> StoreResult<Vec<i64>> {
    db.query_all(
        "SELECT id FROM customer WHERE public_token IS NULL ORDER BY id",
        params![],
        |r| r.get(0),
    )
}

/// Gives every customer without a portal token one (persisted); how many
/// were given one. (Not inside a transaction of the caller's: it runs its
/// own. Run again on PostgreSQL, it draws new tokens: nothing leaves the
/// database before it commits.)
pub fn ensure_tokens(db: Db<'_>) -> crate::error::Result<usize> {
    let missing = missing_tokens(db)?;
    db.immediate(|tx| {
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
pub fn convertible_leads(db: Db<'_>, limit: u32) -> StoreResult<Vec<Convertible>> {
    db.query_all(
        "SELECT id, name, email, company FROM lead WHERE status IN ('responded', 'qualified')
         ORDER BY id LIMIT ?1",
        params![limit],
        |r| {
            Ok(Convertible {
                lead_id: r.get(0)?,
                name: r.get(1)?,
                email: r.get(2)?,
                company: r.get(3)?,
            })
        },
    )
}

/// Marks a lead converted and links it to its customer (only from
/// `responded`/`qualified`, so a concurrent run cannot convert it twice).
pub fn link_lead(db: Db<'_>, lead_id: i64, customer_id: i64) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE lead SET status = 'converted', customer_id = ?2, status_reason = NULL
         WHERE id = ?1 AND status IN ('responded', 'qualified')",
        params![lead_id, customer_id],
    )? == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_are_found_by_id_email_and_token_and_change() {
        crate::db::on_each_store(|db| {
            let a = insert(
                db,
                "Acme",
                Some("Pat"),
                "pat@acme.com",
                "token-a-0123456789abcdefghij",
                5,
            )
            .unwrap();
            let b = insert(
                db,
                "Zeta",
                None,
                "z@zeta.com",
                "token-b-0123456789abcdefghij",
                6,
            )
            .unwrap();
            assert_ne!(a, b);
            let got = get(db, a).unwrap().unwrap();
            assert_eq!(
                (
                    got.company.as_str(),
                    got.contact_name.as_deref(),
                    got.created_at
                ),
                ("Acme", Some("Pat"), Timestamp(5))
            );
            assert_eq!(got.status, CustomerStatus::Active);
            assert_eq!(by_email(db, "z@zeta.com").unwrap().unwrap().id, b);
            assert_eq!(
                by_token(db, "token-a-0123456789abcdefghij")
                    .unwrap()
                    .unwrap()
                    .id,
                a
            );
            assert!(
                by_token(db, "nope-0123456789abcdefghijkl")
                    .unwrap()
                    .is_none()
            );
            assert!(set_status(db, a, CustomerStatus::Paused).unwrap());
            assert!(set_email(db, a, "p@acme.com").unwrap());
            assert!(!set_email(db, 99, "x@acme.com").unwrap());
            let got = get(db, a).unwrap().unwrap();
            assert_eq!(
                (got.status, got.contact_email.as_str()),
                (CustomerStatus::Paused, "p@acme.com")
            );
            let ids = |v: Vec<Customer>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
            assert_eq!(ids(list_after(db, 0, 10).unwrap()), [a, b]);
            assert_eq!(ids(list_after(db, a, 10).unwrap()), [b]);
            assert_eq!(ids(list(db, crate::db::Page::ALL).unwrap().rows), [a, b]);
        });
    }

    #[test]
    fn missing_tokens_are_made_and_convertible_leads_link_once() {
        crate::db::on_each_store(|db| {
            let a = insert(
                db,
                "Acme",
                None,
                "pat@acme.com",
                "token-a-0123456789abcdefghij",
                5,
            )
            .unwrap();
            db.execute(
                "UPDATE customer SET public_token = NULL WHERE id = ?1",
                params![a],
            )
            .unwrap();
            assert_eq!(missing_tokens(db).unwrap(), [a]);
            assert_eq!(ensure_tokens(db).unwrap(), 1);
            assert!(get(db, a).unwrap().unwrap().public_token.is_some());
            assert_eq!(ensure_tokens(db).unwrap(), 0);
            db.execute(
                "INSERT INTO lead (email, company, source, status, created_at)
                 VALUES ('r@x.com', 'X', 't', 'responded', 0), ('n@y.com', 'Y', 't', 'new', 0)",
                params![],
            )
            .unwrap();
            let ready = convertible_leads(db, 10).unwrap();
            assert_eq!(ready.len(), 1);
            assert_eq!(ready[0].email, "r@x.com");
            assert!(link_lead(db, ready[0].lead_id, a).unwrap());
            assert!(!link_lead(db, ready[0].lead_id, a).unwrap());
            assert!(convertible_leads(db, 10).unwrap().is_empty());
        });
    }
}
