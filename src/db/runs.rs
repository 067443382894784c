//! The `command_run` table: one row per command run, so `status` can show
//! the last run of each command. Capped like the log.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::clock::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunId(pub i64);

/// A command's run; `status` gives the newest of each by command name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    #[serde(skip)]
    pub command: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub outcome: String,
    #[serde(skip)]
    pub exit_code: Option<i32>,
}

pub fn start(conn: &Connection, command: &str, now: i64, cap: u32) -> rusqlite::Result<RunId> {
    conn.execute(
        "INSERT INTO command_run (command, pid, started_at) VALUES (?1, ?2, ?3)",
        params![command, std::process::id(), now],
    )?;
    let id = RunId(conn.last_insert_rowid());
    // Capped like the log, but the newest run of each command (and its
    // newest real run) always stays, so a pass that stopped is still seen.
    conn.execute(
        "DELETE FROM command_run WHERE id <= (SELECT MAX(id) FROM command_run) - ?1
           AND id NOT IN (SELECT MAX(id) FROM command_run GROUP BY command)
           AND id NOT IN (SELECT MAX(id) FROM command_run WHERE outcome <> 'busy' GROUP BY command)",
        [cap],
    )?;
    Ok(id)
}

pub fn finish(
    conn: &Connection,
    id: RunId,
    outcome: &str,
    exit_code: i32,
    report: Option<&str>,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE command_run SET finished_at = ?2, outcome = ?3, exit_code = ?4, report = ?5
         WHERE id = ?1",
        params![id.0, now, outcome, exit_code, report],
    )?;
    Ok(())
}

/// The newest run of every command, by command name, leaving out `current`
/// (the asking process itself).
pub fn last_of_each(conn: &Connection, current: RunId) -> rusqlite::Result<Vec<Run>> {
    let mut stmt = conn.prepare_cached(
        "SELECT command, started_at, finished_at, outcome, exit_code FROM command_run
         WHERE id IN (SELECT MAX(id) FROM command_run WHERE id <> ?1 GROUP BY command)
         ORDER BY command",
    )?;
    stmt.query_map([current.0], row)?.collect()
}

/// The newest run of every command that was not skipped as `busy`: what
/// the staleness warnings look at (a stuck lock makes every retry busy).
pub fn last_real_of_each(conn: &Connection, current: RunId) -> rusqlite::Result<Vec<Run>> {
    let mut stmt = conn.prepare_cached(
        "SELECT command, started_at, finished_at, outcome, exit_code FROM command_run
         WHERE id IN (SELECT MAX(id) FROM command_run WHERE id <> ?1 AND outcome <> 'busy' GROUP BY command)
         ORDER BY command",
    )?;
    stmt.query_map([current.0], row)?.collect()
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Run> {
    Ok(Run {
        command: r.get(0)?,
        started_at: r.get(1)?,
        finished_at: r.get(2)?,
        outcome: r.get(3)?,
        exit_code: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capping_keeps_the_newest_run_of_every_command() {
        let conn = crate::db::open_in_memory().unwrap();
        let old = start(&conn, "bill", 1, 100).unwrap();
        finish(&conn, old, "ok", 0, None, 2).unwrap();
        for i in 0..300 {
            let r = start(&conn, "status", 10 + i, 100).unwrap();
            finish(&conn, r, "ok", 0, None, 10 + i).unwrap();
        }
        let me = start(&conn, "status", 999, 100).unwrap();
        let last = last_of_each(&conn, me).unwrap();
        assert_eq!(
            last.iter().map(|r| r.command.as_str()).collect::<Vec<_>>(),
            ["bill", "status"]
        );
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM command_run", [], |r| r.get(0))
            .unwrap();
        assert!(n <= 102, "{n}");
    }

    #[test]
    fn last_of_each_command_is_the_newest() {
        let conn = crate::db::open_in_memory().unwrap();
        let a = start(&conn, "status", 10, 100).unwrap();
        finish(&conn, a, "ok", 0, None, 11).unwrap();
        let b = start(&conn, "status", 20, 100).unwrap();
        finish(&conn, b, "error", 78, None, 21).unwrap();
        start(&conn, "check", 30, 100).unwrap();
        let me = start(&conn, "status", 40, 100).unwrap();
        let runs = last_of_each(&conn, me).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].command, "check");
        assert_eq!(runs[0].outcome, "running");
        assert_eq!(
            (runs[1].started_at, runs[1].exit_code),
            (Timestamp(20), Some(78))
        );
        let real = last_real_of_each(&conn, me).unwrap();
        assert_eq!(real.len(), 2);
    }
}
