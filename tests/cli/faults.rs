//! Environment and filesystem faults (a read-only database, a full disk,
//! a corrupt file, a missing directory) and the secrets promise: every
//! command run with sentinel secrets, vendors that echo them back, and
//! every output and file scanned afterwards.

use std::path::Path;

use serde_json::Value;

use crate::harness::{BIN, FakeServer, Output, Sandbox, Served, StripeStub, stripe_signature_now};

/// Runs `script` (sh) in a private mount namespace, where it may mount a
/// tmpfs. These fault tests need `unshare -m` (root, or user namespaces).
fn in_mount_namespace(sb: &Sandbox, script: &str) -> Output {
    let program = format!(
        "set -u\nHOSS={BIN}\nSB={}\n{script}",
        sb.dir.path().display()
    );
    let run = |prefix: &[&str]| {
        std::process::Command::new("unshare")
            .args(prefix)
            .args(["sh", "-c", &program])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(sb.envs())
            .current_dir(sb.dir.path())
            .output()
            .expect("unshare(1) from util-linux")
    };
    let mut out = run(&["-m"]);
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unshare failed") {
        out = run(&["-rm"]);
    }
    let output = Output::from(out);
    assert!(
        !output.stderr.contains("unshare failed") && !output.stderr.contains("mount: "),
        "these tests need a private mount namespace (unshare -m): {output:?}"
    );
    output
}

fn exit_of(out: &Output, label: &str) -> i32 {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{label}=")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {label}= in {out:?}"))
}

#[test]
fn a_read_only_database_is_a_clear_configuration_error_and_nothing_changes() {
    let sb = Sandbox::sqlite();
    sb.run(&["source-leads"]);
    sb.db()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let out = in_mount_namespace(
        &sb,
        "M=$SB/ro; mkdir -p $M; mount -t tmpfs tmpfs $M; cp $SB/hoss.db $M/; mount -o remount,ro $M
         HOSS_DB=$M/hoss.db $HOSS source-leads; echo source=$?
         HOSS_DB=$M/hoss.db $HOSS lead add --email a@b.com --company X; echo add=$?",
    );
    assert_eq!(exit_of(&out, "source"), 78, "{out:?}");
    assert_eq!(exit_of(&out, "add"), 78, "{out:?}");
    assert!(out.stderr.contains("read-only"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"));
}

#[test]
fn a_full_disk_fails_the_pass_with_exit_75_and_writes_nothing_half() {
    let sb = Sandbox::sqlite();
    let out = in_mount_namespace(
        &sb,
        "M=$SB/small; mkdir -p $M; mount -t tmpfs -o size=900k tmpfs $M
         HOSS_DB=$M/hoss.db $HOSS check >/dev/null; echo check=$?
         HOSS_DB=$M/hoss.db MAX_NEW_LEADS_PER_CYCLE=20000 $HOSS source-leads; echo source=$?
         HOSS_DB=$M/hoss.db MAX_NEW_LEADS_PER_CYCLE=5 $HOSS source-leads >/dev/null; echo small=$?
         mkdir -p $SB/copy; cp $M/hoss.db* $SB/copy/",
    );
    assert_eq!(exit_of(&out, "check"), 0, "{out:?}");
    assert_eq!(exit_of(&out, "source"), 75, "{out:?}");
    assert!(out.stderr.contains("full"), "{}", out.stderr);
    let copy = rusqlite::Connection::open(sb.path("copy/hoss.db")).unwrap();
    let ok: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let leads: i64 = copy
        .query_row("SELECT COUNT(*) FROM lead", [], |r| r.get(0))
        .unwrap();
    let small = exit_of(&out, "small");
    // The big pass rolled back entirely; a small one may or may not fit.
    assert!(
        leads == 0 || (small == 0 && leads == 5),
        "{leads} leads after a full disk"
    );
}

#[test]
fn a_corrupt_or_missing_database_never_panics() {
    let sb = Sandbox::sqlite();
    std::fs::write(
        sb.path("hoss.db"),
        b"SQLite format 3\0garbage garbage garbage garbage garbage garbage",
    )
    .unwrap();
    for args in [
        &["status"][..],
        &["cycle"],
        &["source-leads"],
        &["summary", "--json"],
    ] {
        let out = sb.run(args);
        assert!(matches!(out.code, 65 | 70 | 78), "{args:?}: {out:?}");
        assert!(
            !out.stderr.contains("panicked") && !out.stderr.contains("RUST_BACKTRACE"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let missing = Sandbox::sqlite().with("HOSS_DB", "/no/such/dir/hoss.db");
    let out = missing.run(&["cycle"]);
    assert_eq!(out.code, 78);
    assert!(out.stderr.contains("/no/such/dir"), "{}", out.stderr);
}

const SENTINELS: [(&str, &str); 5] = [
    ("SENDGRID_API_KEY", "SG.SENTINEL0SENDGRID"),
    ("SMTP_PASSWORD", "SENTINEL1SMTP"),
    ("LEAD_SEARCH_API_KEY", "SENTINEL2SEARCH"),
    ("STRIPE_API_KEY", "sk_test_SENTINEL3STRIPE"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_SENTINEL4HOOK"),
];

/// Every file under `dir`, as text.
fn all_files(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            all_files(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
}

#[test]
fn secrets_never_appear_in_any_output_database_or_exported_file() {
    // Vendors that echo the credentials they were given straight back.
    let echo = |r: &crate::harness::Recorded| {
        (
            401,
            format!(
                "{{\"error\": {{\"message\": \"bad key {}\"}}}}",
                r.header("Authorization").unwrap_or_default()
            ),
        )
    };
    let sendgrid = FakeServer::start(echo);
    let search = FakeServer::start(move |r| {
        (
            500,
            format!(
                "upstream said: {}",
                r.header("Authorization").unwrap_or_default()
            ),
        )
    });
    let stripe = StripeStub::start();
    let mut sb = Sandbox::new()
        .email_via_sendgrid(&sendgrid.url)
        .with("SMTP_USERNAME", "user")
        .with("LEAD_SOURCE_PROVIDER", "SEARCH_API")
        .with("LEAD_SEARCH_API_URL", &format!("{}/search", search.url))
        .with("LEAD_SOURCE_FALLBACK", "DUMMY_SEED")
        .with("ENABLE_STRIPE", "TRUE")
        .with("STRIPE_API_BASE", &stripe.server.url)
        .with("OPS_EXECUTOR_CMD", "env; echo done")
        .with("EMAIL_SEND_DELAY_MIN", "0")
        .with("EMAIL_SEND_DELAY_MAX", "0")
        .with("PORTAL_BASE_URL", "https://portal.hoss-operator.com");
    for (k, v) in SENTINELS {
        sb.set(k, v);
    }
    let mut outputs: Vec<String> = Vec::new();
    let mut run = |args: &[&str]| {
        let out = sb.run(args);
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
        outputs.push(format!(
            "$ hoss {}\n{}\n{}",
            args.join(" "),
            out.stdout,
            out.stderr
        ));
    };
    run(&["check"]);
    run(&["check", "--json"]);
    run(&["source-leads"]);
    run(&[
        "lead",
        "add",
        "--email",
        "buyer@client.com",
        "--company",
        "Client",
        "--name",
        "Pat",
    ]);
    run(&["send-outreach"]);
    run(&["send-test-email", "--to", "me@hoss-operator.com"]);
    run(&["summary", "--email"]);
    run(&["lead", "set-status", "11", "responded"]);
    run(&["onboard"]);
    run(&[
        "task",
        "add",
        "--customer",
        "1",
        "--description",
        "Work",
        "--amount",
        "10",
    ]);
    run(&["ops"]);
    run(&["task", "done", "1"]);
    run(&["bill"]);
    stripe.state.lock().unwrap().balance_status = Some(401);
    run(&["bill"]);
    run(&["portal-export"]);
    run(&["cycle", "--json"]);
    run(&["status"]);
    run(&["status", "--json"]);
    for args in [
        &["lead", "list"][..],
        &["customer", "list", "--json"],
        &["task", "list"],
        &["invoice", "list"],
        &["suppress", "list"],
    ] {
        run(args);
    }
    let legacy = sb.path("old.db");
    rusqlite::Connection::open(&legacy)
        .unwrap()
        .execute_batch("CREATE TABLE lead (id INTEGER PRIMARY KEY, email TEXT, company TEXT)")
        .unwrap();
    run(&["import-legacy", legacy.to_str().unwrap(), "--dry-run"]);
    // A webhook (signed with the secret) through the CLI and through serve.
    let body = r#"{"id":"evt_s","object":"event","type":"checkout.session.completed","data":{"object":{"id":"cs","payment_status":"paid","amount_total":1000,"currency":"usd"}}}"#;
    let signature = stripe_signature_now("whsec_SENTINEL4HOOK", body);
    let out = sb.run_with_stdin(&["webhook", "--signature", &signature], body.as_bytes());
    outputs.push(format!("{}{}", out.stdout, out.stderr));
    let served = Served::start(&sb);
    let (_, answer) = served.post(
        "/stripe/webhook",
        &[("Stripe-Signature", &signature)],
        body.as_bytes(),
    );
    outputs.push(answer);
    outputs.push(served.get("/healthz").1);
    let (_, log) = served.terminate();
    outputs.push(log);

    assert!(
        sendgrid.mail_sends().len() >= 2 && !search.requests().is_empty(),
        "the vendors were really called"
    );
    let mut files = Vec::new();
    all_files(sb.dir.path(), &mut files);
    assert!(
        files.iter().any(|(p, _)| p.ends_with("index.html")),
        "the portal was exported"
    );
    for text in outputs.iter().chain(files.iter().map(|(_, t)| t)) {
        assert!(!text.contains("SENTINEL"), "a secret leaked:\n{text}");
    }
    let tasks: Value = sb.json(&["task", "list", "--json"]);
    assert_eq!(
        tasks[0]["result_summary"]
            .as_str()
            .map(|s| s.contains("PATH=")),
        Some(true),
        "the executor ran with a clean environment: {tasks}"
    );
}

#[test]
fn secrets_never_reach_the_log_at_debug_or_trace() {
    let sendgrid = FakeServer::sendgrid();
    let search = FakeServer::answering(200, "[]");
    let ping = FakeServer::answering(200, "OK");
    let stripe = StripeStub::start();
    for level in ["debug", "trace"] {
        let mut sb = Sandbox::new()
            .email_via_sendgrid(&sendgrid.url)
            .with("HOSS_LOG", level)
            .with("LEAD_SOURCE_PROVIDER", "SEARCH_API")
            .with("LEAD_SEARCH_API_URL", &format!("{}/search", search.url))
            .with("ENABLE_STRIPE", "TRUE")
            .with("STRIPE_API_BASE", &stripe.server.url)
            .with("EMAIL_SEND_DELAY_MIN", "0")
            .with("EMAIL_SEND_DELAY_MAX", "0")
            .with(
                "HEALTHCHECK_URL",
                &format!("{}/ping/SENTINEL5PING", ping.url),
            );
        for (k, v) in SENTINELS {
            sb.set(k, v);
        }
        let mut log = String::new();
        for args in [
            &[
                "lead",
                "add",
                "--email",
                "buyer@client.com",
                "--company",
                "Client",
            ][..],
            &[
                "customer",
                "add",
                "--company",
                "Acme",
                "--email",
                "ap@acme.com",
            ],
            &[
                "task",
                "add",
                "--customer",
                "1",
                "--description",
                "Work",
                "--amount",
                "10",
            ],
            &["task", "done", "1"],
            &["cycle"],
            &["send-test-email", "--to", "me@hoss-operator.com"],
            &["summary", "--email"],
        ] {
            let out = sb.run(args);
            assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
            log.push_str(&out.stderr);
        }
        assert!(
            sendgrid.mail_sends().len() >= 3
                && !search.requests().is_empty()
                && !ping.requests().is_empty()
                && !stripe.server.requests().is_empty(),
            "{level}: every vendor was really called:\n{log}"
        );
        assert!(log.contains("DEBUG"), "{level}: the filter is on:\n{log}");
        assert!(
            !log.contains("SENTINEL"),
            "{level}: a secret leaked:\n{log}"
        );
    }
}

/// The secrets of SMTP, IMAP, DKIM and `DATABASE_URL` (the settings the
/// tests above do not set), at trace level, through every command that
/// uses them — real SMTP with AUTH (accepted and refused), the invoice
/// mail of `bill` and `invoice send`, `check --deliverability`,
/// `sync-inbox` — scanned in every output, the database and every file.
#[test]
fn smtp_imap_dkim_and_database_secrets_never_appear_at_trace() {
    use crate::harness::{DnsZone, SmtpMode, SmtpServer, closed_addr};
    // SENTINELS sets SMTP_PASSWORD; the server accepts it (or not).
    const SMTP: &str = SENTINELS[1].1;
    const IMAP: &str = "SENTINEL7IMAP";
    const DB: &str = "SENTINEL8DBPASS";
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dkim");
    let key_file = format!("{fixtures}/rsa2048.pkcs8.pem");
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    let key_lines: Vec<&str> = key_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let domain = format!("sender.{}", crate::harness::DNS_ZONE);
    let dns = DnsZone::new()
        .txt(&domain, &["v=spf1 -all"])
        .txt(
            &format!("s1._domainkey.{domain}"),
            &["v=DKIM1; k=rsa; p=AAAA"],
        )
        .start();
    let stripe = StripeStub::start();
    let healthz = FakeServer::answering(200, "ok");
    let mut outputs: Vec<String> = Vec::new();
    let mut scanned: Vec<(String, String)> = Vec::new();
    for (label, mode) in [
        ("accepted", SmtpMode::Auth(SMTP)),
        ("refused", SmtpMode::Auth("other")),
    ] {
        let smtp = SmtpServer::start(mode);
        let mut sb = Sandbox::new()
            .email_via_smtp(smtp.port)
            .with("HOSS_LOG", "trace")
            .with("SMTP_USERNAME", "sam")
            .with("SMTP_FROM_EMAIL", &format!("hello@{domain}"))
            .with("DKIM_SELECTOR", "s1")
            .with("DKIM_PRIVATE_KEY_FILE", &key_file)
            .with("PUBLIC_BASE_URL", &healthz.url)
            .with("INBOX_MODE", "IMAP")
            .with("IMAP_HOST", "127.0.0.1")
            .with("IMAP_PORT", &closed_addr().port().to_string())
            .with("IMAP_TLS", "NONE")
            .with("IMAP_USERNAME", "sam")
            .with("IMAP_PASSWORD", IMAP)
            .with("ENABLE_STRIPE", "TRUE")
            .with("STRIPE_API_BASE", &stripe.server.url)
            .with("STRIPE_MAX_AMOUNT", "5000")
            .with("PORTAL_BASE_URL", "https://portal.hoss-operator.com");
        if let Some(dns) = &dns {
            sb.set("DNS_SERVER", &dns.server());
        }
        for (k, v) in SENTINELS {
            sb.set(k, v);
        }
        let run = |sb: &Sandbox, outputs: &mut Vec<String>, args: &[&str]| {
            let out = sb.run(args);
            assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
            outputs.push(format!(
                "$ hoss {} ({label}, exit {})\n{}\n{}",
                args.join(" "),
                out.code,
                out.stdout,
                out.stderr
            ));
        };
        run(&sb, &mut outputs, &["check"]);
        run(&sb, &mut outputs, &["check", "--json"]);
        run(&sb, &mut outputs, &["check", "--deliverability"]);
        run(&sb, &mut outputs, &["check", "--deliverability", "--json"]);
        run(
            &sb,
            &mut outputs,
            &[
                "lead",
                "add",
                "--email",
                "buyer@client.com",
                "--company",
                "Client",
            ],
        );
        run(&sb, &mut outputs, &["send-outreach"]);
        run(
            &sb,
            &mut outputs,
            &["send-test-email", "--to", "me@hoss-operator.com"],
        );
        run(&sb, &mut outputs, &["sync-inbox"]);
        run(
            &sb,
            &mut outputs,
            &[
                "customer",
                "add",
                "--company",
                "Acme",
                "--email",
                "ap@acme.com",
            ],
        );
        run(
            &sb,
            &mut outputs,
            &[
                "task",
                "add",
                "--customer",
                "1",
                "--description",
                "Work",
                "--amount",
                "10",
            ],
        );
        run(&sb, &mut outputs, &["task", "done", "1"]);
        run(&sb, &mut outputs, &["bill", "--json"]);
        run(&sb, &mut outputs, &["invoice", "send", "1"]);
        run(&sb, &mut outputs, &["invoice", "show", "1", "--json"]);
        run(&sb, &mut outputs, &["cycle", "--json"]);
        run(&sb, &mut outputs, &["status", "--json"]);
        run(&sb, &mut outputs, &["status"]);
        run(&sb, &mut outputs, &["summary", "--email"]);
        if label == "accepted" {
            assert!(smtp.messages().len() >= 3, "{outputs:#?}");
        }
        // A DATABASE_URL whose server cannot be reached stops every
        // stateful command: with its password never said.
        sb.set(
            "DATABASE_URL",
            &format!("postgres://hoss:{DB}@127.0.0.1:1/hoss"),
        );
        run(&sb, &mut outputs, &["check"]);
        run(&sb, &mut outputs, &["check", "--json"]);
        run(&sb, &mut outputs, &["status", "--json"]);
        run(&sb, &mut outputs, &["cycle"]);
        run(&sb, &mut outputs, &["bill"]);
        all_files(sb.dir.path(), &mut scanned);
    }
    for text in outputs.iter().chain(scanned.iter().map(|(_, t)| t)) {
        for secret in [SMTP, IMAP, DB, "SENTINEL"] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        for line in &key_lines {
            assert!(!text.contains(line), "the DKIM key leaked:\n{text}");
        }
    }
}
