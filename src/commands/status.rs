//! `hoss status`: is it safe, is it working. Release mode, global DRY_RUN,
//! every subsystem's modes, the last run of every command, and warnings.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::app::Ctx;
use crate::clock::{age, hour_label, rfc3339};
use crate::commands::{discipline, health, problems};
use crate::config::{Config, Subsystems};
use crate::db::{self, invoices, leads::SourceRun, outbox, outbox::Attempt, runs, runs::Run};
use crate::error::Result;
use crate::money::{self, Cents, format_amount, format_total};
use crate::render::modes::{header, sources, subsystem_table};
use crate::render::{Report, or_dash, table};

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub release_mode: bool,
    pub dry_run: bool,
    pub subsystems: Subsystems,
    pub store: String,
    pub config_file: Option<String>,
    pub email: EmailPanel,
    pub leads: LeadsPanel,
    pub stripe: StripePanel,
    pub billing: BillingPanel,
    pub inbox: health::InboxPanel,
    pub health: health::Health,
    pub addresses: AddressesPanel,
    pub runs: BTreeMap<String, Run>,
    pub warnings: Vec<String>,
    #[serde(skip)]
    now: i64,
}

/// The address checks of SPEC §15, as configured.
#[derive(Debug, Serialize)]
pub struct AddressesPanel {
    /// `ON` or `OFF`.
    pub mx_check: &'static str,
    /// `DNS_SERVER`, or `system` (the first nameserver of /etc/resolv.conf).
    pub dns_server: String,
    pub send_to_role_accounts: bool,
}

impl AddressesPanel {
    fn read(ctx: &Ctx) -> AddressesPanel {
        let d = &ctx.config.email.deliverability;
        AddressesPanel {
            mx_check: if d.mx_check { "ON" } else { "OFF" },
            dns_server: d
                .dns_server
                .map_or_else(|| "system".into(), |a| a.to_string()),
            send_to_role_accounts: d.send_to_role_accounts,
        }
    }

    fn human(&self) -> String {
        let check = match self.mx_check {
            "ON" => format!(
                "ON (before a domain's first real send; resolver {})",
                if self.dns_server == "system" {
                    "from /etc/resolv.conf"
                } else {
                    &self.dns_server
                }
            ),
            _ => "OFF (MX_CHECK=OFF: domains are not checked)".into(),
        };
        format!(
            "\naddresses: MX check: {check}; role accounts: {}\n",
            if self.send_to_role_accounts {
                "emailed (SEND_TO_ROLE_ACCOUNTS=TRUE)"
            } else {
                "held back"
            }
        )
    }
}

#[derive(Debug, Serialize)]
pub struct EmailPanel {
    /// Effective mode.
    pub mode: String,
    pub requested: String,
    pub reason: Option<String>,
    pub max_per_cycle: u32,
    pub max_per_hour: u32,
    /// The current UTC hour, `2026-11-25T14`.
    pub hour: String,
    pub sent_this_hour: i64,
    pub uncertain: i64,
    /// `MAX_EMAILS_PER_DAY`, and today's cap (warm-up included, SPEC §14).
    pub max_per_day: u32,
    /// Real outreach sends over the last 24 h, as the daily cap counts them.
    pub sent_24h: i64,
    pub daily_cap_today: u32,
    pub sequences: SequenceCounts,
    /// Active sequences whose next step is due now.
    pub due_now: i64,
    pub recent_attempts: Vec<Attempt>,
}

#[derive(Debug, Serialize)]
pub struct SequenceCounts {
    pub active: i64,
    pub finished: i64,
    pub stopped: i64,
}

#[derive(Debug, Serialize)]
pub struct StripePanel {
    /// `ENABLED` or `DISABLED`.
    pub status: String,
    pub reason: Option<String>,
    /// `test`, `live` or null (no usable key).
    pub key_mode: Option<String>,
    pub min_amount_cents: Cents,
    pub max_amount_cents: Cents,
    pub currency: String,
    pub webhook_secret: bool,
    pub last_webhook_at: Option<String>,
    pub last_webhook_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BillingPanel {
    pub by_status: BTreeMap<String, i64>,
    /// Draft + open invoices, in minor units of `currency`; null only when
    /// too large to count (amounts imported before hoss capped them).
    pub outstanding_cents: Option<Cents>,
    /// Open invoices past their due date now (SPEC §16), and their total in
    /// minor units (null only when too large to total, like outstanding).
    pub overdue: i64,
    pub overdue_cents: Option<Cents>,
    pub currency: String,
}

#[derive(Debug, Serialize)]
pub struct LeadsPanel {
    /// The provider a pass would use now (effective mode).
    pub provider: String,
    pub last_run: Option<SourceRun>,
    pub by_status: BTreeMap<String, i64>,
}

pub fn run(ctx: &Ctx) -> Result<StatusReport> {
    let cfg = &ctx.config;
    let now = ctx.now();
    let subsystems = cfg.subsystems();
    let mut warnings = Vec::new();
    for v in subsystems.views() {
        if v.fell_back {
            warnings.push(format!(
                "{} requested {} but runs {}: {}",
                v.name,
                v.requested,
                v.effective,
                v.reason.unwrap_or_default()
            ));
        }
    }
    let (active, finished, stopped, due_now) = db::sequences::counts(ctx.db(), now)?;
    let email = EmailPanel {
        mode: cfg.email.mode.effective.as_str().into(),
        requested: cfg.email.mode.requested.as_str().into(),
        reason: cfg.email.mode.reason.clone(),
        max_per_cycle: cfg.email.max_per_cycle,
        max_per_hour: cfg.email.max_per_hour,
        hour: hour_label(now),
        sent_this_hour: outbox::sent_in_hour(ctx.db(), now)?,
        uncertain: outbox::count_uncertain(ctx.db())?,
        max_per_day: cfg.email.sending.max_per_day,
        sent_24h: db::digest::real_outreach(ctx.db(), now - 86_399, now + 1)?,
        daily_cap_today: discipline::today_cap(ctx, now)?,
        sequences: SequenceCounts {
            active,
            finished,
            stopped,
        },
        due_now,
        recent_attempts: outbox::recent(ctx.db(), 20)?,
    };
    if email.uncertain > 0 {
        warnings.push(format!(
            "{} uncertain send(s): check the provider, then `hoss lead set-status ID new` to re-queue or leave them",
            email.uncertain
        ));
    }
    let leads = LeadsPanel {
        provider: cfg.leads.mode.effective.as_str().to_string(),
        last_run: db::leads::last_source_run(ctx.db())?,
        by_status: db::leads::count_by_status(ctx.db())?,
    };
    let stripe_cfg = &cfg.stripe;
    let last_hook = db::events::last_with_tag(ctx.db(), "[STRIPE][WEBHOOK]", false)?;
    let last_hook_error = db::events::last_with_tag(ctx.db(), "[STRIPE][WEBHOOK]", true)?;
    let last_hook_error_at = last_hook_error.as_ref().map(|e| e.at);
    let stripe = StripePanel {
        status: stripe_cfg.mode.effective.as_str().into(),
        reason: stripe_cfg.mode.reason.clone(),
        key_mode: stripe_cfg.key_mode.map(|m| m.as_str().to_string()),
        min_amount_cents: stripe_cfg.min_amount,
        max_amount_cents: stripe_cfg.max_amount,
        currency: stripe_cfg.currency.clone(),
        webhook_secret: stripe_cfg.webhook_secret.is_some(),
        last_webhook_at: last_hook.map(|e| rfc3339(e.at)),
        last_webhook_error: last_hook_error.map(|e| format!("{} {}", rfc3339(e.at), e.message)),
    };
    let (overdue, overdue_cents) = invoices::overdue(ctx.db(), now)?;
    let billing = BillingPanel {
        by_status: invoices::count_by_status(ctx.db())?,
        outstanding_cents: money::fit(invoices::outstanding_cents(ctx.db())?),
        overdue,
        overdue_cents: money::fit(overdue_cents),
        currency: stripe_cfg.currency.clone(),
    };
    if billing.outstanding_cents.is_none() {
        warnings.push(
            "outstanding amount is too large to total: an imported invoice amount is wrong; find it with `hoss invoice list` and void it".into(),
        );
    }
    for (id, amount) in invoices::out_of_range_drafts(ctx.db())? {
        warnings.push(format!(
            "invoice {id} ({}) is outside the Stripe limits and has no payment link",
            format_amount(amount, &stripe_cfg.currency)
        ));
    }
    for (id, error) in invoices::link_errors(ctx.db())? {
        warnings.push(format!(
            "invoice {id}: payment link not created yet: {error}"
        ));
    }
    for (at, event, reason) in invoices::attention_events(ctx.db(), now - 30 * 86_400)? {
        warnings.push(format!(
            "payment needs attention ({event} at {}): {reason}",
            rfc3339(at)
        ));
    }
    if let Some(problem) = &stripe_cfg.webhook_secret_problem {
        warnings.push(format!("{problem}: every webhook is rejected"));
    }
    let (inbox, health, paused) = health::panels(ctx)?;
    warnings.extend(paused);
    warnings.extend(cfg.ephemeral_store());
    warnings.extend(cfg.invoicing.problems.iter().cloned());
    if cfg.invoicing.emails
        && let Err(e) = crate::commands::invoice_mail::pack(ctx)
    {
        warnings.push(format!("invoice mail cannot be written, none is sent: {e}"));
    }
    warnings.extend(problems::outside(ctx.db())?);
    warnings.extend(problems::invoice_mail(ctx.db(), now - 30 * 86_400)?);
    warnings.extend(problems::currency(ctx.db(), &cfg.stripe.currency)?);
    let last_runs = runs::last_of_each(ctx.db(), ctx.run.get())?;
    warnings.extend(run_warnings(
        cfg,
        &runs::last_real_of_each(ctx.db(), ctx.run.get())?,
        now,
    ));
    if let Some(e) = &stripe.last_webhook_error
        && last_hook_error_at.is_some_and(|at| now - at < 86_400)
    {
        warnings.push(format!("webhook problem in the last 24 h: {e}"));
    }
    let runs = last_runs
        .into_iter()
        .map(|r| (r.command.clone(), r))
        .collect();
    Ok(StatusReport {
        release_mode: cfg.release_mode,
        dry_run: cfg.dry_run,
        subsystems,
        store: cfg.store_label(),
        config_file: cfg.config_file_label(),
        email,
        leads,
        stripe,
        billing,
        inbox,
        health,
        addresses: AddressesPanel::read(ctx),
        runs,
        warnings,
        now,
    })
}

/// Passes that stopped running (later than their schedule with a quarter
/// of it to spare, `EXPECT_EVERY`), runs that look dead, and in release mode
/// a pipeline that never ran at all.
fn run_warnings(cfg: &Config, last: &[Run], now: i64) -> Vec<String> {
    let mut out = Vec::new();
    let expected = &cfg.expect_every;
    if cfg.release_mode
        && !last
            .iter()
            .any(|r| expected.iter().any(|(p, _)| *p == r.command))
    {
        out.push(
            "release mode, but no pass has ever run on this database: schedule the passes (scripts/crontab.example)"
                .into(),
        );
    }
    for r in last {
        let started = r.started_at.0;
        if let Some((_, every)) = expected.iter().find(|(c, _)| *c == r.command)
            && now - started > every + (every / 4).max(600)
        {
            out.push(format!(
                "{} has not run for {} (last {})",
                r.command,
                age(now, started),
                r.started_at
            ));
        }
        if r.outcome == "running" && now - started > 3600 && r.command != "serve" {
            out.push(format!(
                "{} started {} ago and never finished (killed?)",
                r.command,
                age(now, started)
            ));
        }
        if r.outcome == "error" {
            out.push(format!(
                "the last {} failed (exit {})",
                r.command,
                r.exit_code.unwrap_or(-1)
            ));
        }
    }
    out
}

impl Report for StatusReport {
    fn human(&self, terminal: bool) -> String {
        let mut s = header(self.release_mode, self.dry_run);
        s.push_str(&sources(&self.store, self.config_file.as_deref()));
        s.push_str(&subsystem_table(&self.subsystems, terminal));
        s.push_str(&self.email.human(terminal));
        s.push_str(&self.leads.human());
        s.push_str(&self.stripe.human());
        s.push_str(&self.billing.human());
        s.push_str(&self.inbox.human(&self.health));
        s.push_str(&self.addresses.human());
        s.push('\n');
        let rows = self
            .runs
            .iter()
            .map(|(name, r)| {
                vec![
                    name.clone(),
                    r.outcome.clone(),
                    r.started_at.to_string(),
                    format!("{} ago", age(self.now, r.started_at.0)),
                    or_dash(r.finished_at.as_ref()),
                ]
            })
            .collect();
        s.push_str(&table(
            &["command", "last outcome", "started", "age", "finished"],
            rows,
            terminal,
        ));
        if self.warnings.is_empty() {
            s.push_str("\nwarnings: none\n");
        } else {
            s.push_str("\nwarnings:\n");
            for w in &self.warnings {
                s.push_str(&format!("  ! {w}\n"));
            }
        }
        s
    }
}

/// `new 10 · contacted 3 · …`
fn counts_line(counts: &BTreeMap<String, i64>) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

impl LeadsPanel {
    fn human(&self) -> String {
        let mut s = format!("\nleads: provider {}", self.provider);
        match &self.last_run {
            None => s.push_str(", no source-leads run yet\n"),
            Some(r) => s.push_str(&format!(
                ", last run {} via {}: {} (fetched {}, created {}, deduped {}, invalid {}){}\n",
                r.started_at,
                r.provider,
                r.result.as_deref().unwrap_or("unfinished"),
                r.fetched,
                r.created,
                r.deduped,
                r.invalid,
                r.error
                    .as_ref()
                    .map(|e| format!(" error: {e}"))
                    .unwrap_or_default()
            )),
        }
        s.push_str(&format!(
            "leads by status: {}\n",
            counts_line(&self.by_status)
        ));
        s
    }
}

impl EmailPanel {
    fn human(&self, terminal: bool) -> String {
        let mut s = format!(
            "\nemail: {} (requested {}){}; this hour {}: {}/{} sent; per cycle {}; uncertain {}\n",
            self.mode,
            self.requested,
            self.reason
                .as_ref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default(),
            self.hour,
            self.sent_this_hour,
            self.max_per_hour,
            self.max_per_cycle,
            self.uncertain
        );
        s.push_str(&format!(
            "sending: {}/{} real sends in 24 h (today's cap; MAX_EMAILS_PER_DAY {}); sequences {} active, {} finished, {} stopped; {} due now\n",
            self.sent_24h,
            self.daily_cap_today,
            self.max_per_day,
            self.sequences.active,
            self.sequences.finished,
            self.sequences.stopped,
            self.due_now
        ));
        if self.recent_attempts.is_empty() {
            s.push_str("no send attempts yet\n");
            return s;
        }
        let rows = self
            .recent_attempts
            .iter()
            .map(|a| {
                let at = a.at.to_string();
                vec![
                    at.get(5..16).unwrap_or(&at).replace('T', " "),
                    a.kind.clone(),
                    a.mode.clone(),
                    a.outcome.clone(),
                    or_dash(a.lead_id),
                    a.recipient.clone(),
                    a.subject.clone(),
                    a.error.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        s.push_str(&table(
            &[
                "at", "kind", "mode", "outcome", "lead", "to", "subject", "error",
            ],
            rows,
            terminal,
        ));
        s
    }
}

impl StripePanel {
    fn human(&self) -> String {
        format!(
            "\nstripe: {}{}; key {}; limits {} – {}; webhook secret {}; last webhook {}{}\n",
            self.status,
            self.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            self.key_mode.as_deref().unwrap_or("none"),
            format_amount(self.min_amount_cents, &self.currency),
            format_amount(self.max_amount_cents, &self.currency),
            if self.webhook_secret {
                "set"
            } else {
                "missing"
            },
            self.last_webhook_at.as_deref().unwrap_or("never"),
            self.last_webhook_error
                .as_ref()
                .map(|e| format!("; last webhook error: {e}"))
                .unwrap_or_default()
        )
    }
}

impl BillingPanel {
    fn human(&self) -> String {
        let mut s = format!(
            "billing: outstanding {}; overdue {} invoice(s), {}\n",
            format_total(self.outstanding_cents, &self.currency),
            self.overdue,
            format_total(self.overdue_cents, &self.currency)
        );
        s.push_str(&format!(
            "invoices by status: {}\n",
            counts_line(&self.by_status)
        ));
        s
    }
}
