//! What `why`, `plan` and `status` read about the sending rules of SPEC §14,
//! read-only: when a counted send rolls off a 24 h cap, the claims on a
//! lead's step, the candidates of a pass by time zone (where the send window
//! is closed, every lead waits: `plan` counts them instead of walking them),
//! and how many candidates a pass has. The rules themselves are
//! `commands::discipline`; what `reserve` writes is `outbox`.

use super::{Db, StoreResult, params};

/// The time of the `k`-th oldest (from 0) real outreach send counted by the
/// daily cap at `now` (in `(now − 24 h, now]`): the cap's count drops below
/// `count − k` a day after it.
pub fn nth_counted_send_at(db: Db<'_>, now: i64, k: i64) -> StoreResult<Option<i64>> {
    db.query_opt(
        "SELECT at FROM send_ledger
         WHERE at > ?1 AND at <= ?2 AND kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain')
         ORDER BY at LIMIT 1 OFFSET ?3",
        params![now - 86_400, now, k],
        |r| r.get(0),
    )
}

/// The times of the first emails to a company domain counted at `now`
/// (`outbox::first_contacts_at_domain`), oldest first.
pub fn first_contact_times(db: Db<'_>, domain: &str, now: i64) -> StoreResult<Vec<i64>> {
    db.query_all(
        "SELECT s.at FROM lead l INDEXED BY lead_domain
         JOIN send_ledger s INDEXED BY send_ledger_once_uq
           ON s.lead_id = l.id AND s.step = 1 AND s.kind = 'outreach'
          AND s.outcome IN ('reserved', 'sent', 'uncertain')
         WHERE l.domain = ?3 AND l.domain <> '' AND s.at > ?1 AND s.at <= ?2
         ORDER BY s.at",
        params![now - 86_400, now, domain],
        |r| r.get(0),
    )
}

/// The claim on a lead's step that makes a second one impossible (reserved,
/// sent or uncertain): its outcome and time.
pub fn step_claim(db: Db<'_>, lead_id: i64, step: i64) -> StoreResult<Option<(String, i64)>> {
    db.query_opt(
        "SELECT outcome, at FROM send_ledger WHERE lead_id = ?1 AND step = ?2
         AND kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain')",
        params![lead_id, step],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// A lead's own time zone and an auto-reply's "not before".
pub fn lead_schedule(db: Db<'_>, lead_id: i64) -> StoreResult<(Option<String>, Option<i64>)> {
    Ok(db
        .query_opt(
            "SELECT timezone, not_before FROM lead WHERE id = ?1",
            params![lead_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .unwrap_or((None, None)))
}

/// `new` leads: the candidates of a pass's second part. (The cast: a SUM
/// of BIGINTs is NUMERIC on PostgreSQL.)
pub fn new_leads(db: Db<'_>) -> StoreResult<i64> {
    db.query_row(
        "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM lead_status_count WHERE status = 'new'",
        params![],
        |r| r.get(0),
    )
}

/// Active sequences whose next step is due at `at`, and those not yet due.
pub fn due_and_waiting(db: Db<'_>, at: i64) -> StoreResult<(i64, i64)> {
    let count = |sql: &str| -> StoreResult<i64> { db.query_row(sql, params![at], |r| r.get(0)) };
    Ok((
        count("SELECT COUNT(*) FROM sequence WHERE state = 'active' AND next_due_at <= ?1")?,
        count("SELECT COUNT(*) FROM sequence WHERE state = 'active' AND next_due_at > ?1")?,
    ))
}

/// The time zones leads have of their own, in byte order (SQLite reads
/// them so from the index; PostgreSQL's DISTINCT promises no order, and
/// its collation may sort them differently: sorted here).
pub fn own_zones(db: Db<'_>) -> StoreResult<Vec<String>> {
    let mut zones: Vec<String> = db.query_all(
        "SELECT DISTINCT timezone FROM lead INDEXED BY lead_own_timezone WHERE timezone IS NOT NULL",
        params![],
        |r| r.get(0),
    )?;
    zones.sort_unstable();
    Ok(zones)
}

/// Due follow-ups of the leads in time zone `zone`, in `sequences::due`
/// order.
pub fn due_in_zone(db: Db<'_>, zone: &str, at: i64) -> StoreResult<Vec<(i64, i64, i64)>> {
    db.query_all(
        "SELECT s.next_due_at, s.lead_id, s.next_step
         FROM lead l INDEXED BY lead_own_timezone JOIN sequence s ON s.lead_id = l.id
         WHERE l.timezone = ?1 AND s.state = 'active' AND s.next_due_at <= ?2
         ORDER BY s.next_due_at, s.lead_id",
        params![zone, at],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// How many follow-ups of leads in time zone `zone` are due at `at`.
pub fn due_in_zone_count(db: Db<'_>, zone: &str, at: i64) -> StoreResult<i64> {
    db.query_row(
        "SELECT COUNT(*) FROM lead l INDEXED BY lead_own_timezone JOIN sequence s ON s.lead_id = l.id
         WHERE l.timezone = ?1 AND s.state = 'active' AND s.next_due_at <= ?2",
        params![zone, at],
        |r| r.get(0),
    )
}

/// `new` leads in time zone `zone` after `after_id`, oldest first.
pub fn new_in_zone(db: Db<'_>, zone: &str, after_id: i64, limit: u32) -> StoreResult<Vec<i64>> {
    db.query_all(
        "SELECT id FROM lead INDEXED BY lead_own_timezone
         WHERE timezone = ?1 AND status = 'new' AND id > ?2 ORDER BY id LIMIT ?3",
        params![zone, after_id, limit],
        |r| r.get(0),
    )
}

/// How many `new` leads are in time zone `zone`.
pub fn new_in_zone_count(db: Db<'_>, zone: &str) -> StoreResult<i64> {
    db.query_row(
        "SELECT COUNT(*) FROM lead INDEXED BY lead_own_timezone WHERE timezone = ?1 AND status = 'new'",
        params![zone],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_day_rolls_off_from_its_oldest_send() {
        crate::db::on_each_store(|db| {
            let now = 1_795_615_200;
            for (at, outcome) in [
                (now - 86_400, "sent"), // 24 h ago exactly: no longer counted
                (now - 80_000, "sent"),
                (now - 70_000, "failed"),
                (now - 60_000, "uncertain"),
                (now - 10, "reserved"),
            ] {
                db.execute(
                    "INSERT INTO send_ledger (at, hour_start, kind, recipient, mode, outcome) VALUES (?1, 0, 'outreach', 'a', 'SMTP', ?2)",
                    params![at, outcome],
                )
                .unwrap();
            }
            assert_eq!(nth_counted_send_at(db, now, 0).unwrap(), Some(now - 80_000));
            assert_eq!(nth_counted_send_at(db, now, 1).unwrap(), Some(now - 60_000));
            assert_eq!(nth_counted_send_at(db, now, 3).unwrap(), None);
        });
    }

    #[test]
    fn leads_with_their_own_zone_are_listed_by_zone() {
        crate::db::on_each_store(|db| {
            // Zones in reverse byte order, one lower-case: PostgreSQL
            // returns DISTINCT values in no promised order.
            db.execute_batch(
                "INSERT INTO lead (id, email, source, created_at, timezone) VALUES
                   (1, 'a@a.com', 't', 0, NULL), (2, 'b@b.com', 't', 0, 'Europe/Berlin'),
                   (3, 'c@c.com', 't', 0, 'America/New_York'), (4, 'd@d.com', 't', 0, NULL),
                   (5, 'e@e.com', 't', 0, 'America/Argentina/Buenos_Aires'),
                   (6, 'f@f.com', 't', 0, 'Etc/GMT+5'), (7, 'g@g.com', 't', 0, 'zulu/local');
                 UPDATE lead SET status = 'contacted' WHERE id IN (3, 4, 5, 6, 7);
                 INSERT INTO sequence (lead_id, step, next_step, next_due_at, state, first_subject, started_at, updated_at)
                   VALUES (3, 1, 2, 50, 'active', 'Hi', 0, 0), (4, 1, 2, 40, 'active', 'Hi', 0, 0);",
            )
            .unwrap();
            assert_eq!(
                own_zones(db).unwrap(),
                [
                    "America/Argentina/Buenos_Aires",
                    "America/New_York",
                    "Etc/GMT+5",
                    "Europe/Berlin",
                    "zulu/local"
                ]
            );
            assert_eq!(new_in_zone(db, "Europe/Berlin", 0, 10).unwrap(), [2]);
            assert_eq!(new_in_zone(db, "Europe/Berlin", 2, 10).unwrap(), [0i64; 0]);
            assert_eq!(new_in_zone_count(db, "Europe/Berlin").unwrap(), 1);
            assert_eq!(new_in_zone_count(db, "America/New_York").unwrap(), 0);
            assert_eq!(new_leads(db).unwrap(), 2);
            assert_eq!(
                due_in_zone(db, "America/New_York", 60).unwrap(),
                [(50, 3, 2)]
            );
            assert_eq!(due_in_zone(db, "America/New_York", 49).unwrap(), []);
            assert_eq!(due_in_zone_count(db, "America/New_York", 60).unwrap(), 1);
            assert_eq!(due_and_waiting(db, 45).unwrap(), (1, 1));
            assert_eq!(
                lead_schedule(db, 2).unwrap(),
                (Some("Europe/Berlin".into()), None)
            );
            assert_eq!(lead_schedule(db, 99).unwrap(), (None, None));
        });
    }

    #[test]
    fn a_step_claim_and_the_first_contacts_at_a_domain() {
        crate::db::on_each_store(|db| {
            db.execute_batch(
                "INSERT INTO lead (id, email, domain, source, created_at) VALUES
                   (1, 'a@acme.com', 'acme.com', 't', 0), (2, 'b@acme.com', 'acme.com', 't', 0);
                 INSERT INTO send_ledger (at, hour_start, kind, lead_id, step, recipient, mode, outcome) VALUES
                   (30, 0, 'outreach', 2, 1, 'b@acme.com', 'SMTP', 'sent'),
                   (20, 0, 'outreach', 1, 1, 'a@acme.com', 'SMTP', 'failed'),
                   (10, 0, 'outreach', 1, 1, 'a@acme.com', 'SMTP', 'uncertain');",
            )
            .unwrap();
            assert_eq!(
                step_claim(db, 1, 1).unwrap(),
                Some(("uncertain".into(), 10))
            );
            assert_eq!(step_claim(db, 1, 2).unwrap(), None);
            assert_eq!(first_contact_times(db, "acme.com", 100).unwrap(), [10, 30]);
            assert_eq!(first_contact_times(db, "", 100).unwrap(), [0i64; 0]);
        });
    }
}
