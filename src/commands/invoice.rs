//! `hoss invoice list|show|void|mark-paid`.

use std::io::Write;

use clap::Subcommand;
use serde::Serialize;

use crate::app::Ctx;
use crate::cli::PageArgs;
use crate::db::{self, invoices, invoices::Invoice, tasks, tasks::Task};
use crate::domain::status::InvoiceStatus;
use crate::error::{Error, Result};
use crate::money::format_amount;
use crate::render::list::{self, List, Row};
use crate::render::{Report, Style, emit, or_dash};

#[derive(Debug, Subcommand)]
pub enum InvoiceAction {
    /// List invoices by id
    List {
        #[arg(long)]
        customer: Option<i64>,
        #[arg(long)]
        status: Option<InvoiceStatus>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one invoice and the tasks it bills
    Show { id: i64 },
    /// Void a draft or open invoice; its tasks are billed again by the next `bill`
    Void {
        id: i64,
        /// Keep its tasks tied to the void invoice (the work is written off, never billed)
        #[arg(long)]
        write_off: bool,
    },
    /// Record a payment received outside Stripe
    MarkPaid { id: i64 },
}

impl InvoiceAction {
    pub fn name(&self) -> &'static str {
        match self {
            InvoiceAction::List { .. } => "invoice list",
            InvoiceAction::Show { .. } => "invoice show",
            InvoiceAction::Void { .. } => "invoice void",
            InvoiceAction::MarkPaid { .. } => "invoice mark-paid",
        }
    }

    pub fn read_only(&self) -> bool {
        matches!(
            self,
            InvoiceAction::List { .. } | InvoiceAction::Show { .. }
        )
    }
}

/// Runs one `hoss invoice …` action and writes its report.
pub fn run(ctx: &Ctx, action: InvoiceAction, out: &mut dyn Write, style: Style) -> Result<i32> {
    match action {
        InvoiceAction::List {
            customer,
            status,
            page,
        } => emit(out, &list(ctx, customer, status, page.into())?, style),
        InvoiceAction::Show { id } => emit(out, &show(ctx, id)?, style),
        InvoiceAction::Void { id, write_off } => emit(out, &void(ctx, id, write_off)?, style),
        InvoiceAction::MarkPaid { id } => emit(out, &mark_paid(ctx, id)?, style),
    }
}

impl Row for Invoice {
    const HEADER: &'static [&'static str] = &[
        "id",
        "customer",
        "status",
        "amount",
        "created",
        "paid",
        "payment link",
    ];
    const EMPTY: &'static str = "no invoices\n";

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.customer_id.to_string(),
            self.status.to_string(),
            format_amount(self.amount_cents, &self.currency),
            self.created_at.to_string(),
            or_dash(self.paid_at.as_ref()),
            or_dash(self.payment_url.as_ref().or(self.link_error.as_ref())),
        ]
    }
}

pub type InvoiceList = List<Invoice>;

pub fn list(
    ctx: &Ctx,
    customer: Option<i64>,
    status: Option<InvoiceStatus>,
    page: crate::db::Page,
) -> Result<InvoiceList> {
    let listed = invoices::list(&ctx.db, customer, status, page)?;
    Ok(List::page(listed, page))
}

#[derive(Debug, Serialize)]
pub struct InvoiceShow {
    #[serde(flatten)]
    pub invoice: Invoice,
    pub tasks: Vec<Task>,
    /// `invoice void` only: tasks given back to be billed by the next `bill`
    /// (0 with `--write-off`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks_released: Option<usize>,
}

impl Report for InvoiceShow {
    fn human(&self, terminal: bool) -> String {
        let mut s = list::rows(std::slice::from_ref(&self.invoice), terminal);
        s.push_str(&format!("tasks billed: {}\n", self.tasks.len()));
        for t in &self.tasks {
            s.push_str(&format!(
                "  #{} {} {}\n",
                t.id,
                t.amount_cents.in_currency(&self.invoice.currency),
                t.description
            ));
        }
        match self.tasks_released {
            Some(0) if self.invoice.written_off => {
                s.push_str("written off: its tasks stay billed by this void invoice\n")
            }
            Some(n) => s.push_str(&format!(
                "tasks released: {n} (billed again by the next `hoss bill`)\n"
            )),
            None => {}
        }
        s
    }
}

fn find(ctx: &Ctx, id: i64) -> Result<Invoice> {
    invoices::get(&ctx.db, id)?.ok_or_else(|| Error::Data(format!("there is no invoice {id}")))
}

pub fn show(ctx: &Ctx, id: i64) -> Result<InvoiceShow> {
    Ok(InvoiceShow {
        invoice: find(ctx, id)?,
        tasks: tasks::by_invoice(&ctx.db, id)?,
        tasks_released: None,
    })
}

/// `draft|open → void`; its payment link is deactivated by the next `bill`.
/// Its tasks are released in the same transaction, to be billed again by the
/// next `bill`, unless `write_off` keeps them tied to the void invoice.
pub fn void(ctx: &Ctx, id: i64, write_off: bool) -> Result<InvoiceShow> {
    let before = find(ctx, id)?;
    let mut released = 0;
    if before.status != InvoiceStatus::Void {
        let Some(n) = db::immediate(&ctx.db, |tx| {
            Ok(invoices::void(tx, id, write_off, ctx.now())?)
        })?
        else {
            return Err(Error::Data(format!(
                "invoice {id} is {} and cannot be voided",
                before.status
            )));
        };
        released = n;
        log::info!(
            "[BILLING][VOID] invoice_id={id} amount={} tasks_released={n} written_off={write_off}",
            format_amount(before.amount_cents, &before.currency)
        );
    } else if write_off && !before.written_off {
        return Err(Error::Data(format!(
            "invoice {id} is already void and its tasks were released (they may be billed again already); it cannot be written off now"
        )));
    }
    let mut shown = show(ctx, id)?;
    shown.tasks_released = Some(released);
    Ok(shown)
}

/// A payment received outside Stripe: `draft|open → paid`.
pub fn mark_paid(ctx: &Ctx, id: i64) -> Result<InvoiceShow> {
    let before = find(ctx, id)?;
    if before.status != InvoiceStatus::Paid {
        if !db::immediate(&ctx.db, |tx| {
            Ok(invoices::mark_paid(tx, id, "manual", None, ctx.now())?)
        })? {
            return Err(Error::Data(format!(
                "invoice {id} is {} and cannot be marked paid",
                before.status
            )));
        }
        log::info!(
            "[STRIPE][PAID] invoice_id={id} amount={} via=manual",
            format_amount(before.amount_cents, &before.currency)
        );
    }
    show(ctx, id)
}
