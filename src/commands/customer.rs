//! `hoss customer list|show|add|set-status|rotate-token`: customers and
//! their portal tokens.

use std::io::Write;

use clap::Subcommand;
use log::info;
use serde::Serialize;

use crate::app::Ctx;
use crate::cli::PageArgs;
use crate::db::{self, customers, customers::Customer, invoices};
use crate::domain::status::CustomerStatus;
use crate::domain::token::new_token;
use crate::error::{Error, Result};
use crate::money::{self, Cents, format_total};
use crate::render::list::{self, List, Row};
use crate::render::{Report, Style, emit, or_dash};

#[derive(Debug, Subcommand)]
pub enum CustomerAction {
    /// List customers by id (with their portal tokens)
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one customer with totals and portal address
    Show { id: i64 },
    /// Add a customer by hand
    Add {
        #[arg(long)]
        company: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Set a customer's status: `paused` or `churned` stop `ops` running their pending work
    SetStatus { id: i64, status: CustomerStatus },
    /// Give a customer a new portal token (the old address stops working)
    RotateToken { id: i64 },
    /// Correct a customer's contact email (where invoices, reminders and receipts go)
    SetEmail { id: i64, email: String },
}

impl CustomerAction {
    pub fn name(&self) -> &'static str {
        match self {
            CustomerAction::List { .. } => "customer list",
            CustomerAction::Show { .. } => "customer show",
            CustomerAction::Add { .. } => "customer add",
            CustomerAction::RotateToken { .. } => "customer rotate-token",
            CustomerAction::SetStatus { .. } => "customer set-status",
            CustomerAction::SetEmail { .. } => "customer set-email",
        }
    }

    pub fn read_only(&self) -> bool {
        matches!(
            self,
            CustomerAction::List { .. } | CustomerAction::Show { .. }
        )
    }
}

/// Runs one `hoss customer …` action and writes its report.
pub fn run(ctx: &Ctx, action: CustomerAction, out: &mut dyn Write, style: Style) -> Result<i32> {
    match action {
        CustomerAction::List { page } => emit(out, &list(ctx, page.into())?, style),
        CustomerAction::Show { id } => emit(out, &show(ctx, id)?, style),
        CustomerAction::Add {
            company,
            email,
            name,
        } => emit(out, &add(ctx, &company, &email, name.as_deref())?, style),
        CustomerAction::SetStatus { id, status } => emit(out, &set_status(ctx, id, status)?, style),
        CustomerAction::RotateToken { id } => emit(out, &rotate_token(ctx, id)?, style),
        CustomerAction::SetEmail { id, email } => emit(out, &set_email(ctx, id, &email)?, style),
    }
}

impl Row for Customer {
    const HEADER: &'static [&'static str] =
        &["id", "company", "email", "status", "portal token", "since"];
    const EMPTY: &'static str = "no customers\n";

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.company.clone(),
            self.contact_email.clone(),
            self.status.to_string(),
            or_dash(self.public_token.as_ref()),
            self.created_at.to_string(),
        ]
    }
}

pub type CustomerList = List<Customer>;

pub fn list(ctx: &Ctx, page: db::Page) -> Result<CustomerList> {
    customers::ensure_tokens(ctx.db())?;
    let listed = customers::list(ctx.db(), page)?;
    Ok(List::page(listed, page))
}

#[derive(Debug, Serialize)]
pub struct CustomerShow {
    #[serde(flatten)]
    pub customer: Customer,
    /// Totals in minor units; null only when they are too large to count
    /// (amounts imported before hoss capped them).
    pub invoiced_cents: Option<Cents>,
    pub paid_cents: Option<Cents>,
    pub outstanding_cents: Option<Cents>,
    pub portal_url: Option<String>,
    #[serde(skip)]
    currency: String,
}

impl Report for CustomerShow {
    fn human(&self, terminal: bool) -> String {
        let mut s = list::rows(std::slice::from_ref(&self.customer), terminal);
        s.push_str(&format!(
            "invoiced {}, paid {}, outstanding {}\n",
            format_total(self.invoiced_cents, &self.currency),
            format_total(self.paid_cents, &self.currency),
            format_total(self.outstanding_cents, &self.currency)
        ));
        if let Some(u) = &self.portal_url {
            s.push_str(&format!("portal: {u}\n"));
        }
        s
    }
}

fn find(ctx: &Ctx, id: i64) -> Result<Customer> {
    customers::get(ctx.db(), id)?.ok_or_else(|| Error::Data(format!("there is no customer {id}")))
}

pub fn show(ctx: &Ctx, id: i64) -> Result<CustomerShow> {
    customers::ensure_tokens(ctx.db())?;
    let customer = find(ctx, id)?;
    let (invoiced, paid) = invoices::customer_totals(ctx.db(), id)?;
    let portal_url = match (&ctx.config.portal_base_url, &customer.public_token) {
        (Some(base), Some(token)) => Some(format!("{base}/{token}/")),
        _ => None,
    };
    Ok(CustomerShow {
        customer,
        invoiced_cents: money::fit(invoiced),
        paid_cents: money::fit(paid),
        outstanding_cents: money::fit(invoiced - paid),
        portal_url,
        currency: ctx.config.stripe.currency.clone(),
    })
}

pub fn add(ctx: &Ctx, company: &str, email: &str, name: Option<&str>) -> Result<CustomerShow> {
    let email = crate::domain::address::normalize_email(email)
        .ok_or_else(|| Error::Data(format!("{email:?} is not a valid e-mail address")))?;
    let company = crate::domain::leads::clean_text(Some(company))
        .ok_or_else(|| Error::Data("--company is empty".into()))?;
    let name = crate::domain::leads::clean_text(name);
    let token = new_token().map_err(Error::Internal)?;
    let id = ctx.db().immediate(|tx| {
        if let Some(existing) = customers::by_email(tx, &email)? {
            return Err(Error::Data(format!(
                "customer {} already has {email}",
                existing.id
            )));
        }
        Ok(customers::insert(
            tx,
            &company,
            name.as_deref(),
            &email,
            &token,
            ctx.now(),
        )?)
    })?;
    info!("[CUSTOMER][ADDED] customer_id={id}");
    show(ctx, id)
}

/// `active`, `paused` or `churned`: only active customers' pending work is
/// run by `ops`.
pub fn set_status(ctx: &Ctx, id: i64, status: CustomerStatus) -> Result<CustomerShow> {
    let before = find(ctx, id)?;
    ctx.db()
        .immediate(|tx| Ok(customers::set_status(tx, id, status)?))?;
    info!(
        "[CUSTOMER][STATUS] customer_id={id} from={} to={status} by=operator",
        before.status
    );
    show(ctx, id)
}

/// A corrected contact email: the customer's next mail goes there (mail
/// already refused for the old one is raised until an invoice mail goes).
pub fn set_email(ctx: &Ctx, id: i64, email: &str) -> Result<CustomerShow> {
    let before = find(ctx, id)?;
    let email = crate::domain::address::check_email(email)
        .map_err(|e| Error::Data(format!("{e}: the contact email is unchanged")))?;
    ctx.db().immediate(|tx| {
        // One address, one customer (as `add` refuses it).
        if let Some(other) = customers::by_email(tx, &email)?.filter(|c| c.id != id) {
            return Err(Error::Data(format!(
                "customer {} already has {email}: the contact email is unchanged",
                other.id
            )));
        }
        Ok(customers::set_email(tx, id, &email)?)
    })?;
    info!(
        "[CUSTOMER][EMAIL] customer_id={id} from={:?} to={email} by=operator",
        before.contact_email
    );
    show(ctx, id)
}

/// A new token: the old portal address stops working at the next export
/// (and at once in `hoss serve`).
pub fn rotate_token(ctx: &Ctx, id: i64) -> Result<CustomerShow> {
    find(ctx, id)?;
    let token = new_token().map_err(Error::Internal)?;
    ctx.db()
        .immediate(|tx| Ok(customers::set_token(tx, id, &token)?))?;
    info!("[CUSTOMER][TOKEN_ROTATED] customer_id={id}");
    show(ctx, id)
}
