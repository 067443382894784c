//! The `event_log` table: the operator log, newest `LOG_MAX_ENTRIES` rows.

use rusqlite::{Connection, params};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: i64,
    pub level: String,
    pub tag: String,
    pub message: String,
}

pub fn append(conn: &Connection, batch: &[Event], cap: u32) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO event_log (at, level, tag, message) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for e in batch {
            insert.execute(params![e.at, e.level, e.tag, e.message])?;
        }
    }
    super::cap_table(&tx, "event_log", cap)?;
    tx.commit()
}

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        at: r.get(0)?,
        level: r.get(1)?,
        tag: r.get(2)?,
        message: r.get(3)?,
    })
}

/// The newest events whose tag starts with `tag_prefix`, newest first.
pub fn recent(conn: &Connection, tag_prefix: &str, limit: u32) -> rusqlite::Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, level, tag, message FROM event_log
         WHERE tag >= ?1 AND tag < ?1 || char(1114111)
         ORDER BY id DESC LIMIT ?2",
    )?;
    stmt.query_map(params![tag_prefix, limit], event_row)?
        .collect()
}

/// The newest event whose tag starts with one of `prefixes` (at most
/// three), by order of logging.
pub fn newest_of(conn: &Connection, prefixes: &[&str]) -> rusqlite::Result<Option<Event>> {
    use rusqlite::OptionalExtension;
    let p = |i: usize| prefixes.get(i).copied().unwrap_or(prefixes[0]);
    conn.prepare_cached(
        "SELECT at, level, tag, message FROM event_log
         WHERE (tag >= ?1 AND tag < ?1 || char(1114111))
            OR (tag >= ?2 AND tag < ?2 || char(1114111))
            OR (tag >= ?3 AND tag < ?3 || char(1114111))
         ORDER BY id DESC LIMIT 1",
    )?
    .query_row(params![p(0), p(1), p(2)], event_row)
    .optional()
}

/// The newest event with exactly this tag, optionally only WARN/ERROR ones.
pub fn last_with_tag(
    conn: &Connection,
    tag: &str,
    problems_only: bool,
) -> rusqlite::Result<Option<Event>> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached(
        "SELECT at, level, tag, message FROM event_log
         WHERE tag = ?1 AND (?2 = 0 OR level IN ('WARN', 'ERROR')) ORDER BY id DESC LIMIT 1",
    )?
    .query_row(params![tag, problems_only], event_row)
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_keeps_only_the_newest_rows() {
        let conn = crate::db::open_in_memory().unwrap();
        let batch: Vec<Event> = (0..250)
            .map(|i| Event {
                at: i,
                level: "INFO".into(),
                tag: "[T]".into(),
                message: format!("[T] n={i}"),
            })
            .collect();
        append(&conn, &batch, 100).unwrap();
        append(&conn, &batch[..10], 100).unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM event_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 100);
        let newest = recent(&conn, "[T]", 1).unwrap();
        assert_eq!(newest[0].message, "[T] n=9");
    }
}
