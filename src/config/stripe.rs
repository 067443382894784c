//! Stripe: whether payment links are on (`ENABLE_STRIPE`), the key, the
//! webhook secret, the invoice currency and its amount limits.

use serde::Serialize;

use super::keys::{Raw, Secret};
use super::notices::Notice;
use super::resolved::{Problems, Requested, Resolved};
use super::urls::check_api_base;
use crate::error::{Error, Result};
use crate::money::Cents;

pub const DEFAULT_STRIPE_API_BASE: &str = "https://api.stripe.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum StripeMode {
    Enabled,
    Disabled,
}

impl StripeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StripeMode::Enabled => "ENABLED",
            StripeMode::Disabled => "DISABLED",
        }
    }
}

impl From<StripeMode> for &'static str {
    fn from(m: StripeMode) -> Self {
        m.as_str()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyMode {
    Test,
    Live,
}

impl KeyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyMode::Test => "test",
            KeyMode::Live => "live",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StripeConfig {
    pub mode: Resolved<StripeMode>,
    pub api_key: Option<Secret>,
    pub key_mode: Option<KeyMode>,
    pub webhook_secret: Option<Secret>,
    /// Why a set `STRIPE_WEBHOOK_SECRET` cannot be used, if it cannot.
    pub webhook_secret_problem: Option<String>,
    pub currency: String,
    /// Why `currency` cannot be used for invoices, if it cannot.
    pub currency_error: Option<String>,
    pub min_amount: Cents,
    pub max_amount: Cents,
    /// `STRIPE_HARD_MAX_AMOUNT` (10× the max): the ceiling of an invoice the
    /// operator approved above the max (`hoss invoice approve`).
    pub hard_max_amount: Cents,
    pub webhook_tolerance_secs: u32,
    pub api_base: String,
}

impl StripeConfig {
    /// Stripe is effectively on: payment links are made.
    pub fn enabled(&self) -> bool {
        self.mode.effective == StripeMode::Enabled
    }

    /// The currency new invoices are made in, or a configuration error.
    pub fn invoice_currency(&self) -> Result<&str> {
        match &self.currency_error {
            Some(e) => Err(Error::Config(e.clone())),
            None => Ok(&self.currency),
        }
    }
}

/// `sk_`/`rk_` + `test_`/`live_` + an alphanumeric body.
pub fn stripe_key_mode(key: &str) -> Option<KeyMode> {
    let rest = key
        .strip_prefix("sk_")
        .or_else(|| key.strip_prefix("rk_"))?;
    let (mode, body) = if let Some(b) = rest.strip_prefix("test_") {
        (KeyMode::Test, b)
    } else {
        (KeyMode::Live, rest.strip_prefix("live_")?)
    };
    (body.len() >= 8 && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then_some(mode)
}

/// An amount limit in the invoice currency: `NAME` in its decimals
/// (`1500` JPY, `1.500` KWD) or `NAME_CENTS` in its minor units.
fn amount_setting(
    raw: &Raw,
    name: &str,
    default: Cents,
    currency: &str,
) -> std::result::Result<Cents, String> {
    let cents_key = format!("{name}_CENTS");
    let decimal = raw.get(name).map(|v| {
        Cents::parse_in(v, currency).map_err(|e| {
            format!(
                "{name} is not an amount of {} ({e})",
                currency.to_ascii_uppercase()
            )
        })
    });
    let minor = raw.get(&cents_key).map(|v| {
        Cents::parse_minor_in(v, currency).map_err(|_| {
            format!("{cents_key} is not a whole number of minor units (at most 10 million currency units)")
        })
    });
    match (decimal, minor) {
        (None, None) => Ok(default),
        (Some(a), None) | (None, Some(a)) => a,
        (Some(a), Some(b)) => match (a?, b?) {
            (a, b) if a == b => Ok(a),
            _ => Err(format!("{name} and {cents_key} disagree")),
        },
    }
}

pub(super) fn resolve_stripe(raw: &Raw, dry_run: bool, notices: &mut Vec<Notice>) -> StripeConfig {
    let requested = raw.bool("ENABLE_STRIPE", false, false, notices);
    let mut p = Problems::default();
    let api_key = raw.secret("STRIPE_API_KEY");
    let key_mode = api_key.as_ref().and_then(|k| stripe_key_mode(k.expose()));
    let currency = raw
        .string("STRIPE_DEFAULT_CURRENCY", "usd")
        .to_ascii_lowercase();
    let currency_error = (!(currency.len() == 3
        && currency.bytes().all(|b| b.is_ascii_lowercase())))
    .then(|| "STRIPE_DEFAULT_CURRENCY is not an ISO 4217 code like usd".to_string());
    if let Some(e) = &currency_error {
        p.0.push(e.clone());
        notices.push(Notice::warn(format!(
            "[CONFIG][INVALID] {e}; bill and import-legacy refuse to make invoices"
        )));
    }
    let min_amount = p.take(
        amount_setting(raw, "STRIPE_MIN_AMOUNT", Cents(100), &currency),
        Cents(100),
    );
    let max_amount = p.take(
        amount_setting(raw, "STRIPE_MAX_AMOUNT", Cents(50_000), &currency),
        Cents(0),
    );
    // One approved invoice may go above the max, never above this.
    let default_hard = Cents(
        max_amount
            .0
            .saturating_mul(10)
            .min(crate::money::max_minor(&currency)),
    );
    let hard_max_amount = p.take(
        amount_setting(raw, "STRIPE_HARD_MAX_AMOUNT", default_hard, &currency),
        max_amount,
    );
    if hard_max_amount < max_amount {
        p.0.push("STRIPE_HARD_MAX_AMOUNT is below STRIPE_MAX_AMOUNT".into());
    }
    if min_amount > max_amount && p.0.is_empty() {
        p.0.push("STRIPE_MIN_AMOUNT is greater than STRIPE_MAX_AMOUNT".into());
    }
    if min_amount == Cents(0) {
        p.0.push("STRIPE_MIN_AMOUNT must be above zero".into());
    }
    let webhook_tolerance_secs =
        p.take(raw.uint("STRIPE_WEBHOOK_TOLERANCE_SECS", 300, 1, 3600), 300);
    let api_base = p.take(
        check_api_base(
            "STRIPE_API_BASE",
            raw.get("STRIPE_API_BASE")
                .unwrap_or(DEFAULT_STRIPE_API_BASE),
        ),
        DEFAULT_STRIPE_API_BASE.into(),
    );
    let mut webhook_secret_problem = None;
    let webhook_secret = raw.secret("STRIPE_WEBHOOK_SECRET").filter(|s| {
        let problem = if !s.expose().starts_with("whsec_") {
            Some("does not start with whsec_")
        } else if s.expose().len() <= 10 {
            Some("is too short to be a signing secret (copy it whole from the Stripe dashboard)")
        } else {
            None
        };
        if let Some(p) = problem {
            notices.push(Notice::warn(format!(
                "[CONFIG][INVALID] STRIPE_WEBHOOK_SECRET {p}; webhooks are rejected"
            )));
            webhook_secret_problem = Some(format!("STRIPE_WEBHOOK_SECRET {p}"));
        }
        problem.is_none()
    });
    let mode = if requested {
        match &api_key {
            None => p.0.push("STRIPE_API_KEY is missing".into()),
            Some(_) if key_mode.is_none() => p.0.push(
                "STRIPE_API_KEY is not a Stripe secret or restricted key (sk_/rk_ + test_/live_)"
                    .into(),
            ),
            Some(_) => {}
        }
        if dry_run {
            p.0.insert(0, "DRY_RUN=TRUE".into());
        }
        Resolved::new(
            Requested::Mode(StripeMode::Enabled),
            StripeMode::Disabled,
            &p,
        )
    } else {
        // Off as asked; the problems above only matter once it is on.
        Resolved {
            requested: Requested::Mode(StripeMode::Disabled),
            effective: StripeMode::Disabled,
            reason: Some("ENABLE_STRIPE is not TRUE".into()),
        }
    };
    StripeConfig {
        mode,
        api_key,
        key_mode,
        webhook_secret,
        webhook_secret_problem,
        currency,
        currency_error,
        min_amount,
        max_amount,
        hard_max_amount,
        webhook_tolerance_secs,
        api_base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::cfg;

    #[test]
    fn stripe_key_shapes() {
        assert_eq!(stripe_key_mode("sk_test_51Habcdefgh"), Some(KeyMode::Test));
        assert_eq!(stripe_key_mode("rk_live_51Habcdefgh"), Some(KeyMode::Live));
        for bad in [
            "pk_test_51Habcdefgh",
            "sk_51Habcdefgh",
            "sk_test_",
            "sk_test_abc def gh",
            "whsec_x",
        ] {
            assert_eq!(stripe_key_mode(bad), None, "{bad}");
        }
        let c = cfg(&[
            ("ENABLE_STRIPE", "TRUE"),
            ("STRIPE_API_KEY", "pk_test_nope12345"),
        ]);
        assert!(!c.stripe.enabled());
        let reason = c.stripe.mode.reason.as_deref().unwrap();
        assert!(reason.contains("STRIPE_API_KEY"));
        assert!(!reason.contains("nope"));
    }

    #[test]
    fn a_plain_http_api_base_disables_stripe() {
        let c = cfg(&[
            ("ENABLE_STRIPE", "TRUE"),
            ("STRIPE_API_KEY", "sk_test_abcdefgh1234"),
            ("STRIPE_API_BASE", "http://stripe.test"),
        ]);
        assert!(!c.stripe.enabled());
        assert_eq!(c.stripe.mode.effective, StripeMode::Disabled);
        assert!(
            c.stripe
                .mode
                .reason
                .as_deref()
                .unwrap()
                .contains("STRIPE_API_BASE")
        );
    }

    #[test]
    fn stripe_amount_bounds_accept_cents_variants() {
        let c = cfg(&[
            ("STRIPE_MIN_AMOUNT_CENTS", "250"),
            ("STRIPE_MAX_AMOUNT", "20.00"),
        ]);
        assert_eq!(
            (c.stripe.min_amount, c.stripe.max_amount),
            (Cents(250), Cents(2000))
        );
        let c = cfg(&[
            ("ENABLE_STRIPE", "TRUE"),
            ("STRIPE_API_KEY", "sk_test_abcdefgh1234"),
            ("STRIPE_MAX_AMOUNT", "1e3"),
        ]);
        assert!(!c.stripe.enabled());
        let c = cfg(&[
            ("ENABLE_STRIPE", "TRUE"),
            ("STRIPE_API_KEY", "sk_test_abcdefgh1234"),
            ("STRIPE_MIN_AMOUNT", "9"),
            ("STRIPE_MAX_AMOUNT", "5"),
        ]);
        assert!(!c.stripe.enabled());
    }

    #[test]
    fn a_complete_key_enables_stripe() {
        let c = cfg(&[
            ("ENABLE_STRIPE", "TRUE"),
            ("STRIPE_API_KEY", "sk_test_abcdefgh1234"),
        ]);
        assert!(c.stripe.enabled(), "{:?}", c.stripe.mode);
        assert_eq!(c.stripe.key_mode, Some(KeyMode::Test));
        assert_eq!(c.stripe.mode.reason, None);
    }
}
