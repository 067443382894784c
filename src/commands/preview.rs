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
use crate::domain::status::LeadStatus;
use crate::error::{Error, Result};
use crate::render::Report;
use crate::services::mailer;

/// Shown in the link when the lead has no unsubscribe token yet (it gets one
/// when its first message is reserved).
pub const TOKEN_PLACEHOLDER: &str = "TOKEN-MADE-AT-FIRST-SEND";

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
    if step != 1 {
        return Err(Error::Usage(format!(
            "there is no step {step}: hoss sends one message per lead (step 1)"
        )));
    }
    let lead = find_lead(ctx, key)?;
    let pack = ctx.config.email.pack.clone().map_err(Error::Config)?;
    let token = db::leads::unsubscribe_token(&ctx.db, lead.id)?
        .unwrap_or_else(|| TOKEN_PLACEHOLDER.to_string());
    let sender = mail::sender(ctx);
    let message = mail::outreach_message(ctx, &pack, &sender, &lead, &token, None)
        .map_err(|e| Error::Data(format!("lead {} cannot be emailed: {e}", lead.id)))?;
    let text = mailer::smtp_message(&message)
        .map_err(Error::Data)?
        .formatted();
    let real = ctx.config.email.mode.effective != crate::config::EmailMode::DryRun;
    let not_sent_because = if lead.status != LeadStatus::New || lead.last_contacted_at.is_some() {
        Some(format!("its status is {}", lead.status))
    } else {
        match outbox::suppression_reason(&ctx.db, &lead.email, real)? {
            Some(reason) => Some(reason),
            None => outbox::already_emailed(&ctx.db, &lead.email)?,
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
