//! Window queries for the digest (`hoss summary`): every count is over
//! `[from, to)`. Leads, sends and invoices are read from the tallies their
//! triggers keep (migrations V4 and V15): whole hours from `tally_hour`,
//! the window's ragged edges from `tally_second`, so a day stays cheap
//! however many rows it holds; the rest on a covering index.

use std::collections::BTreeMap;

use super::{Db, StoreResult, params};

const HOUR: i64 = 3600;

/// A tally's counts by key over `[from, to)`: the whole hours inside from
/// `tally_hour`, the seconds before the first and after the last whole hour
/// from `tally_second` (at most an hour of rows at each end). `SUM` of
/// integers is NUMERIC on PostgreSQL: the cast makes it BIGINT on both.
fn tally(db: Db<'_>, metric: &str, from: i64, to: i64) -> StoreResult<BTreeMap<String, i64>> {
    // The whole hours inside [from, to) from the hourly tallies, the edges
    // from the per-second ones: one statement (one round trip).
    let first_whole =
        from.div_euclid(HOUR) * HOUR + if from.rem_euclid(HOUR) == 0 { 0 } else { HOUR };
    let last_whole_end = to.div_euclid(HOUR) * HOUR;
    let (head_end, tail_start) = if first_whole < last_whole_end {
        (first_whole, last_whole_end)
    } else {
        (to, to)
    };
    let mut out: BTreeMap<String, i64> = db
        .query_all(
            "SELECT key, CAST(SUM(n) AS BIGINT) FROM (
                 SELECT key, n FROM tally_second WHERE metric = ?1 AND at >= ?2 AND at < ?3
                 UNION ALL
                 SELECT key, n FROM tally_hour WHERE metric = ?1 AND hour >= ?3 AND hour < ?4
                 UNION ALL
                 SELECT key, n FROM tally_second WHERE metric = ?1 AND at >= ?4 AND at < ?5) AS t
             GROUP BY key",
            params![metric, from, head_end, tail_start, to],
            |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
        )?
        .into_iter()
        .collect();
    out.retain(|_, n| *n != 0);
    Ok(out)
}

/// Drops per-second tallies older than the retention (at least the 8 days a
/// weekly digest's edges need); hourly ones are small and kept.
pub fn prune_tallies(db: Db<'_>, now: i64, retention_days: u32) -> StoreResult<usize> {
    let days = i64::from(retention_days.max(8));
    db.execute(
        "DELETE FROM tally_second
         WHERE metric IN ('lead', 'send', 'send_step', 'invoice_created', 'invoice_paid') AND at < ?1",
        params![now - days * 86_400],
    )
}

/// (total, by source) of leads created in the window.
pub fn leads_created(db: Db<'_>, from: i64, to: i64) -> StoreResult<(i64, BTreeMap<String, i64>)> {
    let by_source = tally(db, "lead", from, to)?;
    Ok((by_source.values().sum(), by_source))
}

/// Leads skipped as duplicates by `source-leads` runs started in the window.
pub fn leads_deduped(db: Db<'_>, from: i64, to: i64) -> StoreResult<i64> {
    db.query_row(
        "SELECT CAST(COALESCE(SUM(deduped), 0) AS BIGINT) FROM lead_source_run WHERE started_at >= ?1 AND started_at < ?2",
        params![from, to],
        |r| r.get(0),
    )
}

/// Send attempts in the window by (kind, outcome): `outreach`, `test` and
/// `summary` (digests) apart.
pub fn send_attempts(
    db: Db<'_>,
    from: i64,
    to: i64,
) -> StoreResult<BTreeMap<(String, String), i64>> {
    Ok(tally(db, "send", from, to)?
        .into_iter()
        .filter_map(|(key, n)| {
            let (kind, outcome) = key.split_once(':')?;
            Some(((kind.to_string(), outcome.to_string()), n))
        })
        .collect())
}

/// Real outreach sends (outcome `sent`) in the window: (first emails,
/// follow-ups), from the `send_step` tallies (migration V10).
pub fn sends_by_step(db: Db<'_>, from: i64, to: i64) -> StoreResult<(i64, i64)> {
    let by_step = tally(db, "send_step", from, to)?;
    let n = |k: &str| by_step.get(k).copied().unwrap_or(0);
    Ok((n("first"), n("follow_up")))
}

/// Real outreach sends holding a slot (reserved, sent, uncertain) in the
/// window: what the daily cap counts ([`super::outbox::real_in_24h`]), read
/// from the tallies so it stays cheap whatever the window holds.
pub fn real_outreach(db: Db<'_>, from: i64, to: i64) -> StoreResult<i64> {
    let by_key = tally(db, "send", from, to)?;
    Ok(["outreach:reserved", "outreach:sent", "outreach:uncertain"]
        .iter()
        .map(|k| by_key.get(*k).copied().unwrap_or(0))
        .sum())
}

/// (count, exact amount) of invoices created in the window, from their
/// tallies (migration V15: 'n', and the amount as 'billions' and 'units').
pub fn invoices_created(db: Db<'_>, from: i64, to: i64) -> StoreResult<(i64, i128)> {
    invoice_tally(db, "invoice_created", from, to)
}

/// (count, exact amount) of invoices that became paid in the window.
pub fn payments_received(db: Db<'_>, from: i64, to: i64) -> StoreResult<(i64, i128)> {
    invoice_tally(db, "invoice_paid", from, to)
}

fn invoice_tally(db: Db<'_>, metric: &str, from: i64, to: i64) -> StoreResult<(i64, i128)> {
    let keys = tally(db, metric, from, to)?;
    let key = |k: &str| keys.get(k).copied().unwrap_or(0);
    Ok((
        key("n"),
        super::invoices::join_sum(key("billions"), key("units")),
    ))
}

/// Rejected or failed webhooks logged in the window.
pub fn webhook_problems(db: Db<'_>, from: i64, to: i64) -> StoreResult<i64> {
    db.query_row(
        "SELECT COUNT(*) FROM event_log WHERE tag = '[STRIPE][WEBHOOK]' AND level IN ('WARN', 'ERROR')
         AND at >= ?1 AND at < ?2",
        params![from, to],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_half_open() {
        crate::db::on_each_store(|db| {
            db.execute_batch(
                "INSERT INTO lead (email, source, created_at) VALUES ('a@a.com', 'DUMMY_SEED', 100), ('b@b.com', 'import', 199), ('c@c.com', 'import', 200);
                 INSERT INTO send_ledger (at, hour_start, kind, recipient, mode, outcome) VALUES
                   (100, 0, 'outreach', 'a', 'SMTP', 'sent'), (150, 0, 'summary', 'o', 'SMTP', 'sent'), (199, 0, 'test', 't', 'SMTP', 'failed');",
            )
            .unwrap();
            let (n, by) = leads_created(db, 100, 200).unwrap();
            assert_eq!((n, by["import"], by["DUMMY_SEED"]), (2, 1, 1));
            let e = send_attempts(db, 100, 200).unwrap();
            let n = |k: &str, o: &str| e.get(&(k.to_string(), o.to_string())).copied();
            assert_eq!(
                (
                    n("outreach", "sent"),
                    n("test", "failed"),
                    n("summary", "sent"),
                    e.len()
                ),
                (Some(1), Some(1), Some(1), 3),
            );
        });
    }

    #[test]
    fn tallies_follow_outcomes_and_count_exactly_across_hour_edges() {
        crate::db::on_each_store(|db| {
            let h = 1_795_615_200; // a whole hour
            for at in [
                h - 2,
                h - 1,
                h,
                h + 1800,
                h + 3599,
                h + 3600,
                h + 7200 + 5,
                h + 7200 + 6,
            ] {
                db.execute(
                    "INSERT INTO lead (email, source, created_at) VALUES (?1, 'import', ?2)",
                    params![format!("{at}@x.com"), at],
                )
                .unwrap();
            }
            let count = |from: i64, to: i64| leads_created(db, from, to).unwrap().0;
            assert_eq!(count(h - 1, h + 7200 + 6), 6, "edges and whole hours");
            assert_eq!(count(h, h + 3600), 3, "exactly one whole hour");
            assert_eq!(count(h + 1, h + 3599), 1, "inside one hour");
            assert_eq!(count(h - 2, h + 7200 + 7), 8);
            assert_eq!(count(h + 7200 + 6, h + 7200 + 6), 0, "empty window");
            // A reservation that is finished moves from `reserved` to `sent`.
            db.execute(
                "INSERT INTO send_ledger (at, hour_start, kind, recipient, mode, outcome) VALUES (?1, ?2, 'outreach', 'a', 'SMTP', 'reserved')",
                params![h + 10, h],
            )
            .unwrap();
            db.execute("UPDATE send_ledger SET outcome = 'sent'", params![])
                .unwrap();
            let e = send_attempts(db, h, h + 3600).unwrap();
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(e[&("outreach".to_string(), "sent".to_string())], 1);
            // Pruning leaves the hourly tallies: the whole hour still counts.
            assert!(prune_tallies(db, h + 100 * 86_400, 8).unwrap() > 0);
            assert_eq!(count(h, h + 3600), 3);
        });
    }

    #[test]
    fn invoice_tallies_follow_every_change_and_match_the_rows_exactly() {
        crate::db::on_each_store(|db| {
            let h = 1_795_615_200; // a whole hour
            db.execute_batch(
                "INSERT INTO customer (id, company, contact_email, created_at) VALUES (1, 'C', 'c@c.com', 0)",
            )
            .unwrap();
            // Amounts past what one i64 sum of a few could hold, at the
            // window's edges and inside whole hours; one imported paid.
            let huge = i64::MAX / 2;
            let rows = [
                (h - 1, 100, None),
                (h, huge, None),
                (h + 1800, huge, None),
                (h + 3600 + 7, 250, Some(h + 3600 + 9)),
                (h + 7200 + 1, 999_999_999, None),
            ];
            for (at, cents, paid_at) in rows {
                let (status, via) = match paid_at {
                    Some(_) => ("paid", Some("manual")),
                    None => ("draft", None),
                };
                db.execute(
                    "INSERT INTO invoice (customer_id, amount_cents, currency, status, created_at, paid_at, paid_via)
                     VALUES (1, ?1, 'usd', ?2, ?3, ?4, ?5)",
                    params![cents, status, at, paid_at, via],
                )
                .unwrap();
            }
            // What the rows say, summed exactly here.
            let by_rows = |column: &str, from: i64, to: i64| -> (i64, i128) {
                let rows = db
                    .query_all(
                        &format!(
                            "SELECT amount_cents FROM invoice WHERE {column} >= ?1 AND {column} < ?2"
                        ),
                        params![from, to],
                        |r| r.get::<i64>(0),
                    )
                    .unwrap();
                (
                    i64::try_from(rows.len()).unwrap(),
                    rows.iter().map(|c| i128::from(*c)).sum(),
                )
            };
            let agree = |what: &str| {
                for (from, to) in [(h - 1, h + 7202), (h, h + 3600), (h + 1, h + 7201), (h, h)] {
                    assert_eq!(
                        invoices_created(db, from, to).unwrap(),
                        by_rows("created_at", from, to),
                        "created {from}..{to}: {what}"
                    );
                    assert_eq!(
                        payments_received(db, from, to).unwrap(),
                        by_rows("paid_at", from, to),
                        "paid {from}..{to}: {what}"
                    );
                }
            };
            agree("as inserted");
            assert_eq!(invoices_created(db, h - 1, h + 7202).unwrap().0, 5);
            db.execute(
                "UPDATE invoice SET status = 'paid', paid_at = ?1, paid_via = 'manual' WHERE amount_cents = ?2 AND created_at = ?3",
                params![h + 3599, huge, h],
            )
            .unwrap();
            agree("one paid");
            db.execute(
                "UPDATE invoice SET amount_cents = 7 WHERE created_at = ?1",
                params![h - 1],
            )
            .unwrap();
            agree("an amount changed");
            db.execute(
                "UPDATE invoice SET status = 'void' WHERE created_at = ?1",
                params![h + 1800],
            )
            .unwrap();
            agree("one void (still made)");
            db.execute(
                "DELETE FROM invoice WHERE created_at = ?1",
                params![h + 7200 + 1],
            )
            .unwrap();
            agree("one deleted");
            assert_eq!(payments_received(db, h, h + 7200).unwrap().0, 2);
        });
    }

    #[test]
    fn sends_are_counted_by_step_and_the_daily_count_matches_the_ledger() {
        crate::db::on_each_store(|db| {
            let h = 1_795_615_200;
            // (at, kind, step, outcome as inserted, outcome after)
            let rows = [
                (h + 1, "outreach", 1, "reserved", "sent"),
                (h + 2, "outreach", 2, "reserved", "sent"),
                (h + 3, "outreach", 3, "sent", "sent"),
                (h + 4, "outreach", 2, "reserved", "failed"),
                (h + 5, "outreach", 1, "reserved", "uncertain"),
                (h + 6, "test", 1, "sent", "sent"),
                (h + 7, "outreach", 1, "dry_run", "dry_run"),
                (h - 86_400, "outreach", 1, "sent", "sent"),
            ];
            for (at, kind, step, first, after) in rows {
                let id = db
                    .insert_id(
                        "INSERT INTO send_ledger (at, hour_start, kind, step, recipient, mode, outcome) VALUES (?1, ?2, ?3, ?4, 'a', 'SMTP', ?5)",
                        params![at, at - at % 3600, kind, step, first],
                    )
                    .unwrap();
                db.execute(
                    "UPDATE send_ledger SET outcome = ?1 WHERE id = ?2 AND outcome <> ?1",
                    params![after, id],
                )
                .unwrap();
            }
            assert_eq!(sends_by_step(db, h, h + 10).unwrap(), (1, 2));
            assert_eq!(sends_by_step(db, h - 86_400, h + 10).unwrap(), (2, 2));
            // A sent row that is taken back (re-queued) leaves the count.
            db.execute(
                "UPDATE send_ledger SET outcome = 'failed' WHERE at = ?1",
                params![h + 3],
            )
            .unwrap();
            assert_eq!(sends_by_step(db, h, h + 10).unwrap(), (1, 1));
            let now = h + 7;
            assert_eq!(real_outreach(db, now - 86_399, now + 1).unwrap(), 3);
            // The daily cap's count (from the tallies) is the ledger's own,
            // `(now − 24 h, now]`, with sends right at both ends.
            let by_rows = |now: i64| -> i64 {
                db.query_row(
                    "SELECT COUNT(*) FROM send_ledger WHERE at > ?1 AND at <= ?2
                     AND kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain')",
                    params![now - 86_400, now],
                    |r| r.get(0),
                )
                .unwrap()
            };
            let sent_at: Vec<i64> = db
                .query_all("SELECT at FROM send_ledger", params![], |r| r.get(0))
                .unwrap();
            for at in sent_at {
                for now in [at - 1, at, at + 86_399, at + 86_400] {
                    assert_eq!(
                        crate::db::outbox::real_in_24h(db, now).unwrap(),
                        by_rows(now),
                        "at {now}"
                    );
                }
            }
        });
    }

    #[test]
    fn runs_deduped_and_webhook_problems_are_counted_in_the_window() {
        crate::db::on_each_store(|db| {
            assert_eq!(leads_deduped(db, 0, 100).unwrap(), 0);
            db.execute_batch(
                "INSERT INTO lead_source_run (provider, started_at, fetched, created, deduped, invalid)
                   VALUES ('p', 10, 5, 1, 3, 1), ('p', 20, 5, 1, 2, 0), ('p', 100, 9, 0, 9, 0);
                 INSERT INTO event_log (at, level, tag, message) VALUES
                   (10, 'WARN', '[STRIPE][WEBHOOK]', 'bad'), (11, 'INFO', '[STRIPE][WEBHOOK]', 'ok'),
                   (100, 'ERROR', '[STRIPE][WEBHOOK]', 'later');",
            )
            .unwrap();
            assert_eq!(leads_deduped(db, 0, 100).unwrap(), 5);
            assert_eq!(webhook_problems(db, 0, 100).unwrap(), 1);
        });
    }
}
