//! What comes back, applied (SPEC §13) — shared by `sync-inbox` (IMAP and
//! the SendGrid pull) and `serve` (the SendGrid Event Webhook). Each thing
//! is recorded once, by its key, in the same transaction as its effects, so
//! a rescan or a replayed event changes nothing twice.

use log::{debug, info, warn};

use crate::app::Ctx;
use crate::db::{self, inbox, suppression};
use crate::domain::lead_csv::is_company_domain;
use crate::domain::status::LeadStatus;
use crate::error::Result;

/// What a message or an event turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `5.x.x` (or SendGrid's bounce / invalid address): the address is gone.
    HardBounce {
        status: String,
    },
    /// `4.x.x` or delayed; the third within 30 days suppresses.
    SoftBounce {
        status: String,
    },
    /// SendGrid's `blocked`: recorded, counts toward health.
    Blocked,
    Complaint,
    OptOut,
    /// An auto-reply; `back_on` is the day it says its author returns.
    AutoReply {
        back_on: Option<chrono::NaiveDate>,
    },
    Reply,
    Unmatched,
}

impl Outcome {
    /// What a SendGrid event or suppression-list entry is (`None`: nothing
    /// for hoss).
    pub fn of_sendgrid(effect: crate::domain::sendgrid_events::Effect) -> Option<Outcome> {
        use crate::domain::sendgrid_events::Effect;
        Some(match effect {
            Effect::HardBounce => Outcome::HardBounce {
                status: "5.0.0".into(),
            },
            Effect::Blocked => Outcome::Blocked,
            Effect::Complaint => Outcome::Complaint,
            Effect::Unsubscribe => Outcome::OptOut,
            Effect::Ignore => return None,
        })
    }

    fn kind(&self) -> &'static str {
        match self {
            Outcome::HardBounce { .. } | Outcome::SoftBounce { .. } | Outcome::Blocked => "bounce",
            Outcome::Complaint => "complaint",
            Outcome::OptOut => "opt_out",
            Outcome::AutoReply { .. } => "auto_reply",
            Outcome::Reply => "reply",
            Outcome::Unmatched => "unmatched",
        }
    }

    fn bounce(&self) -> Option<&'static str> {
        match self {
            Outcome::HardBounce { .. } => Some("hard"),
            Outcome::SoftBounce { .. } => Some("soft"),
            Outcome::Blocked => Some("blocked"),
            _ => None,
        }
    }
}

/// One thing that came back, attributed.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub at: i64,
    pub source: &'static str,
    pub key: String,
    pub outcome: Outcome,
    pub lead_id: Option<i64>,
    /// The address it concerns: the bounced recipient, the complaining or
    /// unsubscribing address, the sender of a reply.
    pub address: Option<String>,
    pub from: Option<String>,
    pub subject: String,
    pub detail: Option<String>,
}

/// What applying it did; `None` from [`apply`] when it was applied before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub action: String,
    /// Addresses newly put on the suppression list.
    pub suppressed: u32,
}

const SOFT_BOUNCE_WINDOW: i64 = 30 * 86_400;
const SOFT_BOUNCES_TO_SUPPRESS: i64 = 3;

/// The effects of one message, gathered in its transaction.
struct Effects<'a> {
    tx: db::Db<'a>,
    m: &'a Incoming,
    now: i64,
    /// The lead's (email, domain, status).
    lead: Option<(String, String, String)>,
    actions: Vec<String>,
    suppressed: u32,
}

/// Statuses a lead leaves when it asks to stop (a customer stays one).
const STOPPABLE: &[LeadStatus] = &[
    LeadStatus::New,
    LeadStatus::Contacted,
    LeadStatus::Replied,
    LeadStatus::Responded,
    LeadStatus::Qualified,
];
/// Statuses still being emailed.
const IN_SEQUENCE: &[LeadStatus] = &[LeadStatus::New, LeadStatus::Contacted];

impl Effects<'_> {
    fn suppress(&mut self, address: &str, reason: &str) -> Result<()> {
        // Whatever a message or event says, only a clean address goes on
        // the list (its CHECK would otherwise fail the whole pass).
        let address = address.trim().to_ascii_lowercase();
        if !address.contains('@') || address.contains(char::is_whitespace) {
            return Ok(());
        }
        let address = address.as_str();
        let (added, _) = suppression::add(self.tx, address, reason, Some(&self.m.key), self.now)?;
        if added {
            self.suppressed += 1;
            self.actions
                .push(format!("{address} suppressed ({reason})"));
        }
        Ok(())
    }

    fn move_lead(&mut self, from: &[LeadStatus], to: LeadStatus, reason: &str) -> Result<()> {
        if let Some(id) = self.m.lead_id {
            if inbox::move_lead(self.tx, id, from, to, reason)? {
                self.actions.push(format!("lead {id} → {to}"));
            }
            // Whatever its status was, nothing more goes to this lead.
            if db::sequences::stop(self.tx, id, to.as_str(), self.now)? {
                self.actions.push(format!("lead {id}: sequence stopped"));
            }
        }
        Ok(())
    }

    /// Holds the lead's company domain (never a free-mail one, nor a
    /// platform like facebook.com that many unrelated leads share).
    fn hold(&mut self, why: &str, days: u32) -> Result<()> {
        let Some((_, domain, _)) = self.lead.clone() else {
            return Ok(());
        };
        if !is_company_domain(&domain) {
            return Ok(());
        }
        let until = self.now + i64::from(days) * 86_400;
        inbox::hold_domain(self.tx, &domain, until, why, self.m.lead_id, self.now)?;
        db::sequences::stop_domain(self.tx, &domain, why, self.now)?;
        self.actions.push(format!("{domain} held ({why})"));
        Ok(())
    }

    /// The person who wrote, and the lead they answered for.
    fn addresses(&self) -> Vec<String> {
        let mut all: Vec<String> = self.m.address.iter().cloned().collect();
        if let Some((email, _, _)) = &self.lead
            && !all.contains(email)
        {
            all.push(email.clone());
        }
        all
    }
}

/// Records `m` and applies its effects in one transaction; `None` when it
/// was recorded before (nothing is applied twice).
pub fn apply(ctx: &Ctx, m: &Incoming) -> Result<Option<Applied>> {
    let hold_days = ctx.config.inbox.domain_hold_days;
    let send_tz = ctx.config.email.sending.timezone;
    let applied = ctx.db().immediate(|tx| {
        if inbox::seen(tx, &m.key)? {
            return Ok(None);
        }
        let mut e = Effects {
            tx,
            m,
            now: ctx.now(),
            lead: match m.lead_id {
                Some(id) => inbox::lead_facts(tx, id)?,
                None => None,
            },
            actions: Vec::new(),
            suppressed: 0,
        };
        match &m.outcome {
            Outcome::HardBounce { status } => {
                e.move_lead(
                    IN_SEQUENCE,
                    LeadStatus::EmailFailed,
                    &format!("hard bounce {status}"),
                )?;
                if let Some(a) = e.addresses().first() {
                    e.suppress(a, "bounce")?;
                }
            }
            Outcome::SoftBounce { .. } => {
                let address = m.address.as_deref().unwrap_or_default();
                // This one counts too: the third within 30 days suppresses.
                let earlier = inbox::soft_bounces_since(tx, address, e.now - SOFT_BOUNCE_WINDOW)?;
                if !address.is_empty() && earlier + 1 >= SOFT_BOUNCES_TO_SUPPRESS {
                    e.suppress(address, "bounce")?;
                    e.actions.push("third soft bounce in 30 days".into());
                }
            }
            Outcome::Blocked | Outcome::Unmatched => {}
            Outcome::Complaint => {
                e.move_lead(STOPPABLE, LeadStatus::Unsubscribed, "spam complaint")?;
                for a in e.addresses() {
                    e.suppress(&a, "complaint")?;
                }
                e.hold("domain_complained", hold_days)?;
            }
            Outcome::OptOut => {
                e.move_lead(STOPPABLE, LeadStatus::Unsubscribed, "asked to stop")?;
                for a in e.addresses() {
                    e.suppress(&a, "unsubscribe")?;
                }
            }
            Outcome::AutoReply { back_on } => {
                if let (Some(id), Some(day)) = (m.lead_id, back_on) {
                    // The day after, from midnight in the lead's own zone
                    // (else SEND_TIMEZONE).
                    let next_day = day.succ_opt().unwrap_or(*day);
                    let tz = db::sequences::lead_timezone(tx, id)?
                        .and_then(|z| crate::domain::schedule::parse_tz(&z).ok())
                        .unwrap_or(send_tz);
                    let at = crate::domain::schedule::local_to_utc(
                        tz,
                        next_day.and_hms_opt(0, 0, 0).unwrap_or_default(),
                    )
                    .timestamp();
                    inbox::delay_lead(tx, id, at)?;
                    e.actions
                        .push(format!("lead {id}: next step not before {next_day}"));
                }
            }
            Outcome::Reply => {
                e.move_lead(IN_SEQUENCE, LeadStatus::Replied, "replied")?;
                e.hold("domain_replied", hold_days)?;
            }
        }
        let action = if e.actions.is_empty() {
            "nothing".to_string()
        } else {
            e.actions.join("; ")
        };
        inbox::record(
            tx,
            &inbox::Message {
                at: m.at,
                source: m.source,
                source_key: m.key.clone(),
                kind: m.outcome.kind(),
                bounce: m.outcome.bounce(),
                lead_id: m.lead_id,
                address: m.address.clone(),
                from: m.from.clone(),
                subject: m.subject.clone(),
                action: action.clone(),
                detail: m.detail.clone(),
            },
        )?;
        Ok(Some(Applied {
            action,
            suppressed: e.suppressed,
        }))
    })?;
    if let Some(a) = &applied {
        log_applied(m, a);
    }
    Ok(applied)
}

fn log_applied(m: &Incoming, a: &Applied) {
    let lead = m.lead_id.map_or("-".to_string(), |id| id.to_string());
    let from = m.from.as_deref().unwrap_or("-");
    let subject = crate::log::one_line(&m.subject);
    match &m.outcome {
        Outcome::Reply => info!(
            "[INBOX][REPLY] lead_id={lead} from={from} subject={subject:?} action={:?}",
            a.action
        ),
        Outcome::HardBounce { status } | Outcome::SoftBounce { status } => warn!(
            "[INBOX][BOUNCE] kind={} status={status} lead_id={lead} address={} action={:?}",
            m.outcome.bounce().unwrap_or("-"),
            m.address.as_deref().unwrap_or("-"),
            a.action
        ),
        Outcome::Blocked => warn!(
            "[INBOX][BOUNCE] kind=blocked lead_id={lead} address={} action={:?}",
            m.address.as_deref().unwrap_or("-"),
            a.action
        ),
        Outcome::Complaint => warn!(
            "[INBOX][COMPLAINT] lead_id={lead} address={} action={:?}",
            m.address.as_deref().unwrap_or("-"),
            a.action
        ),
        Outcome::OptOut => info!(
            "[INBOX][OPT_OUT] lead_id={lead} from={from} action={:?}",
            a.action
        ),
        Outcome::AutoReply { .. } => {
            info!(
                "[INBOX][AUTO_REPLY] lead_id={lead} from={from} action={:?}",
                a.action
            )
        }
        Outcome::Unmatched => debug!("[INBOX][UNMATCHED] from={from} subject={subject:?}"),
    }
}

/// Largest Event Webhook body `serve` reads (SendGrid batches events).
pub const SENDGRID_EVENTS_BODY: usize = 4 * 1024 * 1024;

/// What `POST /sendgrid/events` answers: the HTTP status and the outcome
/// (`applied` or `rejected`); the reason stays in the operator log.
pub struct EventsAnswer {
    pub http_status: u16,
    pub outcome: &'static str,
    pub applied: u32,
}

/// Verifies and applies one Event Webhook request (SPEC §13). A database
/// error is an `Err` (500: SendGrid retries, and the dedupe by
/// `sg_event_id` makes the retry safe).
pub fn sendgrid_events(
    ctx: &Ctx,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
) -> Result<EventsAnswer> {
    use crate::domain::sendgrid_events;
    let inbox_cfg = &ctx.config.inbox;
    let verified = match &inbox_cfg.sendgrid_webhook_key {
        None => Err("SENDGRID_WEBHOOK_PUBLIC_KEY is not set".to_string()),
        Some(Err(e)) => Err(e.clone()),
        Some(Ok(key)) => sendgrid_events::verify(
            key,
            signature,
            timestamp,
            body,
            ctx.now(),
            inbox_cfg.sendgrid_webhook_tolerance_secs,
        ),
    }
    .and_then(|()| sendgrid_events::events(body));
    let events = match verified {
        Ok(events) => events,
        Err(reason) => {
            warn!("[SENDGRID][WEBHOOK] outcome=rejected http_status=400 reason={reason:?}");
            return Ok(EventsAnswer {
                http_status: 400,
                outcome: "rejected",
                applied: 0,
            });
        }
    };
    let mut applied = 0;
    for e in events {
        let Some(outcome) = Outcome::of_sendgrid(e.effect) else {
            continue;
        };
        let mut lead_id = match e.send_id {
            Some(id) => inbox::lead_of_send(ctx.db(), id, &e.email)?,
            None => None,
        };
        if lead_id.is_none() {
            lead_id = inbox::lead_by_email(ctx.db(), &e.email)?;
        }
        let m = Incoming {
            at: ctx.now(),
            source: "sendgrid_event",
            key: format!("sendgrid_event:{}", e.id),
            outcome,
            lead_id,
            address: Some(e.email.clone()),
            from: None,
            subject: e.event.clone(),
            detail: e.reason.clone(),
        };
        if apply(ctx, &m)?.is_some() {
            applied += 1;
        }
    }
    info!("[SENDGRID][WEBHOOK] outcome=applied http_status=200 applied={applied}");
    Ok(EventsAnswer {
        http_status: 200,
        outcome: "applied",
        applied,
    })
}
