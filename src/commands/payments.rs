//! Stripe payments as hoss's books see them, shared by `hoss webhook` (the
//! body on stdin), `hoss serve` (`POST /stripe/webhook`) and `bill`'s
//! reconciliation. A webhook event: verify the signature, dedupe by event
//! id, check amount and currency, mark the invoice paid.
//!
//! Outcomes: `applied`, `duplicate`, `ignored` (HTTP 200), `rejected`
//! (400: bad/missing/stale signature, no secret, not an event — Stripe keeps
//! retrying, so nothing is lost once the secret is fixed) and `error` (500:
//! try again).

use log::{error, info, warn};
use serde::Serialize;

use crate::app::Ctx;
use crate::db::Db;
use crate::db::invoices::{self, Invoice};
use crate::domain::webhook::{
    Decision, Event, Found, InvoiceFacts, PAID_EVENTS, Session, decide, parse_event,
    verify_signature,
};
use crate::error::{EXIT_DATA, EXIT_OK, EXIT_TEMPFAIL, Error, Result};
use crate::render::Report;

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
    pub fn new(outcome: &'static str, http_status: u16, reason: Option<String>) -> WebhookOutcome {
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

fn apply(ctx: &Ctx, event: &Event) -> Result<WebhookOutcome> {
    // The transaction may run again on PostgreSQL (a serialization
    // failure): it logs nothing itself, and what it found is logged once,
    // after it committed. It writes only what its event, session and
    // payment link name, so on PostgreSQL events for other ones run beside
    // it; the same event, session or link waits its turn.
    let event_key = format!("event:{}", event.id);
    let session_key = event.session.as_ref().map(|s| format!("session:{}", s.id));
    let link_key = event
        .session
        .as_ref()
        .and_then(|s| s.payment_link.as_ref())
        .map(|l| format!("link:{l}"));
    let keys: Vec<&str> = [Some(&event_key), session_key.as_ref(), link_key.as_ref()]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let (out, paid, mismatch) = ctx.db().keyed(&keys, |tx| {
        let now = ctx.now();
        if invoices::event_seen(tx, &event.id)? {
            return Ok((
                WebhookOutcome::new("duplicate", 200, Some("event already processed".into())),
                None,
                None,
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
                return Ok((
                    WebhookOutcome::new("ignored", 200, Some(reason)),
                    None,
                    None,
                ));
            }
        };
        // What is answered, and what is recorded of the event (a duplicate
        // session is stored as `ignored`: only its first event applied).
        let (settled, paid) = settle(tx, session, &event.id, "webhook", now)?;
        let (outcome, invoice_id, reason, attention) = match settled {
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
        let mismatch = attention.then(|| {
            format!(
                "[STRIPE][MISMATCH] event_id={} reason={:?}",
                event.id,
                reason.as_deref().unwrap_or_default()
            )
        });
        let mut out = WebhookOutcome::new(outcome, 200, reason);
        out.invoice_id = invoice_id;
        Ok((out, paid, mismatch))
    })?;
    if let Some(line) = paid {
        info!("{line}");
    }
    if let Some(line) = mismatch {
        warn!("{line}");
    }
    Ok(out)
}

/// What the payment rules need to know of an invoice.
pub fn facts(inv: &Invoice) -> InvoiceFacts {
    InvoiceFacts {
        id: inv.id,
        status: inv.status,
        amount_cents: inv.amount_cents,
        currency: inv.currency.clone(),
        paid_session_id: inv.paid_session_id.clone(),
    }
}

/// What a paid-looking Checkout Session did to hoss's books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Applied {
        invoice_id: i64,
    },
    /// This session was processed before (under any event id).
    Duplicate {
        invoice_id: Option<i64>,
    },
    Ignored {
        invoice_id: Option<i64>,
        reason: String,
        /// Raised in `status` and the digest (and recorded for good).
        attention: bool,
    },
}

/// Applies one session in the caller's transaction, by the rules of
/// [`decide`]; shared by webhooks and `bill`'s reconciliation. Every paid
/// session that paid or needs the operator is recorded for good, so a
/// replay under another event id is a duplicate, never a second warning.
/// With it, the `[STRIPE][PAID]` line for the caller to log once the
/// transaction has committed (it may run again on PostgreSQL).
pub fn settle(
    tx: Db<'_>,
    session: &Session,
    source: &str,
    via: &str,
    now: i64,
) -> Result<(Settled, Option<String>)> {
    // Only a link hoss created or imported can pay; metadata alone is a
    // claim, shown to the operator when it names one of hoss's invoices.
    let by_link = match &session.payment_link {
        Some(link) => invoices::by_link(tx, link)?,
        None => None,
    };
    let named = match (&by_link, session.invoice_ref) {
        (None, Some(id)) => invoices::get(tx, id)?,
        _ => None,
    };
    let invoice_id = by_link.as_ref().or(named.as_ref()).map(|i| i.id);
    if session.payment_status == "paid" && invoices::session_outcome(tx, &session.id)?.is_some() {
        return Ok((Settled::Duplicate { invoice_id }, None));
    }
    let by_link_facts = by_link.as_ref().map(facts);
    let named_facts = named.as_ref().map(facts);
    let found = match (&by_link_facts, &named_facts) {
        (Some(f), _) => Found::ByLink(f),
        (None, Some(f)) => Found::NamedOnly(f),
        (None, None) => Found::Nothing,
    };
    let record = |outcome: &str, reason: Option<&str>| {
        invoices::record_session(
            tx,
            &invoices::SessionRecord {
                session_id: &session.id,
                invoice_id,
                outcome,
                amount_cents: session.amount_total,
                currency: session.currency.as_deref(),
                payment_link: session.payment_link.as_deref(),
                event_id: Some(source),
                reason,
            },
            now,
        )
    };
    let mut paid = None;
    let settled = match decide(session, found) {
        Decision::Pay => {
            let inv = by_link
                .as_ref()
                .ok_or_else(|| Error::Internal("paid without invoice".into()))?;
            if !invoices::mark_paid(tx, inv.id, via, Some(&session.id), now)? {
                return Err(Error::Internal(format!(
                    "invoice {} changed inside its own transaction",
                    inv.id
                )));
            }
            record("applied", None)?;
            paid = Some(format!(
                "[STRIPE][PAID] invoice_id={} amount={} currency={} via={via} session={}",
                inv.id,
                inv.amount_cents.in_currency(&inv.currency),
                inv.currency,
                session.id
            ));
            Settled::Applied { invoice_id: inv.id }
        }
        Decision::Duplicate => Settled::Duplicate { invoice_id },
        Decision::Ignore {
            reason,
            attention: Some(kind),
        } => {
            record(kind, Some(&reason))?;
            Settled::Ignored {
                invoice_id,
                reason,
                attention: true,
            }
        }
        Decision::Ignore {
            reason,
            attention: None,
        } => Settled::Ignored {
            invoice_id,
            reason,
            attention: false,
        },
    };
    Ok((settled, paid))
}
