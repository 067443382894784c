//! `hoss send-outreach`: one bounded pass of outreach email.
//!
//! Recover reservations of dead processes (→ uncertain), then for due
//! follow-ups (oldest due first) and `new` leads (oldest first), until
//! `MAX_EMAILS_PER_CYCLE` attempts: the send window, the address checks
//! (SPEC §15), then reserve the step and the hour, day and domain slots in
//! one transaction, compose, send, record. DRY_RUN simulates first emails
//! only and leaves the lead `new`.

use std::time::Duration;

use log::{debug, info, warn};
use rand::RngExt;
use serde::Serialize;

use crate::app::Ctx;
use crate::clock::rfc3339;
use crate::commands::addresses::{AddressGate, Gate};
use crate::commands::discipline::{
    Candidates, FIRST_SEND_DAY, calendar, lead_tz, step_config, step_pack, today_cap,
};
use crate::commands::mail::{
    log_result, log_suppressed, log_throttled, outreach_message, sender, sender_problem,
    sender_problem_exit, simulate_send,
};
use crate::config::EmailMode;
use crate::db::outbox::{Kind, Reservation, Target};
use crate::db::{self, leads::Lead, outbox};
use crate::domain::address::email_domain;
use crate::domain::compose::{FollowUp, Outgoing, Sender};
use crate::domain::delivery::{Delivery, SendResult};
use crate::domain::lead_csv::is_company_domain;
use crate::domain::schedule;
use crate::domain::templates::Pack;
use crate::error::{Error, Result};
use crate::render::Report;
use crate::services::mailer::Mailer;

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
    /// Leads skipped because their company domain is held (SPEC §13).
    pub held: u32,
    /// Follow-ups (steps 2 and on) among `sent`.
    pub follow_ups: u32,
    /// Leads not attempted: outside their send window or a blackout date.
    pub waiting: u32,
    /// First emails held back by a per-domain cap.
    pub domain_capped: u32,
    /// Leads not emailed: role accounts (`SEND_TO_ROLE_ACCOUNTS` is FALSE).
    pub role: u32,
    /// Leads made `invalid` at send time: no mail route (`[EMAIL][NO_MX]`)
    /// or a disposable-mail domain.
    pub invalid: u32,
    /// Leads waiting because DNS gave no answer about their domain.
    pub dns_waiting: u32,
    /// Today's cap (warm-up included) ended the pass.
    pub daily_cap: bool,
    /// Why outreach is paused (health or operator), when it is: nothing
    /// real was sent.
    pub paused: Option<String>,
    /// Why the pass stopped early on the sender's side: `config_error` (exit
    /// 78) or `unreachable` (exit 75); the leads stay queued.
    pub sender_problem: Option<&'static str>,
}

impl Report for OutreachReport {
    fn exit_code(&self) -> i32 {
        sender_problem_exit(self.sender_problem)
    }

    fn human(&self, _terminal: bool) -> String {
        // The address checks, on the same line when they held anyone back.
        let addresses = if self.role + self.invalid + self.dns_waiting > 0 {
            format!(
                " role={} invalid={} dns_waiting={}",
                self.role, self.invalid, self.dns_waiting
            )
        } else {
            String::new()
        };
        format!(
            "send-outreach: mode={} attempted={} sent={} failed={} dry_run={} throttled={} suppressed={} uncertain={}{addresses}\n",
            self.mode,
            self.attempted,
            self.sent,
            self.failed,
            self.dry_run,
            self.throttled,
            self.suppressed,
            self.uncertain
        ) + &self
            .paused
            .as_ref()
            .map(|p| format!("send-outreach: paused ({p}); `hoss email resume` lifts it\n"))
            .unwrap_or_default()
            + &self
                .sender_problem
                .map(|s| format!("send-outreach: stopped ({s}); the leads stay queued\n"))
                .unwrap_or_default()
    }
}

/// Leads a pass lets wait on DNS before it stops: a resolver that answers
/// SERVFAIL to everything (it is up, each domain fails) costs a few
/// seconds, not the whole queue.
const MAX_DNS_WAITS: u32 = 10;

struct Pass<'a> {
    ctx: &'a Ctx,
    mailer: Box<dyn Mailer>,
    pack: Pack,
    sender: Sender,
    report: OutreachReport,
    real_sends: u32,
    /// A real send went out since the last pause: the next claim waits
    /// first (a lead only looked at and held back owes no pause).
    pause_owed: bool,
    /// The reply token of the lead being sent to.
    reply_token: Option<String>,
    /// The caps every claim of this pass checks.
    claim: outbox::Claim,
    /// The address checks (SPEC §15), with this pass's resolver.
    gate: AddressGate,
    /// Leads whose domain DNS was asked about in vain this pass.
    dns_asked_waits: u32,
}

pub fn run(ctx: &Ctx) -> Result<OutreachReport> {
    let cfg = &ctx.config.email;
    // A broken pack has already made email fall back to DRY_RUN; the
    // simulation then uses the built-in general pack rather than failing.
    let pack = match &cfg.pack {
        Ok(pack) => pack.clone(),
        Err(_) => crate::domain::templates::builtin_pack("general").map_err(Error::Config)?,
    };
    let abandoned = ctx
        .db()
        .immediate(|tx| outbox::recover_stale(tx, ctx.now()))?;
    for a in &abandoned {
        warn!(
            "[EMAIL][UNCERTAIN] lead_id={} email={} reserved_at={} reason=\"the sending process ended before recording an answer; not re-sent\"",
            a.lead_id.map_or("-".into(), |id| id.to_string()),
            a.recipient,
            rfc3339(a.at)
        );
    }
    let pruned = outbox::prune(ctx.db(), ctx.now(), ctx.config.ledger_retention_days)?;
    db::digest::prune_tallies(ctx.db(), ctx.now(), ctx.config.ledger_retention_days)?;
    if pruned > 0 {
        info!(
            "[EMAIL][LEDGER_PRUNED] rows={pruned} retention_days={}",
            ctx.config.ledger_retention_days
        );
    }
    let mut pass = Pass {
        ctx,
        mailer: ctx.mailer(),
        pack,
        sender: sender(ctx),
        report: OutreachReport {
            mode: cfg.mode.effective.as_str().into(),
            uncertain: abandoned.len() as u32,
            ..OutreachReport::default()
        },
        real_sends: 0,
        pause_owed: false,
        reply_token: None,
        claim: outbox::Claim {
            hour_limit: cfg.max_per_hour,
            day_cap: today_cap(ctx, ctx.now())?,
            domain_new_cap: cfg.sending.max_new_per_domain_per_day,
            domain_active_cap: cfg.sending.max_active_per_domain,
        },
        gate: AddressGate::default(),
        dns_asked_waits: 0,
    };
    if pass.mailer.mode() != EmailMode::DryRun {
        let health = crate::commands::health::enforce(ctx)?;
        if health.paused {
            let reason = health.reason.unwrap_or_default();
            warn!(
                "[EMAIL][PAUSED] reason={reason:?}; nothing real is sent until `hoss email resume`"
            );
            pass.report.paused = Some(reason);
            return Ok(pass.report);
        }
    }
    if pass.mailer.mode() == EmailMode::DryRun {
        // A DRY_RUN pass starts no sequence (so it has none to follow up)
        // and checks no window: new leads, oldest first.
        let mut after = 0;
        while pass.report.attempted < cfg.max_per_cycle {
            let batch = outbox::due_leads(ctx.db(), after, 64)?;
            if batch.is_empty() {
                break;
            }
            for lead_id in batch {
                after = lead_id;
                if pass.report.attempted >= cfg.max_per_cycle
                    || !pass.one(lead_id, outbox::FIRST_STEP)?
                {
                    return Ok(pass.report);
                }
                ctx.flush_log();
            }
        }
        return Ok(pass.report);
    }
    // Due follow-ups first, oldest due first, then new leads, oldest first
    // (the order `plan` forecasts). Where the send window is closed now,
    // the leads there wait: counted, not looked at one by one.
    let mut candidates = Candidates::new(ctx, ctx.now(), None)?;
    for &(rule, n) in candidates.closed() {
        pass.report.waiting += n as u32;
        debug!("[EMAIL][WINDOW] leads={n} rule={rule}");
    }
    while pass.report.attempted < cfg.max_per_cycle {
        let Some((lead_id, step)) = candidates.next_lead()? else {
            break;
        };
        if !pass.one(lead_id, step)? {
            break;
        }
        ctx.flush_log();
    }
    Ok(pass.report)
}

impl Pass<'_> {
    /// Handles one step of one lead; `false` means the pass must stop
    /// (a cap is reached, or the sender failed).
    fn one(&mut self, lead_id: i64, step: i64) -> Result<bool> {
        let ctx = self.ctx;
        let Some(lead) = db::leads::get(ctx.db(), lead_id)? else {
            return Ok(true);
        };
        if self.mailer.mode() == EmailMode::DryRun {
            return self.simulate(&lead).map(|_| true);
        }
        let cfg = &ctx.config.email;
        let sending = &cfg.sending;
        let Some(step_cfg) = step_config(ctx, step) else {
            // The configuration lost this step: the sequence is over.
            let why = "no such step in [[sequence.steps]]";
            ctx.db()
                .immediate(|tx| Ok(db::sequences::stop(tx, lead.id, why, ctx.now())?))?;
            return Ok(true);
        };
        let tz = lead_tz(ctx, lead.id)?;
        if let Err(closed) = calendar(ctx, tz).check(crate::clock::utc(ctx.now())) {
            self.report.waiting += 1;
            debug!(
                "[EMAIL][WINDOW] lead_id={} step={step} opens={}",
                lead.id,
                closed.opens().to_rfc3339()
            );
            return Ok(true);
        }
        match self.gate.check(ctx, &lead)? {
            Gate::Open => {}
            Gate::Role => {
                self.report.role += 1;
                debug!("[EMAIL][ROLE] lead_id={} step={step}", lead.id);
                if step > outbox::FIRST_STEP {
                    let why = "role account; SEND_TO_ROLE_ACCOUNTS is FALSE";
                    ctx.db()
                        .immediate(|tx| Ok(db::sequences::stop(tx, lead.id, why, ctx.now())?))?;
                }
                return Ok(true);
            }
            Gate::Wait {
                asked: false,
                reason,
                ..
            } => {
                // Left alone since an earlier pass found no answer.
                self.report.dns_waiting += 1;
                debug!("[EMAIL][DNS_WAIT] lead_id={} reason={reason:?}", lead.id);
                return Ok(true);
            }
            Gate::Wait { reason, .. } => {
                self.report.dns_waiting += 1;
                self.dns_asked_waits += 1;
                warn!(
                    "[EMAIL][DNS_WAIT] domain={} lead_id={} reason={reason:?}",
                    email_domain(&lead.email),
                    lead.id
                );
                if self.gate.resolver_down() || self.dns_asked_waits >= MAX_DNS_WAITS {
                    // Every next unchecked domain would likely wait the
                    // same way: a pass never walks the queue on DNS alone.
                    warn!(
                        "[EMAIL][PASS_STOPPED] reason=\"DNS gives no answers ({} domain(s) asked in vain); the next pass tries again\"",
                        self.dns_asked_waits
                    );
                    return Ok(false);
                }
                return Ok(true);
            }
            Gate::Refused { reason, no_mx } => {
                self.report.invalid += 1;
                AddressGate::refuse(ctx, &lead, &reason, no_mx)?;
                return Ok(true);
            }
        }
        let target = Target {
            kind: Kind::Outreach,
            step,
            lead_id: Some(lead.id),
            recipient: &lead.email,
        };
        let mode = self.mailer.mode().as_str();
        // Pause before taking the slot, so a reservation is never held
        // across the pause (and a send stays in the hour it was counted in).
        self.pause_between_sends();
        let reservation = ctx
            .db()
            .immediate(|tx| outbox::reserve(tx, &target, mode, &self.claim, ctx.now()))?;
        let (ledger_id, token) = match reservation {
            Reservation::Gone => return Ok(true),
            Reservation::Held { until, reason } => {
                self.report.held += 1;
                info!(
                    "[EMAIL][HELD] lead_id={} reason={reason} until={}",
                    lead.id,
                    rfc3339(until)
                );
                return Ok(true);
            }
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
            Reservation::DailyCap { count, cap } => {
                self.report.daily_cap = true;
                warn!("[EMAIL][DAILY_CAP] sent_24h={count} cap={cap}");
                return Ok(false);
            }
            Reservation::DomainCap { rule, count } => {
                self.report.domain_capped += 1;
                info!(
                    "[EMAIL][DOMAIN_CAP] lead_id={} rule={rule} count={count}",
                    lead.id
                );
                return Ok(true);
            }
            Reservation::Reserved {
                ledger_id,
                unsubscribe_token,
                reply_token,
            } => {
                self.reply_token = reply_token;
                (ledger_id, unsubscribe_token.unwrap_or_default())
            }
        };
        let (variant, pack) = step_pack(ctx, step_cfg, lead.id, step, &self.pack);
        let message_id = crate::commands::mail::message_id(ledger_id, &cfg.from_email)?;
        outbox::set_message_id(ctx.db(), ledger_id, &message_id, &variant)?;
        self.report.attempted += 1;
        let sequence = if step > outbox::FIRST_STEP {
            db::sequences::get(ctx.db(), lead.id)?
        } else {
            None
        };
        let follow_up = sequence.as_ref().map(|s| FollowUp {
            step: step as u32,
            subject: step_cfg.subject.as_deref(),
            first_subject: &s.first_subject,
            message_ids: &s.message_ids,
        });
        let composed = outreach_message(ctx, pack, &self.sender, &lead, &token, follow_up.as_ref())
            .map(|mut m| {
                m.message_id = Some(format!("<{message_id}>"));
                m.send_id = Some(ledger_id);
                if let Some(t) = &self.reply_token {
                    crate::commands::mail::name_the_lead(ctx, &mut m, t);
                }
                m
            });
        // A follow-up that cannot be written for this lead (a value its
        // pack needs and the lead lacks) says nothing about the address:
        // the lead keeps its status and the sequence ends with the reason.
        let unwritable = match &composed {
            Err(e) if step > outbox::FIRST_STEP => Some(format!("cannot compose: {e}")),
            _ => None,
        };
        let (subject, result) = match composed {
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
                self.pause_owed = true;
                let result = self.mailer.send(&message);
                log_result(Some(lead.id), &message, &result);
                (message.subject, result)
            }
        };
        let now = ctx.now();
        ctx.db().immediate(|tx| {
            let moves_lead = unwritable.is_none().then_some(lead.id);
            outbox::finish(tx, ledger_id, moves_lead, &subject, &result, now)?;
            if let Some(why) = &unwritable {
                db::sequences::stop(tx, lead.id, why, now)?;
                return Ok(());
            }
            match result.delivery {
                Delivery::Sent => {
                    let next = sending.steps.get(step as usize).map(|n| {
                        let due = schedule::due_after(
                            crate::clock::utc(now),
                            n.delay_days,
                            n.calendar_days,
                            tz,
                        );
                        (step + 1, due.timestamp())
                    });
                    // Only a company's own domain counts toward its caps.
                    let domain = if is_company_domain(&lead.domain) {
                        lead.domain.as_str()
                    } else {
                        ""
                    };
                    db::sequences::sent(
                        tx,
                        &db::sequences::Sent {
                            lead_id: lead.id,
                            step,
                            next,
                            domain,
                            subject: &subject,
                            message_id: Some(&message_id),
                            now,
                        },
                    )?;
                    let day = crate::clock::local_day(now, sending.timezone).to_string();
                    db::sequences::keep_first(tx, FIRST_SEND_DAY, &day)?;
                }
                Delivery::Permanent | Delivery::Uncertain if step > outbox::FIRST_STEP => {
                    let why = if result.delivery == Delivery::Uncertain {
                        "uncertain"
                    } else {
                        "bounce"
                    };
                    db::sequences::stop(tx, lead.id, why, now)?;
                }
                _ => {}
            }
            Ok(())
        })?;
        match result.delivery {
            Delivery::Sent if step > outbox::FIRST_STEP => {
                self.report.sent += 1;
                self.report.follow_ups += 1;
            }
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
        outreach_message(self.ctx, &self.pack, &self.sender, lead, token, None)
    }

    /// DRY_RUN: the same checks and message, recorded, nothing sent, the
    /// lead stays `new`.
    fn simulate(&mut self, lead: &Lead) -> Result<()> {
        let ctx = self.ctx;
        if lead.role && !ctx.config.email.deliverability.send_to_role_accounts {
            self.report.role += 1;
            debug!("[EMAIL][ROLE] lead_id={}", lead.id);
            return Ok(());
        }
        let target = Target {
            kind: Kind::Outreach,
            lead_id: Some(lead.id),
            step: outbox::FIRST_STEP,
            recipient: &lead.email,
        };
        let refused = match outbox::suppression_reason(ctx.db(), &lead.email, false)? {
            Some(reason) => Some(reason),
            None => outbox::already_emailed(ctx.db(), &lead.email)?,
        };
        if let Some(reason) = refused {
            outbox::record(
                ctx.db(),
                &target,
                "",
                EmailMode::DryRun.as_str(),
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
                    ctx.db(),
                    &target,
                    "",
                    EmailMode::DryRun.as_str(),
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

    /// A random pause between real sends (none before the first, and one
    /// per send however many leads are then looked at and held back).
    fn pause_between_sends(&mut self) {
        let cfg = &self.ctx.config.email;
        if std::mem::take(&mut self.pause_owed) && cfg.delay_max_secs > 0 {
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use crate::app::Ctx;
    use crate::clock::Timestamp;
    use crate::config::{Config, EmailMode};
    use crate::db::{self, outbox};
    use crate::domain::compose::Outgoing;
    use crate::domain::delivery::SendResult;
    use crate::domain::leads::{RawLead, normalize};
    use crate::domain::status::LeadStatus;
    use crate::services::mailer::{Mailer, MailerFactory};

    /// A SendGrid stand-in that keeps what it was given and accepts it.
    struct Recording(Arc<Mutex<Vec<Outgoing>>>);

    impl Mailer for Recording {
        fn mode(&self) -> EmailMode {
            EmailMode::SendGrid
        }

        fn send(&mut self, message: &Outgoing) -> SendResult {
            let mut sent = self.0.lock().unwrap();
            sent.push(message.clone());
            SendResult::sent(EmailMode::SendGrid, Some(format!("msg-{}", sent.len())))
        }
    }

    #[test]
    fn a_pass_sends_through_the_context_mailer_and_records_it_at_the_context_time() {
        let config = Config::from_values(
            [
                ("EMAIL_MODE", "SENDGRID"),
                ("SENDGRID_API_KEY", "SG.test-key"),
                ("SENDGRID_FROM_EMAIL", "ops@hoss.test"),
                ("COMPANY_POSTAL_ADDRESS", "1 Main St"),
                ("SENDER_NAME", "Sam Carter"),
                ("COMPANY_NAME", "Carter Consulting"),
                ("MAX_EMAILS_PER_CYCLE", "1"),
                // No resolver is asked from a unit test (SPEC §15's check
                // has its own tests against a real DNS server).
                ("MX_CHECK", "OFF"),
                ("EMAIL_SEND_DELAY_MIN", "0"),
                ("EMAIL_SEND_DELAY_MAX", "0"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
        );
        assert_eq!(config.email.mode.effective, EmailMode::SendGrid);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let recorder = sent.clone();
        let mailers: MailerFactory =
            Arc::new(move |_: &_| Box::new(Recording(recorder.clone())) as Box<dyn Mailer>);
        let now = 1_800_000_000;
        let ctx = Ctx::for_test(config, now, mailers);
        for (email, company) in [("ann@acme-widgets.com", "Acme"), ("bo@bolt.io", "Bolt")] {
            let lead = normalize(&RawLead {
                name: None,
                email: Some(email.into()),
                company: Some(company.into()),
                website: None,
                niche: None,
            })
            .unwrap();
            db::leads::insert(ctx.db(), &lead, "manual", now - 60).unwrap();
        }

        let report = super::run(&ctx).unwrap();

        // One send per cycle: the oldest lead, through the recording mailer.
        assert_eq!((report.mode.as_str(), report.attempted), ("SENDGRID", 1));
        assert_eq!((report.sent, report.failed, report.dry_run), (1, 0, 0));
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "ann@acme-widgets.com");
        let ledger = outbox::recent(ctx.db(), 10).unwrap();
        assert_eq!(ledger.len(), 1);
        let row = &ledger[0];
        assert_eq!(
            (row.kind.as_str(), row.mode.as_str(), row.outcome.as_str()),
            ("outreach", "SENDGRID", "sent")
        );
        assert_eq!(
            (row.lead_id, row.recipient.as_str()),
            (Some(1), sent[0].to.as_str())
        );
        assert_eq!(row.subject, sent[0].subject);
        assert_eq!(outbox::sent_in_hour(ctx.db(), now).unwrap(), 1);
        assert_eq!(row.at, Timestamp(now));
        let lead = db::leads::get(ctx.db(), 1).unwrap().unwrap();
        assert_eq!(
            (lead.status, lead.last_contacted_at),
            (LeadStatus::Contacted, Some(Timestamp(now)))
        );
        let waiting = db::leads::get(ctx.db(), 2).unwrap().unwrap();
        assert_eq!(waiting.status, LeadStatus::New);
    }
}
