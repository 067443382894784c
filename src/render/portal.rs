//! Portal and public pages as HTML (askama templates in `templates/`,
//! auto-escaped: every dynamic value is HTML-escaped). A customer's page is
//! the same for `portal-export` and `serve`: [`customer_page`] reads what it
//! shows through `db/` and renders it.

use askama::Template;

use crate::config::Config;
use crate::db::{self, customers::Customer, invoices, tasks};
use crate::domain::portal::{InvoiceFact, Page, TaskFact, page};
use crate::error::{Error, Result};

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalHtml<'a> {
    page: &'a Page,
    /// The operator's company (`COMPANY_NAME`), at the top of every page.
    brand: &'a str,
}

/// Says nothing about anyone: no brand either.
#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundHtml {
    brand: &'static str,
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribeHtml<'a> {
    email: &'a str,
    done: bool,
    brand: &'a str,
}

fn rendered(r: askama::Result<String>) -> Result<String> {
    r.map_err(|e| Error::Internal(format!("cannot render a page: {e}")))
}

pub fn portal(page: &Page, brand: &str) -> Result<String> {
    rendered(PortalHtml { page, brand }.render())
}

const RECENT_TASKS: u32 = 10;

/// The HTML page of one customer, from the database as it is now.
pub fn customer_page(
    conn: &rusqlite::Connection,
    config: &Config,
    customer: &Customer,
) -> Result<String> {
    let invoice_facts: Vec<InvoiceFact> =
        invoices::list(conn, Some(customer.id), None, db::Page::ALL)?
            .rows
            .into_iter()
            .map(|i| InvoiceFact {
                created_at: i.created_at,
                status: i.status,
                amount_cents: i.amount_cents,
                currency: i.currency,
                payment_url: i.payment_url,
            })
            .collect();
    let task_facts: Vec<TaskFact> = tasks::recent_for_customer(conn, customer.id, RECENT_TASKS)?
        .into_iter()
        .map(|t| TaskFact {
            description: t.description,
            at: t.completed_at.unwrap_or(t.created_at),
            status: t.status,
        })
        .collect();
    portal(
        &page(
            &customer.company,
            &invoice_facts,
            &task_facts,
            config.stripe.enabled(),
            &config.stripe.currency,
        ),
        config.email.company_name.as_deref().unwrap_or_default(),
    )
}

pub fn not_found() -> Result<String> {
    rendered(NotFoundHtml { brand: "" }.render())
}

pub fn unsubscribe(email: &str, done: bool, brand: &str) -> Result<String> {
    rendered(UnsubscribeHtml { email, done, brand }.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::domain::status::{InvoiceStatus, TaskStatus};
    use crate::money::Cents;

    #[test]
    fn every_dynamic_value_is_escaped() {
        let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>";
        let p = page(
            evil,
            &[InvoiceFact {
                created_at: Timestamp(0),
                status: InvoiceStatus::Open,
                amount_cents: Cents(100),
                currency: "usd".into(),
                payment_url: Some("javascript:alert(1)".into()),
            }],
            &[TaskFact {
                description: evil.into(),
                status: TaskStatus::Done,
                at: Timestamp(0),
            }],
            true,
            "usd",
        );
        let html = portal(&p, evil).unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("<img"),
            "{html}"
        );
        assert!(
            html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("javascript:"));
        assert!(!html.contains("PAY NOW"));
    }
}
