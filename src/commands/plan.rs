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

use std::collections::{BTreeMap, VecDeque};

use log::warn;
use serde::Serialize;

use crate::app::Ctx;
use crate::clock::Timestamp;
use crate::commands::discipline::{
    PassState, closed_rule, default_closed, evaluate, step_config, step_pack, zone_closed,
};
use crate::commands::mail::{outreach_message, sender};
use crate::db::{self, discipline as q, outbox};
use crate::domain::compose::{FollowUp, Sender};
use crate::domain::schedule::{Closed, parse_tz};
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
    let (due, not_due) = q::due_and_waiting(&ctx.db, at)?;
    let new = q::new_leads(&ctx.db)?;
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
        candidates: due + new,
        accounted: 0,
    };
    if not_due > 0 {
        f.report.waiting.insert("not_due", not_due);
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
    match default_closed(ctx, at) {
        None => f.walk_all()?,
        Some(closed) => f.walk_open_zones(closed, due, new)?,
    }
    Ok(f.report)
}

impl Forecast<'_> {
    /// The pass's own walk: due follow-ups oldest due first, then `new`
    /// leads oldest first.
    fn walk_all(&mut self) -> Result<()> {
        let db = &self.ctx.db;
        let mut cursor = (i64::MIN, 0);
        loop {
            let batch = db::sequences::due(db, self.pass.at, cursor, 64)?;
            if batch.is_empty() {
                break;
            }
            for (due_at, lead_id, step) in batch {
                cursor = (due_at, lead_id);
                if !self.one(lead_id, step)? {
                    return Ok(());
                }
            }
        }
        let mut after = 0;
        loop {
            let batch = outbox::due_leads(db, after, 64)?;
            if batch.is_empty() {
                break;
            }
            for lead_id in batch {
                after = lead_id;
                if !self.one(lead_id, outbox::FIRST_STEP)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The window is closed in `SEND_TIMEZONE`: the leads there, and in
    /// every other closed zone, wait (counted, not walked); the leads of the
    /// zones open at `at` are walked in the pass's order.
    fn walk_open_zones(&mut self, default: Closed, due: i64, new: i64) -> Result<()> {
        let ctx = self.ctx;
        let at = self.pass.at;
        let mut open = Vec::new();
        let mut rest = due + new;
        for zone in q::own_zones(&ctx.db)? {
            let n =
                q::due_in_zone_count(&ctx.db, &zone, at)? + q::new_in_zone_count(&ctx.db, &zone)?;
            match zone_closed(ctx, Some(&zone), at) {
                // A name that is not a zone is SEND_TIMEZONE's: `rest`.
                _ if parse_tz(&zone).is_err() => continue,
                Some(c) => self.wait(closed_rule(c), n),
                None => open.push(zone),
            }
            rest -= n;
        }
        self.wait(closed_rule(default), rest);
        // Due follow-ups, oldest due first...
        let mut follow_ups = Vec::new();
        for zone in &open {
            follow_ups.extend(q::due_in_zone(&ctx.db, zone, at)?);
        }
        follow_ups.sort_unstable();
        for (_, lead_id, step) in follow_ups {
            if !self.one(lead_id, step)? {
                return Ok(());
            }
        }
        // ...then new leads, oldest first: each open zone's in id order,
        // merged.
        struct Stream {
            zone: String,
            buf: VecDeque<i64>,
            after: i64,
            done: bool,
        }
        let mut streams: Vec<Stream> = open
            .into_iter()
            .map(|zone| Stream {
                zone,
                buf: VecDeque::new(),
                after: 0,
                done: false,
            })
            .collect();
        loop {
            for s in &mut streams {
                if s.buf.is_empty() && !s.done {
                    let batch = q::new_in_zone(&ctx.db, &s.zone, s.after, 64)?;
                    s.done = batch.len() < 64;
                    s.after = batch.last().copied().unwrap_or(s.after);
                    s.buf.extend(batch);
                }
            }
            let next = streams
                .iter_mut()
                .filter_map(|s| s.buf.front().copied().map(|id| (id, &mut s.buf)))
                .min_by_key(|(id, _)| *id);
            let Some((lead_id, buf)) = next else {
                return Ok(());
            };
            buf.pop_front();
            if !self.one(lead_id, outbox::FIRST_STEP)? {
                return Ok(());
            }
        }
    }

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
        let Some(lead) = db::leads::get(&ctx.db, lead_id)? else {
            self.accounted += 1;
            return Ok(true);
        };
        let verdict = evaluate(ctx, &self.pass, &lead)?;
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
        let token = db::leads::unsubscribe_token(&ctx.db, lead.id)?
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
