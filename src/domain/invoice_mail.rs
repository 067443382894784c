//! The words of the customer's mail about an invoice (SPEC §16): the
//! invoice, a reminder, a receipt, each a subject and a body template in one
//! TOML file (`config/templates/invoice_mail.toml`, built in; a file of the
//! same name in `TEMPLATES_DIR` replaces it). Pure: the caller reads the
//! file and gathers the facts.

use serde::{Deserialize, Serialize};

use super::templates::render_serialized;

pub const BUILTIN: &str = include_str!("../../config/templates/invoice_mail.toml");
pub const FILE_NAME: &str = "invoice_mail.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Words {
    subject: String,
    body: String,
}

/// The three messages' templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailPack {
    invoice: Words,
    reminder: Words,
    receipt: Words,
}

/// One task line of an invoice.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Line {
    pub description: String,
    pub amount: String,
}

/// What a message may say about its invoice; `None` is "none" to the
/// template.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Facts {
    pub number: i64,
    /// The total with its currency: `1500.00 USD`.
    pub amount: String,
    pub customer: String,
    pub first_name: Option<String>,
    pub lines: Vec<Line>,
    pub pay_url: Option<String>,
    pub payment_instructions: Option<String>,
    pub portal_url: Option<String>,
    pub due_date: Option<String>,
    pub days_overdue: Option<i64>,
    pub paid_date: Option<String>,
    pub sender_name: String,
    pub sender_company: String,
}

/// Which message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    Invoice,
    Reminder,
    Receipt,
}

impl MailPack {
    /// Reads a pack, and checks that each template renders for a sample
    /// invoice (so a broken file is caught before a customer's turn).
    pub fn parse(origin: &str, text: &str) -> Result<MailPack, String> {
        let pack: MailPack =
            toml::from_str(text).map_err(|e| format!("{origin}: {}", e.message()))?;
        for m in [Message::Invoice, Message::Reminder, Message::Receipt] {
            pack.render(m, &Facts::sample())
                .map_err(|e| format!("{origin}: {e}"))?;
        }
        Ok(pack)
    }

    /// The subject (one line) and body of message `m`.
    pub fn render(&self, m: Message, facts: &Facts) -> Result<(String, String), String> {
        let (name, words) = match m {
            Message::Invoice => ("invoice", &self.invoice),
            Message::Reminder => ("reminder", &self.reminder),
            Message::Receipt => ("receipt", &self.receipt),
        };
        let subject = render_serialized(&words.subject, facts)
            .map_err(|e| format!("[{name}] subject: {e}"))?;
        let body =
            render_serialized(&words.body, facts).map_err(|e| format!("[{name}] body: {e}"))?;
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        if subject.is_empty() {
            return Err(format!("[{name}] subject is empty"));
        }
        Ok((subject, tidy(&body)))
    }
}

/// Lines trimmed at the end, no more than one blank line in a row, no
/// blank lines at either end.
fn tidy(body: &str) -> String {
    let mut out = String::new();
    let mut blank = true;
    for line in body.lines().map(str::trim_end) {
        if line.is_empty() {
            if !blank {
                out.push('\n');
            }
            blank = true;
        } else {
            out.push_str(line);
            out.push('\n');
            blank = false;
        }
    }
    out.trim_end().to_string() + "\n"
}

impl Facts {
    /// A plausible invoice, to check templates with: every value present.
    pub fn sample() -> Facts {
        let s = |v: &str| Some(v.to_string());
        Facts {
            number: 42,
            amount: "1500.00 USD".into(),
            customer: "Northwind Dental Partners".into(),
            first_name: s("Alexandra"),
            lines: vec![Line {
                description: "Monthly operations".into(),
                amount: "1500.00 USD".into(),
            }],
            pay_url: s("https://buy.stripe.com/test_123"),
            payment_instructions: s("Bank transfer to IBAN XX00 0000"),
            portal_url: s("https://portal.example.com/abc/"),
            due_date: s("2026-12-14"),
            days_overdue: Some(3),
            paid_date: s("2026-12-10"),
            sender_name: "Sam Carter".into(),
            sender_company: "Carter Consulting".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> MailPack {
        MailPack::parse("built in", BUILTIN).unwrap()
    }

    #[test]
    fn the_invoice_names_lines_total_link_portal_and_due_date() {
        let (subject, body) = builtin()
            .render(Message::Invoice, &Facts::sample())
            .unwrap();
        assert_eq!(subject, "Invoice #42 from Carter Consulting — 1500.00 USD");
        for part in [
            "Hello Alexandra,",
            "Monthly operations: 1500.00 USD",
            "Total: 1500.00 USD",
            "Due by 2026-12-14.",
            "Pay now: https://buy.stripe.com/test_123",
            "https://portal.example.com/abc/",
        ] {
            assert!(body.contains(part), "{part} in {body}");
        }
        // With a link, no instructions; without one, the instructions.
        assert!(!body.contains("IBAN"));
        let facts = Facts {
            pay_url: None,
            ..Facts::sample()
        };
        let (_, body) = builtin().render(Message::Invoice, &facts).unwrap();
        assert!(
            body.contains("How to pay:\nBank transfer to IBAN XX00 0000"),
            "{body}"
        );
        assert!(!body.contains("\n\n\n"), "{body}");
    }

    #[test]
    fn missing_values_are_left_out_not_blank() {
        let facts = Facts {
            first_name: None,
            pay_url: None,
            payment_instructions: None,
            portal_url: None,
            due_date: None,
            days_overdue: None,
            paid_date: None,
            ..Facts::sample()
        };
        for m in [Message::Invoice, Message::Reminder, Message::Receipt] {
            let (_, body) = builtin().render(m, &facts).unwrap();
            assert!(body.starts_with("Hello,\n"), "{body}");
            assert!(
                !body.contains("Pay now") && !body.contains("portal"),
                "{body}"
            );
        }
    }

    #[test]
    fn a_broken_pack_is_refused_with_where_and_why() {
        let broken = BUILTIN.replace("{{ number }}", "{{ numbr }}");
        let e = MailPack::parse("mine.toml", &broken).unwrap_err();
        assert!(
            e.contains("mine.toml") && e.contains("[invoice] subject"),
            "{e}"
        );
        let e = MailPack::parse("mine.toml", "[invoice]\nsubject = 1\n").unwrap_err();
        assert!(e.starts_with("mine.toml:"), "{e}");
        let e = MailPack::parse("x", &BUILTIN.replace("{% endfor %}", "")).unwrap_err();
        assert!(e.contains("body"), "{e}");
    }
}
