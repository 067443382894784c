//! SendGrid's Event Webhook as rules (SPEC §13): the ECDSA P-256 signature
//! over `timestamp ‖ body`, reading the events, and what each one means.
//! The suppression lists hoss pulls map onto the same [`Effect`]s.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde_json::Value;

/// Reads `SENDGRID_WEBHOOK_PUBLIC_KEY`: base64 DER (SubjectPublicKeyInfo),
/// as SendGrid shows it; PEM armour and whitespace are tolerated.
pub fn public_key(text: &str) -> Result<VerifyingKey, String> {
    let b64: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.split_whitespace())
        .collect();
    let der = STANDARD
        .decode(b64)
        .map_err(|_| "SENDGRID_WEBHOOK_PUBLIC_KEY is not base64".to_string())?;
    VerifyingKey::from_public_key_der(&der)
        .map_err(|_| "SENDGRID_WEBHOOK_PUBLIC_KEY is not a P-256 public key".to_string())
}

/// Why a request is rejected (HTTP 400, nothing applied).
pub fn verify(
    key: &VerifyingKey,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance_secs: u32,
) -> Result<(), String> {
    let signature = signature.ok_or("no X-Twilio-Email-Event-Webhook-Signature header")?;
    let timestamp = timestamp.ok_or("no X-Twilio-Email-Event-Webhook-Timestamp header")?;
    let t: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| "malformed webhook timestamp".to_string())?;
    if now.abs_diff(t) > u64::from(tolerance_secs) {
        return Err(format!(
            "signature timestamp is {}s away from now (tolerance {tolerance_secs}s)",
            now - t
        ));
    }
    let der = STANDARD
        .decode(signature.trim())
        .map_err(|_| "signature is not base64".to_string())?;
    let signature =
        DerSignature::from_bytes(&der).map_err(|_| "signature is not DER".to_string())?;
    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.trim().as_bytes());
    signed.extend_from_slice(body);
    key.verify(&signed, &signature)
        .map_err(|_| "signature does not match".to_string())
}

/// What one event (or one entry of a suppression list) does to hoss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The address is gone: lead `email_failed`, suppressed (`bounce`).
    HardBounce,
    /// Refused for now (`type=blocked`): recorded, counts toward health.
    Blocked,
    /// A spam complaint: lead `unsubscribed`, suppressed (`complaint`),
    /// company domain held.
    Complaint,
    /// Lead `unsubscribed`, suppressed (`unsubscribe`).
    Unsubscribe,
    /// Nothing for hoss (delivered, deferred, processed, …).
    Ignore,
}

impl Effect {
    pub fn name(self) -> &'static str {
        match self {
            Effect::HardBounce => "bounce",
            Effect::Blocked => "blocked",
            Effect::Complaint => "complaint",
            Effect::Unsubscribe => "unsubscribe",
            Effect::Ignore => "ignored",
        }
    }
}

/// One event of a verified Event Webhook request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub email: String,
    pub event: String,
    pub at: i64,
    pub reason: Option<String>,
    /// The `hoss_send_id` custom argument of outreach, when present.
    pub send_id: Option<i64>,
    pub effect: Effect,
}

/// The custom argument every outreach request carries.
pub const SEND_ID_ARG: &str = "hoss_send_id";

/// Reads a request body: a JSON array of events. Events without an
/// `sg_event_id` or an `email` are skipped (they cannot be deduplicated
/// or applied); a body that is not an array is an error.
pub fn events(body: &[u8]) -> Result<Vec<Event>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let list = value.as_array().ok_or("not a JSON array of events")?;
    Ok(list.iter().filter_map(event).collect())
}

fn event(v: &Value) -> Option<Event> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let kind = text("event")?;
    let reason = text("reason").or_else(|| text("response"));
    let effect = match kind.as_str() {
        "bounce" if text("type").as_deref() == Some("blocked") => Effect::Blocked,
        "bounce" => Effect::HardBounce,
        "dropped" => dropped(reason.as_deref().unwrap_or("")),
        "spamreport" => Effect::Complaint,
        "unsubscribe" | "group_unsubscribe" => Effect::Unsubscribe,
        _ => Effect::Ignore,
    };
    let send_id = v.get(SEND_ID_ARG).and_then(|s| match s {
        Value::String(s) => s.parse().ok(),
        other => other.as_i64(),
    });
    Some(Event {
        id: text("sg_event_id")?,
        email: text("email")?.trim().to_ascii_lowercase(),
        at: v.get("timestamp").and_then(Value::as_i64).unwrap_or(0),
        event: kind,
        reason,
        send_id,
        effect,
    })
}

/// `dropped` suppresses only an address SendGrid already knows is bad.
fn dropped(reason: &str) -> Effect {
    let r = reason.to_ascii_lowercase();
    if r.contains("spam") {
        Effect::Complaint
    } else if r.contains("unsubscribe") {
        Effect::Unsubscribe
    } else if r.contains("bounce") || r.contains("invalid") {
        Effect::HardBounce
    } else {
        Effect::Ignore
    }
}

/// The suppression lists `sync-inbox` pulls, and what an entry of each means.
pub const SUPPRESSION_LISTS: [(&str, Effect); 5] = [
    ("bounces", Effect::HardBounce),
    ("blocks", Effect::Blocked),
    ("spam_reports", Effect::Complaint),
    ("invalid_emails", Effect::HardBounce),
    ("unsubscribes", Effect::Unsubscribe),
];

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::{SigningKey, signature::Signer};
    use p256::pkcs8::EncodePublicKey;

    fn keys() -> (SigningKey, String) {
        let signing = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let der = signing.verifying_key().to_public_key_der().unwrap();
        (signing, STANDARD.encode(der.as_bytes()))
    }

    fn sign(key: &SigningKey, t: &str, body: &[u8]) -> String {
        let mut msg = t.as_bytes().to_vec();
        msg.extend_from_slice(body);
        let sig: DerSignature = key.sign(&msg);
        STANDARD.encode(sig.as_bytes())
    }

    #[test]
    fn a_signed_body_verifies_and_nothing_else_does() {
        let (signing, public) = keys();
        let key = public_key(&public).unwrap();
        let body = br#"[{"email":"a@x.example","event":"bounce"}]"#;
        let sig = sign(&signing, "1000", body);
        assert_eq!(
            verify(&key, Some(&sig), Some("1000"), body, 1100, 300),
            Ok(())
        );
        let tampered = br#"[{"email":"b@x.example","event":"bounce"}]"#;
        assert!(verify(&key, Some(&sig), Some("1000"), tampered, 1100, 300).is_err());
        assert!(verify(&key, Some(&sig), Some("1001"), body, 1100, 300).is_err());
        let stale = verify(&key, Some(&sig), Some("1000"), body, 1400, 300).unwrap_err();
        assert!(stale.contains("tolerance"), "{stale}");
        assert!(verify(&key, None, Some("1000"), body, 1000, 300).is_err());
        assert!(verify(&key, Some("%%%"), Some("1000"), body, 1000, 300).is_err());
        assert!(verify(&key, Some("AAAA"), Some("1000"), body, 1000, 300).is_err());
    }

    #[test]
    fn keys_that_are_not_keys_are_named() {
        let (_, public) = keys();
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{public}\n-----END PUBLIC KEY-----\n");
        assert!(public_key(&pem).is_ok());
        assert!(
            public_key("not base64!")
                .unwrap_err()
                .contains("not base64")
        );
        assert!(public_key("AAAA").unwrap_err().contains("not a P-256"));
    }

    #[test]
    fn each_event_maps_as_spec_13_says() {
        let body = br#"[
          {"sg_event_id":"e1","email":"A@X.example","event":"bounce","type":"bounce","timestamp":5,"hoss_send_id":"42"},
          {"sg_event_id":"e2","email":"a@x.example","event":"bounce","type":"blocked"},
          {"sg_event_id":"e3","email":"a@x.example","event":"dropped","reason":"Bounced Address"},
          {"sg_event_id":"e4","email":"a@x.example","event":"dropped","reason":"Spam Reporting Address"},
          {"sg_event_id":"e5","email":"a@x.example","event":"dropped","reason":"Unsubscribed Address"},
          {"sg_event_id":"e6","email":"a@x.example","event":"dropped","reason":"Exceeded max size"},
          {"sg_event_id":"e7","email":"a@x.example","event":"spamreport"},
          {"sg_event_id":"e8","email":"a@x.example","event":"group_unsubscribe"},
          {"sg_event_id":"e9","email":"a@x.example","event":"delivered"},
          {"email":"no-id@x.example","event":"bounce"},
          {"sg_event_id":"e10","event":"bounce"}
        ]"#;
        let got: Vec<(String, Effect)> = events(body)
            .unwrap()
            .into_iter()
            .map(|e| (e.id, e.effect))
            .collect();
        use Effect::*;
        let want = [
            HardBounce,
            Blocked,
            HardBounce,
            Complaint,
            Unsubscribe,
            Ignore,
            Complaint,
            Unsubscribe,
            Ignore,
        ];
        assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), want);
        let first = &events(body).unwrap()[0];
        assert_eq!(
            (first.email.as_str(), first.send_id, first.at),
            ("a@x.example", Some(42), 5)
        );
        assert!(events(b"{}").is_err());
        assert!(events(b"nope").is_err());
    }
}
