//! `hoss invoice list|show|void|mark-paid`.

use serde::Serialize;

use crate::app::Ctx;
use crate::clock::rfc3339;
use crate::commands::task::TaskView;
use crate::db::{self, invoices, invoices::Invoice, tasks};
use crate::error::{Error, Result};
use crate::money::{Cents, format_amount};
use crate::render::{Report, or_dash, table};

#[derive(Debug, Clone, Serialize)]
pub struct InvoiceView {
    pub id: i64,
    pub customer_id: i64,
    pub amount_cents: i64,
    pub currency: String,
    pub status: String,
    pub payment_url: Option<String>,
    pub stripe_payment_link_id: Option<String>,
    pub link_error: Option<String>,
    pub paid_via: Option<String>,
    pub created_at: String,
    pub paid_at: Option<String>,
}

impl From<Invoice> for InvoiceView {
    fn from(i: Invoice) -> Self {
        InvoiceView {
            id: i.id,
            customer_id: i.customer_id,
            amount_cents: i.amount_cents,
            currency: i.currency,
            status: i.status,
            payment_url: i.payment_url,
            stripe_payment_link_id: i.stripe_payment_link_id,
            link_error: i.link_error,
            paid_via: i.paid_via,
            created_at: rfc3339(i.created_at),
            paid_at: i.paid_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct InvoiceList(pub Vec<InvoiceView>);

impl Report for InvoiceList {
    fn human(&self, terminal: bool) -> String {
        if self.0.is_empty() {
            return "no invoices\n".into();
        }
        let rows = self
            .0
            .iter()
            .map(|i| {
                vec![
                    i.id.to_string(),
                    i.customer_id.to_string(),
                    i.status.clone(),
                    format_amount(Cents(i.amount_cents), &i.currency),
                    i.created_at.clone(),
                    or_dash(i.paid_at.as_ref()),
                    or_dash(i.payment_url.as_ref().or(i.link_error.as_ref())),
                ]
            })
            .collect();
        table(
            &[
                "id",
                "customer",
                "status",
                "amount",
                "created",
                "paid",
                "payment link",
            ],
            rows,
            terminal,
        )
    }
}

pub fn list(
    ctx: &Ctx,
    customer: Option<i64>,
    status: Option<&str>,
    limit: u32,
) -> Result<InvoiceList> {
    Ok(InvoiceList(
        invoices::list(&ctx.db, customer, status, limit)?
            .into_iter()
            .map(InvoiceView::from)
            .collect(),
    ))
}

#[derive(Debug, Serialize)]
pub struct InvoiceShow {
    #[serde(flatten)]
    pub invoice: InvoiceView,
    pub tasks: Vec<TaskView>,
}

impl Report for InvoiceShow {
    fn human(&self, terminal: bool) -> String {
        let mut s = InvoiceList(vec![self.invoice.clone()]).human(terminal);
        s.push_str(&format!("tasks billed: {}\n", self.tasks.len()));
        for t in &self.tasks {
            s.push_str(&format!(
                "  #{} {} {}\n",
                t.id,
                Cents(t.amount_cents),
                t.description
            ));
        }
        s
    }
}

fn find(ctx: &Ctx, id: i64) -> Result<Invoice> {
    invoices::get(&ctx.db, id)?.ok_or_else(|| Error::Data(format!("there is no invoice {id}")))
}

pub fn show(ctx: &Ctx, id: i64) -> Result<InvoiceShow> {
    let invoice = find(ctx, id)?;
    let billed = tasks::by_invoice(&ctx.db, id)?
        .into_iter()
        .map(TaskView::from)
        .collect();
    Ok(InvoiceShow {
        invoice: invoice.into(),
        tasks: billed,
    })
}

/// `draft|open → void`; its payment link is deactivated by the next `bill`.
pub fn void(ctx: &Ctx, id: i64) -> Result<InvoiceShow> {
    let before = find(ctx, id)?;
    if before.status != "void" {
        if !db::immediate(&ctx.db, |tx| Ok(invoices::void(tx, id, ctx.now())?))? {
            return Err(Error::Data(format!(
                "invoice {id} is {} and cannot be voided",
                before.status
            )));
        }
        log::info!(
            "[BILLING][VOID] invoice_id={id} amount={}",
            Cents(before.amount_cents)
        );
    }
    show(ctx, id)
}

/// A payment received outside Stripe: `draft|open → paid`.
pub fn mark_paid(ctx: &Ctx, id: i64) -> Result<InvoiceShow> {
    let before = find(ctx, id)?;
    if before.status != "paid" {
        if !db::immediate(&ctx.db, |tx| {
            Ok(invoices::mark_paid(tx, id, "manual", ctx.now())?)
        })? {
            return Err(Error::Data(format!(
                "invoice {id} is {} and cannot be marked paid",
                before.status
            )));
        }
        log::info!(
            "[STRIPE][PAID] invoice_id={id} amount={} via=manual",
            Cents(before.amount_cents)
        );
    }
    show(ctx, id)
}
