//! Mailers behind one trait: DRY_RUN (no I/O), SendGrid (HTTP API v3) and
//! SMTP (lettre, blocking). Every send returns the same [`SendResult`], with
//! the failure classified as SPEC §4.4 needs it:
//!
//! * `Sent` — SendGrid 2xx, SMTP 250 after DATA;
//! * `Permanent` — SendGrid 4xx other than 429, SMTP 5xx;
//! * `Transient` — SendGrid 429/5xx, SMTP 4xx, or a connection that failed
//!   before the message was handed over;
//! * `Uncertain` — the message may have been handed over but no answer came;
//! * `Account` — the sender's account or settings were refused (a revoked
//!   key, an unverified sender, SMTP authentication, a TLS mismatch): no lead
//!   is at fault and every further send would fail the same way;
//! * `Unreachable` — the provider could not be reached at all (connection
//!   refused, no such host, connect timeout): nothing was handed over.
//!
//! Real mailers refuse reserved recipient domains before any I/O.
//!
//! SMTP mail is DKIM-signed when `DKIM_SELECTOR` is set (SPEC §15);
//! SendGrid mail is not: SendGrid signs with the domain authentication set
//! up in its account.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::dkim::{DkimCanonicalization, DkimCanonicalizationType, DkimConfig};
use lettre::message::header::{ContentType, HeaderName, HeaderValue, MIME_VERSION_1_0};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{SmtpTransport, Transport};
use serde_json::json;

use crate::config::{DkimSettings, EmailConfig, EmailMode, SmtpTls};
use crate::domain::address::{email_domain, is_reserved_domain};
use crate::domain::compose::Outgoing;
pub use crate::domain::delivery::{Delivery, SendResult};
use crate::services::http;

const TIMEOUT: Duration = Duration::from_secs(20);

pub trait Mailer {
    fn mode(&self) -> EmailMode;
    fn send(&mut self, message: &Outgoing) -> SendResult;
}

/// Builds the mailer a command sends through. `Ctx` holds one: [`for_config`]
/// in `hoss`, a stand-in that records what it was given in a test.
pub type MailerFactory = Arc<dyn Fn(&EmailConfig) -> Box<dyn Mailer> + Send + Sync>;

/// The factory `hoss` runs with: [`for_config`].
pub fn real() -> MailerFactory {
    Arc::new(for_config)
}

/// The mailer for the effective mode. Only a real effective mode builds a
/// real mailer, so DRY_RUN cannot open a connection.
pub fn for_config(cfg: &EmailConfig) -> Box<dyn Mailer> {
    match cfg.mode.effective {
        EmailMode::DryRun => Box::new(DryRun),
        EmailMode::SendGrid => match &cfg.sendgrid_api_key {
            Some(key) => Box::new(SendGrid {
                agent: http::agent(TIMEOUT),
                url: format!("{}/v3/mail/send", cfg.sendgrid_api_base),
                key: key.expose().to_string(),
            }),
            None => Box::new(Broken(
                EmailMode::SendGrid,
                "SENDGRID_API_KEY is missing".into(),
            )),
        },
        EmailMode::Smtp => match Smtp::new(cfg) {
            Ok(smtp) => Box::new(smtp),
            Err(e) => Box::new(Broken(EmailMode::Smtp, e)),
        },
    }
}

/// Simulation: succeeds, sends nothing.
pub struct DryRun;

impl Mailer for DryRun {
    fn mode(&self) -> EmailMode {
        EmailMode::DryRun
    }

    fn send(&mut self, _message: &Outgoing) -> SendResult {
        SendResult::sent(EmailMode::DryRun, None)
    }
}

/// A real mailer that could not be built (e.g. an unusable SMTP host): every
/// send fails before any I/O, transiently, so nothing is lost.
struct Broken(EmailMode, String);

impl Mailer for Broken {
    fn mode(&self) -> EmailMode {
        self.0
    }

    fn send(&mut self, _message: &Outgoing) -> SendResult {
        SendResult::failed(self.0, Delivery::Transient, self.1.clone())
    }
}

fn refuse_reserved(mode: EmailMode, message: &Outgoing) -> Option<SendResult> {
    is_reserved_domain(email_domain(&message.to)).then(|| {
        SendResult::failed(
            mode,
            Delivery::Permanent,
            "recipient is on a reserved domain; a real mailer never sends there".into(),
        )
    })
}

pub struct SendGrid {
    agent: ureq::Agent,
    url: String,
    key: String,
}

/// The v3 `mail/send` request body.
pub fn sendgrid_body(m: &Outgoing) -> serde_json::Value {
    let mut headers = serde_json::Map::new();
    if let Some(v) = &m.list_unsubscribe {
        headers.insert("List-Unsubscribe".into(), json!(v));
        if m.one_click {
            headers.insert(
                "List-Unsubscribe-Post".into(),
                json!("List-Unsubscribe=One-Click"),
            );
        }
    }
    let mut body = json!({
        "personalizations": [{"to": [{"email": m.to}]}],
        "from": {"email": m.from_email, "name": m.from_name},
        "reply_to": {"email": m.reply_to},
        "subject": m.subject,
        "content": [{"type": "text/plain", "value": m.body}],
    });
    if let Some(id) = &m.message_id {
        headers.insert("Message-ID".into(), json!(id));
    }
    if let Some(id) = &m.in_reply_to {
        headers.insert("In-Reply-To".into(), json!(id));
        headers.insert("References".into(), json!(m.references.join(" ")));
    }
    if !headers.is_empty() {
        body["headers"] = serde_json::Value::Object(headers);
    }
    if let Some(id) = m.send_id {
        body["custom_args"] =
            json!({ crate::domain::sendgrid_events::SEND_ID_ARG: id.to_string() });
    }
    // Tracking rewrites links and adds pixels and footers: none of it in
    // hoss's mail (SPEC §13).
    body["tracking_settings"] = json!({
        "click_tracking": {"enable": false},
        "open_tracking": {"enable": false},
        "subscription_tracking": {"enable": false},
    });
    body
}

impl Mailer for SendGrid {
    fn mode(&self) -> EmailMode {
        EmailMode::SendGrid
    }

    fn send(&mut self, message: &Outgoing) -> SendResult {
        const MODE: EmailMode = EmailMode::SendGrid;
        if let Some(refused) = refuse_reserved(MODE, message) {
            return refused;
        }
        let response = self
            .agent
            .post(&self.url)
            .header("Authorization", &format!("Bearer {}", self.key))
            .send_json(sendgrid_body(message));
        let mut response = match response {
            Ok(r) => r,
            Err(e) => {
                let delivery = if unreachable(&e) {
                    Delivery::Unreachable
                } else {
                    Delivery::Uncertain
                };
                return SendResult::failed(
                    MODE,
                    delivery,
                    http::shorten(&e.to_string(), 300, Some(&self.key)),
                );
            }
        };
        let status = response.status().as_u16();
        let message_id = response
            .headers()
            .get("X-Message-Id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if (200..300).contains(&status) {
            return SendResult::sent(MODE, message_id);
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .unwrap_or_default();
        let delivery = sendgrid_class(status, &text);
        SendResult::failed(
            MODE,
            delivery,
            format!(
                "SendGrid answered {status}: {}",
                http::shorten(&text, 300, Some(&self.key))
            ),
        )
    }
}

/// Did the request fail before reaching the provider at all?
fn unreachable(e: &ureq::Error) -> bool {
    use std::io::ErrorKind as K;
    use ureq::Timeout;
    match e {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Tls(_) => true,
        ureq::Error::Timeout(t) => matches!(t, Timeout::Resolve | Timeout::Connect),
        ureq::Error::Io(io) => matches!(
            io.kind(),
            K::ConnectionRefused
                | K::HostUnreachable
                | K::NetworkUnreachable
                | K::NetworkDown
                | K::AddrNotAvailable
        ),
        _ => false,
    }
}

/// SendGrid's answer to `mail/send`, by who can fix it: 401/403, a wrong
/// endpoint (404/405) and a refused sender or Reply-To (400 on `from` or
/// `reply_to`, "Sender Identity") are the account's;
/// 429/5xx pass; any other 4xx is this message's.
fn sendgrid_class(status: u16, body: &str) -> Delivery {
    let senders_field = || {
        let errors = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("errors").cloned());
        errors
            .as_ref()
            .and_then(|e| e.as_array())
            .is_some_and(|list| {
                list.iter().any(|e| {
                    let field = e.get("field").and_then(|f| f.as_str()).unwrap_or_default();
                    let message = e
                        .get("message")
                        .and_then(|m| m.as_str())
                        .unwrap_or_default();
                    field == "from"
                        || field.starts_with("from.")
                        || field == "reply_to"
                        || field.starts_with("reply_to.")
                        || message.to_ascii_lowercase().contains("sender identity")
                })
            })
    };
    match status {
        // 404/405: no such endpoint, so SENDGRID_API_BASE (or a proxy) is
        // wrong; nothing about this message could be.
        401 | 403 | 404 | 405 => Delivery::Account,
        429 | 500.. => Delivery::Transient,
        400 if senders_field() => Delivery::Account,
        _ => Delivery::Permanent,
    }
}

pub struct Smtp {
    transport: SmtpTransport,
    /// Signs every message when DKIM is configured.
    dkim: Option<DkimConfig>,
    /// Said with a connection failure when the port and SMTP_TLS disagree.
    hint: Option<&'static str>,
}

impl Smtp {
    fn new(cfg: &EmailConfig) -> Result<Smtp, String> {
        let smtp = &cfg.smtp;
        let host = smtp.host.as_deref().ok_or("SMTP_HOST is missing")?;
        let tls = |host: &str| {
            TlsParameters::new(host.to_string()).map_err(|e| format!("SMTP TLS setup failed: {e}"))
        };
        let builder = SmtpTransport::builder_dangerous(host)
            .port(smtp.port)
            .timeout(Some(TIMEOUT))
            .tls(match smtp.tls {
                SmtpTls::StartTls => Tls::Required(tls(host)?),
                SmtpTls::Implicit => Tls::Wrapper(tls(host)?),
                SmtpTls::None => Tls::None,
            });
        let builder = match (&smtp.username, &smtp.password) {
            (Some(user), Some(password)) => builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            )),
            _ => builder,
        };
        let dkim = cfg
            .deliverability
            .dkim
            .as_ref()
            .map(dkim_config)
            .transpose()?;
        Ok(Smtp {
            transport: builder.build(),
            dkim,
            hint: tls_hint(smtp.port, smtp.tls),
        })
    }
}

/// The headers a DKIM signature covers (SPEC §15): who, what, when, which
/// message, where replies go, and how to unsubscribe — so none of them can
/// be changed or added on the way without breaking the signature.
pub const DKIM_SIGNED_HEADERS: [&str; 8] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// lettre's signing configuration: relaxed/relaxed (survives the header
/// refolding and whitespace changes of relays), the headers above.
fn dkim_config(dkim: &DkimSettings) -> Result<DkimConfig, String> {
    let key = dkim.key.as_ref().map_err(Clone::clone)?;
    let signing_key = key
        .signing_key()
        .map_err(|e| format!("DKIM_PRIVATE_KEY_FILE {e}"))?;
    Ok(DkimConfig::new(
        dkim.selector.clone(),
        dkim.domain.clone(),
        signing_key,
        DKIM_SIGNED_HEADERS
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect(),
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}

/// The RFC 5322 message lettre sends: MIME-Version, explicit Content-Type, Date,
/// Message-ID, List-Unsubscribe; lettre picks the transfer encoding
/// (quoted-printable for non-ASCII text) and encodes non-ASCII headers.
pub fn smtp_message(m: &Outgoing) -> Result<lettre::Message, String> {
    let address = |a: &str| a.parse().map_err(|e| format!("address {a:?}: {e}"));
    let mut builder = lettre::Message::builder()
        .from(Mailbox::new(
            Some(m.from_name.clone()),
            address(&m.from_email)?,
        ))
        .reply_to(Mailbox::new(None, address(&m.reply_to)?))
        .to(Mailbox::new(None, address(&m.to)?))
        .subject(m.subject.clone())
        // RFC 2045: a Content-Type without MIME-Version is malformed, and
        // spam filters score it so.
        .header(MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .message_id(m.message_id.clone())
        .date_now();
    if let Some(id) = &m.in_reply_to {
        builder = builder
            .in_reply_to(id.clone())
            .references(m.references.join(" "));
    }
    if let Some(v) = &m.list_unsubscribe {
        builder = builder.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            v.clone(),
        ));
        if m.one_click {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            ));
        }
    }
    builder
        .body(m.body.clone())
        .map_err(|e| format!("cannot build the message: {e}"))
}

impl Mailer for Smtp {
    fn mode(&self) -> EmailMode {
        EmailMode::Smtp
    }

    fn send(&mut self, message: &Outgoing) -> SendResult {
        const MODE: EmailMode = EmailMode::Smtp;
        if let Some(refused) = refuse_reserved(MODE, message) {
            return refused;
        }
        let mut email = match smtp_message(message) {
            Ok(e) => e,
            Err(e) => return SendResult::failed(MODE, Delivery::Permanent, e),
        };
        if let Some(dkim) = &self.dkim {
            email.sign(dkim);
        }
        // Connect (or reuse the pooled connection) first: a failure here is
        // certainly before any hand-over, so it is safe to retry later.
        match self.transport.test_connection() {
            Ok(true) => {}
            Ok(false) => {
                return SendResult::failed(
                    MODE,
                    Delivery::Transient,
                    "SMTP server is not answering".into(),
                );
            }
            Err(e) => {
                let error = match self.hint {
                    Some(hint) => format!("{} ({hint})", smtp_error(&e)),
                    None => smtp_error(&e),
                };
                return SendResult::failed(MODE, smtp_connect_class(&e), error);
            }
        }
        match self.transport.send(&email) {
            Ok(response) => SendResult::sent(MODE, response.message().next().map(str::to_string)),
            Err(e) => {
                let delivery = if e.is_permanent() {
                    Delivery::Permanent
                } else if e.is_transient() {
                    Delivery::Transient
                } else {
                    Delivery::Uncertain
                };
                SendResult::failed(MODE, delivery, smtp_error(&e))
            }
        }
    }
}

/// A failure while connecting, greeting, securing or authenticating — before
/// any message was handed over — by who can fix it: a 4xx passes; no answer
/// at all is an outage; a 5xx (530/534/535 authentication, a refused
/// client), a TLS handshake that fails or a STARTTLS the server does not
/// offer are the sender's settings.
fn smtp_connect_class(e: &lettre::transport::smtp::Error) -> Delivery {
    if e.is_transient() {
        Delivery::Transient
    } else if e.is_permanent() || e.is_tls() || e.is_client() || e.is_response() {
        Delivery::Account
    } else {
        Delivery::Unreachable
    }
}

/// The error and its causes, each said once: lettre repeats its source in
/// its own text ("Connection refused (os error 111): Connection refused (os
/// error 111)").
fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            // A cause that repeats the text before it replaces nothing new.
            parts.retain(|p| !text.contains(p.as_str()));
            parts.push(text);
        }
        next = err.source();
    }
    http::shorten(&parts.join(": "), 300, None)
}

/// What to change when the port and the TLS setting do not go together.
fn tls_hint(port: u16, tls: SmtpTls) -> Option<&'static str> {
    match (port, tls) {
        (465, SmtpTls::StartTls | SmtpTls::None) => {
            Some("port 465 expects TLS from the first byte: set SMTP_TLS=TLS")
        }
        (587 | 25, SmtpTls::Implicit) => {
            Some("ports 587 and 25 start in plain text: set SMTP_TLS=STARTTLS")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{Delivery, SmtpTls, sendgrid_class, tls_hint};

    #[test]
    fn a_port_that_disagrees_with_smtp_tls_gets_a_hint() {
        assert!(
            tls_hint(465, SmtpTls::StartTls)
                .unwrap()
                .contains("SMTP_TLS=TLS")
        );
        assert!(
            tls_hint(587, SmtpTls::Implicit)
                .unwrap()
                .contains("SMTP_TLS=STARTTLS")
        );
        assert_eq!(tls_hint(587, SmtpTls::StartTls), None);
        assert_eq!(tls_hint(465, SmtpTls::Implicit), None);
    }

    #[test]
    fn sendgrid_answers_are_classed_by_who_can_fix_them() {
        let from = r#"{"errors":[{"message":"The from address does not match a verified Sender Identity.","field":"from","help":null}]}"#;
        let to = r#"{"errors":[{"message":"Does not contain a valid address.","field":"personalizations.0.to.0.email"}]}"#;
        for (status, body, class) in [
            (401, "", Delivery::Account),
            (403, "", Delivery::Account),
            (400, from, Delivery::Account),
            (404, "", Delivery::Account),
            (405, "", Delivery::Account),
            (400, to, Delivery::Permanent),
            (400, "not json", Delivery::Permanent),
            (413, "", Delivery::Permanent),
            (429, "", Delivery::Transient),
            (503, "", Delivery::Transient),
        ] {
            assert_eq!(sendgrid_class(status, body), class, "{status} {body}");
        }
    }
}
