//! Stripe webhooks as rules: the `Stripe-Signature` scheme (HMAC-SHA256 over
//! `t.payload`, any `v1` may match, constant-time, bounded age), reading the
//! event, and deciding what a verified event means for an invoice.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

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
    pub amount_total: Option<i64>,
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
            amount_total: object.get("amount_total").and_then(Value::as_i64),
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
    pub status: String,
    pub amount_cents: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Mark the invoice paid.
    Pay,
    /// Nothing to do; `attention` means the operator must look at it.
    Ignore { reason: String, attention: bool },
}

/// What a paid-looking session means for its invoice.
pub fn decide(session: &Session, invoice: Option<&InvoiceFacts>) -> Decision {
    let ignore = |reason: String, attention| Decision::Ignore { reason, attention };
    if session.payment_status != "paid" {
        return ignore(
            format!(
                "session payment_status is {:?}, not paid",
                session.payment_status
            ),
            false,
        );
    }
    let Some(inv) = invoice else {
        return ignore("no invoice matches this session".into(), true);
    };
    if session.amount_total != Some(inv.amount_cents) {
        return ignore(
            format!(
                "amount mismatch: paid {} but invoice {} is {}",
                session
                    .amount_total
                    .map_or("unknown".into(), |a| a.to_string()),
                inv.id,
                inv.amount_cents
            ),
            true,
        );
    }
    if session.currency.as_deref() != Some(inv.currency.as_str()) {
        return ignore(
            format!(
                "currency mismatch: paid in {} but invoice {} is {}",
                session.currency.as_deref().unwrap_or("unknown"),
                inv.id,
                inv.currency
            ),
            true,
        );
    }
    match inv.status.as_str() {
        "paid" => ignore(format!("invoice {} is already paid", inv.id), false),
        "void" => ignore(
            format!(
                "invoice {} is void but was paid: refund or re-issue",
                inv.id
            ),
            true,
        ),
        _ => Decision::Pay,
    }
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
            (Some(7), Some(500), Some("usd"))
        );
    }

    #[test]
    fn payments_are_applied_only_when_everything_matches() {
        let session = Session {
            id: "cs".into(),
            payment_link: None,
            invoice_ref: Some(1),
            payment_status: "paid".into(),
            amount_total: Some(500),
            currency: Some("usd".into()),
        };
        let inv = InvoiceFacts {
            id: 1,
            status: "open".into(),
            amount_cents: 500,
            currency: "usd".into(),
        };
        assert_eq!(decide(&session, Some(&inv)), Decision::Pay);
        let attention = |d: Decision| {
            matches!(
                d,
                Decision::Ignore {
                    attention: true,
                    ..
                }
            )
        };
        assert!(attention(decide(
            &Session {
                amount_total: Some(499),
                ..session.clone()
            },
            Some(&inv)
        )));
        assert!(attention(decide(
            &Session {
                currency: Some("eur".into()),
                ..session.clone()
            },
            Some(&inv)
        )));
        assert!(attention(decide(&session, None)));
        assert!(!attention(decide(
            &Session {
                payment_status: "unpaid".into(),
                ..session.clone()
            },
            Some(&inv)
        )));
        let paid = InvoiceFacts {
            status: "paid".into(),
            ..inv.clone()
        };
        assert!(matches!(
            decide(&session, Some(&paid)),
            Decision::Ignore {
                attention: false,
                ..
            }
        ));
    }
}
