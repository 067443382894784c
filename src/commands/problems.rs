//! Problems that stop a part of the pipeline until the operator acts, raised
//! by both `status` (as warnings) and `summary` (as what needs attention).

use crate::clock::rfc3339;
use crate::db;
use crate::error::Result;

/// Outside services that refuse the operator's account or cannot be
/// reached: each stops its subsystem until someone acts, so `status` warns
/// and the digest lists it. Email: a `[EMAIL][CONFIG_ERROR]` or
/// `[EMAIL][UNREACHABLE]` newer than the last real send. Leads: the last
/// search pass ended in an API error.
pub fn outside(db: db::Db<'_>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let newest = db::events::newest_of(
        db,
        &[
            "[EMAIL][SUCCESS]",
            "[EMAIL][CONFIG_ERROR]",
            "[EMAIL][UNREACHABLE]",
        ],
    )?;
    if let Some(e) = newest.filter(|e| !e.tag.starts_with("[EMAIL][SUCCESS]")) {
        let what = if e.tag == "[EMAIL][CONFIG_ERROR]" {
            "the provider refused the account or settings"
        } else {
            "the provider could not be reached"
        };
        out.push(format!(
            "email sending is held: {what} at {} ({})",
            rfc3339(e.at),
            e.message
        ));
    }
    // An API error is recorded as `status=… error` (API_ERROR, or FALLBACK
    // when DUMMY_SEED stood in).
    if let Some(run) = db::leads::last_source_run(db)?
        && let Some(error) = run
            .error
            .filter(|e| run.result.as_deref() == Some("API_ERROR") || e.starts_with("status="))
    {
        out.push(format!("lead search failed at {}: {error}", run.started_at));
    }
    Ok(out)
}

/// Done work that `bill` will not invoice because it was entered in another
/// currency than the one it bills in.
pub fn currency(db: db::Db<'_>, currency: &str) -> Result<Vec<String>> {
    let tasks = db::tasks::unbilled_in_other_currency(db, currency)?;
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = tasks.iter().map(|(id, c)| format!("{id} ({c})")).collect();
    Ok(vec![format!(
        "done work not billed: task(s) {} were entered in another currency than {currency}; set STRIPE_DEFAULT_CURRENCY back, or fail them and enter them again",
        list.join(", ")
    )])
}

/// The customer's mail about an invoice that could not go (no usable
/// address, a suppressed one, a template error, a refusal) and has not gone
/// since: the operator must act for the customer to hear.
pub fn invoice_mail(db: db::Db<'_>, since: i64) -> Result<Vec<String>> {
    Ok(db::invoice_mail::problems_since(db, since)?
        .into_iter()
        .map(|u| {
            let to = if u.recipient.is_empty() {
                "(no address)".into()
            } else {
                u.recipient
            };
            format!(
                "invoice {id}: the {} email to {to} was {}: {} (`hoss invoice show {id}`)",
                u.kind,
                u.outcome,
                u.error,
                id = u.invoice_id
            )
        })
        .collect())
}
