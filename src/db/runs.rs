//! The `command_run` table: one row per command run, so `status` can show
//! the last run of each command. Capped like the log.

use serde::Serialize;

use super::{Db, Row, StoreResult, params};

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

pub fn start(db: Db<'_>, command: &str, now: i64, cap: u32) -> StoreResult<RunId> {
    let id = RunId(db.insert_id(
        "INSERT INTO command_run (command, pid, started_at) VALUES (?1, ?2, ?3)",
        params![command, std::process::id(), now],
    )?);
    // Capped like the log, but the newest run of each command (and its
    // newest real run) always stays, so a pass that stopped is still seen.
    db.execute(
        "DELETE FROM command_run WHERE id <= (SELECT MAX(id) FROM command_run) - ?1
           AND id NOT IN (SELECT MAX(id) FROM command_run GROUP BY command)
           AND id NOT IN (SELECT MAX(id) FROM command_run WHERE outcome <> 'busy' GROUP BY command)",
        params![cap],
    )?;
    Ok(id)
}

pub fn finish(
    db: Db<'_>,
    id: RunId,
    outcome: &str,
    exit_code: i32,
    report: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    db.execute(
        "UPDATE command_run SET finished_at = ?2, outcome = ?3, exit_code = ?4, report = ?5
         WHERE id = ?1",
        params![id.0, now, outcome, exit_code, report],
    )?;
    Ok(())
}

/// The newest run of every command, by command name, leaving out `current`
/// (the asking process itself).
pub fn last_of_each(db: Db<'_>, current: RunId) -> StoreResult<Vec<Run>> {
    db.query_all(
        "SELECT command, started_at, finished_at, outcome, exit_code FROM command_run
         WHERE id IN (SELECT MAX(id) FROM command_run WHERE id <> ?1 GROUP BY command)
         ORDER BY command",
        params![current.0],
        row,
    )
}

/// The newest run of every command that was not skipped as `busy`: what
/// the staleness warnings look at (a stuck lock makes every retry busy).
pub fn last_real_of_each(db: Db<'_>, current: RunId) -> StoreResult<Vec<Run>> {
    db.query_all(
        "SELECT command, started_at, finished_at, outcome, exit_code FROM command_run
         WHERE id IN (SELECT MAX(id) FROM command_run WHERE id <> ?1 AND outcome <> 'busy' GROUP BY command)
         ORDER BY command",
        params![current.0],
        row,
    )
}

fn row(r: &Row<'_>) -> StoreResult<Run> {
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
        crate::db::on_each_store(|db| {
            let old = start(db, "bill", 1, 100).unwrap();
            finish(db, old, "ok", 0, None, 2).unwrap();
            for i in 0..300 {
                let r = start(db, "status", 10 + i, 100).unwrap();
                finish(db, r, "ok", 0, None, 10 + i).unwrap();
            }
            let me = start(db, "status", 999, 100).unwrap();
            let last = last_of_each(db, me).unwrap();
            assert_eq!(
                last.iter().map(|r| r.command.as_str()).collect::<Vec<_>>(),
                ["bill", "status"]
            );
            let n: i64 = db
                .query_row("SELECT COUNT(*) FROM command_run", params![], |r| r.get(0))
                .unwrap();
            assert!(n <= 102, "{n}");
        });
    }

    #[test]
    fn last_of_each_command_is_the_newest() {
        crate::db::on_each_store(|db| {
            let a = start(db, "status", 10, 100).unwrap();
            finish(db, a, "ok", 0, None, 11).unwrap();
            let b = start(db, "status", 20, 100).unwrap();
            finish(db, b, "error", 78, None, 21).unwrap();
            start(db, "check", 30, 100).unwrap();
            let me = start(db, "status", 40, 100).unwrap();
            let runs = last_of_each(db, me).unwrap();
            assert_eq!(runs.len(), 2);
            assert_eq!(runs[0].command, "check");
            assert_eq!(runs[0].outcome, "running");
            assert_eq!(
                (runs[1].started_at, runs[1].exit_code),
                (Timestamp(20), Some(78))
            );
            let real = last_real_of_each(db, me).unwrap();
            assert_eq!(real.len(), 2);
        });
    }
}
