//! What comes back (SPEC §13): replies, bounces, opt-outs and auto-replies
//! read from a real Dovecot over IMAP, SendGrid's signed Event Webhook on
//! `hoss serve`, SendGrid's suppression lists pulled from a cursor, and the
//! health pause — each applied once, whatever is replayed.

use std::collections::BTreeMap;
use std::net::TcpListener;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::{DerSignature, SigningKey, signature::Signer};
use p256::pkcs8::EncodePublicKey;
use serde_json::Value;

use crate::harness::{
    Dovecot, FakeServer, IMAP_PASSWORD, IMAP_USER, Recorded, Sandbox, Served, SmtpMode, SmtpServer,
    Trap, closed_addr, unix_now,
};

/// Real email over a real SMTP session, read back from a real IMAP server.
fn smtp_and_imap(smtp: &SmtpServer, imap: &Dovecot, folder: &str) -> Sandbox {
    Sandbox::new()
        .email_via_smtp(smtp.port)
        .inbox_via_imap(imap.port, folder)
        .with("REPLY_TO_EMAIL", "replies@hoss-operator.com")
        .with("REPLY_TO_PLUS_TOKEN", "TRUE")
}

fn import(sb: &Sandbox, rows: &[(&str, &str)]) {
    let mut csv = String::from("name,email,company\n");
    for (email, company) in rows {
        csv.push_str(&format!("{company} Person,{email},{company}\n"));
    }
    std::fs::write(sb.path("leads.csv"), csv).unwrap();
    let out = sb.run(&["lead", "import", "leads.csv"]);
    assert_eq!(out.code, 0, "{out:?}");
}

fn status_of(sb: &Sandbox, email: &str) -> String {
    let lead: Value = sb.json(&["lead", "show", email, "--json"]);
    lead["status"].as_str().unwrap().to_string()
}

/// The value of header `name` in a raw message.
fn header(data: &[u8], name: &str) -> String {
    let text = String::from_utf8_lossy(data);
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {name} header in {text}"))
}

fn day_in(days: i64) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp(unix_now() + days * 86_400, 0)
        .unwrap()
        .date_naive()
}

const LEADS: &[(&str, &str)] = &[
    ("ann@acme-dental.com", "Acme Dental"),
    ("bob@bolt-labs.com", "Bolt Labs"),
    ("cat@cedar-law.com", "Cedar Law"),
    ("dan@delta-dev.com", "Delta Dev"),
    ("eve@echo-media.com", "Echo Media"),
    ("fay@fox-films.com", "Fox Films"),
    ("gus@gamma-tools.com", "Gamma Tools"),
];

/// The replies, bounces and the rest that a week of outreach brings back.
fn what_came_back(sent: &BTreeMap<String, (String, String)>) -> Vec<String> {
    let mid = |to: &str| sent[to].0.clone();
    let plus = |to: &str| sent[to].1.clone();
    let back_on = day_in(10).format("%-d %B %Y").to_string();
    vec![
        format!(
            "From: Ann Lee <Ann@Acme-Dental.com>\nTo: replies@hoss-operator.com\nSubject: Re: a question\nMessage-ID: <r-ann@acme-dental.com>\nIn-Reply-To: {}\n\nSounds interesting, can we talk on Tuesday?\n\nOn Mon, Sam Carter wrote:\n> To stop these emails, unsubscribe here.\n",
            mid("ann@acme-dental.com")
        ),
        format!(
            "From: bob@bolt-labs.com\nTo: replies@hoss-operator.com\nSubject: Re: a question\nMessage-ID: <r-bob@bolt-labs.com>\nReferences: {}\n\nPlease remove me from your list.\n",
            mid("bob@bolt-labs.com")
        ),
        format!(
            "From: cat@cedar-law.com\nTo: replies@hoss-operator.com\nSubject: Automatic reply: a question\nAuto-Submitted: auto-replied\nMessage-ID: <r-cat@cedar-law.com>\nIn-Reply-To: {}\n\nI am out of the office and back on {back_on}.\n",
            mid("cat@cedar-law.com")
        ),
        format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.delta-dev.com>\nTo: hello@hoss-operator.com\nSubject: Undelivered Mail Returned to Sender\nMessage-ID: <dsn-dan@mx.delta-dev.com>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.delta-dev.com\n\nFinal-Recipient: rfc822; dan@delta-dev.com\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n\n--B\nContent-Type: text/rfc822-headers\n\nFrom: hello@hoss-operator.com\nTo: dan@delta-dev.com\nMessage-ID: {}\nSubject: a question\n\n--B--\n",
            mid("dan@delta-dev.com")
        ),
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\nTo: hello@hoss-operator.com\nSubject: Delivery Status Notification (Failure)\nMessage-ID: <gm-eve@googlemail.com>\n\nAddress not found\n\nYour message wasn't delivered to eve@echo-media.com because the address couldn't be found.\n\nThe response was:\n550 5.1.1 The email account that you tried to reach does not exist.\n".to_string(),
        format!(
            "From: Fay Private <fay.private@gmail.com>\nTo: {}\nSubject: Re: a question\nMessage-ID: <r-fay@gmail.com>\n\nYes, tell me more.\n",
            plus("fay@fox-films.com")
        ),
        format!(
            "From: postmaster@gamma-tools.com\nTo: hello@hoss-operator.com\nSubject: Delivery delayed\nMessage-ID: <soft-gus@gamma-tools.com>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.gamma-tools.com\n\nFinal-Recipient: rfc822; gus@gamma-tools.com\nAction: delayed\nStatus: 4.4.7\n\n--B\nContent-Type: text/rfc822-headers\n\nMessage-ID: {}\n\n--B--\n",
            mid("gus@gamma-tools.com")
        ),
        "From: stranger@nowhere-else.org\nTo: hello@hoss-operator.com\nSubject: Hello\nMessage-ID: <stranger@nowhere-else.org>\n\nDo you sell widgets?\n".to_string(),
    ]
}

#[test]
fn replies_bounces_and_opt_outs_come_back_through_a_real_imap_server() {
    let Some(imap) = Dovecot::start() else { return };
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp_and_imap(&smtp, &imap, "Replies");
    import(&sb, LEADS);
    let out = sb.run(&["send-outreach", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");

    // Each message carries the Message-ID the ledger keeps and a Reply-To
    // that names its lead by a token, never by id.
    let mut sent = BTreeMap::new();
    for m in smtp.messages() {
        let mid = header(&m.data, "Message-ID");
        let reply_to = header(&m.data, "Reply-To");
        assert!(
            mid.starts_with("<hoss.") && mid.ends_with("@hoss-operator.com>"),
            "{mid}"
        );
        assert!(reply_to.starts_with("replies+h"), "{reply_to}");
        sent.insert(m.to[0].clone(), (mid, reply_to));
    }
    assert_eq!(sent.len(), LEADS.len());
    let kept: i64 = sb
        .db()
        .query_row(
            "SELECT COUNT(*) FROM send_ledger WHERE '<' || message_id || '>' = ?1",
            args![&sent["ann@acme-dental.com"].0],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, 1);

    // Nothing came back yet.
    imap.create("Replies");
    let empty: Value = sb.json(&["sync-inbox", "--json"]);
    assert_eq!(
        (empty["mode"].as_str(), empty["fetched"].as_u64()),
        (Some("IMAP"), Some(0))
    );

    let mail = what_came_back(&sent);
    for m in &mail {
        imap.deliver("Replies", m);
    }
    let out = sb.run(&["sync-inbox", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    let n = |k: &str| r[k].as_u64().unwrap();
    assert_eq!(n("fetched"), 8, "{r}");
    assert_eq!(
        (n("replies"), n("opt_outs"), n("auto_replies")),
        (2, 1, 1),
        "{r}\n{}",
        out.stderr
    );
    assert_eq!(
        (n("bounces_hard"), n("bounces_soft"), n("unmatched")),
        (2, 1, 1),
        "{r}"
    );
    assert_eq!(n("suppressed"), 3, "bob, dan and eve: {r}");
    assert_eq!(
        out.log_lines("[INBOX][REPLY]").len(),
        2,
        "every human reply is said: {}",
        out.stderr
    );

    for (email, status) in [
        ("ann@acme-dental.com", "replied"),
        ("bob@bolt-labs.com", "unsubscribed"),
        ("cat@cedar-law.com", "contacted"),
        ("dan@delta-dev.com", "email_failed"),
        ("eve@echo-media.com", "email_failed"),
        ("fay@fox-films.com", "replied"),
        ("gus@gamma-tools.com", "contacted"),
    ] {
        assert_eq!(status_of(&sb, email), status, "{email}");
    }
    let suppressed: Vec<Value> = sb.json(&["suppress", "list", "--json"]);
    let reasons: BTreeMap<&str, &str> = suppressed
        .iter()
        .map(|s| (s["email"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons.get("bob@bolt-labs.com"), Some(&"unsubscribe"));
    assert_eq!(reasons.get("dan@delta-dev.com"), Some(&"bounce"));
    assert_eq!(reasons.get("eve@echo-media.com"), Some(&"bounce"));
    assert_eq!(reasons.len(), 3, "{reasons:?}");

    // Read-only: not one flag changed on the server.
    let flags = imap.flags("Replies");
    assert_eq!(flags.len(), 8);
    assert!(flags.iter().all(|f| !f.contains("\\Seen")), "{flags:?}");

    // What came back, newest first, with what hoss did.
    let listed: Vec<Value> = sb.json(&["inbox", "list", "--json"]);
    assert_eq!(listed.len(), 8);
    let auto = listed.iter().find(|m| m["kind"] == "auto_reply").unwrap();
    let expected_day = day_in(11).to_string();
    assert!(
        auto["action"].as_str().unwrap().contains(&expected_day),
        "the next step waits for the day after the return date: {auto}"
    );
    let replies: Vec<Value> = sb.json(&["inbox", "list", "--kind", "reply", "--json"]);
    assert_eq!(replies.len(), 2);
    assert!(replies.iter().all(|m| m["lead_id"].is_number()));

    // A second pass reads nothing new; a rebuilt folder (new UIDVALIDITY)
    // holding the same mail is read again and applies nothing twice.
    let again: Value = sb.json(&["sync-inbox", "--json"]);
    assert_eq!(again["fetched"], 0, "{again}");
    imap.recreate("Replies");
    for m in &mail {
        imap.deliver("Replies", m);
    }
    let out = sb.run(&["sync-inbox", "--json"]);
    let rescan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rescan["fetched"], 8, "{rescan}");
    for k in [
        "replies",
        "opt_outs",
        "bounces_hard",
        "suppressed",
        "unmatched",
    ] {
        assert_eq!(rescan[k], 0, "{k} applied twice: {rescan}");
    }
    assert_eq!(
        out.log_lines("[INBOX][UIDVALIDITY]").len(),
        1,
        "{}",
        out.stderr
    );
    let listed: Vec<Value> = sb.json(&["inbox", "list", "--json"]);
    assert_eq!(listed.len(), 8);

    // Ann's company answered: a colleague added later is held, and nobody
    // who answered, bounced or opted out is emailed again.
    import(
        &sb,
        &[
            ("ceo@acme-dental.com", "Acme Dental HQ"),
            ("new@fresh-start.com", "Fresh"),
        ],
    );
    let before = smtp.messages().len();
    let out = sb.run(&["send-outreach", "--json"]);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (r["sent"].as_u64(), r["held"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    assert_eq!(out.log_lines("[EMAIL][HELD]").len(), 1, "{}", out.stderr);
    let now_sent: Vec<String> = smtp.messages()[before..]
        .iter()
        .map(|m| m.to[0].clone())
        .collect();
    assert_eq!(now_sent, vec!["new@fresh-start.com"]);
    assert_eq!(status_of(&sb, "ceo@acme-dental.com"), "new");

    // The operator sees each reply in the digest and the dashboard.
    let summary: Value = sb.json(&["summary", "--json"]);
    let e = &summary["emails"];
    assert_eq!(
        (
            e["replies"].as_u64(),
            e["opt_outs"].as_u64(),
            e["bounces"].as_u64()
        ),
        (Some(2), Some(1), Some(3)),
        "{summary}"
    );
    let attention = summary["attention"].to_string();
    assert!(
        attention.contains("reply from ann@acme-dental.com"),
        "{attention}"
    );
    assert!(
        attention.contains("reply from fay.private@gmail.com"),
        "{attention}"
    );
    let status: Value = sb.json(&["status", "--json"]);
    assert_eq!(status["inbox"]["mode"], "IMAP");
    assert_eq!(status["inbox"]["replies_7d"], 2);
    assert!(status["inbox"]["last_uid"].as_u64().unwrap() >= 8);
    assert_eq!(status["health"]["paused"], false);
    assert_eq!(status["subsystems"]["inbox"]["effective"], "IMAP");
}

#[test]
fn an_inbox_that_refuses_or_never_answers_ends_the_pass_with_its_exit_code() {
    let smtp = SmtpServer::start(SmtpMode::Accept);
    // A server that accepts and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port().to_string();
    let base = |port: &str| {
        Sandbox::new()
            .with("INBOX_MODE", "IMAP")
            .with("IMAP_HOST", "127.0.0.1")
            .with("IMAP_PORT", port)
            .with("IMAP_TLS", "NONE")
            .with("IMAP_USERNAME", IMAP_USER)
            .with("IMAP_TIMEOUT_SECS", "1")
            .with("EMAIL_MODE", "SMTP")
            .with("SMTP_HOST", "127.0.0.1")
            .with("SMTP_PORT", &smtp.port.to_string())
    };
    let out = base(&silent_port)
        .with("IMAP_PASSWORD", "pw-silent-1")
        .run(&["sync-inbox", "--json"]);
    assert_eq!(out.code, 75, "{out:?}");
    assert_eq!(
        out.log_lines("[INBOX][UNREACHABLE]").len(),
        1,
        "{}",
        out.stderr
    );
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(r["problem"], "unreachable");
    drop(silent);

    let closed = closed_addr().port().to_string();
    let out = base(&closed)
        .with("IMAP_PASSWORD", "pw-closed-1")
        .run(&["sync-inbox"]);
    assert_eq!(out.code, 75, "{out:?}");

    // The password command runs each pass; one that fails is the operator's.
    let out = base(&closed)
        .with("IMAP_PASSWORD_CMD", "echo nope >&2; exit 3")
        .run(&["sync-inbox"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(out.stderr.contains("IMAP_PASSWORD_CMD"), "{}", out.stderr);

    // An empty password is no password: the inbox falls back to OFF.
    let check: Value = base(&closed)
        .with("IMAP_PASSWORD", "")
        .json(&["check", "--json"]);
    assert_eq!(check["subsystems"]["inbox"]["effective"], "OFF");
    assert!(
        check["subsystems"]["inbox"]["reason"]
            .as_str()
            .unwrap()
            .contains("IMAP_PASSWORD")
    );

    // Global DRY_RUN: not one connection, whatever is configured.
    let trap = Trap::start();
    let mut sb = base("1")
        .with("IMAP_PASSWORD", "pw-dry-1")
        .with("DRY_RUN", "TRUE");
    trap.arm(&mut sb);
    let r: Value = sb.json(&["sync-inbox", "--json"]);
    assert_eq!(r["mode"], "OFF");
    let out = sb.run(&["cycle"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(trap.connections(), 0);

    let Some(imap) = Dovecot::start() else { return };
    let port = imap.port.to_string();
    // Dovecot answers a wrong password after a deliberate delay.
    let base = |port: &str| base(port).with("IMAP_TIMEOUT_SECS", "15");
    let out = base(&port)
        .with("IMAP_PASSWORD", "wrong-password-77")
        .run(&["sync-inbox", "--json"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert_eq!(
        out.log_lines("[INBOX][CONFIG_ERROR]").len(),
        1,
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong-password-77") && !out.stdout.contains("wrong-password-77"));
    let cmd = format!("printf '%s\\n' '{IMAP_PASSWORD}'");
    let out = base(&port)
        .with("IMAP_PASSWORD_CMD", &cmd)
        .run(&["sync-inbox", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stderr.contains(IMAP_PASSWORD));
}

/// A P-256 key pair as SendGrid holds it: (signer, the public key as
/// SendGrid shows it — base64 DER).
fn sendgrid_keys() -> (SigningKey, String) {
    let signing = SigningKey::from_slice(&[42u8; 32]).unwrap();
    let der = signing.verifying_key().to_public_key_der().unwrap();
    (signing, STANDARD.encode(der.as_bytes()))
}

fn sendgrid_headers(key: &SigningKey, timestamp: i64, body: &str) -> Vec<(String, String)> {
    let t = timestamp.to_string();
    let sig: DerSignature = key.sign(format!("{t}{body}").as_bytes());
    vec![
        (
            "X-Twilio-Email-Event-Webhook-Signature".into(),
            STANDARD.encode(sig.as_bytes()),
        ),
        ("X-Twilio-Email-Event-Webhook-Timestamp".into(), t),
    ]
}

fn post_events(served: &Served, headers: &[(String, String)], body: &str) -> (u16, Value) {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, text) = served.post("/sendgrid/events", &h, body.as_bytes());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn sendgrid_events_are_verified_applied_once_and_never_without_a_key() {
    let (signing, public) = sendgrid_keys();
    let sb = Sandbox::new().with("SENDGRID_WEBHOOK_PUBLIC_KEY", &public);
    import(
        &sb,
        &[
            ("gone@bounce-co.com", "Bounce Co"),
            ("angry@spam-co.com", "Spam Co"),
            ("busy@block-co.com", "Block Co"),
        ],
    );
    let served = Served::start(&sb);
    let body = r#"[
      {"sg_event_id":"ev-1","email":"gone@bounce-co.com","event":"bounce","type":"bounce","reason":"550 5.1.1 no such user","timestamp":1},
      {"sg_event_id":"ev-2","email":"angry@spam-co.com","event":"spamreport","timestamp":2},
      {"sg_event_id":"ev-3","email":"busy@block-co.com","event":"bounce","type":"blocked","timestamp":3},
      {"sg_event_id":"ev-4","email":"busy@block-co.com","event":"delivered","timestamp":4}
    ]"#;
    let now = unix_now();
    let headers = sendgrid_headers(&signing, now, body);
    let (status, answer) = post_events(&served, &headers, body);
    assert_eq!(
        (status, &answer["applied"]),
        (200, &Value::from(3)),
        "{answer}"
    );
    assert_eq!(status_of(&sb, "gone@bounce-co.com"), "email_failed");
    assert_eq!(status_of(&sb, "angry@spam-co.com"), "unsubscribed");
    assert_eq!(
        status_of(&sb, "busy@block-co.com"),
        "new",
        "blocked is not suppressed"
    );
    let suppressed: Vec<Value> = sb.json(&["suppress", "list", "--json"]);
    let reasons: BTreeMap<&str, &str> = suppressed
        .iter()
        .map(|s| (s["email"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        BTreeMap::from([
            ("angry@spam-co.com", "complaint"),
            ("gone@bounce-co.com", "bounce")
        ])
    );
    let listed: Vec<Value> = sb.json(&["inbox", "list", "--json"]);
    let kinds: Vec<&str> = listed.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 3);
    assert!(
        kinds.contains(&"bounce:blocked") && kinds.contains(&"complaint"),
        "{kinds:?}"
    );
    let complaint = listed.iter().find(|m| m["kind"] == "complaint").unwrap();
    assert!(
        complaint["action"]
            .as_str()
            .unwrap()
            .contains("spam-co.com held"),
        "{complaint}"
    );

    // SendGrid retries what it is unsure of: a replay applies nothing.
    let (status, answer) = post_events(&served, &headers, body);
    assert_eq!((status, &answer["applied"]), (200, &Value::from(0)));

    // Tampered, stale, unsigned: 400, nothing applied.
    let other = r#"[{"sg_event_id":"ev-9","email":"busy@block-co.com","event":"spamreport"}]"#;
    let (status, _) = post_events(&served, &headers, other);
    assert_eq!(status, 400);
    let stale = sendgrid_headers(&signing, now - 3600, other);
    assert_eq!(post_events(&served, &stale, other).0, 400);
    assert_eq!(post_events(&served, &[], other).0, 400);
    let forger = SigningKey::from_slice(&[9u8; 32]).unwrap();
    let forged = sendgrid_headers(&forger, now, other);
    assert_eq!(post_events(&served, &forged, other).0, 400);
    assert_eq!(status_of(&sb, "busy@block-co.com"), "new");
    let (code, _, _) = served.get("/sendgrid/events");
    assert_eq!(code, 405);

    // No key configured: every event is refused.
    let unkeyed = Sandbox::new();
    import(&unkeyed, &[("gone@bounce-co.com", "Bounce Co")]);
    let served = Served::start(&unkeyed);
    assert_eq!(post_events(&served, &headers, body).0, 400);
    assert_eq!(status_of(&unkeyed, "gone@bounce-co.com"), "new");
}

/// A SendGrid stand-in: mail sends accepted, suppression lists from `lists`.
fn sendgrid(lists: BTreeMap<&'static str, Value>) -> FakeServer {
    FakeServer::start(move |r: &Recorded| {
        if r.url.starts_with("/v3/mail/send") {
            return (202, String::new());
        }
        let name = r
            .url
            .trim_start_matches("/v3/suppression/")
            .split('?')
            .next()
            .unwrap();
        let page = if r.url.contains("offset=0") {
            lists.get(name).cloned().unwrap_or(Value::Array(vec![]))
        } else {
            Value::Array(vec![])
        };
        (200, page.to_string())
    })
}

#[test]
fn sendgrid_suppressions_are_pulled_from_a_cursor_and_outreach_is_untracked() {
    let now = unix_now();
    let lists = BTreeMap::from([
        (
            "bounces",
            serde_json::json!([{"email": "hard@pulled-co.com", "created": now - 100, "reason": "550 user unknown"}]),
        ),
        (
            "spam_reports",
            serde_json::json!([{"email": "spam@pulled-co.com", "created": now - 50}]),
        ),
        (
            "unsubscribes",
            serde_json::json!([{"email": "UNSUB@Other-Co.com", "created": now - 10}]),
        ),
    ]);
    let server = sendgrid(lists);
    let sb = Sandbox::new()
        .email_via_sendgrid(&server.url)
        .with("SENDGRID_API_KEY", "SG.pull-key-123")
        .with("EMAIL_SEND_DELAY_MIN", "0")
        .with("EMAIL_SEND_DELAY_MAX", "0");
    import(
        &sb,
        &[
            ("hard@pulled-co.com", "Pulled Co"),
            ("unsub@other-co.com", "Other Co"),
            ("ok@fine-co.com", "Fine Co"),
        ],
    );
    let r: Value = sb.json(&["sync-inbox", "--json"]);
    assert_eq!(r["sendgrid_pulled"], 3, "{r}");
    assert_eq!(r["mode"], "OFF", "no IMAP: the pull still runs");
    assert_eq!(status_of(&sb, "hard@pulled-co.com"), "email_failed");
    assert_eq!(status_of(&sb, "unsub@other-co.com"), "unsubscribed");
    let pulls: Vec<Recorded> = server
        .requests()
        .into_iter()
        .filter(|r| r.url.starts_with("/v3/suppression/"))
        .collect();
    assert_eq!(pulls.len(), 5, "one page of each list");
    assert!(
        pulls
            .iter()
            .all(|p| p.header("Authorization") == Some("Bearer SG.pull-key-123"))
    );

    // The next pass starts at each list's newest entry and applies nothing twice.
    let again: Value = sb.json(&["sync-inbox", "--json"]);
    assert_eq!(again["sendgrid_pulled"], 0, "{again}");
    let bounce_pulls: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.url.starts_with("/v3/suppression/bounces"))
        .map(|r| r.url)
        .collect();
    assert!(
        bounce_pulls[1].contains(&format!("start_time={}", now - 100)),
        "{bounce_pulls:?}"
    );

    // Outreach names its send for the events and turns tracking off.
    let out = sb.run(&["send-outreach", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let sends = server.mail_sends();
    assert_eq!(sends.len(), 1, "only ok@fine-co.com may be emailed");
    let body = sends[0].json();
    assert!(
        body["custom_args"]["hoss_send_id"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .is_ok()
    );
    for t in ["click_tracking", "open_tracking", "subscription_tracking"] {
        assert_eq!(body["tracking_settings"][t]["enable"], false, "{t}");
    }
    assert!(
        body["headers"]["Message-ID"]
            .as_str()
            .unwrap()
            .starts_with("<hoss.")
    );

    // A revoked key is the operator's to fix: 78, and the key is never shown.
    let revoked =
        FakeServer::answering(401, r#"{"errors":[{"message":"bad key SG.pull-key-123"}]}"#);
    let out = sb
        .command(&["sync-inbox", "--json"])
        .env("SENDGRID_API_BASE", &revoked.url)
        .output()
        .unwrap();
    let out = crate::harness::Output::from(out);
    assert_eq!(out.code, 78, "{out:?}");
    assert_eq!(
        out.log_lines("[EMAIL][CONFIG_ERROR]").len(),
        1,
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("SG.pull-key-123") && !out.stdout.contains("SG.pull-key-123"));
}

#[test]
fn too_many_bounces_pause_outreach_until_the_operator_resumes() {
    let bounced = std::sync::Arc::new(std::sync::Mutex::new(Value::Array(vec![])));
    let feed = bounced.clone();
    let server = FakeServer::start(move |r: &Recorded| {
        if r.url.starts_with("/v3/mail/send") {
            return (202, String::new());
        }
        if r.url.starts_with("/v3/suppression/bounces") && r.url.contains("offset=0") {
            return (200, feed.lock().unwrap().to_string());
        }
        (200, "[]".into())
    });
    let mut sb = Sandbox::new()
        .email_via_sendgrid(&server.url)
        .with("SENDGRID_API_KEY", "SG.health-key")
        .with("EMAIL_SEND_DELAY_MIN", "0")
        .with("EMAIL_SEND_DELAY_MAX", "0")
        .with("HEALTH_MIN_SENDS", "5");
    let rows: Vec<(String, String)> = (0..10)
        .map(|i| (format!("p{i}@firm{i}.com"), format!("Firm {i}")))
        .collect();
    let refs: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    import(&sb, &refs);
    let r: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(r["sent"], 10, "{r}");

    // One hard bounce in ten real sends is 10 % (limit 2 %): paused.
    *bounced.lock().unwrap() =
        serde_json::json!([{"email": "p0@firm0.com", "created": unix_now() - 5}]);
    let out = sb.run(&["sync-inbox", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.log_lines("[EMAIL][PAUSED]").len(), 1, "{}", out.stderr);
    let status: Value = sb.json(&["status", "--json"]);
    assert_eq!(status["health"]["paused"], true, "{}", status["health"]);
    assert_eq!(status["health"]["sends_7d"], 10);
    assert_eq!(status["health"]["hard_bounces_7d"], 1);
    assert!(
        status["warnings"]
            .to_string()
            .contains("outreach is paused")
    );
    sb.set("RELEASE_MODE", "TRUE");
    let check = sb.run(&["check", "--json"]);
    assert_eq!(check.code, 78, "{check:?}");
    assert!(check.stdout.contains("outreach is paused"));
    sb.unset("RELEASE_MODE");

    import(&sb, &[("later@late-co.com", "Late Co")]);
    let sends = |server: &FakeServer| server.mail_sends().len();
    let out = sb.run(&["send-outreach", "--json"]);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        r["paused"]
            .as_str()
            .unwrap()
            .contains("HEALTH_MAX_BOUNCE_RATE"),
        "{r}"
    );
    assert_eq!(
        (out.code, sends(&server)),
        (0, 10),
        "nothing real while paused"
    );
    assert_eq!(status_of(&sb, "later@late-co.com"), "new");

    // The operator resumes: the old evidence is spent, the lead goes out.
    let resumed: Value = sb.json(&["email", "resume", "--json"]);
    assert_eq!(
        (resumed["paused"].as_bool(), resumed["changed"].as_bool()),
        (Some(false), Some(true))
    );
    let r: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!((r["sent"].as_u64(), sends(&server)), (Some(1), 11), "{r}");

    // And the operator's own switch.
    import(&sb, &[("holiday@rest-co.com", "Rest Co")]);
    let paused: Value = sb.json(&["email", "pause", "--reason", "on holiday", "--json"]);
    assert_eq!(paused["paused"], true);
    let r: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(r["paused"], "on holiday");
    assert_eq!(sb.run(&["email", "pause", "--reason", " "]).code, 2);
    sb.json::<Value>(&["email", "resume", "--json"]);
    let r: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(r["sent"], 1, "{r}");
}

#[test]
fn cycle_reads_the_inbox_before_it_sends() {
    let r: Value = Sandbox::new().json(&["cycle", "--json"]);
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        &steps[..3],
        &["source-leads", "sync-inbox", "send-outreach"]
    );
}

// ---------------------------------------------------------------------------
// Hostile cases (issue 15 attack): each test names the defect it pins.

/// Leads from a CSV that has a website column.
fn import_with_websites(sb: &Sandbox, rows: &[(&str, &str, &str)]) {
    let mut csv = String::from("name,email,company,website\n");
    for (email, company, website) in rows {
        csv.push_str(&format!("{company} Person,{email},{company},{website}\n"));
    }
    std::fs::write(sb.path("leads.csv"), csv).unwrap();
    let out = sb.run(&["lead", "import", "leads.csv"]);
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn a_reply_never_holds_or_attributes_a_platform_domain_like_facebook() {
    // Local businesses often give a Facebook page or a Google Maps link as
    // their website: the lead's `domain` is then facebook.com. One such
    // lead's reply must not hold every other business on Facebook, and
    // mail from facebook.com is not a colleague answering.
    let Some(imap) = Dovecot::start() else { return };
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp_and_imap(&smtp, &imap, "Platform");
    import_with_websites(
        &sb,
        &[(
            "ann.dental@gmail.com",
            "Ann Dental",
            "https://www.facebook.com/anndental",
        )],
    );
    let out = sb.run(&["send-outreach", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    imap.deliver(
        "Platform",
        "From: Ann <ann.dental@gmail.com>\nTo: replies@hoss-operator.com\nSubject: Re: a question\nMessage-ID: <r-ann@gmail.com>\n\nYes, call me on Tuesday.\n",
    );
    imap.deliver(
        "Platform",
        "From: Facebook <security@facebook.com>\nTo: hello@hoss-operator.com\nSubject: A new login to your account\nMessage-ID: <fb-1@facebook.com>\n\nWe noticed a new login.\n",
    );
    let r: Value = sb.json(&["sync-inbox", "--json"]);
    assert_eq!(
        (r["replies"].as_u64(), r["unmatched"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    assert_eq!(status_of(&sb, "ann.dental@gmail.com"), "replied");
    let listed: Vec<Value> = sb.json(&["inbox", "list", "--json"]);
    assert!(
        listed
            .iter()
            .all(|m| !m["action"].as_str().unwrap().contains("facebook.com held")),
        "a platform domain was held: {listed:?}"
    );

    // Another business whose "website" is also a Facebook page is emailed.
    import_with_websites(
        &sb,
        &[(
            "bob.bakery@yahoo.com",
            "Bob Bakery",
            "https://facebook.com/bobbakery",
        )],
    );
    let r: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(
        (r["sent"].as_u64(), r["held"].as_u64()),
        (Some(1), Some(0)),
        "{r}"
    );
}
#[test]
fn the_operators_own_mail_in_the_inbox_is_no_reply_from_a_lead() {
    // The operator follows up from a mail client (or the digest lands in the
    // same mailbox): From is hoss's own address, threaded to the outreach.
    let Some(imap) = Dovecot::start() else { return };
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp_and_imap(&smtp, &imap, "Own");
    import(&sb, &[("ann@acme-dental.com", "Acme Dental")]);
    let out = sb.run(&["send-outreach", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let mid = header(&smtp.messages()[0].data, "Message-ID");
    for (i, from) in [
        "Sam Carter <hello@hoss-operator.com>",
        "replies@hoss-operator.com",
    ]
    .iter()
    .enumerate()
    {
        imap.deliver(
            "Own",
            &format!(
                "From: {from}\nTo: ann@acme-dental.com\nSubject: Re: a question\nMessage-ID: <own-{i}@hoss-operator.com>\nIn-Reply-To: {mid}\nReferences: {mid}\n\nHi Ann, just following up on my note.\n"
            ),
        );
    }
    let out = sb.run(&["sync-inbox", "--json"]);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (r["replies"].as_u64(), r["unmatched"].as_u64()),
        (Some(0), Some(2)),
        "{r}"
    );
    assert!(out.log_lines("[INBOX][REPLY]").is_empty(), "{}", out.stderr);
    assert_eq!(status_of(&sb, "ann@acme-dental.com"), "contacted");
    let summary: Value = sb.json(&["summary", "--json"]);
    assert_eq!(summary["emails"]["replies"], 0, "{summary}");
}

/// A server that accepts and then dribbles: `prologue`, then one more byte
/// of `drip` every 300 ms, for ever. No single read waits long.
fn dribbling_server(prologue: &'static [u8], drip: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = stream.write_all(prologue);
                for b in drip.iter().cycle() {
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    if stream.write_all(&[*b]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Runs `args` and gives up (killing it) after `limit`: `None` if it hung.
fn run_within(
    sb: &Sandbox,
    args: &[&str],
    limit: std::time::Duration,
) -> Option<crate::harness::Output> {
    let mut child = sb
        .command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return Some(crate::harness::Output::from(
                child.wait_with_output().unwrap(),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn an_inbox_that_answers_a_byte_at_a_time_cannot_hold_the_pass_for_ever() {
    // IMAP_TIMEOUT_SECS bounds each command, not each read: a server (or a
    // middlebox) that trickles bytes must not hang sync-inbox — and with it
    // every later cron cycle, which would find the lock busy.
    let plain = dribbling_server(b"", b"* OK dovecot ready and more and more");
    let starttls = dribbling_server(b"* OK ready\r\n", b"* CAPABILITY IMAP4rev1\r\n");
    for (port, tls) in [(plain, "NONE"), (starttls, "STARTTLS")] {
        let sb = Sandbox::new()
            .with("INBOX_MODE", "IMAP")
            .with("IMAP_HOST", "127.0.0.1")
            .with("IMAP_PORT", &port.to_string())
            .with("IMAP_TLS", tls)
            .with("IMAP_USERNAME", IMAP_USER)
            .with("IMAP_PASSWORD", "pw-dribble-1")
            .with("IMAP_TIMEOUT_SECS", "2");
        let out = run_within(
            &sb,
            &["sync-inbox", "--json"],
            std::time::Duration::from_secs(20),
        )
        .unwrap_or_else(|| panic!("IMAP_TLS={tls}: sync-inbox still running after 20 s"));
        assert_eq!(out.code, 75, "IMAP_TLS={tls}: {out:?}");
        assert_eq!(
            out.log_lines("[INBOX][UNREACHABLE]").len(),
            1,
            "{}",
            out.stderr
        );
    }
}

#[test]
fn a_password_command_that_leaves_a_helper_running_does_not_hang_the_pass() {
    // Token helpers often start an agent in the background that inherits
    // stdout. The command itself has printed the password and exited: the
    // pass must go on, not wait for the agent to close the pipe.
    let Some(imap) = Dovecot::start() else { return };
    let sb = Sandbox::new()
        .with("INBOX_MODE", "IMAP")
        .with("IMAP_HOST", "127.0.0.1")
        .with("IMAP_PORT", &imap.port.to_string())
        .with("IMAP_TLS", "NONE")
        .with("IMAP_USERNAME", IMAP_USER)
        .with("IMAP_TIMEOUT_SECS", "5")
        .with(
            "IMAP_PASSWORD_CMD",
            &format!("printf '%s\\n' '{IMAP_PASSWORD}'; sleep 40 &"),
        );
    let out = run_within(
        &sb,
        &["sync-inbox", "--json"],
        std::time::Duration::from_secs(20),
    )
    .expect("sync-inbox waited for the password command's background helper");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stderr.contains(IMAP_PASSWORD));
}

#[test]
fn an_event_whose_send_id_names_another_recipient_touches_only_its_own_address() {
    // Send ids are small integers: a second hoss (staging) on the same
    // SendGrid account, or a database restored from backup, sends events
    // whose hoss_send_id is some other lead's send here. The event's own
    // address decides; the lead of that send is not unsubscribed.
    let (signing, public) = sendgrid_keys();
    let sb = Sandbox::new().with("SENDGRID_WEBHOOK_PUBLIC_KEY", &public);
    import(
        &sb,
        &[
            ("ann@acme-dental.com", "Acme Dental"),
            ("bob@bolt-labs.com", "Bolt Labs"),
        ],
    );
    assert_eq!(sb.run(&["send-outreach"]).code, 0);
    let bobs_send: i64 = sb
        .db()
        .query_row(
            "SELECT id FROM send_ledger WHERE recipient = 'bob@bolt-labs.com'",
            args![],
            |r| r.get(0),
        )
        .unwrap();
    let served = Served::start(&sb);
    let body = format!(
        r#"[{{"sg_event_id":"x-1","email":"ann@acme-dental.com","event":"spamreport","hoss_send_id":"{bobs_send}"}}]"#
    );
    let (status, answer) = post_events(
        &served,
        &sendgrid_headers(&signing, unix_now(), &body),
        &body,
    );
    assert_eq!(
        (status, &answer["applied"]),
        (200, &Value::from(1)),
        "{answer}"
    );
    assert_eq!(status_of(&sb, "ann@acme-dental.com"), "unsubscribed");
    assert_eq!(
        status_of(&sb, "bob@bolt-labs.com"),
        "new",
        "bob complained of nothing"
    );
    let suppressed: Vec<Value> = sb.json(&["suppress", "list", "--json"]);
    let emails: Vec<&str> = suppressed
        .iter()
        .map(|s| s["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["ann@acme-dental.com"]);
}

#[test]
fn bounces_of_mail_hoss_never_sent_do_not_pause_outreach() {
    // The SendGrid account also carries the operator's other mail (receipts,
    // a newsletter): its bounces are suppressed like any, but they say
    // nothing about outreach's health — 1 of 10 outreach sends bouncing is
    // a pause, 1 stranger's bounce is not.
    let server = sendgrid(BTreeMap::from([(
        "bounces",
        serde_json::json!([{"email": "old-customer@elsewhere-co.com", "created": unix_now() - 5}]),
    )]));
    let sb = Sandbox::new()
        .email_via_sendgrid(&server.url)
        .with("SENDGRID_API_KEY", "SG.health-key")
        .with("EMAIL_SEND_DELAY_MIN", "0")
        .with("EMAIL_SEND_DELAY_MAX", "0")
        .with("HEALTH_MIN_SENDS", "5");
    let rows: Vec<(String, String)> = (0..10)
        .map(|i| (format!("p{i}@firm{i}.com"), format!("Firm {i}")))
        .collect();
    let refs: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    import(&sb, &refs);
    let r: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(r["sent"], 10, "{r}");
    let out = sb.run(&["sync-inbox", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(r["suppressed"], 1, "{r}");
    assert!(
        out.log_lines("[EMAIL][PAUSED]").is_empty(),
        "{}",
        out.stderr
    );
    let status: Value = sb.json(&["status", "--json"]);
    assert_eq!(status["health"]["paused"], false, "{}", status["health"]);
    assert_eq!(
        status["health"]["hard_bounces_7d"], 0,
        "{}",
        status["health"]
    );
}

#[test]
fn a_subject_cannot_write_escape_codes_to_the_operators_terminal() {
    // Anyone can mail the inbox, and RFC 2047 lets a Subject carry any
    // character: ESC sequences (retitle the terminal, recolour, hide text)
    // and line breaks (fake rows). `inbox list` shows them escaped.
    let Some(imap) = Dovecot::start() else { return };
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp_and_imap(&smtp, &imap, "Esc");
    import(&sb, &[("ann@acme-dental.com", "Acme Dental")]);
    let evil = STANDARD
        .encode("Hi\x1b]0;pwned\x07\x1b[31mRED\n2026-01-01  reply  1  boss@x.com  fake row");
    imap.deliver(
        "Esc",
        &format!(
            "From: ann@acme-dental.com\nTo: replies@hoss-operator.com\nSubject: =?UTF-8?B?{evil}?=\nMessage-ID: <esc-1@acme-dental.com>\n\nHello\n"
        ),
    );
    let out = sb.run(&["sync-inbox"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = sb.run(&["inbox", "list"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        !out.stdout.contains('\x1b') && !out.stdout.contains('\x07'),
        "{:?}",
        out.stdout
    );
    assert_eq!(
        out.stdout.lines().count(),
        2,
        "one header, one row: {}",
        out.stdout
    );
    // The JSON keeps the subject as received.
    let listed: Vec<Value> = sb.json(&["inbox", "list", "--json"]);
    assert!(listed[0]["subject"].as_str().unwrap().contains('\x1b'));
}

#[test]
fn one_oddly_written_from_address_cannot_stop_the_inbox_for_good() {
    // `From: Ann <ann@acme-dental.com >` (a space inside the brackets) is
    // what some mailers write — and what anyone may send. It reached the
    // suppression list as "ann@acme-dental.com " and failed its CHECK: the
    // pass ended with exit 70 at that message, every pass after it too,
    // and nothing behind it was ever read.
    let Some(imap) = Dovecot::start() else { return };
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp_and_imap(&smtp, &imap, "Odd");
    import(
        &sb,
        &[
            ("ann@acme-dental.com", "Acme Dental"),
            ("bob@bolt-labs.com", "Bolt Labs"),
        ],
    );
    assert_eq!(sb.run(&["send-outreach"]).code, 0);
    let ann = smtp
        .messages()
        .into_iter()
        .find(|m| m.to[0] == "ann@acme-dental.com")
        .unwrap();
    let mid = header(&ann.data, "Message-ID");
    imap.deliver(
        "Odd",
        &format!(
            "From: Ann <Ann@Acme-Dental.com >\nTo: replies@hoss-operator.com\nSubject: Re: a question\nMessage-ID: <odd-1@acme-dental.com>\nIn-Reply-To: {mid}\n\nPlease remove me from your list.\n"
        ),
    );
    imap.deliver(
        "Odd",
        "From: bob@bolt-labs.com\nTo: replies@hoss-operator.com\nSubject: Re: a question\nMessage-ID: <odd-2@bolt-labs.com>\n\nSure, let's talk.\n",
    );
    let out = sb.run(&["sync-inbox", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(status_of(&sb, "ann@acme-dental.com"), "unsubscribed");
    assert_eq!(status_of(&sb, "bob@bolt-labs.com"), "replied");
    let suppressed: Vec<Value> = sb.json(&["suppress", "list", "--json"]);
    let emails: Vec<&str> = suppressed
        .iter()
        .map(|s| s["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["ann@acme-dental.com"]);
}

#[test]
fn a_bounce_heard_from_the_webhook_and_the_pull_counts_once_toward_health() {
    // With the Event Webhook configured, SendGrid reports a bounce twice:
    // as an event, and on the bounces list the next sync-inbox pulls. The
    // address bounced once; counted twice, outreach pauses at half the
    // real rate (here 1 in 10 sends against a 15 % limit).
    let (signing, public) = sendgrid_keys();
    let server = sendgrid(BTreeMap::from([(
        "bounces",
        serde_json::json!([{"email": "p0@firm0.com", "created": unix_now() - 5, "reason": "550 5.1.1"}]),
    )]));
    let sb = Sandbox::new()
        .email_via_sendgrid(&server.url)
        .with("SENDGRID_API_KEY", "SG.twice-key")
        .with("SENDGRID_WEBHOOK_PUBLIC_KEY", &public)
        .with("EMAIL_SEND_DELAY_MIN", "0")
        .with("EMAIL_SEND_DELAY_MAX", "0")
        .with("HEALTH_MIN_SENDS", "5")
        .with("HEALTH_MAX_BOUNCE_RATE", "0.15");
    let rows: Vec<(String, String)> = (0..10)
        .map(|i| (format!("p{i}@firm{i}.com"), format!("Firm {i}")))
        .collect();
    let refs: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    import(&sb, &refs);
    let r: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(r["sent"], 10, "{r}");
    let send_id = server.mail_sends()[0].json()["custom_args"]["hoss_send_id"]
        .as_str()
        .unwrap()
        .to_string();
    let to = server.mail_sends()[0].json()["personalizations"][0]["to"][0]["email"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(to, "p0@firm0.com");
    let served = Served::start(&sb);
    let body = format!(
        r#"[{{"sg_event_id":"b-1","email":"p0@firm0.com","event":"bounce","type":"bounce","hoss_send_id":"{send_id}"}}]"#
    );
    let (status, _) = post_events(
        &served,
        &sendgrid_headers(&signing, unix_now(), &body),
        &body,
    );
    assert_eq!(status, 200);
    let out = sb.run(&["sync-inbox", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let status: Value = sb.json(&["status", "--json"]);
    assert_eq!(
        status["health"]["hard_bounces_7d"], 1,
        "{}",
        status["health"]
    );
    assert_eq!(status["health"]["paused"], false, "{}", status["health"]);
}

#[test]
fn bounces_of_sends_before_the_window_do_not_pause_outreach_on_the_first_pull() {
    // The first pull (or first IMAP sync) reads 14 days of history, all of
    // it recorded today. Ten days ago two of ten sends bounced; this week
    // ten more went out cleanly. The last 7 days are healthy: the old
    // bounces belong to old sends, not to this week's. (A one-step
    // sequence: this week's ten are first emails to other leads, not
    // follow-ups to the two dead addresses, which would be this week's
    // sends to them.)
    let now = unix_now();
    let then = now - 10 * 86_400;
    let server = sendgrid(BTreeMap::from([(
        "bounces",
        serde_json::json!([
            {"email": "p0@firm0.com", "created": then + 60},
            {"email": "p1@firm1.com", "created": then + 60}
        ]),
    )]));
    // One email per lead: this week's sends go to other leads than the
    // ones that bounced (with follow-ups, a bounced address emailed again
    // this week is this week's evidence).
    let mut sb = Sandbox::new()
        .config_file("[[sequence.steps]]\n")
        .email_via_sendgrid(&server.url)
        .with("SENDGRID_API_KEY", "SG.window-key")
        .with("EMAIL_SEND_DELAY_MIN", "0")
        .with("EMAIL_SEND_DELAY_MAX", "0")
        .with("MAX_EMAILS_PER_CYCLE", "10")
        .with("HEALTH_MIN_SENDS", "5");
    let rows: Vec<(String, String)> = (0..20)
        .map(|i| (format!("p{i}@firm{i}.com"), format!("Firm {i}")))
        .collect();
    let refs: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    import(&sb, &refs);
    let then_rfc3339 = chrono::DateTime::from_timestamp(then, 0)
        .unwrap()
        .to_rfc3339();
    sb.set("HOSS_NOW", &then_rfc3339);
    let r: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(r["sent"], 10, "{r}");
    sb.unset("HOSS_NOW");
    let r: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(r["sent"], 10, "{r}");
    let out = sb.run(&["sync-inbox", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(status_of(&sb, "p0@firm0.com"), "email_failed");
    let status: Value = sb.json(&["status", "--json"]);
    assert_eq!(status["health"]["sends_7d"], 10, "{}", status["health"]);
    assert_eq!(
        status["health"]["hard_bounces_7d"], 0,
        "{}",
        status["health"]
    );
    assert_eq!(status["health"]["paused"], false, "{}", status["health"]);
}

#[test]
fn the_mailto_unsubscribe_a_mail_client_sends_for_the_lead_is_an_opt_out() {
    // Every outreach message offers `List-Unsubscribe: <mailto:…?subject=
    // unsubscribe>`; without PUBLIC_BASE_URL it is the only way out. A
    // client's Unsubscribe button mails it: Subject "unsubscribe", a
    // machine-made body or none, sometimes Auto-Submitted. That is the
    // clearest opt-out there is — not a human reply, not an auto-reply.
    let Some(imap) = Dovecot::start() else { return };
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp_and_imap(&smtp, &imap, "Mailto");
    import(
        &sb,
        &[
            ("ann@acme-dental.com", "Acme Dental"),
            ("bob@bolt-labs.com", "Bolt Labs"),
        ],
    );
    assert_eq!(sb.run(&["send-outreach"]).code, 0);
    let m = &smtp.messages()[0];
    let list_unsubscribe = header(&m.data, "List-Unsubscribe");
    let mailto = list_unsubscribe
        .split(['<', '>'])
        .find_map(|p| p.strip_prefix("mailto:"))
        .unwrap_or_else(|| panic!("{list_unsubscribe}"));
    let (to, query) = mailto.split_once('?').unwrap();
    let subject = query.strip_prefix("subject=").unwrap();
    imap.deliver(
        "Mailto",
        &format!(
            "From: ann@acme-dental.com\nTo: {to}\nSubject: {subject}\nMessage-ID: <unsub-1@acme-dental.com>\n\nThis message was automatically generated by Gmail.\n"
        ),
    );
    imap.deliver(
        "Mailto",
        &format!(
            "From: bob@bolt-labs.com\nTo: {to}\nSubject: {subject}\nAuto-Submitted: auto-generated\nMessage-ID: <unsub-2@bolt-labs.com>\n\n"
        ),
    );
    let r: Value = sb.json(&["sync-inbox", "--json"]);
    assert_eq!(
        (r["opt_outs"].as_u64(), r["replies"].as_u64()),
        (Some(2), Some(0)),
        "{r}"
    );
    assert_eq!(status_of(&sb, "ann@acme-dental.com"), "unsubscribed");
    assert_eq!(status_of(&sb, "bob@bolt-labs.com"), "unsubscribed");
    let suppressed: Vec<Value> = sb.json(&["suppress", "list", "--json"]);
    assert_eq!(suppressed.len(), 2, "{suppressed:?}");
}

#[test]
fn preview_shows_the_plus_token_reply_to_the_pass_will_send() {
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let sb = Sandbox::new()
        .email_via_smtp(smtp.port)
        .with("REPLY_TO_EMAIL", "replies@hoss-operator.com")
        .with("REPLY_TO_PLUS_TOKEN", "TRUE");
    import(&sb, &[("ann@acme-dental.com", "Acme Dental")]);
    let before: Value = sb.json(&["preview", "1", "--json"]);
    assert!(
        before["message"]
            .as_str()
            .unwrap()
            .contains("Reply-To: replies+htoken-made-at-first-send@hoss-operator.com"),
        "{before}"
    );
    assert_eq!(sb.run(&["send-outreach"]).code, 0);
    let sent = header(&smtp.messages()[0].data, "Reply-To");
    let after: Value = sb.json(&["preview", "1", "--step", "2", "--json"]);
    assert!(
        after["message"]
            .as_str()
            .unwrap()
            .contains(&format!("Reply-To: {sent}")),
        "{after} vs {sent}"
    );
}
