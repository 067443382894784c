//! Records more than one command looks up: a lead named by id or address
//! (`lead …`, `preview`).

use crate::app::Ctx;
use crate::db::{self, leads::Lead};
use crate::error::{Error, Result};

/// The lead an operator names by id or by email address.
pub fn find_lead(ctx: &Ctx, key: &str) -> Result<Lead> {
    let key = key.trim();
    let found = match key.parse::<i64>() {
        Ok(id) => db::leads::get(ctx.db(), id)?,
        Err(_) => match crate::domain::address::normalize_email(key) {
            Some(email) => db::leads::by_email(ctx.db(), &email)?,
            None => {
                return Err(Error::Usage(format!(
                    "{key:?} is neither a lead id nor an e-mail address"
                )));
            }
        },
    };
    found.ok_or_else(|| Error::Data(format!("there is no lead {key}")))
}
