//! The customer portal page as data: what a customer may see of their own
//! account and nothing else. Money is summed per currency; invoices show
//! their invoice number, the one their emails name and a customer quotes
//! when paying (SPEC §16: `Invoice #N`); the PAY NOW
//! rule, due dates and the payment instructions of a draft without a link
//! (SPEC §16) live here.

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
    /// The invoice number, as its emails name it.
    pub number: i64,
    pub date: String,
    /// `due`, `overdue`, `paid` or `void`.
    pub status: &'static str,
    pub amount: String,
    pub pay_url: Option<String>,
    /// An unpaid invoice with a due date: `due 2026-12-14`, or `overdue
    /// since 2026-12-14` for an open one past it.
    pub due: Option<String>,
    /// A draft without a payment link, when the operator set
    /// `PAYMENT_INSTRUCTIONS`: the page's [`Page::payment_instructions`]
    /// stand where PAY NOW would.
    pub pay_by_instructions: bool,
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
    /// `PAYMENT_INSTRUCTIONS`, one entry per line (the template escapes each
    /// and breaks the lines); empty when not set.
    pub payment_instructions: Vec<String>,
}

/// The facts of one invoice the page is built from (oldest first).
#[derive(Debug, Clone)]
pub struct InvoiceFact {
    pub number: i64,
    pub created_at: Timestamp,
    pub status: InvoiceStatus,
    pub amount_cents: Cents,
    pub currency: String,
    pub payment_url: Option<String>,
    pub due_at: Option<Timestamp>,
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

/// What the page is built with besides the customer's facts.
#[derive(Debug, Clone, Copy)]
pub struct Terms<'a> {
    /// The effective Stripe mode: PAY NOW appears only when it is on and
    /// the invoice is open with a safe link.
    pub stripe_enabled: bool,
    /// For the totals of a customer with no invoices yet.
    pub currency: &'a str,
    /// The time the page is for: an open invoice is overdue once its due
    /// date is before it.
    pub now: i64,
    /// `PAYMENT_INSTRUCTIONS`, for drafts without a payment link.
    pub payment_instructions: Option<&'a str>,
}

/// Builds the page.
pub fn page(
    customer_name: &str,
    invoices: &[InvoiceFact],
    tasks: &[TaskFact],
    terms: &Terms<'_>,
) -> Page {
    let Terms {
        stripe_enabled,
        currency,
        now,
        payment_instructions,
    } = *terms;
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
        .map(|inv| InvoiceLine {
            number: inv.number,
            date: inv.created_at.day(),
            status: match inv.status {
                InvoiceStatus::Paid => "paid",
                InvoiceStatus::Void => "void",
                InvoiceStatus::Draft | InvoiceStatus::Open if overdue(inv, now) => "overdue",
                InvoiceStatus::Draft | InvoiceStatus::Open => "due",
            },
            amount: format_amount(inv.amount_cents, &inv.currency),
            pay_url: inv.payment_url.clone().filter(|u| {
                stripe_enabled && inv.status == InvoiceStatus::Open && is_safe_pay_url(u)
            }),
            due: inv
                .due_at
                .filter(|_| matches!(inv.status, InvoiceStatus::Draft | InvoiceStatus::Open))
                .map(|d| {
                    if overdue(inv, now) {
                        format!("overdue since {}", d.day())
                    } else {
                        format!("due {}", d.day())
                    }
                }),
            pay_by_instructions: payment_instructions.is_some()
                && inv.status == InvoiceStatus::Draft
                && inv.payment_url.is_none(),
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
        payment_instructions: payment_instructions
            .map(|text| text.lines().map(str::to_string).collect())
            .unwrap_or_default(),
    }
}

/// Unpaid and past its due date (SPEC §16): `due_at < now`, as `status`
/// and the digest count it (a draft has a due date once announced).
fn overdue(inv: &InvoiceFact, now: i64) -> bool {
    matches!(inv.status, InvoiceStatus::Open | InvoiceStatus::Draft)
        && inv.due_at.is_some_and(|d| d.0 < now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(status: &str, cents: i64, url: Option<&str>) -> InvoiceFact {
        InvoiceFact {
            number: 7,
            created_at: Timestamp(1_795_615_200),
            status: status.parse().unwrap(),
            amount_cents: Cents(cents),
            currency: "usd".into(),
            payment_url: url.map(str::to_string),
            due_at: None,
        }
    }

    fn terms(stripe_enabled: bool) -> Terms<'static> {
        Terms {
            stripe_enabled,
            currency: "usd",
            now: 0,
            payment_instructions: None,
        }
    }

    #[test]
    fn totals_and_numbering() {
        let p = page(
            "Acme",
            &[("paid", 1000), ("open", 250), ("void", 999), ("draft", 5)]
                .iter()
                .zip([11, 12, 15, 20])
                .map(|((status, cents), number)| InvoiceFact {
                    number,
                    ..inv(status, *cents, None)
                })
                .collect::<Vec<_>>(),
            &[],
            &terms(true),
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
            [20, 15, 12, 11],
            "newest first, each by its invoice number"
        );
        assert_eq!(p.invoices[0].status, "due");
        assert_eq!(p.invoices[0].date, "2026-11-25");
    }

    #[test]
    fn pay_now_needs_stripe_an_open_invoice_and_a_safe_url() {
        let url = Some("https://buy.stripe.com/x");
        assert!(
            page("A", &[inv("open", 1, url)], &[], &terms(true)).invoices[0]
                .pay_url
                .is_some()
        );
        assert!(
            page("A", &[inv("open", 1, url)], &[], &terms(false)).invoices[0]
                .pay_url
                .is_none()
        );
        assert!(
            page("A", &[inv("paid", 1, url)], &[], &terms(true)).invoices[0]
                .pay_url
                .is_none()
        );
        assert!(
            page("A", &[inv("open", 1, None)], &[], &terms(true)).invoices[0]
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
                page("A", &[inv("open", 1, Some(bad))], &[], &terms(true)).invoices[0]
                    .pay_url
                    .is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn due_dates_overdue_and_instructions_for_a_linkless_draft() {
        // 2026-12-14T00:00:00Z
        let due = Timestamp(1_797_206_400);
        let with_due = |status: &str, url: Option<&str>| InvoiceFact {
            due_at: Some(due),
            ..inv(status, 100, url)
        };
        let facts = [
            with_due("open", Some("https://buy.stripe.com/x")),
            with_due("draft", None),
            with_due("paid", None),
            with_due("void", None),
            inv("draft", 100, None),
        ];
        let at = |now: i64, instructions: Option<&'static str>| {
            page(
                "A",
                &facts,
                &[],
                &Terms {
                    now,
                    payment_instructions: instructions,
                    ..terms(true)
                },
            )
        };
        // Lines are newest first: [draft without due, void, paid, draft, open].
        let before = at(due.0, Some("IBAN X\nref #N"));
        let shown = |p: &Page| {
            p.invoices
                .iter()
                .rev()
                .map(|l| (l.status, l.due.clone(), l.pay_by_instructions))
                .collect::<Vec<_>>()
        };
        let due_text = Some("due 2026-12-14".to_string());
        assert_eq!(
            shown(&before),
            [
                ("due", due_text.clone(), false),
                ("due", due_text.clone(), true),
                ("paid", None, false),
                ("void", None, false),
                ("due", None, true),
            ],
            "due at the very second is not overdue yet"
        );
        assert_eq!(before.payment_instructions, ["IBAN X", "ref #N"]);
        let after = at(due.0 + 1, None);
        assert_eq!(
            shown(&after)[..2],
            [
                (
                    "overdue",
                    Some("overdue since 2026-12-14".to_string()),
                    false
                ),
                (
                    "overdue",
                    Some("overdue since 2026-12-14".to_string()),
                    false
                ),
            ],
            "an open invoice and a draft announced with its due date are overdue; no instructions without PAYMENT_INSTRUCTIONS"
        );
        assert!(after.payment_instructions.is_empty());
    }
}
