//! The customer portal (SPEC §7): exported pages checked against the
//! database, escaping, the PAY NOW rule, atomic export, `hoss serve` over
//! real HTTP, and a real browser reading the rendered DOM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Sandbox, Served, StripeStub, stripe_signature_now};

const SECRET: &str = "whsec_portal_tests_secret";

fn customer(sb: &Sandbox, company: &str, email: &str) -> Value {
    sb.json(&[
        "customer",
        "add",
        "--company",
        company,
        "--email",
        email,
        "--json",
    ])
}

/// A customer with: a paid invoice, an open invoice with a payment link,
/// and a pending task.
fn seeded(sb: &Sandbox, marker: &str, n: i64) -> Value {
    let c = customer(
        sb,
        &format!("{marker} Holdings"),
        &format!("{}@{}.com", marker.to_lowercase(), marker.to_lowercase()),
    );
    let id = c["id"].as_i64().unwrap().to_string();
    for (desc, amount) in [
        (format!("{marker} setup"), "100.00"),
        (format!("{marker} report"), "25.50"),
    ] {
        sb.done_task(&id, &desc, amount);
        sb.run(&["bill"]);
    }
    sb.run(&[
        "task",
        "add",
        "--customer",
        &id,
        "--description",
        &format!("{marker} follow-up"),
        "--amount",
        "5",
    ]);
    let invoices: Vec<Value> = sb.json(&["invoice", "list", "--customer", &id, "--json"]);
    sb.run(&[
        "invoice",
        "mark-paid",
        &invoices[0]["id"].as_i64().unwrap().to_string(),
    ]);
    sb.db()
        .execute(
            "UPDATE invoice SET status = 'open', stripe_payment_link_id = ?2, payment_url = ?3, link_active = 1 WHERE id = ?1",
            args![invoices[1]["id"].as_i64().unwrap(), format!("plink_{marker}{n}"), format!("https://buy.stripe.test/{marker}")],
        )
        .unwrap();
    sb.json(&["customer", "show", &id, "--json"])
}

fn stripe_on(sb: Sandbox) -> Sandbox {
    sb.with("ENABLE_STRIPE", "TRUE")
        .with("STRIPE_API_KEY", "sk_test_portaltests123")
        .with("STRIPE_API_BASE", "http://127.0.0.1:9")
}

fn export(sb: &Sandbox) -> PathBuf {
    let out = sb.run(&["portal-export", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    sb.path(report["dir"].as_str().unwrap())
}

fn page(dir: &Path, token: &str) -> String {
    std::fs::read_to_string(dir.join(token).join("index.html")).unwrap()
}

/// The text of the element carrying `attr`.
fn field(html: &str, attr: &str) -> String {
    let start = html
        .find(attr)
        .unwrap_or_else(|| panic!("{attr} not in page"))
        + attr.len();
    let rest = &html[start..];
    let open = rest.find('>').unwrap() + 1;
    rest[open..open + rest[open..].find('<').unwrap()].to_string()
}

#[test]
fn exported_pages_show_each_customers_own_figures_and_nothing_else() {
    let sb = Sandbox::new();
    let alpha = seeded(&sb, "Alpha", 1);
    let beta = seeded(&sb, "Beta", 2);
    let dir = export(&sb);
    let alpha_token = alpha["public_token"].as_str().unwrap();
    let beta_token = beta["public_token"].as_str().unwrap();
    assert_eq!(alpha_token.len(), 32);
    let html = page(&dir, alpha_token);
    assert_eq!(field(&html, "data-field=\"customer\""), "Alpha Holdings");
    assert_eq!(
        field(&html, "data-total=\"invoiced\""),
        format!(
            "{:.2} USD",
            alpha["invoiced_cents"].as_i64().unwrap() as f64 / 100.0
        )
    );
    assert_eq!(field(&html, "data-total=\"invoiced\""), "125.50 USD");
    assert_eq!(field(&html, "data-total=\"paid\""), "100.00 USD");
    assert_eq!(field(&html, "data-total=\"outstanding\""), "25.50 USD");
    assert!(html.contains("Alpha follow-up") && html.contains("Alpha setup"));
    for foreign in ["Beta", beta_token, "beta@beta.com"] {
        assert!(!html.contains(foreign), "alpha's page shows {foreign}");
    }
    assert!(
        !html.contains("alpha@alpha.com"),
        "no contact details on the page"
    );
    assert!(!html.contains("plink_"), "no Stripe ids");
    assert!(
        !html.contains("<form") && !html.contains("<script"),
        "read-only, no scripts"
    );
    // Generic pages list nothing.
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let not_found = std::fs::read_to_string(dir.join("404.html")).unwrap();
    assert_eq!(index, not_found);
    assert!(
        index.contains("Not found") && !index.contains(alpha_token) && !index.contains("Alpha")
    );
    let entries: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 4, "{entries:?}");
    // The portal is a link to one version directory beside it; exporting
    // again replaces the link in one rename and removes the old version.
    let first = std::fs::read_link(&dir).unwrap();
    export(&sb);
    let second = std::fs::read_link(&dir).unwrap();
    assert_ne!(first, second);
    assert!(!sb.path(first.to_str().unwrap()).exists());
}

#[test]
fn pay_now_appears_only_with_stripe_on_and_an_open_linked_invoice() {
    for stripe in [false, true] {
        let sb = if stripe {
            stripe_on(Sandbox::new())
        } else {
            Sandbox::new()
        };
        let with_link = seeded(&sb, "Linked", 1);
        let plain = customer(&sb, "Plain Co", "p@plain.com");
        let id = plain["id"].as_i64().unwrap().to_string();
        sb.done_task(&id, "x", "10");
        assert_eq!(sb.run(&["invoice", "list"]).code, 0);
        sb.db().execute("INSERT INTO invoice (customer_id, amount_cents, currency, status, created_at) VALUES (?1, 1000, 'usd', 'open', 0)", args![plain["id"].as_i64().unwrap()]).unwrap();
        let dir = export(&sb);
        let linked = page(&dir, with_link["public_token"].as_str().unwrap());
        let unlinked = page(
            &dir,
            sb.json::<Value>(&["customer", "show", &id, "--json"])["public_token"]
                .as_str()
                .unwrap(),
        );
        assert_eq!(linked.contains("PAY NOW"), stripe, "stripe={stripe}");
        assert_eq!(
            linked.contains("href=\"https://buy.stripe.test/Linked\""),
            stripe
        );
        assert!(
            !unlinked.contains("PAY NOW"),
            "no payment URL, no button (stripe={stripe})"
        );
        assert!(
            linked.contains("view only"),
            "the paid invoice is view-only"
        );
    }
}

/// The row of the page's invoice `#n` (its invoice number).
fn invoice_row(html: &str, n: i64) -> &str {
    let start = html
        .find(&format!("<tr data-invoice=\"{n}\">"))
        .unwrap_or_else(|| panic!("no invoice #{n} in:\n{html}"));
    &html[start..start + html[start..].find("</tr>").unwrap()]
}

/// Acme's invoice opens with a link at 2026-11-30T10:00Z (due 14 days
/// later); Bolt's is above STRIPE_MAX_AMOUNT and stays a draft without one.
fn due_and_linkless(stub: &StripeStub, instructions: Option<&str>) -> (Sandbox, String, String) {
    let mut sb = Sandbox::new()
        .with("ENABLE_STRIPE", "TRUE")
        .with("STRIPE_API_KEY", "sk_test_portaltests123")
        .with("STRIPE_API_BASE", &stub.server.url)
        .with("HOSS_NOW", "2026-11-30T10:00:00Z");
    if let Some(text) = instructions {
        sb.set("PAYMENT_INSTRUCTIONS", text);
    }
    let mut tokens = Vec::new();
    for (company, amount) in [("Acme", "150.00"), ("Bolt", "600.00")] {
        let c = customer(&sb, company, &format!("pay@{}.com", company.to_lowercase()));
        sb.done_task(&c["id"].as_i64().unwrap().to_string(), "work", amount);
        tokens.push(c["public_token"].as_str().unwrap().to_string());
    }
    let bill: Value = sb.json(&["bill", "--json"]);
    assert_eq!(
        (
            bill["links_created"].as_i64(),
            bill["out_of_range"].as_i64()
        ),
        (Some(1), Some(1)),
        "{bill}"
    );
    let bolt = tokens.pop().unwrap();
    (sb, tokens.pop().unwrap(), bolt)
}

#[test]
fn an_open_invoice_shows_its_due_date_then_overdue_on_the_exported_and_served_page() {
    let stub = StripeStub::start();
    let (mut sb, acme, _) = due_and_linkless(&stub, None);
    sb.set("HOSS_NOW", "2026-12-14T10:00:00Z");
    let row = invoice_row(&page(&export(&sb), &acme), 1).to_string();
    assert!(
        row.contains(">due 2026-12-14<") && row.contains("class=\"status due\""),
        "{row}"
    );
    assert!(
        row.contains("PAY NOW") && !row.contains("overdue"),
        "due at the very second: {row}"
    );
    sb.set("HOSS_NOW", "2026-12-14T10:00:01Z");
    let dir = export(&sb);
    let row = invoice_row(&page(&dir, &acme), 1).to_string();
    assert!(
        row.contains(">overdue since 2026-12-14<") && row.contains("class=\"status overdue\""),
        "{row}"
    );
    assert!(row.contains("PAY NOW"), "still payable: {row}");
    let served = Served::start(&sb);
    let (status, html, _) = served.get(&format!("/portal/{acme}/"));
    assert_eq!(status, 200);
    assert_eq!(
        invoice_row(&html, 1),
        row,
        "serve renders the exported page"
    );
    // Paid, it is neither due nor overdue.
    assert_eq!(sb.run(&["invoice", "mark-paid", "1"]).code, 0);
    let row = invoice_row(&page(&export(&sb), &acme), 1).to_string();
    assert!(!row.contains("due") && row.contains("status paid"), "{row}");
}

#[test]
fn a_draft_without_a_link_shows_the_payment_instructions_escaped() {
    let stub = StripeStub::start();
    let (sb, acme, bolt) = due_and_linkless(
        &stub,
        Some("Wire to <b>Bank</b> & Co\\nIBAN DE00 1234 \"ref\""),
    );
    let dir = export(&sb);
    // Bolt's invoice is invoice 2: the page shows the number its email names.
    let row = invoice_row(&page(&dir, &bolt), 2).to_string();
    assert!(
        row.contains("status due") && !row.contains("PAY NOW"),
        "{row}"
    );
    assert!(!row.contains("<b>") && !row.contains("view only"), "{row}");
    let escaped = [
        "&#60;b&#62;Bank&#60;/b&#62; &#38; Co",
        "&lt;b&gt;Bank&lt;/b&gt; &amp; Co",
    ];
    assert!(
        escaped
            .iter()
            .any(|e| row.contains(&format!("Wire to {e}<br>IBAN DE00 1234 "))),
        "escaped, one line break: {row}"
    );
    let acme_row = invoice_row(&page(&dir, &acme), 1).to_string();
    assert!(
        !acme_row.contains("IBAN") && acme_row.contains("PAY NOW"),
        "an open invoice with a link shows PAY NOW, not the instructions: {acme_row}"
    );

    // Without PAYMENT_INSTRUCTIONS, today's wording.
    let (sb, _, bolt) = due_and_linkless(&stub, None);
    let row = invoice_row(&page(&export(&sb), &bolt), 2).to_string();
    assert!(row.contains("view only") && !row.contains("IBAN"), "{row}");
}

#[test]
fn hostile_text_is_escaped_and_unsafe_links_are_never_links() {
    let sb = stripe_on(Sandbox::new());
    let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>";
    let c = customer(&sb, evil, "evil@evil.com");
    let id = c["id"].as_i64().unwrap();
    for (i, url) in [
        "javascript:alert(1)",
        "http://insecure.test/pay",
        "https://ok.test/pay\" onmouseover=\"alert(1)",
    ]
    .iter()
    .enumerate()
    {
        sb.db()
            .execute(
                "INSERT INTO invoice (customer_id, amount_cents, currency, status, payment_url, stripe_payment_link_id, created_at)
                 VALUES (?1, 100, 'usd', 'open', ?2, ?3, 0)",
                args![id, url, format!("plink_e{i}")],
            )
            .unwrap();
    }
    sb.db().execute("INSERT INTO task (customer_id, description, amount_cents, created_at) VALUES (?1, ?2, 0, 0)", args![id, evil]).unwrap();
    let dir = export(&sb);
    let html = page(&dir, c["public_token"].as_str().unwrap());
    for bad in [
        "<script",
        "<img",
        "javascript:",
        "http://insecure.test",
        "onmouseover=\"",
        "PAY NOW",
    ] {
        assert!(!html.contains(bad), "{bad} in:\n{html}");
    }
}

#[test]
fn re_export_drops_pages_of_rotated_or_deleted_customers() {
    let sb = Sandbox::new();
    let a = customer(&sb, "Keep", "k@keep.com");
    let b = customer(&sb, "Gone", "g@gone.com");
    let dir = export(&sb);
    let old_a = a["public_token"].as_str().unwrap().to_string();
    let old_b = b["public_token"].as_str().unwrap().to_string();
    assert!(dir.join(&old_a).is_dir() && dir.join(&old_b).is_dir());
    let rotated: Value = sb.json(&["customer", "rotate-token", "1", "--json"]);
    let new_a = rotated["public_token"].as_str().unwrap().to_string();
    assert_ne!(new_a, old_a);
    sb.db()
        .execute("DELETE FROM customer WHERE id = 2", args![])
        .unwrap();
    let dir = export(&sb);
    assert!(dir.join(&new_a).is_dir());
    assert!(!dir.join(&old_a).exists() && !dir.join(&old_b).exists());
}

#[test]
fn an_interrupted_export_leaves_the_previous_portal_intact() {
    let sb = Sandbox::new();
    let first = customer(&sb, "First", "f@first.com");
    let dir = export(&sb);
    let token = first["public_token"].as_str().unwrap().to_string();
    let before = page(&dir, &token);
    sb.db()
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
             INSERT INTO customer (company, contact_email, public_token, created_at)
             SELECT 'Bulk ' || i, 'bulk' || i || '@bulk.com',
                    substr('00000000000000000000000000000000' || (i + 1000000), 8), 0 FROM n;",
        )
        .unwrap();
    let mut child = sb
        .command(&["portal-export"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let current = std::fs::read_link(sb.path("portal")).unwrap();
    let start = Instant::now();
    let leftover = loop {
        let found = std::fs::read_dir(sb.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| {
                let name = e.file_name();
                name.to_string_lossy().starts_with(".portal.v-") && name != current.as_os_str()
            });
        if let Some(e) = found {
            // Let it write some pages before the kill.
            std::thread::sleep(Duration::from_millis(150));
            break e.path();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the export never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        leftover.exists(),
        "the kill came after the swap; make the export bigger"
    );
    assert_eq!(page(&dir, &token), before, "the old portal is untouched");
    assert_eq!(
        std::fs::read_link(sb.path("portal")).unwrap(),
        current,
        "still the old version"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        3,
        "still only the old pages"
    );
    let report: Value = sb.json(&["portal-export", "--json"]);
    assert_eq!(report["pages"], 20001);
    assert!(
        !leftover.exists(),
        "leftovers of the killed run are cleaned"
    );
}

#[test]
fn export_refuses_to_replace_a_directory_it_did_not_make() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path("portal")).unwrap();
    std::fs::write(sb.path("portal/precious.txt"), "mine").unwrap();
    let out = sb.run(&["portal-export"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(sb.path("portal/precious.txt").exists());
    let custom: Value = sb.json(&["portal-export", "--out", "public", "--json"]);
    assert_eq!(custom["dir"], "public");
    assert!(sb.path("public/404.html").exists());
}

#[test]
fn export_prints_urls_when_a_base_is_set() {
    let sb = Sandbox::new().with("PORTAL_BASE_URL", "https://portal.hoss-operator.com/");
    let c = customer(&sb, "Acme", "a@acme.com");
    let out = sb.run(&["portal-export"]);
    assert!(
        out.stdout.contains(&format!(
            "https://portal.hoss-operator.com/{}/",
            c["public_token"].as_str().unwrap()
        )),
        "{}",
        out.stdout
    );
    assert_eq!(
        c["portal_url"].as_str().map(|u| u.ends_with('/')),
        Some(true)
    );
}

#[test]
fn customer_commands_manage_tokens() {
    let sb = Sandbox::new();
    let c = customer(&sb, "Acme", "A@Acme.com");
    assert_eq!(
        (
            c["id"].as_i64(),
            c["contact_email"].as_str(),
            c["status"].as_str()
        ),
        (Some(1), Some("a@acme.com"), Some("active"))
    );
    assert_eq!(
        sb.run(&[
            "customer",
            "add",
            "--company",
            "Dup",
            "--email",
            "a@acme.com"
        ])
        .code,
        65
    );
    assert_eq!(
        sb.run(&["customer", "add", "--company", "Bad", "--email", "nope"])
            .code,
        65
    );
    // An imported customer without a token gets one on first use.
    sb.db().execute("INSERT INTO customer (company, contact_email, created_at) VALUES ('Legacy', 'l@legacy.com', 0)", args![]).unwrap();
    let list: Vec<Value> = sb.json(&["customer", "list", "--json"]);
    assert_eq!(list.len(), 2);
    for c in &list {
        for key in [
            "id",
            "company",
            "contact_email",
            "status",
            "public_token",
            "created_at",
        ] {
            assert!(c.get(key).is_some(), "{key}");
        }
        assert_eq!(c["public_token"].as_str().unwrap().len(), 32);
    }
    let again: Vec<Value> = sb.json(&["customer", "list", "--json"]);
    assert_eq!(
        list[1]["public_token"], again[1]["public_token"],
        "tokens are stable"
    );
    assert_eq!(sb.run(&["customer", "rotate-token", "9"]).code, 65);
}

#[test]
fn serve_answers_portal_pages_and_a_generic_404_with_security_headers() {
    let sb = Sandbox::new();
    let alpha = seeded(&sb, "Alpha", 1);
    let served = Served::start(&sb);
    let token = alpha["public_token"].as_str().unwrap();
    let (status, html, headers) = served.get(&format!("/portal/{token}/"));
    assert_eq!(status, 200);
    assert_eq!(field(&html, "data-total=\"outstanding\""), "25.50 USD");
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(headers.get("referrer-policy").unwrap(), "no-referrer");
    assert!(
        headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    for path in [
        "/portal/ffffffffffffffffffffffffffffffff/",
        "/portal/..%2F..%2Fetc%2Fpasswd",
        "/portal/",
        "/portal/1",
        "/admin",
        "/",
    ] {
        let (status, body, _) = served.get(path);
        assert_eq!(status, 404, "{path}");
        assert!(
            body.contains("Not found") && !body.contains("Alpha"),
            "{path}"
        );
    }
    let (status, body, _) = served.get("/healthz");
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, _, _) = served.get("/stripe/webhook");
    assert_eq!(status, 405);
}

#[test]
fn serve_applies_webhooks_like_the_cli_and_refuses_oversize_bodies() {
    let sb = Sandbox::new().with("STRIPE_WEBHOOK_SECRET", SECRET);
    seeded(&sb, "Alpha", 1);
    let served = Served::start(&sb);
    let event = json!({"id": "evt_http", "object": "event", "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_1", "payment_link": "plink_Alpha1", "payment_status": "paid", "amount_total": 2550, "currency": "usd"}}})
    .to_string();
    let (status, body) = served.post(
        "/stripe/webhook",
        &[("Stripe-Signature", &stripe_signature_now(SECRET, &event))],
        event.as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    // Over HTTP the caller learns the outcome only; the details stay in the log.
    assert_eq!(body, r#"{"outcome":"applied"}"#);
    let (status, body) = served.post(
        "/stripe/webhook",
        &[("Stripe-Signature", &stripe_signature_now(SECRET, &event))],
        event.as_bytes(),
    );
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["outcome"].as_str()
        ),
        (200, Some("duplicate"))
    );
    let (status, _) = served.post(
        "/stripe/webhook",
        &[("Stripe-Signature", "t=1,v1=00")],
        event.as_bytes(),
    );
    assert_eq!(status, 400);
    let big = vec![b'x'; 2 * 1024 * 1024];
    let (status, _) = served.post(
        "/stripe/webhook",
        &[("Stripe-Signature", &stripe_signature_now(SECRET, "x"))],
        &big,
    );
    assert_eq!(status, 413);
    let invoices: Vec<Value> = sb.json(&["invoice", "list", "--json"]);
    assert_eq!(invoices[1]["status"], "paid");
}

#[test]
fn a_slow_client_holds_one_worker_briefly_and_others_are_served() {
    let sb = Sandbox::new();
    let served = Served::start(&sb);
    let addr = served.addr();
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"POST /stripe/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nStripe-Signature: t=1,v1=00\r\n\r\nabc").unwrap();
    let started = Instant::now();
    for _ in 0..20 {
        let (status, _, _) = served.get("/healthz");
        assert_eq!(status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "healthz waited on the slow client"
    );
    // The server gives up on the stalled body instead of waiting forever.
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the slow connection was held {:?}",
        started.elapsed()
    );
}

#[test]
fn one_click_unsubscribe_suppresses_the_address() {
    let server = crate::harness::FakeServer::sendgrid();
    let sb = Sandbox::new()
        .email_via_sendgrid(&server.url)
        .with("SENDGRID_API_KEY", "SG.k")
        .with("PUBLIC_BASE_URL", "https://hoss-operator.com")
        .with("EMAIL_SEND_DELAY_MAX", "0")
        .with("EMAIL_SEND_DELAY_MIN", "0");
    sb.run(&[
        "lead",
        "add",
        "--email",
        "jo@client.com",
        "--company",
        "Client",
        "--name",
        "Jo",
    ]);
    sb.run(&["send-outreach"]);
    let body = server.requests()[0].json();
    let header = body["headers"]["List-Unsubscribe"].as_str().unwrap();
    let path = header
        .split("https://hoss-operator.com")
        .nth(1)
        .unwrap()
        .trim_end_matches('>')
        .to_string();
    let served = Served::start(&sb);
    let (status, page, _) = served.get(&path);
    assert_eq!(status, 200);
    assert!(page.contains("<form method=\"post\"") && page.contains("jo@client.com"));
    assert!(
        page.contains("Carter Consulting LLC") && !page.contains("HossAgent"),
        "the operator's company, never the product's: {page}"
    );
    let lead: Value = sb.json(&["lead", "show", "1", "--json"]);
    assert_eq!(lead["status"], "contacted", "GET changes nothing");
    let (status, page) = served.post(
        &path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"List-Unsubscribe=One-Click",
    );
    assert_eq!(status, 200);
    assert!(page.contains("You are unsubscribed"));
    let lead: Value = sb.json(&["lead", "show", "1", "--json"]);
    assert_eq!(lead["status"], "unsubscribed");
    let list: Vec<Value> = sb.json(&["suppress", "list", "--json"]);
    assert_eq!(
        (list[0]["email"].as_str(), list[0]["reason"].as_str()),
        (Some("jo@client.com"), Some("unsubscribe"))
    );
    let (status, _) = served.post("/unsubscribe/ffffffffffffffffffffffffffffffff", &[], b"");
    assert_eq!(status, 404);
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let sb = Sandbox::new();
    let served = Served::start(&sb);
    assert_eq!(served.get("/healthz").0, 200);
    let (code, err) = served.terminate();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("[SERVE][STOPPED]"), "{err}");
}

/// Headless Chromium (installed by .ci/run) renders the exported page and
/// the served page; the test reads the DOM and keeps a screenshot in target/.
#[test]
fn a_real_browser_renders_the_pay_now_link_and_the_outstanding_balance() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    if !crate::harness::system_package("chromium", chromium.is_some()) {
        return;
    }
    let chromium = chromium.unwrap();
    let sb = stripe_on(Sandbox::new());
    let alpha = seeded(&sb, "Alpha", 1);
    let token = alpha["public_token"].as_str().unwrap().to_string();
    let dir = export(&sb);
    let served = Served::start(&sb);
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    for (name, url) in [
        (
            "exported",
            format!("file://{}", dir.join(&token).join("index.html").display()),
        ),
        ("served", format!("{}/portal/{token}/", served.base)),
    ] {
        let profile = sb.path(&format!("chromium-{name}"));
        let flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=900,1000",
        ];
        let run = |extra: &str| {
            std::process::Command::new(chromium)
                .args(flags)
                .arg(format!("--user-data-dir={}", profile.display()))
                .arg(extra)
                .arg(&url)
                .stderr(Stdio::null())
                .output()
                .unwrap()
        };
        // A loaded machine can make a headless start come back empty: try
        // again a couple of times before judging the page.
        let dom = (0..3)
            .map(|_| String::from_utf8(run("--dump-dom").stdout).unwrap())
            .find(|dom| dom.contains("</html>"))
            .unwrap_or_default();
        assert!(
            dom.contains("href=\"https://buy.stripe.test/Alpha\"") && dom.contains(">PAY NOW</a>"),
            "{name}: {dom}"
        );
        assert_eq!(
            field(&dom, "data-total=\"outstanding\""),
            "25.50 USD",
            "{name}"
        );
        let shot = target.join(format!("portal-{name}.png"));
        let _ = std::fs::remove_file(&shot);
        run(&format!("--screenshot={}", shot.display()));
        assert!(
            std::fs::metadata(&shot)
                .map(|m| m.len() > 10_000)
                .unwrap_or(false),
            "{name}: no screenshot"
        );
    }
}

#[test]
fn portal_pages_carry_the_operators_company_and_the_404_carries_nobodys() {
    let sb = Sandbox::new().with("COMPANY_NAME", "Carter <Consulting> & Co");
    let alpha = seeded(&sb, "Alpha", 1);
    let dir = export(&sb);
    let html = page(&dir, alpha["public_token"].as_str().unwrap());
    // Header characters are dropped from the name, the rest HTML-escaped.
    assert!(
        html.contains("Carter Consulting &#38; Co") || html.contains("Carter Consulting &amp; Co"),
        "escaped: {html}"
    );
    assert!(!html.contains("HossAgent"), "{html}");
    let not_found = std::fs::read_to_string(dir.join("404.html")).unwrap();
    assert!(
        !not_found.contains("Carter") && !not_found.contains("HossAgent"),
        "{not_found}"
    );
}
