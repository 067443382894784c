//! Bounces: RFC 3464 delivery-status reports, and the plain-text notices
//! of mailer daemons (Gmail's "Address not found", Microsoft's NDRs).

use mailparse::{MailHeaderMap, ParsedMail};

use super::{message_ids, text};

/// A failed (or delayed) delivery of a message hoss sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The address that could not be reached, lower-cased.
    pub recipient: Option<String>,
    /// The enhanced status code, e.g. `5.1.1`.
    pub status: String,
    /// `5.x.x` and not `Action: delayed`: the address is gone.
    pub hard: bool,
    /// The Message-ID of the message that bounced, when the report quotes it.
    pub original_message_id: Option<String>,
    /// The remote server's words, when given (at most 200 characters).
    pub diagnostic: Option<String>,
}

/// The bounce this message reports, if it is one.
pub fn of(mail: &ParsedMail, from: Option<&str>, body: &str) -> Option<Bounce> {
    if is_delivery_status_report(mail) {
        return from_report(mail);
    }
    let daemon = from.is_some_and(|f| {
        let local = f.split('@').next().unwrap_or("").to_ascii_lowercase();
        local == "mailer-daemon" || local == "postmaster"
    });
    if daemon { from_text(body, from) } else { None }
}

fn is_delivery_status_report(mail: &ParsedMail) -> bool {
    mail.ctype.mimetype.eq_ignore_ascii_case("multipart/report")
        && mail
            .ctype
            .params
            .get("report-type")
            .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
}

fn from_report(mail: &ParsedMail) -> Option<Bounce> {
    let mut found: Option<Bounce> = None;
    let mut original = None;
    for part in mail.parts() {
        let mime = part.ctype.mimetype.to_ascii_lowercase();
        let Ok(raw) = part.get_body_raw() else {
            continue;
        };
        match mime.as_str() {
            "message/delivery-status" | "message/global-delivery-status" => {
                found = found.or_else(|| recipient_fields(&raw));
            }
            "message/rfc822" | "text/rfc822-headers" | "message/rfc822-headers" => {
                if let Ok((headers, _)) = mailparse::parse_headers(&raw) {
                    original = headers
                        .get_first_value("Message-ID")
                        .and_then(|v| message_ids(&v).into_iter().next());
                }
            }
            _ => {}
        }
    }
    let mut bounce = found?;
    bounce.original_message_id = original;
    Some(bounce)
}

/// The first per-recipient group of a `message/delivery-status` body that
/// failed or was delayed.
fn recipient_fields(raw: &[u8]) -> Option<Bounce> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    // The first group is per message; each later one is per recipient.
    for group in text.split("\n\n").skip(1) {
        let Ok((fields, _)) = mailparse::parse_headers(group.trim_start().as_bytes()) else {
            continue;
        };
        let action = fields
            .get_first_value("Action")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !matches!(action.as_str(), "failed" | "delayed") {
            continue;
        }
        let status = fields
            .get_first_value("Status")
            .and_then(|s| status_code(&s))
            .unwrap_or_else(|| if action == "failed" { "5.0.0" } else { "4.0.0" }.into());
        let recipient = ["Final-Recipient", "Original-Recipient"]
            .iter()
            .find_map(|k| {
                let v = fields.get_first_value(k)?;
                let addr = v
                    .rsplit(';')
                    .next()?
                    .trim()
                    .trim_matches(['<', '>'])
                    .trim()
                    .to_ascii_lowercase();
                addr.contains('@').then_some(addr)
            });
        return Some(Bounce {
            recipient,
            hard: status.starts_with('5') && action != "delayed",
            status,
            original_message_id: None,
            diagnostic: fields.get_first_value("Diagnostic-Code").map(|d| clip(&d)),
        });
    }
    None
}

/// A mailer daemon's prose: the failed recipient is the first address
/// that is not the daemon's own, the status the first enhanced code (else
/// a 5xx/4xx reply code).
fn from_text(body: &str, from: Option<&str>) -> Option<Bounce> {
    let status = status_code(body)?;
    let recipient = text::emails_in(body).into_iter().find(|a| {
        Some(a.as_str()) != from
            && !a.starts_with("mailer-daemon@")
            && !a.starts_with("postmaster@")
    });
    recipient.as_ref()?;
    let original_message_id = body.lines().find_map(|line| {
        let (key, value) = line.trim().split_once(':')?;
        key.eq_ignore_ascii_case("message-id")
            .then(|| message_ids(value).into_iter().next())?
    });
    let delayed = body.to_ascii_lowercase().contains("delayed");
    Some(Bounce {
        recipient,
        hard: status.starts_with('5') && !delayed,
        status,
        original_message_id,
        diagnostic: None,
    })
}

/// The first enhanced status code (`5.1.1`) in `text`, else one made from
/// the first SMTP reply code (`550` → `5.0.0`).
fn status_code(text: &str) -> Option<String> {
    let words = || {
        text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .map(|w| w.trim_end_matches('.'))
    };
    let enhanced = words().find(|w| {
        let parts: Vec<&str> = w.split('.').collect();
        parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..].iter().all(|p| (1..=3).contains(&p.len()))
    });
    if let Some(code) = enhanced {
        return Some(code.to_string());
    }
    words()
        .find(|w| w.len() == 3 && (w.starts_with('5') || w.starts_with('4')) && !w.contains('.'))
        .map(|w| format!("{}.0.0", &w[..1]))
}

fn clip(s: &str) -> String {
    s.trim().chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Kind, classify};

    fn crlf(s: &str) -> Vec<u8> {
        s.replace('\n', "\r\n").into_bytes()
    }

    const DSN: &str = "From: Mail Delivery System <MAILER-DAEMON@mx.example>
To: bob@sender.example
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; <Gone@Acme.example>
Original-Recipient: rfc822;gone@acme.example
Action: ACTION
Status: STATUS
Diagnostic-Code: smtp; 550 5.1.1 <gone@acme.example>: Recipient address rejected

--B
Content-Type: text/rfc822-headers

From: bob@sender.example
To: gone@acme.example
Message-ID: <hoss.42@sender.example>
Subject: quick question

--B--
";

    #[test]
    fn a_delivery_status_report_names_recipient_status_and_original() {
        let raw = crlf(&DSN.replace("ACTION", "failed").replace("STATUS", "5.1.1"));
        let c = classify(&raw, 0).unwrap();
        let Kind::Bounce(b) = c.kind else {
            panic!("{c:?}")
        };
        assert!(b.hard);
        assert_eq!(b.status, "5.1.1");
        assert_eq!(b.recipient.as_deref(), Some("gone@acme.example"));
        assert_eq!(
            b.original_message_id.as_deref(),
            Some("hoss.42@sender.example")
        );
        assert!(b.diagnostic.unwrap().contains("Recipient address rejected"));
    }

    #[test]
    fn delayed_and_4xx_are_soft_and_delivered_is_no_bounce() {
        for (action, status) in [
            ("delayed", "4.4.7"),
            ("failed", "4.2.2"),
            ("delayed", "5.0.0"),
        ] {
            let raw = crlf(&DSN.replace("ACTION", action).replace("STATUS", status));
            let Kind::Bounce(b) = classify(&raw, 0).unwrap().kind else {
                panic!()
            };
            assert!(!b.hard, "{action} {status}");
        }
        let raw = crlf(
            &DSN.replace("ACTION", "delivered")
                .replace("STATUS", "2.0.0"),
        );
        assert!(!matches!(classify(&raw, 0).unwrap().kind, Kind::Bounce(_)));
    }

    #[test]
    fn plain_text_notices_of_gmail_and_microsoft() {
        let gmail = crlf(
            "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
Subject: Delivery Status Notification (Failure)

Address not found

Your message wasn't delivered to ann@acme.example because the address couldn't be found.

The response was:
550 5.1.1 The email account that you tried to reach does not exist.

Message-ID: <hoss.7@sender.example>
",
        );
        let Kind::Bounce(b) = classify(&gmail, 0).unwrap().kind else {
            panic!()
        };
        assert_eq!((b.hard, b.status.as_str()), (true, "5.1.1"));
        assert_eq!(b.recipient.as_deref(), Some("ann@acme.example"));
        assert_eq!(
            b.original_message_id.as_deref(),
            Some("hoss.7@sender.example")
        );

        let ndr = crlf(
            "From: postmaster@outlook.example
Subject: Undeliverable: quick question

Delivery has failed to these recipients or groups:
joe@contoso.example
Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound'
",
        );
        let Kind::Bounce(b) = classify(&ndr, 0).unwrap().kind else {
            panic!()
        };
        assert_eq!(b.status, "5.1.10");
        assert_eq!(b.recipient.as_deref(), Some("joe@contoso.example"));
    }

    #[test]
    fn a_daemon_message_without_a_status_is_not_a_bounce() {
        let raw = crlf(
            "From: postmaster@x.example\nSubject: hello\n\nWelcome to x.example, ann@x.example!\n",
        );
        assert!(!matches!(classify(&raw, 0).unwrap().kind, Kind::Bounce(_)));
    }
}
