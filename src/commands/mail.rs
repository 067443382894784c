//! Sending mail, shared by the commands that send (`send-outreach`,
//! `send-test-email`, `summary --email`) and `preview`: the sender identity,
//! the outreach message, the DRY_RUN simulation, the `[EMAIL]` log lines and
//! what a sender-side failure means for the exit code.

use log::{error, info, warn};

use crate::app::Ctx;
use crate::clock::hour_label;
use crate::config::EmailMode;
use crate::db::{leads::Lead, outbox, outbox::Target};
use crate::domain::compose::{self, LeadFields, Outgoing, Sender};
use crate::domain::delivery::{Delivery, SendResult};
use crate::domain::templates::Pack;
use crate::error::{EXIT_CONFIG, EXIT_OK, EXIT_TEMPFAIL, Result};
use crate::services::mailer::Mailer;

/// The report's `sender_problem` for a send that failed on the sender's side.
pub fn sender_problem(delivery: Delivery) -> Option<&'static str> {
    match delivery {
        Delivery::Account => Some("config_error"),
        Delivery::Unreachable => Some("unreachable"),
        _ => None,
    }
}

/// The exit code of a `sender_problem` (SPEC §10): 78 settings, 75 outage.
pub fn sender_problem_exit(problem: Option<&str>) -> i32 {
    match problem {
        None => EXIT_OK,
        Some("config_error") => EXIT_CONFIG,
        Some(_) => EXIT_TEMPFAIL,
    }
}

/// The configured sender, shared by outreach, test mail and digests.
pub fn sender(ctx: &Ctx) -> Sender {
    let e = &ctx.config.email;
    Sender {
        from_name: e.from_name.clone(),
        from_email: e.from_email.clone(),
        reply_to: e.reply_to.clone(),
        sender_name: e.sender_name.clone(),
        company_name: e.company_name.clone().unwrap_or_default(),
        postal_address: e.company_postal_address.clone(),
        public_base_url: e.public_base_url.clone(),
    }
}

/// One line of text for a log preview.
fn preview(body: &str) -> String {
    let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(80).collect()
}

/// DRY_RUN: the attempt is recorded and previewed in the log, nothing sent.
pub fn simulate_send(
    ctx: &Ctx,
    mailer: &mut dyn Mailer,
    target: &Target<'_>,
    message: &Outgoing,
) -> Result<()> {
    outbox::record(
        ctx.db(),
        target,
        &message.subject,
        EmailMode::DryRun.as_str(),
        "dry_run",
        None,
        ctx.now(),
    )?;
    log_result(target.lead_id, message, &mailer.send(message));
    Ok(())
}

pub fn log_suppressed(lead_id: Option<i64>, email: &str, reason: &str) {
    let lead = lead_id.map_or("-".to_string(), |id| id.to_string());
    info!("[EMAIL][SUPPRESSED] lead_id={lead} email={email} reason={reason:?}");
}

pub fn log_throttled(ctx: &Ctx, count: i64) {
    let cfg = &ctx.config.email;
    warn!(
        "[EMAIL][THROTTLED] hour={} count={count} hour_limit={} cycle_limit={}",
        hour_label(ctx.now()),
        cfg.max_per_hour,
        cfg.max_per_cycle
    );
}

pub fn log_result(lead_id: Option<i64>, message: &Outgoing, result: &SendResult) {
    let mode = result.mode.as_str();
    let lead = lead_id.map_or("-".to_string(), |id| id.to_string());
    match result.delivery {
        Delivery::Sent if result.mode == EmailMode::DryRun => info!(
            "[EMAIL][DRY_RUN] lead_id={lead} to={} subject={:?} preview={:?}",
            message.to,
            message.subject,
            preview(&message.body)
        ),
        Delivery::Sent => info!(
            "[EMAIL][SUCCESS][{mode}] lead_id={lead} email={} subject={:?}",
            message.to, message.subject
        ),
        Delivery::Uncertain => warn!(
            "[EMAIL][UNCERTAIN][{mode}] lead_id={lead} email={} error={:?} (not retried; check the provider)",
            message.to,
            result.error.as_deref().unwrap_or_default()
        ),
        Delivery::Account => error!(
            "[EMAIL][CONFIG_ERROR] mode={mode} error={:?} (nothing sent; sending waits until the account or settings are fixed; `hoss send-test-email` checks them)",
            result.error.as_deref().unwrap_or_default()
        ),
        Delivery::Unreachable => warn!(
            "[EMAIL][UNREACHABLE] mode={mode} error={:?} (nothing sent; the next pass tries again)",
            result.error.as_deref().unwrap_or_default()
        ),
        d => warn!(
            "[EMAIL][FAIL][{mode}] lead_id={lead} error={:?}{}",
            result.error.as_deref().unwrap_or_default(),
            if d == Delivery::Transient {
                " transient=true"
            } else {
                ""
            }
        ),
    }
}

/// With `REPLY_TO_PLUS_TOKEN`, the Reply-To names the lead:
/// `local+h<token>@domain` (SPEC §13). Shared by the pass and `preview`.
pub fn name_the_lead(ctx: &Ctx, message: &mut Outgoing, token: &str) {
    if !ctx.config.inbox.reply_plus_token {
        return;
    }
    if let Some((local, domain)) = message.reply_to.rsplit_once('@') {
        let local = local.split('+').next().unwrap_or(local);
        message.reply_to = format!("{local}+h{token}@{domain}");
    }
}

/// The first outreach message for `lead`, as the pass sends it.
pub fn outreach_message(
    ctx: &Ctx,
    pack: &Pack,
    sender: &Sender,
    lead: &Lead,
    token: &str,
    follow_up: Option<&compose::FollowUp<'_>>,
) -> std::result::Result<Outgoing, String> {
    let cfg = &ctx.config;
    let fields = LeadFields {
        id: lead.id,
        email: &lead.email,
        name: lead.name.as_deref(),
        company: &lead.company,
        niche: lead.niche.as_deref(),
    };
    compose::outreach_step(
        pack,
        &fields,
        &cfg.email.offer,
        &cfg.leads.niche,
        sender,
        token,
        follow_up,
    )
}

/// A Message-ID for send `ledger_id`, at the sender's domain (without the
/// angle brackets): unique by the ledger id, unguessable by the token.
pub fn message_id(ledger_id: i64, from_email: &str) -> Result<String> {
    let domain = from_email.rsplit('@').next().unwrap_or("hoss.invalid");
    let nonce = crate::domain::token::new_token().map_err(crate::error::Error::Internal)?;
    Ok(format!("hoss.{ledger_id}.{}@{domain}", &nonce[..12]))
}
