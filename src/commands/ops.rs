//! `hoss ops`: runs each pending task through `OPS_EXECUTOR_CMD` — task
//! JSON on stdin, a timeout, stdout as the result summary (or a JSON
//! `{"summary", "cost_cents"}`), exit status 0 → done, else failed. Without
//! an executor the pass does nothing and says so. Tasks left `running` by a
//! killed run go back to `pending`.

use std::time::Duration;

use log::{info, warn};
use serde::Serialize;
use serde_json::json;

use crate::app::Ctx;
use crate::db::tasks;
use crate::error::Result;
use crate::money::Cents;
use crate::render::Report;
use crate::services::executor::execute;

#[derive(Debug, Default, Serialize)]
pub struct OpsReport {
    pub executor: bool,
    pub recovered: u32,
    pub ran: u32,
    pub done: u32,
    pub failed: u32,
}

impl Report for OpsReport {
    fn human(&self, _terminal: bool) -> String {
        if !self.executor {
            return "ops: OPS_EXECUTOR_CMD is not set; nothing to run\n".into();
        }
        format!(
            "ops: ran={} done={} failed={} recovered={}\n",
            self.ran, self.done, self.failed, self.recovered
        )
    }
}

const BATCH: u32 = 50;

pub fn run(ctx: &Ctx) -> Result<OpsReport> {
    let cfg = &ctx.config;
    let Some(cmd) = cfg.ops_executor_cmd.as_deref() else {
        info!("[OPS][NO_EXECUTOR] OPS_EXECUTOR_CMD is not set; nothing to run");
        return Ok(OpsReport::default());
    };
    if cfg.dry_run {
        info!("[OPS][DRY_RUN] DRY_RUN=TRUE: the executor is not started");
        return Ok(OpsReport {
            executor: true,
            ..OpsReport::default()
        });
    }
    let timeout = u64::from(cfg.ops_executor_timeout_secs);
    let cutoff = ctx.now() - timeout as i64 - 60;
    let recovered = ctx
        .db()
        .immediate(|tx| Ok(tasks::recover_running(tx, cutoff)?))?;
    for id in &recovered {
        warn!("[OPS][RECOVERED] task_id={id} was left running by an ended process; pending again");
    }
    let mut report = OpsReport {
        executor: true,
        recovered: recovered.len() as u32,
        ..OpsReport::default()
    };
    for task in tasks::pending(ctx.db(), BATCH)? {
        if !ctx
            .db()
            .immediate(|tx| Ok(tasks::start(tx, task.id, ctx.now())?))?
        {
            continue;
        }
        report.ran += 1;
        let input = json!({
            "id": task.id,
            "customer_id": task.customer_id,
            "description": task.description,
            "amount_cents": task.amount_cents,
            "currency": ctx.config.stripe.currency,
        })
        .to_string();
        let outcome = execute(cmd, task.id, &input, Duration::from_secs(timeout));
        ctx.db().immediate(|tx| {
            match &outcome {
                Ok((summary, cost)) => {
                    tasks::complete(tx, task.id, Some(summary), cost.map(Cents), ctx.now())?
                }
                Err(reason) => tasks::fail(tx, task.id, reason, ctx.now())?,
            };
            Ok(())
        })?;
        match outcome {
            Ok(_) => {
                report.done += 1;
                info!("[OPS][DONE] task_id={}", task.id);
            }
            Err(reason) => {
                report.failed += 1;
                warn!("[OPS][FAILED] task_id={} reason={reason:?}", task.id);
            }
        }
        ctx.flush_log();
    }
    Ok(report)
}
