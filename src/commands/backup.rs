//! `hoss backup FILE`: a consistent copy of the database — the send ledger,
//! the invoices, everything — taken while hoss runs, as a SQLite file
//! whichever the store: SQLite's `VACUUM INTO`, or for PostgreSQL the copy
//! of `migrate-store` from one snapshot (passes keep writing meanwhile).
//! Refuses to overwrite.

use std::path::Path;

use log::debug;
use serde::Serialize;

use crate::app::Ctx;
use crate::db::{self, copy, copy::Endpoint};
use crate::error::{Error, Result};
use crate::render::Report;

#[derive(Debug, Serialize)]
pub struct BackupReport {
    pub file: String,
    pub bytes: u64,
}

impl Report for BackupReport {
    fn human(&self, _terminal: bool) -> String {
        format!("backup written: {} ({} bytes)\n", self.file, self.bytes)
    }
}

pub fn run(ctx: &Ctx, file: &Path) -> Result<BackupReport> {
    if file.exists() {
        return Err(Error::Data(format!(
            "{} already exists: name a new file (a backup never overwrites)",
            file.display()
        )));
    }
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            Error::Config(format!("cannot make the folder {}: {e}", parent.display()))
        })?;
    }
    match &ctx.config.database_url {
        None => db::backup_into(ctx.sqlite()?, file).map_err(|e| {
            Error::Temporary(format!("cannot write the backup {}: {e}", file.display()))
        })?,
        Some(url) => {
            let copied = copy_into(url.expose(), file);
            if copied.is_err() {
                // A new file, half written: not a backup.
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
                }
            }
            copied?;
        }
    }
    let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    // Not an operator event: recording it would wait on the writer the
    // backup was careful not to wait on.
    debug!(
        "[BACKUP][WRITTEN] file={:?} bytes={bytes}",
        file.display().to_string()
    );
    Ok(BackupReport {
        file: file.display().to_string(),
        bytes,
    })
}

/// The PostgreSQL store at `url`, read in one snapshot, into the new SQLite
/// file `file`.
fn copy_into(url: &str, file: &Path) -> Result<()> {
    let source = copy::open(&Endpoint::Postgres(url.to_owned()), true, "DATABASE_URL")?;
    let target = copy::open(&Endpoint::Sqlite(file.to_path_buf()), false, "the backup")?;
    let copied = copy::copy(&source, &target, &mut Vec::new());
    // Opening made the file's migration lock beside it: not part of a backup.
    let _ = std::fs::remove_file(format!("{}.migrate-lock", file.display()));
    copied
}
