//! The `mail_route` table: each domain's mail route as DNS last answered
//! (SPEC §15), kept [`ROUTE_TTL_SECS`]; and `dns_wait`: domains DNS gave no
//! answer about, left alone for [`WAIT_SECS`].

use super::{Db, StoreResult, params};

/// How long an answer is trusted: 7 days.
pub const ROUTE_TTL_SECS: i64 = 7 * 86_400;

/// A domain's remembered route: whether it takes mail, and the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub accepts: bool,
    pub detail: String,
    pub checked_at: i64,
}

/// The answer for `domain` younger than [`ROUTE_TTL_SECS`] at `now`.
pub fn fresh(db: Db<'_>, domain: &str, now: i64) -> StoreResult<Option<Route>> {
    db.query_opt(
        "SELECT accepts, detail, checked_at FROM mail_route WHERE domain = ?1 AND checked_at > ?2",
        params![domain, now - ROUTE_TTL_SECS],
        |r| {
            Ok(Route {
                accepts: r.get(0)?,
                detail: r.get(1)?,
                checked_at: r.get(2)?,
            })
        },
    )
}

/// How long a domain DNS gave no answer about is left alone: an hour.
pub const WAIT_SECS: i64 = 3_600;

/// When `domain` may be asked again, and why it waits, if it waits at `now`.
pub fn waiting(db: Db<'_>, domain: &str, now: i64) -> StoreResult<Option<(i64, String)>> {
    db.query_opt(
        "SELECT until, reason FROM dns_wait WHERE domain = ?1 AND until > ?2",
        params![domain, now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// DNS gave no answer about `domain` at `now`: not asked again for
/// [`WAIT_SECS`].
pub fn wait(db: Db<'_>, domain: &str, reason: &str, now: i64) -> StoreResult<()> {
    db.execute(
        "INSERT INTO dns_wait (domain, until, reason) VALUES (?1, ?2, ?3)
         ON CONFLICT (domain) DO UPDATE SET until = ?2, reason = ?3",
        params![domain, now + WAIT_SECS, reason],
    )?;
    Ok(())
}

/// Remembers DNS's answer for `domain` (and forgets that it waited).
pub fn remember(
    db: Db<'_>,
    domain: &str,
    accepts: bool,
    detail: &str,
    now: i64,
) -> StoreResult<()> {
    db.execute(
        "INSERT INTO mail_route (domain, accepts, detail, checked_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (domain) DO UPDATE SET accepts = ?2, detail = ?3, checked_at = ?4",
        params![domain, accepts, detail, now],
    )?;
    db.execute("DELETE FROM dns_wait WHERE domain = ?1", params![domain])?;
    Ok(())
}

/// Forgets a remembered refusal for `domain` (an operator set one of its
/// leads `new` again): the next real send asks DNS afresh.
pub fn forget_refusal(db: Db<'_>, domain: &str) -> StoreResult<()> {
    db.execute(
        "DELETE FROM mail_route WHERE domain = ?1 AND accepts = 0",
        params![domain],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_without_an_answer_waits_an_hour_and_an_answer_ends_it() {
        crate::db::on_each_store(|db| {
            let t = 1_800_000_000;
            wait(db, "slow.com", "timed out", t).unwrap();
            assert_eq!(
                waiting(db, "slow.com", t + WAIT_SECS - 1).unwrap(),
                Some((t + WAIT_SECS, "timed out".to_string()))
            );
            assert_eq!(waiting(db, "slow.com", t + WAIT_SECS).unwrap(), None);
            assert_eq!(waiting(db, "other.com", t).unwrap(), None);
            wait(db, "slow.com", "timed out again", t + 10).unwrap();
            remember(db, "slow.com", true, "MX mx.slow.com", t + 20).unwrap();
            assert_eq!(waiting(db, "slow.com", t + 30).unwrap(), None);
        });
    }

    #[test]
    fn an_answer_is_trusted_for_seven_days_then_asked_again() {
        crate::db::on_each_store(|db| {
            let t = 1_800_000_000;
            assert_eq!(fresh(db, "acme.com", t).unwrap(), None);
            remember(db, "acme.com", true, "MX mx.acme.com", t).unwrap();
            let route = fresh(db, "acme.com", t + ROUTE_TTL_SECS - 1)
                .unwrap()
                .unwrap();
            assert!(route.accepts);
            assert_eq!(route.detail, "MX mx.acme.com");
            assert_eq!(fresh(db, "acme.com", t + ROUTE_TTL_SECS).unwrap(), None);
            remember(db, "acme.com", false, "null MX", t + ROUTE_TTL_SECS).unwrap();
            let route = fresh(db, "acme.com", t + ROUTE_TTL_SECS).unwrap().unwrap();
            assert!(!route.accepts);
        });
    }
}
