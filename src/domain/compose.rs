//! Message composition, pure: subject and body from a template pack, the
//! footer the law and good manners require, line wrapping, and the
//! unsubscribe headers. Whatever comes from a lead is cleaned of control
//! characters before it can reach a header.

use super::leads::{clean_text, short_company};
use super::templates::{Pack, Values, first_name, render_first};

/// Longest line in a body, and longest subject, in characters.
pub const WIDTH: usize = 78;
/// A line holding only a URL may be longer, up to the SMTP line limit.
pub const MAX_URL_LINE: usize = 998;

/// Who a message is from, as configured: the operator, never the product.
#[derive(Debug, Clone)]
pub struct Sender {
    pub from_name: String,
    pub from_email: String,
    pub reply_to: String,
    pub sender_name: String,
    pub company_name: String,
    pub postal_address: Option<String>,
    pub public_base_url: Option<String>,
}

/// A provider-neutral message: every mailer sends exactly this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub from_name: String,
    pub from_email: String,
    pub reply_to: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// `List-Unsubscribe` value, when the message offers one.
    pub list_unsubscribe: Option<String>,
    /// RFC 8058 one-click (`List-Unsubscribe-Post`), only with an https link.
    pub one_click: bool,
    /// The `Message-ID` hoss gives it (with angle brackets), so a reply's
    /// `In-Reply-To` or a bounce names the send; `None` lets the mailer pick.
    pub message_id: Option<String>,
    /// The send ledger row, passed to SendGrid as a custom argument so its
    /// events name the send.
    pub send_id: Option<i64>,
    /// A follow-up's thread: the previous step's Message-ID, and all of
    /// them (with angle brackets).
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
}

/// `{{ sender_company }}` before `COMPANY_NAME` is set (sandbox only).
pub const COMPANY_PLACEHOLDER: &str = "[COMPANY_NAME]";

/// What of a lead a message may use.
#[derive(Debug, Clone)]
pub struct LeadFields<'a> {
    pub id: i64,
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub company: &'a str,
    pub niche: Option<&'a str>,
}

/// What makes a message a follow-up in its thread (SPEC §14).
#[derive(Debug, Clone, Copy)]
pub struct FollowUp<'a> {
    /// The step (2 and on): picks the body, second step the first body.
    pub step: u32,
    /// The step's own subject template, if it has one.
    pub subject: Option<&'a str>,
    /// The first email's subject: `Re: ` + it, when the step has none.
    pub first_subject: &'a str,
    /// The Message-IDs of the steps sent, oldest first (no angle brackets).
    pub message_ids: &'a [String],
}

/// The outreach message for a lead. The variant is chosen by lead id (the
/// first that renders for this lead, going round from there), so a retry
/// sends the same words. Errors name what is missing.
pub fn outreach(
    pack: &Pack,
    lead: &LeadFields<'_>,
    offer: &str,
    default_niche: &str,
    sender: &Sender,
    unsubscribe_token: &str,
) -> Result<Outgoing, String> {
    outreach_step(
        pack,
        lead,
        offer,
        default_niche,
        sender,
        unsubscribe_token,
        None,
    )
}

/// [`outreach`] for any step: a follow-up answers the thread of the steps
/// before it (`In-Reply-To`, `References`, `Re: ` + the first subject).
pub fn outreach_step(
    pack: &Pack,
    lead: &LeadFields<'_>,
    offer: &str,
    default_niche: &str,
    sender: &Sender,
    unsubscribe_token: &str,
    follow_up: Option<&FollowUp<'_>>,
) -> Result<Outgoing, String> {
    let link = unsubscribe_link(sender, unsubscribe_token);
    let company = clean_text(Some(lead.company));
    let values = Values {
        first_name: lead.name.and_then(first_name),
        company: company.as_deref().map(short_company),
        company_full: company,
        niche: clean_text(lead.niche).or_else(|| clean_text(Some(default_niche))),
        offer: clean_text(Some(offer)),
        sender_name: clean_text(Some(&sender.sender_name)),
        // COMPANY_NAME is required for real email; until it is set (DRY_RUN,
        // preview) a pack that names the company shows where it goes.
        sender_company: clean_text(Some(&sender.company_name))
            .or_else(|| Some(COMPANY_PLACEHOLDER.to_string())),
        footer: Some(footer(sender, Some(link.as_deref()))),
    };
    let start = lead.id.unsigned_abs() as usize;
    let Some(f) = follow_up else {
        let subject = render_first(&pack.subjects, start % pack.subjects.len(), &values)?;
        let body = render_first(&pack.bodies, start % pack.bodies.len(), &values)?;
        return Ok(build(sender, lead.email, &subject, wrap(&body), Some(link)));
    };
    // The step's own subject when it renders for this lead; else (a value
    // the lead lacks, as a pack moves on to its next subject) the thread's.
    let subject = f
        .subject
        .and_then(|template| render_first(&[template.to_string()], 0, &values).ok())
        .unwrap_or_else(|| format!("Re: {}", f.first_subject.trim_start_matches("Re: ")));
    let index = f.step.saturating_sub(2) as usize % pack.bodies.len();
    let body = render_first(&pack.bodies, index, &values)?;
    let mut m = build(sender, lead.email, &subject, wrap(&body), Some(link));
    let ids: Vec<String> = f.message_ids.iter().map(|id| format!("<{id}>")).collect();
    m.in_reply_to = ids.last().cloned();
    m.references = ids;
    Ok(m)
}

fn unsubscribe_link(sender: &Sender, token: &str) -> Option<String> {
    sender
        .public_base_url
        .as_ref()
        .map(|base| format!("{}/unsubscribe/{token}", base.trim_end_matches('/')))
}

/// The signature every message to a customer or lead carries: sender,
/// company, postal address; for outreach (`opt_out` is `Some(link)`) the
/// opt-out line and the one-click link when there is one.
pub fn footer(sender: &Sender, opt_out: Option<Option<&str>>) -> String {
    let mut text = String::from("-- \n");
    for line in [
        Some(&sender.sender_name),
        Some(&sender.company_name),
        sender.postal_address.as_ref(),
    ]
    .into_iter()
    .flatten()
    .filter(|l| !l.trim().is_empty())
    {
        text.push_str(line);
        text.push('\n');
    }
    if let Some(link) = opt_out {
        text.push_str(
            "Not interested? Reply with \"unsubscribe\" and you will not hear from us again.\n",
        );
        if let Some(url) = link {
            text.push_str("Or unsubscribe with one click:\n");
            text.push_str(url);
            text.push('\n');
        }
    }
    text
}

/// A message to one person with the signature footer and no opt-out (a
/// test message).
pub fn message(sender: &Sender, to: &str, subject: &str, body: &str) -> Outgoing {
    let text = format!("{}\n\n{}", body.trim_end(), footer(sender, None));
    build(sender, to, subject, wrap(&text), None)
}

/// Mail to the operator (the digest): no footer, and lines are kept whole
/// (tables stay aligned) up to the SMTP line limit.
pub fn operator_mail(sender: &Sender, to: &str, subject: &str, body: &str) -> Outgoing {
    let text: String = body
        .replace("\r\n", "\n")
        .split('\n')
        .map(|line| {
            let line: String = line
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(MAX_URL_LINE)
                .collect();
            line.trim_end().to_string() + "\n"
        })
        .collect();
    build(
        sender,
        to,
        subject,
        text.trim_end().to_string() + "\n",
        None,
    )
}

/// `opt_out` is `Some` for outreach (with the one-click link when there is
/// one): the unsubscribe headers.
fn build(
    sender: &Sender,
    to: &str,
    subject: &str,
    body: String,
    opt_out: Option<Option<String>>,
) -> Outgoing {
    let mailto = format!("mailto:{}?subject=unsubscribe", sender.reply_to);
    let (list_unsubscribe, one_click) = match &opt_out {
        None => (None, false),
        Some(Some(url)) => (
            Some(format!("<{mailto}>, <{url}>")),
            url.starts_with("https://"),
        ),
        Some(None) => (Some(format!("<{mailto}>")), false),
    };
    Outgoing {
        from_name: sender.from_name.clone(),
        from_email: sender.from_email.clone(),
        reply_to: sender.reply_to.clone(),
        to: to.to_string(),
        subject: clean_subject(subject),
        body,
        list_unsubscribe,
        one_click,
        message_id: None,
        send_id: None,
        in_reply_to: None,
        references: Vec::new(),
    }
}

/// One line, no control characters, at most [`WIDTH`] characters.
pub fn clean_subject(subject: &str) -> String {
    let one_line = clean_text(Some(subject)).unwrap_or_default();
    if one_line.chars().count() <= WIDTH {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(WIDTH - 1).collect();
    if let Some(space) = cut.rfind(' ').filter(|i| *i > WIDTH / 2) {
        cut.truncate(space);
    }
    cut.push('…');
    cut
}

/// Wraps every line at [`WIDTH`] columns on word boundaries. A word longer
/// than that (a URL) gets a line of its own. Line endings become `\n`;
/// other control characters become spaces.
pub fn wrap(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / WIDTH);
    for raw_line in text.replace("\r\n", "\n").split('\n') {
        let line: String = raw_line
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        // The signature separator keeps its space (RFC 3676 §4.3).
        let line = if line == "-- " {
            line.as_str()
        } else {
            line.trim_end()
        };
        if line.chars().count() <= WIDTH {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut current = String::new();
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            let word: String = word.chars().take(MAX_URL_LINE).collect();
            let needed =
                current.chars().count() + usize::from(!current.is_empty()) + word.chars().count();
            if !current.is_empty() && needed > WIDTH {
                out.push_str(&current);
                out.push('\n');
                current.clear();
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&word);
        }
        out.push_str(&current);
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::templates::{BUILTIN, builtin_pack as pack};

    fn sender(base: Option<&str>) -> Sender {
        Sender {
            from_name: "Sam Carter".into(),
            from_email: "hello@hoss.test".into(),
            reply_to: "reply@hoss.test".into(),
            sender_name: "Sam from Carter Co".into(),
            company_name: "Carter Consulting".into(),
            postal_address: Some("1 Main St, Springfield".into()),
            public_base_url: base.map(str::to_string),
        }
    }

    fn lead<'a>(name: Option<&'a str>, company: &'a str) -> LeadFields<'a> {
        LeadFields {
            id: 7,
            email: "jane@acme.com",
            name,
            company,
            niche: None,
        }
    }

    #[test]
    fn outreach_has_footer_opt_out_and_wrapped_lines() {
        let p = pack("general").unwrap();
        let m = outreach(
            &p,
            &lead(Some("jane doe"), "Acme"),
            "ops",
            "agencies",
            &sender(Some("https://hoss.test")),
            "tok123",
        )
        .unwrap();
        assert!(m.body.contains("Jane"), "{}", m.body);
        assert!(m.body.contains("1 Main St, Springfield"));
        assert!(m.body.contains("\nCarter Consulting\n"), "{}", m.body);
        assert!(m.body.contains("https://hoss.test/unsubscribe/tok123"));
        assert!(!m.body.contains('{'));
        assert!(
            m.body
                .lines()
                .all(|l| l.chars().count() <= WIDTH || !l.contains(' ')),
            "{}",
            m.body
        );
        assert_eq!(
            m.list_unsubscribe.as_deref(),
            Some(
                "<mailto:reply@hoss.test?subject=unsubscribe>, <https://hoss.test/unsubscribe/tok123>"
            )
        );
        assert!(m.one_click);
        let same = outreach(
            &p,
            &lead(Some("jane doe"), "Acme"),
            "ops",
            "agencies",
            &sender(Some("https://hoss.test")),
            "tok123",
        )
        .unwrap();
        assert_eq!(m, same, "a retry sends the same words");
    }

    #[test]
    fn without_a_public_base_url_only_mailto_is_offered() {
        let p = pack("saas").unwrap();
        let m = outreach(
            &p,
            &lead(Some("Jane"), "Acme"),
            "ops",
            "x",
            &sender(None),
            "t",
        )
        .unwrap();
        assert_eq!(
            m.list_unsubscribe.as_deref(),
            Some("<mailto:reply@hoss.test?subject=unsubscribe>")
        );
        assert!(!m.one_click);
    }

    #[test]
    fn a_missing_first_name_is_a_neutral_greeting_never_a_failure() {
        for (name, _) in BUILTIN {
            let p = pack(name).unwrap();
            for (id, contact) in [(1, None), (2, Some("J.")), (3, Some("info@acme.com"))] {
                let mut l = lead(contact, "Acme");
                l.id = id;
                let m = outreach(&p, &l, "ops", "x", &sender(None), "t").unwrap();
                assert!(m.body.starts_with("Hi there,"), "{name}: {}", m.body);
                assert!(!m.subject.contains("there"), "{name}: {}", m.subject);
                assert!(!m.subject.contains('{') && !m.body.contains('{'));
            }
        }
        let p = pack("general").unwrap();
        let named = outreach(
            &p,
            &lead(Some("Jane Doe"), "Acme"),
            "ops",
            "x",
            &sender(None),
            "t",
        );
        assert!(named.unwrap().body.starts_with("Hi Jane,"));
    }

    #[test]
    fn injection_attempts_cannot_leave_the_subject_line() {
        let p = Pack {
            name: "t".into(),
            origin: "test".into(),
            subjects: vec!["About {{ company_full }}".into()],
            bodies: vec!["Hi {{ first_name }}\n{{ footer }}".into()],
        };
        let evil = lead(
            Some("Jane\r\nBcc: x@y.com"),
            "Acme\r\nBcc: evil@y.com\r\n\r\nbody",
        );
        let m = outreach(&p, &evil, "o", "n", &sender(None), "t").unwrap();
        assert!(
            !m.subject.contains('\r') && !m.subject.contains('\n'),
            "{:?}",
            m.subject
        );
        assert_eq!(m.subject, "About Acme Bcc: evil@y.com body");
    }

    #[test]
    fn subjects_and_greetings_use_the_short_company_name() {
        let p = pack("general").unwrap();
        for id in 0..3 {
            let mut l = lead(Some("Jane"), "Acme Widgets, LLC");
            l.id = id;
            let m = outreach(&p, &l, "ops", "x", &sender(None), "t").unwrap();
            assert!(
                m.subject.contains("Acme Widgets") && !m.subject.contains("LLC"),
                "{}",
                m.subject
            );
            assert!(!m.body.contains("LLC"), "{}", m.body);
        }
    }

    #[test]
    fn operator_mail_keeps_lines_whole_and_has_no_footer() {
        let row = format!("| {} | {} |", "x".repeat(60), "y".repeat(60));
        let m = operator_mail(
            &sender(None),
            "op@hoss.test",
            "[SUMMARY] daily",
            &format!("{row}\n{row}\n"),
        );
        assert_eq!(m.body, format!("{row}\n{row}\n"));
        assert!(m.list_unsubscribe.is_none() && !m.body.contains("-- "));
        let test = message(&sender(None), "op@hoss.test", "[TEST]", "hello");
        assert!(test.body.contains("Carter Consulting") && !test.body.contains("unsubscribe"));
    }

    #[test]
    fn subjects_are_capped_at_78_characters() {
        let long = "word ".repeat(40);
        let s = clean_subject(&long);
        assert!(s.chars().count() <= WIDTH, "{s}");
        assert!(s.ends_with('…'));
        assert_eq!(clean_subject("  Hello\tthere \n"), "Hello there");
    }

    #[test]
    fn wrapping_keeps_words_and_long_urls_whole() {
        let url = format!("https://hoss.test/{}", "a".repeat(120));
        let text = format!("{} {url} end", "lorem ipsum ".repeat(20));
        let wrapped = wrap(&text);
        for line in wrapped.lines() {
            assert!(line.chars().count() <= WIDTH || line == url, "{line:?}");
        }
        assert!(wrapped.lines().any(|l| l == url));
        assert_eq!(
            wrapped.split_whitespace().count(),
            text.split_whitespace().count()
        );
        assert_eq!(wrap("a\r\nb\n\n\n"), "a\nb\n");
    }
}
