//! Overlap locks: one per command, a lock file in `HOSS_LOCK_DIR` on SQLite
//! and an advisory lock in the database on PostgreSQL, keyed by the command
//! and the `HOSS_LOCK_DIR` setting as written (so hosts sharing one
//! database and the same setting — the default — behave like two processes
//! on one host). They only avoid
//! wasted work — every guarantee is held by the database itself — so a lock
//! that cannot be taken means "someone else is on it", and the command exits
//! 0 after logging `[LOCK][BUSY]`.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::db::Db;
use crate::error::{Error, Result};

/// The first key of every overlap lock on PostgreSQL ("hoss" in ASCII); the
/// second is the hash of the command's name. The two-key space is apart
/// from the one-key write lock of `Db::immediate`.
pub const ADVISORY_CLASS: i32 = 0x686f_7373;

/// Held for as long as the value lives. A killed run never leaves a stale
/// lock: the OS drops a file lock when the process dies, the server drops
/// an advisory lock when its connection ends.
pub enum CommandLock<'a> {
    File(#[allow(dead_code)] File),
    Advisory { db: Db<'a>, name: String },
}

impl Drop for CommandLock<'_> {
    fn drop(&mut self) {
        if let CommandLock::Advisory { db, name } = self {
            // A failure leaves the lock to the end of the connection, which
            // is the end of this process.
            let _ = db.advisory_unlock(ADVISORY_CLASS, name);
        }
    }
}

/// The lock of command `name` on the store `db` (files under `dir` for
/// SQLite); `Ok(None)` when another process holds it.
pub fn try_lock<'a>(db: Db<'a>, dir: &Path, name: &str) -> Result<Option<CommandLock<'a>>> {
    if db.is_postgres() {
        let name = advisory_name(dir, name);
        let taken = db.try_advisory_lock(ADVISORY_CLASS, &name)?;
        return Ok(taken.then_some(CommandLock::Advisory { db, name }));
    }
    try_lock_file(dir, name)
}

/// What an advisory lock's second key hashes: `HOSS_LOCK_DIR/command`.
pub fn advisory_name(dir: &Path, name: &str) -> String {
    format!("{}/{name}", dir.display())
}

fn try_lock_file<'a>(dir: &Path, name: &str) -> Result<Option<CommandLock<'a>>> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Config(format!(
            "cannot create lock directory {}: {e}",
            dir.display()
        ))
    })?;
    let path = dir.join(format!("{name}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::Config(format!("cannot open lock file {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(CommandLock::File(file))),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(Error::Temporary(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = try_lock_file(dir.path(), "bill").unwrap();
        assert!(first.is_some());
        assert!(try_lock_file(dir.path(), "bill").unwrap().is_none());
        assert!(try_lock_file(dir.path(), "onboard").unwrap().is_some());
        drop(first);
        assert!(try_lock_file(dir.path(), "bill").unwrap().is_some());
    }

    #[test]
    fn on_postgres_a_second_connection_is_refused_until_the_first_lets_go() {
        let stores = crate::db::test_stores::two_connections();
        let Some((one, two)) = stores else { return };
        let nowhere = Path::new("/nonexistent/locks");
        let first = try_lock(one.db(), nowhere, "bill").unwrap();
        assert!(first.is_some());
        assert!(try_lock(two.db(), nowhere, "bill").unwrap().is_none());
        assert!(try_lock(two.db(), nowhere, "onboard").unwrap().is_some());
        drop(first);
        assert!(try_lock(two.db(), nowhere, "bill").unwrap().is_some());
        // The connection's end lets go too (a killed process).
        drop(two);
        assert!(try_lock(one.db(), nowhere, "bill").unwrap().is_some());
    }
}
