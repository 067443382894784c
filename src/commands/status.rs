//! `hoss status`: is it safe, is it working. Release mode, global DRY_RUN,
//! every subsystem's modes, the last run of every command, and warnings.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::app::Ctx;
use crate::clock::{age, rfc3339};
use crate::commands::check::{header, subsystem_table};
use crate::config::Subsystems;
use crate::db::runs;
use crate::error::Result;
use crate::render::{Report, or_dash, table};

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub release_mode: bool,
    pub dry_run: bool,
    pub subsystems: Subsystems,
    pub runs: BTreeMap<String, RunView>,
    pub warnings: Vec<String>,
    #[serde(skip)]
    now: i64,
}

#[derive(Debug, Serialize)]
pub struct RunView {
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: String,
    #[serde(skip)]
    started: i64,
}

pub fn run(ctx: &Ctx) -> Result<StatusReport> {
    let cfg = &ctx.config;
    let now = ctx.now();
    let subsystems = cfg.subsystems();
    let mut warnings = Vec::new();
    for (name, r) in subsystems.iter() {
        if r.fell_back() {
            warnings.push(format!(
                "{name} requested {} but runs {}: {}",
                r.requested,
                r.effective,
                r.reason.as_deref().unwrap_or_default()
            ));
        }
    }
    let runs = runs::last_of_each(&ctx.db, ctx.run)?
        .into_iter()
        .map(|r| {
            (
                r.command,
                RunView {
                    started_at: rfc3339(r.started_at),
                    finished_at: r.finished_at.map(rfc3339),
                    outcome: r.outcome,
                    started: r.started_at,
                },
            )
        })
        .collect();
    Ok(StatusReport {
        release_mode: cfg.release_mode,
        dry_run: cfg.dry_run,
        subsystems,
        runs,
        warnings,
        now,
    })
}

impl Report for StatusReport {
    fn human(&self, terminal: bool) -> String {
        let mut s = header(self.release_mode, self.dry_run);
        s.push_str(&subsystem_table(&self.subsystems, terminal));
        s.push('\n');
        let rows = self
            .runs
            .iter()
            .map(|(name, r)| {
                vec![
                    name.clone(),
                    r.outcome.clone(),
                    r.started_at.clone(),
                    format!("{} ago", age(self.now, r.started)),
                    or_dash(r.finished_at.as_ref()),
                ]
            })
            .collect();
        s.push_str(&table(
            &["command", "last outcome", "started", "age", "finished"],
            rows,
            terminal,
        ));
        if self.warnings.is_empty() {
            s.push_str("\nwarnings: none\n");
        } else {
            s.push_str("\nwarnings:\n");
            for w in &self.warnings {
                s.push_str(&format!("  ! {w}\n"));
            }
        }
        s
    }
}
