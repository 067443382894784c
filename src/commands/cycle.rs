//! `hoss cycle`: the whole autopilot in one process — source-leads, sync-inbox,
//! send-outreach, onboard, ops, bill, portal-export. Each step takes its own
//! overlap lock as it reaches it and records its own run; a failing step
//! does not stop the rest; the cycle exits with the worst code. With pings
//! ON, `HEALTHCHECK_URL` hears the start and the result (a failed ping never
//! fails the cycle).

use log::warn;
use serde::Serialize;
use serde_json::Value;

use crate::app::{Ctx, Step, recorded};
use crate::commands::{bill, onboard, ops, portal, send_outreach, source_leads, sync_inbox};
use crate::error::{EXIT_OK, Result};
use crate::render::Report;
use crate::services::ping::Pinger;

#[derive(Debug, Serialize)]
pub struct StepReport {
    pub command: &'static str,
    /// `ok`, `busy` (another run held the lock) or `error`.
    pub outcome: &'static str,
    pub exit_code: i32,
    pub report: Option<Value>,
    pub error: Option<String>,
    #[serde(skip)]
    line: String,
}

#[derive(Debug, Serialize)]
pub struct CycleReport {
    pub steps: Vec<StepReport>,
    pub exit_code: i32,
}

impl Report for CycleReport {
    fn human(&self, _terminal: bool) -> String {
        self.steps
            .iter()
            .map(|s| s.line.clone())
            .collect::<Vec<_>>()
            .join("")
    }

    /// The worst step's code.
    fn exit_code(&self) -> i32 {
        self.exit_code
    }
}

/// Runs one step, capturing its report or error.
fn step<R: Report>(
    ctx: &Ctx,
    command: &'static str,
    f: impl FnOnce(&Ctx) -> Result<R>,
) -> StepReport {
    let mut report = None;
    let outcome = recorded(ctx, command, true, |ctx| {
        let r = f(ctx)?;
        let code = r.exit_code();
        report = Some(r);
        Ok(code)
    });
    match (outcome, report) {
        (Step::Busy, _) => StepReport {
            command,
            outcome: "busy",
            exit_code: EXIT_OK,
            report: None,
            error: None,
            line: format!("{command}: busy (another run holds the lock)\n"),
        },
        (Step::Done(Ok(code)), Some(r)) => StepReport {
            command,
            outcome: if code == EXIT_OK { "ok" } else { "error" },
            exit_code: code,
            report: serde_json::to_value(&r).ok(),
            error: None,
            line: r.human(false),
        },
        (Step::Done(result), _) => {
            let e = result.err().unwrap_or_else(|| {
                crate::error::Error::Internal("step ended without a report".into())
            });
            warn!(
                "[CYCLE][STEP_FAILED] command={command} exit={} error={:?}",
                e.exit_code(),
                e.to_string()
            );
            StepReport {
                command,
                outcome: "error",
                exit_code: e.exit_code(),
                report: None,
                error: Some(e.to_string()),
                line: format!("{command}: error (exit {}): {e}\n", e.exit_code()),
            }
        }
    }
}

/// The worst of the step codes: any failure beats success; among failures
/// the higher sysexits code (configuration 78 > temporary 75 > internal 70 >
/// data 65) wins.
fn worst(codes: impl Iterator<Item = i32>) -> i32 {
    codes.max().unwrap_or(EXIT_OK)
}

pub fn run(ctx: &Ctx) -> Result<CycleReport> {
    let pinger = Pinger::from_config(&ctx.config);
    let ping = |suffix: &str, body: &str| {
        if let Some(Err(e)) = pinger.as_ref().map(|p| p.ping(suffix, body)) {
            warn!("[PING][FAIL] endpoint={suffix:?} error={e:?} (the cycle goes on)");
        }
    };
    ping("/start", "hoss cycle started");
    let steps = vec![
        step(ctx, "source-leads", source_leads::run),
        step(ctx, "sync-inbox", sync_inbox::run),
        step(ctx, "send-outreach", send_outreach::run),
        step(ctx, "onboard", onboard::run),
        step(ctx, "ops", ops::run),
        step(ctx, "bill", bill::run),
        step(ctx, "portal-export", |ctx| portal::export(ctx, None)),
    ];
    let code = worst(steps.iter().map(|s| s.exit_code));
    let report = CycleReport {
        steps,
        exit_code: code,
    };
    let text = report.human(false);
    ping(if code == EXIT_OK { "" } else { "/fail" }, &text);
    Ok(report)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_worst_code_wins() {
        assert_eq!(super::worst([0, 0].into_iter()), 0);
        assert_eq!(super::worst([0, 75, 65].into_iter()), 75);
        assert_eq!(super::worst([78, 0, 75].into_iter()), 78);
    }
}
