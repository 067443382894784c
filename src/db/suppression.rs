//! The suppression list: addresses hoss never sends to (unsubscribe,
//! bounce, complaint, manual). Adding one also marks matching leads
//! `unsubscribed`.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::clock::Timestamp;

pub const REASONS: &[&str] = &["unsubscribe", "bounce", "complaint", "manual"];

/// An address on the list, as `suppress list` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub email: String,
    pub reason: String,
    pub note: Option<String>,
    pub created_at: Timestamp,
}

/// Adds (or keeps) an address; returns whether it was new, and how many
/// leads became `unsubscribed`.
pub fn add(
    conn: &Connection,
    email: &str,
    reason: &str,
    note: Option<&str>,
    now: i64,
) -> rusqlite::Result<(bool, usize)> {
    let added = conn.execute(
        "INSERT INTO suppression (email, reason, note, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (email) DO NOTHING",
        params![email, reason, note, now],
    )? == 1;
    super::sequences::stop_address(conn, email, "suppressed", now)?;
    let leads = conn.execute(
        "UPDATE lead SET status = 'unsubscribed', status_reason = ?2
         WHERE email = ?1 AND status NOT IN ('unsubscribed', 'converted', 'invalid', 'email_failed')",
        params![email, format!("suppressed ({reason})")],
    )?;
    Ok((added, leads))
}

pub fn remove(conn: &Connection, email: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM suppression WHERE email = ?1", [email])? == 1)
}

/// A page of the list, oldest first (or newest first).
pub fn list(conn: &Connection, page: super::Page) -> rusqlite::Result<super::Listed<Entry>> {
    super::page_of(
        conn,
        "email, reason, note, created_at",
        "FROM suppression",
        Vec::new(),
        &["created_at", "email"],
        page,
        |r| {
            Ok(Entry {
                email: r.get(0)?,
                reason: r.get(1)?,
                note: r.get(2)?,
                created_at: r.get(3)?,
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppressing_an_address_unsubscribes_its_leads_once() {
        let conn = crate::db::open_in_memory().unwrap();
        conn.execute(
            "INSERT INTO lead (email, source, created_at) VALUES ('a@b.com', 't', 0)",
            [],
        )
        .unwrap();
        assert_eq!(add(&conn, "a@b.com", "manual", None, 1).unwrap(), (true, 1));
        assert_eq!(
            add(&conn, "a@b.com", "bounce", None, 2).unwrap(),
            (false, 0)
        );
        assert_eq!(
            list(&conn, crate::db::Page::ALL).unwrap().rows[0].reason,
            "manual"
        );
        assert!(remove(&conn, "a@b.com").unwrap());
        assert!(!remove(&conn, "a@b.com").unwrap());
    }
}
