//! Stripe webhooks as rules: the `Stripe-Signature` scheme (HMAC-SHA256 over
//! `t.payload`, any `v1` may match, constant-time, bounded age), reading the
//! event, and deciding what a verified event means for an invoice.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::domain::status::InvoiceStatus;
use crate::money::{Cents, format_amount};

/// Why a request is rejected (HTTP 400; Stripe retries it).
pub fn verify_signature(
    header: &str,
    payload: &[u8],
    secret: &str,
    now: i64,
    tolerance_secs: u32,
) -> Result<(), String> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return Err("malformed Stripe-Signature header".into());
        };
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| "malformed timestamp in Stripe-Signature".to_string())?,
                )
            }
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let t = timestamp.ok_or("Stripe-Signature has no timestamp")?;
    if signatures.is_empty() {
        return Err("Stripe-Signature has no v1 signature".into());
    }
    if now.abs_diff(t) > u64::from(tolerance_secs) {
        return Err(format!(
            "signature timestamp is {}s away from now (tolerance {tolerance_secs}s)",
            now - t
        ));
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| "unusable webhook secret")?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let matched = signatures
        .iter()
        .any(|sig| decode_hex(sig).is_some_and(|bytes| mac.clone().verify_slice(&bytes).is_ok()));
    if matched {
        Ok(())
    } else {
        Err("no v1 signature matches".into())
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 256 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The parts of a verified event hoss uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub kind: String,
    pub session: Option<Session>,
}

/// A Checkout Session, as in the event or the reconciliation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub payment_link: Option<String>,
    /// `metadata.invoice_id` (used only when the session has no payment link).
    pub invoice_ref: Option<i64>,
    pub payment_status: String,
    pub amount_total: Option<Cents>,
    pub currency: Option<String>,
}

impl Session {
    pub fn from_json(object: &Value) -> Option<Session> {
        let s = |k: &str| object.get(k).and_then(Value::as_str).map(str::to_string);
        let invoice_ref = object
            .pointer("/metadata/invoice_id")
            .and_then(|v| match v {
                Value::String(s) => s.parse().ok(),
                Value::Number(n) => n.as_i64(),
                _ => None,
            });
        Some(Session {
            id: s("id")?,
            payment_link: s("payment_link"),
            invoice_ref,
            payment_status: s("payment_status").unwrap_or_default(),
            amount_total: object
                .get("amount_total")
                .and_then(Value::as_i64)
                .map(Cents),
            currency: s("currency").map(|c| c.to_ascii_lowercase()),
        })
    }
}

pub const PAID_EVENTS: &[&str] = &[
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
];

/// Reads a Stripe event; anything else is rejected.
pub fn parse_event(payload: &[u8]) -> Result<Event, String> {
    let v: Value = serde_json::from_slice(payload).map_err(|_| "body is not JSON".to_string())?;
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| id.starts_with("evt_") && id.len() <= 255)
        .ok_or("body is not a Stripe event (no evt_ id)")?;
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .ok_or("body is not a Stripe event (no type)")?;
    if v.get("object")
        .and_then(Value::as_str)
        .is_some_and(|o| o != "event")
    {
        return Err("body is not a Stripe event".into());
    }
    let session = if PAID_EVENTS.contains(&kind) {
        v.pointer("/data/object").and_then(Session::from_json)
    } else {
        None
    };
    Ok(Event {
        id: id.to_string(),
        kind: kind.to_string(),
        session,
    })
}

/// The invoice facts a payment is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceFacts {
    pub id: i64,
    pub status: InvoiceStatus,
    pub amount_cents: Cents,
    pub currency: String,
    /// The Checkout Session that paid it, when hoss knows it.
    pub paid_session_id: Option<String>,
}

/// How a session relates to hoss's invoices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found<'a> {
    /// The session came through the payment link of this invoice.
    ByLink(&'a InvoiceFacts),
    /// Not through a hoss payment link, but its metadata names this invoice.
    NamedOnly(&'a InvoiceFacts),
    /// Neither: another Checkout integration's business.
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Mark the invoice paid.
    Pay,
    /// This very session already paid the invoice: a replay.
    Duplicate,
    /// Nothing to do; `attention` names what the operator must look at
    /// (`paid_twice`, `mismatch`, `not_hoss_link`), `None` when nothing.
    Ignore {
        reason: String,
        attention: Option<&'static str>,
    },
}

fn money(minor: Option<Cents>, currency: Option<&str>) -> String {
    match (minor, currency) {
        (Some(m), Some(c)) => format_amount(m, c),
        (Some(m), None) => format!("{} minor units of an unknown currency", m.0),
        (None, _) => "an unknown amount".into(),
    }
}

/// What a paid-looking session means for hoss. Only a session of a payment
/// link hoss created or imported can pay an invoice; a different paid
/// session on a paid or void invoice is a second payment to refund.
pub fn decide(session: &Session, found: Found<'_>) -> Decision {
    let ignore = |reason: String, attention| Decision::Ignore { reason, attention };
    if session.payment_status != "paid" {
        return ignore(
            format!(
                "session payment_status is {:?}, not paid",
                session.payment_status
            ),
            None,
        );
    }
    let paid = money(session.amount_total, session.currency.as_deref());
    let inv = match found {
        Found::Nothing => {
            return ignore(
                "no invoice matches this session (not a hoss payment link)".into(),
                None,
            );
        }
        Found::NamedOnly(inv) => {
            return ignore(
                format!(
                    "not applied: session {} paid {paid} naming invoice {} but not through a hoss payment link ({}); check who charged the customer and refund or mark-paid by hand",
                    session.id,
                    inv.id,
                    session
                        .payment_link
                        .as_deref()
                        .map_or("no payment link".to_string(), |l| format!("link {l}"))
                ),
                Some("not_hoss_link"),
            );
        }
        Found::ByLink(inv) => inv,
    };
    if inv.paid_session_id.as_deref() == Some(session.id.as_str()) {
        return Decision::Duplicate;
    }
    let invoice_amount = format_amount(inv.amount_cents, &inv.currency);
    let state = match inv.status {
        InvoiceStatus::Paid => Some("already paid"),
        InvoiceStatus::Void => Some("void"),
        InvoiceStatus::Draft | InvoiceStatus::Open => None,
    };
    if let Some(state) = state {
        return ignore(
            format!(
                "paid twice: refund session {} ({paid}): invoice {} ({invoice_amount}) is {state}",
                session.id, inv.id
            ),
            Some("paid_twice"),
        );
    }
    if session.amount_total != Some(inv.amount_cents) {
        return ignore(
            format!(
                "amount mismatch: paid {paid} but invoice {} is {invoice_amount} (session {})",
                inv.id, session.id
            ),
            Some("mismatch"),
        );
    }
    if session.currency.as_deref() != Some(inv.currency.as_str()) {
        return ignore(
            format!(
                "currency mismatch: paid in {} but invoice {} is {} (session {})",
                session.currency.as_deref().unwrap_or("unknown"),
                inv.id,
                inv.currency,
                session.id
            ),
            Some("mismatch"),
        );
    }
    Decision::Pay
}

/// A `Stripe-Signature` value for `payload` at `t` (for tests and tools).
pub fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(payload);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn signatures_verify_and_reject_per_the_scheme() {
        let body = br#"{"id":"evt_1"}"#;
        let good = sign(SECRET, 1000, body);
        assert_eq!(verify_signature(&good, body, SECRET, 1000, 300), Ok(()));
        assert!(verify_signature(&good, body, "whsec_other", 1000, 300).is_err());
        assert!(verify_signature(&good, br#"{"id":"evt_2"}"#, SECRET, 1000, 300).is_err());
        assert!(
            verify_signature(&good, body, SECRET, 1301, 300).is_err(),
            "stale"
        );
        assert!(
            verify_signature(&good, body, SECRET, 699, 300).is_err(),
            "from the future"
        );
        let sig = good.split("v1=").nth(1).unwrap();
        let several = format!("t=1000,v1={},v0=abc,v1={sig}", "0".repeat(64));
        assert_eq!(verify_signature(&several, body, SECRET, 1000, 300), Ok(()));
        for bad in [
            "",
            "garbage",
            "t=abc,v1=00",
            "v1=00",
            "t=1000",
            "t=1000,v1=zz",
        ] {
            assert!(
                verify_signature(bad, body, SECRET, 1000, 300).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn events_must_look_like_stripe_events() {
        assert!(parse_event(b"not json").is_err());
        assert!(parse_event(br#"{"type":"x"}"#).is_err());
        assert!(parse_event(br#"{"id":"abc","type":"x"}"#).is_err());
        let e = parse_event(br#"{"id":"evt_1","type":"checkout.session.completed","data":{"object":{"id":"cs_1","payment_link":"plink_1","payment_status":"paid","amount_total":500,"currency":"USD","metadata":{"invoice_id":"7"}}}}"#).unwrap();
        let s = e.session.unwrap();
        assert_eq!(
            (s.invoice_ref, s.amount_total, s.currency.as_deref()),
            (Some(7), Some(Cents(500)), Some("usd"))
        );
    }

    #[test]
    fn payments_are_applied_only_when_everything_matches() {
        let session = Session {
            id: "cs_1".into(),
            payment_link: Some("plink_1".into()),
            invoice_ref: Some(1),
            payment_status: "paid".into(),
            amount_total: Some(Cents(500)),
            currency: Some("usd".into()),
        };
        let inv = InvoiceFacts {
            id: 1,
            status: InvoiceStatus::Open,
            amount_cents: Cents(500),
            currency: "usd".into(),
            paid_session_id: None,
        };
        assert_eq!(decide(&session, Found::ByLink(&inv)), Decision::Pay);
        let attention = |d: Decision| match d {
            Decision::Ignore { attention, .. } => attention,
            other => panic!("{other:?}"),
        };
        let amount = Session {
            amount_total: Some(Cents(499)),
            ..session.clone()
        };
        assert_eq!(
            attention(decide(&amount, Found::ByLink(&inv))),
            Some("mismatch")
        );
        let currency = Session {
            currency: Some("eur".into()),
            ..session.clone()
        };
        assert_eq!(
            attention(decide(&currency, Found::ByLink(&inv))),
            Some("mismatch")
        );
        assert_eq!(attention(decide(&session, Found::Nothing)), None);
        let unpaid = Session {
            payment_status: "unpaid".into(),
            ..session.clone()
        };
        assert_eq!(attention(decide(&unpaid, Found::ByLink(&inv))), None);
    }

    #[test]
    fn only_a_hoss_payment_link_pays_and_metadata_alone_is_raised() {
        let session = Session {
            id: "cs_other".into(),
            payment_link: None,
            invoice_ref: Some(1),
            payment_status: "paid".into(),
            amount_total: Some(Cents(500)),
            currency: Some("usd".into()),
        };
        let draft = InvoiceFacts {
            id: 1,
            status: InvoiceStatus::Draft,
            amount_cents: Cents(500),
            currency: "usd".into(),
            paid_session_id: None,
        };
        match decide(&session, Found::NamedOnly(&draft)) {
            Decision::Ignore { reason, attention } => {
                assert_eq!(attention, Some("not_hoss_link"));
                assert!(
                    reason.contains("invoice 1") && reason.contains("5.00 USD"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_second_paid_session_is_paid_twice_and_the_same_one_a_replay() {
        let session = Session {
            id: "cs_2".into(),
            payment_link: Some("plink_1".into()),
            invoice_ref: None,
            payment_status: "paid".into(),
            amount_total: Some(Cents(1500)),
            currency: Some("jpy".into()),
        };
        let paid = InvoiceFacts {
            id: 7,
            status: InvoiceStatus::Paid,
            amount_cents: Cents(1500),
            currency: "jpy".into(),
            paid_session_id: Some("cs_1".into()),
        };
        match decide(&session, Found::ByLink(&paid)) {
            Decision::Ignore { reason, attention } => {
                assert_eq!(attention, Some("paid_twice"));
                assert!(reason.starts_with("paid twice: refund"), "{reason}");
                assert!(reason.contains("1500 JPY"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let replay = Session {
            id: "cs_1".into(),
            ..session.clone()
        };
        assert_eq!(decide(&replay, Found::ByLink(&paid)), Decision::Duplicate);
        let manual = InvoiceFacts {
            paid_session_id: None,
            ..paid.clone()
        };
        assert!(matches!(
            decide(&replay, Found::ByLink(&manual)),
            Decision::Ignore {
                attention: Some("paid_twice"),
                ..
            }
        ));
        let void = InvoiceFacts {
            status: InvoiceStatus::Void,
            paid_session_id: None,
            ..paid
        };
        assert!(matches!(
            decide(&session, Found::ByLink(&void)),
            Decision::Ignore {
                attention: Some("paid_twice"),
                ..
            }
        ));
    }
}
