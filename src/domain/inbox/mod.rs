//! What came back (SPEC §13): one received message, parsed and classified.
//!
//! Pure: the raw bytes (and the message's own date) in, a [`Classified`]
//! out. Attribution to a lead and the actions taken live in the command,
//! which has the database.

mod bounce;
mod dates;
mod text;

use mailparse::{MailHeaderMap, ParsedMail};

pub use bounce::Bounce;
pub use dates::return_date;

/// Largest body hoss reads from one message (SPEC §13).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What a message is, in the order SPEC §13 tests for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Bounce(Bounce),
    /// An abuse report (RFC 5965 `feedback-report`): treated as a complaint.
    Complaint,
    AutoReply,
    OptOut,
    Reply,
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Bounce(_) => "bounce",
            Kind::Complaint => "complaint",
            Kind::AutoReply => "auto_reply",
            Kind::OptOut => "opt_out",
            Kind::Reply => "reply",
        }
    }
}

/// One received message, reduced to what attribution and classification use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kind: Kind,
    /// `Message-ID` without angle brackets, if any.
    pub message_id: Option<String>,
    /// `In-Reply-To` and `References`, without angle brackets.
    pub references: Vec<String>,
    /// The sender's address, lower-cased.
    pub from: Option<String>,
    /// Every `To`/`Cc`/`Delivered-To` address, lower-cased (plus tokens).
    pub to: Vec<String>,
    pub subject: String,
    /// The return date an auto-reply names, as `YYYY-MM-DD`.
    pub back_on: Option<chrono::NaiveDate>,
}

/// Parses and classifies one message. `received` (unix seconds) anchors
/// dates without a year. A message that does not parse is an error string.
pub fn classify(raw: &[u8], received: i64) -> Result<Classified, String> {
    let raw = &raw[..raw.len().min(MAX_BODY_BYTES)];
    let mail = mailparse::parse_mail(raw).map_err(|e| format!("unreadable message: {e}"))?;
    let h = &mail.headers;
    let subject = h.get_first_value("Subject").unwrap_or_default();
    let from = first_address(h.get_first_value("From").as_deref());
    let mut to = Vec::new();
    for key in ["To", "Cc", "Delivered-To", "X-Original-To"] {
        for v in h.get_all_values(key) {
            to.extend(addresses(&v));
        }
    }
    let mut references = Vec::new();
    for key in ["In-Reply-To", "References"] {
        for v in h.get_all_values(key) {
            references.extend(message_ids(&v));
        }
    }
    let message_id = h
        .get_first_value("Message-ID")
        .and_then(|v| message_ids(&v).into_iter().next());
    let body = text::plain_body(&mail);
    let (kind, back_on) = if let Some(b) = bounce::of(&mail, from.as_deref(), &body) {
        (Kind::Bounce(b), None)
    } else if is_feedback_report(&mail) {
        (Kind::Complaint, None)
    } else if text::subject_asks_to_stop(&subject) {
        // What a List-Unsubscribe `mailto:` sends (Subject "unsubscribe",
        // a machine-made body or none, often Auto-Submitted): the clearest
        // opt-out there is, whatever else the message looks like.
        (Kind::OptOut, None)
    } else if is_auto_reply(&mail, &subject) || is_daemon(from.as_deref()) {
        // A mailer daemon's notice that names no status is still no human's
        // reply (it may well come from the lead's own company domain).
        (Kind::AutoReply, return_date(&body, received))
    } else if text::asks_to_stop(&body) {
        (Kind::OptOut, None)
    } else {
        (Kind::Reply, None)
    };
    Ok(Classified {
        kind,
        message_id,
        references,
        from,
        to,
        subject,
        back_on,
    })
}

/// Whether `from` is a mail system (`mailer-daemon@…`, `postmaster@…`).
fn is_daemon(from: Option<&str>) -> bool {
    from.is_some_and(|f| {
        let local = f.split('@').next().unwrap_or_default();
        local == "mailer-daemon" || local == "postmaster"
    })
}

/// Whether a message's headers alone say it may be a bounce or a report,
/// whose body names the lead (so it is read even when nothing else matched).
pub fn may_be_report(c: &Classified, raw_headers: &[u8]) -> bool {
    is_daemon(c.from.as_deref())
        || String::from_utf8_lossy(raw_headers)
            .to_ascii_lowercase()
            .contains("multipart/report")
}

fn is_feedback_report(mail: &ParsedMail) -> bool {
    mail.ctype.mimetype.eq_ignore_ascii_case("multipart/report")
        && mail
            .ctype
            .params
            .get("report-type")
            .is_some_and(|t| t.eq_ignore_ascii_case("feedback-report"))
}

/// RFC 3834 signals, and the subjects of the common out-of-office replies.
fn is_auto_reply(mail: &ParsedMail, subject: &str) -> bool {
    let h = &mail.headers;
    let value = |k: &str| h.get_first_value(k).map(|v| v.trim().to_ascii_lowercase());
    if value("Auto-Submitted").is_some_and(|v| !v.is_empty() && v != "no")
        || value("X-Autoreply").is_some()
        || value("X-Autorespond").is_some()
        || value("Precedence").is_some_and(|v| matches!(v.as_str(), "bulk" | "junk" | "auto_reply"))
        || value("Return-Path").is_some_and(|v| v.trim_matches(|c| c == '<' || c == '>').is_empty())
    {
        return true;
    }
    let subject = subject.to_lowercase();
    OUT_OF_OFFICE.iter().any(|p| subject.contains(p))
}

const OUT_OF_OFFICE: &[&str] = &[
    "out of office",
    "out of the office",
    "automatic reply",
    "auto-reply",
    "autoreply",
    "auto reply",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
    "respuesta automática",
    "risposta automatica",
];

/// The first address of a header value, lower-cased.
pub fn first_address(value: Option<&str>) -> Option<String> {
    addresses(value?).into_iter().next()
}

/// Every address of a header value, trimmed and lower-cased (`<ann@x.com >`
/// is `ann@x.com`); unparseable values give whatever looks like
/// `local@domain`.
pub fn addresses(value: &str) -> Vec<String> {
    use mailparse::MailAddr;
    let clean = |a: &str| a.trim().to_ascii_lowercase();
    let mut out = Vec::new();
    match mailparse::addrparse(value) {
        Ok(list) => {
            for a in list.into_inner() {
                match a {
                    MailAddr::Single(s) => out.push(clean(&s.addr)),
                    MailAddr::Group(g) => out.extend(g.addrs.iter().map(|s| clean(&s.addr))),
                }
            }
        }
        Err(_) => out.extend(text::emails_in(value)),
    }
    out.retain(|a| a.contains('@'));
    out
}

/// Message-IDs in a header value, without angle brackets.
pub fn message_ids(value: &str) -> Vec<String> {
    match mailparse::msgidparse(value) {
        Ok(ids) => ids.iter().map(|s| s.trim().to_string()).collect(),
        Err(_) => Vec::new(),
    }
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_000_000; // 2026-11-30

    fn msg(headers: &str, body: &str) -> Vec<u8> {
        format!("{headers}\r\n\r\n{body}")
            .replace("\r\n", "\n")
            .replace('\n', "\r\n")
            .into_bytes()
    }

    #[test]
    fn a_human_answer_is_a_reply_with_its_threading() {
        let raw = msg(
            "From: Ann Lee <Ann@Acme.Example>\nTo: Bob <bob+hAB12@sender.example>\nSubject: Re: quick question\nMessage-ID: <r1@acme.example>\nIn-Reply-To: <m1@sender.example>\nReferences: <m0@sender.example> <m1@sender.example>",
            "Sounds good, call me Tuesday.\n\nOn Mon, Bob wrote:\n> please unsubscribe me if not interested",
        );
        let c = classify(&raw, NOW).unwrap();
        assert_eq!(c.kind, Kind::Reply);
        assert_eq!(c.from.as_deref(), Some("ann@acme.example"));
        assert_eq!(c.to, vec!["bob+hab12@sender.example"]);
        assert_eq!(c.message_id.as_deref(), Some("r1@acme.example"));
        assert_eq!(
            c.references,
            vec![
                "m1@sender.example",
                "m0@sender.example",
                "m1@sender.example"
            ]
        );
    }

    #[test]
    fn stop_words_above_the_quote_are_an_opt_out() {
        for body in [
            "Please remove me from your list.\n\n-- \nAnn",
            "\n\nUNSUBSCRIBE\n",
            "Not interested in more emails, thanks",
            "Hi,\nstop emailing me.\n\nOn Tue, 1 Dec 2026, Bob wrote:\n> hello",
        ] {
            let c = classify(&msg("From: a@x.example\nSubject: Re: hi", body), NOW).unwrap();
            assert_eq!(c.kind, Kind::OptOut, "{body:?}");
        }
    }

    #[test]
    fn out_of_office_is_an_auto_reply_with_its_return_date() {
        let c = classify(
            &msg(
                "From: a@x.example\nSubject: Automatic reply: quick question\nAuto-Submitted: auto-replied",
                "I am out of the office and back on 7 December. Please unsubscribe nobody.",
            ),
            NOW,
        )
        .unwrap();
        assert_eq!(c.kind, Kind::AutoReply);
        assert_eq!(c.back_on.unwrap().to_string(), "2026-12-07");
        // The subject alone is enough; Auto-Submitted: no is a human.
        let subject_only = msg("From: a@x.example\nSubject: Out of Office", "Away.");
        assert_eq!(classify(&subject_only, NOW).unwrap().kind, Kind::AutoReply);
        let human = msg(
            "From: a@x.example\nSubject: Re: hi\nAuto-Submitted: no",
            "Yes!",
        );
        assert_eq!(classify(&human, NOW).unwrap().kind, Kind::Reply);
        let bulk = msg(
            "From: a@x.example\nSubject: news\nPrecedence: bulk",
            "Our news",
        );
        assert_eq!(classify(&bulk, NOW).unwrap().kind, Kind::AutoReply);
    }

    #[test]
    fn a_mailto_unsubscribe_is_an_opt_out_even_when_machine_made() {
        for headers in [
            "From: a@x.example\nSubject: unsubscribe",
            "From: a@x.example\nSubject: Unsubscribe\nAuto-Submitted: auto-generated",
        ] {
            let c = classify(&msg(headers, "This message was generated."), NOW).unwrap();
            assert_eq!(c.kind, Kind::OptOut, "{headers}");
        }
        let reply = msg(
            "From: a@x.example\nSubject: Re: Saving Acme a few hours",
            "Sure.",
        );
        assert_eq!(classify(&reply, NOW).unwrap().kind, Kind::Reply);
        let away = msg(
            "From: a@x.example\nSubject: Automatic reply: Saving Acme a few hours",
            "Away.",
        );
        assert_eq!(classify(&away, NOW).unwrap().kind, Kind::AutoReply);
    }

    #[test]
    fn a_daemon_notice_without_a_status_is_never_a_human_reply() {
        let raw = msg(
            "From: Mail Delivery System <MAILER-DAEMON@acme.example>\nSubject: Undeliverable: hi",
            "Your message to ann@acme.example could not be delivered: mailbox full.",
        );
        assert_eq!(classify(&raw, NOW).unwrap().kind, Kind::AutoReply);
    }

    #[test]
    fn an_abuse_report_is_a_complaint() {
        let raw = msg(
            "From: fbl@isp.example\nSubject: complaint\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"b\"",
            "--b\nContent-Type: text/plain\n\nA complaint.\n--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n--b--\n",
        );
        assert_eq!(classify(&raw, NOW).unwrap().kind, Kind::Complaint);
    }

    #[test]
    fn addresses_are_trimmed_inside_their_brackets() {
        assert_eq!(
            addresses("Ann <Ann@Acme.example >, < bob@b.example>"),
            vec!["ann@acme.example", "bob@b.example"]
        );
    }

    #[test]
    fn garbage_never_panics() {
        for raw in [
            &b""[..],
            b"\xff\xfe\x00",
            b"From:\r\n\r\n",
            b"Content-Type: multipart/report\r\n\r\n--",
        ] {
            let _ = classify(raw, NOW);
        }
    }
}
