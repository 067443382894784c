//! The suppression list: addresses hoss never sends to (unsubscribe,
//! bounce, complaint, manual). Adding one also marks matching leads
//! `unsubscribed`.

use serde::Serialize;

use super::{Db, StoreResult, params};
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
    db: Db<'_>,
    email: &str,
    reason: &str,
    note: Option<&str>,
    now: i64,
) -> StoreResult<(bool, usize)> {
    let added = db.execute(
        "INSERT INTO suppression (email, reason, note, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (email) DO NOTHING",
        params![email, reason, note, now],
    )? == 1;
    super::sequences::stop_address(db, email, "suppressed", now)?;
    let leads = db.execute(
        "UPDATE lead SET status = 'unsubscribed', status_reason = ?2
         WHERE email = ?1 AND status NOT IN ('unsubscribed', 'converted', 'invalid', 'email_failed')",
        params![email, format!("suppressed ({reason})")],
    )?;
    Ok((added, leads))
}

pub fn remove(db: Db<'_>, email: &str) -> StoreResult<bool> {
    Ok(db.execute("DELETE FROM suppression WHERE email = ?1", params![email])? == 1)
}

/// A page of the list, oldest first (or newest first).
pub fn list(db: Db<'_>, page: super::Page) -> StoreResult<super::Listed<Entry>> {
    super::page(
        db,
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
        crate::db::on_each_store(|db| {
            db.execute(
                "INSERT INTO lead (email, source, created_at) VALUES ('a@b.com', 't', 0)",
                params![],
            )
            .unwrap();
            assert_eq!(add(db, "a@b.com", "manual", None, 1).unwrap(), (true, 1));
            assert_eq!(add(db, "a@b.com", "bounce", None, 2).unwrap(), (false, 0));
            assert_eq!(
                list(db, crate::db::Page::ALL).unwrap().rows[0].reason,
                "manual"
            );
            assert!(remove(db, "a@b.com").unwrap());
            assert!(!remove(db, "a@b.com").unwrap());
        });
    }
}
