//! `hoss bill`: done, unbilled work becomes one invoice per customer (in the
//! transaction that links the tasks), then — when Stripe is enabled and its
//! key checks out — in-range drafts get a Price and a single-use Payment
//! Link, open invoices are reconciled against completed Checkout Sessions,
//! and links of paid or void invoices are deactivated.

use log::{error, info, warn};
use serde::Serialize;

use crate::app::Ctx;
use crate::db::{self, invoices, invoices::Invoice, tasks};
use crate::domain::webhook::{Decision, InvoiceFacts, decide};
use crate::error::Result;
use crate::money::Cents;
use crate::render::Report;
use crate::services::stripe::{Stripe, StripeError};

#[derive(Debug, Default, Serialize)]
pub struct BillReport {
    pub invoices_created: u32,
    pub links_created: u32,
    pub out_of_range: u32,
    pub paid_reconciled: u32,
    pub links_deactivated: u32,
    pub errors: u32,
    /// `ENABLED`, `DISABLED` or `MISCONFIG` (the key was refused).
    pub stripe: String,
}

impl Report for BillReport {
    fn human(&self, _terminal: bool) -> String {
        format!(
            "bill: invoices_created={} links_created={} out_of_range={} paid_reconciled={} links_deactivated={} errors={} stripe={}\n",
            self.invoices_created,
            self.links_created,
            self.out_of_range,
            self.paid_reconciled,
            self.links_deactivated,
            self.errors,
            self.stripe
        )
    }
}

pub fn facts(inv: &Invoice) -> InvoiceFacts {
    InvoiceFacts {
        id: inv.id,
        status: inv.status.clone(),
        amount_cents: inv.amount_cents,
        currency: inv.currency.clone(),
    }
}

pub fn run(ctx: &Ctx) -> Result<BillReport> {
    let cfg = &ctx.config.stripe;
    let mut report = BillReport {
        stripe: cfg.mode.effective.clone(),
        ..BillReport::default()
    };
    // Replay protection needs event ids only as long as Stripe retries.
    let pruned = invoices::prune_events(&ctx.db, ctx.now(), ctx.config.ledger_retention_days)?;
    if pruned > 0 {
        info!(
            "[STRIPE][EVENTS_PRUNED] rows={pruned} retention_days={}",
            ctx.config.ledger_retention_days
        );
    }
    let currency = cfg.invoice_currency()?;
    for customer_id in tasks::customers_with_unbilled(&ctx.db)? {
        let created = db::immediate(&ctx.db, |tx| {
            Ok(invoices::create_for_customer(
                tx,
                customer_id,
                currency,
                ctx.now(),
            )?)
        })?;
        if let Some((id, amount, count)) = created {
            report.invoices_created += 1;
            info!(
                "[BILLING][INVOICE] invoice_id={id} customer_id={customer_id} amount={} tasks={count}",
                Cents(amount)
            );
        }
    }

    // Amount safety holds whether or not Stripe is on.
    let mut linkable = Vec::new();
    for inv in invoices::needing_links(&ctx.db)? {
        let amount = Cents(inv.amount_cents);
        if amount < cfg.min_amount || amount > cfg.max_amount {
            report.out_of_range += 1;
            if !inv.out_of_range_logged {
                warn!(
                    "[STRIPE][AMOUNT_OUT_OF_RANGE] invoice_id={} amount={amount} min={} max={} (stays draft, no payment link)",
                    inv.id, cfg.min_amount, cfg.max_amount
                );
                invoices::mark_out_of_range_logged(&ctx.db, inv.id)?;
            }
        } else {
            linkable.push(inv);
        }
    }

    let Some(stripe) = Stripe::from_config(cfg, &invoices::install_id(&ctx.db)?) else {
        return Ok(report);
    };
    let open = invoices::open_with_links(&ctx.db)?;
    let stale_links = invoices::links_to_deactivate(&ctx.db)?;
    if linkable.is_empty() && open.is_empty() && stale_links.is_empty() {
        return Ok(report);
    }
    // First use in this process: the key must be accepted before anything else.
    match stripe.verify_key() {
        Ok(()) => {}
        Err(StripeError::Auth(reason)) => {
            error!(
                "[STRIPE][DISABLED_MISCONFIG] reason={reason:?} (invoices stay drafts without links)"
            );
            report.stripe = "MISCONFIG".into();
            report.errors += 1;
            return Ok(report);
        }
        Err(e) => {
            warn!(
                "[STRIPE][UNAVAILABLE] error={:?} (retried next pass)",
                e.to_string()
            );
            report.errors += 1;
            return Ok(report);
        }
    }
    for inv in linkable {
        match create_link(ctx, &stripe, &inv) {
            Ok(None) => {
                warn!(
                    "[STRIPE][LINK_ORPHANED] invoice_id={} changed while its link was made; the link will be deactivated",
                    inv.id
                );
            }
            Ok(Some(url)) => {
                report.links_created += 1;
                info!(
                    "[STRIPE][LINK_CREATED] invoice_id={} amount={} url={url}",
                    inv.id,
                    Cents(inv.amount_cents)
                );
            }
            Err(e) => {
                report.errors += 1;
                invoices::set_link_error(&ctx.db, inv.id, Some(&e.to_string()))?;
                warn!(
                    "[STRIPE][LINK_ERROR] invoice_id={} error={:?} (retried next pass)",
                    inv.id,
                    e.to_string()
                );
                if let StripeError::Auth(reason) = e {
                    error!("[STRIPE][DISABLED_MISCONFIG] reason={reason:?}");
                    report.stripe = "MISCONFIG".into();
                    return Ok(report);
                }
            }
        }
        ctx.flush_log();
    }
    for inv in open {
        match reconcile(ctx, &stripe, &inv) {
            Ok(true) => report.paid_reconciled += 1,
            Ok(false) => {}
            Err(e) => {
                report.errors += 1;
                warn!(
                    "[STRIPE][RECONCILE_ERROR] invoice_id={} error={:?}",
                    inv.id,
                    e.to_string()
                );
            }
        }
    }
    for inv in invoices::links_to_deactivate(&ctx.db)? {
        let Some(link) = inv.stripe_payment_link_id.as_deref() else {
            continue;
        };
        match stripe.deactivate_link(link) {
            Ok(()) => {
                invoices::set_link_inactive(&ctx.db, inv.id)?;
                report.links_deactivated += 1;
                info!(
                    "[STRIPE][LINK_DEACTIVATED] invoice_id={} status={}",
                    inv.id, inv.status
                );
            }
            Err(e) => {
                report.errors += 1;
                warn!(
                    "[STRIPE][LINK_DEACTIVATE_ERROR] invoice_id={} error={:?}",
                    inv.id,
                    e.to_string()
                );
            }
        }
    }
    Ok(report)
}

/// Price (kept once made), then the single-use Payment Link; the URL is
/// stored only when the link exists. Idempotency keys make a retry after a
/// crash return the same objects.
/// `Some(url)` when the invoice is now open with its link; `None` when it was
/// voided or paid while the link was being made (the link is recorded and
/// deactivated by the next pass).
fn create_link(
    ctx: &Ctx,
    stripe: &Stripe,
    inv: &Invoice,
) -> std::result::Result<Option<String>, StripeError> {
    let db_error = |e: rusqlite::Error| StripeError::Transient(format!("database: {e}"));
    let price = match &inv.stripe_price_id {
        Some(p) => p.clone(),
        None => {
            let p = stripe.create_price(inv.id, inv.amount_cents, &inv.currency)?;
            invoices::set_price(&ctx.db, inv.id, &p).map_err(db_error)?;
            p
        }
    };
    let link = stripe.create_payment_link(inv.id, &price)?;
    let open = invoices::set_link(&ctx.db, inv.id, &link.id, &link.url).map_err(db_error)?;
    Ok(open.then_some(link.url))
}

/// Marks an open invoice paid when its link has a matching completed,
/// paid session. Sessions that do not match are raised for the operator.
fn reconcile(
    ctx: &Ctx,
    stripe: &Stripe,
    inv: &Invoice,
) -> std::result::Result<bool, Box<dyn std::error::Error>> {
    let link = inv.stripe_payment_link_id.as_deref().unwrap_or_default();
    for session in stripe.completed_sessions(link).map_err(|e| e.to_string())? {
        match decide(&session, Some(&facts(inv))) {
            Decision::Pay => {
                if db::immediate(&ctx.db, |tx| {
                    Ok(invoices::mark_paid(tx, inv.id, "reconcile", ctx.now())?)
                })? {
                    info!(
                        "[STRIPE][PAID] invoice_id={} amount={} via=reconcile session={}",
                        inv.id,
                        Cents(inv.amount_cents),
                        session.id
                    );
                    return Ok(true);
                }
            }
            Decision::Ignore {
                reason,
                attention: true,
            } => {
                let key = format!("reconcile:{}", session.id);
                if invoices::record_event(
                    &ctx.db,
                    &key,
                    "reconcile",
                    "ignored",
                    Some(inv.id),
                    Some(&reason),
                    true,
                    ctx.now(),
                )? {
                    warn!(
                        "[STRIPE][MISMATCH] invoice_id={} session={} reason={reason:?}",
                        inv.id, session.id
                    );
                }
            }
            Decision::Ignore { .. } => {}
        }
    }
    Ok(false)
}
