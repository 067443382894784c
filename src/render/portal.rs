//! Portal and public pages as HTML (askama templates in `templates/`,
//! auto-escaped: every dynamic value is HTML-escaped). A customer's page is
//! the same for `portal-export` and `serve`: [`customer_pages`] reads what
//! a batch of pages shows through `db/` in two queries and renders it
//! (`portal-export`); [`customer_page`] is a batch of one (`serve`).

use std::collections::HashMap;

use askama::Template;

use crate::config::Config;
use crate::db::invoices::{self, Invoice};
use crate::db::tasks::{self, Task};
use crate::db::{self, customers::Customer};
use crate::domain::portal::{InvoiceFact, Page, TaskFact, Terms, page};
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

/// The HTML page of one customer, from the database as it is at `now` (the
/// context clock: an open invoice past its due date shows as overdue).
pub fn customer_page(
    db: db::Db<'_>,
    config: &Config,
    customer: &Customer,
    now: i64,
) -> Result<String> {
    customer_pages(db, config, std::slice::from_ref(customer), now)?
        .pop()
        .ok_or_else(|| crate::error::Error::Internal("a batch of one customer gave no page".into()))
}

/// The page of each of `customers` (ordered by id), in their order:
/// [`customer_page`] for a batch, in two queries whatever its size
/// (`portal-export`).
pub fn customer_pages(
    db: db::Db<'_>,
    config: &Config,
    customers: &[Customer],
    now: i64,
) -> Result<Vec<String>> {
    let (Some(first), Some(last)) = (customers.first(), customers.last()) else {
        return Ok(Vec::new());
    };
    let mut invoices_of: HashMap<i64, Vec<Invoice>> = HashMap::new();
    for i in invoices::for_customers(db, first.id, last.id)? {
        invoices_of.entry(i.customer_id).or_default().push(i);
    }
    let mut tasks_of: HashMap<i64, Vec<Task>> = HashMap::new();
    for t in tasks::recent_for_customers(db, first.id, last.id, RECENT_TASKS)? {
        tasks_of.entry(t.customer_id).or_default().push(t);
    }
    customers
        .iter()
        .map(|c| {
            let invoices = invoices_of.remove(&c.id).unwrap_or_default();
            let tasks = tasks_of.remove(&c.id).unwrap_or_default();
            page_of(config, c, invoices, tasks, now)
        })
        .collect()
}

/// A customer's page from their invoices (oldest first) and recent tasks
/// (newest first).
fn page_of(
    config: &Config,
    customer: &Customer,
    invoices: Vec<Invoice>,
    tasks: Vec<Task>,
    now: i64,
) -> Result<String> {
    let invoice_facts: Vec<InvoiceFact> = invoices
        .into_iter()
        .map(|i| InvoiceFact {
            number: i.id,
            created_at: i.created_at,
            status: i.status,
            amount_cents: i.amount_cents,
            currency: i.currency,
            payment_url: i.payment_url,
            due_at: i.due_at,
        })
        .collect();
    let task_facts: Vec<TaskFact> = tasks
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
            &Terms {
                stripe_enabled: config.stripe.enabled(),
                currency: &config.stripe.currency,
                now,
                payment_instructions: config.invoicing.payment_instructions.as_deref(),
            },
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
    fn a_batch_of_pages_is_each_customer_s_own_page() {
        crate::db::on_each_store(|db| {
            let config = Config::from_env(&HashMap::new()).unwrap();
            // Customer 2 has nothing, 3 more tasks than a page shows, 4 is
            // missing from the ids, 5 has invoices only.
            db.execute_batch(
                "INSERT INTO customer (id, company, contact_email, created_at) VALUES
                   (1, 'One', 'a@one.com', 0), (2, 'Two', 'b@two.com', 0),
                   (3, 'Three', 'c@three.com', 0), (5, 'Five', 'e@five.com', 0);",
            )
            .unwrap();
            for (customer, n) in [(1, 3), (3, 12), (5, 0)] {
                for i in 0..n {
                    db.execute(
                        "INSERT INTO task (customer_id, description, status, amount_cents, created_at)
                         VALUES (?1, ?2, 'pending', 100, ?3)",
                        crate::db::params![customer, format!("task {customer}.{i}"), i],
                    )
                    .unwrap();
                }
            }
            for (customer, n) in [(1, 2), (3, 1), (5, 4)] {
                for i in 0..n {
                    db.execute(
                        "INSERT INTO invoice (customer_id, amount_cents, currency, status, created_at)
                         VALUES (?1, ?2, 'usd', 'draft', ?3)",
                        crate::db::params![customer, 1000 + i, 10 + i],
                    )
                    .unwrap();
                }
            }
            let customers = crate::db::customers::list_after(db, 0, 10).unwrap();
            let batch = customer_pages(db, &config, &customers, 100).unwrap();
            assert_eq!(batch.len(), 4);
            for (c, html) in customers.iter().zip(&batch) {
                assert_eq!(
                    *html,
                    customer_page(db, &config, c, 100).unwrap(),
                    "{}",
                    c.company
                );
            }
            assert!(batch[2].contains("task 3.11") && !batch[2].contains("task 3.1<"));
            assert!(!batch[1].contains("task "), "{}", batch[1]);
        });
    }

    #[test]
    fn every_dynamic_value_is_escaped() {
        let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>";
        let p = page(
            evil,
            &[InvoiceFact {
                number: 1,
                created_at: Timestamp(0),
                status: InvoiceStatus::Open,
                amount_cents: Cents(100),
                currency: "usd".into(),
                payment_url: Some("javascript:alert(1)".into()),
                due_at: Some(Timestamp(0)),
            }],
            &[TaskFact {
                description: evil.into(),
                status: TaskStatus::Done,
                at: Timestamp(0),
            }],
            &Terms {
                stripe_enabled: true,
                currency: "usd",
                now: 1,
                payment_instructions: Some(evil),
            },
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
        assert!(html.contains("overdue since 1970-01-01"), "{html}");
    }

    #[test]
    fn payment_instructions_are_escaped_and_keep_their_lines() {
        let draft = InvoiceFact {
            number: 1,
            created_at: Timestamp(0),
            status: InvoiceStatus::Draft,
            amount_cents: Cents(100),
            currency: "usd".into(),
            payment_url: None,
            due_at: Some(Timestamp(86_400)),
        };
        let terms = Terms {
            stripe_enabled: false,
            currency: "usd",
            now: 0,
            payment_instructions: Some("Bank <b>X</b> & Co\nIBAN DE00 1234"),
        };
        let html = portal(&page("A", &[draft], &[], &terms), "").unwrap();
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains("Bank &#60;b&#62;X&#60;/b&#62; &#38; Co<br>IBAN DE00 1234")
                || html.contains("Bank &lt;b&gt;X&lt;/b&gt; &amp; Co<br>IBAN DE00 1234"),
            "{html}"
        );
        assert!(
            html.contains("due 1970-01-02") && !html.contains("view only"),
            "{html}"
        );
    }
}
