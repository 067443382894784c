//! The Stripe API, only what hoss uses: a cheap authenticated check, Prices,
//! Payment Links (created with idempotency keys derived from the invoice),
//! the completed Checkout Sessions of a link, and deactivating a link.
//! Every request pins `Stripe-Version`.

use std::time::Duration;

use serde_json::Value;

use crate::config::StripeConfig;
use crate::domain::webhook::Session;
use crate::money::Cents;
use crate::services::http;

pub const API_VERSION: &str = "2024-06-20";
const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeError {
    /// 401/403: the key is wrong; Stripe is unusable this process.
    Auth(String),
    /// Network trouble, 429 or 5xx: try again on a later pass.
    Transient(String),
    /// Any other refusal (400, 404): recorded on the invoice.
    Rejected(String),
}

impl std::fmt::Display for StripeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StripeError::Auth(e) | StripeError::Transient(e) | StripeError::Rejected(e) => {
                f.write_str(e)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub id: String,
    pub url: String,
}

pub struct Stripe {
    agent: ureq::Agent,
    base: String,
    key: String,
    /// Prefix of every idempotency key: `hoss-<install id>`.
    key_prefix: String,
}

impl Stripe {
    /// `None` unless Stripe is effectively enabled. `install_id` makes the
    /// idempotency keys unique to this database.
    pub fn from_config(cfg: &StripeConfig, install_id: &str) -> Option<Stripe> {
        if !cfg.enabled() {
            return None;
        }
        Some(Stripe {
            agent: http::agent(TIMEOUT),
            base: cfg.api_base.clone(),
            key: cfg.api_key.as_ref()?.expose().to_string(),
            key_prefix: format!("hoss-{install_id}"),
        })
    }

    fn answer(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, StripeError> {
        let mut response = result.map_err(|e| {
            StripeError::Transient(http::shorten(&e.to_string(), 200, Some(&self.key)))
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(2 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| {
                StripeError::Transient(http::shorten(&e.to_string(), 200, Some(&self.key)))
            })?;
        let message = || {
            let detail = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v.pointer("/error/message")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| text.clone());
            format!(
                "Stripe answered {status}: {}",
                http::shorten(&detail, 200, Some(&self.key))
            )
        };
        match status {
            200..=299 => serde_json::from_str(&text).map_err(|_| {
                StripeError::Transient(format!(
                    "Stripe answered {status} with a body that is not JSON"
                ))
            }),
            401 | 403 => Err(StripeError::Auth(message())),
            429 | 500..=599 => Err(StripeError::Transient(message())),
            _ => Err(StripeError::Rejected(message())),
        }
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, StripeError> {
        let mut req = self
            .agent
            .get(&format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.key))
            .header("Stripe-Version", API_VERSION);
        for (k, v) in query {
            req = req.query(*k, *v);
        }
        self.answer(req.call())
    }

    fn post(
        &self,
        path: &str,
        idempotency_key: Option<&str>,
        form: &[(&str, String)],
    ) -> Result<Value, StripeError> {
        let mut req = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.key))
            .header("Stripe-Version", API_VERSION);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        self.answer(req.send_form(form.iter().map(|(k, v)| (*k, v.as_str()))))
    }

    /// The cheap authenticated call that validates the key at first use.
    pub fn verify_key(&self) -> Result<(), StripeError> {
        self.get("/v1/balance", &[]).map(|_| ())
    }

    pub fn create_price(
        &self,
        invoice_id: i64,
        amount: Cents,
        currency: &str,
    ) -> Result<String, StripeError> {
        let v = self.post(
            "/v1/prices",
            Some(&format!("{}-invoice-{invoice_id}-price", self.key_prefix)),
            &[
                ("currency", currency.to_string()),
                ("unit_amount", amount.0.to_string()),
                ("product_data[name]", format!("Invoice #{invoice_id}")),
                ("metadata[invoice_id]", invoice_id.to_string()),
            ],
        )?;
        id_of(&v, "price_")
    }

    pub fn create_payment_link(
        &self,
        invoice_id: i64,
        price_id: &str,
    ) -> Result<Link, StripeError> {
        let v = self.post(
            "/v1/payment_links",
            Some(&format!("{}-invoice-{invoice_id}-link", self.key_prefix)),
            &[
                ("line_items[0][price]", price_id.to_string()),
                ("line_items[0][quantity]", "1".into()),
                ("metadata[invoice_id]", invoice_id.to_string()),
                (
                    "payment_intent_data[metadata][invoice_id]",
                    invoice_id.to_string(),
                ),
                ("restrictions[completed_sessions][limit]", "1".into()),
            ],
        )?;
        let id = id_of(&v, "plink_")?;
        let url = v
            .get("url")
            .and_then(Value::as_str)
            .filter(|u| u.starts_with("https://"))
            .ok_or_else(|| StripeError::Rejected("payment link without an https url".into()))?;
        Ok(Link {
            id,
            url: url.to_string(),
        })
    }

    /// Completed Checkout Sessions of a payment link.
    pub fn completed_sessions(&self, link_id: &str) -> Result<Vec<Session>, StripeError> {
        let v = self.get(
            "/v1/checkout/sessions",
            &[
                ("payment_link", link_id),
                ("status", "complete"),
                ("limit", "10"),
            ],
        )?;
        Ok(v.get("data")
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Session::from_json).collect())
            .unwrap_or_default())
    }

    pub fn deactivate_link(&self, link_id: &str) -> Result<(), StripeError> {
        self.post(
            &format!("/v1/payment_links/{link_id}"),
            None,
            &[("active", "false".into())],
        )
        .map(|_| ())
    }
}

fn id_of(v: &Value, prefix: &str) -> Result<String, StripeError> {
    v.get("id")
        .and_then(Value::as_str)
        .filter(|id| {
            id.starts_with(prefix) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .map(str::to_string)
        .ok_or_else(|| StripeError::Rejected(format!("Stripe answer has no {prefix}… id")))
}
