//! `hoss import-legacy`: old-format HossAgent files built here (a full one
//! and an early one missing later columns) with bad rows of every kind.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::harness::Sandbox;

const FULL_SCHEMA: &str = "
CREATE TABLE lead (id INTEGER PRIMARY KEY, name TEXT, email TEXT, company TEXT, niche TEXT, status TEXT,
                   website TEXT, source TEXT, last_contacted_at TEXT, created_at TEXT);
CREATE TABLE customer (id INTEGER PRIMARY KEY, company TEXT, contact_email TEXT, plan TEXT, billing_plan TEXT,
                       status TEXT, stripe_customer_id TEXT, public_token TEXT, notes TEXT, created_at TEXT);
CREATE TABLE task (id INTEGER PRIMARY KEY, customer_id INTEGER, description TEXT, status TEXT, reward_cents INTEGER,
                   cost_cents INTEGER, profit_cents INTEGER, result_summary TEXT, created_at TEXT, completed_at TEXT);
CREATE TABLE invoice (id INTEGER PRIMARY KEY, customer_id INTEGER, amount_cents INTEGER, status TEXT,
                      payment_url TEXT, stripe_payment_id TEXT, created_at TEXT, paid_at TEXT, notes TEXT);";

/// The same tables before website, source, public_token, payment_url and
/// stripe_payment_id were added.
const EARLY_SCHEMA: &str = "
CREATE TABLE lead (id INTEGER PRIMARY KEY, name TEXT, email TEXT, company TEXT, niche TEXT, status TEXT,
                   last_contacted_at TEXT, created_at TEXT);
CREATE TABLE customer (id INTEGER PRIMARY KEY, company TEXT, contact_email TEXT, plan TEXT, billing_plan TEXT,
                       status TEXT, stripe_customer_id TEXT, notes TEXT, created_at TEXT);
CREATE TABLE task (id INTEGER PRIMARY KEY, customer_id INTEGER, description TEXT, status TEXT, reward_cents INTEGER,
                   cost_cents INTEGER, profit_cents INTEGER, result_summary TEXT, created_at TEXT, completed_at TEXT);
CREATE TABLE invoice (id INTEGER PRIMARY KEY, customer_id INTEGER, amount_cents INTEGER, status TEXT,
                      created_at TEXT, paid_at TEXT, notes TEXT);";

const TOKEN_A: &str = "Yq3kD9xVb7Lm2Pn5Rt8Wz1";
const TOKEN_B: &str = "4f1c2e8a9b7d6c5e4f3a2b1c0d9e8f7a";

fn full_file(dir: &Path) -> PathBuf {
    let path = dir.join("hossagent.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(FULL_SCHEMA).unwrap();
    db.execute_batch(&format!(
        "INSERT INTO lead VALUES
           (1, 'Ann Lee', 'ann@acme.com', 'Acme', 'dental', 'contacted', 'https://acme.com', 'SearchApi', '2025-06-01 10:00:00', '2025-05-01 09:00:00.123456'),
           (2, 'Bo', 'BO@Beta.com', 'Beta', NULL, 'new', NULL, NULL, NULL, '2025-05-02 09:00:00'),
           (3, 'Bo again', ' bo@beta.com ', 'Beta Two', NULL, 'new', NULL, NULL, NULL, '2025-05-03 09:00:00'),
           (4, 'No Mail', NULL, 'Nomail Co', NULL, 'new', NULL, NULL, NULL, '2025-05-04 09:00:00'),
           (5, 'Zed', 'zed@zed.io', 'Zed', NULL, 'zombie', NULL, NULL, NULL, 'not a date'),
           (6, 'Cy', 'cy@gamma.com', 'Gamma', NULL, 'responded', NULL, 'dummy', NULL, '2025-05-05T09:00:00');
         INSERT INTO customer VALUES
           (10, 'Acme', 'ann@acme.com', 'pro', 'monthly', 'active', 'cus_1', '{TOKEN_A}', NULL, '2025-06-02 00:00:00'),
           (11, 'Beta', 'bo@beta.com', 'basic', 'monthly', 'active', NULL, '{TOKEN_B}', NULL, '2025-06-03 00:00:00'),
           (12, 'Tokenless', 'tl@tokenless.com', 'basic', NULL, 'active', NULL, NULL, NULL, '2025-06-04 00:00:00'),
           (13, 'No Email Co', NULL, 'basic', NULL, 'active', NULL, 'zzzzzzzzzzzzzzzzzzzzzzzzzz', NULL, NULL);
         INSERT INTO task VALUES
           (100, 10, 'Setup', 'done', 15000, 2000, 13000, 'ok', '2025-06-02 01:00:00', '2025-06-03 01:00:00'),
           (101, 10, 'Report', 'done', 8000, 0, 8000, 'ok', '2025-06-10 01:00:00', '2025-06-11 01:00:00'),
           (102, 11, 'Audit', 'done', 5000, NULL, NULL, NULL, '2025-06-05 01:00:00', '2025-06-06 01:00:00'),
           (103, 10, 'Refund hack', 'done', -500, NULL, NULL, NULL, '2025-06-05 01:00:00', NULL),
           (104, 12, 'Call', 'exploded', 100, NULL, NULL, NULL, '2025-06-05 01:00:00', NULL),
           (105, 99, 'Orphan', 'done', 100, NULL, NULL, NULL, '2025-06-05 01:00:00', NULL),
           (106, 12, 'Onboarding', 'running', 2500, NULL, NULL, NULL, '2025-06-05 01:00:00', NULL);
         INSERT INTO invoice VALUES
           (200, 10, 15000, 'paid', 'https://buy.stripe.com/old_paid', 'plink_OldPaid1', '2025-06-04 00:00:00', '2025-06-05 00:00:00', NULL),
           (201, 10, 8000, 'sent', 'https://buy.stripe.com/old_open', 'plink_OldOpen1', '2025-06-12 00:00:00', NULL, NULL),
           (202, 10, -100, 'draft', NULL, NULL, '2025-06-12 00:00:00', NULL, NULL),
           (203, 99, 100, 'sent', NULL, NULL, '2025-06-12 00:00:00', NULL, NULL),
           (204, 10, 100, 'refunded', NULL, NULL, '2025-06-12 00:00:00', NULL, NULL);"
    ))
    .unwrap();
    path
}

fn import(sb: &Sandbox, args: &[&str]) -> Value {
    let mut all = vec!["import-legacy"];
    all.extend_from_slice(args);
    all.push("--json");
    sb.json(&all)
}

fn counts(report: &Value, table: &str) -> (i64, i64, i64, i64) {
    let t = &report["tables"][table];
    (
        t["read"].as_i64().unwrap(),
        t["imported"].as_i64().unwrap(),
        t["deduped"].as_i64().unwrap(),
        t["skipped"].as_i64().unwrap(),
    )
}

fn reasons(report: &Value, table: &str) -> String {
    report["tables"][table]["reasons"].to_string()
}

#[test]
fn a_full_old_file_imports_with_every_bad_row_explained() {
    let sb = Sandbox::new();
    let file = full_file(sb.dir.path());
    let before = std::fs::read(&file).unwrap();
    let report = import(&sb, &[file.to_str().unwrap()]);
    assert_eq!(report["dry_run"], false);
    assert_eq!(
        counts(&report, "lead"),
        (6, 4, 1, 1),
        "{}",
        reasons(&report, "lead")
    );
    assert!(reasons(&report, "lead").contains("email is missing"));
    assert!(reasons(&report, "lead").contains("zombie"));
    assert_eq!(
        counts(&report, "customer"),
        (4, 3, 0, 1),
        "{}",
        reasons(&report, "customer")
    );
    assert!(reasons(&report, "customer").contains("no valid contact_email"));
    assert!(reasons(&report, "customer").contains("no portal token"));
    assert_eq!(
        counts(&report, "task"),
        (7, 4, 0, 3),
        "{}",
        reasons(&report, "task")
    );
    let t = reasons(&report, "task");
    assert!(
        t.contains("negative amount") && t.contains("exploded") && t.contains("was not imported"),
        "{t}"
    );
    assert!(
        !t.contains("Some("),
        "ids read as numbers, not Rust values: {t}"
    );
    assert_eq!(
        counts(&report, "invoice"),
        (5, 2, 0, 3),
        "{}",
        reasons(&report, "invoice")
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the old file is never written"
    );

    let leads: Vec<Value> = sb.json(&["lead", "list", "--json"]);
    let ann = leads.iter().find(|l| l["email"] == "ann@acme.com").unwrap();
    assert_eq!(
        (
            ann["status"].as_str(),
            ann["source"].as_str(),
            ann["domain"].as_str()
        ),
        (Some("contacted"), Some("SearchApi"), Some("acme.com"))
    );
    assert_eq!(ann["last_contacted_at"], "2025-06-01T10:00:00Z");
    assert_eq!(ann["created_at"], "2025-05-01T09:00:00Z");
    assert_eq!(
        leads.iter().find(|l| l["email"] == "zed@zed.io").unwrap()["status"],
        "dead"
    );
    let customers: Vec<Value> = sb.json(&["customer", "list", "--json"]);
    assert_eq!(customers[0]["public_token"], TOKEN_A);
    assert_eq!(customers[1]["public_token"], TOKEN_B);
    assert_eq!(customers[2]["public_token"].as_str().unwrap().len(), 32);
    let invoices: Vec<Value> = sb.json(&["invoice", "list", "--json"]);
    assert_eq!(
        (
            invoices[0]["status"].as_str(),
            invoices[0]["paid_via"].as_str()
        ),
        (Some("paid"), Some("legacy"))
    );
    assert_eq!(invoices[1]["status"], "open", "sent becomes open");
    assert_eq!(
        invoices[1]["payment_url"],
        "https://buy.stripe.com/old_open"
    );
    assert_eq!(invoices[1]["stripe_payment_link_id"], "plink_OldOpen1");
    let tasks: Vec<Value> = sb.json(&["task", "list", "--json"]);
    let onboarding = tasks
        .iter()
        .find(|t| t["description"] == "Onboarding")
        .unwrap();
    assert_eq!(onboarding["status"], "pending", "running becomes pending");
}

#[test]
fn a_second_import_imports_nothing() {
    let sb = Sandbox::new();
    let file = full_file(sb.dir.path());
    import(&sb, &[file.to_str().unwrap()]);
    let again = import(&sb, &[file.to_str().unwrap()]);
    assert_eq!(counts(&again, "lead"), (6, 0, 5, 1));
    assert_eq!(counts(&again, "customer"), (4, 0, 3, 1));
    assert_eq!(counts(&again, "task"), (7, 0, 4, 3));
    assert_eq!(counts(&again, "invoice"), (5, 0, 2, 3));
    let customers: Vec<Value> = sb.json(&["customer", "list", "--json"]);
    assert_eq!(customers.len(), 3);
}

#[test]
fn a_dry_run_reports_the_same_and_writes_nothing() {
    let sb = Sandbox::new();
    let file = full_file(sb.dir.path());
    let dry = import(&sb, &[file.to_str().unwrap(), "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    let leads: Vec<Value> = sb.json(&["lead", "list", "--json"]);
    assert!(leads.is_empty());
    let customers: Vec<Value> = sb.json(&["customer", "list", "--json"]);
    assert!(customers.is_empty());
    let real = import(&sb, &[file.to_str().unwrap()]);
    for table in ["lead", "customer", "task", "invoice"] {
        assert_eq!(counts(&dry, table), counts(&real, table), "{table}");
    }
}

#[test]
fn old_work_is_never_billed_again_and_old_portal_links_keep_working() {
    let sb = Sandbox::new()
        .with("ENABLE_STRIPE", "TRUE")
        .with("STRIPE_API_KEY", "sk_test_legacyimport1")
        .with("STRIPE_API_BASE", "http://127.0.0.1:9");
    let file = full_file(sb.dir.path());
    import(&sb, &[file.to_str().unwrap()]);
    // Acme's done work was billed by its old invoices; Beta has no invoice, so
    // its done audit is billable; the tokenless customer has only pending work.
    let plain = sb.with("ENABLE_STRIPE", "FALSE");
    let bill: Value = plain.json(&["bill", "--json"]);
    assert_eq!(bill["invoices_created"], 1, "{bill}");
    let invoices: Vec<Value> = plain.json(&["invoice", "list", "--json"]);
    assert_eq!(
        (
            invoices[2]["customer_id"].as_i64(),
            invoices[2]["amount_cents"].as_i64()
        ),
        (Some(2), Some(5000))
    );
    let stripe = plain.with("ENABLE_STRIPE", "TRUE");
    let export: Value = stripe.json(&["portal-export", "--json"]);
    assert_eq!(export["pages"], 3);
    let page =
        std::fs::read_to_string(stripe.path("portal").join(TOKEN_A).join("index.html")).unwrap();
    assert!(
        page.contains("href=\"https://buy.stripe.com/old_open\"") && page.contains("PAY NOW"),
        "{page}"
    );
    assert!(
        !page.contains("https://buy.stripe.com/old_paid"),
        "a paid invoice has no button"
    );
    assert!(
        page.contains("230.00 USD") && page.contains("80.00 USD"),
        "invoiced total and outstanding"
    );
    assert!(
        stripe
            .path("portal")
            .join(TOKEN_B)
            .join("index.html")
            .exists()
    );
}

/// SPEC §16: the old app already sent its invoices (`sent` became `open`):
/// hoss does not announce them again on its own, nor its old drafts.
#[test]
fn imported_invoices_are_not_emailed_to_their_customers_again() {
    let smtp = crate::harness::SmtpServer::start(crate::harness::SmtpMode::Accept);
    let sb = Sandbox::new()
        .email_via_smtp(smtp.port)
        .with("PAYMENT_INSTRUCTIONS", "Bank transfer to IBAN DE00 1234");
    let file = full_file(sb.dir.path());
    import(&sb, &[file.to_str().unwrap()]);
    let bill: Value = sb.json(&["bill", "--json"]);
    // Beta's unbilled audit is new work: that one invoice is announced.
    assert_eq!(bill["invoices_created"], 1, "{bill}");
    assert_eq!(bill["invoice_emails"], 1, "{bill}");
    let got = smtp.messages();
    assert_eq!(
        got.len(),
        1,
        "{:?}",
        got.iter().map(|m| &m.to).collect::<Vec<_>>()
    );
    assert_eq!(got[0].to, ["bo@beta.com"]);
}

#[test]
fn an_early_file_without_the_later_columns_imports() {
    let sb = Sandbox::new();
    let path = sb.path("early.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(EARLY_SCHEMA).unwrap();
    db.execute_batch(
        "INSERT INTO lead VALUES (1, 'Ann', 'ann@acme.com', 'Acme', NULL, 'qualified', NULL, '2024-01-01 00:00:00');
         INSERT INTO customer VALUES (1, 'Acme', 'ann@acme.com', 'pro', NULL, 'active', NULL, NULL, '2024-01-02 00:00:00');
         INSERT INTO task VALUES (1, 1, 'Setup', 'done', 9900, NULL, NULL, NULL, '2024-01-02 00:00:00', '2024-01-03 00:00:00');
         INSERT INTO invoice VALUES (1, 1, 9900, 'paid', '2024-01-04 00:00:00', '2024-01-05 00:00:00', NULL);",
    )
    .unwrap();
    drop(db);
    let report = import(&sb, &[path.to_str().unwrap()]);
    for table in ["lead", "customer", "task", "invoice"] {
        assert_eq!(
            counts(&report, table),
            (1, 1, 0, 0),
            "{table}: {}",
            reasons(&report, table)
        );
    }
    let leads: Vec<Value> = sb.json(&["lead", "list", "--json"]);
    assert_eq!(
        (leads[0]["source"].as_str(), leads[0]["domain"].as_str()),
        (Some("legacy"), Some("acme.com"))
    );
    let bill: Value = sb.json(&["bill", "--json"]);
    assert_eq!(
        bill["invoices_created"], 0,
        "the done task was billed by the paid invoice"
    );
}

#[test]
fn files_that_are_not_old_databases_are_refused_clearly() {
    let sb = Sandbox::new();
    std::fs::write(sb.path("junk.db"), "this is not sqlite at all, not even close............................................................").unwrap();
    let out = sb.run(&["import-legacy", "junk.db"]);
    assert_eq!(out.code, 65, "{out:?}");
    assert!(out.stderr.contains("junk.db"), "{}", out.stderr);
    assert_eq!(sb.run(&["import-legacy", "missing.db"]).code, 65);
}

#[test]
fn a_killed_import_leaves_each_table_group_whole_or_absent() {
    let sb = Sandbox::new();
    let path = sb.path("big.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(FULL_SCHEMA).unwrap();
    db.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
         INSERT INTO lead (id, name, email, company, status, created_at)
         SELECT i, 'P' || i, 'p' || i || '@co' || i || '.com', 'Co ' || i, 'new', '2025-01-01 00:00:00' FROM n;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
         INSERT INTO customer (id, company, contact_email, created_at) SELECT i, 'C' || i, 'c' || i || '@c.com', '2025-01-01' FROM n;",
    )
    .unwrap();
    drop(db);
    sb.run(&["check"]);
    for delay in [150u64, 400, 900] {
        let mut child = sb
            .command(&["import-legacy", path.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        child.wait().unwrap();
        let (leads, customers): (i64, i64) = sb
            .db()
            .query_row(
                "SELECT (SELECT COUNT(*) FROM lead), (SELECT COUNT(*) FROM customer)",
                args![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(
            leads == 0 || leads == 60000,
            "after {delay} ms: {leads} leads"
        );
        assert!(
            customers == 0 || customers == 5000,
            "after {delay} ms: {customers} customers"
        );
        if !sb.on_postgres() {
            let ok: String = sb
                .db()
                .query_row("PRAGMA integrity_check", args![], |r| r.get(0))
                .unwrap();
            assert_eq!(ok, "ok");
        }
    }
    let report = import(&sb, &[path.to_str().unwrap()]);
    let (_, imported, deduped, _) = counts(&report, "lead");
    assert_eq!(imported + deduped, 60000);
}

#[test]
fn importing_again_keeps_the_operators_later_decisions() {
    let sb = Sandbox::new();
    let file = full_file(sb.dir.path());
    import(&sb, &[file.to_str().unwrap()]);
    // The operator marks a junk lead invalid and finishes an imported task.
    let leads: Vec<Value> = sb.json(&["lead", "list", "--json"]);
    let zed = leads.iter().find(|l| l["email"] == "zed@zed.io").unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        sb.run(&["lead", "set-status", &zed.to_string(), "invalid"])
            .code,
        0
    );
    let tasks: Vec<Value> = sb.json(&["task", "list", "--json"]);
    let onboarding = tasks
        .iter()
        .find(|t| t["description"] == "Onboarding")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(sb.run(&["task", "done", &onboarding.to_string()]).code, 0);

    let again = import(&sb, &[file.to_str().unwrap()]);
    assert_eq!(
        counts(&again, "lead").1,
        0,
        "nothing comes back: {}",
        reasons(&again, "lead")
    );
    let leads: Vec<Value> = sb.json(&["lead", "list", "--json"]);
    assert_eq!(
        leads.iter().filter(|l| l["email"] == "zed@zed.io").count(),
        1
    );
    let task: Value = sb
        .json::<Vec<Value>>(&["task", "list", "--json"])
        .into_iter()
        .find(|t| t["id"] == onboarding)
        .unwrap();
    assert!(
        task["invoice_id"].is_null(),
        "work finished in hoss stays billable: {task}"
    );
    let bill: Value = sb.json(&["bill", "--json"]);
    assert_eq!(
        bill["invoices_created"], 2,
        "Beta's audit and the tokenless customer's onboarding"
    );
}

#[test]
fn old_work_finished_after_the_last_invoice_stays_billable_and_unsubscribes_carry_over() {
    let sb = Sandbox::new();
    let path = sb.path("late.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(FULL_SCHEMA).unwrap();
    db.execute_batch(
        "INSERT INTO lead VALUES (1, 'Un', 'un@subscribed.com', 'U', NULL, 'unsubscribed', NULL, NULL, NULL, '2025-01-01 00:00:00');
         INSERT INTO customer VALUES (1, 'Acme', 'a@acme.com', NULL, NULL, 'active', NULL, NULL, NULL, '2025-01-01 00:00:00');
         INSERT INTO task VALUES (1, 1, 'Billed', 'done', 1000, NULL, NULL, NULL, '2025-01-01 00:00:00', '2025-01-02 00:00:00');
         INSERT INTO task VALUES (2, 1, 'Later', 'done', 500, NULL, NULL, NULL, '2025-02-01 00:00:00', '2025-02-02 00:00:00');
         INSERT INTO invoice VALUES (1, 1, 1000, 'paid', NULL, NULL, '2025-01-05 00:00:00', '2025-01-06 00:00:00', NULL);",
    )
    .unwrap();
    drop(db);
    import(&sb, &[path.to_str().unwrap()]);
    let bill: Value = sb.json(&["bill", "--json"]);
    assert_eq!(bill["invoices_created"], 1);
    let invoices: Vec<Value> = sb.json(&["invoice", "list", "--json"]);
    assert_eq!(
        invoices[1]["amount_cents"], 500,
        "only the work done after the old invoice"
    );
    let suppressed: Vec<Value> = sb.json(&["suppress", "list", "--json"]);
    assert_eq!(suppressed[0]["email"], "un@subscribed.com");
}

/// Two legacy invoices of 5e18 cents each: their sum is past i64.
fn huge_amounts_file(dir: &Path) -> PathBuf {
    let path = dir.join("huge.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(FULL_SCHEMA).unwrap();
    db.execute_batch(&format!(
        "INSERT INTO customer VALUES
           (10, 'Acme', 'ann@acme.com', 'pro', 'monthly', 'active', NULL, '{TOKEN_A}', NULL, '2025-06-02 00:00:00');
         INSERT INTO task VALUES
           (100, 10, 'Huge', 'done', 5000000000000000000, NULL, NULL, NULL, '2025-06-02 01:00:00', '2025-06-03 01:00:00'),
           (101, 10, 'Fine', 'done', 8000, NULL, NULL, NULL, '2025-06-02 01:00:00', '2025-06-03 01:00:00');
         INSERT INTO invoice VALUES
           (200, 10, 5000000000000000000, 'sent', NULL, NULL, '2025-06-04 00:00:00', NULL, NULL),
           (201, 10, 5000000000000000000, 'sent', NULL, NULL, '2025-06-04 00:00:00', NULL, NULL),
           (202, 10, 1000000000, 'sent', NULL, NULL, '2025-06-04 00:00:00', NULL, NULL),
           (203, 10, 1000000001, 'sent', NULL, NULL, '2025-06-04 00:00:00', NULL, NULL);"
    ))
    .unwrap();
    path
}

#[test]
fn legacy_amounts_above_the_cap_are_skipped_with_a_reason() {
    let sb = Sandbox::new();
    let file = huge_amounts_file(sb.dir.path());
    let report = import(&sb, &[file.to_str().unwrap()]);
    assert_eq!(counts(&report, "invoice"), (4, 1, 0, 3), "{report}");
    assert_eq!(counts(&report, "task"), (2, 1, 0, 1), "{report}");
    let why = reasons(&report, "invoice");
    assert!(why.contains("largest amount"), "{why}");
    let st = sb.run(&["status", "--json"]);
    assert_eq!(st.code, 0, "{st:?}");
    let st: Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(st["billing"]["outstanding_cents"], 1_000_000_000i64);
}

#[test]
fn amounts_already_stored_past_i64_never_fail_a_command_or_wrap_a_total() {
    // A database filled by an older hoss, before imports were capped.
    let sb = Sandbox::new();
    assert_eq!(sb.run(&["status"]).code, 0);
    sb.db()
        .execute_batch(&format!(
            "INSERT INTO customer (id, company, contact_email, public_token, created_at)
               VALUES (1, 'Acme', 'ann@acme.com', '{TOKEN_A}', 0);
             INSERT INTO invoice (customer_id, amount_cents, currency, status, created_at, legacy_id)
               VALUES (1, 5000000000000000000, 'usd', 'open', {now}, 200),
                      (1, 5000000000000000000, 'usd', 'open', {now}, 201);",
            now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        ))
        .unwrap();
    let st = sb.run(&["status", "--json"]);
    assert_eq!(st.code, 0, "{st:?}");
    let st: Value = serde_json::from_str(&st.stdout).unwrap();
    assert!(st["billing"]["outstanding_cents"].is_null(), "{st}");
    assert!(
        st["warnings"].to_string().contains("too large to total"),
        "{}",
        st["warnings"]
    );
    let human = sb.run(&["status"]);
    assert_eq!(human.code, 0, "{human:?}");
    let show = sb.run(&["customer", "show", "1", "--json"]);
    assert_eq!(show.code, 0, "{show:?}");
    let show: Value = serde_json::from_str(&show.stdout).unwrap();
    assert!(show["outstanding_cents"].is_null(), "{show}");
    let summary = sb.run(&["summary", "--json"]);
    assert_eq!(summary.code, 0, "{summary:?}");
    let out = sb.run(&["portal-export", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let page = std::fs::read_to_string(
        sb.path(report["dir"].as_str().unwrap())
            .join(TOKEN_A)
            .join("index.html"),
    )
    .unwrap();
    assert!(
        !page.contains("-9"),
        "no wrapped negative total on the page"
    );
    assert!(
        page.contains("50000000000000000.00 USD"),
        "each invoice still shows"
    );
}

#[test]
fn an_unrelated_database_or_hoss_own_is_refused_with_a_clear_error() {
    let sb = Sandbox::new();
    let unrelated = sb.path("photos.db");
    rusqlite::Connection::open(&unrelated)
        .unwrap()
        .execute_batch("CREATE TABLE album (id INTEGER PRIMARY KEY, title TEXT)")
        .unwrap();
    let out = sb.run(&["import-legacy", unrelated.to_str().unwrap(), "--json"]);
    assert_eq!(out.code, 65, "{out:?}");
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not a HossAgent database") && message.contains("album"),
        "{message}"
    );
    // hoss's own database has tables of the same names: refused all the same.
    let other = Sandbox::sqlite();
    other.run(&["source-leads"]);
    let out = sb.run(&["import-legacy", other.path("hoss.db").to_str().unwrap()]);
    assert_eq!(out.code, 65, "{out:?}");
    assert!(out.stderr.contains("is a hoss database"), "{}", out.stderr);
    let leads: Vec<serde_json::Value> = sb.json(&["lead", "list", "--json"]);
    assert!(leads.is_empty(), "nothing imported");
}
