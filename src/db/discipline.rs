//! What `why`, `plan` and `status` read about the sending rules of SPEC §14,
//! read-only: when a counted send rolls off a 24 h cap, the claims on a
//! lead's step, the candidates of a pass by time zone (where the send window
//! is closed, every lead waits: `plan` counts them instead of walking them),
//! and how many candidates a pass has. The rules themselves are
//! `commands::discipline`; what `reserve` writes is `outbox`.

use super::leads::{self, Lead};
use super::sequences::{self, Sequence};
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

/// What the sending rules read about a lead besides its row, in the one
/// statement that reads the row (one round trip to PostgreSQL, where
/// `plan` reads it for each candidate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadFacts {
    pub sequence: Option<Sequence>,
    /// The lead's own IANA time zone.
    pub timezone: Option<String>,
    /// An auto-reply's "not before".
    pub not_before: Option<i64>,
    pub unsubscribe_token: Option<String>,
    /// Why its address is on the suppression list.
    pub suppressed: Option<String>,
    /// A hold on its (non-empty) domain still in force at `at`: until, why.
    pub domain_held: Option<(i64, String)>,
    /// Its steps claimed (reserved, sent or uncertain), which makes a
    /// second send of the step impossible, in step order.
    pub claims: Vec<Claim>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub step: i64,
    pub outcome: String,
    pub at: i64,
}

impl LeadFacts {
    pub fn claim(&self, step: i64) -> Option<&Claim> {
        self.claims.iter().find(|c| c.step == step)
    }
}

/// A lead's facts at `at`; all empty for a lead that is gone.
pub fn lead_facts(db: Db<'_>, lead_id: i64, at: i64) -> StoreResult<LeadFacts> {
    Ok(lead_with_facts(db, lead_id, at)?
        .map(|(_, facts)| facts)
        .unwrap_or_default())
}

/// A lead and its facts at `at`, if it exists. One row per claimed step
/// (at most one per step: `send_ledger_once_uq`), or one without a claim.
pub fn lead_with_facts(
    db: Db<'_>,
    lead_id: i64,
    at: i64,
) -> StoreResult<Option<(Lead, LeadFacts)>> {
    let rows = db.query_all(
        // Columns 0-11: `leads::LEAD_COLUMNS`; from 18: `sequences::COLUMNS`.
        "SELECT l.id, l.name, l.email, l.company, l.domain, l.website, l.niche, l.source,
                l.status, l.created_at, l.last_contacted_at, l.status_reason,
                l.timezone, l.not_before, l.unsubscribe_token, x.reason, h.until, h.reason,
                s.lead_id, s.step, s.next_step, s.next_due_at, s.state, s.stop_reason,
                s.first_subject, s.message_ids,
                c.step, c.outcome, c.at
         FROM lead l
         LEFT JOIN sequence s ON s.lead_id = l.id
         LEFT JOIN suppression x ON x.email = l.email
         LEFT JOIN domain_hold h ON h.domain = l.domain AND l.domain <> '' AND h.until > ?2
         LEFT JOIN send_ledger c INDEXED BY send_ledger_once_uq ON c.lead_id = l.id
              AND c.kind = 'outreach' AND c.outcome IN ('reserved', 'sent', 'uncertain')
         WHERE l.id = ?1
         ORDER BY c.step",
        params![lead_id, at],
        |r| {
            let claim = match r.get::<Option<i64>>(26)? {
                Some(step) => Some(Claim {
                    step,
                    outcome: r.get(27)?,
                    at: r.get(28)?,
                }),
                None => None,
            };
            let until: Option<i64> = r.get(16)?;
            let reason: Option<String> = r.get(17)?;
            let facts = LeadFacts {
                timezone: r.get(12)?,
                not_before: r.get(13)?,
                unsubscribe_token: r.get(14)?,
                suppressed: r.get(15)?,
                domain_held: until.zip(reason),
                sequence: sequences::sequence_at(r, 18)?,
                claims: claim.into_iter().collect(),
            };
            Ok((leads::lead_at(r, 0)?, facts))
        },
    )?;
    let mut rows = rows.into_iter();
    Ok(rows.next().map(|(lead, mut facts)| {
        facts.claims.extend(rows.flat_map(|(_, more)| more.claims));
        (lead, facts)
    }))
}

/// The candidates of a pass at `at`, counted in one statement: active
/// sequences whose next step is due, those not yet due, and `new` leads.
/// The sequences come from their counts per due hour (V17: an hour starts
/// at a multiple of 3600 s, rounded down, also before 1970) and the index
/// of the hour `at` is in; the leads from their counts per status. (The
/// casts: a SUM of BIGINTs is NUMERIC on PostgreSQL.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassCounts {
    pub due: i64,
    pub not_due: i64,
    pub new: i64,
}

/// SQLite, without statistics, would count the hour on `sequence_state`:
/// every active sequence. The index is named.
const PASS_COUNTS: &str = "SELECT (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM sequence_due_count WHERE hour < ?2)
                + (SELECT COUNT(*) FROM sequence INDEXED BY sequence_due
                   WHERE state = 'active' AND next_due_at >= ?2 AND next_due_at <= ?1),
                (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM sequence_due_count),
                (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM lead_status_count WHERE status = 'new')";

pub fn pass_counts(db: Db<'_>, at: i64) -> StoreResult<PassCounts> {
    let (due, active, new): (i64, i64, i64) =
        db.query_row(PASS_COUNTS, params![at, at.div_euclid(3600) * 3600], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok(PassCounts {
        due,
        not_due: active - due,
        new,
    })
}

/// The candidates at `at` of the leads with a time zone of their own (due
/// follow-ups and `new` leads), per zone, in byte order of the zone's name
/// (PostgreSQL's GROUP BY promises no order, and its collation may sort
/// differently: sorted here). Zones without a candidate are not listed.
pub fn candidates_by_zone(db: Db<'_>, at: i64) -> StoreResult<Vec<(String, i64)>> {
    let mut zones: Vec<(String, i64)> = db.query_all(
        "SELECT timezone, COUNT(*) FROM (
             SELECT timezone FROM sequence INDEXED BY sequence_zone_due
             WHERE timezone IS NOT NULL AND state = 'active' AND next_due_at <= ?1
             UNION ALL
             SELECT timezone FROM lead INDEXED BY lead_own_timezone
             WHERE timezone IS NOT NULL AND status = 'new') AS candidate
         GROUP BY timezone",
        params![at],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    zones.sort_unstable();
    Ok(zones)
}

/// Due follow-ups of the leads in time zone `zone`, in `sequences::due`
/// order.
pub fn due_in_zone(db: Db<'_>, zone: &str, at: i64) -> StoreResult<Vec<(i64, i64, i64)>> {
    db.query_all(
        "SELECT next_due_at, lead_id, next_step FROM sequence INDEXED BY sequence_zone_due
         WHERE timezone = ?1 AND state = 'active' AND next_due_at <= ?2
         ORDER BY next_due_at, lead_id",
        params![zone, at],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_counts_one_hour_of_the_due_index_not_every_active_sequence() {
        let conn = crate::db::open_in_memory().unwrap();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {PASS_COUNTS}"))
            .unwrap();
        let plan = stmt
            .query_map(rusqlite::params![1_i64, 0_i64], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
            .join("; ");
        assert!(
            plan.contains("USING COVERING INDEX sequence_due")
                || plan.contains("USING INDEX sequence_due"),
            "{plan}"
        );
        assert!(!plan.contains("sequence_state"), "{plan}");
    }

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
            // groups in no promised order.
            db.execute_batch(
                "INSERT INTO lead (id, email, source, created_at, timezone) VALUES
                   (1, 'a@a.com', 't', 0, NULL), (2, 'b@b.com', 't', 0, 'Europe/Berlin'),
                   (3, 'c@c.com', 't', 0, 'America/New_York'), (4, 'd@d.com', 't', 0, NULL),
                   (5, 'e@e.com', 't', 0, 'America/Argentina/Buenos_Aires'),
                   (6, 'f@f.com', 't', 0, 'Etc/GMT+5'), (7, 'g@g.com', 't', 0, 'zulu/local');
                 UPDATE lead SET status = 'contacted' WHERE id IN (3, 4, 5);
                 INSERT INTO sequence (lead_id, step, next_step, next_due_at, state, first_subject, started_at, updated_at)
                   VALUES (3, 1, 2, 50, 'active', 'Hi', 0, 0), (4, 1, 2, 40, 'active', 'Hi', 0, 0);",
            )
            .unwrap();
            let zone = |z: &str, n: i64| (z.to_string(), n);
            assert_eq!(
                candidates_by_zone(db, 60).unwrap(),
                [
                    zone("America/New_York", 1),
                    zone("Etc/GMT+5", 1),
                    zone("Europe/Berlin", 1),
                    zone("zulu/local", 1)
                ]
            );
            assert_eq!(
                candidates_by_zone(db, 45).unwrap(),
                [
                    zone("Etc/GMT+5", 1),
                    zone("Europe/Berlin", 1),
                    zone("zulu/local", 1)
                ]
            );
            assert_eq!(new_in_zone(db, "Europe/Berlin", 0, 10).unwrap(), [2]);
            assert_eq!(new_in_zone(db, "Europe/Berlin", 2, 10).unwrap(), [0i64; 0]);
            assert_eq!(
                due_in_zone(db, "America/New_York", 60).unwrap(),
                [(50, 3, 2)]
            );
            assert_eq!(due_in_zone(db, "America/New_York", 49).unwrap(), []);
            // The sequence follows its lead's zone (V16's triggers).
            db.execute(
                "UPDATE lead SET timezone = 'Asia/Tokyo' WHERE id = 3",
                params![],
            )
            .unwrap();
            assert_eq!(due_in_zone(db, "America/New_York", 60).unwrap(), []);
            assert_eq!(due_in_zone(db, "Asia/Tokyo", 60).unwrap(), [(50, 3, 2)]);
            db.execute("UPDATE lead SET timezone = NULL WHERE id = 3", params![])
                .unwrap();
            assert_eq!(due_in_zone(db, "Asia/Tokyo", 60).unwrap(), []);
            assert_eq!(
                candidates_by_zone(db, 60).unwrap(),
                [
                    zone("Etc/GMT+5", 1),
                    zone("Europe/Berlin", 1),
                    zone("zulu/local", 1)
                ]
            );
            assert_eq!(
                pass_counts(db, 45).unwrap(),
                PassCounts {
                    due: 1,
                    not_due: 1,
                    new: 4
                }
            );
        });
    }

    #[test]
    fn the_due_counts_follow_every_change_of_a_sequence() {
        crate::db::on_each_store(|db| {
            // The counts as the sequences themselves give them.
            let direct = |at: i64| -> (i64, i64) {
                let count =
                    |sql: &str| db.query_row(sql, params![at], |r| r.get::<i64>(0)).unwrap();
                (
                    count(
                        "SELECT COUNT(*) FROM sequence WHERE state = 'active' AND next_due_at <= ?1",
                    ),
                    count(
                        "SELECT COUNT(*) FROM sequence WHERE state = 'active' AND next_due_at > ?1",
                    ),
                )
            };
            let hour = 1_795_615_200; // a UTC hour's first second
            let check = |what: &str| {
                for at in [
                    -5000,
                    -3600,
                    -50,
                    -1,
                    0,
                    hour - 1,
                    hour,
                    hour + 1,
                    hour + 1800,
                    hour + 3599,
                    hour + 3600,
                    hour + 7300,
                    i64::MAX / 2,
                ] {
                    let counted = pass_counts(db, at).unwrap();
                    assert_eq!(
                        (counted.due, counted.not_due),
                        direct(at),
                        "{what}, at {at}"
                    );
                }
            };
            check("no sequence");
            let mut leads =
                String::from("INSERT INTO lead (id, email, source, created_at, status) VALUES ");
            for id in 1..=10 {
                leads.push_str(&format!(
                    "{}({id}, 'l{id}@x.com', 't', 0, 'contacted')",
                    if id > 1 { ", " } else { "" }
                ));
            }
            db.execute_batch(&leads).unwrap();
            // Several rows in one statement, some in one hour, one at its
            // first second, two not active.
            db.execute_batch(&format!(
                "INSERT INTO sequence (lead_id, step, next_step, next_due_at, state, first_subject, started_at, updated_at) VALUES
                   (1, 1, 2, {h}, 'active', 'Hi', 0, 0), (2, 1, 2, {h1}, 'active', 'Hi', 0, 0),
                   (3, 1, 2, {h1}, 'active', 'Hi', 0, 0), (4, 1, 2, {h2}, 'active', 'Hi', 0, 0),
                   (5, 2, NULL, NULL, 'finished', 'Hi', 0, 0), (6, 1, NULL, NULL, 'stopped', 'Hi', 0, 0),
                   (9, 1, 2, -100, 'active', 'Hi', 0, 0), (10, 1, 2, -6000, 'active', 'Hi', 0, 0)",
                h = hour, h1 = hour + 1800, h2 = hour + 7300
            ))
            .unwrap();
            check("inserted");
            db.execute(
                &format!(
                    "UPDATE sequence SET next_due_at = {} WHERE lead_id = 2",
                    hour + 3599
                ),
                params![],
            )
            .unwrap();
            check("moved within its hour");
            db.execute(
                &format!(
                    "UPDATE sequence SET next_due_at = {} WHERE lead_id IN (1, 3)",
                    hour + 7300
                ),
                params![],
            )
            .unwrap();
            check("moved to a later hour, two in one statement");
            db.execute(
                "UPDATE sequence SET state = 'stopped', next_step = NULL, next_due_at = NULL WHERE lead_id = 4",
                params![],
            )
            .unwrap();
            check("stopped");
            db.execute(&format!("UPDATE sequence SET state = 'active', next_step = 3, next_due_at = {} WHERE lead_id IN (5, 6)", hour), params![]).unwrap();
            check("made active again");
            db.execute(
                "UPDATE sequence SET first_subject = 'Re' WHERE lead_id = 1",
                params![],
            )
            .unwrap();
            check("another column changed");
            db.execute("DELETE FROM sequence WHERE lead_id IN (2, 5)", params![])
                .unwrap();
            check("deleted");
            db.execute("DELETE FROM lead WHERE id = 6", params![])
                .unwrap();
            check("its lead deleted");
            db.execute(
                "UPDATE sequence SET state = 'finished', next_step = NULL, next_due_at = NULL",
                params![],
            )
            .unwrap();
            check("all ended");
            let left: i64 = db
                .query_row("SELECT COUNT(*) FROM sequence_due_count", params![], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(left, 0, "an hour whose count reaches zero is dropped");
        });
    }

    #[test]
    fn a_leads_facts_come_in_one_row() {
        crate::db::on_each_store(|db| {
            db.execute_batch(
                "INSERT INTO lead (id, email, domain, source, created_at, timezone, not_before, unsubscribe_token) VALUES
                   (1, 'a@acme.com', 'acme.com', 't', 0, 'Asia/Tokyo', 500, 'tok-1'),
                   (2, 'b@gmail.com', '', 't', 0, NULL, NULL, NULL),
                   (3, 'c@old.com', 'old.com', 't', 0, NULL, NULL, NULL);
                 UPDATE lead SET status = 'contacted' WHERE id = 1;
                 INSERT INTO sequence (lead_id, step, next_step, next_due_at, state, first_subject, message_ids, started_at, updated_at)
                   VALUES (1, 1, 2, 900, 'active', 'Hi', 'm1@x m2@x', 0, 0);
                 INSERT INTO suppression (email, reason, created_at) VALUES ('a@acme.com', 'manual', 0);
                 INSERT INTO domain_hold (domain, until, reason, at) VALUES
                   ('acme.com', 1000, 'domain_replied', 0), ('', 1000, 'never matched', 0),
                   ('old.com', 100, 'expired', 0);",
            )
            .unwrap();
            let facts = lead_facts(db, 1, 200).unwrap();
            assert_eq!(
                facts,
                LeadFacts {
                    sequence: sequences::get(db, 1).unwrap(),
                    timezone: Some("Asia/Tokyo".into()),
                    not_before: Some(500),
                    unsubscribe_token: Some("tok-1".into()),
                    suppressed: Some("manual".into()),
                    domain_held: Some((1000, "domain_replied".into())),
                    claims: Vec::new(),
                }
            );
            let sequence = facts.sequence.unwrap();
            assert_eq!(
                (sequence.next_step, sequence.next_due_at),
                (Some(2), Some(900))
            );
            assert_eq!(sequence.message_ids, ["m1@x", "m2@x"]);
            // The hold is over at its `until`; an empty domain is never held.
            assert_eq!(lead_facts(db, 1, 1000).unwrap().domain_held, None);
            assert_eq!(lead_facts(db, 2, 200).unwrap(), LeadFacts::default());
            assert_eq!(lead_facts(db, 3, 200).unwrap(), LeadFacts::default());
            assert_eq!(lead_facts(db, 99, 200).unwrap(), LeadFacts::default());
            assert_eq!(lead_with_facts(db, 99, 200).unwrap(), None);
            let (lead, _) = lead_with_facts(db, 1, 200).unwrap().unwrap();
            assert_eq!(Some(lead), crate::db::leads::get(db, 1).unwrap());
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
                   (10, 0, 'outreach', 1, 1, 'a@acme.com', 'SMTP', 'uncertain'),
                   (40, 0, 'outreach', 1, 3, 'a@acme.com', 'SMTP', 'reserved'),
                   (35, 0, 'test', 1, 2, 'a@acme.com', 'SMTP', 'sent');",
            )
            .unwrap();
            let claim = |step, outcome: &str, at| Claim {
                step,
                outcome: outcome.into(),
                at,
            };
            // Only outreach's reserved, sent and uncertain rows claim a
            // step, one row per claim, in step order.
            let facts = lead_facts(db, 1, 0).unwrap();
            assert_eq!(
                facts.claims,
                [claim(1, "uncertain", 10), claim(3, "reserved", 40)]
            );
            assert_eq!(facts.claim(1), Some(&claim(1, "uncertain", 10)));
            assert_eq!(facts.claim(2), None);
            let (lead, facts) = lead_with_facts(db, 2, 0).unwrap().unwrap();
            assert_eq!(Some(lead), crate::db::leads::get(db, 2).unwrap());
            assert_eq!(facts.claims, [claim(1, "sent", 30)]);
            assert_eq!(first_contact_times(db, "acme.com", 100).unwrap(), [10, 30]);
            assert_eq!(first_contact_times(db, "", 100).unwrap(), [0i64; 0]);
        });
    }
}
