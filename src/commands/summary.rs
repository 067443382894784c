//! `hoss summary [--period day|week] [--email]`: what happened in the last
//! 24 hours (or 7 days) and what needs the operator, as text, JSON, or an
//! email to `OPERATOR_EMAIL` (subject `[SUMMARY] …`). Digests do not use
//! outreach quota.

use std::collections::BTreeMap;

use log::{info, warn};
use serde::Serialize;

use crate::app::Ctx;
use crate::clock::rfc3339;
use crate::commands::mail::sender;
use crate::commands::problems;
use crate::config::{EmailMode, Invoicing};
use crate::db::digest;
use crate::db::outbox::{self, Kind, Target};
use crate::db::{invoice_mail, invoices, outbox::count_uncertain};
use crate::domain::compose;
use crate::domain::delivery::Delivery;
use crate::error::{EXIT_CONFIG, EXIT_DATA, EXIT_OK, EXIT_TEMPFAIL, Result};
use crate::money::{self, Cents, format_amount, format_total};
use crate::render::Report;

/// The window a digest covers: the last 24 hours or the last 7 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Period {
    Day,
    Week,
}

#[derive(Debug, Serialize)]
pub struct LeadCounts {
    pub created: i64,
    pub by_source: BTreeMap<String, i64>,
    pub deduped: i64,
}

#[derive(Debug, Serialize)]
pub struct EmailCounts {
    /// Outreach and test attempts together (SPEC §12), then apart.
    pub total: i64,
    pub outreach: i64,
    pub tests: i64,
    /// Digests sent to the operator (not in `total`).
    pub digests: i64,
    pub success: i64,
    pub failed: i64,
    pub throttled: i64,
    pub dry_run: i64,
    pub suppressed: i64,
    pub uncertain: i64,
    /// Real outreach sends (`success`, outreach only) by step: first emails
    /// and follow-ups (SPEC §14).
    pub first_emails: i64,
    pub follow_ups: i64,
    /// What came back in the window (SPEC §13).
    pub replies: i64,
    pub bounces: i64,
    pub complaints: i64,
    pub opt_outs: i64,
}

#[derive(Debug, Serialize)]
pub struct Money {
    #[serde(rename = "created")]
    pub count: i64,
    /// null only when too large to total (amounts imported before hoss
    /// capped them).
    pub amount_cents: Option<Cents>,
    /// At the end of the window (SPEC §16): open invoices past their due
    /// date, their total, and everything unpaid (draft + open), like
    /// `status`.
    pub overdue: i64,
    pub overdue_cents: Option<Cents>,
    pub outstanding_cents: Option<Cents>,
}

#[derive(Debug, Serialize)]
pub struct Payments {
    pub received: i64,
    pub amount_cents: Option<Cents>,
}

#[derive(Debug, Serialize)]
pub struct Delivered {
    pub to: String,
    pub mode: String,
    pub outcome: String,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SummaryReport {
    pub period: String,
    pub from: String,
    pub to: String,
    pub release_mode: bool,
    pub currency: String,
    pub leads: LeadCounts,
    pub emails: EmailCounts,
    pub invoices: Money,
    pub payments: Payments,
    pub attention: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Delivered>,
}

impl SummaryReport {
    fn subject(&self) -> String {
        let label = if self.period == "week" {
            "weekly"
        } else {
            "daily"
        };
        format!("[SUMMARY] hoss {label} digest to {}", &self.to[..10])
    }
}

impl Report for SummaryReport {
    fn exit_code(&self) -> i32 {
        match self.email.as_ref().map(|d| d.outcome.as_str()) {
            None | Some("sent") | Some("dry_run") => EXIT_OK,
            Some("transient") => EXIT_TEMPFAIL,
            Some("config_error") => EXIT_CONFIG,
            Some(_) => EXIT_DATA,
        }
    }

    fn human(&self, _terminal: bool) -> String {
        let money = |c: Option<Cents>| format_total(c, &self.currency);
        let sources = if self.leads.by_source.is_empty() {
            String::new()
        } else {
            let parts: Vec<String> = self
                .leads
                .by_source
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect();
            format!(" ({})", parts.join(", "))
        };
        let e = &self.emails;
        let mut s = format!(
            "hoss summary — last {} ({} → {}){}\n\
             leads:     {} new{sources}, {} deduped\n\
             emails:    {} attempts ({} outreach, {} test) — {} sent, {} failed, {} throttled, {} DRY_RUN, {} suppressed, {} uncertain; {} digest(s)\n\
             outreach:  {} first emails, {} follow-ups sent\n\
             back:      {} replies, {} bounces, {} complaints, {} opt-outs\n\
             invoices:  {} created, {}; outstanding {}; overdue {}, {}\n\
             payments:  {} received, {}\n",
            if self.period == "week" {
                "7 days"
            } else {
                "24 h"
            },
            self.from,
            self.to,
            if self.release_mode { "" } else { " [sandbox]" },
            self.leads.created,
            self.leads.deduped,
            e.total,
            e.outreach,
            e.tests,
            e.success,
            e.failed,
            e.throttled,
            e.dry_run,
            e.suppressed,
            e.uncertain,
            e.digests,
            e.first_emails,
            e.follow_ups,
            e.replies,
            e.bounces,
            e.complaints,
            e.opt_outs,
            self.invoices.count,
            money(self.invoices.amount_cents),
            money(self.invoices.outstanding_cents),
            self.invoices.overdue,
            money(self.invoices.overdue_cents),
            self.payments.received,
            money(self.payments.amount_cents),
        );
        if self.attention.is_empty() {
            s.push_str("attention: nothing needs you\n");
        } else {
            s.push_str("attention:\n");
            for a in &self.attention {
                s.push_str(&format!("  ! {a}\n"));
            }
        }
        if let Some(d) = &self.email {
            s.push_str(&format!(
                "emailed to {} via {}: {}\n",
                d.to, d.mode, d.outcome
            ));
        }
        s
    }
}

pub fn build(ctx: &Ctx, week: bool) -> Result<SummaryReport> {
    let to = ctx.now();
    let from = to - if week { 7 * 86_400 } else { 86_400 };
    // The window is [from, to]: what happened in the current second counts.
    let (report_to, to) = (to, to + 1);
    let (created, by_source) = digest::leads_created(ctx.db(), from, to)?;
    let attempts = digest::send_attempts(ctx.db(), from, to)?;
    let kind_total = |kind: &str| -> i64 {
        attempts
            .iter()
            .filter(|((k, _), _)| k == kind)
            .map(|(_, n)| n)
            .sum()
    };
    let mut outcomes: BTreeMap<&str, i64> = BTreeMap::new();
    for ((kind, outcome), n) in &attempts {
        if kind != "summary" {
            *outcomes.entry(outcome.as_str()).or_insert(0) += n;
        }
    }
    let n = |k: &str| outcomes.get(k).copied().unwrap_or(0);
    let (first_emails, follow_ups) = digest::sends_by_step(ctx.db(), from, to)?;
    let back = crate::db::inbox::counts_since(ctx.db(), from, to)?;
    let came_back = |k: &str| back.get(k).copied().unwrap_or(0);
    let emails = EmailCounts {
        total: outcomes.values().sum(),
        outreach: kind_total("outreach"),
        tests: kind_total("test"),
        digests: kind_total("summary"),
        success: n("sent"),
        failed: n("failed"),
        throttled: n("throttled"),
        dry_run: n("dry_run"),
        suppressed: n("suppressed"),
        uncertain: n("uncertain"),
        first_emails,
        follow_ups,
        replies: came_back("reply"),
        bounces: came_back("bounce:hard") + came_back("bounce:soft") + came_back("bounce:blocked"),
        complaints: came_back("complaint"),
        opt_outs: came_back("opt_out"),
    };
    let (inv_count, inv_amount) = digest::invoices_created(ctx.db(), from, to)?;
    let (paid_count, paid_amount) = digest::payments_received(ctx.db(), from, to)?;
    let (overdue, overdue_cents) = invoices::overdue(ctx.db(), report_to)?;
    let mut attention = Vec::new();
    // Every human reply is the operator's to read.
    const REPLIES_LISTED: u32 = 50;
    for r in crate::db::inbox::replies_between(ctx.db(), from, to, REPLIES_LISTED)? {
        attention.push(format!(
            "reply from {} (lead {}) at {}: {:?} — read it, then `hoss lead set-status {} responded|qualified|dead`",
            r.from.as_deref().unwrap_or("-"),
            r.lead_id.map_or("-".into(), |id| id.to_string()),
            r.at,
            r.subject,
            r.lead_id.map_or("ID".into(), |id| id.to_string()),
        ));
    }
    if emails.replies > i64::from(REPLIES_LISTED) {
        attention.push(format!(
            "{} more replies: `hoss inbox list --kind reply`",
            emails.replies - i64::from(REPLIES_LISTED)
        ));
    }
    if let Some(p) = crate::db::inbox::pause_in_force(ctx.db())? {
        attention.push(format!(
            "outreach is paused since {}: {}; `hoss email resume` lifts it",
            rfc3339(p.paused_at),
            p.reason
        ));
    }
    let uncertain = count_uncertain(ctx.db())?;
    if uncertain > 0 {
        attention.push(format!(
            "{uncertain} uncertain send(s): check the provider's log, then re-queue with `hoss lead set-status ID new` or leave them"
        ));
    }
    for (id, amount) in invoices::out_of_range_drafts(ctx.db())? {
        attention.push(format!(
            "invoice {id} ({}) is outside the Stripe limits; no payment link",
            format_amount(amount, &ctx.config.stripe.currency)
        ));
    }
    for (id, error) in invoices::link_errors(ctx.db())? {
        attention.push(format!("invoice {id}: payment link not created: {error}"));
    }
    // Each invoice that became overdue in the window, once: overdue is
    // `due_at < now`, so the windows of consecutive digests share none.
    const OVERDUE_LISTED: u32 = 50;
    let (fell_due, fell_due_all) = invoices::fell_due(ctx.db(), from, report_to, OVERDUE_LISTED)?;
    let reminders = reminders_note(&ctx.config.invoicing);
    for inv in &fell_due {
        // Reminders follow an invoice hoss announced (SPEC §16).
        let follow = match &reminders {
            Ok(_) if !invoice_mail::announced(ctx.db(), inv.id)? => format!(
                "no reminders, it was never sent to the customer (`hoss invoice send {}`)",
                inv.id
            ),
            Ok(r) | Err(r) => r.clone(),
        };
        attention.push(format!(
            "invoice #{} ({}, {}) is overdue since {}: {follow}",
            inv.id,
            inv.company,
            format_amount(inv.amount_cents, &inv.currency),
            inv.due_at.day(),
        ));
    }
    if fell_due_all > fell_due.len() as i64 {
        attention.push(format!(
            "{} more invoices became overdue: `hoss invoice list --status open` and `--status draft`",
            fell_due_all - fell_due.len() as i64
        ));
    }
    let hooks = digest::webhook_problems(ctx.db(), from, to)?;
    if hooks > 0 {
        attention.push(format!(
            "{hooks} Stripe webhook(s) rejected or failed (check STRIPE_WEBHOOK_SECRET)"
        ));
    }
    for (at, event, reason) in invoices::attention_events(ctx.db(), from)? {
        attention.push(format!("payment {event} at {}: {reason}", rfc3339(at)));
    }
    attention.extend(problems::outside(ctx.db())?);
    attention.extend(problems::invoice_mail(ctx.db(), from)?);
    attention.extend(problems::currency(ctx.db(), &ctx.config.stripe.currency)?);
    if ctx.config.release_mode {
        for v in ctx.config.subsystems().views() {
            if v.fell_back {
                attention.push(format!(
                    "{} runs {} instead of {}: {}",
                    v.name,
                    v.effective,
                    v.requested,
                    v.reason.unwrap_or_default()
                ));
            }
        }
    }
    Ok(SummaryReport {
        period: if week { "week" } else { "day" }.into(),
        from: rfc3339(from),
        to: rfc3339(report_to),
        release_mode: ctx.config.release_mode,
        currency: ctx.config.stripe.currency.clone(),
        leads: LeadCounts {
            created,
            by_source,
            deduped: digest::leads_deduped(ctx.db(), from, to)?,
        },
        emails,
        invoices: Money {
            count: inv_count,
            amount_cents: money::fit(inv_amount),
            overdue,
            overdue_cents: money::fit(overdue_cents),
            outstanding_cents: money::fit(invoices::outstanding_cents(ctx.db())?),
        },
        payments: Payments {
            received: paid_count,
            amount_cents: money::fit(paid_amount),
        },
        attention,
        email: None,
    })
}

/// What follows an overdue invoice, as configured (SPEC §16): the
/// reminders, or why there are none.
fn reminders_note(cfg: &Invoicing) -> std::result::Result<String, String> {
    if !cfg.emails {
        return Err("no reminders (INVOICE_EMAILS=OFF)".into());
    }
    if cfg.reminder_days.is_empty() {
        return Err("no reminders (INVOICE_REMINDER_DAYS=none)".into());
    }
    let days: Vec<String> = cfg.reminder_days.iter().map(u32::to_string).collect();
    Ok(format!(
        "reminders follow {} day(s) after it (INVOICE_REMINDER_DAYS)",
        days.join(", ")
    ))
}

pub fn run(ctx: &Ctx, period: Period, email: bool) -> Result<SummaryReport> {
    let mut report = build(ctx, period == Period::Week)?;
    if email {
        report.email = Some(deliver(ctx, &report)?);
    }
    Ok(report)
}

/// Sends the digest through the effective mailer (DRY_RUN logs it), records
/// it in the ledger as `summary` — outside the outreach quota.
fn deliver(ctx: &Ctx, report: &SummaryReport) -> Result<Delivered> {
    let cfg = &ctx.config.email;
    let to = cfg.operator_email.clone();
    let subject = report.subject();
    let message = compose::operator_mail(&sender(ctx), &to, &subject, &report.human(false));
    let mut mailer = ctx.mailer();
    let mode = mailer.mode();
    let target = Target {
        kind: Kind::Summary,
        lead_id: None,
        step: outbox::FIRST_STEP,
        recipient: &to,
    };
    let result = mailer.send(&message);
    let outcome = match (mode, result.delivery) {
        (EmailMode::DryRun, _) => "dry_run",
        (_, Delivery::Sent) => "sent",
        (_, Delivery::Transient | Delivery::Unreachable) => "transient",
        (_, Delivery::Account) => "config_error",
        (_, Delivery::Uncertain) => "uncertain",
        (_, Delivery::Permanent) => "failed",
    };
    let ledger_outcome = match outcome {
        "transient" | "config_error" => "failed",
        other => other,
    };
    outbox::record(
        ctx.db(),
        &target,
        &message.subject,
        mode.as_str(),
        ledger_outcome,
        result.error.as_deref(),
        ctx.now(),
    )?;
    match outcome {
        "dry_run" => info!("[SUMMARY][DRY_RUN] to={to} subject={subject:?} (not sent)"),
        "sent" => info!(
            "[SUMMARY][SENT][{}] to={to} subject={subject:?}",
            mode.as_str()
        ),
        _ => warn!(
            "[SUMMARY][FAIL][{}] to={to} error={:?}",
            mode.as_str(),
            result.error.as_deref().unwrap_or_default()
        ),
    }
    Ok(Delivered {
        to,
        mode: mode.as_str().into(),
        outcome: outcome.into(),
        error: result.error,
    })
}
