//! `hoss plan [--at TIME]`: the next `send-outreach` pass at TIME (default
//! now), forecast without sending, writing or touching the network. It
//! walks the pass's candidates in the pass's order — due follow-ups oldest
//! due first, then `new` leads oldest first — through the same rules
//! (`commands::discipline`), counting each planned send against the hour,
//! the day and the per-domain caps as the pass would, until
//! `MAX_EMAILS_PER_CYCLE` attempts or a cap ends it.
//!
//! `waiting` counts candidates by the rule that holds each back first;
//! a rule that ends the whole pass (`mode`, `paused`, `daily_cap`,
//! `hour_cap`) counts every candidate it keeps from being reached, and
//! `not_due` the active sequences whose next step is not yet due. When the
//! send window is closed in `SEND_TIMEZONE`, only the leads of the time
//! zones open at TIME are walked; every other lead is counted under
//! `window` (or `blackout`) by zone, at once — the pass itself would look at
//! each of them and skip it.

use std::collections::BTreeMap;

use log::warn;
use serde::Serialize;

use crate::app::Ctx;
use crate::clock::Timestamp;
use crate::commands::discipline::{Candidates, PassState, judge, step_config, step_pack};
use crate::commands::mail::{outreach_message, sender};
use crate::db::{self, discipline as q, outbox};
use crate::domain::compose::{FollowUp, Sender};
use crate::domain::templates::Pack;
use crate::error::{Error, Result};
use crate::render::{Report, table};

#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub at: Timestamp,
    /// The effective email mode.
    pub mode: String,
    pub would_send: Vec<Planned>,
    pub waiting: BTreeMap<&'static str, i64>,
    /// Candidates left for later passes once `MAX_EMAILS_PER_CYCLE`
    /// attempts are planned.
    pub beyond_cycle: i64,
    #[serde(skip)]
    max_per_cycle: u32,
}

#[derive(Debug, Serialize)]
pub struct Planned {
    pub lead_id: i64,
    pub step: i64,
    pub to: String,
    /// The subject the pass would write; null when the message cannot be
    /// composed (the pass would record the attempt as failed).
    pub subject: Option<String>,
}

impl Report for PlanReport {
    fn human(&self, terminal: bool) -> String {
        let mut s = format!(
            "plan: the send-outreach pass at {} (email {})\n",
            self.at, self.mode
        );
        if self.would_send.is_empty() {
            s.push_str("would send nothing\n");
        } else {
            s.push_str(&format!("would send {}:\n", self.would_send.len()));
            let rows = self
                .would_send
                .iter()
                .map(|p| {
                    vec![
                        p.lead_id.to_string(),
                        p.step.to_string(),
                        p.to.clone(),
                        p.subject
                            .clone()
                            .unwrap_or_else(|| "(cannot compose)".into()),
                    ]
                })
                .collect();
            s.push_str(&table(&["lead", "step", "to", "subject"], rows, terminal));
        }
        if self.waiting.is_empty() {
            s.push_str("waiting: none\n");
        } else {
            let parts: Vec<String> = self
                .waiting
                .iter()
                .map(|(rule, n)| format!("{rule} {n}"))
                .collect();
            s.push_str(&format!("waiting: {}\n", parts.join(" · ")));
        }
        if self.beyond_cycle > 0 {
            s.push_str(&format!(
                "left for later passes (MAX_EMAILS_PER_CYCLE {}): {}\n",
                self.max_per_cycle, self.beyond_cycle
            ));
        }
        s.push_str("`hoss why LEAD` explains one lead\n");
        s
    }
}

/// `--at`: an RFC 3339 time.
fn parse_at(text: &str) -> Result<i64> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp())
        .map_err(|_| {
            Error::Usage(format!(
                "--at {text:?} is not an RFC 3339 time like 2026-11-25T14:00:00Z"
            ))
        })
}

struct Forecast<'a> {
    ctx: &'a Ctx,
    pass: PassState,
    pack: Pack,
    sender: Sender,
    report: PlanReport,
    attempted: u32,
    /// Candidates of the pass, and how many are accounted for so far.
    candidates: i64,
    accounted: i64,
}

pub fn run(ctx: &Ctx, at: Option<&str>) -> Result<PlanReport> {
    let at = match at {
        Some(text) => parse_at(text)?,
        None => ctx.now(),
    };
    let cfg = &ctx.config.email;
    let pack = match &cfg.pack {
        Ok(pack) => pack.clone(),
        Err(_) => crate::domain::templates::builtin_pack("general").map_err(Error::Config)?,
    };
    let counts = q::pass_counts(ctx.db(), at)?;
    let mut f = Forecast {
        ctx,
        pass: PassState::read(ctx, at)?,
        pack,
        sender: sender(ctx),
        report: PlanReport {
            at: Timestamp(at),
            mode: cfg.mode.effective.as_str().into(),
            would_send: Vec::new(),
            waiting: BTreeMap::new(),
            beyond_cycle: 0,
            max_per_cycle: cfg.max_per_cycle,
        },
        attempted: 0,
        candidates: counts.due + counts.new,
        accounted: 0,
    };
    if counts.not_due > 0 {
        f.report.waiting.insert("not_due", counts.not_due);
    }
    // The whole pass first: nothing real under DRY_RUN or a pause.
    let whole = if f.pass.dry_run.is_some() {
        Some("mode")
    } else if f.pass.paused.is_some() {
        Some("paused")
    } else {
        None
    };
    if let Some(rule) = whole {
        f.wait(rule, f.candidates);
        return Ok(f.report);
    }
    let mut candidates = Candidates::new(ctx, at, Some(counts))?;
    for &(rule, n) in candidates.closed() {
        f.wait(rule, n);
    }
    // The walk reads each candidate by key, statement after statement.
    ctx.db().plan_lookups_once()?;
    while let Some((lead_id, step)) = candidates.next_lead()? {
        if !f.one(lead_id, step)? {
            break;
        }
    }
    Ok(f.report)
}

impl Forecast<'_> {
    fn wait(&mut self, rule: &'static str, n: i64) {
        if n > 0 {
            *self.report.waiting.entry(rule).or_insert(0) += n;
            self.accounted += n;
        }
    }

    /// One candidate, as the pass handles it; `false` ends the pass.
    fn one(&mut self, lead_id: i64, step: i64) -> Result<bool> {
        let ctx = self.ctx;
        if self.attempted >= ctx.config.email.max_per_cycle {
            self.report.beyond_cycle = (self.candidates - self.accounted).max(0);
            return Ok(false);
        }
        let Some((lead, facts)) = q::lead_with_facts(ctx.db(), lead_id, self.pass.at)? else {
            self.accounted += 1;
            return Ok(true);
        };
        let verdict = judge(ctx, &self.pass, &lead, facts)?;
        // The pass looks at the window before it tries to claim the lead.
        let first = verdict
            .blocks
            .iter()
            .find(|b| matches!(b.rule, "window" | "blackout"))
            .or(verdict.blocks.first());
        if let Some(b) = first {
            if matches!(b.rule, "daily_cap" | "hour_cap") {
                // The pass ends here: this candidate and every later one wait.
                let left = (self.candidates - self.accounted).max(1);
                self.wait(b.rule, left);
                return Ok(false);
            }
            self.wait(b.rule, 1);
            return Ok(true);
        }
        self.accounted += 1;
        self.attempted += 1;
        let subject = self.subject(&lead, step, &verdict)?;
        if subject.is_some() {
            self.pass.plan_send(ctx, &lead, step);
        }
        self.report.would_send.push(Planned {
            lead_id: lead.id,
            step,
            to: lead.email.clone(),
            subject,
        });
        Ok(true)
    }

    /// The subject the pass would write for this step (the step's pack or
    /// variant; a follow-up threaded on the first subject).
    fn subject(
        &self,
        lead: &db::leads::Lead,
        step: i64,
        verdict: &crate::commands::discipline::Verdict,
    ) -> Result<Option<String>> {
        let ctx = self.ctx;
        let Some(step_cfg) = step_config(ctx, step) else {
            return Ok(None);
        };
        let (_, pack) = step_pack(ctx, step_cfg, lead.id, step, &self.pack);
        let sequence = verdict
            .sequence
            .as_ref()
            .filter(|_| step > outbox::FIRST_STEP);
        let follow_up = sequence.map(|s| FollowUp {
            step: step as u32,
            subject: step_cfg.subject.as_deref(),
            first_subject: &s.first_subject,
            message_ids: &s.message_ids,
        });
        let token = verdict
            .unsubscribe_token
            .clone()
            .unwrap_or_else(|| "plan-token".to_string());
        Ok(
            match outreach_message(ctx, pack, &self.sender, lead, &token, follow_up.as_ref()) {
                Ok(message) => Some(message.subject),
                Err(e) => {
                    warn!(
                        "[PLAN] lead_id={} step={step} cannot be composed: {e}",
                        lead.id
                    );
                    None
                }
            },
        )
    }
}
