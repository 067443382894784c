//! The customer's mail about invoices (SPEC §16): whether hoss sends it,
//! when an invoice is due, when it reminds, and how a customer pays an
//! invoice that has no payment link.

use super::keys::{Raw, parse_switch, quote_value};
use super::notices::Notice;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoicing {
    /// `INVOICE_EMAILS=ON` (default): `bill` emails invoices, reminders and
    /// receipts through the effective mailer.
    pub emails: bool,
    /// `INVOICE_DUE_DAYS` (14): an invoice is due this long after it opens.
    pub due_days: u32,
    /// `INVOICE_REMINDER_DAYS` (`3,7,14`): days after the due date, sorted.
    pub reminder_days: Vec<u32>,
    /// `PAYMENT_INSTRUCTIONS`: how to pay an invoice without a payment link
    /// (a bank transfer, a cheque …), in its email and on the portal.
    pub payment_instructions: Option<String>,
    /// Settings that could not be read, each with what is done instead:
    /// `check` fails on them, `status` warns.
    pub problems: Vec<String>,
}

pub(super) fn resolve_invoicing(raw: &Raw, notices: &mut Vec<Notice>) -> Invoicing {
    let mut problems = Vec::new();
    let emails = match raw.get("INVOICE_EMAILS") {
        None => true,
        Some(v) => parse_switch(v).unwrap_or_else(|| {
            problems.push(format!(
                "INVOICE_EMAILS {} is not ON or OFF: invoice emails are OFF",
                quote_value(v)
            ));
            false
        }),
    };
    let due_days = raw
        .uint("INVOICE_DUE_DAYS", 14, 1, 365)
        .unwrap_or_else(|e| {
            problems.push(format!("{e}: invoices are due after 14 days"));
            14
        });
    let reminder_days = match raw.get("INVOICE_REMINDER_DAYS") {
        None => vec![3, 7, 14],
        Some(v) => parse_days(v).unwrap_or_else(|e| {
            problems.push(format!(
                "INVOICE_REMINDER_DAYS {}: {e} (days after the due date, separated by commas: 3,7,14): no reminders are sent",
                quote_value(v)
            ));
            Vec::new()
        }),
    };
    let payment_instructions = raw
        .get("PAYMENT_INSTRUCTIONS")
        .map(|v| v.replace("\\n", "\n").trim().to_string())
        .filter(|v| !v.is_empty());
    notices.extend(
        problems
            .iter()
            .map(|p| Notice::warn(format!("[CONFIG][INVALID] {p}"))),
    );
    Invoicing {
        emails,
        due_days,
        reminder_days,
        payment_instructions,
        problems,
    }
}

/// `3,7,14` → [3, 7, 14]; `none` → no reminders. Each day 1–365, at most
/// ten of them.
fn parse_days(v: &str) -> Result<Vec<u32>, String> {
    if v.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let mut days = Vec::new();
    for part in v.split(',').map(str::trim) {
        let day = part
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=365).contains(d) && part.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("{part:?} is not a day count from 1 to 365"))?;
        days.push(day);
    }
    days.sort_unstable();
    days.dedup();
    if days.len() > 10 {
        return Err("more than ten reminders".into());
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminder_days_are_sorted_whole_days() {
        assert_eq!(parse_days("14, 3,7,3"), Ok(vec![3, 7, 14]));
        assert_eq!(parse_days("none"), Ok(vec![]));
        for bad in [
            "",
            "0",
            "3,x",
            "1.5",
            "-3",
            "400",
            "1,2,3,4,5,6,7,8,9,10,11",
        ] {
            assert!(parse_days(bad).is_err(), "{bad}");
        }
    }
}
