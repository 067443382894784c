//! `hoss ops`: runs each pending task through `OPS_EXECUTOR_CMD` — task
//! JSON on stdin, a timeout, stdout as the result summary (or a JSON
//! `{"summary", "cost_cents"}`), exit status 0 → done, else failed. Without
//! an executor the pass does nothing and says so. Tasks left `running` by a
//! killed run go back to `pending`.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use log::{info, warn};
use serde::Serialize;
use serde_json::json;

use crate::app::Ctx;
use crate::db::{self, tasks, tasks::Task};
use crate::error::Result;
use crate::render::Report;

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
const MAX_OUTPUT: usize = 64 * 1024;

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
    let recovered = db::immediate(&ctx.db, |tx| Ok(tasks::recover_running(tx, cutoff)?))?;
    for id in &recovered {
        warn!("[OPS][RECOVERED] task_id={id} was left running by an ended process; pending again");
    }
    let mut report = OpsReport {
        executor: true,
        recovered: recovered.len() as u32,
        ..OpsReport::default()
    };
    for task in tasks::pending(&ctx.db, BATCH)? {
        if !db::immediate(&ctx.db, |tx| Ok(tasks::start(tx, task.id, ctx.now())?))? {
            continue;
        }
        report.ran += 1;
        let outcome = execute(
            cmd,
            &task,
            &ctx.config.stripe.currency,
            Duration::from_secs(timeout),
        );
        db::immediate(&ctx.db, |tx| {
            match &outcome {
                Ok((summary, cost)) => {
                    tasks::complete(tx, task.id, Some(summary), *cost, ctx.now())?
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

/// The environment the executor runs in: no hoss secrets.
#[allow(
    clippy::disallowed_methods,
    reason = "passes the process's PATH, HOME and LANG through to the child; no setting is read"
)]
fn clean_env(cmd: &mut Command) -> &mut Command {
    cmd.env_clear()
        .envs(std::env::vars_os().filter(|(k, _)| k == "PATH" || k == "HOME" || k == "LANG"))
}

/// Why `cmd` could not run, checked the way `ops` runs it (`sh -c`, the
/// same environment): a shell syntax error, or a first word that is no
/// builtin and no executable on PATH. `None` when it would start.
pub fn executor_problem(cmd: &str) -> Option<String> {
    let run = |script: &str, arg: &str| {
        clean_env(Command::new("sh").arg("-c").arg(script).arg("sh").arg(arg))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    };
    // `sh -n` parses without running anything.
    match clean_env(Command::new("sh").arg("-n").arg("-c").arg(cmd))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Err(e) => return Some(format!("cannot start sh: {e}")),
        Ok(s) if !s.success() => {
            return Some("is not a valid shell command (sh -n rejects it)".into());
        }
        Ok(_) => {}
    }
    // The first word that is not a `NAME=value` assignment.
    let is_assignment = |w: &str| w.contains('=') && !w.starts_with('/');
    let first = cmd
        .split(|c: char| c.is_whitespace() || ";&|<>()".contains(c))
        .find(|w| !w.is_empty() && !is_assignment(w))?;
    let found = run("command -v -- \"$1\" >/dev/null", first).is_ok_and(|s| s.success());
    (!found).then(|| format!("{first:?} is not a command on PATH or an executable file"))
}

/// Runs the executor for one task: `Ok((summary, cost_cents))` on exit 0.
/// The child gets a clean environment (no hoss secrets).
fn execute(
    cmd: &str,
    task: &Task,
    currency: &str,
    timeout: Duration,
) -> std::result::Result<(String, Option<i64>), String> {
    let input = json!({
        "id": task.id,
        "customer_id": task.customer_id,
        "description": task.description,
        "amount_cents": task.amount_cents,
        "currency": currency,
    })
    .to_string();
    let mut child = clean_env(Command::new("sh").arg("-c").arg(cmd))
        .env("HOSS_TASK_ID", task.id.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the executor: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(p) = pipe {
                let _ = p.take(MAX_OUTPUT as u64).read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {}s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("lost the executor: {e}")),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        let tail: String = stderr
            .trim()
            .chars()
            .rev()
            .take(300)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(format!(
            "executor exited with {status}: {}",
            crate::log::one_line(&tail)
        ));
    }
    Ok(summarize(&stdout))
}

/// `{"summary": "...", "cost_cents": 123}` or plain text.
fn summarize(stdout: &str) -> (String, Option<i64>) {
    let text = stdout.trim();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
        && let Some(summary) = v.get("summary").and_then(|s| s.as_str())
    {
        let cost = v
            .get("cost_cents")
            .and_then(|c| c.as_i64())
            .filter(|c| *c >= 0);
        return (short(summary), cost);
    }
    (short(text), None)
}

fn short(text: &str) -> String {
    text.chars().take(1000).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn executor_output_is_read_as_json_or_text() {
        assert_eq!(
            super::summarize(r#"{"summary":"ok","cost_cents":250}"#),
            ("ok".into(), Some(250))
        );
        assert_eq!(super::summarize(" all done \n"), ("all done".into(), None));
        assert_eq!(
            super::summarize(r#"{"summary":"x","cost_cents":-1}"#),
            ("x".into(), None)
        );
    }
}
