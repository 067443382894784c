//! Stripe payments as hoss's books see them, shared by `hoss webhook` (and
//! `serve`'s webhook route) and `bill`'s reconciliation: what hoss knows of
//! an invoice, and settling one paid-looking Checkout Session.

use log::info;

use crate::db::invoices::{self, Invoice};
use crate::domain::webhook::{Decision, Found, InvoiceFacts, Session, decide};
use crate::error::Error;
use crate::money::Cents;

/// What the payment rules need to know of an invoice.
pub fn facts(inv: &Invoice) -> InvoiceFacts {
    InvoiceFacts {
        id: inv.id,
        status: inv.status.clone(),
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
pub fn settle(
    tx: &rusqlite::Connection,
    session: &Session,
    source: &str,
    via: &str,
    now: i64,
) -> crate::error::Result<Settled> {
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
        return Ok(Settled::Duplicate { invoice_id });
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
    Ok(match decide(session, found) {
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
            info!(
                "[STRIPE][PAID] invoice_id={} amount={} currency={} via={via} session={}",
                inv.id,
                Cents(inv.amount_cents).in_currency(&inv.currency),
                inv.currency,
                session.id
            );
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
    })
}
