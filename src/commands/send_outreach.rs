//! `hoss send-outreach`: one bounded pass of outreach email.
//!
//! Recover reservations of dead processes (→ uncertain), then for `new`
//! leads, oldest first, until `MAX_EMAILS_PER_CYCLE` attempts: reserve the
//! lead and an hour slot in one transaction, compose, send, record. DRY_RUN
//! records a simulated attempt and leaves the lead `new`.

use std::time::Duration;

use log::{info, warn};
use rand::RngExt;
use serde::Serialize;

use crate::app::Ctx;
use crate::clock::rfc3339;
use crate::commands::mail::{
    log_result, log_suppressed, log_throttled, outreach_message, sender, sender_problem,
    sender_problem_exit, simulate_send,
};
use crate::config::EmailMode;
use crate::db::outbox::{Kind, Reservation, Target};
use crate::db::{self, leads::Lead, outbox};
use crate::domain::compose::{Outgoing, Sender};
use crate::domain::delivery::{Delivery, SendResult};
use crate::domain::templates::Pack;
use crate::error::{Error, Result};
use crate::render::Report;
use crate::services::mailer::{self, Mailer};

#[derive(Debug, Default, Serialize)]
pub struct OutreachReport {
    pub mode: String,
    pub attempted: u32,
    pub sent: u32,
    pub failed: u32,
    pub dry_run: u32,
    pub throttled: u32,
    pub suppressed: u32,
    pub uncertain: u32,
    /// Why the pass stopped early on the sender's side: `config_error` (exit
    /// 78) or `unreachable` (exit 75); the leads stay queued.
    pub sender_problem: Option<&'static str>,
}

impl Report for OutreachReport {
    fn exit_code(&self) -> i32 {
        sender_problem_exit(self.sender_problem)
    }

    fn human(&self, _terminal: bool) -> String {
        format!(
            "send-outreach: mode={} attempted={} sent={} failed={} dry_run={} throttled={} suppressed={} uncertain={}\n",
            self.mode,
            self.attempted,
            self.sent,
            self.failed,
            self.dry_run,
            self.throttled,
            self.suppressed,
            self.uncertain
        ) + &self
            .sender_problem
            .map(|s| format!("send-outreach: stopped ({s}); the leads stay queued\n"))
            .unwrap_or_default()
    }
}

struct Pass<'a> {
    ctx: &'a Ctx,
    mailer: Box<dyn Mailer>,
    pack: Pack,
    sender: Sender,
    report: OutreachReport,
    real_sends: u32,
}

pub fn run(ctx: &Ctx) -> Result<OutreachReport> {
    let cfg = &ctx.config.email;
    // A broken pack has already made email fall back to DRY_RUN; the
    // simulation then uses the built-in general pack rather than failing.
    let pack = match &cfg.pack {
        Ok(pack) => pack.clone(),
        Err(_) => crate::domain::templates::builtin_pack("general").map_err(Error::Config)?,
    };
    let abandoned = db::immediate(&ctx.db, |tx| Ok(outbox::recover_stale(tx, ctx.now())?))?;
    for a in &abandoned {
        warn!(
            "[EMAIL][UNCERTAIN] lead_id={} email={} reserved_at={} reason=\"the sending process ended before recording an answer; not re-sent\"",
            a.lead_id.map_or("-".into(), |id| id.to_string()),
            a.recipient,
            rfc3339(a.at)
        );
    }
    let pruned = outbox::prune(&ctx.db, ctx.now(), ctx.config.ledger_retention_days)?;
    db::digest::prune_tallies(&ctx.db, ctx.now(), ctx.config.ledger_retention_days)?;
    if pruned > 0 {
        info!(
            "[EMAIL][LEDGER_PRUNED] rows={pruned} retention_days={}",
            ctx.config.ledger_retention_days
        );
    }
    let mut pass = Pass {
        ctx,
        mailer: mailer::for_config(cfg),
        pack,
        sender: sender(ctx),
        report: OutreachReport {
            mode: cfg.effective.as_str().into(),
            uncertain: abandoned.len() as u32,
            ..OutreachReport::default()
        },
        real_sends: 0,
    };
    let mut after = 0;
    'pass: while pass.report.attempted < cfg.max_per_cycle {
        let batch = outbox::due_leads(&ctx.db, after, 64)?;
        if batch.is_empty() {
            break;
        }
        for lead_id in batch {
            after = lead_id;
            if pass.report.attempted >= cfg.max_per_cycle || !pass.one(lead_id)? {
                break 'pass;
            }
            ctx.flush_log();
        }
    }
    Ok(pass.report)
}

impl Pass<'_> {
    /// Handles one lead; `false` means the pass must stop (throttled).
    fn one(&mut self, lead_id: i64) -> Result<bool> {
        let ctx = self.ctx;
        let Some(lead) = db::leads::get(&ctx.db, lead_id)? else {
            return Ok(true);
        };
        if self.mailer.mode() == EmailMode::DryRun {
            return self.simulate(&lead).map(|_| true);
        }
        let cfg = &ctx.config.email;
        let target = Target {
            kind: Kind::Outreach,
            lead_id: Some(lead.id),
            recipient: &lead.email,
        };
        let mode = self.mailer.mode().as_str();
        // Pause before taking the slot, so a reservation is never held
        // across the pause (and a send stays in the hour it was counted in).
        self.pause_between_sends();
        let reservation = db::immediate(&ctx.db, |tx| {
            outbox::reserve(tx, &target, mode, cfg.max_per_hour, ctx.now())
        })?;
        let (ledger_id, token) = match reservation {
            Reservation::Gone => return Ok(true),
            Reservation::Suppressed { reason } => {
                self.report.suppressed += 1;
                log_suppressed(Some(lead.id), &lead.email, &reason);
                return Ok(true);
            }
            Reservation::Throttled { count } => {
                self.report.throttled += 1;
                log_throttled(ctx, count);
                return Ok(false);
            }
            Reservation::Reserved {
                ledger_id,
                unsubscribe_token,
            } => (ledger_id, unsubscribe_token.unwrap_or_default()),
        };
        self.report.attempted += 1;
        let (subject, result) = match self.compose(&lead, &token) {
            Err(e) => {
                let result = SendResult::failed(
                    self.mailer.mode(),
                    Delivery::Permanent,
                    format!("cannot compose: {e}"),
                );
                warn!(
                    "[EMAIL][FAIL][{mode}] lead_id={} error={:?}",
                    lead.id,
                    result.error.as_deref().unwrap_or_default()
                );
                (String::new(), result)
            }
            Ok(message) => {
                self.real_sends += 1;
                let result = self.mailer.send(&message);
                log_result(Some(lead.id), &message, &result);
                (message.subject, result)
            }
        };
        db::immediate(&ctx.db, |tx| {
            Ok(outbox::finish(
                tx,
                ledger_id,
                Some(lead.id),
                &subject,
                &result,
                ctx.now(),
            )?)
        })?;
        match result.delivery {
            Delivery::Sent => self.report.sent += 1,
            Delivery::Uncertain => self.report.uncertain += 1,
            _ => self.report.failed += 1,
        }
        if let Some(problem) = sender_problem(result.delivery) {
            // Every next lead would fail the same way: stop, keep them queued.
            self.report.sender_problem = Some(problem);
            return Ok(false);
        }
        if result.delivery == Delivery::Transient {
            // The provider is down or busy: stop here rather than spend the
            // next leads' retries on the same outage.
            warn!("[EMAIL][PASS_STOPPED] reason=\"transient failure; the next pass tries again\"");
            return Ok(false);
        }
        Ok(true)
    }

    fn compose(&self, lead: &Lead, token: &str) -> std::result::Result<Outgoing, String> {
        outreach_message(self.ctx, &self.pack, &self.sender, lead, token)
    }

    /// DRY_RUN: the same checks and message, recorded, nothing sent, the
    /// lead stays `new`.
    fn simulate(&mut self, lead: &Lead) -> Result<()> {
        let ctx = self.ctx;
        let target = Target {
            kind: Kind::Outreach,
            lead_id: Some(lead.id),
            recipient: &lead.email,
        };
        let refused = match outbox::suppression_reason(&ctx.db, &lead.email, false)? {
            Some(reason) => Some(reason),
            None => outbox::already_emailed(&ctx.db, &lead.email)?,
        };
        if let Some(reason) = refused {
            outbox::record(
                &ctx.db,
                &target,
                "",
                "DRY_RUN",
                "suppressed",
                Some(&reason),
                ctx.now(),
            )?;
            self.report.suppressed += 1;
            log_suppressed(Some(lead.id), &lead.email, &reason);
            return Ok(());
        }
        self.report.attempted += 1;
        match self.compose(lead, "dry-run-token") {
            Ok(message) => {
                simulate_send(ctx, self.mailer.as_mut(), &target, &message)?;
                self.report.dry_run += 1;
            }
            Err(e) => {
                let error = format!("cannot compose: {e}");
                outbox::record(
                    &ctx.db,
                    &target,
                    "",
                    "DRY_RUN",
                    "failed",
                    Some(&error),
                    ctx.now(),
                )?;
                warn!("[EMAIL][FAIL][DRY_RUN] lead_id={} error={error:?}", lead.id);
                self.report.failed += 1;
            }
        }
        Ok(())
    }

    /// A random pause between real sends (none before the first).
    fn pause_between_sends(&self) {
        let cfg = &self.ctx.config.email;
        if self.real_sends > 0 && cfg.delay_max_secs > 0 {
            let secs = rand::rng().random_range(cfg.delay_min_secs..=cfg.delay_max_secs);
            self.ctx.progress.note(&format!(
                "sent {} of at most {}; next in {secs}s…",
                self.real_sends, cfg.max_per_cycle
            ));
            std::thread::sleep(Duration::from_secs(u64::from(secs)));
            self.ctx.progress.done();
        }
    }
}
