//! The crash campaign and the contention run: real processes SIGKILLed at
//! random moments against slow stand-ins, then re-run, and sixteen processes
//! mixing every cycle command on one database. Afterwards the invariants
//! must hold: nobody emailed twice, never above the hour limit, no task
//! billed twice, no second price or link for an invoice, no paid invoice lost
//! or reverted, `PRAGMA integrity_check` ok.
//!
//! Short by default (CI); `scripts/campaign.sh` runs the long version:
//! `HOSS_CAMPAIGN_TRIALS` (default 16) and `HOSS_CONTENTION_SECS` (default 8).
//! Each test writes its tally to `target/campaign-*.txt`; `.ci/run` prints it.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngExt;
use serde_json::Value;

use crate::harness::{FakeServer, Sandbox, StripeStub, sendgrid_answer, stripe_signature};

const HOUR_LIMIT: i64 = 25;
const NOW: &str = "2026-11-25T14:10:00Z";
const NOW_UNIX: i64 = 1_795_615_800;
/// Three business days after NOW (Wednesday → Monday): follow-ups are due.
const LATER: &str = "2026-11-30T14:10:00Z";
const SECRET: &str = "whsec_campaign_secret";

fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The world the campaign runs in: slow SendGrid, slow Stripe, slow search.
struct World {
    sb: Sandbox,
    sendgrid: FakeServer,
    stripe: StripeStub,
    _search: FakeServer,
    /// invoice ids a webhook was applied to
    paid: Arc<Mutex<HashSet<i64>>>,
}

fn world() -> World {
    let sendgrid = FakeServer::start(|r| {
        std::thread::sleep(Duration::from_millis(rand::rng().random_range(0..40)));
        sendgrid_answer(r)
    });
    let stripe = StripeStub::start();
    stripe.state.lock().unwrap().delay_ms = 15;
    let search = FakeServer::start(|_| {
        std::thread::sleep(Duration::from_millis(rand::rng().random_range(0..40)));
        let records: Vec<Value> = (0..40)
            .map(|_| {
                let n: u32 = rand::rng().random_range(0..400);
                serde_json::json!({"company": format!("Search Co {n}"), "email": format!("s{n}@searchco{n}.com")})
            })
            .collect();
        (200, Value::Array(records).to_string())
    });
    let sb = Sandbox::new()
        .email_via_sendgrid(&sendgrid.url)
        .with("HOSS_NOW", NOW)
        .with("SENDGRID_API_KEY", "SG.campaign")
        .with("EMAIL_SEND_DELAY_MIN", "0")
        .with("EMAIL_SEND_DELAY_MAX", "0")
        .with("MAX_EMAILS_PER_HOUR", &HOUR_LIMIT.to_string())
        .with("MAX_EMAILS_PER_CYCLE", "6")
        .with("LEAD_SOURCE_PROVIDER", "SEARCH_API")
        .with("LEAD_SEARCH_API_URL", &format!("{}/search", search.url))
        .with("LEAD_SEARCH_API_KEY", "k")
        .with("ENABLE_STRIPE", "TRUE")
        .with("STRIPE_API_KEY", "sk_test_campaignkey1")
        .with("STRIPE_API_BASE", &stripe.server.url)
        .with("STRIPE_WEBHOOK_SECRET", SECRET);
    // Customers with done work, ready to be billed.
    for c in 0..12 {
        let out = sb.run(&[
            "customer",
            "add",
            "--company",
            &format!("Client {c}"),
            "--email",
            &format!("client{c}@clients.com"),
        ]);
        assert_eq!(out.code, 0, "{out:?}");
        for a in ["10.00", "20.50"] {
            sb.done_task(&(c + 1).to_string(), "Work", a);
        }
    }
    World {
        sb,
        sendgrid,
        stripe,
        _search: search,
        paid: Arc::new(Mutex::new(HashSet::new())),
    }
}

/// A signed `checkout.session.completed` for an open invoice, if there is one.
fn webhook_body(w: &World) -> Option<(i64, String)> {
    let invoices: Vec<Value> =
        w.sb.json(&["invoice", "list", "--status", "open", "--json"]);
    let inv = invoices.get(rand::rng().random_range(0..invoices.len().max(1)))?;
    let id = rand::rng().random_range(0..u64::MAX);
    Some((
        inv["id"].as_i64()?,
        serde_json::json!({"id": format!("evt_c{id}"), "object": "event", "type": "checkout.session.completed",
            "data": {"object": {"id": format!("cs_{id}"), "payment_link": inv["stripe_payment_link_id"], "payment_status": "paid",
                                "amount_total": inv["amount_cents"], "currency": inv["currency"]}}})
        .to_string(),
    ))
}

/// Signed at the pinned clock (`NOW`), as Stripe would sign it then.
fn signed(body: &str) -> String {
    stripe_signature(SECRET, NOW_UNIX, body)
}

/// Starts `command` (a webhook gets a body on stdin); returns the child and,
/// for a webhook, the invoice it pays and its body.
fn spawn(
    w: &World,
    command: &str,
    lock_dir: &str,
) -> Option<(std::process::Child, Option<(i64, String)>)> {
    let mut invoice = None;
    let mut cmd = if command == "webhook" {
        let (id, body) = webhook_body(w)?;
        invoice = Some((id, body));
        w.sb.command(&[
            "webhook",
            "--signature",
            &signed(&invoice.as_ref().unwrap().1),
        ])
    } else {
        w.sb.command(&[command])
    };
    cmd.env("HOSS_LOCK_DIR", w.sb.path(lock_dir))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some((_, body)) = &invoice {
        let _ = stdin.write_all(body.as_bytes());
    }
    drop(stdin);
    Some((child, invoice))
}

/// Delivers a webhook body and waits for the answer.
fn deliver(w: &World, body: &str) -> Value {
    let out =
        w.sb.run_with_stdin(&["webhook", "--signature", &signed(body)], body.as_bytes());
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap()
}

/// The invariants; returns how many were checked.
fn check_invariants(w: &World) -> usize {
    let db = w.sb.db();
    // 1. nobody got the same mail twice: an outreach step (first emails,
    // then the follow-ups of the second phase), or an invoice's notice,
    // reminder or receipt — each send named by its ledger row.
    let sends: Vec<(String, String, i64, Option<i64>)> = w
        .sendgrid
        .mail_sends()
        .iter()
        .map(|r| {
            let id: i64 = r.json()["custom_args"]["hoss_send_id"]
                .as_str()
                .and_then(|v| v.parse().ok())
                .expect("every send names its ledger row");
            let (kind, step, invoice): (String, i64, Option<i64>) = db
                .query_row(
                    "SELECT kind, step, invoice_id FROM send_ledger WHERE id = ?1",
                    args![id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .unwrap();
            (r.mail_to(), kind, step, invoice)
        })
        .collect();
    let unique: HashSet<&(String, String, i64, Option<i64>)> = sends.iter().collect();
    assert_eq!(
        unique.len(),
        sends.len(),
        "a recipient got the same mail twice: {sends:?}"
    );
    // 2. never above the hour limit (each phase's clock is pinned inside
    // one hour)
    let held: i64 = db
        .query_row("SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM send_ledger WHERE outcome IN ('reserved','sent','uncertain') AND kind IN ('outreach','test') GROUP BY hour_start) AS per_hour", args![], |r| r.get(0))
        .unwrap();
    assert!(
        held <= HOUR_LIMIT,
        "an hour of the ledger holds {held} slots"
    );
    // 3. no task billed twice: every invoice is exactly the sum of its tasks
    let mismatched: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM invoice i WHERE i.legacy_id IS NULL AND i.amount_cents <>
               (SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) FROM task t WHERE t.invoice_id = i.id)",
            args![],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(mismatched, 0, "an invoice does not match its tasks");
    let per_customer: i64 = db
        .query_row("SELECT COUNT(*) FROM (SELECT customer_id FROM task WHERE status = 'done' AND invoice_id IS NULL GROUP BY customer_id HAVING COUNT(*) > 2) AS piled", args![], |r| r.get(0))
        .unwrap();
    assert_eq!(per_customer, 0);
    // 4. no second price or link for an invoice: every request carried a key
    // derived from its invoice, and no key ever made a second object
    let state = w.stripe.state.lock().unwrap();
    assert_eq!(
        state.created.len(),
        state.objects_by_key.len(),
        "Stripe made two objects for one key"
    );
    for r in
        w.stripe.server.requests().iter().filter(|r| {
            r.method == "POST" && (r.url == "/v1/prices" || r.url == "/v1/payment_links")
        })
    {
        let key = r.header("Idempotency-Key").unwrap_or_default();
        assert!(
            key.starts_with("hoss-") && key.contains("-invoice-"),
            "{key:?}"
        );
    }
    let links: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM invoice WHERE stripe_payment_link_id IS NOT NULL",
            args![],
            |r| r.get(0),
        )
        .unwrap();
    let link_objects = state
        .created
        .iter()
        .filter(|o| o["id"].as_str().is_some_and(|id| id.starts_with("plink_")))
        .count() as i64;
    assert!(
        links <= link_objects,
        "{links} invoices with links, {link_objects} links at Stripe"
    );
    drop(state);
    // 5. no paid invoice lost or reverted
    for id in w.paid.lock().unwrap().iter() {
        let status: String = db
            .query_row("SELECT status FROM invoice WHERE id = ?1", args![id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(
            status, "paid",
            "invoice {id} was paid by a webhook and is now {status}"
        );
    }
    // 6. the database is whole (SQLite's own check; PostgreSQL's
    // transactions leave no torn page to find)
    if !w.sb.on_postgres() {
        let ok: String = db
            .query_row("PRAGMA integrity_check", args![], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }
    // 7. leads are unique
    let dup: i64 = db
        .query_row("SELECT COUNT(*) FROM (SELECT email FROM lead WHERE status <> 'invalid' GROUP BY email HAVING COUNT(*) > 1) AS twice", args![], |r| r.get(0))
        .unwrap();
    assert_eq!(dup, 0);
    7
}

fn report(name: &str, text: &str) {
    eprintln!("{text}");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target");
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(format!("{dir}/campaign-{name}.txt"), format!("{text}\n"));
}

#[test]
fn crash_campaign_kills_passes_at_random_moments_and_the_invariants_hold() {
    let trials = env_number("HOSS_CAMPAIGN_TRIALS", 16);
    let w = world();
    // Seed leads and one billing pass so webhooks have open invoices.
    for i in 0..60 {
        w.sb.run(&[
            "lead",
            "add",
            "--email",
            &format!("p{i}@people{i}.com"),
            "--company",
            &format!("People {i}"),
            "--name",
            "Pat",
        ]);
    }
    w.sb.run(&["bill"]);
    let commands = ["send-outreach", "bill", "webhook", "source-leads"];
    let mut tally: HashMap<&str, u64> = HashMap::new();
    let mut checked = 0;
    for trial in 0..trials {
        let command = commands[rand::rng().random_range(0..commands.len())];
        let Some((mut child, invoice)) = spawn(&w, command, "locks") else {
            continue;
        };
        std::thread::sleep(Duration::from_millis(rand::rng().random_range(0..120)));
        let _ = child.kill();
        let _ = child.wait();
        *tally.entry(command).or_default() += 1;
        // Re-run to completion (a webhook is re-delivered, as Stripe would).
        if let Some((id, body)) = invoice {
            let answer = deliver(&w, &body);
            assert!(
                matches!(answer["outcome"].as_str(), Some("applied" | "duplicate")),
                "{answer}"
            );
            w.paid.lock().unwrap().insert(id);
        } else {
            let out =
                w.sb.command(&[command])
                    .env("HOSS_LOCK_DIR", w.sb.path("locks"))
                    .output()
                    .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "trial {trial} {command}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        checked += check_invariants(&w);
    }
    // Phase two: three business days later the follow-ups are due; kill
    // send-outreach again and again, then let it finish.
    let mut w = w;
    w.sb.set("HOSS_NOW", LATER);
    let mut follow_up_trials = 0;
    for trial in 0..trials.div_ceil(2) {
        let Some((mut child, _)) = spawn(&w, "send-outreach", "locks") else {
            continue;
        };
        std::thread::sleep(Duration::from_millis(rand::rng().random_range(0..120)));
        let _ = child.kill();
        let _ = child.wait();
        follow_up_trials += 1;
        let out =
            w.sb.command(&["send-outreach"])
                .env("HOSS_LOCK_DIR", w.sb.path("locks"))
                .output()
                .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "follow-up trial {trial}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        checked += check_invariants(&w);
    }
    let follow_ups = w
        .sendgrid
        .mail_sends()
        .iter()
        .filter(|r| {
            r.json()["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("Re: "))
        })
        .count();
    assert!(follow_ups > 0, "the follow-up phase sent follow-ups");
    report(
        "crash",
        &format!(
            "crash campaign: {trials} trials + {follow_up_trials} follow-up trials ({}), {follow_ups} follow-ups sent, {checked} invariant checks, all held",
            commands
                .iter()
                .map(|c| format!("{c} {}", tally.get(c).unwrap_or(&0)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
}

#[test]
fn sixteen_processes_mixing_every_pass_never_see_a_locked_database() {
    let secs = env_number("HOSS_CONTENTION_SECS", 8);
    let w = Arc::new(world());
    for i in 0..80 {
        w.sb.run(&[
            "lead",
            "add",
            "--email",
            &format!("q{i}@quick{i}.com"),
            "--company",
            &format!("Quick {i}"),
            "--name",
            "Lee",
        ]);
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let commands = [
        "source-leads",
        "send-outreach",
        "onboard",
        "ops",
        "bill",
        "portal-export",
        "webhook",
        "status",
        "summary",
        "cycle",
    ];
    let runs = Arc::new(Mutex::new(0u64));
    let workers: Vec<_> = (0..16)
        .map(|n| {
            let (w, runs) = (w.clone(), runs.clone());
            std::thread::spawn(move || {
                while Instant::now() < deadline {
                    let command = commands[rand::rng().random_range(0..commands.len())];
                    if command == "onboard" {
                        let id = rand::rng().random_range(1..80).to_string();
                        w.sb.run(&["lead", "set-status", &id, "responded"]);
                    }
                    let Some((child, invoice)) = spawn(&w, command, &format!("locks-{n}")) else {
                        continue;
                    };
                    let out = child.wait_with_output().unwrap();
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    assert!(
                        !stderr.contains("database is locked") && !stderr.contains("panicked"),
                        "{command}: {stderr}"
                    );
                    let code = out.status.code();
                    let ok = match command {
                        "webhook" => matches!(code, Some(0)),
                        _ => code == Some(0),
                    };
                    assert!(ok, "{command} exited {code:?}: {stderr}");
                    if let Some((id, _)) = invoice {
                        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                        if v["outcome"] == "applied" {
                            w.paid.lock().unwrap().insert(id);
                        }
                    }
                    *runs.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for h in workers {
        h.join().unwrap();
    }
    let checked = check_invariants(&w);
    let runs = *runs.lock().unwrap();
    assert!(runs > 16, "only {runs} runs");
    report(
        "contention",
        &format!(
            "contention: 16 processes, {secs} s, {runs} command runs, no locked database, {checked} invariants held"
        ),
    );
}
