//! Stripe webhooks, shared by `hoss webhook` (body on stdin) and `hoss
//! serve` (`POST /stripe/webhook`): verify the signature, dedupe by event
//! id, check amount and currency, mark the invoice paid.
//!
//! Outcomes: `applied`, `duplicate`, `ignored` (HTTP 200), `rejected`
//! (400: bad/missing/stale signature, no secret, not an event — Stripe keeps
//! retrying, so nothing is lost once the secret is fixed) and `error` (500:
//! try again).

use std::io::Write;

use log::{error, info, warn};
use serde::Serialize;

use crate::app::Ctx;
use crate::commands::payments::{Settled, settle};
use crate::db::{self, invoices};
use crate::domain::webhook::{PAID_EVENTS, parse_event, verify_signature};
use crate::error::{EXIT_DATA, EXIT_OK, EXIT_TEMPFAIL, Error, Result};
use crate::render::{self, Report};

/// Largest webhook body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WebhookOutcome {
    pub outcome: &'static str,
    pub event_id: Option<String>,
    pub invoice_id: Option<i64>,
    pub http_status: u16,
    pub reason: Option<String>,
}

impl WebhookOutcome {
    fn new(outcome: &'static str, http_status: u16, reason: Option<String>) -> WebhookOutcome {
        WebhookOutcome {
            outcome,
            event_id: None,
            invoice_id: None,
            http_status,
            reason,
        }
    }

    /// A failure before the event could be looked at (HTTP 500: retry).
    pub fn failed(reason: String) -> WebhookOutcome {
        WebhookOutcome::new("error", 500, Some(reason))
    }
}

/// Always one JSON line, whatever the style.
impl Report for WebhookOutcome {
    fn human(&self, _terminal: bool) -> String {
        serde_json::to_string(self).unwrap_or_default() + "\n"
    }

    fn exit_code(&self) -> i32 {
        match self.http_status {
            200 => EXIT_OK,
            400 | 413 => EXIT_DATA,
            _ => EXIT_TEMPFAIL,
        }
    }
}

pub fn handle(ctx: &Ctx, signature: Option<&str>, body: &[u8]) -> WebhookOutcome {
    let outcome = decide_and_apply(ctx, signature, body);
    let text = format!(
        "[STRIPE][WEBHOOK] outcome={} event_id={} invoice_id={} http_status={} reason={:?}",
        outcome.outcome,
        outcome.event_id.as_deref().unwrap_or("-"),
        outcome.invoice_id.map_or("-".into(), |i| i.to_string()),
        outcome.http_status,
        outcome.reason.as_deref().unwrap_or("")
    );
    match outcome.outcome {
        "rejected" => warn!("{text}"),
        "error" => error!("{text}"),
        _ => info!("{text}"),
    }
    outcome
}

fn decide_and_apply(ctx: &Ctx, signature: Option<&str>, body: &[u8]) -> WebhookOutcome {
    let cfg = &ctx.config.stripe;
    let rejected = |reason: String| WebhookOutcome::new("rejected", 400, Some(reason));
    if body.len() > MAX_BODY {
        return WebhookOutcome::new("rejected", 413, Some("body larger than 1 MiB".into()));
    }
    let Some(secret) = &cfg.webhook_secret else {
        return rejected(match &cfg.webhook_secret_problem {
            Some(problem) => format!("{problem}; nothing applied"),
            None => "no STRIPE_WEBHOOK_SECRET configured; nothing applied".into(),
        });
    };
    let Some(signature) = signature.filter(|s| !s.trim().is_empty()) else {
        return rejected("missing Stripe-Signature".into());
    };
    if let Err(reason) = verify_signature(
        signature,
        body,
        secret.expose(),
        ctx.now(),
        cfg.webhook_tolerance_secs,
    ) {
        return rejected(reason);
    }
    let event = match parse_event(body) {
        Ok(e) => e,
        Err(reason) => return rejected(reason),
    };
    let mut out = match apply(ctx, &event) {
        Ok(out) => out,
        Err(e) => WebhookOutcome::new(
            "error",
            500,
            Some(format!("could not record the event: {e}")),
        ),
    };
    out.event_id = Some(event.id);
    out
}

fn apply(ctx: &Ctx, event: &crate::domain::webhook::Event) -> crate::error::Result<WebhookOutcome> {
    db::immediate(&ctx.db, |tx| {
        let now = ctx.now();
        if invoices::event_seen(tx, &event.id)? {
            return Ok(WebhookOutcome::new(
                "duplicate",
                200,
                Some("event already processed".into()),
            ));
        }
        let session = match &event.session {
            Some(s) if PAID_EVENTS.contains(&event.kind.as_str()) => s,
            _ => {
                let reason = format!("event type {} is not handled", event.kind);
                invoices::record_event(
                    tx,
                    &event.id,
                    &event.kind,
                    "ignored",
                    None,
                    Some(&reason),
                    false,
                    now,
                )?;
                return Ok(WebhookOutcome::new("ignored", 200, Some(reason)));
            }
        };
        // What is answered, and what is recorded of the event (a duplicate
        // session is stored as `ignored`: only its first event applied).
        let (outcome, invoice_id, reason, attention) =
            match settle(tx, session, &event.id, "webhook", now)? {
                Settled::Applied { invoice_id } => ("applied", Some(invoice_id), None, false),
                Settled::Duplicate { invoice_id } => (
                    "duplicate",
                    invoice_id,
                    Some(format!("session {} already processed", session.id)),
                    false,
                ),
                Settled::Ignored {
                    invoice_id,
                    reason,
                    attention,
                } => ("ignored", invoice_id, Some(reason), attention),
            };
        let stored = if outcome == "applied" {
            "applied"
        } else {
            "ignored"
        };
        invoices::record_event(
            tx,
            &event.id,
            &event.kind,
            stored,
            invoice_id,
            reason.as_deref(),
            attention,
            now,
        )?;
        if attention {
            warn!(
                "[STRIPE][MISMATCH] event_id={} reason={:?}",
                event.id,
                reason.as_deref().unwrap_or_default()
            );
        }
        let mut out = WebhookOutcome::new(outcome, 200, reason);
        out.invoice_id = invoice_id;
        Ok(out)
    })
}

/// `hoss webhook --signature HEADER < body`.
pub fn from_stdin(ctx: &Ctx, signature: &str) -> WebhookOutcome {
    use std::io::Read;
    let mut body = Vec::new();
    if let Err(e) = std::io::stdin()
        .lock()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
    {
        return WebhookOutcome::new("rejected", 400, Some(format!("cannot read the body: {e}")));
    }
    handle(ctx, Some(signature), &body)
}

/// `hoss webhook` promises one JSON line whatever happens — a busy or
/// unreadable database, a broken configuration — so whoever relays it to
/// Stripe can answer 500 and Stripe retries. This is that line for a
/// failure before the event could be looked at; the exit code is the
/// failure's.
pub fn failed_before_start(e: &Error, out: &mut dyn Write) -> Result<i32> {
    error!(
        "[STRIPE][WEBHOOK] outcome=error http_status=500 reason={:?}",
        e.to_string()
    );
    let line = WebhookOutcome::failed(format!("nothing recorded, retry: {e}"));
    render::write_all(out, line.human(false).as_bytes())?;
    Ok(e.exit_code())
}
