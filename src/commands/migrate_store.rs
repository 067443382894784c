//! `hoss migrate-store --from STORE --to STORE`: moves an operator's state
//! between a SQLite file and PostgreSQL (either way, or between two of a
//! kind), keeping ids, tokens and links (issue #19). Both ends are named on
//! the command line (never HOSS_DB or DATABASE_URL), both are brought to
//! the newest schema as any opening does, and the copy itself is
//! `db::copy`: a transaction per table, the counting tables and the
//! identity sequences last, idempotent, refusing a target with a life of
//! its own. It opens no store of the process and records no run.

use log::{error, info};
use serde::Serialize;

use crate::db::copy::{self, Endpoint, TableCount};
use crate::error::{Error, Result};
use crate::render::Report;

#[derive(Debug, Serialize)]
pub struct MigrateReport {
    /// Both stores as shown: a file path, or a server and database without
    /// user or password.
    pub from: String,
    pub to: String,
    pub tables: Vec<TableCount>,
    pub copied: u64,
    pub already: u64,
    pub removed: u64,
}

impl Report for MigrateReport {
    fn human(&self, _terminal: bool) -> String {
        let mut out = format!("migrate-store: {} → {}\n", self.from, self.to);
        let width = self
            .tables
            .iter()
            .map(|t| t.table.len())
            .max()
            .unwrap_or(5)
            .max(5);
        out.push_str(&format!(
            "  {:width$}  {:>8}  {:>8}  {:>8}\n",
            "table", "copied", "already", "removed"
        ));
        for t in &self.tables {
            out.push_str(&format!(
                "  {:width$}  {:>8}  {:>8}  {:>8}\n",
                t.table, t.copied, t.already, t.removed
            ));
        }
        out.push_str(&format!(
            "  {:width$}  {:>8}  {:>8}  {:>8}\n",
            "total", self.copied, self.already, self.removed
        ));
        if self.copied == 0 {
            out.push_str("nothing to copy: the target already holds every row\n");
        }
        out
    }
}

pub fn run(from: &str, to: &str) -> Result<MigrateReport> {
    let (source, target) = (
        Endpoint::parse(from, "--from")?,
        Endpoint::parse(to, "--to")?,
    );
    if source.label() == target.label() {
        return Err(Error::Usage(format!(
            "--from and --to are the same store ({}): nothing to copy",
            source.label()
        )));
    }
    let source = copy::open(&source, true, "--from")?;
    let target = copy::open(&target, false, "--to")?;
    let mut done = Vec::new();
    if let Err(e) = copy::copy(&source, &target, &mut done) {
        let names: Vec<&str> = done.iter().map(|t| t.table.as_str()).collect();
        let then = if e.exit_code() == crate::error::EXIT_TEMPFAIL {
            "the table being copied was rolled back; run the same command again to finish (rows already copied are skipped)"
        } else {
            "nothing more was written; see the error"
        };
        error!(
            "[MIGRATE][FAILED] from={} to={} copied_tables=\"{}\" error={:?}; {then}",
            source.label,
            target.label,
            names.join(" "),
            e.to_string()
        );
        return Err(e);
    }
    let sum = |f: fn(&TableCount) -> u64| done.iter().map(f).sum();
    let report = MigrateReport {
        from: source.label,
        to: target.label,
        copied: sum(|t| t.copied),
        already: sum(|t| t.already),
        removed: sum(|t| t.removed),
        tables: done,
    };
    info!(
        "[MIGRATE][DONE] from={} to={} copied={} already={}",
        report.from, report.to, report.copied, report.already
    );
    Ok(report)
}
