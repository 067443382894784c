//! Outbound email (SPEC §4) against a SendGrid stand-in, a real SMTP session
//! and a peer that hangs up: limits across processes, at-most-once, failure
//! classes, suppression, message format and header safety.

use std::collections::HashSet;
use std::time::Duration;

use mailparse::MailHeaderMap;
use serde_json::Value;

use crate::harness::{
    DropServer, FakeServer, Recorded, Sandbox, SmtpMode, SmtpServer, Trap, closed_addr, wait_until,
};

const T: &str = "2026-11-25T14:30:00Z";

fn sendgrid(url: &str) -> Sandbox {
    Sandbox::new()
        .email_via_sendgrid(url)
        .with("SENDGRID_API_KEY", "SG.test-key")
        .with("SENDGRID_FROM_NAME", "Hoss Team")
        .with("REPLY_TO_EMAIL", "replies@hoss-operator.com")
        .with("COMPANY_POSTAL_ADDRESS", "1 Main St, Springfield")
        .with("PUBLIC_BASE_URL", "https://hoss-operator.com")
        .with("EMAIL_SEND_DELAY_MIN", "0")
        .with("EMAIL_SEND_DELAY_MAX", "0")
}

fn smtp(server: &SmtpServer) -> Sandbox {
    Sandbox::new()
        .email_via_smtp(server.port)
        .with("SMTP_FROM_NAME", "Hoss Team")
        .with("PUBLIC_BASE_URL", "https://hoss-operator.com")
}

fn add_leads(sb: &Sandbox, n: usize) {
    let mut csv = String::from("name,email,company\n");
    for i in 0..n {
        csv.push_str(&format!(
            "Person {i},person{i}@company{i}.com,Company {i}\n"
        ));
    }
    std::fs::write(sb.path("leads.csv"), csv).unwrap();
    let out = sb.run(&["lead", "import", "leads.csv"]);
    assert_eq!(out.code, 0, "{out:?}");
}

fn lead(sb: &Sandbox, id: i64) -> Value {
    sb.json(&["lead", "show", &id.to_string(), "--json"])
}

fn outreach(sb: &Sandbox) -> Value {
    sb.json(&["send-outreach", "--json"])
}

fn status(sb: &Sandbox) -> Value {
    sb.json(&["status", "--json"])
}

#[test]
fn sendgrid_request_is_a_v3_mail_send_and_success_contacts_the_lead() {
    let server = FakeServer::sendgrid();
    let sb = sendgrid(&server.url);
    add_leads(&sb, 1);
    let report = outreach(&sb);
    assert_eq!(
        (
            report["mode"].as_str(),
            report["sent"].as_i64(),
            report["attempted"].as_i64()
        ),
        (Some("SENDGRID"), Some(1), Some(1))
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(
        (r.method.as_str(), r.url.as_str()),
        ("POST", "/v3/mail/send")
    );
    assert_eq!(r.header("Authorization"), Some("Bearer SG.test-key"));
    assert!(
        r.header("Content-Type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = r.json();
    assert_eq!(
        body["personalizations"][0]["to"][0]["email"],
        "person0@company0.com"
    );
    assert_eq!(body["from"]["email"], "hello@hoss-operator.com");
    assert_eq!(body["from"]["name"], "Hoss Team");
    assert_eq!(body["reply_to"]["email"], "replies@hoss-operator.com");
    let subject = body["subject"].as_str().unwrap();
    assert!(
        !subject.is_empty() && subject.chars().count() <= 78 && !subject.contains('{'),
        "{subject}"
    );
    assert_eq!(body["content"][0]["type"], "text/plain");
    let text = body["content"][0]["value"].as_str().unwrap();
    assert!(
        text.contains("Hi Person") && text.contains("1 Main St, Springfield"),
        "{text}"
    );
    assert!(
        text.lines()
            .all(|l| l.chars().count() <= 78 || !l.contains(' ')),
        "{text}"
    );
    let unsubscribe = body["headers"]["List-Unsubscribe"].as_str().unwrap();
    assert!(unsubscribe.starts_with("<mailto:replies@hoss-operator.com?subject=unsubscribe>, <https://hoss-operator.com/unsubscribe/"), "{unsubscribe}");
    assert_eq!(
        body["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );

    let l = lead(&sb, 1);
    assert_eq!(l["status"], "contacted");
    assert!(l["last_contacted_at"].as_str().unwrap().ends_with('Z'));
    let out = sb.run(&["send-outreach"]);
    assert_eq!(
        server.requests().len(),
        1,
        "a contacted lead is never emailed again: {}",
        out.stderr
    );
}

#[test]
fn sendgrid_success_is_logged_with_mode_lead_and_subject() {
    let server = FakeServer::sendgrid();
    let sb = sendgrid(&server.url);
    add_leads(&sb, 1);
    let out = sb.run(&["send-outreach"]);
    let line = out.log_lines("[EMAIL][SUCCESS][SENDGRID]");
    assert_eq!(line.len(), 1, "{}", out.stderr);
    assert!(
        line[0].contains("lead_id=1 email=person0@company0.com subject=\""),
        "{}",
        line[0]
    );
}

#[test]
fn sendgrid_4xx_is_permanent_and_marks_the_lead_failed_with_the_reason() {
    // 404/405 are the endpoint's, not the message's: see
    // a_wrong_sendgrid_endpoint_or_reply_to_holds_the_queue_instead_of_burning_it.
    for code in [400u16, 413, 422] {
        let server = FakeServer::answering(
            code,
            format!("{{\"errors\":[{{\"message\":\"nope {code}\"}}]}}"),
        );
        let sb = sendgrid(&server.url);
        add_leads(&sb, 1);
        let out = sb.run(&["send-outreach", "--json"]);
        assert_eq!(out.code, 0, "{out:?}");
        let report: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(report["failed"], 1, "{code}");
        assert_eq!(lead(&sb, 1)["status"], "email_failed", "{code}");
        let line = out.log_lines("[EMAIL][FAIL][SENDGRID]");
        assert_eq!(line.len(), 1);
        assert!(
            line[0].contains(&format!("SendGrid answered {code}"))
                && line[0].contains(&format!("nope {code}")),
            "{}",
            line[0]
        );
        assert!(!line[0].contains("transient=true"));
        let attempt = &status(&sb)["email"]["recent_attempts"][0];
        assert_eq!(attempt["outcome"], "failed");
        assert!(
            attempt["error"]
                .as_str()
                .unwrap()
                .contains(&code.to_string())
        );
        sb.run(&["send-outreach"]);
        assert_eq!(server.requests().len(), 1, "{code}: never retried");
    }
}

#[test]
fn sendgrid_429_and_5xx_are_transient_and_give_up_after_three() {
    for code in [429u16, 500, 503] {
        let server = FakeServer::answering(code, "busy");
        let sb = sendgrid(&server.url);
        add_leads(&sb, 1);
        for pass in 1..=3 {
            let out = sb.run(&["send-outreach"]);
            assert_eq!(
                out.log_lines("transient=true").len(),
                1,
                "{code} pass {pass}: {}",
                out.stderr
            );
            let expected = if pass < 3 { "new" } else { "email_failed" };
            assert_eq!(lead(&sb, 1)["status"], expected, "{code} pass {pass}");
            assert_eq!(
                status(&sb)["email"]["sent_this_hour"],
                0,
                "a failed send frees its slot"
            );
        }
        sb.run(&["send-outreach"]);
        assert_eq!(server.requests().len(), 3, "{code}");
    }
}

#[test]
fn a_connection_dropped_after_the_request_is_uncertain_and_never_resent() {
    let server = DropServer::start();
    let sb = sendgrid(&server.url).with("HOSS_NOW", T);
    add_leads(&sb, 1);
    let out = sb.run(&["send-outreach", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["uncertain"], 1, "{report}");
    assert_eq!(lead(&sb, 1)["status"], "email_failed");
    let st = status(&sb);
    assert_eq!(st["email"]["uncertain"], 1);
    assert_eq!(
        st["email"]["sent_this_hour"], 1,
        "an uncertain send keeps its slot"
    );
    assert_eq!(st["email"]["recent_attempts"][0]["outcome"], "uncertain");
    assert!(
        st["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("uncertain"))
    );
    sb.run(&["send-outreach"]);
    assert_eq!(server.requests(), 1);
}

#[test]
fn a_process_killed_after_its_reservation_leaves_an_uncertain_send_that_is_never_resent() {
    let server = FakeServer::start(|_| {
        std::thread::sleep(Duration::from_secs(25));
        (202, String::new())
    });
    let sb = sendgrid(&server.url).with("HOSS_NOW", T);
    add_leads(&sb, 1);
    let mut child = sb
        .command(&["send-outreach"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(10), "the send never started", || {
        !server.requests().is_empty()
    });
    child.kill().unwrap();
    child.wait().unwrap();

    // Soon after: the lead is claimed, nobody sends it again.
    let soon = sb.run(&["send-outreach", "--json"]);
    let report: Value = serde_json::from_str(&soon.stdout).unwrap();
    assert_eq!(report["attempted"], 0, "{report}");
    assert_eq!(
        status(&sb)["email"]["recent_attempts"][0]["outcome"],
        "reserved"
    );

    // 16 minutes later: the reservation is declared uncertain.
    let later = sb.with("HOSS_NOW", "2026-11-25T14:46:00Z");
    let out = later.run(&["send-outreach", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (report["uncertain"].as_i64(), report["attempted"].as_i64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        out.log_lines("[EMAIL][UNCERTAIN]").len(),
        1,
        "{}",
        out.stderr
    );
    let st = status(&later);
    assert_eq!(st["email"]["uncertain"], 1);
    assert_eq!(st["email"]["recent_attempts"][0]["outcome"], "uncertain");
    assert_eq!(lead(&later, 1)["status"], "email_failed");
    later.run(&["send-outreach"]);
    assert_eq!(server.requests().len(), 1, "never re-sent automatically");

    // The operator may re-queue it after checking the provider.
    let requeued = later.run(&["lead", "set-status", "1", "new"]);
    assert_eq!(requeued.code, 0, "{requeued:?}");
}

#[test]
fn eight_overlapping_passes_never_exceed_the_hour_limit_or_email_a_lead_twice() {
    let server = FakeServer::sendgrid();
    let sb = sendgrid(&server.url)
        .with("MAX_EMAILS_PER_HOUR", "5")
        .with("MAX_EMAILS_PER_CYCLE", "100")
        .with("HOSS_NOW", T);
    add_leads(&sb, 100);
    let mut sent = 0;
    for out in sb.run_concurrently(&["send-outreach", "--json"], 8) {
        assert_eq!(out.code, 0, "{}", out.stderr);
        sent += serde_json::from_str::<Value>(&out.stdout).unwrap()["sent"]
            .as_i64()
            .unwrap();
    }
    let reqs = server.requests();
    assert_eq!((reqs.len(), sent), (5, 5));
    let recipients: HashSet<String> = reqs.iter().map(Recorded::mail_to).collect();
    assert_eq!(recipients.len(), 5, "no lead twice");
    assert_eq!(status(&sb)["email"]["sent_this_hour"], 5);
}

#[test]
fn the_hour_limit_throttles_with_a_log_line_and_a_ledger_row() {
    let server = FakeServer::sendgrid();
    let sb = sendgrid(&server.url)
        .with("MAX_EMAILS_PER_HOUR", "1")
        .with("HOSS_NOW", T);
    add_leads(&sb, 3);
    let out = sb.run(&["send-outreach", "--json"]);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (report["sent"].as_i64(), report["throttled"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        out.log_lines("[EMAIL][THROTTLED] hour=2026-11-25T14 count=1 hour_limit=1 cycle_limit=10")
            .len(),
        1,
        "{}",
        out.stderr
    );
    let st = status(&sb);
    assert_eq!(st["email"]["recent_attempts"][0]["outcome"], "throttled");
    assert_eq!(lead(&sb, 2)["status"], "new");
    // The next clock hour has room again.
    let next = sb.with("HOSS_NOW", "2026-11-25T15:00:00Z");
    assert_eq!(outreach(&next)["sent"], 1);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn the_cycle_limit_caps_attempts_in_one_pass() {
    let server = FakeServer::sendgrid();
    let sb = sendgrid(&server.url).with("MAX_EMAILS_PER_CYCLE", "2");
    add_leads(&sb, 5);
    assert_eq!(outreach(&sb)["attempted"], 2);
    assert_eq!(server.requests().len(), 2);
}

fn parse(data: &[u8]) -> mailparse::ParsedMail<'_> {
    mailparse::parse_mail(data).expect("valid MIME")
}

#[test]
fn smtp_delivers_valid_mime_with_every_header_wrapped_and_encoded() {
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server);
    let out = sb.run(&[
        "lead",
        "add",
        "--email",
        "zoe@cafe-uber.com",
        "--company",
        "Café Über",
        "--name",
        "zoë müller",
    ]);
    assert_eq!(out.code, 0);
    let report = outreach(&sb);
    assert_eq!(
        (report["mode"].as_str(), report["sent"].as_i64()),
        (Some("SMTP"), Some(1)),
        "{report}"
    );
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.to, vec!["zoe@cafe-uber.com".to_string()]);
    assert_eq!(m.from, "hello@hoss-operator.com");
    let raw = String::from_utf8(m.data.clone()).unwrap();
    assert!(raw.is_ascii(), "8-bit text must be transfer-encoded");
    assert!(raw.split("\r\n").all(|l| l.len() <= 998));
    let mail = parse(&m.data);
    let h = &mail.headers;
    let from = h.get_first_value("From").unwrap();
    assert!(
        from.contains("Hoss Team") && from.contains("<hello@hoss-operator.com>"),
        "{from}"
    );
    assert_eq!(
        h.get_first_value("Reply-To").as_deref(),
        Some("hello@hoss-operator.com")
    );
    assert_eq!(
        h.get_first_value("To").as_deref(),
        Some("zoe@cafe-uber.com")
    );
    assert_eq!(
        h.get_first_value("Subject").as_deref(),
        Some("Zoë, an idea for Café Über")
    );
    assert!(h.get_first_value("Date").is_some());
    assert_eq!(h.get_first_value("MIME-Version").as_deref(), Some("1.0"));
    assert!(
        h.get_first_value("Content-Type")
            .is_some_and(|v| v.starts_with("text/plain"))
    );
    assert!(
        h.get_first_value("Message-ID")
            .is_some_and(|v| v.starts_with('<') && v.contains('@'))
    );
    let unsubscribe = h.get_first_value("List-Unsubscribe").unwrap();
    assert!(
        unsubscribe.contains("<https://hoss-operator.com/unsubscribe/"),
        "{unsubscribe}"
    );
    assert_eq!(
        h.get_first_value("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(mail.ctype.mimetype, "text/plain");
    assert_eq!(mail.ctype.charset.to_lowercase(), "utf-8");
    assert_eq!(
        h.get_first_value("Content-Transfer-Encoding").as_deref(),
        Some("quoted-printable")
    );
    let body = mail.get_body().unwrap();
    assert!(body.contains("Hi Zoë") || body.contains("Zoë"), "{body}");
    assert!(
        body.contains("Café Über") && body.contains("1 Main St, Springfield"),
        "{body}"
    );
    for line in body.lines() {
        assert!(
            line.chars().count() <= 78 || (line.starts_with("https://") && !line.contains(' ')),
            "{line:?}"
        );
    }
    assert_eq!(lead(&sb, 1)["status"], "contacted");
}

#[test]
fn smtp_5xx_is_permanent_and_4xx_is_transient() {
    let rejecting = SmtpServer::start(SmtpMode::RejectRcpt(550));
    let sb = smtp(&rejecting);
    add_leads(&sb, 1);
    let out = sb.run(&["send-outreach"]);
    assert_eq!(
        out.log_lines("[EMAIL][FAIL][SMTP] lead_id=1").len(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(lead(&sb, 1)["status"], "email_failed");

    let busy = SmtpServer::start(SmtpMode::RejectRcpt(451));
    let sb = smtp(&busy);
    add_leads(&sb, 1);
    let out = sb.run(&["send-outreach"]);
    assert_eq!(out.log_lines("transient=true").len(), 1, "{}", out.stderr);
    assert_eq!(lead(&sb, 1)["status"], "new");

    // Nobody listening: the connection failed before any hand-over; the
    // sender's outage, not the lead's.
    let port = closed_addr().port();
    let sb = smtp(&busy).with("SMTP_PORT", &port.to_string());
    add_leads(&sb, 1);
    let out = sb.run(&["send-outreach", "--json"]);
    assert_queue_held(&sb, &out, "[EMAIL][UNREACHABLE]", 75, 1);
    let line = out.log_lines("[EMAIL][UNREACHABLE]")[0];
    assert_eq!(
        line.matches("Connection refused").count(),
        1,
        "each cause once: {line}"
    );
}

#[test]
fn lead_fields_cannot_inject_headers_or_recipients() {
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server);
    sb.run(&["check"]);
    sb.db()
        .execute(
            "INSERT INTO lead (name, email, company, company_key, domain, source, created_at)
             VALUES ('Jane\r\nBcc: evil@attacker.com', 'jane@acme-corp.com',
                     'Acme\r\nBcc: evil2@attacker.com\r\nX-Evil: 1', 'acme', 'acme-corp.com', 'manual', 0)",
            args![],
        )
        .unwrap();
    let report = outreach(&sb);
    assert_eq!(report["sent"], 1, "{report}");
    let m = &server.messages()[0];
    assert_eq!(m.to, vec!["jane@acme-corp.com".to_string()]);
    let mail = parse(&m.data);
    assert!(mail.headers.get_first_value("Bcc").is_none());
    assert!(mail.headers.get_first_value("X-Evil").is_none());
    let subject = mail.headers.get_first_value("Subject").unwrap();
    assert!(
        !subject.contains('\n') && !subject.contains('\r'),
        "{subject:?}"
    );
    let raw = String::from_utf8_lossy(&m.data);
    assert!(
        !raw.lines()
            .any(|l| l.starts_with("Bcc:") || l.starts_with("X-Evil:")),
        "{raw}"
    );
}

#[test]
fn encoded_words_in_lead_fields_are_decoded_and_cleaned_before_any_header() {
    // "\r\nBcc: evil4@evil.com" as an RFC 2047 encoded word: a mail client
    // decodes it in the Subject it is shown.
    let evil = "=?utf-8?b?DQpCY2M6IGV2aWw0QGV2aWwuY29t?=";
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server);
    let out = sb.run(&[
        "lead",
        "add",
        "--email",
        "jo@acme-corp.com",
        "--company",
        evil,
        "--name",
        evil,
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(lead(&sb, 1)["company"], "Bcc: evil4@evil.com");
    // Rows stored before this check are cleaned when the message is made.
    sb.db()
        .execute(
            "INSERT INTO lead (name, email, company, company_key, domain, source, created_at)
             VALUES (?1, 'kim@other-corp.com', ?1, 'other', 'other-corp.com', 'manual', 0)",
            args![evil],
        )
        .unwrap();
    let report = outreach(&sb);
    assert_eq!(report["sent"], 2, "{report}");
    for m in server.messages() {
        assert_eq!(m.to.len(), 1);
        let mail = parse(&m.data);
        // mailparse decodes encoded words, as the recipient's client would.
        let subject = mail.headers.get_first_value("Subject").unwrap();
        assert!(
            !subject.contains(['\r', '\n']) && !subject.contains("=?"),
            "{subject:?}"
        );
        let body = mail.get_body().unwrap();
        assert!(!body.contains("=?utf-8?"), "{body}");
    }
}

#[test]
fn dry_run_and_defaults_send_nothing_and_log_a_preview() {
    let trap = Trap::start();
    let mut sb = Sandbox::new();
    trap.arm(&mut sb);
    add_leads(&sb, 2);
    let out = sb.run(&["send-outreach", "--json"]);
    assert_eq!(out.code, 0);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (
            report["mode"].as_str(),
            report["dry_run"].as_i64(),
            report["sent"].as_i64()
        ),
        (Some("DRY_RUN"), Some(2), Some(0))
    );
    let previews = out.log_lines("[EMAIL][DRY_RUN] lead_id=");
    assert_eq!(previews.len(), 2, "{}", out.stderr);
    assert!(
        previews[0].contains("to=person0@company0.com subject=\"")
            && previews[0].contains("preview=\"Hi Person"),
        "{}",
        previews[0]
    );
    assert_eq!(lead(&sb, 1)["status"], "new");
    assert_eq!(
        status(&sb)["email"]["recent_attempts"][0]["outcome"],
        "dry_run"
    );

    // Global DRY_RUN over a complete SendGrid configuration aimed at the trap.
    let forced = sendgrid(&trap.url(""))
        .with("DRY_RUN", "TRUE")
        .share_store_with(&sb);
    let report: Value = forced.json(&["send-outreach", "--json"]);
    assert_eq!(report["mode"], "DRY_RUN");
    let test: Value = forced.json(&["send-test-email", "--to", "me@hoss-operator.com", "--json"]);
    assert_eq!(test["outcome"], "dry_run");
    assert_eq!(trap.connections(), 0);
}

#[test]
fn real_outreach_without_a_postal_address_falls_back_to_dry_run() {
    let trap = Trap::start();
    let mut sb = sendgrid(&trap.url(""));
    sb.unset("COMPANY_POSTAL_ADDRESS");
    add_leads(&sb, 1);
    let out = sb.run(&["send-outreach", "--json"]);
    let line = out.log_lines("[DRY_RUN_FALLBACK] subsystem=email");
    assert_eq!(line.len(), 1, "{}", out.stderr);
    assert!(line[0].contains("COMPANY_POSTAL_ADDRESS is missing"));
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["mode"], "DRY_RUN");
    assert_eq!(trap.connections(), 0);
}

#[test]
fn suppressed_and_reserved_domain_recipients_are_never_sent() {
    let server = FakeServer::sendgrid();
    let sb = sendgrid(&server.url);
    assert_eq!(
        sb.run(&[
            "suppress",
            "add",
            "Blocked@Company1.com",
            "--reason",
            "bounce"
        ])
        .code,
        0
    );
    add_leads(&sb, 2); // an unrelated suppression blocks neither
    sb.run(&[
        "lead",
        "add",
        "--email",
        "x@acme.example",
        "--company",
        "Sim",
    ]);
    let out = sb.run(&["send-outreach", "--json"]);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (report["sent"].as_i64(), report["suppressed"].as_i64()),
        (Some(2), Some(1)),
        "{report}\n{}",
        out.stderr
    );
    assert_eq!(
        server.requests().len(),
        2,
        "the .example lead is refused before any request"
    );
    assert_eq!(lead(&sb, 3)["status"], "dead");
    assert_eq!(
        out.log_lines("[EMAIL][SUPPRESSED] lead_id=3").len(),
        1,
        "{}",
        out.stderr
    );

    sb.run(&["suppress", "add", "late@later.com"]);
    sb.run(&[
        "lead",
        "add",
        "--email",
        "late@later.com",
        "--company",
        "Later",
    ]);
    let out = sb.run(&["send-outreach", "--json"]);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["suppressed"], 1, "{report}");
    assert_eq!(lead(&sb, 4)["status"], "unsubscribed");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn suppress_commands_manage_the_list_and_unsubscribe_leads() {
    let sb = Sandbox::new();
    add_leads(&sb, 3);
    let added: Value = sb.json(&["suppress", "add", " PERSON0@company0.com ", "--json"]);
    assert_eq!(
        (
            added["email"].as_str(),
            added["leads_unsubscribed"].as_i64()
        ),
        (Some("person0@company0.com"), Some(1))
    );
    assert_eq!(lead(&sb, 1)["status"], "unsubscribed");
    std::fs::write(
        sb.path("plain.txt"),
        "# bounces\nperson1@company1.com\nnot an address\n",
    )
    .unwrap();
    let plain: Value = sb.json(&[
        "suppress",
        "import",
        "plain.txt",
        "--reason",
        "bounce",
        "--json",
    ]);
    assert_eq!(
        (
            plain["added"].as_i64(),
            plain["invalid"][0]["line"].as_i64()
        ),
        (Some(1), Some(3))
    );
    std::fs::write(
        sb.path("list.csv"),
        "name,email\nX,person2@company2.com\nY,person1@company1.com\n",
    )
    .unwrap();
    let csv: Value = sb.json(&["suppress", "import", "list.csv", "--json"]);
    assert_eq!(
        (csv["added"].as_i64(), csv["already"].as_i64()),
        (Some(1), Some(1))
    );
    let list: Vec<Value> = sb.json(&["suppress", "list", "--json"]);
    assert_eq!(list.len(), 3);
    assert!(
        list.iter()
            .any(|e| e["email"] == "person1@company1.com" && e["reason"] == "bounce")
    );
    let removed: Value = sb.json(&["suppress", "remove", "person2@company2.com", "--json"]);
    assert_eq!(removed["changed"], true);
    assert_eq!(sb.run(&["suppress", "add", "nope"]).code, 65);
    assert_eq!(
        sb.run(&["suppress", "add", "a@b.com", "--reason", "because"])
            .code,
        2
    );
    // set-status unsubscribed suppresses the address too.
    sb.run(&["lead", "add", "--email", "z@zed.com", "--company", "Zed"]);
    sb.run(&["lead", "set-status", "4", "unsubscribed"]);
    let list: Vec<Value> = sb.json(&["suppress", "list", "--json"]);
    assert!(list.iter().any(|e| e["email"] == "z@zed.com"));
}

#[test]
fn send_test_email_reports_the_real_outcome() {
    let ok = FakeServer::sendgrid();
    let sb = sendgrid(&ok.url);
    let out = sb.run(&["send-test-email", "--to", "me@hoss-operator.com", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (report["outcome"].as_str(), report["success"].as_bool()),
        (Some("sent"), Some(true))
    );
    let body = ok.requests()[0].json();
    assert!(body["subject"].as_str().unwrap().starts_with("[TEST]"));
    let attempt = &status(&sb)["email"]["recent_attempts"][0];
    assert_eq!(
        (attempt["kind"].as_str(), attempt["outcome"].as_str()),
        (Some("test"), Some("sent"))
    );

    let denied = FakeServer::answering(401, "{\"errors\":[{\"message\":\"bad key\"}]}");
    let out =
        sendgrid(&denied.url).run(&["send-test-email", "--to", "me@hoss-operator.com", "--json"]);
    assert_eq!(
        out.code, 78,
        "a refused key is a configuration error: {out:?}"
    );
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (report["outcome"].as_str(), report["success"].as_bool()),
        (Some("failed"), Some(false))
    );
    assert!(report["error"].as_str().unwrap().contains("401"));

    let down = FakeServer::answering(503, "");
    let out =
        sendgrid(&down.url).run(&["send-test-email", "--to", "me@hoss-operator.com", "--json"]);
    assert_eq!(out.code, 75, "{out:?}");

    let out = sb.run(&["send-test-email", "--to", "me@hoss.example", "--json"]);
    assert_eq!(out.code, 65);
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap()["outcome"],
        "suppressed"
    );
    assert_eq!(
        sb.run(&["send-test-email", "--to", "not-an-address"]).code,
        65
    );
    assert_eq!(ok.requests().len(), 1);

    let dry: Value =
        Sandbox::new().json(&["send-test-email", "--to", "me@hoss-operator.com", "--json"]);
    assert_eq!(
        (dry["outcome"].as_str(), dry["mode"].as_str()),
        (Some("dry_run"), Some("DRY_RUN"))
    );
}

#[test]
fn status_email_panel_shows_modes_limits_and_the_last_twenty_attempts() {
    let server = FakeServer::sendgrid();
    let sb = sendgrid(&server.url)
        .with("MAX_EMAILS_PER_HOUR", "3")
        .with("MAX_EMAILS_PER_CYCLE", "30")
        .with("HOSS_NOW", T);
    add_leads(&sb, 30);
    outreach(&sb);
    outreach(&sb);
    let st = status(&sb);
    let email = &st["email"];
    assert_eq!(email["mode"], "SENDGRID");
    assert_eq!(email["requested"], "SENDGRID");
    assert_eq!(
        (
            email["max_per_cycle"].as_i64(),
            email["max_per_hour"].as_i64()
        ),
        (Some(30), Some(3))
    );
    assert_eq!(
        (email["hour"].as_str(), email["sent_this_hour"].as_i64()),
        (Some("2026-11-25T14"), Some(3))
    );
    let attempts = email["recent_attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 5);
    assert_eq!(attempts[0]["outcome"], "throttled");
    assert_eq!(attempts[2]["outcome"], "sent");
    for field in [
        "at", "lead_id", "to", "subject", "kind", "mode", "outcome", "error",
    ] {
        assert!(attempts[2].get(field).is_some(), "{field}");
    }
    let text = sb.run(&["status"]).stdout;
    assert!(
        text.contains("3/3 sent") && text.contains("throttled"),
        "{text}"
    );
}

#[test]
fn a_lead_contacted_before_is_never_emailed_again_even_without_ledger_rows() {
    let server = FakeServer::sendgrid();
    let sb = sendgrid(&server.url);
    add_leads(&sb, 1);
    outreach(&sb);
    assert_eq!(server.requests().len(), 1);
    // The ledger aged out (or the lead was imported as contacted).
    sb.db().execute("DELETE FROM send_ledger", args![]).unwrap();
    let out = sb.run(&["lead", "set-status", "1", "new"]);
    assert_eq!(
        out.code, 65,
        "re-queueing a contacted lead is refused: {out:?}"
    );
    assert!(out.stderr.contains("at most once"), "{}", out.stderr);
    sb.db()
        .execute("UPDATE lead SET status = 'new'", args![])
        .unwrap();
    let report = outreach(&sb);
    assert_eq!(report["attempted"], 0, "{report}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_provider_outage_stops_the_pass_instead_of_burning_every_lead() {
    let server = FakeServer::answering(503, "maintenance");
    let sb = sendgrid(&server.url);
    add_leads(&sb, 5);
    let out = sb.run(&["send-outreach", "--json"]);
    assert_eq!(
        out.log_lines("[EMAIL][PASS_STOPPED]").len(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(server.requests().len(), 1);
    for id in 2..=5 {
        assert_eq!(lead(&sb, id)["status"], "new");
    }
}

#[test]
fn an_unknown_template_pack_falls_back_to_dry_run_and_the_pass_still_runs() {
    let trap = Trap::start();
    let sb = sendgrid(&trap.url("")).with("BIZDEV_NICHE_TEMPLATE", "bogus");
    add_leads(&sb, 2);
    let out = sb.run(&["send-outreach", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.log_lines("[DRY_RUN_FALLBACK] subsystem=email")[0].contains("BIZDEV_NICHE_TEMPLATE")
    );
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (report["mode"].as_str(), report["dry_run"].as_i64()),
        (Some("DRY_RUN"), Some(2))
    );
    assert_eq!(trap.connections(), 0);
}

/// What a pass stopped by the sender's side leaves behind: every lead still
/// queued with no retry spent, no slot held, one tagged line, a warning in
/// `status` and a line in the digest's attention list.
fn assert_queue_held(sb: &Sandbox, out: &crate::harness::Output, tag: &str, code: i32, leads: i64) {
    assert_eq!(out.code, code, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let problem = if code == 78 {
        "config_error"
    } else {
        "unreachable"
    };
    assert_eq!(report["sender_problem"], problem, "{report}");
    assert_eq!(report["sent"], 0);
    assert_eq!(out.log_lines(tag).len(), 1, "{}", out.stderr);
    assert!(out.log_lines("[EMAIL][FAIL]").is_empty(), "{}", out.stderr);
    for id in 1..=leads {
        let l = lead(sb, id);
        assert_eq!(l["status"], "new", "lead {id} stays queued");
    }
    let conn = sb.db();
    let retries: i64 = conn
        .query_row(
            "SELECT CAST(SUM(transient_failures) AS BIGINT) FROM lead",
            args![],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        retries, 0,
        "no lead's retries are spent on the sender's problem"
    );
    let st = status(sb);
    assert_eq!(st["email"]["sent_this_hour"], 0, "the slot is released");
    assert!(
        st["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("email sending is held")),
        "{}",
        st["warnings"]
    );
    let digest: Value = sb.json(&["summary", "--json"]);
    assert!(
        digest["attention"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("email sending is held")),
        "{digest}"
    );
}

/// A 404/405 from `POST /v3/mail/send` says the endpoint is wrong (a
/// mistyped SENDGRID_API_BASE, a proxy in the way), and a refused Reply-To is
/// the operator's setting: no lead is at fault, so none may be burned.
#[test]
fn a_wrong_sendgrid_endpoint_or_reply_to_holds_the_queue_instead_of_burning_it() {
    let reply_to = r#"{"errors":[{"message":"The reply_to email does not contain a valid address.","field":"reply_to.email","help":null}]}"#;
    for (code, body) in [(404u16, "not found"), (405, ""), (400, reply_to)] {
        let server = FakeServer::answering(code, body);
        let sb = sendgrid(&server.url);
        add_leads(&sb, 3);
        let out = sb.run(&["send-outreach", "--json"]);
        assert_queue_held(&sb, &out, "[EMAIL][CONFIG_ERROR]", 78, 3);
        assert_eq!(server.requests().len(), 1, "{code}: the pass stops at once");
        let test = sb.run(&["send-test-email", "--to", "me@corp-test-mail.com", "--json"]);
        assert_eq!(test.code, 78, "{code}: send-test-email agrees: {test:?}");
    }
}

#[test]
fn a_revoked_or_refused_sendgrid_account_holds_the_queue_and_exits_78() {
    let sender_identity = r#"{"errors":[{"message":"The from address does not match a verified Sender Identity.","field":"from","help":null}]}"#;
    for (code, body) in [(401u16, ""), (403, ""), (400, sender_identity)] {
        let answer = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(code));
        let now = answer.clone();
        let server =
            FakeServer::start(
                move |_| match now.load(std::sync::atomic::Ordering::SeqCst) {
                    202 => (202, String::new()),
                    c => (c, body.to_string()),
                },
            );
        let sb = sendgrid(&server.url);
        add_leads(&sb, 5);
        for pass in 1..=2 {
            let out = sb.run(&["send-outreach", "--json"]);
            assert_queue_held(&sb, &out, "[EMAIL][CONFIG_ERROR]", 78, 5);
            assert_eq!(
                server.requests().len(),
                pass,
                "{code}: the pass stops at the first refusal"
            );
        }
        // Once the account is fixed, the same leads go out and the warning clears.
        answer.store(202, std::sync::atomic::Ordering::SeqCst);
        let out = sb.run(&["send-outreach", "--json"]);
        assert_eq!(out.code, 0, "{out:?}");
        let report: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            (report["sent"].as_i64(), report["sender_problem"].as_str()),
            (Some(5), None)
        );
        let warnings = status(&sb)["warnings"].to_string();
        assert!(!warnings.contains("email sending is held"), "{warnings}");
    }
}

#[test]
fn a_sendgrid_that_refuses_connections_is_unreachable_exit_75_and_burns_nothing() {
    let url = format!("http://{}", closed_addr());
    let sb = sendgrid(&url);
    add_leads(&sb, 3);
    let out = sb.run(&["send-outreach", "--json"]);
    assert_queue_held(&sb, &out, "[EMAIL][UNREACHABLE]", 75, 3);
    let uncertain = status(&sb)["email"]["uncertain"].as_i64();
    assert_eq!(
        uncertain,
        Some(0),
        "a refused connection handed nothing over"
    );
    // cycle reports the step's code as its own.
    let out = sb.run(&["cycle", "--json"]);
    assert_eq!(out.code, 75, "{out:?}");
}

#[test]
fn smtp_authentication_and_tls_mismatches_are_the_senders_problem() {
    let server = SmtpServer::start(SmtpMode::Auth("right-password"));
    let wrong = smtp(&server)
        .with("SMTP_USERNAME", "hoss")
        .with("SMTP_PASSWORD", "wrong-password");
    add_leads(&wrong, 2);
    let out = wrong.run(&["send-outreach", "--json"]);
    assert_queue_held(&wrong, &out, "[EMAIL][CONFIG_ERROR]", 78, 2);
    assert!(out.log_lines("535").len() == 1, "{}", out.stderr);
    assert!(
        !out.stderr.contains("wrong-password"),
        "the password never reaches a log"
    );
    let test = wrong.run(&["send-test-email", "--to", "me@hoss-operator.com", "--json"]);
    assert_eq!(test.code, 78, "{test:?}");

    let right = smtp(&server)
        .with("SMTP_USERNAME", "hoss")
        .with("SMTP_PASSWORD", "right-password");
    add_leads(&right, 1);
    let out = right.run(&["send-outreach", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(server.messages().len(), 1);

    // STARTTLS asked of a server that does not offer it: a settings problem.
    let plain = SmtpServer::start(SmtpMode::Accept);
    let starttls = smtp(&plain).with("SMTP_TLS", "STARTTLS");
    add_leads(&starttls, 2);
    let out = starttls.run(&["send-outreach", "--json"]);
    assert_queue_held(&starttls, &out, "[EMAIL][CONFIG_ERROR]", 78, 2);
    let line = out.log_lines("[EMAIL][CONFIG_ERROR]")[0];
    assert_eq!(
        line.matches("STARTTLS is not supported").count(),
        1,
        "each cause once: {line}"
    );
    assert!(plain.messages().is_empty());
}

#[test]
fn an_address_emailed_once_is_never_emailed_again_by_another_lead() {
    let server = FakeServer::sendgrid();
    let sb = sendgrid(&server.url);
    let add = |company: &str| {
        let out = sb.run(&[
            "lead",
            "add",
            "--email",
            "Jo@Client.com",
            "--company",
            company,
        ]);
        assert_eq!(out.code, 0, "{out:?}");
    };
    add("Client");
    assert_eq!(outreach(&sb)["sent"], 1, "no name is no reason not to send");
    let sent = server.requests()[0].json();
    let body = sent["content"][0]["value"].as_str().unwrap();
    assert!(body.starts_with("Hi there,"), "{body}");
    // The operator marks it invalid, then the same person comes back by hand
    // or from a later search: a new lead, the same address.
    assert_eq!(sb.run(&["lead", "set-status", "1", "invalid"]).code, 0);
    add("Client Two");
    for pass in [1, 2] {
        let report = outreach(&sb);
        assert_eq!(
            (report["sent"].as_i64(), report["attempted"].as_i64()),
            (Some(0), Some(0)),
            "pass {pass}: {report}"
        );
        assert_eq!(server.requests().len(), 1, "pass {pass}");
    }
    let second = lead(&sb, 2);
    assert_eq!(second["status"], "dead", "{second}");
    let attempt = &status(&sb)["email"]["recent_attempts"][0];
    assert_eq!(attempt["outcome"], "suppressed");
    assert!(
        attempt["error"]
            .as_str()
            .unwrap()
            .starts_with("already emailed (lead 1 at "),
        "{attempt}"
    );

    // With the ledger aged out, the contacted lead itself still remembers.
    sb.db().execute("DELETE FROM send_ledger", args![]).unwrap();
    assert_eq!(sb.run(&["lead", "set-status", "2", "invalid"]).code, 0);
    add("Client Three");
    assert_eq!(outreach(&sb)["attempted"], 0);
    assert_eq!(lead(&sb, 3)["status"], "dead");
    assert_eq!(server.requests().len(), 1);

    // DRY_RUN tells the same story without touching the lead.
    assert_eq!(sb.run(&["lead", "set-status", "3", "invalid"]).code, 0);
    add("Client Four");
    let out = sb
        .command(&["send-outreach", "--json"])
        .env("DRY_RUN", "TRUE")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["suppressed"].as_i64(), report["dry_run"].as_i64()),
        (Some(1), Some(0))
    );
    assert_eq!(lead(&sb, 4)["status"], "new");
}

#[test]
fn real_email_needs_the_operators_name_and_company() {
    let trap = Trap::start();
    for (missing, reason) in [
        ("COMPANY_NAME", "COMPANY_NAME is missing"),
        ("SENDER_NAME", "SENDER_NAME is missing"),
    ] {
        let mut sb = sendgrid(&trap.url(""));
        sb.unset(missing);
        sb.unset("SENDGRID_FROM_NAME");
        if missing == "COMPANY_NAME" {
            sb.set("SENDGRID_FROM_NAME", "Sam Carter");
        }
        let check: Value = sb.json(&["check", "--json"]);
        let email = &check["subsystems"]["email"];
        assert_eq!(email["effective"], "DRY_RUN", "{missing}: {check}");
        assert!(
            email["reason"].as_str().unwrap().contains(reason),
            "{check}"
        );
        add_leads(&sb, 1);
        assert_eq!(outreach(&sb)["dry_run"], 1);
    }
    assert_eq!(
        trap.connections(),
        0,
        "nothing real goes out under the product's name"
    );
}

/// A TEMPLATES_DIR that is named but missing (a typo, a deploy that forgot
/// the folder) must not send the built-in text in the operator's place.
#[test]
fn a_missing_templates_dir_is_a_check_problem_and_sends_nothing_real() {
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server).with("TEMPLATES_DIR", "pakcs");
    let out = sb.run(&["check", "--json"]);
    assert_eq!(out.code, 78, "{out:?}");
    let check: Value = serde_json::from_str(&out.stdout).unwrap();
    let problems = check["problems"].to_string();
    assert!(
        problems.contains("TEMPLATES_DIR") && problems.contains("pakcs"),
        "{problems}"
    );
    assert_eq!(check["subsystems"]["email"]["effective"], "DRY_RUN");
    let out = sb.run(&[
        "lead",
        "add",
        "--email",
        "ap@acme-widgets.com",
        "--company",
        "Acme Widgets",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    sb.run(&["send-outreach", "--json"]);
    assert!(server.messages().is_empty(), "nothing real went out");
}

#[test]
fn templates_dir_packs_are_read_at_run_time_and_checked() {
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server).with("TEMPLATES_DIR", "packs");
    std::fs::create_dir_all(sb.path("packs")).unwrap();
    let write = |name: &str, text: &str| {
        std::fs::write(sb.path(&format!("packs/{name}.toml")), text).unwrap()
    };
    write(
        "general",
        r#"subjects = ["{{ first_name }} at {{ company }}", "From {{ sender_company }} to {{ company }}"]
bodies = ["""Hi {{ first_name | default("there") }},
{% if niche %}We work with {{ niche }}.{% endif %}

{{ footer }}"""]
"#,
    );
    let out = sb.run(&[
        "lead",
        "add",
        "--email",
        "ap@acme-widgets.com",
        "--company",
        "Acme Widgets, LLC",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(outreach(&sb)["sent"], 1);
    let received = server.messages();
    let mail = parse(&received[0].data);
    assert_eq!(
        mail.headers.get_first_value("Subject").as_deref(),
        Some("From Carter Consulting LLC to Acme Widgets"),
        "no first name: the subject that needs none; the short company name"
    );
    let body = mail.get_body().unwrap().replace("\r\n", "\n");
    assert!(body.starts_with("Hi there,\n"), "{body}");
    assert!(
        body.contains("-- \nSam Carter\nCarter Consulting LLC\n1 Main St, Springfield\n"),
        "the footer carries the operator's name and company: {body}"
    );

    // A pack that uses a variable hoss does not know: check names it, and
    // email falls back instead of sending half a message.
    write(
        "general",
        "subjects = [\"About {{ compnay }}\"]\nbodies = [\"{{ footer }}\"]\n",
    );
    let out = sb.run(&["check", "--json"]);
    assert_eq!(out.code, 78, "{out:?}");
    let check: Value = serde_json::from_str(&out.stdout).unwrap();
    let problems = check["problems"].to_string();
    assert!(
        problems.contains("packs/general.toml") && problems.contains("{{ compnay }}"),
        "{problems}"
    );
    assert_eq!(check["subsystems"]["email"]["effective"], "DRY_RUN");
    // A body without the footer, in a pack that is not even selected.
    write(
        "general",
        "subjects = [\"About {{ company }}\"]\nbodies = [\"Hi\\n\\n{{ footer }}\"]\n",
    );
    write(
        "other",
        "subjects = [\"About {{ company }}\"]\nbodies = [\"Hi, no footer here\"]\n",
    );
    let out = sb.run(&["check", "--json"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(out.stdout.contains("footer"), "{}", out.stdout);
    std::fs::remove_file(sb.path("packs/other.toml")).unwrap();
    assert_eq!(sb.run(&["check"]).code, 0);
}

#[test]
fn preview_prints_the_whole_message_with_no_network() {
    let trap = Trap::start();
    let sb = sendgrid(&trap.url(""));
    let out = sb.run(&[
        "lead",
        "add",
        "--email",
        "jo@client.com",
        "--company",
        "Client Ltd",
        "--name",
        "Jo Park",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    for key in ["1", "jo@client.com", " JO@Client.com "] {
        let out = sb.run(&["preview", key]);
        assert_eq!(out.code, 0, "{key}: {out:?}");
        let mail = parse(out.stdout.as_bytes());
        assert_eq!(
            mail.headers.get_first_value("To").as_deref(),
            Some("jo@client.com")
        );
        let from = mail.headers.get_first_value("From").unwrap();
        assert!(
            from.contains("Hoss Team") && from.contains("<hello@hoss-operator.com>"),
            "{from}"
        );
        assert_eq!(
            mail.headers.get_first_value("MIME-Version").as_deref(),
            Some("1.0")
        );
        assert!(
            mail.headers
                .get_first_value("List-Unsubscribe")
                .unwrap()
                .contains("/unsubscribe/")
        );
        let subject = mail.headers.get_first_value("Subject").unwrap();
        assert!(
            subject.contains("Client") && !subject.contains("Ltd"),
            "{subject}"
        );
        let body = mail.get_body().unwrap();
        assert!(
            body.starts_with("Hi Jo,") && body.contains("Carter Consulting LLC"),
            "{body}"
        );
        assert!(out.log_lines("[PREVIEW]").is_empty(), "{}", out.stderr);
    }
    let json: Value = sb.json(&["preview", "1", "--json"]);
    assert_eq!(
        (json["lead_id"].as_i64(), json["not_sent_because"].as_str()),
        (Some(1), None)
    );
    assert_eq!(
        sb.run(&["lead", "set-status", "jo@client.com", "dead"])
            .code,
        0
    );
    let out = sb.run(&["preview", "1"]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.log_lines("[PREVIEW] lead_id=1 would not be emailed: its status is dead")
            .len(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(
        sb.run(&["preview", "1", "--step", "4"]).code,
        2,
        "three steps by default"
    );
    let second: Value = sb.json(&["preview", "1", "--step", "2", "--json"]);
    assert!(
        second["subject"].as_str().unwrap().starts_with("Re: "),
        "{second}"
    );
    assert_eq!(second["not_sent_because"], "its sequence has not started");
    assert_eq!(sb.run(&["preview", "99"]).code, 65);
    assert_eq!(sb.run(&["preview", "not-an-address"]).code, 2);
    assert_eq!(trap.connections(), 0, "preview touches no network");
}

/// A pack that uses the documented `{{ sender_company }}` passes `hoss
/// check` with sample values, so it must preview and simulate on defaults
/// too (no COMPANY_NAME yet: that is only required for real email), showing
/// where the company goes instead of failing every lead.
#[test]
fn a_pack_using_sender_company_previews_in_the_sandbox_before_company_name_is_set() {
    let sb = Sandbox::new().with("TEMPLATES_DIR", "packs");
    std::fs::create_dir_all(sb.path("packs")).unwrap();
    std::fs::write(
        sb.path("packs/general.toml"),
        r#"subjects = ["Hello {{ company }}"]
bodies = ["""Hi {{ first_name | default("there") }}, from {{ sender_company }}.

{{ footer }}"""]
"#,
    )
    .unwrap();
    assert_eq!(sb.run(&["check"]).code, 0);
    let out = sb.run(&[
        "lead",
        "add",
        "--email",
        "jo@client.com",
        "--company",
        "Client",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = sb.run(&["preview", "1"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("from [COMPANY_NAME]."),
        "{}",
        out.stdout
    );
    let report: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(report["dry_run"], 1, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
}
