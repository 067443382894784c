//! How the Python HossAgent's data maps onto hoss: statuses and its naive
//! UTC timestamps. Unknown values are reported, never guessed into
//! something that could email or bill someone.

use chrono::{NaiveDate, NaiveDateTime};

use crate::domain::status::{CustomerStatus, InvoiceStatus, LeadStatus, TaskStatus};
use crate::money::Cents;

/// Old lead status → hoss status. Unknown ones become `dead` (kept, never
/// emailed), with a note.
pub fn lead_status(old: Option<&str>) -> (LeadStatus, Option<String>) {
    use LeadStatus as S;
    match old.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("new") => (S::New, None),
        Some("contacted") => (S::Contacted, None),
        Some("responded") => (S::Responded, None),
        Some("qualified") => (S::Qualified, None),
        Some("email_failed") => (S::EmailFailed, None),
        Some("dead") => (S::Dead, None),
        Some("converted") => (S::Converted, None),
        Some("unsubscribed") => (S::Unsubscribed, None),
        Some(other) => (
            S::Dead,
            Some(format!("unknown status {other:?} imported as dead")),
        ),
    }
}

/// Old task status → hoss status; `running` has no process any more and
/// becomes `pending`. `Err` for an unknown status (the task is skipped).
pub fn task_status(old: Option<&str>) -> Result<(TaskStatus, Option<String>), String> {
    use TaskStatus as S;
    match old.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("pending") => Ok((S::Pending, None)),
        Some("running") => Ok((
            S::Pending,
            Some("was running in the old app; pending again".into()),
        )),
        Some("done") => Ok((S::Done, None)),
        Some("failed") => Ok((S::Failed, None)),
        Some(other) => Err(format!("unknown task status {other:?}")),
    }
}

/// Old invoice status → hoss status (`sent` is `open`). `Err` when unknown.
pub fn invoice_status(old: Option<&str>) -> Result<InvoiceStatus, String> {
    use InvoiceStatus as S;
    match old.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("draft") => Ok(S::Draft),
        Some("sent") | Some("open") => Ok(S::Open),
        Some("paid") => Ok(S::Paid),
        Some("void") | Some("cancelled") | Some("canceled") => Ok(S::Void),
        Some(other) => Err(format!("unknown invoice status {other:?}")),
    }
}

/// An old amount in minor units, capped like an entered one (at most
/// [`crate::money::max_minor`] of `currency`): an absurd amount would make
/// every total meaningless, so the row is skipped with the reason.
pub fn amount(value: Option<i64>, column: &str, currency: &str) -> Result<Cents, String> {
    let max = crate::money::max_minor(currency);
    match value {
        None => Err(format!("{column} is missing or not a whole number")),
        Some(a) if a < 0 => Err(format!("negative amount {a}")),
        Some(a) if a > max => Err(format!(
            "{column} {a} is above the largest amount hoss accepts ({} minor units of {})",
            max,
            currency.to_ascii_uppercase()
        )),
        Some(a) => Ok(Cents(a)),
    }
}

pub fn customer_status(old: Option<&str>) -> CustomerStatus {
    match old.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("paused") => CustomerStatus::Paused,
        Some("churned") | Some("cancelled") | Some("canceled") | Some("inactive") => {
            CustomerStatus::Churned
        }
        _ => CustomerStatus::Active,
    }
}

/// A naive UTC timestamp as SQLAlchemy/SQLite wrote it
/// (`2025-03-04 05:06:07.123456`, with `T` or without time), as unix seconds.
pub fn timestamp(text: Option<&str>) -> Option<i64> {
    let t = text?.trim();
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, format) {
            return Some(dt.and_utc().timestamp());
        }
    }
    let t = t.trim_end_matches('Z');
    if let Ok(dt) = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(dt.and_utc().timestamp());
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_safely() {
        assert_eq!(lead_status(Some("Contacted")).0, LeadStatus::Contacted);
        assert_eq!(lead_status(Some("weird")).0, LeadStatus::Dead);
        assert!(lead_status(Some("weird")).1.is_some());
        assert_eq!(task_status(Some("running")).unwrap().0, TaskStatus::Pending);
        assert!(task_status(Some("exploded")).is_err());
        assert_eq!(invoice_status(Some("sent")), Ok(InvoiceStatus::Open));
        assert!(invoice_status(Some("refunded")).is_err());
        assert_eq!(customer_status(Some("trial")), CustomerStatus::Active);
    }

    #[test]
    fn amounts_are_capped_like_entered_ones() {
        assert_eq!(
            amount(Some(15_000), "amount_cents", "usd"),
            Ok(Cents(15_000))
        );
        assert_eq!(
            amount(Some(1_000_000_000), "amount_cents", "usd"),
            Ok(Cents(1_000_000_000))
        );
        assert!(
            amount(Some(5_000_000_000_000_000_000), "amount_cents", "usd")
                .unwrap_err()
                .contains("largest amount")
        );
        assert!(amount(Some(1_000_000_001), "amount_cents", "usd").is_err());
        assert!(amount(Some(10_000_001), "amount_cents", "jpy").is_err());
        assert!(amount(Some(-1), "amount_cents", "usd").is_err());
        assert!(amount(None, "amount_cents", "usd").is_err());
    }

    #[test]
    fn naive_utc_timestamps_parse() {
        assert_eq!(timestamp(Some("2026-11-25 14:00:00")), Some(1_795_615_200));
        assert_eq!(
            timestamp(Some("2026-11-25 14:00:00.123456")),
            Some(1_795_615_200)
        );
        assert_eq!(timestamp(Some("2026-11-25T14:00:00")), Some(1_795_615_200));
        assert_eq!(timestamp(Some("2026-11-25T14:00:00Z")), Some(1_795_615_200));
        assert_eq!(timestamp(Some("2026-11-25")), Some(1_795_564_800));
        assert_eq!(timestamp(Some("yesterday")), None);
        assert_eq!(timestamp(None), None);
    }
}
