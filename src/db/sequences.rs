//! Per-lead sequence state (SPEC §14): the last step sent, the next one and
//! when it is due (UTC), active / finished / stopped and why, and the
//! Message-IDs that thread the follow-ups. Every write holds the write lock
//! (`Db::immediate`): the due counts the triggers keep (V17) are rows all
//! writes of a sequence share, and on PostgreSQL a write outside the lock
//! could deadlock with one inside it.

use super::{Db, Row, StoreResult, ToValue, Value, params};

/// A lead's sequence as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    pub lead_id: i64,
    pub step: i64,
    pub next_step: Option<i64>,
    pub next_due_at: Option<i64>,
    pub state: String,
    pub stop_reason: Option<String>,
    pub first_subject: String,
    /// The Message-IDs of the steps sent, oldest first (no angle brackets).
    pub message_ids: Vec<String>,
}

/// The columns `sequence_at` reads, in its order.
pub const COLUMNS: &str =
    "lead_id, step, next_step, next_due_at, state, stop_reason, first_subject, message_ids";

pub fn get(db: Db<'_>, lead_id: i64) -> StoreResult<Option<Sequence>> {
    db.query_opt(
        &format!("SELECT {COLUMNS} FROM sequence WHERE lead_id = ?1"),
        params![lead_id],
        |r| sequence_at(r, 0),
    )
    .map(Option::flatten)
}

/// The sequence whose `COLUMNS` begin at column `first` of a row; `None`
/// when they are NULL (an outer join found no sequence).
pub fn sequence_at(r: &Row<'_>, first: usize) -> StoreResult<Option<Sequence>> {
    let Some(lead_id) = r.get(first)? else {
        return Ok(None);
    };
    let ids: String = r.get(first + 7)?;
    Ok(Some(Sequence {
        lead_id,
        step: r.get(first + 1)?,
        next_step: r.get(first + 2)?,
        next_due_at: r.get(first + 3)?,
        state: r.get(first + 4)?,
        stop_reason: r.get(first + 5)?,
        first_subject: r.get(first + 6)?,
        message_ids: ids.split_whitespace().map(str::to_string).collect(),
    }))
}

/// What a sent step leaves behind: the next step and when it is due, or
/// nothing (the sequence is finished).
pub struct Sent<'a> {
    pub lead_id: i64,
    pub step: i64,
    pub next: Option<(i64, i64)>,
    pub domain: &'a str,
    pub subject: &'a str,
    pub message_id: Option<&'a str>,
    pub now: i64,
}

/// Records a sent step: the first starts the sequence, a later one moves it
/// on (only from the step it was waiting for).
pub fn sent(db: Db<'_>, s: &Sent<'_>) -> StoreResult<()> {
    let (next_step, next_due) = s.next.map_or((None, None), |(n, d)| (Some(n), Some(d)));
    let state = if s.next.is_some() {
        "active"
    } else {
        "finished"
    };
    let id = s.message_id.unwrap_or_default();
    if s.step == 1 {
        db.execute(
            "INSERT INTO sequence (lead_id, step, next_step, next_due_at, state, domain, first_subject,
                                   message_ids, started_at, updated_at)
             VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
             ON CONFLICT (lead_id) DO NOTHING",
            params![s.lead_id, next_step, next_due, state, s.domain, s.subject, id, s.now],
        )?;
    } else {
        db.execute(
            "UPDATE sequence SET step = ?2, next_step = ?3, next_due_at = ?4, state = ?5,
                 message_ids = trim(message_ids || ' ' || ?6), updated_at = ?7
             WHERE lead_id = ?1 AND state = 'active' AND next_step = ?2",
            params![s.lead_id, s.step, next_step, next_due, state, id, s.now],
        )?;
    }
    Ok(())
}

/// Stops the active sequences `which` selects (`?1` its key): one UPDATE
/// for every way a sequence ends early.
fn stop_where(db: Db<'_>, which: &str, key: Value, reason: &str, now: i64) -> StoreResult<usize> {
    db.execute(
        &format!(
            "UPDATE sequence SET state = 'stopped', stop_reason = ?2, next_step = NULL,
                 next_due_at = NULL, updated_at = ?3
             WHERE state = 'active' AND {which}"
        ),
        &[key, reason.to_value(), now.to_value()],
    )
}

/// Stops the active sequence of a lead; whether one was stopped.
pub fn stop(db: Db<'_>, lead_id: i64, reason: &str, now: i64) -> StoreResult<bool> {
    Ok(stop_where(db, "lead_id = ?1", lead_id.to_value(), reason, now)? == 1)
}

/// Stops every active sequence of the leads with this address.
pub fn stop_address(db: Db<'_>, email: &str, reason: &str, now: i64) -> StoreResult<usize> {
    stop_where(
        db,
        "lead_id IN (SELECT id FROM lead WHERE email = ?1)",
        email.to_value(),
        reason,
        now,
    )
}

/// Stops the active sequences at a company domain (a hold, SPEC §13).
pub fn stop_domain(db: Db<'_>, domain: &str, reason: &str, now: i64) -> StoreResult<usize> {
    stop_where(
        db,
        "domain <> '' AND domain = ?1",
        domain.to_value(),
        reason,
        now,
    )
}

/// The due work of a pass: a range of the due-time index, never a scan of
/// every active sequence (SPEC §11). Without statistics SQLite prefers the
/// equality on `state`, then sorts every active row for each batch, so the
/// index is named. (PostgreSQL has no `INDEXED BY`: its twins below leave
/// the choice to its planner, which has statistics.)
const DUE: &str = "SELECT next_due_at, lead_id, next_step FROM sequence INDEXED BY sequence_due
     WHERE state = 'active' AND next_due_at <= ?1
       AND (next_due_at, lead_id) > (?2, ?3)
     ORDER BY next_due_at, lead_id LIMIT ?4";
const DUE_POSTGRES: &str = "SELECT next_due_at, lead_id, next_step FROM sequence
     WHERE state = 'active' AND next_due_at <= ?1
       AND (next_due_at, lead_id) > (?2, ?3)
     ORDER BY next_due_at, lead_id LIMIT ?4";
/// The partial index holds company domains only (`domain <> ''`); the
/// condition lets SQLite use it rather than scan every active sequence on
/// each first email's claim.
const ACTIVE_AT_DOMAIN: &str = "SELECT COUNT(*) FROM sequence INDEXED BY sequence_active_domain
     WHERE state = 'active' AND domain <> '' AND domain = ?1";
const ACTIVE_AT_DOMAIN_POSTGRES: &str = "SELECT COUNT(*) FROM sequence
     WHERE state = 'active' AND domain <> '' AND domain = ?1";

/// Follow-ups due at `now`, oldest due first, after the cursor
/// `(due, lead_id)`.
pub fn due(
    db: Db<'_>,
    now: i64,
    after: (i64, i64),
    limit: u32,
) -> StoreResult<Vec<(i64, i64, i64)>> {
    db.query_all(
        db.pick(DUE, DUE_POSTGRES),
        params![now, after.0, after.1, limit],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// How many sequences are active, finished and stopped, and how many are
/// due: the active ones from their counts per due hour (V17), the ended
/// ones from the index of states.
pub fn counts(db: Db<'_>, now: i64) -> StoreResult<(i64, i64, i64, i64)> {
    let active = super::discipline::pass_counts(db, now)?;
    let (mut finished, mut stopped) = (0, 0);
    let rows = db.query_all(
        "SELECT state, COUNT(*) FROM sequence INDEXED BY sequence_state
         WHERE state IN ('finished', 'stopped') GROUP BY state",
        params![],
        |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
    )?;
    for (state, n) in rows {
        match state.as_str() {
            "finished" => finished = n,
            _ => stopped = n,
        }
    }
    Ok((active.due + active.not_due, finished, stopped, active.due))
}

/// Active sequences at a company domain. (`domain <> ''` lets the partial
/// index `sequence_active_domain` answer; without it SQLite scans every
/// sequence.)
pub fn active_at_domain(db: Db<'_>, domain: &str) -> StoreResult<i64> {
    if domain.is_empty() {
        // Free mail and platforms: not one company, never capped.
        return Ok(0);
    }
    db.query_row(
        db.pick(ACTIVE_AT_DOMAIN, ACTIVE_AT_DOMAIN_POSTGRES),
        params![domain],
        |r| r.get(0),
    )
}

/// A lead's own IANA time zone, if it has one.
pub fn lead_timezone(db: Db<'_>, lead_id: i64) -> StoreResult<Option<String>> {
    Ok(db
        .query_opt(
            "SELECT timezone FROM lead WHERE id = ?1",
            params![lead_id],
            |r| r.get::<Option<String>>(0),
        )?
        .flatten())
}

/// Sets (or with `None` clears) a lead's time zone; whether the lead exists.
pub fn set_timezone(db: Db<'_>, lead_id: i64, tz: Option<&str>) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE lead SET timezone = ?2 WHERE id = ?1",
        params![lead_id, tz],
    )? == 1)
}

/// A fact hoss keeps about itself.
pub fn state_value(db: Db<'_>, key: &str) -> StoreResult<Option<String>> {
    db.query_opt(
        "SELECT value FROM hoss_state WHERE key = ?1",
        params![key],
        |r| r.get(0),
    )
}

/// Keeps the first value ever given for `key`.
pub fn keep_first(db: Db<'_>, key: &str, value: &str) -> StoreResult<()> {
    db.execute(
        "INSERT INTO hoss_state (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
        params![key, value],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn lead(db: Db<'_>, email: &str) -> i64 {
        db.insert_id(
            "INSERT INTO lead (email, company, domain, source, status, created_at) VALUES (?1, 'C', 'c.example', 't', 'contacted', 1)",
            params![email],
        )
        .unwrap()
    }

    /// What SQLite plans for `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let params = vec![1_i64; stmt.parameter_count()];
        stmt.query_map(rusqlite::params_from_iter(params), |r| {
            r.get::<_, String>(3)
        })
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap()
        .join("; ")
    }

    #[test]
    fn the_due_work_and_the_domain_count_read_their_indexes_not_every_active_sequence() {
        let conn = crate::db::open_in_memory().unwrap();
        // The PostgreSQL twins are the same statements without the index.
        assert_eq!(DUE.replace(" INDEXED BY sequence_due", ""), DUE_POSTGRES);
        assert_eq!(
            ACTIVE_AT_DOMAIN.replace(" INDEXED BY sequence_active_domain", ""),
            ACTIVE_AT_DOMAIN_POSTGRES
        );
        let due_plan = plan(&conn, DUE);
        assert!(due_plan.contains("USING INDEX sequence_due"), "{due_plan}");
        assert!(!due_plan.contains("TEMP B-TREE"), "{due_plan}");
        let domain = plan(&conn, ACTIVE_AT_DOMAIN);
        assert!(domain.contains("sequence_active_domain"), "{domain}");
        let stop = plan(
            &conn,
            "SELECT 1 FROM sequence WHERE state = 'active' AND domain <> '' AND domain = ?1",
        );
        assert!(stop.contains("sequence_active_domain"), "{stop}");
    }

    #[test]
    fn paging_through_sequences_due_at_the_same_second_misses_none_and_repeats_none() {
        crate::db::on_each_store(|db| {
            assert_eq!(active_at_domain(db, "").unwrap(), 0);
            // Paging through many sequences due at the same second (one pass
            // sends them all at once) misses none and repeats none.
            for i in 0..100 {
                let id = lead(db, &format!("p{i}@c.example"));
                let s = Sent {
                    lead_id: id,
                    step: 1,
                    next: Some((2, if i < 90 { 500 } else { 400 })),
                    domain: "c.example",
                    subject: "Hello",
                    message_id: None,
                    now: 10,
                };
                sent(db, &s).unwrap();
            }
            let mut cursor = (i64::MIN, 0);
            let mut seen = Vec::new();
            loop {
                let page = due(db, 1000, cursor, 64).unwrap();
                let Some(last) = page.last() else { break };
                cursor = (last.0, last.1);
                seen.extend(page.iter().map(|(_, id, _)| *id));
            }
            let expected: Vec<i64> = (91..=100).chain(1..=90).collect();
            assert_eq!(seen, expected);
            assert_eq!(counts(db, 450).unwrap().3, 10);
        });
    }

    #[test]
    fn a_sequence_starts_moves_on_only_from_its_step_and_stops() {
        crate::db::on_each_store(|db| {
            let id = lead(db, "a@c.example");
            let s = |step, next, mid| Sent {
                lead_id: id,
                step,
                next,
                domain: "c.example",
                subject: "Hello",
                message_id: Some(mid),
                now: 10,
            };
            sent(db, &s(1, Some((2, 100)), "m1@x")).unwrap();
            assert_eq!(due(db, 99, (i64::MIN, 0), 10).unwrap(), vec![]);
            assert_eq!(due(db, 100, (i64::MIN, 0), 10).unwrap(), vec![(100, id, 2)]);
            // A stale second record of step 2 after it moved on changes nothing.
            sent(db, &s(2, Some((3, 200)), "m2@x")).unwrap();
            sent(db, &s(2, Some((3, 999)), "m2b@x")).unwrap();
            let q = get(db, id).unwrap().unwrap();
            assert_eq!(
                (q.step, q.next_step, q.next_due_at),
                (2, Some(3), Some(200))
            );
            assert_eq!(q.message_ids, ["m1@x", "m2@x"]);
            assert_eq!(active_at_domain(db, "c.example").unwrap(), 1);
            assert!(stop(db, id, "replied", 20).unwrap());
            assert!(!stop(db, id, "again", 21).unwrap());
            assert_eq!(counts(db, 1000).unwrap(), (0, 0, 1, 0));
            assert_eq!(
                get(db, id).unwrap().unwrap().stop_reason.as_deref(),
                Some("replied")
            );
        });
    }
}
