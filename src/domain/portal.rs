//! The customer portal page as data: what a customer may see of their own
//! account and nothing else. Money is summed per currency; invoices are
//! numbered per customer (no database id ever reaches the page); the PAY NOW
//! rule lives here.

use crate::clock::Timestamp;
use crate::domain::status::{InvoiceStatus, TaskStatus};
use crate::money::{Cents, fit, format_amount};

/// A total as the customer sees it; one too large to count (a wrongly
/// imported amount) shows as a dash, never as a wrapped number and never
/// with a note about the system.
fn shown(total: i128, currency: &str) -> String {
    fit(total).map_or_else(|| "—".into(), |t| format_amount(t, currency))
}

/// One invoice as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    /// 1 for the customer's first invoice, 2 for the next…
    pub number: usize,
    pub date: String,
    /// `due`, `paid` or `void`.
    pub status: &'static str,
    pub amount: String,
    pub pay_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLine {
    pub description: String,
    pub status: TaskStatus,
    pub date: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub invoiced: String,
    pub paid: String,
    pub outstanding: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub customer_name: String,
    pub totals: Vec<Totals>,
    pub tasks: Vec<TaskLine>,
    pub invoices: Vec<InvoiceLine>,
}

/// The facts of one invoice the page is built from (oldest first).
#[derive(Debug, Clone)]
pub struct InvoiceFact {
    pub created_at: Timestamp,
    pub status: InvoiceStatus,
    pub amount_cents: Cents,
    pub currency: String,
    pub payment_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TaskFact {
    pub description: String,
    pub status: TaskStatus,
    pub at: Timestamp,
}

/// Only an https URL without anything that could break out of an attribute
/// may become a link.
pub fn is_safe_pay_url(url: &str) -> bool {
    url.starts_with("https://")
        && url.len() <= 2048
        && !url.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`')
        })
}

/// Builds the page. `stripe_enabled` is the effective Stripe mode: PAY NOW
/// appears only when it is on and the invoice is open with a safe link.
/// `currency` is used for the totals of a customer with no invoices yet.
pub fn page(
    customer_name: &str,
    invoices: &[InvoiceFact],
    tasks: &[TaskFact],
    stripe_enabled: bool,
    currency: &str,
) -> Page {
    // Exact sums: i128 holds any number of i64 amounts a page could show.
    let mut by_currency: Vec<(String, i128, i128, i128)> = Vec::new();
    for inv in invoices.iter().filter(|i| i.status != InvoiceStatus::Void) {
        let entry = match by_currency.iter_mut().find(|(c, ..)| *c == inv.currency) {
            Some(e) => e,
            None => {
                by_currency.push((inv.currency.clone(), 0, 0, 0));
                by_currency.last_mut().expect("just pushed")
            }
        };
        let amount = i128::from(inv.amount_cents.0);
        entry.1 += amount;
        if inv.status == InvoiceStatus::Paid {
            entry.2 += amount;
        } else {
            entry.3 += amount;
        }
    }
    if by_currency.is_empty() {
        by_currency.push((currency.to_string(), 0, 0, 0));
    }
    let totals = by_currency
        .into_iter()
        .map(|(c, invoiced, paid, outstanding)| Totals {
            invoiced: shown(invoiced, &c),
            paid: shown(paid, &c),
            outstanding: shown(outstanding, &c),
        })
        .collect();
    let mut lines: Vec<InvoiceLine> = invoices
        .iter()
        .enumerate()
        .map(|(i, inv)| InvoiceLine {
            number: i + 1,
            date: inv.created_at.day(),
            status: match inv.status {
                InvoiceStatus::Paid => "paid",
                InvoiceStatus::Void => "void",
                InvoiceStatus::Draft | InvoiceStatus::Open => "due",
            },
            amount: format_amount(inv.amount_cents, &inv.currency),
            pay_url: inv.payment_url.clone().filter(|u| {
                stripe_enabled && inv.status == InvoiceStatus::Open && is_safe_pay_url(u)
            }),
        })
        .collect();
    lines.reverse();
    Page {
        customer_name: customer_name.to_string(),
        totals,
        tasks: tasks
            .iter()
            .map(|t| TaskLine {
                description: t.description.clone(),
                status: t.status,
                date: t.at.day(),
            })
            .collect(),
        invoices: lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(status: &str, cents: i64, url: Option<&str>) -> InvoiceFact {
        InvoiceFact {
            created_at: Timestamp(1_795_615_200),
            status: status.parse().unwrap(),
            amount_cents: Cents(cents),
            currency: "usd".into(),
            payment_url: url.map(str::to_string),
        }
    }

    #[test]
    fn totals_and_numbering() {
        let p = page(
            "Acme",
            &[
                inv("paid", 1000, None),
                inv("open", 250, None),
                inv("void", 999, None),
                inv("draft", 5, None),
            ],
            &[],
            true,
            "usd",
        );
        assert_eq!(
            p.totals[0],
            Totals {
                invoiced: "12.55 USD".into(),
                paid: "10.00 USD".into(),
                outstanding: "2.55 USD".into()
            }
        );
        assert_eq!(
            p.invoices.iter().map(|i| i.number).collect::<Vec<_>>(),
            [4, 3, 2, 1],
            "newest first"
        );
        assert_eq!(p.invoices[0].status, "due");
        assert_eq!(p.invoices[0].date, "2026-11-25");
    }

    #[test]
    fn pay_now_needs_stripe_an_open_invoice_and_a_safe_url() {
        let url = Some("https://buy.stripe.com/x");
        assert!(
            page("A", &[inv("open", 1, url)], &[], true, "usd").invoices[0]
                .pay_url
                .is_some()
        );
        assert!(
            page("A", &[inv("open", 1, url)], &[], false, "usd").invoices[0]
                .pay_url
                .is_none()
        );
        assert!(
            page("A", &[inv("paid", 1, url)], &[], true, "usd").invoices[0]
                .pay_url
                .is_none()
        );
        assert!(
            page("A", &[inv("open", 1, None)], &[], true, "usd").invoices[0]
                .pay_url
                .is_none()
        );
        for bad in [
            "javascript:alert(1)",
            "http://buy.stripe.com/x",
            "https://x\" onclick=\"y",
            "https://a b",
        ] {
            assert!(
                page("A", &[inv("open", 1, Some(bad))], &[], true, "usd").invoices[0]
                    .pay_url
                    .is_none(),
                "{bad}"
            );
        }
    }
}
