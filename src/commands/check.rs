//! `hoss check`: the configuration as hoss understood it. In release mode it
//! is a deploy gate: exit 78 when a requested subsystem fell back.

use serde::Serialize;

use crate::app::Ctx;
use crate::config::Subsystems;
use crate::error::{EXIT_CONFIG, EXIT_OK};
use crate::render::{Report, table};

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub release_mode: bool,
    pub dry_run: bool,
    pub subsystems: Subsystems,
    pub ok: bool,
}

pub fn run(ctx: &Ctx) -> CheckReport {
    let cfg = &ctx.config;
    CheckReport {
        release_mode: cfg.release_mode,
        dry_run: cfg.dry_run,
        subsystems: cfg.subsystems(),
        ok: cfg.check_ok(),
    }
}

impl Report for CheckReport {
    fn human(&self, terminal: bool) -> String {
        let mut s = header(self.release_mode, self.dry_run);
        s.push_str(&subsystem_table(&self.subsystems, terminal));
        s.push_str(if self.ok {
            "check: ok\n"
        } else {
            "check: FAILED — release mode with a subsystem in fallback (exit 78)\n"
        });
        s
    }

    fn exit_code(&self) -> i32 {
        if self.ok { EXIT_OK } else { EXIT_CONFIG }
    }
}

pub fn header(release_mode: bool, dry_run: bool) -> String {
    format!(
        "release mode: {}   global DRY_RUN: {}\n",
        if release_mode { "ON" } else { "OFF (sandbox)" },
        if dry_run {
            "TRUE (no network at all)"
        } else {
            "FALSE"
        }
    )
}

pub fn subsystem_table(subsystems: &Subsystems, terminal: bool) -> String {
    let rows = subsystems
        .iter()
        .iter()
        .map(|(name, r)| {
            vec![
                name.to_string(),
                r.requested.clone(),
                r.effective.clone(),
                r.reason.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(
        &["subsystem", "requested", "effective", "reason"],
        rows,
        terminal,
    )
}
