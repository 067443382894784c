//! Records more than one command shows or looks up: a task as the JSON
//! contract shows it (`task …`, and the tasks an invoice bills), and a lead
//! named by id or address (`lead …`, `preview`).

use serde::Serialize;

use crate::app::Ctx;
use crate::clock::rfc3339;
use crate::db::{self, leads::Lead, tasks::Task};
use crate::error::{Error, Result};
use crate::money::Cents;
use crate::render::list::Row;
use crate::render::or_dash;

#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    pub id: i64,
    pub customer_id: i64,
    pub description: String,
    pub status: String,
    pub amount_cents: i64,
    pub cost_cents: Option<i64>,
    pub result_summary: Option<String>,
    pub error: Option<String>,
    pub invoice_id: Option<i64>,
    pub created_at: String,
    pub completed_at: Option<String>,
    /// The currency the amount is shown in (the configured one).
    #[serde(skip)]
    pub currency: String,
}

impl From<Task> for TaskView {
    fn from(t: Task) -> Self {
        TaskView {
            id: t.id,
            customer_id: t.customer_id,
            description: t.description,
            status: t.status,
            amount_cents: t.amount_cents,
            cost_cents: t.cost_cents,
            result_summary: t.result_summary,
            error: t.error,
            invoice_id: t.invoice_id,
            created_at: rfc3339(t.created_at),
            completed_at: t.completed_at.map(rfc3339),
            currency: String::new(),
        }
    }
}

impl Row for TaskView {
    const HEADER: &'static [&'static str] = &[
        "id",
        "customer",
        "status",
        "amount",
        "invoice",
        "description",
        "result",
    ];
    const EMPTY: &'static str = "no tasks\n";

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.customer_id.to_string(),
            self.status.clone(),
            Cents(self.amount_cents).in_currency(&self.currency),
            or_dash(self.invoice_id),
            self.description.clone(),
            or_dash(self.result_summary.as_ref().or(self.error.as_ref())),
        ]
    }
}

/// The lead an operator names by id or by email address.
pub fn find_lead(ctx: &Ctx, key: &str) -> Result<Lead> {
    let key = key.trim();
    let found = match key.parse::<i64>() {
        Ok(id) => db::leads::get(&ctx.db, id)?,
        Err(_) => match crate::domain::address::normalize_email(key) {
            Some(email) => db::leads::by_email(&ctx.db, &email)?,
            None => {
                return Err(Error::Usage(format!(
                    "{key:?} is neither a lead id nor an e-mail address"
                )));
            }
        },
    };
    found.ok_or_else(|| Error::Data(format!("there is no lead {key}")))
}
