//! Overlap locks: one lock file per command in `HOSS_LOCK_DIR`. They only
//! avoid wasted work — every guarantee is held by the database itself — so a
//! lock that cannot be taken means "someone else is on it", and the command
//! exits 0 after logging `[LOCK][BUSY]`.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::error::{Error, Result};

/// Held for as long as the value lives; the OS drops it when the process
/// dies, so a killed run never leaves a stale lock.
#[derive(Debug)]
pub struct CommandLock {
    _file: File,
}

/// `Ok(None)` when another process holds the lock of `name`.
pub fn try_lock(dir: &Path, name: &str) -> Result<Option<CommandLock>> {
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
        Ok(()) => Ok(Some(CommandLock { _file: file })),
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
        let first = try_lock(dir.path(), "bill").unwrap();
        assert!(first.is_some());
        assert!(try_lock(dir.path(), "bill").unwrap().is_none());
        assert!(try_lock(dir.path(), "onboard").unwrap().is_some());
        drop(first);
        assert!(try_lock(dir.path(), "bill").unwrap().is_some());
    }
}
