//! `hoss invoice list|show|void|mark-paid|send|approve`.

use std::io::Write;

use clap::Subcommand;
use serde::Serialize;

use crate::app::Ctx;
use crate::cli::PageArgs;
use crate::clock::Timestamp;
use crate::db::invoice_mail::{self, MailKind, Sent};
use crate::db::{invoices, invoices::Invoice, tasks, tasks::Task};
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
    /// Email the invoice to its customer now (a notice, or a receipt once paid); recorded
    Send {
        id: i64,
        /// Send even to a suppressed address (the customer asked for it)
        #[arg(long)]
        force: bool,
    },
    /// Let `bill` make a payment link for this draft above STRIPE_MAX_AMOUNT (never above STRIPE_HARD_MAX_AMOUNT)
    Approve { id: i64 },
}

impl InvoiceAction {
    pub fn name(&self) -> &'static str {
        match self {
            InvoiceAction::List { .. } => "invoice list",
            InvoiceAction::Show { .. } => "invoice show",
            InvoiceAction::Void { .. } => "invoice void",
            InvoiceAction::MarkPaid { .. } => "invoice mark-paid",
            InvoiceAction::Send { .. } => "invoice send",
            InvoiceAction::Approve { .. } => "invoice approve",
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
        InvoiceAction::Send { id, force } => emit(out, &send(ctx, id, force)?, style),
        InvoiceAction::Approve { id } => emit(out, &approve(ctx, id)?, style),
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
    let listed = invoices::list(ctx.db(), customer, status, page)?;
    Ok(List::page(listed, page))
}

#[derive(Debug, Serialize)]
pub struct InvoiceShow {
    #[serde(flatten)]
    pub invoice: Invoice,
    pub tasks: Vec<Task>,
    /// When it is due (set when it opens, or when it is announced as a
    /// draft without a link).
    pub due_at: Option<Timestamp>,
    /// When the operator approved it above `STRIPE_MAX_AMOUNT`.
    pub approved_at: Option<Timestamp>,
    /// Every mail sent about it (notices, reminders, receipts), oldest first.
    pub mails: Vec<Sent>,
    /// `invoice send` only: what became of this send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<String>,
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
        if let Some(due) = &self.due_at {
            s.push_str(&format!("due: {due}\n"));
        }
        if let Some(at) = &self.approved_at {
            s.push_str(&format!("approved above STRIPE_MAX_AMOUNT at {at}\n"));
        }
        s.push_str(&format!("mail sent: {}\n", self.mails.len()));
        for m in &self.mails {
            let which = match m.kind.as_str() {
                "reminder" => format!("reminder (day {} after due)", m.step),
                kind if m.step == 1 => kind.to_string(),
                kind => format!("{kind} (send {})", m.step),
            };
            s.push_str(&format!(
                "  {} {which} to {} {} {}{}\n",
                m.at,
                m.to,
                m.mode,
                m.outcome,
                m.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
        if let Some(sent) = &self.sent {
            s.push_str(&format!("this send: {sent}\n"));
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
    invoices::get(ctx.db(), id)?.ok_or_else(|| Error::Data(format!("there is no invoice {id}")))
}

pub fn show(ctx: &Ctx, id: i64) -> Result<InvoiceShow> {
    let (due_at, approved_at) = invoice_mail::terms(ctx.db(), id)?;
    Ok(InvoiceShow {
        invoice: find(ctx, id)?,
        tasks: tasks::by_invoice(ctx.db(), id)?,
        due_at: due_at.map(Timestamp),
        approved_at: approved_at.map(Timestamp),
        mails: invoice_mail::history(ctx.db(), id)?,
        sent: None,
        tasks_released: None,
    })
}

/// The operator's send: a notice for a draft or open invoice (the next
/// step after those sent), a receipt for a paid one. Exit 65 when there is
/// nothing to send or the customer cannot get it; 75/78 when the mailer
/// failed on the sender's side.
pub fn send(ctx: &Ctx, id: i64, force: bool) -> Result<InvoiceShow> {
    let inv = find(ctx, id)?;
    let (kind, step) = match inv.status {
        InvoiceStatus::Draft | InvoiceStatus::Open => (
            MailKind::Invoice,
            invoice_mail::next_step(ctx.db(), id, MailKind::Invoice)?,
        ),
        InvoiceStatus::Paid => (
            MailKind::Receipt,
            invoice_mail::next_step(ctx.db(), id, MailKind::Receipt)?,
        ),
        InvoiceStatus::Void => {
            return Err(Error::Data(format!(
                "invoice {id} is void: nothing is sent for it"
            )));
        }
    };
    // A notice must say how to pay; a draft's would stand in for the one
    // with its link, which the pass then never sends.
    if inv.status == InvoiceStatus::Draft && ctx.config.invoicing.payment_instructions.is_none() {
        let approved = invoice_mail::terms(ctx.db(), id)?.1.is_some();
        return Err(Error::Data(format!(
            "invoice {id} is a draft without a payment link and PAYMENT_INSTRUCTIONS is not set: the customer could not pay it; {}",
            crate::commands::invoice_mail::why_no_link(ctx, &inv, approved)
        )));
    }
    let pack = crate::commands::invoice_mail::pack(ctx).map_err(Error::Config)?;
    let mut mailer = ctx.mailer();
    let outcome =
        crate::commands::invoice_mail::send(ctx, mailer.as_mut(), &pack, &inv, kind, step, force)?;
    use crate::commands::invoice_mail::Outcome;
    let said = match outcome {
        Outcome::Sent => format!("{} sent to {}", kind.as_str(), recipient(ctx, &inv)?),
        Outcome::Simulated => format!(
            "{} to {} simulated (DRY_RUN: nothing sent)",
            kind.as_str(),
            recipient(ctx, &inv)?
        ),
        Outcome::Taken => format!("{} is being sent by another run", kind.as_str()),
        Outcome::Moot(status) => {
            return Err(Error::Data(format!(
                "not sent: invoice {id} became {status} meanwhile"
            )));
        }
        Outcome::Suppressed(reason) => {
            return Err(Error::Data(format!(
                "not sent: {reason} (--force sends it anyway)"
            )));
        }
        Outcome::Problem(why) => return Err(Error::Data(format!("not sent: {why}"))),
        Outcome::Failed { delivery, error } => {
            let message = format!("not sent: {error}");
            return Err(match crate::commands::mail::sender_problem(delivery) {
                Some("config_error") => Error::Config(message),
                Some(_) => Error::Temporary(message),
                None => Error::Data(message),
            });
        }
    };
    let mut shown = show(ctx, id)?;
    shown.sent = Some(said);
    Ok(shown)
}

/// The customer an invoice's mail goes to, as the operator recognises it:
/// `pat@acme.com (Acme Dental)`.
fn recipient(ctx: &Ctx, inv: &Invoice) -> Result<String> {
    Ok(
        match crate::db::customers::get(ctx.db(), inv.customer_id)? {
            Some(c) => format!("{} ({})", c.contact_email, c.company),
            None => format!("customer {}", inv.customer_id),
        },
    )
}

/// Lets `bill` link this draft above `STRIPE_MAX_AMOUNT`, up to
/// `STRIPE_HARD_MAX_AMOUNT`; recorded with the time.
pub fn approve(ctx: &Ctx, id: i64) -> Result<InvoiceShow> {
    let inv = find(ctx, id)?;
    if inv.status != InvoiceStatus::Draft {
        return Err(Error::Data(format!(
            "invoice {id} is {}: only a draft waits for approval",
            inv.status
        )));
    }
    // Approval lifts STRIPE_MAX_AMOUNT only: above the hard ceiling or
    // below the minimum it could link nothing.
    let cfg = &ctx.config.stripe;
    if !crate::commands::invoice_mail::in_range(ctx, &inv, true) {
        return Err(Error::Data(format!(
            "invoice {id} cannot be approved: {}",
            crate::commands::invoice_mail::why_no_link(ctx, &inv, true)
        )));
    }
    if crate::commands::invoice_mail::in_range(ctx, &inv, false) {
        let limits = if inv.currency == cfg.currency {
            "within STRIPE_MAX_AMOUNT"
        } else {
            "in another currency than STRIPE_DEFAULT_CURRENCY (the amount limits do not apply to it)"
        };
        return Err(Error::Data(format!(
            "invoice {id} ({}) is {limits}: it needs no approval; {}",
            format_amount(inv.amount_cents, &inv.currency),
            crate::commands::invoice_mail::why_no_link(ctx, &inv, false)
        )));
    }
    if invoice_mail::approve(ctx.db(), id, ctx.now())? {
        log::info!(
            "[BILLING][APPROVED] invoice_id={id} amount={} ({})",
            format_amount(inv.amount_cents, &inv.currency),
            crate::commands::invoice_mail::why_no_link(ctx, &inv, true)
        );
    }
    show(ctx, id)
}

/// `draft|open → void`; its payment link is deactivated by the next `bill`.
/// Its tasks are released in the same transaction, to be billed again by the
/// next `bill`, unless `write_off` keeps them tied to the void invoice.
pub fn void(ctx: &Ctx, id: i64, write_off: bool) -> Result<InvoiceShow> {
    let before = find(ctx, id)?;
    let mut released = 0;
    if before.status != InvoiceStatus::Void {
        let Some(n) = ctx
            .db()
            .immediate(|tx| Ok(invoices::void(tx, id, write_off, ctx.now())?))?
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
        if !ctx
            .db()
            .immediate(|tx| Ok(invoices::mark_paid(tx, id, "manual", None, ctx.now())?))?
        {
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
