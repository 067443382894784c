//! Window queries for the digest (`hoss summary`): every count is over
//! `[from, to)` on a covering index, so a day on a million-row ledger stays
//! cheap.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

/// (total, by source) of leads created in the window.
pub fn leads_created(
    conn: &Connection,
    from: i64,
    to: i64,
) -> rusqlite::Result<(i64, BTreeMap<String, i64>)> {
    let mut by_source = BTreeMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT source, COUNT(*) FROM lead WHERE created_at >= ?1 AND created_at < ?2 GROUP BY source",
    )?;
    for r in stmt.query_map(params![from, to], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (source, n) = r?;
        by_source.insert(source, n);
    }
    Ok((by_source.values().sum(), by_source))
}

/// Leads skipped as duplicates by `source-leads` runs started in the window.
pub fn leads_deduped(conn: &Connection, from: i64, to: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COALESCE(SUM(deduped), 0) FROM lead_source_run WHERE started_at >= ?1 AND started_at < ?2",
    )?
    .query_row(params![from, to], |r| r.get(0))
}

/// Outreach and test attempts in the window, by outcome (digests excluded).
pub fn email_outcomes(
    conn: &Connection,
    from: i64,
    to: i64,
) -> rusqlite::Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT outcome, COUNT(*) FROM send_ledger
         WHERE at >= ?1 AND at < ?2 AND kind IN ('outreach', 'test') GROUP BY outcome",
    )?;
    for r in stmt.query_map(params![from, to], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (outcome, n) = r?;
        out.insert(outcome, n);
    }
    Ok(out)
}

/// (count, exact amount) of invoices created in the window.
pub fn invoices_created(conn: &Connection, from: i64, to: i64) -> rusqlite::Result<(i64, i128)> {
    super::invoices::count_and_total(
        conn,
        "created_at >= ?1 AND created_at < ?2",
        params![from, to],
    )
}

/// (count, exact amount) of invoices that became paid in the window.
pub fn payments_received(conn: &Connection, from: i64, to: i64) -> rusqlite::Result<(i64, i128)> {
    super::invoices::count_and_total(
        conn,
        "paid_at >= ?1 AND paid_at < ?2 AND paid_at IS NOT NULL",
        params![from, to],
    )
}

/// Rejected or failed webhooks logged in the window.
pub fn webhook_problems(conn: &Connection, from: i64, to: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COUNT(*) FROM event_log WHERE tag = '[STRIPE][WEBHOOK]' AND level IN ('WARN', 'ERROR')
         AND at >= ?1 AND at < ?2",
    )?
    .query_row(params![from, to], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_half_open() {
        let conn = crate::db::open_in_memory().unwrap();
        conn.execute_batch(
            "INSERT INTO lead (email, source, created_at) VALUES ('a@a.com', 'DUMMY_SEED', 100), ('b@b.com', 'import', 199), ('c@c.com', 'import', 200);
             INSERT INTO send_ledger (at, hour_start, kind, recipient, mode, outcome) VALUES
               (100, 0, 'outreach', 'a', 'SMTP', 'sent'), (150, 0, 'summary', 'o', 'SMTP', 'sent'), (199, 0, 'test', 't', 'SMTP', 'failed');",
        )
        .unwrap();
        let (n, by) = leads_created(&conn, 100, 200).unwrap();
        assert_eq!((n, by["import"], by["DUMMY_SEED"]), (2, 1, 1));
        let e = email_outcomes(&conn, 100, 200).unwrap();
        assert_eq!(
            (e["sent"], e["failed"], e.len()),
            (1, 1, 2),
            "digests are not counted"
        );
    }
}
