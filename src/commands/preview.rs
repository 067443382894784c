//! `hoss preview LEAD [--step N]`: the whole message a lead would get —
//! headers and body, as the SMTP mailer writes them — from the database and
//! the templates alone: no network, nothing changed. Why the lead would not
//! be emailed now, if it would not, goes to the log.

use log::warn;
use serde::Serialize;

use crate::app::Ctx;
use crate::commands::mail;
use crate::commands::records::find_lead;
use crate::db::{self, outbox};
use crate::domain::compose::FollowUp;
use crate::domain::schedule;
use crate::domain::status::LeadStatus;
use crate::error::{Error, Result};
use crate::render::Report;
use crate::services::mailer;

/// Shown in the link when the lead has no unsubscribe token yet (it gets one
/// when its first message is reserved).
pub const TOKEN_PLACEHOLDER: &str = "TOKEN-MADE-AT-FIRST-SEND";
/// The same for the plus token of `REPLY_TO_PLUS_TOKEN` (lower case: it
/// stands in a local part).
pub const REPLY_TOKEN_PLACEHOLDER: &str = "token-made-at-first-send";

#[derive(Debug, Serialize)]
pub struct PreviewReport {
    pub lead_id: i64,
    pub to: String,
    pub step: u32,
    pub subject: String,
    /// Why the next pass would not send it (`null`: it would).
    pub not_sent_because: Option<String>,
    /// The message as RFC 5322 text.
    pub message: String,
}

impl Report for PreviewReport {
    fn human(&self, _terminal: bool) -> String {
        self.message.clone()
    }
}

pub fn run(ctx: &Ctx, key: &str, step: u32) -> Result<PreviewReport> {
    let email = &ctx.config.email;
    let steps = &email.sending.steps;
    let Some(step_cfg) = (step as usize).checked_sub(1).and_then(|i| steps.get(i)) else {
        return Err(Error::Usage(format!(
            "there is no step {step}: the sequence has {} (see [[sequence.steps]])",
            steps.len()
        )));
    };
    let lead = find_lead(ctx, key)?;
    let first_pack = email.pack.clone().map_err(Error::Config)?;
    let packs = step_cfg.packs(&email.niche_template);
    let variant = &packs[schedule::variant(lead.id, step, packs.len())];
    let pack = email.sending.packs.get(variant).unwrap_or(&first_pack);
    let token = db::leads::unsubscribe_token(ctx.db(), lead.id)?
        .unwrap_or_else(|| TOKEN_PLACEHOLDER.to_string());
    let sender = mail::sender(ctx);
    let cannot = |e: String| Error::Data(format!("lead {} cannot be emailed: {e}", lead.id));
    let sequence = db::sequences::get(ctx.db(), lead.id)?;
    // A follow-up answers the thread of the first email: the one sent, or
    // (before it is) the one the first step would send.
    let first_subject = match &sequence {
        Some(s) => s.first_subject.clone(),
        None => {
            mail::outreach_message(ctx, &first_pack, &sender, &lead, &token, None)
                .map_err(cannot)?
                .subject
        }
    };
    let message_ids = sequence
        .as_ref()
        .map(|s| s.message_ids.clone())
        .unwrap_or_default();
    let follow_up = (step > 1).then(|| FollowUp {
        step,
        subject: step_cfg.subject.as_deref(),
        first_subject: &first_subject,
        message_ids: &message_ids,
    });
    let mut message = mail::outreach_message(ctx, pack, &sender, &lead, &token, follow_up.as_ref())
        .map_err(cannot)?;
    let reply_token = db::inbox::lead_reply_token(ctx.db(), lead.id)?;
    mail::name_the_lead(
        ctx,
        &mut message,
        reply_token.as_deref().unwrap_or(REPLY_TOKEN_PLACEHOLDER),
    );
    let text = mailer::smtp_message(&message)
        .map_err(Error::Data)?
        .formatted();
    let real = ctx.config.email.mode.effective != crate::config::EmailMode::DryRun;
    let waiting_for = sequence.as_ref().and_then(|s| s.next_step);
    let not_sent_because = if step > 1 && waiting_for != Some(i64::from(step)) {
        Some(match &sequence {
            None => "its sequence has not started".to_string(),
            Some(s) if s.state != "active" => format!("its sequence is {}", s.state),
            Some(s) => format!("its sequence is at step {}", s.step),
        })
    } else if step == 1 && (lead.status != LeadStatus::New || lead.last_contacted_at.is_some()) {
        Some(format!("its status is {}", lead.status))
    } else {
        match outbox::suppression_reason(ctx.db(), &lead.email, real)? {
            Some(reason) => Some(reason),
            // Only a first email is refused for an address emailed before:
            // a follow-up is, by definition, to one.
            None if step == 1 => outbox::already_emailed(ctx.db(), &lead.email)?,
            None => None,
        }
    };
    if let Some(why) = &not_sent_because {
        warn!("[PREVIEW] lead_id={} would not be emailed: {why}", lead.id);
    }
    Ok(PreviewReport {
        lead_id: lead.id,
        to: message.to.clone(),
        step,
        subject: message.subject.clone(),
        not_sent_because,
        message: String::from_utf8_lossy(&text).replace("\r\n", "\n"),
    })
}
