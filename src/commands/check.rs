//! `hoss check`: the configuration as hoss understood it, and a deploy gate:
//! exit 78 when something a pass would read or run is unusable (onboarding
//! tasks, template packs, the ops executor, the portal folder, the SendGrid
//! webhook key), and in release mode also when a requested subsystem fell
//! back or outreach is paused.

use serde::Serialize;

use std::path::Path;

use crate::app::Ctx;
use crate::config::Subsystems;
use crate::error::{EXIT_CONFIG, EXIT_OK};
use crate::render::Report;
use crate::render::modes::{header, sources, subsystem_table};
use crate::services::executor;

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub release_mode: bool,
    pub dry_run: bool,
    pub subsystems: Subsystems,
    /// The database in use (`sqlite:/abs/path`) and the config file, if any.
    pub store: String,
    pub config_file: Option<String>,
    /// What a pass would fail on, each with what to fix.
    pub problems: Vec<String>,
    pub ok: bool,
}

pub fn run(ctx: &Ctx) -> CheckReport {
    let cfg = &ctx.config;
    let mut problems = Vec::new();
    if let Err(e) = &cfg.onboarding_tasks {
        problems.push(format!("[[onboarding.tasks]] in the config file: {e}"));
    }
    if let Some(e) = cfg.ops_executor_cmd.as_deref().and_then(executor::problem) {
        problems.push(format!("OPS_EXECUTOR_CMD: {e}"));
    }
    if let Err(e) = &cfg.email.pack {
        problems.push(crate::config::pack_problem(e));
    }
    for e in crate::config::template_dir_problems(&cfg.email.templates_dir) {
        if !problems.iter().any(|p| p.ends_with(&e)) {
            problems.push(format!("TEMPLATES_DIR: {e}"));
        }
    }
    problems.extend(cfg.invoicing.problems.iter().cloned());
    // `bill` (and so `cycle`) refuses to make invoices in it.
    if let Some(e) = &cfg.stripe.currency_error {
        problems.push(e.clone());
    }
    if let Some(e) = &cfg.stripe.webhook_secret_problem {
        problems.push(format!("{e}: every webhook is rejected"));
    }
    if let Some(Err(e)) = &cfg.inbox.sendgrid_webhook_key {
        problems.push(format!("{e}: every SendGrid event is rejected"));
    }
    // A paused sender is a deploy blocker only where mail is meant to go.
    if cfg.release_mode {
        match crate::commands::health::read(ctx) {
            Ok(h) if h.paused => problems.push(format!(
                "outreach is paused: {}; fix the cause, then `hoss email resume`",
                h.reason.unwrap_or_default()
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("cannot read the sender's health: {e}")),
        }
    }
    if cfg.release_mode
        && let Some(e) = cfg.ephemeral_store()
    {
        problems.push(e);
    }
    if let Some(e) = portal_dir_problem(&cfg.portal_dir) {
        problems.push(format!("PORTAL_DIR: {e}"));
    }
    CheckReport {
        release_mode: cfg.release_mode,
        dry_run: cfg.dry_run,
        subsystems: cfg.subsystems(),
        store: cfg.store_label(),
        config_file: cfg.config_file_label(),
        ok: cfg.check_ok() && problems.is_empty(),
        problems,
    }
}

/// `portal-export` needs a folder it can create pages in.
fn portal_dir_problem(dir: &Path) -> Option<String> {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Some(format!("{shown} exists and is not a folder")),
        Ok(_) => None,
        Err(_) => {
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
            match parent.map(std::fs::metadata) {
                Some(Ok(m)) if !m.is_dir() => Some(format!(
                    "{shown} cannot be created: its parent is not a folder"
                )),
                Some(Err(_)) => Some(format!(
                    "{shown} cannot be created: its parent does not exist"
                )),
                _ => None,
            }
        }
    }
}

impl Report for CheckReport {
    fn human(&self, terminal: bool) -> String {
        let mut s = header(self.release_mode, self.dry_run);
        s.push_str(&sources(&self.store, self.config_file.as_deref()));
        s.push_str(&subsystem_table(&self.subsystems, terminal));
        for p in &self.problems {
            s.push_str(&format!("problem: {p}\n"));
        }
        s.push_str(if self.ok {
            "check: ok\n"
        } else if self.problems.is_empty() {
            "check: FAILED — release mode with a subsystem in fallback (exit 78)\n"
        } else {
            "check: FAILED — fix the problems above (exit 78)\n"
        });
        s
    }

    fn exit_code(&self) -> i32 {
        if self.ok { EXIT_OK } else { EXIT_CONFIG }
    }
}
