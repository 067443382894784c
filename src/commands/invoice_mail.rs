//! The customer hears about an invoice (SPEC §16): the notice when it opens
//! (or, with `PAYMENT_INSTRUCTIONS`, when it stays a draft that cannot get a
//! payment link), reminders after the due date, a receipt once it is paid.
//! Run by `bill` after its Stripe steps, and by `hoss invoice send`.
//!
//! Each mail is a reservation in the send ledger, the send, then its
//! outcome (`db::invoice_mail`): at most once per (invoice, kind, step)
//! whatever runs at the same time or dies midway (an abandoned reservation
//! becomes `uncertain`, never re-sent). Outside the outreach caps; no
//! unsubscribe footer (transactional), the postal address in the signature.

use log::{error, info, warn};

use crate::app::Ctx;
use crate::clock::rfc3339;
use crate::commands::mail::{log_result, sender, sender_problem};
use crate::config::{EmailMode, StripeMode};
use crate::db::invoice_mail::{self as q, FIRST, MailKind};
use crate::db::{customers, invoices, invoices::Invoice, outbox};
use crate::domain::address::normalize_email;
use crate::domain::compose;
use crate::domain::delivery::Delivery;
use crate::domain::invoice_mail::{self as words, Facts, Line, MailPack, Message};
use crate::domain::status::InvoiceStatus;
use crate::domain::templates::first_name;
use crate::error::Result;
use crate::money::{Cents, format_amount};
use crate::services::mailer::Mailer;

/// Receipts are sent for payments this recent (a mail pass turned on later
/// does not thank a customer for last year's payment).
const RECEIPT_WINDOW_SECS: i64 = 30 * 86_400;

/// What became of one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Simulated,
    /// Already claimed (reserved, sent or uncertain) by another run.
    Taken,
    Suppressed(String),
    /// Could not be sent to this customer (no usable address, a template
    /// error): recorded, the operator is told.
    Problem(String),
    Failed {
        delivery: Delivery,
        error: String,
    },
    /// The invoice is no longer one this mail is for (paid or voided since
    /// the pass listed it): nothing sent, nothing recorded.
    Moot(InvoiceStatus),
}

/// Whether a mail of `kind` is for an invoice in `status`: a notice or a
/// reminder for a draft or open one (a draft is reminded once announced
/// with the payment instructions), a receipt for a paid one.
fn fits(kind: MailKind, status: InvoiceStatus) -> bool {
    match kind {
        MailKind::Invoice | MailKind::Reminder => {
            matches!(status, InvoiceStatus::Draft | InvoiceStatus::Open)
        }
        MailKind::Receipt => status == InvoiceStatus::Paid,
    }
}

/// The mail counts of one pass, for `bill --json`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub invoice_emails: u32,
    pub reminders: u32,
    pub receipts: u32,
    pub problems: u32,
    /// A sender-side failure stopped the pass: `config_error` or
    /// `unreachable`.
    pub sender_problem: Option<&'static str>,
}

/// The templates: `TEMPLATES_DIR/invoice_mail.toml`, else the built-in ones.
pub fn pack(ctx: &Ctx) -> std::result::Result<MailPack, String> {
    let file = ctx.config.email.templates_dir.join(words::FILE_NAME);
    if file.is_file() {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        return MailPack::parse(&file.display().to_string(), &text);
    }
    MailPack::parse("built-in invoice_mail.toml", words::BUILTIN)
}

/// Whether Stripe could give this draft a payment link: Stripe is on and
/// the amount is in range (or approved, up to the hard ceiling).
pub fn linkable(ctx: &Ctx, inv: &Invoice, approved: bool) -> bool {
    let cfg = &ctx.config.stripe;
    if cfg.mode.effective != StripeMode::Enabled {
        return false;
    }
    in_range(ctx, inv, approved)
}

/// Why a draft has no payment link, and what would give it one, in the
/// operator's words.
pub fn why_no_link(ctx: &Ctx, inv: &Invoice, approved: bool) -> String {
    let cfg = &ctx.config.stripe;
    let amount = format_amount(inv.amount_cents, &inv.currency);
    if cfg.mode.effective != StripeMode::Enabled {
        return format!(
            "Stripe is not enabled ({}): no payment link is made; set ENABLE_STRIPE=TRUE with a key, or PAYMENT_INSTRUCTIONS for another way to pay",
            cfg.mode
                .reason
                .as_deref()
                .unwrap_or("ENABLE_STRIPE is not TRUE")
        );
    }
    if in_range(ctx, inv, approved) {
        return "its payment link is made by the next `hoss bill`".into();
    }
    if inv.amount_cents < cfg.min_amount {
        return format!(
            "{amount} is below STRIPE_MIN_AMOUNT {}",
            format_amount(cfg.min_amount, &inv.currency)
        );
    }
    if inv.amount_cents > cfg.hard_max_amount {
        return format!(
            "{amount} is above STRIPE_HARD_MAX_AMOUNT {}: no approval can link it; void it with `hoss invoice void {} --write-off` and bill the work as smaller tasks",
            format_amount(cfg.hard_max_amount, &inv.currency),
            inv.id
        );
    }
    format!(
        "{amount} is above STRIPE_MAX_AMOUNT {}: `hoss invoice approve {}` lets the next `hoss bill` link it",
        format_amount(cfg.max_amount, &inv.currency),
        inv.id
    )
}

/// The amount limits of SPEC §6, with one approved invoice allowed up to
/// `STRIPE_HARD_MAX_AMOUNT`. Limits are in the configured currency; an
/// invoice in another one is not compared to them.
pub fn in_range(ctx: &Ctx, inv: &Invoice, approved: bool) -> bool {
    let cfg = &ctx.config.stripe;
    let max = if approved {
        cfg.hard_max_amount
    } else {
        cfg.max_amount
    };
    inv.currency != cfg.currency || (inv.amount_cents >= cfg.min_amount && inv.amount_cents <= max)
}

/// The mail pass of `bill`.
pub fn pass(ctx: &Ctx) -> Result<Counts> {
    let mut counts = Counts::default();
    let inv_cfg = &ctx.config.invoicing;
    if !inv_cfg.emails {
        return Ok(counts);
    }
    let abandoned = ctx
        .db()
        .immediate(|tx| outbox::recover_stale(tx, ctx.now()))?;
    for a in &abandoned {
        warn!(
            "[EMAIL][UNCERTAIN] to={} reserved_at={} reason=\"the sending process ended before recording an answer; not re-sent\"",
            a.recipient,
            rfc3339(a.at)
        );
    }
    let pack = match pack(ctx) {
        Ok(p) => p,
        Err(e) => {
            error!(
                "[BILLING][EMAIL_TEMPLATE_ERROR] error={e:?} (no invoice mail is sent until the templates are fixed; the invoices stay as they are)"
            );
            counts.problems += 1;
            return Ok(counts);
        }
    };
    let mut mailer = ctx.mailer();
    let now = ctx.now();
    let mut work: Vec<(i64, MailKind, i64)> = Vec::new();
    // First notices: open invoices, and drafts that cannot get a link when
    // the operator says how else to pay.
    // A draft announced with the payment instructions is announced again
    // once it opens, with its payment link.
    for id in q::candidates(ctx.db(), q::announce_after_id(ctx.db())?, now)? {
        let Some(inv) = invoices::get(ctx.db(), id)? else {
            continue;
        };
        let announced = q::settled(ctx.db(), id, MailKind::Invoice, FIRST)?;
        let step = if inv.status == InvoiceStatus::Open {
            if q::open_notice_settled(ctx.db(), id)? {
                continue;
            }
            if announced {
                q::next_step(ctx.db(), id, MailKind::Invoice)?
            } else {
                FIRST
            }
        } else {
            let (_, approved) = q::terms(ctx.db(), id)?;
            if announced
                || inv_cfg.payment_instructions.is_none()
                || linkable(ctx, &inv, approved.is_some())
            {
                continue;
            }
            FIRST
        };
        work.push((id, MailKind::Invoice, step));
    }
    // Reminders: the latest reminder day reached, once.
    for (id, due) in q::overdue_announced(ctx.db(), now)? {
        let reached = inv_cfg
            .reminder_days
            .iter()
            .copied()
            .filter(|d| due + i64::from(*d) * 86_400 <= now)
            .max();
        if let Some(day) = reached
            && !q::settled(ctx.db(), id, MailKind::Reminder, i64::from(day))?
        {
            work.push((id, MailKind::Reminder, i64::from(day)));
        }
    }
    for id in q::paid_without_receipt(ctx.db(), now - RECEIPT_WINDOW_SECS)? {
        work.push((id, MailKind::Receipt, FIRST));
    }
    for (id, kind, step) in work {
        let Some(inv) = invoices::get(ctx.db(), id)? else {
            continue;
        };
        match send(ctx, mailer.as_mut(), &pack, &inv, kind, step, false)? {
            Outcome::Sent | Outcome::Simulated => match kind {
                MailKind::Invoice => counts.invoice_emails += 1,
                MailKind::Reminder => counts.reminders += 1,
                MailKind::Receipt => counts.receipts += 1,
            },
            Outcome::Taken | Outcome::Moot(_) => {}
            Outcome::Suppressed(_) | Outcome::Problem(_) => counts.problems += 1,
            Outcome::Failed { delivery, .. } => {
                counts.problems += 1;
                if let Some(p) = sender_problem(delivery) {
                    counts.sender_problem = Some(p);
                    break;
                }
                if delivery == Delivery::Transient {
                    warn!(
                        "[BILLING][EMAIL_STOPPED] reason=\"transient failure; the next pass tries again\""
                    );
                    break;
                }
            }
        }
        ctx.flush_log();
    }
    Ok(counts)
}

/// Sends one mail about `inv` (the pass, or `invoice send` with `force`
/// for a suppressed address), recorded in the ledger whatever happens —
/// unless the invoice's status no longer calls for it (checked again in the
/// reservation's transaction).
pub fn send(
    ctx: &Ctx,
    mailer: &mut dyn Mailer,
    pack: &MailPack,
    inv: &Invoice,
    kind: MailKind,
    step: i64,
    force: bool,
) -> Result<Outcome> {
    let now = ctx.now();
    if !fits(kind, inv.status) {
        return Ok(Outcome::Moot(inv.status));
    }
    let mode = mailer.mode();
    let customer = customers::get(ctx.db(), inv.customer_id)?;
    let address = customer
        .as_ref()
        .and_then(|c| normalize_email(&c.contact_email));
    let attempt = |recipient| q::Attempt {
        invoice_id: inv.id,
        kind,
        step,
        recipient,
        mode: mode.as_str(),
        status: inv.status.as_str(),
    };
    let Some(to) = address else {
        let recipient = customer.map(|c| c.contact_email).unwrap_or_default();
        let why = format!(
            "customer {id} has no usable contact email ({recipient:?}): `hoss customer set-email {id} ADDRESS`, then `hoss invoice send {}`",
            inv.id,
            id = inv.customer_id
        );
        q::record(
            ctx.db(),
            &attempt(&recipient),
            "failed",
            Some(&why),
            false,
            now,
        )?;
        warn!(
            "[BILLING][NO_CONTACT] invoice_id={} kind={} reason={why:?}",
            inv.id,
            kind.as_str()
        );
        return Ok(Outcome::Problem(why));
    };
    let customer = customer.expect("an address comes from a customer");
    // A draft's notice starts its due date, stored only once the notice may
    // go (a simulated, suppressed or failed one told the customer nothing).
    let starts_due = (inv.status == InvoiceStatus::Draft && kind == MailKind::Invoice)
        .then(|| now + i64::from(ctx.config.invoicing.due_days) * 86_400);
    let facts = facts(ctx, inv, &customer, kind, starts_due)?;
    let message = match pack.render(message_of(kind), &facts) {
        Ok((subject, body)) => compose::message(&sender(ctx), &to, &subject, &body),
        Err(e) => {
            let why = format!("template: {e}");
            // Transient: the next pass tries again once the file is fixed.
            q::record(ctx.db(), &attempt(&to), "failed", Some(&why), true, now)?;
            error!(
                "[BILLING][EMAIL_TEMPLATE_ERROR] invoice_id={} kind={} error={why:?} (the invoice stays {})",
                inv.id,
                kind.as_str(),
                inv.status
            );
            return Ok(Outcome::Problem(why));
        }
    };
    if mode == EmailMode::DryRun {
        let result = mailer.send(&message);
        q::record(ctx.db(), &attempt(&to), "dry_run", None, false, now)?;
        log_result(None, &message, &result);
        info!(
            "[BILLING][EMAIL][DRY_RUN] invoice_id={} kind={} step={step} to={to}",
            inv.id,
            kind.as_str()
        );
        return Ok(Outcome::Simulated);
    }
    let refused = outbox::suppression_reason(ctx.db(), &to, true)?
        .filter(|r| !(force && r.starts_with("suppressed")));
    if let Some(reason) = refused {
        q::record(
            ctx.db(),
            &attempt(&to),
            "suppressed",
            Some(&reason),
            false,
            now,
        )?;
        warn!(
            "[BILLING][EMAIL_SUPPRESSED] invoice_id={} kind={} to={to} reason={reason:?} (`hoss invoice send {} --force` sends it anyway)",
            inv.id,
            kind.as_str(),
            inv.id
        );
        return Ok(Outcome::Suppressed(reason));
    }
    let reserved = ctx.db().immediate(|tx| {
        let status = invoices::get(tx, inv.id)?.map_or(InvoiceStatus::Void, |i| i.status);
        if !fits(kind, status) {
            return Ok(Err(status));
        }
        let reserved = q::record(tx, &attempt(&to), "reserved", None, false, now)?;
        if let (Some(_), Some(due)) = (reserved, starts_due) {
            q::set_due(tx, inv.id, due)?;
        }
        Ok(Ok(reserved))
    })?;
    let ledger_id = match reserved {
        Err(status) => return Ok(Outcome::Moot(status)),
        Ok(None) => return Ok(Outcome::Taken),
        Ok(Some(id)) => id,
    };
    let message_id = crate::commands::mail::message_id(ledger_id, &ctx.config.email.from_email)?;
    q::set_message_id(ctx.db(), ledger_id, &message_id)?;
    let mut message = message;
    message.message_id = Some(format!("<{message_id}>"));
    message.send_id = Some(ledger_id);
    let result = mailer.send(&message);
    let finished = ctx.now();
    ctx.db().immediate(|tx| {
        outbox::finish(tx, ledger_id, None, &message.subject, &result, finished)?;
        // A notice that did not go told the customer nothing: the draft's
        // due date it started is taken back (unless a notice went, or may
        // have: `unset_due` checks the ledger).
        if let (Some(due), false) = (starts_due, result.delivery == Delivery::Sent) {
            q::unset_due(tx, inv.id, due)?;
        }
        Ok(())
    })?;
    log_result(None, &message, &result);
    Ok(match result.delivery {
        Delivery::Sent => {
            info!(
                "[BILLING][EMAIL_SENT] invoice_id={} kind={} step={step} to={to}",
                inv.id,
                kind.as_str()
            );
            Outcome::Sent
        }
        delivery => Outcome::Failed {
            delivery,
            error: result.error.unwrap_or_default(),
        },
    })
}

fn message_of(kind: MailKind) -> Message {
    match kind {
        MailKind::Invoice => Message::Invoice,
        MailKind::Reminder => Message::Reminder,
        MailKind::Receipt => Message::Receipt,
    }
}

fn date(t: i64) -> String {
    crate::clock::utc(t).format("%Y-%m-%d").to_string()
}

/// What the templates may say about `inv`.
fn facts(
    ctx: &Ctx,
    inv: &Invoice,
    customer: &customers::Customer,
    kind: MailKind,
    starts_due: Option<i64>,
) -> Result<Facts> {
    let now = ctx.now();
    let due_at = q::terms(ctx.db(), inv.id)?.0.or(starts_due);
    let lines = q::lines(ctx.db(), inv.id)?
        .into_iter()
        .map(|(description, cents)| Line {
            description,
            amount: format_amount(Cents(cents), &inv.currency),
        })
        .collect();
    let portal_url = match &ctx.config.portal_base_url {
        Some(base) => {
            customers::ensure_tokens(ctx.db())?;
            customers::get(ctx.db(), customer.id)?
                .and_then(|c| c.public_token)
                .map(|token| format!("{base}/{token}/"))
        }
        None => None,
    };
    let open = inv.status == InvoiceStatus::Open;
    let cfg = &ctx.config;
    Ok(Facts {
        number: inv.id,
        amount: format_amount(inv.amount_cents, &inv.currency),
        customer: customer.company.clone(),
        first_name: customer.contact_name.as_deref().and_then(first_name),
        lines,
        pay_url: inv.payment_url.clone().filter(|_| open && inv.link_active),
        payment_instructions: cfg
            .invoicing
            .payment_instructions
            .clone()
            .filter(|_| kind != MailKind::Receipt),
        portal_url,
        due_date: due_at.map(date),
        days_overdue: due_at
            .filter(|d| *d < now && kind == MailKind::Reminder)
            .map(|d| (now - d) / 86_400),
        paid_date: inv.paid_at.map(|t| date(t.0)),
        sender_name: cfg.email.sender_name.clone(),
        sender_company: cfg
            .email
            .company_name
            .clone()
            .unwrap_or_else(|| cfg.email.from_name.clone()),
    })
}
