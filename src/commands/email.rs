//! `hoss email pause --reason R | resume`: the operator's switch for
//! outreach (SPEC §13). A pause, the operator's or the health check's,
//! stops every real outreach send until resumed; a resume spends the
//! evidence so far, so the automatic pause triggers again only on new.

use std::io::Write;

use clap::Subcommand;
use log::{info, warn};
use serde::Serialize;

use crate::app::Ctx;
use crate::db::inbox;
use crate::error::{Error, Result};
use crate::render::{Report, Style, emit};

#[derive(Debug, Subcommand)]
pub enum EmailAction {
    /// Stop all real outreach until `hoss email resume`
    Pause {
        #[arg(long)]
        reason: String,
    },
    /// Lift a pause (the operator's or the automatic one)
    Resume,
}

impl EmailAction {
    pub fn name(&self) -> &'static str {
        match self {
            EmailAction::Pause { .. } => "email pause",
            EmailAction::Resume => "email resume",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Switched {
    pub paused: bool,
    pub reason: Option<String>,
    /// Whether this call changed anything.
    pub changed: bool,
}

impl Report for Switched {
    fn human(&self, _terminal: bool) -> String {
        match (self.paused, self.changed, &self.reason) {
            (true, true, _) => "outreach paused; `hoss email resume` lifts it\n".into(),
            (true, false, Some(r)) => format!("outreach was already paused: {r}\n"),
            (false, true, _) => "outreach resumed\n".into(),
            _ => "outreach was not paused\n".into(),
        }
    }
}

pub fn run(ctx: &Ctx, action: EmailAction, out: &mut dyn Write, style: Style) -> Result<i32> {
    let now = ctx.now();
    let report = match action {
        EmailAction::Pause { reason } => {
            let reason = reason.trim().to_string();
            if reason.is_empty() {
                return Err(Error::Usage("email pause needs a --reason".into()));
            }
            let changed = ctx
                .db()
                .immediate(|tx| Ok(inbox::pause(tx, "operator", &reason, now)?))?;
            if changed {
                warn!("[EMAIL][PAUSED] source=operator reason={reason:?}");
            }
            let current = inbox::pause_in_force(ctx.db())?;
            Switched {
                paused: true,
                reason: current.map(|p| p.reason),
                changed,
            }
        }
        EmailAction::Resume => {
            let changed = ctx.db().immediate(|tx| Ok(inbox::resume(tx, now)?))?;
            if changed {
                info!("[EMAIL][RESUMED] by=operator");
            }
            Switched {
                paused: false,
                reason: None,
                changed,
            }
        }
    };
    emit(out, &report, style)
}
