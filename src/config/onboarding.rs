//! `[[onboarding.tasks]]` in the config file: the tasks every new customer
//! starts with.

use crate::money::Cents;

#[derive(Debug, Clone)]
pub struct OnboardingTask {
    pub description: String,
    pub amount: Cents,
}

/// Task amounts are in the invoice currency (`STRIPE_DEFAULT_CURRENCY`), in
/// its own decimals: `1500` is ¥1500, not ¥150000.
pub(super) fn parse_tasks(
    value: Option<toml::Value>,
    currency: &str,
) -> std::result::Result<Vec<OnboardingTask>, String> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .ok_or("onboarding.tasks must be an array of tables ([[onboarding.tasks]])")?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let n = i + 1;
            let description = item
                .get("description")
                .and_then(|d| d.as_str())
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .ok_or(format!("onboarding task {n} needs a description"))?;
            let amount = match item.get("amount") {
                Some(toml::Value::String(s)) => Cents::parse_in(s, currency),
                Some(toml::Value::Integer(i)) => Cents::parse_in(&i.to_string(), currency),
                Some(toml::Value::Float(f)) => Cents::parse_in(&f.to_string(), currency),
                _ => Err("is missing".to_string()),
            }
            .and_then(|a| match crate::money::stripe_amount_problem(a, currency) {
                Some(problem) => Err(problem),
                None => Ok(a),
            })
            .map_err(|e| format!("onboarding task {n} amount {e}"))?;
            Ok(OnboardingTask {
                description: description.to_string(),
                amount,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks(text: &str, currency: &str) -> std::result::Result<Vec<OnboardingTask>, String> {
        let table: toml::Table = text.parse().unwrap();
        parse_tasks(table["onboarding"].get("tasks").cloned(), currency)
    }

    #[test]
    fn task_amounts_are_in_the_invoice_currency() {
        let t = tasks(
            "[[onboarding.tasks]]\ndescription = \"Kick-off\"\namount = \"150.00\"\n\
             [[onboarding.tasks]]\ndescription = \"Setup\"\namount = 1500\n",
            "usd",
        )
        .unwrap();
        assert_eq!(
            t.iter().map(|t| t.amount).collect::<Vec<_>>(),
            [Cents(15_000), Cents(150_000)]
        );
        let yen = tasks(
            "[[onboarding.tasks]]\ndescription = \"Setup\"\namount = 1500\n",
            "jpy",
        )
        .unwrap();
        assert_eq!(yen[0].amount, Cents(1500));
        assert_eq!(parse_tasks(None, "usd").unwrap().len(), 0);
    }

    #[test]
    fn a_task_without_description_or_amount_is_refused_by_number() {
        let e = tasks(
            "[[onboarding.tasks]]\ndescription = \"ok\"\namount = \"1\"\n\
             [[onboarding.tasks]]\ndescription = \" \"\namount = \"1\"\n",
            "usd",
        )
        .unwrap_err();
        assert_eq!(e, "onboarding task 2 needs a description");
        let e = tasks("[[onboarding.tasks]]\ndescription = \"x\"\n", "usd").unwrap_err();
        assert_eq!(e, "onboarding task 1 amount is missing");
        let e = tasks("[onboarding]\ntasks = 3\n", "usd").unwrap_err();
        assert!(e.starts_with("onboarding.tasks must be an array"), "{e}");
    }
}
