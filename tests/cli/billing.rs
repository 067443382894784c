//! Customers, work and money (SPEC §6) against a Stripe stand-in that
//! honours idempotency keys; webhooks signed by an independent HMAC here.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{
    Output, Sandbox, Served, StripeStub, Trap, stripe_signature, stripe_signature_now, unix_now,
    wait_until,
};

const SECRET: &str = "whsec_test_webhook_secret";

fn stripe_sandbox(stub: &StripeStub) -> Sandbox {
    Sandbox::new()
        .with("ENABLE_STRIPE", "TRUE")
        .with("STRIPE_API_KEY", "sk_test_hossbillingtests")
        .with("STRIPE_API_BASE", &stub.server.url)
        .with("STRIPE_WEBHOOK_SECRET", SECRET)
}

/// A customer (via a replied lead and `onboard`) with one done task per amount.
fn customer_with_done_work(sb: &Sandbox, n: usize, amounts: &[&str]) -> i64 {
    let email = format!("buyer{n}@client{n}.com");
    assert_eq!(
        sb.run(&[
            "lead",
            "add",
            "--email",
            &email,
            "--company",
            &format!("Client {n}"),
            "--name",
            "Pat Buyer"
        ])
        .code,
        0
    );
    let lead: Value = sb.json(&["lead", "list", "--json", "--limit", "100000"]);
    let id = lead
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["email"] == email.as_str())
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        sb.run(&["lead", "set-status", &id.to_string(), "responded"])
            .code,
        0
    );
    assert_eq!(sb.run(&["onboard"]).code, 0);
    let customer = sb
        .db()
        .query_row(
            "SELECT id FROM customer WHERE contact_email = ?1",
            args![&email],
            |r| r.get::<i64>(0),
        )
        .unwrap();
    for amount in amounts {
        sb.done_task(&customer.to_string(), "Work", amount);
    }
    customer
}

fn invoices(sb: &Sandbox) -> Vec<Value> {
    sb.json(&["invoice", "list", "--json"])
}

fn webhook(sb: &Sandbox, header: &str, body: &str) -> (Output, Value) {
    let output = sb.run_with_stdin(&["webhook", "--signature", header], body.as_bytes());
    assert_eq!(
        output.stdout.lines().count(),
        1,
        "one JSON line: {output:?}"
    );
    let v: Value = serde_json::from_str(&output.stdout).unwrap();
    (output, v)
}

fn session_event(
    id: &str,
    kind: &str,
    link: &str,
    status: &str,
    amount: i64,
    currency: &str,
) -> String {
    json!({
        "id": id, "object": "event", "type": kind,
        "data": {"object": {"id": format!("cs_{id}"), "object": "checkout.session", "payment_link": link,
                            "payment_status": status, "amount_total": amount, "currency": currency}}
    })
    .to_string()
}

fn signed(sb: &Sandbox, body: &str) -> (Output, Value) {
    webhook(sb, &stripe_signature_now(SECRET, body), body)
}

#[test]
fn onboard_converts_replied_leads_once_with_the_configured_tasks() {
    let sb = Sandbox::new().config_file(
        "[[onboarding.tasks]]\ndescription = \"Kick-off call\"\namount = \"150.00\"\n\n[[onboarding.tasks]]\ndescription = \"Account setup\"\namount = 75\n",
    );
    for (email, status) in [
        ("a@one.com", "responded"),
        ("b@two.com", "qualified"),
        ("c@three.com", "contacted"),
        ("d@four.com", "new"),
    ] {
        sb.run(&["lead", "add", "--email", email, "--company", "Co"]);
        let id = sb
            .db()
            .query_row("SELECT id FROM lead WHERE email = ?1", args![email], |r| {
                r.get::<i64>(0)
            })
            .unwrap();
        sb.run(&["lead", "set-status", &id.to_string(), status]);
    }
    let report: Value = sb.json(&["onboard", "--json"]);
    assert_eq!(
        (
            report["converted"].as_i64(),
            report["customers_created"].as_i64(),
            report["tasks_created"].as_i64()
        ),
        (Some(2), Some(2), Some(4))
    );
    let again: Value = sb.json(&["onboard", "--json"]);
    assert_eq!(again["converted"], 0);
    let tasks: Vec<Value> = sb.json(&["task", "list", "--customer", "1", "--json"]);
    assert_eq!(tasks.len(), 2);
    assert_eq!(
        (
            tasks[0]["description"].as_str(),
            tasks[0]["amount_cents"].as_i64()
        ),
        (Some("Kick-off call"), Some(15000))
    );
    assert_eq!(tasks[1]["amount_cents"], 7500);
    let statuses: Vec<String> = ["a@one.com", "c@three.com"]
        .iter()
        .map(|e| {
            sb.db()
                .query_row("SELECT status FROM lead WHERE email = ?1", args![e], |r| {
                    r.get(0)
                })
                .unwrap()
        })
        .collect();
    assert_eq!(
        statuses,
        ["converted", "contacted"],
        "an emailed lead is never converted"
    );

    // A new lead with a customer's email is linked, gets no second set of tasks,
    // and does not block the leads after it.
    sb.run(&["lead", "set-status", "1", "invalid"]);
    sb.run(&[
        "lead",
        "add",
        "--email",
        "a@one.com",
        "--company",
        "Co again",
    ]);
    sb.run(&["lead", "add", "--email", "e@five.com", "--company", "Five"]);
    sb.run(&["lead", "set-status", "5", "responded"]);
    sb.run(&["lead", "set-status", "6", "qualified"]);
    let report: Value = sb.json(&["onboard", "--json"]);
    assert_eq!(
        (
            report["converted"].as_i64(),
            report["linked_existing"].as_i64(),
            report["customers_created"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    let customers: i64 = sb
        .db()
        .query_row("SELECT COUNT(*) FROM customer", args![], |r| r.get(0))
        .unwrap();
    assert_eq!(customers, 3);
}

#[test]
fn a_broken_onboarding_table_stops_onboard_only() {
    let sb = Sandbox::new()
        .config_file("[[onboarding.tasks]]\ndescription = \"Setup\"\namount = \"1e3\"\n");
    assert_eq!(sb.run(&["status"]).code, 0);
    let out = sb.run(&["onboard"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(
        out.stderr.contains("onboarding task 1 amount"),
        "{}",
        out.stderr
    );
}

#[test]
fn task_amounts_are_parsed_exactly_or_refused() {
    let sb = Sandbox::new();
    let customer = customer_with_done_work(&sb, 1, &[]);
    let c = customer.to_string();
    for bad in ["1e3", "1.234", "-1", "NaN", "１.00", "", "12,50"] {
        let out = sb.run(&[
            "task",
            "add",
            "--customer",
            &c,
            "--description",
            "x",
            "--amount",
            bad,
        ]);
        assert_eq!(out.code, 65, "{bad:?}: {out:?}");
    }
    let t: Value = sb.json(&[
        "task",
        "add",
        "--customer",
        &c,
        "--description",
        "Report",
        "--amount",
        "150.5",
        "--json",
    ]);
    assert_eq!(
        (t["amount_cents"].as_i64(), t["status"].as_str()),
        (Some(15050), Some("pending"))
    );
    assert_eq!(
        sb.run(&[
            "task",
            "add",
            "--customer",
            "99",
            "--description",
            "x",
            "--amount",
            "1"
        ])
        .code,
        65
    );
    let failed: Value = sb.json(&[
        "task",
        "fail",
        "1",
        "--reason",
        "client cancelled",
        "--json",
    ]);
    assert_eq!(
        (failed["status"].as_str(), failed["error"].as_str()),
        (Some("failed"), Some("client cancelled"))
    );
}

#[test]
fn bill_makes_one_invoice_per_customer_and_never_bills_work_twice() {
    let trap = Trap::start();
    let mut sb = Sandbox::new();
    trap.arm(&mut sb);
    customer_with_done_work(&sb, 1, &["100.00", "50.25"]);
    customer_with_done_work(&sb, 2, &["10.00"]);
    let report: Value = sb.json(&["bill", "--json"]);
    assert_eq!(
        (
            report["invoices_created"].as_i64(),
            report["links_created"].as_i64()
        ),
        (Some(2), Some(0))
    );
    let all = invoices(&sb);
    assert_eq!(all.len(), 2);
    assert_eq!(
        (
            all[0]["amount_cents"].as_i64(),
            all[0]["currency"].as_str(),
            all[0]["status"].as_str()
        ),
        (Some(15025), Some("usd"), Some("draft"))
    );
    assert!(all[0]["payment_url"].is_null() && all[0]["stripe_payment_link_id"].is_null());
    let again: Value = sb.json(&["bill", "--json"]);
    assert_eq!(again["invoices_created"], 0);
    let billed: Vec<Value> = sb.json(&["task", "list", "--json"]);
    assert!(
        billed.iter().all(|t| t["invoice_id"].is_i64()),
        "{billed:?}"
    );
    let show: Value = sb.json(&["invoice", "show", "1", "--json"]);
    assert_eq!(show["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(
        trap.connections(),
        0,
        "Stripe off: nothing reaches the network"
    );
}

#[test]
fn amounts_outside_the_limits_get_no_link_and_are_logged_once() {
    let stub = StripeStub::start();
    let sb = stripe_sandbox(&stub);
    for (n, amount) in ["0.99", "1.00", "500.00", "500.01"].iter().enumerate() {
        customer_with_done_work(&sb, n, &[amount]);
    }
    let out = sb.run(&["bill", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (
            report["links_created"].as_i64(),
            report["out_of_range"].as_i64()
        ),
        (Some(2), Some(2)),
        "{report}"
    );
    let lines = out.log_lines("[STRIPE][AMOUNT_OUT_OF_RANGE]");
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(
        lines[0].contains("invoice_id=1 amount=0.99")
            && lines[1].contains("invoice_id=4 amount=500.01"),
        "{lines:?}"
    );
    let statuses: Vec<String> = invoices(&sb)
        .iter()
        .map(|i| i["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["draft", "open", "open", "draft"]);
    let again = sb.run(&["bill"]);
    assert!(
        again.log_lines("[STRIPE][AMOUNT_OUT_OF_RANGE]").is_empty(),
        "logged once: {}",
        again.stderr
    );
    let st: Value = sb.json(&["status", "--json"]);
    assert_eq!(
        st["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w.as_str().unwrap().contains("outside the Stripe limits"))
            .count(),
        2
    );

    // The *_CENTS overrides move the bounds exactly.
    let wider = sb
        .with("STRIPE_MIN_AMOUNT_CENTS", "99")
        .with("STRIPE_MAX_AMOUNT_CENTS", "50001");
    let report: Value = wider.json(&["bill", "--json"]);
    assert_eq!(report["links_created"], 2, "{report}");
}

#[test]
fn payment_links_use_exact_fields_idempotency_keys_and_a_pinned_version() {
    let stub = StripeStub::start();
    let sb = stripe_sandbox(&stub);
    customer_with_done_work(&sb, 1, &["150.00"]);
    let report: Value = sb.json(&["bill", "--json"]);
    assert_eq!(report["links_created"], 1, "{report}");
    let prices = stub.requests_to("POST", "/v1/prices");
    assert_eq!(prices.len(), 1);
    let p = &prices[0];
    let install: String = sb
        .db()
        .query_row("SELECT install_id FROM install", args![], |r| r.get(0))
        .unwrap();
    assert_eq!(install.len(), 16);
    assert_eq!(
        p.header("Idempotency-Key"),
        Some(format!("hoss-{install}-invoice-1-price").as_str())
    );
    assert_eq!(p.header("Stripe-Version"), Some("2024-06-20"));
    assert_eq!(
        p.header("Authorization"),
        Some("Bearer sk_test_hossbillingtests")
    );
    let form = form_of(&p.body);
    assert_eq!(form["currency"], "usd");
    assert_eq!(form["unit_amount"], "15000");
    assert_eq!(form["metadata[invoice_id]"], "1");
    assert_eq!(form["product_data[name]"], "Invoice #1");
    let links = stub.requests_to("POST", "/v1/payment_links");
    assert_eq!(links.len(), 1);
    assert_eq!(
        links[0].header("Idempotency-Key"),
        Some(format!("hoss-{install}-invoice-1-link").as_str())
    );
    let form = form_of(&links[0].body);
    assert_eq!(form["line_items[0][price]"], "price_1");
    assert_eq!(form["line_items[0][quantity]"], "1");
    assert_eq!(form["metadata[invoice_id]"], "1");
    assert_eq!(form["restrictions[completed_sessions][limit]"], "1");
    let inv = &invoices(&sb)[0];
    assert_eq!(
        (
            inv["status"].as_str(),
            inv["payment_url"].as_str(),
            inv["stripe_payment_link_id"].as_str()
        ),
        (
            Some("open"),
            Some("https://buy.stripe.test/2"),
            Some("plink_2")
        )
    );
    assert_eq!(
        stub.requests_to("GET", "/v1/balance").len(),
        1,
        "the key is checked once, at first use"
    );
}

fn form_of(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => {
                out.push(u8::from_str_radix(std::str::from_utf8(hex).unwrap(), 16).unwrap());
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn a_pass_killed_after_stripe_made_the_link_reuses_the_same_link_when_rerun() {
    let stub = StripeStub::start();
    let sb = stripe_sandbox(&stub);
    customer_with_done_work(&sb, 1, &["42.00"]);
    stub.state.lock().unwrap().hang_links = true;
    let mut child = sb
        .command(&["bill"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        Duration::from_secs(10),
        "bill never asked for a link",
        || !stub.requests_to("POST", "/v1/payment_links").is_empty(),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let inv = &invoices(&sb)[0];
    assert_eq!(
        (inv["status"].as_str(), inv["payment_url"].as_str()),
        (Some("draft"), None)
    );

    stub.state.lock().unwrap().hang_links = false;
    let report: Value = sb.json(&["bill", "--json"]);
    assert_eq!(
        (
            report["invoices_created"].as_i64(),
            report["links_created"].as_i64()
        ),
        (Some(0), Some(1)),
        "{report}"
    );
    let links = stub.requests_to("POST", "/v1/payment_links");
    assert_eq!(links.len(), 2);
    let key = links[0].header("Idempotency-Key").unwrap().to_string();
    assert!(
        key.starts_with("hoss-") && key.ends_with("-invoice-1-link"),
        "{key}"
    );
    assert!(
        links
            .iter()
            .all(|l| l.header("Idempotency-Key") == Some(key.as_str()))
    );
    assert_eq!(
        stub.requests_to("POST", "/v1/prices").len(),
        1,
        "the stored price is reused"
    );
    let created = stub.state.lock().unwrap().created.clone();
    assert_eq!(
        created.len(),
        2,
        "one price and one link at Stripe: {created:?}"
    );
    let all = invoices(&sb);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["stripe_payment_link_id"], "plink_2");
}

#[test]
fn webhook_applies_a_verified_payment_once_and_bill_then_creates_nothing() {
    let stub = StripeStub::start();
    let sb = stripe_sandbox(&stub);
    customer_with_done_work(&sb, 1, &["150.00"]);
    sb.run(&["bill"]);
    let body = session_event(
        "evt_paid",
        "checkout.session.completed",
        "plink_2",
        "paid",
        15000,
        "usd",
    );
    let (out, v) = signed(&sb, &body);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        (
            v["outcome"].as_str(),
            v["event_id"].as_str(),
            v["invoice_id"].as_i64(),
            v["http_status"].as_i64()
        ),
        (Some("applied"), Some("evt_paid"), Some(1), Some(200))
    );
    assert_eq!(
        out.log_lines("[STRIPE][PAID] invoice_id=1 amount=150.00")
            .len(),
        1,
        "{}",
        out.stderr
    );
    let inv = &invoices(&sb)[0];
    assert_eq!(inv["status"], "paid");
    assert!(inv["paid_at"].as_str().unwrap().ends_with('Z'));

    let (out, v) = signed(&sb, &body);
    assert_eq!((out.code, v["outcome"].as_str()), (0, Some("duplicate")));

    let report: Value = sb.json(&["bill", "--json"]);
    assert_eq!(
        (
            report["invoices_created"].as_i64(),
            report["links_created"].as_i64(),
            report["links_deactivated"].as_i64()
        ),
        (Some(0), Some(0), Some(1))
    );
    let again: Value = sb.json(&["bill", "--json"]);
    assert_eq!(
        (
            again["links_deactivated"].as_i64(),
            again["paid_reconciled"].as_i64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(
        stub.requests_to("POST", "/v1/payment_links/plink_2").len(),
        1
    );
    assert_eq!(
        sb.run(&["invoice", "void", "1"]).code,
        65,
        "a paid invoice never goes back"
    );
    let st: Value = sb.json(&["status", "--json"]);
    assert!(st["stripe"]["last_webhook_at"].as_str().is_some());
    assert_eq!(st["billing"]["by_status"]["paid"], 1);
    assert_eq!(st["billing"]["outstanding_cents"], 0);
}

#[test]
fn webhook_signatures_are_checked_strictly() {
    let stub = StripeStub::start();
    let sb = stripe_sandbox(&stub);
    customer_with_done_work(&sb, 1, &["150.00"]);
    sb.run(&["bill"]);
    let body = session_event(
        "evt_sig",
        "checkout.session.completed",
        "plink_2",
        "paid",
        15000,
        "usd",
    );
    let t = unix_now();
    let good = stripe_signature(SECRET, t, &body);
    let good_v1 = good.split("v1=").nth(1).unwrap().to_string();
    let cases = [
        (
            "wrong secret",
            stripe_signature("whsec_not_the_secret", t, &body),
            body.clone(),
        ),
        ("tampered body", good.clone(), body.replace("15000", "1")),
        (
            "stale",
            stripe_signature(SECRET, t - 400, &body),
            body.clone(),
        ),
        (
            "future",
            stripe_signature(SECRET, t + 400, &body),
            body.clone(),
        ),
        ("malformed", "garbage".to_string(), body.clone()),
        ("no v1", format!("t={t}"), body.clone()),
        ("empty", String::new(), body.clone()),
    ];
    for (name, header, payload) in cases {
        let (out, v) = webhook(&sb, &header, &payload);
        assert_eq!(
            (out.code, v["outcome"].as_str(), v["http_status"].as_i64()),
            (65, Some("rejected"), Some(400)),
            "{name}: {out:?}"
        );
    }
    // A relay that leaves the header out altogether (no --signature) gets the
    // same one JSON line, not a usage error Stripe cannot tell from a crash.
    let out = sb.run_with_stdin(&["webhook"], body.as_bytes());
    assert_eq!(out.stdout.lines().count(), 1, "one JSON line: {out:?}");
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (out.code, v["outcome"].as_str(), v["http_status"].as_i64()),
        (65, Some("rejected"), Some(400)),
        "no --signature: {out:?}"
    );
    assert_eq!(invoices(&sb)[0]["status"], "open");
    let several = format!("t={t},v1={},v0=deadbeef,v1={good_v1}", "ab".repeat(32));
    let (out, v) = webhook(&sb, &several, &body);
    assert_eq!(
        (out.code, v["outcome"].as_str()),
        (0, Some("applied")),
        "{out:?}"
    );

    // Not a Stripe event, though correctly signed.
    let (out, v) = signed(&sb, "{\"hello\": \"world\"}");
    assert_eq!((out.code, v["outcome"].as_str()), (65, Some("rejected")));
    let st: Value = sb.json(&["status", "--json"]);
    assert!(
        st["stripe"]["last_webhook_error"]
            .as_str()
            .unwrap()
            .contains("rejected"),
        "{}",
        st["stripe"]
    );
}

/// `check` is the deploy gate: a currency `bill` refuses (and with it every
/// `cycle`, exit 78) fails `check` too, even with Stripe off.
#[test]
fn check_fails_on_a_currency_that_bill_refuses() {
    let sb = Sandbox::new().with("STRIPE_DEFAULT_CURRENCY", "us");
    customer_with_done_work(&sb, 1, &["150.00"]);
    let bill = sb.run(&["bill", "--json"]);
    assert_eq!(bill.code, 78, "{bill:?}");
    let out = sb.run(&["check", "--json"]);
    assert_eq!(out.code, 78, "check must agree with bill: {out:?}");
    let check: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        check["problems"]
            .to_string()
            .contains("STRIPE_DEFAULT_CURRENCY"),
        "{check}"
    );
}

#[test]
fn without_a_webhook_secret_nothing_is_applied() {
    let stub = StripeStub::start();
    let mut sb = stripe_sandbox(&stub);
    customer_with_done_work(&sb, 1, &["150.00"]);
    sb.run(&["bill"]);
    sb.unset("STRIPE_WEBHOOK_SECRET");
    let body = session_event(
        "evt_nosecret",
        "checkout.session.completed",
        "plink_2",
        "paid",
        15000,
        "usd",
    );
    let (out, v) = signed(&sb, &body);
    assert_eq!((out.code, v["outcome"].as_str()), (65, Some("rejected")));
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("STRIPE_WEBHOOK_SECRET")
    );
    assert_eq!(invoices(&sb)[0]["status"], "open");
}

#[test]
fn payments_that_do_not_fit_are_ignored_recorded_and_raised() {
    let stub = StripeStub::start();
    let sb = stripe_sandbox(&stub);
    customer_with_done_work(&sb, 1, &["150.00"]);
    sb.run(&["bill"]);
    for (id, link, amount, currency, reason) in [
        ("evt_unknown", "plink_999", 15000, "usd", "no invoice"),
        ("evt_amount", "plink_2", 14999, "usd", "amount mismatch"),
        ("evt_currency", "plink_2", 15000, "eur", "currency mismatch"),
    ] {
        let body = session_event(
            id,
            "checkout.session.completed",
            link,
            "paid",
            amount,
            currency,
        );
        let (out, v) = signed(&sb, &body);
        assert_eq!(
            (out.code, v["outcome"].as_str(), v["http_status"].as_i64()),
            (0, Some("ignored"), Some(200)),
            "{id}"
        );
        assert!(v["reason"].as_str().unwrap().contains(reason), "{id}: {v}");
    }
    let (out, v) = signed(&sb, &json!({"id": "evt_other", "object": "event", "type": "customer.created", "data": {"object": {}}}).to_string());
    assert_eq!((out.code, v["outcome"].as_str()), (0, Some("ignored")));
    assert_eq!(invoices(&sb)[0]["status"], "open");
    let st: Value = sb.json(&["status", "--json"]);
    let warnings: Vec<&str> = st["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    // The session of an unknown link that names no hoss invoice belongs to
    // some other Checkout integration on the account: recorded, not raised.
    assert_eq!(
        warnings
            .iter()
            .filter(|w| w.contains("payment needs attention"))
            .count(),
        2,
        "{warnings:?}"
    );

    // The operator deals with one and acknowledges it: it leaves the
    // warnings and the digest; the other stays.
    let open: Vec<Value> = sb.json(&["attention", "list", "--json"]);
    assert_eq!(open.len(), 2, "{open:?}");
    assert!(
        open.iter().any(|a| a["id"] == "evt_amount"
            && a["reason"].as_str().unwrap().contains("amount mismatch"))
    );
    let acked: Value = sb.json(&["attention", "ack", "evt_amount", "--json"]);
    assert_eq!(acked["acknowledged"], true);
    let left: Vec<Value> = sb.json(&["attention", "list", "--json"]);
    assert_eq!(
        left.iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["evt_currency"]
    );
    let st: Value = sb.json(&["status", "--json"]);
    assert!(
        !st["warnings"].to_string().contains("evt_amount"),
        "{}",
        st["warnings"]
    );
    let digest: Value = sb.json(&["summary", "--json"]);
    assert!(
        !digest["attention"].to_string().contains("evt_amount"),
        "{}",
        digest["attention"]
    );
    assert!(digest["attention"].to_string().contains("evt_currency"));
    assert_eq!(
        sb.run(&["attention", "ack", "evt_amount"]).code,
        65,
        "only once"
    );
    assert_eq!(sb.run(&["attention", "ack", "evt_nope"]).code, 65);
}

#[test]
fn async_payments_apply_on_success_in_any_order() {
    let stub = StripeStub::start();
    let sb = stripe_sandbox(&stub);
    customer_with_done_work(&sb, 1, &["150.00"]);
    customer_with_done_work(&sb, 2, &["20.00"]);
    sb.run(&["bill"]);
    // Invoice 1: completed but unpaid (bank transfer), then succeeded.
    let (_, v) = signed(
        &sb,
        &session_event(
            "evt_a1",
            "checkout.session.completed",
            "plink_2",
            "unpaid",
            15000,
            "usd",
        ),
    );
    assert_eq!(v["outcome"], "ignored");
    assert_eq!(invoices(&sb)[0]["status"], "open");
    let (_, v) = signed(
        &sb,
        &session_event(
            "evt_a2",
            "checkout.session.async_payment_succeeded",
            "plink_2",
            "paid",
            15000,
            "usd",
        ),
    );
    assert_eq!(v["outcome"], "applied");
    // Invoice 2: the success arrives before the completion event.
    let (_, v) = signed(
        &sb,
        &session_event(
            "evt_b2",
            "checkout.session.async_payment_succeeded",
            "plink_4",
            "paid",
            2000,
            "usd",
        ),
    );
    assert_eq!(v["outcome"], "applied");
    let (_, v) = signed(
        &sb,
        &session_event(
            "evt_b1",
            "checkout.session.completed",
            "plink_4",
            "unpaid",
            2000,
            "usd",
        ),
    );
    assert_eq!(v["outcome"], "ignored");
    let statuses: Vec<String> = invoices(&sb)
        .iter()
        .map(|i| i["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["paid", "paid"]);
}

#[test]
fn bill_reconciles_payments_without_any_webhook() {
    let stub = StripeStub::start();
    let sb = stripe_sandbox(&stub);
    customer_with_done_work(&sb, 1, &["150.00"]);
    sb.run(&["bill"]);
    stub.state.lock().unwrap().sessions.insert(
        "plink_2".into(),
        vec![json!({"id": "cs_1", "payment_link": "plink_2", "payment_status": "paid", "amount_total": 15000, "currency": "usd"})],
    );
    let report: Value = sb.json(&["bill", "--json"]);
    assert_eq!(report["paid_reconciled"], 1, "{report}");
    let shown: Value = sb.json(&["invoice", "show", "1", "--json"]);
    assert_eq!(
        (shown["status"].as_str(), shown["paid_via"].as_str()),
        (Some("paid"), Some("reconcile"))
    );
    let sessions = stub.requests_to("GET", "/v1/checkout/sessions");
    assert!(
        sessions[0].url.contains("payment_link=plink_2")
            && sessions[0].url.contains("status=complete")
    );
}

#[test]
fn stripe_off_or_misconfigured_means_drafts_without_links_and_a_clean_exit() {
    let stub = StripeStub::start();
    // Wrong key shape: falls back before any request.
    let sb = stripe_sandbox(&stub).with("STRIPE_API_KEY", "pk_test_notasecretkey");
    customer_with_done_work(&sb, 1, &["150.00"]);
    let out = sb.run(&["bill", "--json"]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.log_lines("[DRY_RUN_FALLBACK] subsystem=stripe").len(),
        1,
        "{}",
        out.stderr
    );
    assert!(stub.server.requests().is_empty());
    // Right shape, refused by Stripe: DISABLED_MISCONFIG, nothing created.
    stub.state.lock().unwrap().balance_status = Some(401);
    let sb = sb.with("STRIPE_API_KEY", "sk_live_revokedkey12345");
    let out = sb.run(&["bill", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.log_lines("[STRIPE][DISABLED_MISCONFIG]").len(),
        1,
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("revokedkey"));
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (report["links_created"].as_i64(), report["stripe"].as_str()),
        (Some(0), Some("MISCONFIG"))
    );
    assert!(stub.requests_to("POST", "/v1/prices").is_empty());
    assert_eq!(invoices(&sb)[0]["status"], "draft");
}

#[test]
fn invoices_can_be_voided_or_marked_paid_by_hand() {
    let sb = Sandbox::new();
    customer_with_done_work(&sb, 1, &["10.00"]);
    customer_with_done_work(&sb, 2, &["20.00"]);
    sb.run(&["bill"]);
    let paid: Value = sb.json(&["invoice", "mark-paid", "1", "--json"]);
    assert_eq!(
        (paid["status"].as_str(), paid["paid_via"].as_str()),
        (Some("paid"), Some("manual"))
    );
    assert_eq!(sb.run(&["invoice", "void", "1"]).code, 65);
    let void: Value = sb.json(&["invoice", "void", "2", "--json"]);
    assert_eq!(void["status"], "void");
    assert_eq!(sb.run(&["invoice", "mark-paid", "2"]).code, 65);
    assert_eq!(sb.run(&["invoice", "show", "9"]).code, 65);
    let st: Value = sb.json(&["status", "--json"]);
    assert_eq!(
        (
            st["billing"]["by_status"]["paid"].as_i64(),
            st["billing"]["by_status"]["void"].as_i64()
        ),
        (Some(1), Some(1))
    );
    let summary = sb.run(&["invoice", "list"]).stdout;
    assert!(
        summary.contains("10.00 USD") && summary.contains("void"),
        "{summary}"
    );
}

#[test]
fn ops_runs_pending_tasks_through_the_executor() {
    let sb = Sandbox::new();
    customer_with_done_work(&sb, 1, &[]);
    for d in ["first", "second", "third"] {
        sb.run(&[
            "task",
            "add",
            "--customer",
            "1",
            "--description",
            d,
            "--amount",
            "5",
        ]);
    }
    let none: Value = sb.json(&["ops", "--json"]);
    assert_eq!(
        (none["executor"].as_bool(), none["ran"].as_i64()),
        (Some(false), Some(0))
    );

    let script = sb.path("exec.sh");
    std::fs::write(
        &script,
        "input=$(cat)\ncase \"$input\" in\n  *second*) echo 'broken' >&2; exit 3;;\n  *third*) sleep 5;;\nesac\n\
         [ -z \"$STRIPE_API_KEY\" ] || { echo leaked; exit 9; }\necho '{\"summary\":\"did it\",\"cost_cents\":42}'\n",
    )
    .unwrap();
    let sb = sb
        .with("OPS_EXECUTOR_CMD", &format!("sh {}", script.display()))
        .with("OPS_EXECUTOR_TIMEOUT_SECS", "1")
        .with("STRIPE_API_KEY", "sk_test_mustnotleak1");
    let report: Value = sb.json(&["ops", "--json"]);
    assert_eq!(
        (
            report["ran"].as_i64(),
            report["done"].as_i64(),
            report["failed"].as_i64()
        ),
        (Some(3), Some(1), Some(2)),
        "{report}"
    );
    let tasks: Vec<Value> = sb.json(&["task", "list", "--json"]);
    assert_eq!(
        (
            tasks[0]["status"].as_str(),
            tasks[0]["result_summary"].as_str(),
            tasks[0]["cost_cents"].as_i64()
        ),
        (Some("done"), Some("did it"), Some(42))
    );
    assert!(tasks[1]["error"].as_str().unwrap().contains("broken"));
    assert!(tasks[2]["error"].as_str().unwrap().contains("timed out"));

    // A task left running by a killed run is recovered.
    sb.db()
        .execute(
            "UPDATE task SET status = 'running', started_at = 0 WHERE id = 3",
            args![],
        )
        .unwrap();
    let report: Value = sb.json(&["ops", "--json"]);
    assert_eq!(report["recovered"], 1, "{report}");
}

#[test]
fn a_session_of_a_foreign_payment_link_never_pays_an_invoice() {
    let stub = StripeStub::start();
    let sb = stripe_sandbox(&stub);
    customer_with_done_work(&sb, 1, &["150.00"]);
    sb.run(&["bill"]);
    let body = json!({"id": "evt_foreign", "object": "event", "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_f", "payment_link": "plink_other_app", "client_reference_id": "1",
                            "metadata": {"invoice_id": "1"}, "payment_status": "paid", "amount_total": 15000, "currency": "usd"}}})
    .to_string();
    let (out, v) = signed(&sb, &body);
    assert_eq!(
        (out.code, v["outcome"].as_str()),
        (0, Some("ignored")),
        "{v}"
    );
    assert_eq!(invoices(&sb)[0]["status"], "open");
}

#[test]
fn the_invoice_currency_is_read_in_any_case_and_an_unusable_one_stops_billing() {
    let sb = Sandbox::new().with("STRIPE_DEFAULT_CURRENCY", "EUR");
    customer_with_done_work(&sb, 1, &["10.00"]);
    let report: Value = sb.json(&["bill", "--json"]);
    assert_eq!(report["invoices_created"], 1);
    assert_eq!(invoices(&sb)[0]["currency"], "eur");
    let bad = Sandbox::new().with("STRIPE_DEFAULT_CURRENCY", "Euro");
    customer_with_done_work(&bad, 1, &["10.00"]);
    let out = bad.run(&["bill"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(
        out.stderr.contains("STRIPE_DEFAULT_CURRENCY"),
        "{}",
        out.stderr
    );
    assert!(invoices(&bad).is_empty(), "nothing half-made");
}

/// A paid `checkout.session.completed` event for session `session`.
fn paid_session(
    event: &str,
    session: &str,
    link: Option<&str>,
    amount: i64,
    meta: Option<i64>,
) -> String {
    let mut object = json!({"id": session, "object": "checkout.session", "payment_status": "paid",
                            "amount_total": amount, "currency": "usd"});
    if let Some(link) = link {
        object["payment_link"] = json!(link);
    }
    if let Some(id) = meta {
        object["metadata"] = json!({"invoice_id": id.to_string()});
    }
    json!({"id": event, "object": "event", "type": "checkout.session.completed", "data": {"object": object}})
        .to_string()
}

/// The lines of `doc[key]` (a list of strings) that contain `needle`.
fn lines_with(doc: &Value, key: &str, needle: &str) -> Vec<String> {
    doc[key]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| {
            w.as_str()
                .filter(|w| w.contains(needle))
                .map(str::to_string)
        })
        .collect()
}

fn warnings_with(sb: &Sandbox, needle: &str) -> Vec<String> {
    lines_with(&sb.json(&["status", "--json"]), "warnings", needle)
}

fn attention_with(sb: &Sandbox, needle: &str) -> Vec<String> {
    lines_with(&sb.json(&["summary", "--json"]), "attention", needle)
}

/// Signs and posts every body to `serve` at once, a thread each; the
/// answers in the bodies' order.
fn deliver_at_once(served: &Served, bodies: &[String]) -> Vec<(u16, String)> {
    std::thread::scope(|s| {
        let posts: Vec<_> = bodies
            .iter()
            .map(|body| {
                s.spawn(move || {
                    let signature = stripe_signature_now(SECRET, body);
                    served.post(
                        "/stripe/webhook",
                        &[("Stripe-Signature", signature.as_str())],
                        body.as_bytes(),
                    )
                })
            })
            .collect();
        posts.into_iter().map(|p| p.join().unwrap()).collect()
    })
}

#[test]
fn concurrent_deliveries_through_serve_pay_an_invoice_once() {
    // On PostgreSQL, webhooks for different events, sessions and links run
    // side by side; one event, session or link must still apply once.
    let stub = StripeStub::start();
    let sb = stripe_sandbox(&stub);
    customer_with_done_work(&sb, 1, &["150.00"]);
    sb.run(&["bill"]);
    let served = Served::start(&sb);
    let mut bodies = vec![paid_session("evt_same", "cs_same", Some("plink_2"), 15000, Some(1)); 8];
    for i in 0..8 {
        let (event, session) = (format!("evt_link_{i}"), format!("cs_link_{i}"));
        bodies.push(paid_session(
            &event,
            &session,
            Some("plink_2"),
            15000,
            Some(1),
        ));
        let (event, session) = (format!("evt_none_{i}"), format!("cs_none_{i}"));
        bodies.push(paid_session(
            &event,
            &session,
            Some("plink_none"),
            100,
            None,
        ));
    }
    let answers = deliver_at_once(&served, &bodies);
    let outcomes: Vec<String> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            serde_json::from_str::<Value>(body).unwrap()["outcome"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let count = |o: &str| outcomes.iter().filter(|x| *x == o).count();
    // One of the nine sessions on the link paid; the other eight are paid
    // twice (ignored, raised); seven of evt_same's deliveries are replays.
    assert_eq!(count("applied"), 1, "{outcomes:?}");
    let db = sb.db();
    let sessions: Vec<(String, String)> = db
        .query_all(
            "SELECT session_id, outcome FROM stripe_session WHERE payment_link = 'plink_2' ORDER BY session_id",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(sessions.len(), 9, "{sessions:?}");
    let paid_by: String = db
        .query_row(
            "SELECT paid_session_id FROM invoice WHERE id = 1",
            args![],
            |r| r.get(0),
        )
        .unwrap();
    for (session, outcome) in &sessions {
        let wanted = if *session == paid_by {
            "applied"
        } else {
            "paid_twice"
        };
        assert_eq!(outcome, wanted, "{sessions:?}");
    }
    // Everything else: the eight unknown links and the paid-twice ones.
    assert_eq!(
        (count("duplicate"), count("ignored")),
        (7, 16),
        "{outcomes:?}"
    );
    let events: i64 = db
        .query_row("SELECT COUNT(*) FROM stripe_event", args![], |r| r.get(0))
        .unwrap();
    assert_eq!(events, 17);
    let shown: Value = sb.json(&["invoice", "show", "1", "--json"]);
    assert_eq!(shown["status"], "paid", "{shown}");
}

#[test]
fn a_second_paid_session_on_a_paid_invoice_is_raised_as_paid_twice_and_replays_stay_duplicates() {
    let stub = StripeStub::start();
    let sb = stripe_sandbox(&stub);
    customer_with_done_work(&sb, 1, &["150.00"]);
    customer_with_done_work(&sb, 2, &["20.00"]);
    sb.run(&["bill"]);
    // Invoice 1 is paid by hand, then the customer pays the link too.
    assert_eq!(sb.run(&["invoice", "mark-paid", "1"]).code, 0);
    let body = paid_session("evt_twice", "cs_twice", Some("plink_2"), 15000, Some(1));
    let (out, v) = signed(&sb, &body);
    assert_eq!(
        (out.code, v["outcome"].as_str(), v["invoice_id"].as_i64()),
        (0, Some("ignored"), Some(1)),
        "{v}"
    );
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("paid twice: refund")
            && reason.contains("cs_twice")
            && reason.contains("150.00 USD"),
        "{reason}"
    );
    let recorded: (String, i64, String) = sb
        .db()
        .query_row(
            "SELECT outcome, amount_cents, currency FROM stripe_session WHERE session_id = 'cs_twice'",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(recorded, ("paid_twice".into(), 15000, "usd".into()));
    // The same event again, and the same session in another event: replays.
    let (_, v) = signed(&sb, &body);
    assert_eq!(v["outcome"], "duplicate");
    let (_, v) = signed(
        &sb,
        &paid_session(
            "evt_twice_again",
            "cs_twice",
            Some("plink_2"),
            15000,
            Some(1),
        ),
    );
    assert_eq!(v["outcome"], "duplicate", "{v}");
    let raised = warnings_with(&sb, "paid twice: refund");
    assert_eq!(raised.len(), 1, "raised once: {raised:?}");
    assert!(raised[0].contains("150.00 USD"), "{raised:?}");
    assert_eq!(attention_with(&sb, "paid twice: refund").len(), 1);

    // Invoice 2 paid by its session: the same session in a new event is a
    // replay, never a second payment.
    let (_, v) = signed(
        &sb,
        &paid_session("evt_b1", "cs_b", Some("plink_4"), 2000, Some(2)),
    );
    assert_eq!(v["outcome"], "applied", "{v}");
    let shown: Value = sb.json(&["invoice", "show", "2", "--json"]);
    assert_eq!(shown["paid_session_id"], "cs_b");
    let (_, v) = signed(
        &sb,
        &paid_session("evt_b2", "cs_b", Some("plink_4"), 2000, Some(2)),
    );
    assert_eq!(v["outcome"], "duplicate", "{v}");
    // A different session on invoice 2: paid twice.
    let (_, v) = signed(
        &sb,
        &paid_session("evt_b3", "cs_b_other", Some("plink_4"), 2000, Some(2)),
    );
    assert!(
        v["reason"].as_str().unwrap().contains("paid twice: refund"),
        "{v}"
    );
    assert_eq!(warnings_with(&sb, "paid twice: refund").len(), 2);
}

#[test]
fn reconciliation_raises_a_payment_made_after_the_invoice_was_paid_by_hand_or_voided() {
    let stub = StripeStub::start();
    let sb = stripe_sandbox(&stub);
    customer_with_done_work(&sb, 1, &["150.00"]);
    customer_with_done_work(&sb, 2, &["20.00"]);
    sb.run(&["bill"]);
    sb.run(&["invoice", "mark-paid", "1"]);
    sb.run(&["invoice", "void", "2"]);
    {
        let mut s = stub.state.lock().unwrap();
        s.sessions.insert(
            "plink_2".into(),
            vec![json!({"id": "cs_late", "payment_link": "plink_2", "payment_status": "paid", "amount_total": 15000, "currency": "usd"})],
        );
        s.sessions.insert(
            "plink_4".into(),
            vec![json!({"id": "cs_void", "payment_link": "plink_4", "payment_status": "paid", "amount_total": 2000, "currency": "usd"})],
        );
    }
    let report: Value = sb.json(&["bill", "--json"]);
    assert_eq!(report["links_deactivated"], 2, "{report}");
    let raised = warnings_with(&sb, "paid twice: refund");
    assert_eq!(raised.len(), 2, "{raised:?}");
    assert!(
        raised.iter().any(|w| w.contains("cs_late")
            && w.contains("150.00 USD")
            && w.contains("already paid"))
    );
    assert!(
        raised
            .iter()
            .any(|w| w.contains("cs_void") && w.contains("20.00 USD") && w.contains("void"))
    );
    assert_eq!(attention_with(&sb, "paid twice: refund").len(), 2);
    sb.run(&["bill"]);
    assert_eq!(
        warnings_with(&sb, "paid twice: refund").len(),
        2,
        "raised once"
    );
    let shown: Value = sb.json(&["invoice", "show", "1", "--json"]);
    assert_eq!(shown["paid_via"], "manual");
}

#[test]
fn a_session_without_a_hoss_payment_link_never_pays_even_a_draft_and_is_raised() {
    // Stripe off for billing: invoice 1 stays a draft without a link.
    let sb = Sandbox::new().with("STRIPE_WEBHOOK_SECRET", SECRET);
    customer_with_done_work(&sb, 1, &["150.00"]);
    sb.run(&["bill"]);
    assert_eq!(invoices(&sb)[0]["status"], "draft");
    // Another Checkout integration on the account, naming invoice 1.
    for (event, session, link) in [
        ("evt_nolink", "cs_nolink", None),
        ("evt_otherlink", "cs_otherlink", Some("plink_someone_else")),
    ] {
        let (out, v) = signed(&sb, &paid_session(event, session, link, 15000, Some(1)));
        assert_eq!(
            (out.code, v["outcome"].as_str(), v["invoice_id"].as_i64()),
            (0, Some("ignored"), Some(1)),
            "{v}"
        );
        assert!(
            v["reason"]
                .as_str()
                .unwrap()
                .contains("not through a hoss payment link"),
            "{v}"
        );
    }
    assert_eq!(
        invoices(&sb)[0]["status"],
        "draft",
        "never paid by metadata"
    );
    assert_eq!(
        warnings_with(&sb, "not through a hoss payment link").len(),
        2
    );
    assert_eq!(
        attention_with(&sb, "not through a hoss payment link").len(),
        2
    );
    // One that names nothing of hoss's is somebody else's business.
    let (_, v) = signed(
        &sb,
        &paid_session("evt_foreign", "cs_foreign", None, 999, None),
    );
    assert_eq!(v["outcome"], "ignored");
    assert_eq!(warnings_with(&sb, "payment needs attention").len(), 2);
}

#[test]
fn zero_and_three_decimal_currencies_are_charged_and_shown_in_their_own_units() {
    for (currency, amount, minor, shown) in [
        ("jpy", "1500", 1500, "1500 JPY"),
        ("kwd", "1.25", 1250, "1.250 KWD"),
    ] {
        let stub = StripeStub::start();
        let sb = stripe_sandbox(&stub).with("STRIPE_DEFAULT_CURRENCY", currency);
        let customer = customer_with_done_work(&sb, 1, &[amount]);
        let tasks: Vec<Value> = sb.json(&["task", "list", "--json"]);
        assert_eq!(tasks[0]["amount_cents"], minor, "{currency}");
        let report: Value = sb.json(&["bill", "--json"]);
        assert_eq!(report["links_created"], 1, "{currency}: {report}");
        let form = form_of(&stub.requests_to("POST", "/v1/prices")[0].body);
        assert_eq!(
            (form["currency"].as_str(), form["unit_amount"].as_str()),
            (currency, minor.to_string().as_str()),
            "{currency}"
        );
        assert_eq!(invoices(&sb)[0]["amount_cents"], minor);
        let list = sb.run(&["invoice", "list"]).stdout;
        assert!(list.contains(shown), "{currency}: {list}");
        let task_list = sb.run(&["task", "list"]).stdout;
        assert!(task_list.contains(&shown[..shown.len() - 4]), "{task_list}");
        let out = sb.run(&["portal-export", "--json"]);
        let dir: Value = serde_json::from_str(&out.stdout).unwrap();
        let show: Value = sb.json(&["customer", "show", &customer.to_string(), "--json"]);
        let page = std::fs::read_to_string(
            sb.path(dir["dir"].as_str().unwrap())
                .join(show["public_token"].as_str().unwrap())
                .join("index.html"),
        )
        .unwrap();
        assert!(page.contains(shown), "{currency}: {page}");
        // The payment of exactly that many minor units applies.
        let (_, v) = signed(
            &sb,
            &session_event(
                "evt_cur",
                "checkout.session.completed",
                "plink_2",
                "paid",
                minor,
                currency,
            ),
        );
        assert_eq!(v["outcome"], "applied", "{currency}: {v}");
    }
    // Amounts the currency cannot hold are refused with the reason.
    for (currency, amount, reason) in [
        ("jpy", "1500.50", "whole JPY"),
        ("kwd", "1.234", "multiples of 0.010"),
    ] {
        let sb = Sandbox::new().with("STRIPE_DEFAULT_CURRENCY", currency);
        customer_with_done_work(&sb, 1, &[]);
        let out = sb.run(&[
            "task",
            "add",
            "--customer",
            "1",
            "--description",
            "x",
            "--amount",
            amount,
        ]);
        assert_eq!(out.code, 65, "{out:?}");
        assert!(out.stderr.contains(reason), "{}", out.stderr);
    }
    // Limits are read in the configured currency too.
    let st: Value = Sandbox::new()
        .with("STRIPE_DEFAULT_CURRENCY", "jpy")
        .with("STRIPE_MIN_AMOUNT", "50")
        .with("STRIPE_MAX_AMOUNT", "100000")
        .json(&["status", "--json"]);
    assert_eq!(
        (
            st["stripe"]["min_amount_cents"].as_i64(),
            st["stripe"]["max_amount_cents"].as_i64()
        ),
        (Some(50), Some(100_000))
    );
}

#[test]
fn voiding_releases_the_tasks_to_the_next_bill_unless_written_off() {
    let sb = Sandbox::new();
    customer_with_done_work(&sb, 1, &["10.00", "5.00"]);
    customer_with_done_work(&sb, 2, &["20.00"]);
    sb.run(&["bill"]);
    let void: Value = sb.json(&["invoice", "void", "1", "--json"]);
    assert_eq!(
        (
            void["status"].as_str(),
            void["tasks_released"].as_i64(),
            void["written_off"].as_bool()
        ),
        (Some("void"), Some(2), Some(false)),
        "{void}"
    );
    assert!(
        sb.run(&["invoice", "void", "1"])
            .stdout
            .contains("tasks released: 0")
    );
    let report: Value = sb.json(&["bill", "--json"]);
    assert_eq!(
        report["invoices_created"], 1,
        "the released work is billed again"
    );
    let again = &invoices(&sb)[2];
    assert_eq!(
        (
            again["customer_id"].as_i64(),
            again["amount_cents"].as_i64()
        ),
        (Some(1), Some(1500))
    );
    let billed: Value = sb.json(&["invoice", "show", "3", "--json"]);
    assert_eq!(billed["tasks"].as_array().unwrap().len(), 2);

    let written: Value = sb.json(&["invoice", "void", "2", "--write-off", "--json"]);
    assert_eq!(
        (
            written["tasks_released"].as_i64(),
            written["written_off"].as_bool(),
            written["tasks"].as_array().unwrap().len()
        ),
        (Some(0), Some(true), 1)
    );
    let report: Value = sb.json(&["bill", "--json"]);
    assert_eq!(
        report["invoices_created"], 0,
        "written-off work is never billed again"
    );
    assert_eq!(sb.run(&["invoice", "void", "3", "--json"]).code, 0);
    assert_eq!(
        sb.run(&["invoice", "void", "3", "--write-off"]).code,
        65,
        "released tasks cannot be tied back"
    );
}

#[test]
fn webhook_prints_its_json_line_when_the_database_is_locked() {
    let stub = StripeStub::start();
    let sb = stripe_sandbox(&stub);
    customer_with_done_work(&sb, 1, &["150.00"]);
    sb.run(&["bill"]);
    let holder = sb.db();
    holder.begin_write("BEGIN EXCLUSIVE").unwrap();
    // hoss waits out its busy timeout (10 s) before giving up.
    let body = session_event(
        "evt_locked",
        "checkout.session.completed",
        "plink_2",
        "paid",
        15000,
        "usd",
    );
    let (out, v) = signed(&sb, &body);
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(out.code, 75, "{out:?}");
    assert_eq!(
        (v["outcome"].as_str(), v["http_status"].as_i64()),
        (Some("error"), Some(500)),
        "{v}"
    );
    assert!(
        v.as_object().unwrap().contains_key("event_id")
            && v.as_object().unwrap().contains_key("invoice_id")
    );
    assert!(!v["reason"].as_str().unwrap().is_empty());
    assert!(!out.stdout.contains("sk_test") && !out.stderr.contains("sk_test"));
    // Once the lock is gone Stripe's retry applies it.
    let (_, v) = signed(&sb, &body);
    assert_eq!(v["outcome"], "applied", "{v}");
}

#[test]
fn work_entered_in_one_currency_is_never_billed_in_another() {
    let stub = StripeStub::start();
    // $1,500.00 of work entered while billing in dollars…
    let sb = stripe_sandbox(&stub);
    customer_with_done_work(&sb, 1, &["1500.00"]);
    let tasks: Vec<Value> = sb.json(&["task", "list", "--json"]);
    assert_eq!(tasks[0]["amount_cents"], 150_000);
    // …then a crontab whose environment says yen: 150000 minor units would be
    // ¥150,000, a hundred times what was meant. Nothing is invoiced.
    let yen = stripe_sandbox(&stub).with("STRIPE_DEFAULT_CURRENCY", "jpy");
    let yen = yen.share_store_with(&sb);
    let out = yen.run(&["bill", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (
            report["invoices_created"].as_i64(),
            report["errors"].as_i64()
        ),
        (Some(0), Some(1)),
        "{report}"
    );
    assert_eq!(
        out.log_lines("[BILLING][CURRENCY_MISMATCH]").len(),
        1,
        "{}",
        out.stderr
    );
    assert!(
        stub.requests_to("POST", "/v1/prices").is_empty(),
        "no price was created"
    );
    let st: Value = yen.json(&["status", "--json"]);
    assert!(
        st["warnings"]
            .to_string()
            .contains("another currency than jpy"),
        "{}",
        st["warnings"]
    );
    // Back in dollars the same work bills as it was meant.
    let report: Value = sb.json(&["bill", "--json"]);
    assert_eq!(report["invoices_created"], 1, "{report}");
    assert_eq!(invoices(&sb)[0]["amount_cents"], 150_000);
}

/// A webhook secret of the wrong shape is set but unusable: the rejection,
/// `status` and `check` say what is wrong with it, never that it is missing.
#[test]
fn an_unusable_webhook_secret_is_named_not_reported_missing() {
    let sb = Sandbox::new().with("STRIPE_WEBHOOK_SECRET", "whsec_x");
    let (out, line) = webhook(&sb, "t=1,v1=00", "{}");
    assert_eq!(out.code, 65, "{out:?}");
    let reason = line["reason"].as_str().unwrap();
    assert!(
        reason.contains("STRIPE_WEBHOOK_SECRET is too short")
            && !reason.contains("no STRIPE_WEBHOOK_SECRET"),
        "{reason}"
    );
    let st: Value = sb.json(&["status", "--json"]);
    assert!(
        st["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("STRIPE_WEBHOOK_SECRET is too short")),
        "{st}"
    );
    let out = sb.run(&["check", "--json"]);
    assert_eq!(out.code, 78, "{out:?}");
    let check: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        check["problems"].as_array().unwrap().iter().any(|p| p
            .as_str()
            .unwrap()
            .contains("STRIPE_WEBHOOK_SECRET is too short")),
        "{check}"
    );
}

#[test]
fn concurrent_payments_of_different_invoices_all_apply_and_are_counted() {
    // Keyed webhooks on PostgreSQL: many invoices, each paid through its own
    // link at once (the hot counter rows of invoice_status_total and the
    // invoice tallies shared), plus metadata-only claims naming them.
    let stub = StripeStub::start();
    let sb = stripe_sandbox(&stub);
    let n = 8;
    for i in 1..=n {
        customer_with_done_work(&sb, i, &["150.00"]);
    }
    sb.run(&["bill"]);
    let db = sb.db();
    let links: Vec<(i64, String)> = db
        .query_all(
            "SELECT id, stripe_payment_link_id FROM invoice WHERE stripe_payment_link_id IS NOT NULL ORDER BY id",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(links.len(), n, "{links:?}");
    let served = Served::start(&sb);
    let mut bodies = Vec::new();
    for round in 0..3 {
        for (id, link) in &links {
            bodies.push(paid_session(
                &format!("evt_{id}_{round}"),
                &format!("cs_{id}_{round}"),
                Some(link),
                15000,
                Some(*id),
            ));
            bodies.push(paid_session(
                &format!("evt_meta_{id}_{round}"),
                &format!("cs_meta_{id}_{round}"),
                None,
                15000,
                Some(*id),
            ));
        }
    }
    let answers = deliver_at_once(&served, &bodies);
    let mut applied = 0;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        let v: Value = serde_json::from_str(body).unwrap();
        if v["outcome"] == "applied" {
            applied += 1;
        }
    }
    assert_eq!(applied, n, "{answers:?}");
    let paid: i64 = db
        .query_row(
            "SELECT n FROM invoice_status_total WHERE status = 'paid'",
            args![],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(paid, n as i64);
    let summary: Value = sb.json(&["summary", "--json"]);
    assert_eq!(summary["payments"]["received"], json!(n), "{summary}");
    let events: i64 = db
        .query_row("SELECT COUNT(*) FROM stripe_event", args![], |r| r.get(0))
        .unwrap();
    assert_eq!(events, bodies.len() as i64);
}
