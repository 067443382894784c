//! `hoss onboard`: leads that replied (`responded`, `qualified`) become
//! customers with a public token and the configured onboarding tasks. A
//! lead whose email already belongs to a customer is linked to it. Being
//! emailed never converts a lead.

use log::info;
use serde::Serialize;

use crate::app::Ctx;
use crate::db::{customers, tasks};
use crate::domain::token::new_token;
use crate::error::{Error, Result};
use crate::render::Report;

#[derive(Debug, Default, Serialize)]
pub struct OnboardReport {
    pub converted: u32,
    pub customers_created: u32,
    pub tasks_created: u32,
    pub linked_existing: u32,
}

impl Report for OnboardReport {
    fn human(&self, _terminal: bool) -> String {
        format!(
            "onboard: converted={} customers_created={} tasks_created={} linked_existing={}\n",
            self.converted, self.customers_created, self.tasks_created, self.linked_existing
        )
    }
}

/// Leads handled in one pass.
const BATCH: u32 = 500;

pub fn run(ctx: &Ctx) -> Result<OnboardReport> {
    let onboarding = ctx
        .config
        .onboarding_tasks
        .clone()
        .map_err(|e| Error::Config(format!("config file: {e}")))?;
    let mut report = OnboardReport::default();
    for lead in customers::convertible_leads(ctx.db(), BATCH)? {
        let token = new_token().map_err(Error::Internal)?;
        let outcome = ctx.db().immediate(|tx| {
            let now = ctx.now();
            let (customer_id, created) = match customers::by_email(tx, &lead.email)? {
                Some(c) => (c.id, false),
                None => {
                    let company = if lead.company.is_empty() {
                        lead.email.as_str()
                    } else {
                        lead.company.as_str()
                    };
                    (
                        customers::insert(
                            tx,
                            company,
                            lead.name.as_deref(),
                            &lead.email,
                            &token,
                            now,
                        )?,
                        true,
                    )
                }
            };
            if !customers::link_lead(tx, lead.lead_id, customer_id)? {
                // Converted meanwhile by another run: undo nothing, write nothing.
                return Err(Error::Data("lead no longer convertible".into()));
            }
            let mut made = 0;
            if created {
                for t in &onboarding {
                    tasks::insert(
                        tx,
                        customer_id,
                        &t.description,
                        t.amount,
                        &ctx.config.stripe.currency,
                        now,
                    )?;
                    made += 1;
                }
            }
            Ok((customer_id, created, made))
        });
        let (customer_id, created, made) = match outcome {
            Ok(v) => v,
            Err(Error::Data(_)) => continue,
            Err(e) => return Err(e),
        };
        report.converted += 1;
        report.tasks_created += made;
        if created {
            report.customers_created += 1;
            info!(
                "[ONBOARD][CUSTOMER] lead_id={} customer_id={customer_id} tasks={made}",
                lead.lead_id
            );
        } else {
            report.linked_existing += 1;
            info!(
                "[ONBOARD][LINKED] lead_id={} customer_id={customer_id} (email already a customer)",
                lead.lead_id
            );
        }
    }
    Ok(report)
}
