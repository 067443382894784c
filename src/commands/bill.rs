//! `hoss bill`: done, unbilled work becomes one invoice per customer (in the
//! transaction that links the tasks), then — when Stripe is enabled and its
//! key checks out — in-range drafts get a Price and a single-use Payment
//! Link, open invoices are reconciled against completed Checkout Sessions,
//! and links of paid or void invoices are deactivated.

use log::{error, info, warn};
use serde::Serialize;

use crate::app::Ctx;
use crate::commands::invoice_mail;
use crate::commands::payments::{Settled, settle};
use crate::db::{self, invoices, invoices::Billed, invoices::Invoice, tasks};
use crate::error::Result;
use crate::money::{self, Cents, format_amount};
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
    /// The customer's mail (SPEC §16), sent or (DRY_RUN) simulated.
    pub invoice_emails: u32,
    pub reminders: u32,
    pub receipts: u32,
    /// Mail that could not go to its customer (no usable address, a
    /// suppressed one, a template error, a failure): logged and recorded.
    pub invoice_mail_problems: u32,
    /// A sender-side failure stopped the mail: `config_error` (exit 78) or
    /// `unreachable` (exit 75).
    pub sender_problem: Option<&'static str>,
    /// The effective email mode the mail counts are in (`DRY_RUN`: only
    /// simulated).
    pub email_mode: String,
}

impl Report for BillReport {
    fn exit_code(&self) -> i32 {
        crate::commands::mail::sender_problem_exit(self.sender_problem)
    }

    fn human(&self, _terminal: bool) -> String {
        format!(
            "bill: invoices_created={} links_created={} out_of_range={} paid_reconciled={} links_deactivated={} errors={} stripe={} invoice_emails={} reminders={} receipts={} invoice_mail_problems={} email={}\n",
            self.invoices_created,
            self.links_created,
            self.out_of_range,
            self.paid_reconciled,
            self.links_deactivated,
            self.errors,
            self.stripe,
            self.invoice_emails,
            self.reminders,
            self.receipts,
            self.invoice_mail_problems,
            self.email_mode
        )
    }
}

pub fn run(ctx: &Ctx) -> Result<BillReport> {
    let cfg = &ctx.config.stripe;
    let mut report = BillReport {
        stripe: cfg.mode.effective.as_str().into(),
        email_mode: ctx.config.email.mode.effective.as_str().into(),
        ..BillReport::default()
    };
    // Replay protection needs event ids only as long as Stripe retries.
    let pruned = invoices::prune_events(ctx.db(), ctx.now(), ctx.config.ledger_retention_days)?;
    if pruned > 0 {
        info!(
            "[STRIPE][EVENTS_PRUNED] rows={pruned} retention_days={}",
            ctx.config.ledger_retention_days
        );
    }
    let currency = cfg.invoice_currency()?;
    for customer_id in tasks::customers_with_unbilled(ctx.db())? {
        let created = ctx.db().immediate(|tx| {
            Ok(invoices::create_for_customer(
                tx,
                customer_id,
                currency,
                Cents(money::max_minor(currency)),
                ctx.now(),
            )?)
        })?;
        match created {
            Billed::Invoice(id, amount, count) => {
                report.invoices_created += 1;
                info!(
                    "[BILLING][INVOICE] invoice_id={id} customer_id={customer_id} amount={} currency={currency} tasks={count}",
                    amount.in_currency(currency)
                );
            }
            Billed::TooLarge { tasks, total } => {
                report.errors += 1;
                warn!(
                    "[BILLING][TOO_LARGE] customer_id={customer_id} tasks={tasks} total_minor={total} max={} (no invoice; fix the task amounts)",
                    format_amount(Cents(money::max_minor(currency)), currency)
                );
            }
            Billed::OtherCurrency { tasks } => {
                report.errors += 1;
                let list: Vec<String> = tasks.iter().map(|(id, c)| format!("{id} ({c})")).collect();
                warn!(
                    "[BILLING][CURRENCY_MISMATCH] customer_id={customer_id} tasks={} currency={currency} (no invoice: those amounts were entered in another currency; set STRIPE_DEFAULT_CURRENCY back, or fail those tasks and enter them again)",
                    list.join(",")
                );
            }
            Billed::Nothing => {}
        }
    }

    // Amount safety holds whether or not Stripe is on.
    let mut linkable = Vec::new();
    for inv in invoices::needing_links(ctx.db())? {
        let amount = inv.amount_cents;
        let approved = crate::db::invoice_mail::terms(ctx.db(), inv.id)?
            .1
            .is_some();
        if !invoice_mail::in_range(ctx, &inv, approved) {
            report.out_of_range += 1;
            if !inv.out_of_range_logged {
                warn!(
                    "[STRIPE][AMOUNT_OUT_OF_RANGE] invoice_id={} amount={} min={} max={} (stays draft, no payment link: {})",
                    inv.id,
                    format_amount(amount, &inv.currency),
                    format_amount(cfg.min_amount, &inv.currency),
                    format_amount(cfg.max_amount, &inv.currency),
                    invoice_mail::why_no_link(ctx, &inv, approved)
                );
                invoices::mark_out_of_range_logged(ctx.db(), inv.id)?;
            }
        } else if let Some(problem) = money::stripe_amount_problem(inv.amount_cents, &inv.currency)
        {
            // Stripe would refuse it: say so once on the invoice, ask nothing.
            report.errors += 1;
            if inv.link_error.as_deref() != Some(problem.as_str()) {
                warn!(
                    "[STRIPE][LINK_ERROR] invoice_id={} error={problem:?} (stays draft; void it and bill amounts Stripe accepts)",
                    inv.id
                );
                invoices::set_link_error(ctx.db(), inv.id, Some(&problem))?;
            }
        } else {
            linkable.push(inv);
        }
    }

    stripe_steps(ctx, linkable, &mut report)?;
    let mail = invoice_mail::pass(ctx)?;
    report.invoice_emails = mail.invoice_emails;
    report.reminders = mail.reminders;
    report.receipts = mail.receipts;
    report.invoice_mail_problems = mail.problems;
    report.sender_problem = mail.sender_problem;
    Ok(report)
}

/// Links for the linkable drafts, reconciliation of open invoices, and
/// deactivation of the links of paid or void ones.
fn stripe_steps(ctx: &Ctx, linkable: Vec<Invoice>, report: &mut BillReport) -> Result<()> {
    let cfg = &ctx.config.stripe;
    let Some(stripe) = Stripe::from_config(cfg, &invoices::install_id(ctx.db())?) else {
        return Ok(());
    };
    let open = invoices::open_with_links(ctx.db())?;
    let stale_links = invoices::links_to_deactivate(ctx.db())?;
    if linkable.is_empty() && open.is_empty() && stale_links.is_empty() {
        return Ok(());
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
            return Ok(());
        }
        Err(e) => {
            warn!(
                "[STRIPE][UNAVAILABLE] error={:?} (retried next pass)",
                e.to_string()
            );
            report.errors += 1;
            return Ok(());
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
                    format_amount(inv.amount_cents, &inv.currency)
                );
            }
            Err(e) => {
                report.errors += 1;
                invoices::set_link_error(ctx.db(), inv.id, Some(&e.to_string()))?;
                warn!(
                    "[STRIPE][LINK_ERROR] invoice_id={} error={:?} (retried next pass)",
                    inv.id,
                    e.to_string()
                );
                if let StripeError::Auth(reason) = e {
                    error!("[STRIPE][DISABLED_MISCONFIG] reason={reason:?}");
                    report.stripe = "MISCONFIG".into();
                    return Ok(());
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
    for inv in invoices::links_to_deactivate(ctx.db())? {
        let Some(link) = inv.stripe_payment_link_id.as_deref() else {
            continue;
        };
        // Money paid through the link after the invoice was paid by hand or
        // voided (and no webhook came): find it before closing the link.
        if let Err(e) = reconcile(ctx, &stripe, &inv) {
            report.errors += 1;
            warn!(
                "[STRIPE][RECONCILE_ERROR] invoice_id={} error={:?} (link kept active; retried next pass)",
                inv.id,
                e.to_string()
            );
            continue;
        }
        match stripe.deactivate_link(link) {
            Ok(()) => {
                invoices::set_link_inactive(ctx.db(), inv.id)?;
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
    Ok(())
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
    let db_error = |e: db::StoreError| StripeError::Transient(format!("database: {e}"));
    let conn = ctx.db();
    let price = match &inv.stripe_price_id {
        Some(p) => p.clone(),
        None => {
            let p = stripe.create_price(inv.id, inv.amount_cents, &inv.currency)?;
            invoices::set_price(conn, inv.id, &p).map_err(db_error)?;
            p
        }
    };
    let link = stripe.create_payment_link(inv.id, &price)?;
    let due = ctx.now() + i64::from(ctx.config.invoicing.due_days) * 86_400;
    let open = invoices::set_link(conn, inv.id, &link.id, &link.url, due).map_err(db_error)?;
    Ok(open.then_some(link.url))
}

/// Applies the completed sessions of an invoice's link by the webhook's
/// rules: a matching paid session pays an open invoice; any other paid
/// session (paid twice, a void invoice, a mismatch) is recorded and raised.
/// `true` when the invoice became paid.
fn reconcile(
    ctx: &Ctx,
    stripe: &Stripe,
    inv: &Invoice,
) -> std::result::Result<bool, Box<dyn std::error::Error>> {
    let link = inv.stripe_payment_link_id.as_deref().unwrap_or_default();
    let mut paid = false;
    for session in stripe.completed_sessions(link).map_err(|e| e.to_string())? {
        let key = format!("reconcile:{}", session.id);
        // The transaction may run again on PostgreSQL: the payment is
        // logged once, after it committed.
        let (settled, paid_line) = ctx.db().immediate(|tx| {
            let (settled, paid_line) = settle(tx, &session, &key, "reconcile", ctx.now())?;
            if let Settled::Ignored {
                invoice_id,
                reason,
                attention: true,
            } = &settled
            {
                invoices::record_event(
                    tx,
                    &key,
                    "reconcile",
                    "ignored",
                    *invoice_id,
                    Some(reason),
                    true,
                    ctx.now(),
                )?;
            }
            Ok((settled, paid_line))
        })?;
        if let Some(line) = paid_line {
            info!("{line}");
        }
        match settled {
            Settled::Applied { invoice_id } if invoice_id == inv.id => paid = true,
            Settled::Ignored {
                reason,
                attention: true,
                ..
            } => warn!(
                "[STRIPE][MISMATCH] invoice_id={} session={} reason={reason:?}",
                inv.id, session.id
            ),
            _ => {}
        }
    }
    Ok(paid)
}
