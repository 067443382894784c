//! The `event_log` table: the operator log, newest `LOG_MAX_ENTRIES` rows.

use super::{Db, Row, StoreResult, params};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: i64,
    pub level: String,
    pub tag: String,
    pub message: String,
}

/// Appends a batch in one transaction (up to 250 rows a statement) and
/// drops the rows beyond `cap`; on PostgreSQL beside other appends and
/// keyed writes (it locks no key), and without waiting for the disk at
/// commit: its lines are on stderr already, and a server crash loses at
/// most the last moment of them, never a payment or a send.
pub fn append(db: Db<'_>, batch: &[Event], cap: u32) -> crate::error::Result<()> {
    db.keyed(&[], |tx| {
        if tx.is_postgres() {
            tx.execute_batch("SET LOCAL synchronous_commit = off")?;
        }
        // Statements of a few sizes only (250 rows, then powers of two), so
        // a connection prepares at most nine however its batches vary.
        let mut rest = batch;
        while !rest.is_empty() {
            let size = if rest.len() >= 250 {
                250
            } else {
                1 << rest.len().ilog2()
            };
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            let args: Vec<_> = chunk
                .iter()
                .flat_map(|e| params![e.at, e.level, e.tag, e.message].to_vec())
                .collect();
            tx.execute(
                &format!(
                    "INSERT INTO event_log (at, level, tag, message) VALUES {}",
                    super::values_list(chunk.len(), 4)
                ),
                &args,
            )?;
        }
        Ok(super::cap(tx, "event_log", cap)?)
    })
}

fn event_row(r: &Row<'_>) -> StoreResult<Event> {
    Ok(Event {
        at: r.get(0)?,
        level: r.get(1)?,
        tag: r.get(2)?,
        message: r.get(3)?,
    })
}

// A tag "starts with" a prefix: on SQLite a range the tag index serves
// (text compares by code point); PostgreSQL's text compares by the
// database's collation, where that range is not a prefix, so it asks
// starts_with (the capped table is small).

/// The newest events whose tag starts with `tag_prefix`, newest first.
pub fn recent(db: Db<'_>, tag_prefix: &str, limit: u32) -> StoreResult<Vec<Event>> {
    let sql = db.pick(
        "SELECT at, level, tag, message FROM event_log
         WHERE tag >= ?1 AND tag < ?1 || char(1114111)
         ORDER BY id DESC LIMIT ?2",
        "SELECT at, level, tag, message FROM event_log
         WHERE starts_with(tag, ?1)
         ORDER BY id DESC LIMIT ?2",
    );
    db.query_all(sql, params![tag_prefix, limit], event_row)
}

/// The newest event whose tag starts with one of `prefixes` (at most
/// three), by order of logging.
pub fn newest_of(db: Db<'_>, prefixes: &[&str]) -> StoreResult<Option<Event>> {
    let p = |i: usize| prefixes.get(i).copied().unwrap_or(prefixes[0]);
    let sql = db.pick(
        "SELECT at, level, tag, message FROM event_log
         WHERE (tag >= ?1 AND tag < ?1 || char(1114111))
            OR (tag >= ?2 AND tag < ?2 || char(1114111))
            OR (tag >= ?3 AND tag < ?3 || char(1114111))
         ORDER BY id DESC LIMIT 1",
        "SELECT at, level, tag, message FROM event_log
         WHERE starts_with(tag, ?1) OR starts_with(tag, ?2) OR starts_with(tag, ?3)
         ORDER BY id DESC LIMIT 1",
    );
    db.query_opt(sql, params![p(0), p(1), p(2)], event_row)
}

/// The newest event with exactly this tag, optionally only WARN/ERROR ones.
pub fn last_with_tag(db: Db<'_>, tag: &str, problems_only: bool) -> StoreResult<Option<Event>> {
    db.query_opt(
        "SELECT at, level, tag, message FROM event_log
         WHERE tag = ?1 AND (?2 = 0 OR level IN ('WARN', 'ERROR')) ORDER BY id DESC LIMIT 1",
        params![tag, problems_only],
        event_row,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_keeps_only_the_newest_rows() {
        crate::db::on_each_store(|db| {
            let batch: Vec<Event> = (0..250)
                .map(|i| Event {
                    at: i,
                    level: "INFO".into(),
                    tag: "[T]".into(),
                    message: format!("[T] n={i}"),
                })
                .collect();
            append(db, &batch, 100).unwrap();
            append(db, &batch[..10], 100).unwrap();
            let n: i64 = db
                .query_row("SELECT COUNT(*) FROM event_log", params![], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 100);
            let newest = recent(db, "[T]", 1).unwrap();
            assert_eq!(newest[0].message, "[T] n=9");
        });
    }

    #[test]
    fn batches_of_any_size_are_written_whole_and_in_order() {
        crate::db::on_each_store(|db| {
            let mut written = Vec::new();
            for (b, size) in [1, 7, 250, 300, 511, 2].into_iter().enumerate() {
                let batch: Vec<Event> = (0..size)
                    .map(|i| Event {
                        at: 1,
                        level: "INFO".into(),
                        tag: "[T]".into(),
                        message: format!("[T] {b}.{i}"),
                    })
                    .collect();
                append(db, &batch, 10_000).unwrap();
                written.extend(batch.into_iter().map(|e| e.message));
            }
            let mut read: Vec<String> = recent(db, "[T]", 10_000)
                .unwrap()
                .into_iter()
                .map(|e| e.message)
                .collect();
            read.reverse();
            assert_eq!(read, written);
        });
    }
}
