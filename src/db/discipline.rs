//! What `why`, `plan` and `status` read about the sending rules of SPEC §14,
//! read-only: when a counted send rolls off a 24 h cap, the claims on a
//! lead's step, the candidates of a pass by time zone (where the send window
//! is closed, every lead waits: `plan` counts them instead of walking them),
//! and how many candidates a pass has. The rules themselves are
//! `commands::discipline`; what `reserve` writes is `outbox`.

use rusqlite::{Connection, OptionalExtension, params};

/// The time of the `k`-th oldest (from 0) real outreach send counted by the
/// daily cap at `now` (in `(now − 24 h, now]`): the cap's count drops below
/// `count − k` a day after it.
pub fn nth_counted_send_at(conn: &Connection, now: i64, k: i64) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT at FROM send_ledger
         WHERE at > ?1 AND at <= ?2 AND kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain')
         ORDER BY at LIMIT 1 OFFSET ?3",
    )?
    .query_row(params![now - 86_400, now, k], |r| r.get(0))
    .optional()
}

/// The times of the first emails to a company domain counted at `now`
/// (`outbox::first_contacts_at_domain`), oldest first.
pub fn first_contact_times(
    conn: &Connection,
    domain: &str,
    now: i64,
) -> rusqlite::Result<Vec<i64>> {
    conn.prepare_cached(
        "SELECT s.at FROM lead l INDEXED BY lead_domain
         JOIN send_ledger s INDEXED BY send_ledger_once_uq
           ON s.lead_id = l.id AND s.step = 1 AND s.kind = 'outreach'
          AND s.outcome IN ('reserved', 'sent', 'uncertain')
         WHERE l.domain = ?3 AND l.domain <> '' AND s.at > ?1 AND s.at <= ?2
         ORDER BY s.at",
    )?
    .query_map(params![now - 86_400, now, domain], |r| r.get(0))?
    .collect()
}

/// The claim on a lead's step that makes a second one impossible (reserved,
/// sent or uncertain): its outcome and time.
pub fn step_claim(
    conn: &Connection,
    lead_id: i64,
    step: i64,
) -> rusqlite::Result<Option<(String, i64)>> {
    conn.prepare_cached(
        "SELECT outcome, at FROM send_ledger WHERE lead_id = ?1 AND step = ?2
         AND kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain')",
    )?
    .query_row(params![lead_id, step], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()
}

/// A lead's own time zone and an auto-reply's "not before".
pub fn lead_schedule(
    conn: &Connection,
    lead_id: i64,
) -> rusqlite::Result<(Option<String>, Option<i64>)> {
    Ok(conn
        .prepare_cached("SELECT timezone, not_before FROM lead WHERE id = ?1")?
        .query_row([lead_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((None, None)))
}

/// `new` leads: the candidates of a pass's second part.
pub fn new_leads(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT COALESCE(SUM(n), 0) FROM lead_status_count WHERE status = 'new'")?
        .query_row([], |r| r.get(0))
}

/// Active sequences whose next step is due at `at`, and those not yet due.
pub fn due_and_waiting(conn: &Connection, at: i64) -> rusqlite::Result<(i64, i64)> {
    let count = |sql: &str| -> rusqlite::Result<i64> {
        conn.prepare_cached(sql)?.query_row([at], |r| r.get(0))
    };
    Ok((
        count("SELECT COUNT(*) FROM sequence WHERE state = 'active' AND next_due_at <= ?1")?,
        count("SELECT COUNT(*) FROM sequence WHERE state = 'active' AND next_due_at > ?1")?,
    ))
}

/// The time zones leads have of their own.
pub fn own_zones(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached(
        "SELECT DISTINCT timezone FROM lead INDEXED BY lead_own_timezone WHERE timezone IS NOT NULL",
    )?
    .query_map([], |r| r.get(0))?
    .collect()
}

/// Due follow-ups of the leads in time zone `zone`, in `sequences::due`
/// order.
pub fn due_in_zone(
    conn: &Connection,
    zone: &str,
    at: i64,
) -> rusqlite::Result<Vec<(i64, i64, i64)>> {
    conn.prepare_cached(
        "SELECT s.next_due_at, s.lead_id, s.next_step
         FROM lead l INDEXED BY lead_own_timezone JOIN sequence s ON s.lead_id = l.id
         WHERE l.timezone = ?1 AND s.state = 'active' AND s.next_due_at <= ?2
         ORDER BY s.next_due_at, s.lead_id",
    )?
    .query_map(params![zone, at], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
    .collect()
}

/// How many follow-ups of leads in time zone `zone` are due at `at`.
pub fn due_in_zone_count(conn: &Connection, zone: &str, at: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COUNT(*) FROM lead l INDEXED BY lead_own_timezone JOIN sequence s ON s.lead_id = l.id
         WHERE l.timezone = ?1 AND s.state = 'active' AND s.next_due_at <= ?2",
    )?
    .query_row(params![zone, at], |r| r.get(0))
}

/// `new` leads in time zone `zone` after `after_id`, oldest first.
pub fn new_in_zone(
    conn: &Connection,
    zone: &str,
    after_id: i64,
    limit: u32,
) -> rusqlite::Result<Vec<i64>> {
    conn.prepare_cached(
        "SELECT id FROM lead INDEXED BY lead_own_timezone
         WHERE timezone = ?1 AND status = 'new' AND id > ?2 ORDER BY id LIMIT ?3",
    )?
    .query_map(params![zone, after_id, limit], |r| r.get(0))?
    .collect()
}

/// How many `new` leads are in time zone `zone`.
pub fn new_in_zone_count(conn: &Connection, zone: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COUNT(*) FROM lead INDEXED BY lead_own_timezone WHERE timezone = ?1 AND status = 'new'",
    )?
    .query_row([zone], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_day_rolls_off_from_its_oldest_send() {
        let conn = crate::db::open_in_memory().unwrap();
        let now = 1_795_615_200;
        for (at, outcome) in [
            (now - 86_400, "sent"), // 24 h ago exactly: no longer counted
            (now - 80_000, "sent"),
            (now - 70_000, "failed"),
            (now - 60_000, "uncertain"),
            (now - 10, "reserved"),
        ] {
            conn.execute(
                "INSERT INTO send_ledger (at, hour_start, kind, recipient, mode, outcome) VALUES (?1, 0, 'outreach', 'a', 'SMTP', ?2)",
                params![at, outcome],
            )
            .unwrap();
        }
        assert_eq!(
            nth_counted_send_at(&conn, now, 0).unwrap(),
            Some(now - 80_000)
        );
        assert_eq!(
            nth_counted_send_at(&conn, now, 1).unwrap(),
            Some(now - 60_000)
        );
        assert_eq!(nth_counted_send_at(&conn, now, 3).unwrap(), None);
    }

    #[test]
    fn leads_with_their_own_zone_are_listed_by_zone() {
        let conn = crate::db::open_in_memory().unwrap();
        conn.execute_batch(
            "INSERT INTO lead (id, email, source, created_at, timezone) VALUES
               (1, 'a@a.com', 't', 0, NULL), (2, 'b@b.com', 't', 0, 'Europe/Berlin'),
               (3, 'c@c.com', 't', 0, 'America/New_York'), (4, 'd@d.com', 't', 0, NULL);
             UPDATE lead SET status = 'contacted' WHERE id IN (3, 4);
             INSERT INTO sequence (lead_id, step, next_step, next_due_at, state, first_subject, started_at, updated_at)
               VALUES (3, 1, 2, 50, 'active', 'Hi', 0, 0), (4, 1, 2, 40, 'active', 'Hi', 0, 0);",
        )
        .unwrap();
        assert_eq!(
            own_zones(&conn).unwrap(),
            ["America/New_York", "Europe/Berlin"]
        );
        assert_eq!(new_in_zone(&conn, "Europe/Berlin", 0, 10).unwrap(), [2]);
        assert_eq!(
            new_in_zone(&conn, "Europe/Berlin", 2, 10).unwrap(),
            [0i64; 0]
        );
        assert_eq!(new_in_zone_count(&conn, "Europe/Berlin").unwrap(), 1);
        assert_eq!(new_in_zone_count(&conn, "America/New_York").unwrap(), 0);
        assert_eq!(new_leads(&conn).unwrap(), 2);
        assert_eq!(
            due_in_zone(&conn, "America/New_York", 60).unwrap(),
            [(50, 3, 2)]
        );
        assert_eq!(due_in_zone(&conn, "America/New_York", 49).unwrap(), []);
        assert_eq!(due_in_zone_count(&conn, "America/New_York", 60).unwrap(), 1);
        assert_eq!(due_and_waiting(&conn, 45).unwrap(), (1, 1));
    }
}
