//! SPEC §16: the customer hears about an invoice — the notice (real SMTP
//! and the SendGrid stand-in), reminders across days, a receipt, at most
//! once under overlapping passes and a killed sender — and the operator's
//! override of the amount limit.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{
    FakeServer, Sandbox, SmtpMode, SmtpServer, StripeStub, stripe_signature, wait_until,
};

const SECRET: &str = "whsec_test_webhook_secret";
const DAY0: &str = "2026-12-01T10:00:00Z";

/// Stripe on (the stand-in), real mail over SMTP, a portal address, the
/// clock at `DAY0`.
fn paid_sandbox(stub: &StripeStub, smtp_port: u16) -> Sandbox {
    Sandbox::new()
        .email_via_smtp(smtp_port)
        .with("ENABLE_STRIPE", "TRUE")
        .with("STRIPE_API_KEY", "sk_test_hossbillingtests")
        .with("STRIPE_API_BASE", &stub.server.url)
        .with("STRIPE_WEBHOOK_SECRET", SECRET)
        .with("STRIPE_MAX_AMOUNT", "5000")
        .with("PORTAL_BASE_URL", "https://portal.carter.test")
        .with("HOSS_NOW", DAY0)
}

/// A customer with done work; returns its id.
fn customer(sb: &Sandbox, email: &str, work: &[(&str, &str)]) -> String {
    let c: Value = sb.json(&[
        "customer",
        "add",
        "--company",
        "Acme Dental",
        "--email",
        email,
        "--name",
        "Pat Buyer",
        "--json",
    ]);
    let id = c["id"].as_i64().unwrap().to_string();
    for (description, amount) in work {
        sb.done_task(&id, description, amount);
    }
    id
}

fn bill(sb: &Sandbox) -> Value {
    let out = sb.run(&["bill", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap()
}

fn counts(report: &Value) -> (i64, i64, i64) {
    (
        report["invoice_emails"].as_i64().unwrap(),
        report["reminders"].as_i64().unwrap(),
        report["receipts"].as_i64().unwrap(),
    )
}

fn body(m: &crate::harness::Received) -> (String, String) {
    let parsed = mailparse::parse_mail(&m.data).unwrap();
    let subject = parsed
        .headers
        .iter()
        .find(|h| h.get_key().eq_ignore_ascii_case("subject"))
        .map(|h| h.get_value())
        .unwrap_or_default();
    // Lines are wrapped at 78 columns: compare words.
    let text = parsed.get_body().unwrap();
    (
        subject,
        text.split_whitespace().collect::<Vec<_>>().join(" "),
    )
}

fn mails(sb: &Sandbox, invoice: i64) -> Vec<(String, i64, String)> {
    let shown: Value = sb.json(&["invoice", "show", &invoice.to_string(), "--json"]);
    shown["mails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap().to_string(),
                m["step"].as_i64().unwrap(),
                m["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_invoice_email_carries_lines_total_link_portal_and_due_date_once() {
    let stub = StripeStub::start();
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let sb = paid_sandbox(&stub, smtp.port).with("STRIPE_DEFAULT_CURRENCY", "eur");
    customer(
        &sb,
        "pat@acme-dental.com",
        &[
            ("Website audit", "1200.00"),
            ("Monthly operations", "300.50"),
        ],
    );
    let report = bill(&sb);
    assert_eq!(report["links_created"], 1, "{report}");
    assert_eq!(counts(&report), (1, 0, 0), "{report}");
    let got = smtp.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, ["pat@acme-dental.com"]);
    let (subject, text) = body(&got[0]);
    assert_eq!(
        subject,
        "Invoice #1 from Carter Consulting LLC — 1500.50 EUR"
    );
    let invoice: Value = sb.json(&["invoice", "show", "1", "--json"]);
    let token: String = sb
        .db()
        .query_row("SELECT public_token FROM customer", args![], |r| r.get(0))
        .unwrap();
    for part in [
        "Hello Pat, here is invoice #1".to_string(),
        "Website audit: 1200.00 EUR".into(),
        "Monthly operations: 300.50 EUR".into(),
        "Total: 1500.50 EUR".into(),
        "Due by 2026-12-15.".into(),
        format!("Pay now: {}", invoice["payment_url"].as_str().unwrap()),
        format!("https://portal.carter.test/{token}/"),
        "1 Main St, Springfield".into(),
    ] {
        assert!(text.contains(&part), "{part:?} in {text}");
    }
    // Transactional: no unsubscribe line or header.
    assert!(!text.to_lowercase().contains("unsubscribe"), "{text}");
    assert!(
        !String::from_utf8_lossy(&got[0].data).contains("List-Unsubscribe"),
        "no List-Unsubscribe on an invoice"
    );
    assert_eq!(invoice["due_at"], "2026-12-15T10:00:00Z");
    // Once: the next passes send nothing more; the ledger says what went.
    assert_eq!(counts(&bill(&sb)), (0, 0, 0));
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(mails(&sb, 1), [("invoice".into(), 1, "sent".into())]);
    // Not outreach: the outreach caps did not move.
    let status: Value = sb.json(&["status", "--json"]);
    assert_eq!(status["email"]["sent_this_hour"], 0, "{status}");
}

#[test]
fn through_sendgrid_the_invoice_goes_as_one_v3_mail_send() {
    let stub = StripeStub::start();
    let sendgrid = FakeServer::sendgrid();
    let sb = paid_sandbox(&stub, 1)
        .email_via_sendgrid(&sendgrid.url)
        .with("SENDGRID_API_KEY", "SG.test-key-for-invoices");
    customer(&sb, "pat@acme-dental.com", &[("Audit", "99.00")]);
    assert_eq!(counts(&bill(&sb)), (1, 0, 0));
    let sends = sendgrid.mail_sends();
    assert_eq!(sends.len(), 1);
    let v = sends[0].json();
    assert_eq!(
        v["personalizations"][0]["to"][0]["email"],
        "pat@acme-dental.com"
    );
    assert_eq!(
        v["subject"],
        "Invoice #1 from Carter Consulting LLC — 99.00 USD"
    );
    assert!(v["content"].to_string().contains("Audit: 99.00 USD"), "{v}");
}

#[test]
fn reminders_follow_the_due_date_once_each_and_a_receipt_ends_them() {
    let stub = StripeStub::start();
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let mut sb = paid_sandbox(&stub, smtp.port);
    customer(&sb, "pat@acme-dental.com", &[("Audit", "800.00")]);
    customer(&sb, "lee@other-co.com", &[("Setup", "100.00")]);
    assert_eq!(counts(&bill(&sb)), (2, 0, 0));
    // Invoice 2 is voided (its work written off): nothing more is ever
    // sent for it.
    assert_eq!(sb.run(&["invoice", "void", "2", "--write-off"]).code, 0);
    // Due 2026-12-15 10:00; reminders 3, 7 and 14 days after.
    for (now, expected) in [
        ("2026-12-18T09:59:59Z", 0),
        ("2026-12-18T10:00:00Z", 1),
        ("2026-12-19T10:00:00Z", 0),
        ("2026-12-22T10:00:00Z", 1),
        ("2026-12-29T10:00:00Z", 1),
        ("2027-01-20T10:00:00Z", 0),
    ] {
        sb.set("HOSS_NOW", now);
        assert_eq!(counts(&bill(&sb)), (0, expected, 0), "at {now}");
    }
    assert_eq!(
        mails(&sb, 1),
        [
            ("invoice".into(), 1, "sent".into()),
            ("reminder".into(), 3, "sent".into()),
            ("reminder".into(), 7, "sent".into()),
            ("reminder".into(), 14, "sent".into()),
        ]
    );
    assert_eq!(mails(&sb, 2), [("invoice".into(), 1, "sent".into())]);
    let (subject, text) = body(&smtp.messages()[2]);
    assert_eq!(
        subject,
        "Reminder: invoice #1 from Carter Consulting LLC — 800.00 USD"
    );
    assert!(
        text.contains("was due on 2026-12-15 (3 days ago)"),
        "{text}"
    );

    // Paid through the webhook: the next pass sends a receipt, once, and
    // no reminder ever again.
    let link = sb.json::<Value>(&["invoice", "show", "1", "--json"])["stripe_payment_link_id"]
        .as_str()
        .unwrap()
        .to_string();
    let event = json!({
        "id": "evt_paid_1", "object": "event", "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_paid_1", "object": "checkout.session", "payment_link": link,
                            "payment_status": "paid", "amount_total": 80000, "currency": "usd"}}
    })
    .to_string();
    let t = chrono::DateTime::parse_from_rfc3339("2027-01-20T10:00:00Z")
        .unwrap()
        .timestamp();
    let paid = sb.run_with_stdin(
        &[
            "webhook",
            "--signature",
            &stripe_signature(SECRET, t, &event),
        ],
        event.as_bytes(),
    );
    assert_eq!(paid.code, 0, "{paid:?}");
    assert_eq!(counts(&bill(&sb)), (0, 0, 1));
    let receipt = smtp.messages().last().cloned().unwrap();
    let (subject, text) = body(&receipt);
    assert_eq!(
        subject,
        "Receipt for invoice #1 from Carter Consulting LLC — 800.00 USD paid"
    );
    assert!(
        text.contains("we received 800.00 USD for invoice #1 on 2027-01-20"),
        "{text}"
    );
    sb.set("HOSS_NOW", "2027-03-01T10:00:00Z");
    assert_eq!(counts(&bill(&sb)), (0, 0, 0));
    assert_eq!(smtp.messages().len(), 6);
}

/// An SMTP server that takes a whole message and never answers its end:
/// the sender hangs between handing the message over and hearing back.
/// The flag is raised when a message has been handed over.
fn stalling_smtp() -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handed_over = Arc::new(AtomicBool::new(false));
    let flag = handed_over.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let flag = flag.clone();
            std::thread::spawn(move || {
                let mut out = stream.try_clone().unwrap();
                let mut lines = BufReader::new(stream);
                let _ = out.write_all(b"220 stall.test ESMTP\r\n");
                let mut in_data = false;
                let mut line = String::new();
                while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
                    let reply: &[u8] = if in_data {
                        if line == ".\r\n" {
                            flag.store(true, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_secs(600));
                        }
                        b""
                    } else if line.starts_with("DATA") {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if line.starts_with("EHLO") {
                        b"250 stall.test\r\n"
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = out.write_all(reply);
                    line.clear();
                }
            });
        }
    });
    (port, handed_over)
}

#[test]
fn overlapping_passes_and_a_killed_sender_never_email_a_customer_twice() {
    let stub = StripeStub::start();
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let sb = paid_sandbox(&stub, smtp.port);
    customer(&sb, "pat@acme-dental.com", &[("Audit", "100.00")]);
    // Eight `bill` passes at once: one notice.
    for out in sb.run_concurrently(&["bill"], 8) {
        assert_eq!(out.code, 0, "{out:?}");
    }
    assert_eq!(smtp.messages().len(), 1);

    // Another customer's notice: the sender is killed after handing the
    // message over, before hearing back.
    let (stall, handed_over) = stalling_smtp();
    let stub = StripeStub::start();
    let mut sb = paid_sandbox(&stub, stall);
    customer(&sb, "lee@other-co.com", &[("Setup", "100.00")]);
    let mut child = sb.command(&["bill"]).spawn().unwrap();
    wait_until(Duration::from_secs(30), "the notice is handed over", || {
        handed_over.load(Ordering::SeqCst)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(mails(&sb, 1), [("invoice".into(), 1, "reserved".into())]);
    // A later pass, with a working server: uncertain, never sent again.
    sb.set("SMTP_PORT", &smtp.port.to_string());
    sb.set("HOSS_NOW", "2026-12-01T10:20:00Z");
    let out = sb.run(&["bill", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.log_lines("[EMAIL][UNCERTAIN]").len(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(mails(&sb, 1), [("invoice".into(), 1, "uncertain".into())]);
    assert_eq!(smtp.messages().len(), 1, "nothing re-sent");
}

/// An SMTP server that holds the answer to the first message until
/// released, then accepts everything; counts the messages handed over.
fn gated_smtp() -> (u16, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handed = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicBool::new(false));
    let (count, gate) = (handed.clone(), open.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (count, gate) = (count.clone(), gate.clone());
            std::thread::spawn(move || {
                let mut out = stream.try_clone().unwrap();
                let mut lines = BufReader::new(stream);
                let _ = out.write_all(b"220 gate.test ESMTP\r\n");
                let mut in_data = false;
                let mut line = String::new();
                while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
                    let reply: &[u8] = if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            count.fetch_add(1, Ordering::SeqCst);
                            while !gate.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            b"250 queued\r\n"
                        } else {
                            b""
                        }
                    } else if line.starts_with("DATA") {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if line.starts_with("EHLO") {
                        b"250 gate.test\r\n"
                    } else if line.starts_with("QUIT") {
                        b"221 bye\r\n"
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = out.write_all(reply);
                    line.clear();
                }
            });
        }
    });
    (port, handed, open)
}

/// A pass lists its reminders, then sends them one by one: an invoice paid
/// (or voided) while an earlier one is being sent gets no reminder.
#[test]
fn an_invoice_paid_during_the_pass_gets_no_reminder() {
    let stub = StripeStub::start();
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let mut sb = paid_sandbox(&stub, smtp.port);
    customer(&sb, "pat@acme-dental.com", &[("Audit", "800.00")]);
    customer(&sb, "lee@other-co.com", &[("Setup", "100.00")]);
    customer(&sb, "kim@third-co.com", &[("Setup", "200.00")]);
    assert_eq!(counts(&bill(&sb)), (3, 0, 0));
    let (port, handed, open) = gated_smtp();
    sb.set("SMTP_PORT", &port.to_string());
    sb.set("HOSS_NOW", "2026-12-18T10:00:00Z");
    let child = sb
        .command(&["bill", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(
        Duration::from_secs(30),
        "the first reminder is handed over",
        || handed.load(Ordering::SeqCst) == 1,
    );
    assert_eq!(sb.run(&["invoice", "mark-paid", "2"]).code, 0);
    assert_eq!(sb.run(&["invoice", "void", "3", "--write-off"]).code, 0);
    open.store(true, Ordering::SeqCst);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(counts(&report), (0, 1, 0), "{report}");
    assert_eq!(handed.load(Ordering::SeqCst), 1);
    assert_eq!(mails(&sb, 2), [("invoice".into(), 1, "sent".into())]);
    assert_eq!(mails(&sb, 3), [("invoice".into(), 1, "sent".into())]);
}

#[test]
fn dry_run_sends_nothing_and_says_what_it_would_send() {
    let stub = StripeStub::start();
    // Stripe real, email on defaults (DRY_RUN).
    let sb = Sandbox::new()
        .with("ENABLE_STRIPE", "TRUE")
        .with("STRIPE_API_KEY", "sk_test_hossbillingtests")
        .with("STRIPE_API_BASE", &stub.server.url)
        .with("HOSS_NOW", DAY0);
    customer(&sb, "pat@acme-dental.com", &[("Audit", "100.00")]);
    let out = sb.run(&["bill", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(counts(&report), (1, 0, 0), "{report}");
    assert_eq!(
        out.log_lines("[BILLING][EMAIL][DRY_RUN] invoice_id=1")
            .len(),
        1
    );
    assert!(
        out.log_lines("[EMAIL][DRY_RUN]")
            .iter()
            .any(|l| l.contains("Invoice #1"))
    );
    assert_eq!(mails(&sb, 1), [("invoice".into(), 1, "dry_run".into())]);
    // INVOICE_EMAILS=OFF: not even simulated.
    let off = sb.with("INVOICE_EMAILS", "OFF");
    assert_eq!(counts(&bill(&off)), (0, 0, 0));
}

#[test]
fn a_customer_who_cannot_get_the_mail_is_recorded_and_raised_never_a_crash() {
    let stub = StripeStub::start();
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let sb = paid_sandbox(&stub, smtp.port);
    customer(&sb, "pat@acme-dental.com", &[("Audit", "100.00")]);
    customer(&sb, "lee@other-co.com", &[("Setup", "50.00")]);
    // An imported customer without a usable address; another on the
    // suppression list.
    sb.db()
        .execute(
            "UPDATE customer SET contact_email = '' WHERE id = 1",
            args![],
        )
        .unwrap();
    assert_eq!(sb.run(&["suppress", "add", "lee@other-co.com"]).code, 0);
    let out = sb.run(&["bill", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["invoice_mail_problems"], 2, "{report}");
    assert_eq!(out.log_lines("[BILLING][NO_CONTACT] invoice_id=1").len(), 1);
    assert_eq!(
        out.log_lines("[BILLING][EMAIL_SUPPRESSED] invoice_id=2")
            .len(),
        1
    );
    assert!(smtp.messages().is_empty());
    // Not retried on its own; both invoices stay open; the operator is told.
    assert_eq!(counts(&bill(&sb)), (0, 0, 0));
    let open: Vec<Value> = sb.json(&["invoice", "list", "--json"]);
    assert!(open.iter().all(|i| i["status"] == "open"));
    let status: Value = sb.json(&["status", "--json"]);
    let warnings = status["warnings"].to_string();
    assert!(
        warnings.contains("invoice 1: the invoice email to (no address) was failed"),
        "{warnings}"
    );
    assert!(
        warnings.contains("invoice 2: the invoice email to lee@other-co.com was suppressed"),
        "{warnings}"
    );
    let digest: Value = sb.json(&["summary", "--json"]);
    assert!(
        digest["attention"].to_string().contains("invoice 1:"),
        "{digest}"
    );

    // The operator's send: refused for the suppressed address, sent with --force.
    let refused = sb.run(&["invoice", "send", "2"]);
    assert_eq!(refused.code, 65, "{refused:?}");
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    let forced: Value = sb.json(&["invoice", "send", "2", "--force", "--json"]);
    assert_eq!(
        forced["sent"], "invoice sent to lee@other-co.com (Acme Dental)",
        "{forced}"
    );
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(smtp.messages()[0].to, ["lee@other-co.com"]);
    let status: Value = sb.json(&["status", "--json"]);
    assert!(
        !status["warnings"].to_string().contains("invoice 2:"),
        "{status}"
    );
    // Nothing for a void invoice.
    assert_eq!(sb.run(&["invoice", "void", "1", "--write-off"]).code, 0);
    let void = sb.run(&["invoice", "send", "1"]);
    assert_eq!(void.code, 65);
    assert!(void.stderr.contains("void"), "{}", void.stderr);
    assert_eq!(sb.run(&["invoice", "send", "99"]).code, 65);
}

#[test]
fn a_broken_template_keeps_the_invoice_open_and_tells_the_operator() {
    let stub = StripeStub::start();
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let mut sb = paid_sandbox(&stub, smtp.port);
    let dir = sb.path("templates");
    std::fs::create_dir_all(&dir).unwrap();
    let builtin = include_str!("../../config/templates/invoice_mail.toml");
    std::fs::write(
        dir.join("invoice_mail.toml"),
        builtin.replace("{{ number }}", "{{ invoice_no }}"),
    )
    .unwrap();
    sb.set("TEMPLATES_DIR", dir.to_str().unwrap());
    customer(&sb, "pat@acme-dental.com", &[("Audit", "100.00")]);
    let out = sb.run(&["bill", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines = out.log_lines("[BILLING][EMAIL_TEMPLATE_ERROR]");
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].contains("invoice_no"), "{}", lines[0]);
    assert!(smtp.messages().is_empty());
    let inv: Value = sb.json(&["invoice", "show", "1", "--json"]);
    assert_eq!(inv["status"], "open");
    // Fixed: the next pass sends it.
    std::fs::write(dir.join("invoice_mail.toml"), builtin).unwrap();
    assert_eq!(counts(&bill(&sb)), (1, 0, 0));
}

#[test]
fn approval_links_one_invoice_above_the_max_never_above_the_hard_ceiling() {
    let stub = StripeStub::start();
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let sb = paid_sandbox(&stub, smtp.port)
        .with("STRIPE_MAX_AMOUNT", "500")
        .with("STRIPE_HARD_MAX_AMOUNT", "2000");
    customer(&sb, "pat@acme-dental.com", &[("Big project", "1800.00")]);
    customer(&sb, "lee@other-co.com", &[("Huge project", "2500.00")]);
    let report = bill(&sb);
    assert_eq!(
        (
            report["out_of_range"].as_i64(),
            report["links_created"].as_i64()
        ),
        (Some(2), Some(0))
    );
    // Drafts without a link and no PAYMENT_INSTRUCTIONS: nobody is emailed.
    assert_eq!(counts(&report), (0, 0, 0));
    let approved: Value = sb.json(&["invoice", "approve", "1", "--json"]);
    assert!(approved["approved_at"].is_string(), "{approved}");
    let refused = sb.run(&["invoice", "approve", "2"]);
    assert_eq!(refused.code, 65);
    assert!(
        refused.stderr.contains("STRIPE_HARD_MAX_AMOUNT"),
        "{}",
        refused.stderr
    );
    let report = bill(&sb);
    assert_eq!(report["links_created"], 1, "{report}");
    assert_eq!(counts(&report), (1, 0, 0));
    let open: Value = sb.json(&["invoice", "show", "1", "--json"]);
    assert_eq!(open["status"], "open");
    let still: Value = sb.json(&["invoice", "show", "2", "--json"]);
    assert_eq!(still["status"], "draft");
    // An open invoice needs no approval.
    assert_eq!(sb.run(&["invoice", "approve", "1"]).code, 65);
}

#[test]
fn a_draft_that_cannot_get_a_link_is_emailed_with_the_payment_instructions() {
    let smtp = SmtpServer::start(SmtpMode::Accept);
    // Stripe off: every invoice stays a draft.
    let sb = Sandbox::new()
        .email_via_smtp(smtp.port)
        .with("HOSS_NOW", DAY0)
        .with(
            "PAYMENT_INSTRUCTIONS",
            "Bank transfer to IBAN DE00 1234\\nReference: your invoice number",
        );
    customer(&sb, "pat@acme-dental.com", &[("Audit", "100.00")]);
    assert_eq!(counts(&bill(&sb)), (1, 0, 0));
    let (_, text) = body(&smtp.messages()[0]);
    assert!(
        text.contains("How to pay: Bank transfer to IBAN DE00 1234 Reference: your invoice number"),
        "{text}"
    );
    assert!(!text.contains("Pay now"), "{text}");
    assert!(text.contains("Due by 2026-12-15."), "{text}");
    // Without instructions, a linkless draft is not announced.
    let quiet = Sandbox::new()
        .email_via_smtp(smtp.port)
        .with("HOSS_NOW", DAY0);
    customer(&quiet, "lee@other-co.com", &[("Audit", "100.00")]);
    assert_eq!(counts(&bill(&quiet)), (0, 0, 0));
    assert_eq!(smtp.messages().len(), 1);
}

/// A simulated notice tells nobody anything: the draft gets no due date
/// from it, so the real notice months later is not overdue on arrival.
#[test]
fn a_dry_run_notice_does_not_start_the_due_date_of_a_draft() {
    let sb = Sandbox::new()
        .with("HOSS_NOW", DAY0)
        .with("PAYMENT_INSTRUCTIONS", "Bank transfer to IBAN DE00 1234");
    customer(&sb, "pat@acme-dental.com", &[("Audit", "100.00")]);
    let out = sb.run(&["bill", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.log_lines("[BILLING][EMAIL][DRY_RUN] invoice_id=1")
            .len(),
        1
    );
    let shown: Value = sb.json(&["invoice", "show", "1", "--json"]);
    assert!(shown["due_at"].is_null(), "{shown}");
    // Live two months later, with Stripe: the notice goes with the link and
    // a due date from now, and no reminder follows at once.
    let stub = StripeStub::start();
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let live = sb
        .email_via_smtp(smtp.port)
        .with("ENABLE_STRIPE", "TRUE")
        .with("STRIPE_API_KEY", "sk_test_hossbillingtests")
        .with("STRIPE_API_BASE", &stub.server.url)
        .with("HOSS_NOW", "2027-02-01T10:00:00Z");
    assert_eq!(counts(&bill(&live)), (1, 0, 0));
    let (_, text) = body(&smtp.messages()[0]);
    assert!(text.contains("Due by 2027-02-15."), "{text}");
    assert_eq!(counts(&bill(&live)), (0, 0, 0));
    assert_eq!(smtp.messages().len(), 1);
}

/// `invoice send` of a draft without a link, and no PAYMENT_INSTRUCTIONS:
/// the customer could not pay it, and the notice would stand in for the
/// one with the link the next `bill` makes. Refused, the link's notice goes.
#[test]
fn invoice_send_refuses_a_draft_the_customer_could_not_pay() {
    let stub = StripeStub::start();
    let smtp = SmtpServer::start(SmtpMode::Accept);
    // Stripe cannot be reached on the first pass: the invoice stays a draft.
    let mut sb = paid_sandbox(&stub, smtp.port).with("STRIPE_API_BASE", "http://127.0.0.1:9");
    customer(&sb, "pat@acme-dental.com", &[("Audit", "100.00")]);
    let report = bill(&sb);
    assert_eq!(
        (report["links_created"].as_i64(), counts(&report)),
        (Some(0), (0, 0, 0))
    );
    let refused = sb.run(&["invoice", "send", "1"]);
    assert_eq!(refused.code, 65, "{refused:?}");
    assert!(
        refused.stderr.contains("PAYMENT_INSTRUCTIONS"),
        "{}",
        refused.stderr
    );
    assert!(smtp.messages().is_empty());
    sb.set("STRIPE_API_BASE", &stub.server.url);
    let report = bill(&sb);
    assert_eq!(
        (report["links_created"].as_i64(), counts(&report)),
        (Some(1), (1, 0, 0))
    );
    let (_, text) = body(&smtp.messages()[0]);
    assert!(text.contains("Pay now: https://"), "{text}");
    // With instructions, the operator's send of a linkless draft goes.
    let other = paid_sandbox(&stub, smtp.port)
        .with("STRIPE_API_BASE", "http://127.0.0.1:9")
        .with("PAYMENT_INSTRUCTIONS", "Bank transfer to IBAN DE00 1234");
    customer(&other, "lee@other-co.com", &[("Audit", "100.00")]);
    bill(&other);
    let sent: Value = other.json(&["invoice", "send", "1", "--json"]);
    assert_eq!(
        sent["sent"], "invoice sent to lee@other-co.com (Acme Dental)",
        "{sent}"
    );
}

#[test]
fn the_example_of_replit_md_runs_as_written() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/replit.md")).unwrap();
    let section = &text[text.find("## Getting paid").unwrap()..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let stub = StripeStub::start();
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let mut sb = paid_sandbox(&stub, smtp.port).config_file(example);
    let check = sb.run(&["check", "--json"]);
    assert_eq!(check.code, 0, "{check:?}");
    assert!(!check.stderr.contains("[CONFIG]"), "{}", check.stderr);
    customer(&sb, "pat@acme-dental.com", &[("Audit", "100.00")]);
    assert_eq!(counts(&bill(&sb)), (1, 0, 0));
    let (_, text) = body(&smtp.messages()[0]);
    // Due 30 days after 2026-12-01.
    assert!(text.contains("Due by 2026-12-31."), "{text}");
    // Reminders the day after and ten days after.
    for (now, expected) in [
        ("2027-01-01T09:00:00Z", 0),
        ("2027-01-01T10:00:00Z", 1),
        ("2027-01-10T09:59:59Z", 0),
        ("2027-01-10T10:00:00Z", 1),
        ("2027-01-11T10:00:00Z", 0),
    ] {
        sb.set("HOSS_NOW", now);
        assert_eq!(counts(&bill(&sb)).1, expected, "at {now}");
    }
    let shown = sb.run(&["invoice", "show", "1"]);
    assert!(
        shown
            .stdout
            .contains("reminder (day 10 after due) to pat@acme-dental.com"),
        "{}",
        shown.stdout
    );
}

#[test]
fn turning_invoice_emails_on_announces_what_is_not_yet_due_and_nothing_older() {
    let stub = StripeStub::start();
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let mut sb = paid_sandbox(&stub, smtp.port).with("INVOICE_EMAILS", "OFF");
    customer(&sb, "pat@acme-dental.com", &[("Audit", "100.00")]);
    assert_eq!(counts(&bill(&sb)), (0, 0, 0));
    sb.set("HOSS_NOW", "2026-12-10T10:00:00Z");
    customer(&sb, "lee@other-co.com", &[("Setup", "50.00")]);
    assert_eq!(counts(&bill(&sb)), (0, 0, 0));
    // On, after invoice 1 fell due (12-15) unannounced: only invoice 2,
    // still running, is announced; nobody is reminded of a bill never sent.
    sb.set("INVOICE_EMAILS", "ON");
    sb.set("HOSS_NOW", "2026-12-20T10:00:00Z");
    assert_eq!(counts(&bill(&sb)), (1, 0, 0));
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(smtp.messages()[0].to, ["lee@other-co.com"]);
    // Invoice 2 (due 12-24) is reminded; invoice 1 never.
    sb.set("HOSS_NOW", "2026-12-30T10:00:00Z");
    assert_eq!(counts(&bill(&sb)), (0, 1, 0));
    assert!(smtp.messages().iter().all(|m| m.to == ["lee@other-co.com"]));
    // The operator can still send the old one.
    let sent: Value = sb.json(&["invoice", "send", "1", "--json"]);
    assert_eq!(
        sent["sent"], "invoice sent to pat@acme-dental.com (Acme Dental)",
        "{sent}"
    );
}

#[test]
fn a_draft_announced_with_instructions_is_announced_again_with_its_link_once_open() {
    let stub = StripeStub::start();
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let sb = paid_sandbox(&stub, smtp.port)
        .with("STRIPE_MAX_AMOUNT", "500")
        .with("PAYMENT_INSTRUCTIONS", "Bank transfer to IBAN DE00 1234");
    customer(&sb, "pat@acme-dental.com", &[("Big project", "900.00")]);
    // Above the max: a draft, announced with the instructions.
    assert_eq!(counts(&bill(&sb)), (1, 0, 0));
    let (_, text) = body(&smtp.messages()[0]);
    assert!(
        text.contains("How to pay: Bank transfer") && !text.contains("Pay now"),
        "{text}"
    );
    assert_eq!(counts(&bill(&sb)), (0, 0, 0));
    // Approved: it opens with its link, and the customer hears of the link.
    assert_eq!(sb.run(&["invoice", "approve", "1"]).code, 0);
    assert_eq!(counts(&bill(&sb)), (1, 0, 0));
    let (_, text) = body(&smtp.messages()[1]);
    let url = sb.json::<Value>(&["invoice", "show", "1", "--json"])["payment_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains(&format!("Pay now: {url}")), "{text}");
    // The same due date: the customer was told it already.
    assert!(text.contains("Due by 2026-12-15."), "{text}");
    assert_eq!(counts(&bill(&sb)), (0, 0, 0));
    assert_eq!(
        mails(&sb, 1),
        [
            ("invoice".into(), 1, "sent".into()),
            ("invoice".into(), 2, "sent".into())
        ]
    );
}

#[test]
fn a_bank_transfer_invoice_is_reminded_and_overdue_like_an_open_one() {
    let smtp = SmtpServer::start(SmtpMode::Accept);
    // Stripe off: the invoice stays a draft, announced with the instructions.
    let mut sb = Sandbox::new()
        .email_via_smtp(smtp.port)
        .with("HOSS_NOW", DAY0)
        .with("PAYMENT_INSTRUCTIONS", "Bank transfer to IBAN DE00 1234");
    customer(&sb, "pat@acme-dental.com", &[("Audit", "100.00")]);
    assert_eq!(counts(&bill(&sb)), (1, 0, 0));
    sb.set("HOSS_NOW", "2026-12-18T10:00:00Z");
    let status: Value = sb.json(&["status", "--json"]);
    assert_eq!(
        (
            status["billing"]["overdue"].as_i64(),
            status["billing"]["overdue_cents"].as_i64()
        ),
        (Some(1), Some(10000)),
        "{status}"
    );
    assert_eq!(counts(&bill(&sb)), (0, 1, 0));
    let (subject, text) = body(&smtp.messages()[1]);
    assert!(subject.starts_with("Reminder: invoice #1"), "{subject}");
    assert!(
        text.contains("How to pay: Bank transfer to IBAN DE00 1234"),
        "{text}"
    );
    // The money arrives; the operator records it; the receipt follows.
    assert_eq!(sb.run(&["invoice", "mark-paid", "1"]).code, 0);
    assert_eq!(counts(&bill(&sb)), (0, 0, 1));
    let status: Value = sb.json(&["status", "--json"]);
    assert_eq!(status["billing"]["overdue"], 0, "{status}");
}

/// SPEC §10 in release mode: billing finishes (invoice, payment link)
/// whatever the mail server does; then `bill` says what stopped the
/// notice — 78 when the server refuses the account (AUTH), 75 when it
/// cannot be reached — and the next pass sends it once the mail works.
#[test]
fn in_release_mode_bill_finishes_billing_then_exits_78_for_refused_auth_and_75_for_no_server() {
    let stub = StripeStub::start();
    let refusing = SmtpServer::start(SmtpMode::Auth("the-right-password"));
    let closed = crate::harness::closed_addr().port();
    for (port, code, problem) in [
        (refusing.port, 78, "config_error"),
        (closed, 75, "unreachable"),
    ] {
        let mut sb = paid_sandbox(&stub, port)
            .with("RELEASE_MODE", "TRUE")
            .with("STRIPE_API_KEY", "sk_live_hossbillingtests")
            .with("SMTP_USERNAME", "sam")
            .with("SMTP_PASSWORD", "a-wrong-password");
        customer(&sb, "pat@acme-dental.com", &[("Website audit", "1200.00")]);
        let out = sb.run(&["bill", "--json"]);
        assert_eq!(out.code, code, "{out:?}");
        assert!(!out.stderr.contains("panicked"), "{out:?}");
        let report: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(report["invoices_created"], 1, "{report}");
        assert_eq!(report["links_created"], 1, "{report}");
        assert_eq!(report["sender_problem"], problem, "{report}");
        assert_eq!(counts(&report), (0, 0, 0), "{report}");
        let invoice: Value = sb.json(&["invoice", "show", "1", "--json"]);
        assert_eq!(invoice["status"], "open", "{invoice}");
        assert!(invoice["payment_url"].is_string(), "{invoice}");
        // The mail works again: the notice goes, once.
        let good = SmtpServer::start(SmtpMode::Accept);
        sb.set("SMTP_PORT", &good.port.to_string());
        sb.unset("SMTP_USERNAME");
        sb.unset("SMTP_PASSWORD");
        sb.run(&["email", "resume"]);
        let report = bill(&sb);
        assert_eq!(counts(&report), (1, 0, 0), "{report}");
        assert_eq!(good.messages().len(), 1);
    }
    assert!(refusing.messages().is_empty());
}

#[test]
fn a_corrected_contact_email_gets_the_invoice() {
    let stub = StripeStub::start();
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let sb = paid_sandbox(&stub, smtp.port);
    customer(&sb, "pat@acme-dental.com", &[("Audit", "100.00")]);
    sb.db()
        .execute("UPDATE customer SET contact_email = 'nope'", args![])
        .unwrap();
    let out = sb.run(&["bill"]);
    let line = out.log_lines("[BILLING][NO_CONTACT]").join("");
    assert!(line.contains("hoss customer set-email 1 ADDRESS"), "{line}");
    // The steps the message names, as written.
    let bad = sb.run(&["customer", "set-email", "1", "pat@[192.0.2.1]"]);
    assert_eq!(bad.code, 65, "{bad:?}");
    assert!(bad.stderr.contains("IP-literal"), "{}", bad.stderr);
    assert_eq!(
        sb.run(&["customer", "set-email", "1", " Pat@Acme-Dental.com "])
            .code,
        0
    );
    let sent: Value = sb.json(&["invoice", "send", "1", "--json"]);
    assert_eq!(
        sent["sent"], "invoice sent to pat@acme-dental.com (Acme Dental)",
        "{sent}"
    );
    let status: Value = sb.json(&["status", "--json"]);
    assert!(
        !status["warnings"].to_string().contains("invoice 1:"),
        "{status}"
    );
}

#[test]
fn a_draft_whose_notice_never_went_is_not_overdue() {
    // Stripe off, the instructions set; the server refuses the customer.
    let smtp = SmtpServer::start(SmtpMode::RejectRcpt(550));
    let mut sb = Sandbox::new()
        .email_via_smtp(smtp.port)
        .with("HOSS_NOW", DAY0)
        .with("PAYMENT_INSTRUCTIONS", "Bank transfer to IBAN DE00 1234");
    customer(&sb, "pat@acme-dental.com", &[("Audit", "100.00")]);
    let report = bill(&sb);
    assert_eq!(report["invoice_mail_problems"], 1, "{report}");
    assert_eq!(mails(&sb, 1), [("invoice".into(), 1, "failed".into())]);
    // The customer was told nothing: nothing is due, nothing overdue.
    sb.set("HOSS_NOW", "2026-12-18T10:00:00Z");
    let status: Value = sb.json(&["status", "--json"]);
    assert_eq!(status["billing"]["overdue"], 0, "{status}");
    let shown: Value = sb.json(&["invoice", "show", "1", "--json"]);
    assert!(shown["due_at"].is_null(), "{shown}");
}

#[test]
fn set_email_refuses_another_customers_address_in_words() {
    let sb = Sandbox::new();
    customer(&sb, "pat@acme-dental.com", &[]);
    let c: Value = sb.json(&[
        "customer",
        "add",
        "--company",
        "Other Co",
        "--email",
        "lee@other-co.com",
        "--json",
    ]);
    assert_eq!(c["id"], 2);
    let taken = sb.run(&["customer", "set-email", "2", "PAT@acme-dental.com"]);
    assert_eq!(taken.code, 65, "{taken:?}");
    assert!(
        taken
            .stderr
            .contains("customer 1 already has pat@acme-dental.com"),
        "{}",
        taken.stderr
    );
    let shown: Value = sb.json(&["customer", "show", "2", "--json"]);
    assert_eq!(shown["contact_email"], "lee@other-co.com", "{shown}");
    // Its own address again is no change, not a conflict.
    assert_eq!(
        sb.run(&["customer", "set-email", "2", "lee@other-co.com"])
            .code,
        0
    );
}

#[test]
fn approval_is_refused_for_a_draft_below_the_minimum_it_cannot_help() {
    let stub = StripeStub::start();
    let smtp = SmtpServer::start(SmtpMode::Accept);
    let sb = paid_sandbox(&stub, smtp.port);
    customer(&sb, "pat@acme-dental.com", &[("Tiny fix", "0.50")]);
    let report = bill(&sb);
    assert_eq!(report["out_of_range"], 1, "{report}");
    let refused = sb.run(&["invoice", "approve", "1"]);
    assert_eq!(refused.code, 65, "{refused:?}");
    assert!(
        refused.stderr.contains("below STRIPE_MIN_AMOUNT"),
        "{}",
        refused.stderr
    );
    let shown: Value = sb.json(&["invoice", "show", "1", "--json"]);
    assert!(shown["approved_at"].is_null(), "{shown}");
}
