//! The operator's view (SPEC §8–10): `summary` windows counted exactly on a
//! pinned clock, every documented `status` field, tables on a terminal and
//! plain text in a pipe, `cycle` with isolated steps and pings, the digest
//! email, and the demo and smoke scripts.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::harness::{BIN, FakeServer, Sandbox, StripeStub, Trap, closed_addr};

/// 2026-11-25T14:00:05Z: five seconds into an hour.
const T: i64 = 1_795_615_205;
const NOW: &str = "2026-11-25T14:00:05Z";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Summary {
    period: String,
    from: String,
    to: String,
    release_mode: bool,
    currency: String,
    leads: SummaryLeads,
    emails: SummaryEmails,
    invoices: SummaryInvoices,
    payments: SummaryPayments,
    attention: Vec<String>,
    email: Option<Value>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct SummaryLeads {
    created: i64,
    by_source: BTreeMap<String, i64>,
    deduped: i64,
}

#[derive(Debug, Deserialize, PartialEq)]
struct SummaryEmails {
    total: i64,
    success: i64,
    failed: i64,
    throttled: i64,
    dry_run: i64,
    suppressed: i64,
    uncertain: i64,
    first_emails: i64,
    follow_ups: i64,
    replies: i64,
    bounces: i64,
    complaints: i64,
    opt_outs: i64,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct SummaryInvoices {
    created: i64,
    amount_cents: i64,
    overdue: i64,
    overdue_cents: i64,
    outstanding_cents: i64,
}

#[derive(Debug, Deserialize, PartialEq)]
struct SummaryPayments {
    received: i64,
    amount_cents: i64,
}

/// Rows at known times around the day and week windows of `T`.
fn seed(sb: &Sandbox) {
    sb.run(&["check"]);
    let day = 86_400;
    let db = sb.db();
    let leads = [
        (T, "DUMMY_SEED"), // this very second: counts
        (T - 3600, "DUMMY_SEED"),
        (T - day, "import"),     // exactly 24 h ago: the window's first second
        (T - day - 1, "import"), // one second too old for the day
        (T - 7 * day + 10, "SEARCH_API"),
        (T - 8 * day, "manual"), // outside both
    ];
    for (i, (at, source)) in leads.iter().enumerate() {
        db.execute(
            "INSERT INTO lead (email, company, source, created_at) VALUES (?1, 'C', ?2, ?3)",
            args![format!("l{i}@c{i}.com"), source, at],
        )
        .unwrap();
    }
    let ledger = [
        (T - 60, "outreach", "sent", 1),
        (T - 120, "outreach", "sent", 2), // a follow-up
        (T - 180, "test", "sent", 1),
        (T - 240, "outreach", "failed", 1),
        (T - 300, "outreach", "throttled", 1),
        (T - 360, "outreach", "dry_run", 1),
        (T - 420, "outreach", "suppressed", 1),
        (T - 480, "outreach", "uncertain", 1),
        (T - 500, "summary", "sent", 1),      // digests never count
        (T - day - 5, "outreach", "sent", 1), // week only
        (T - 9 * day, "outreach", "sent", 1), // outside both
    ];
    for (at, kind, outcome, step) in ledger {
        db.execute(
            "INSERT INTO send_ledger (at, hour_start, kind, step, recipient, mode, outcome) VALUES (?1, ?2, ?3, ?5, 'x@y.com', 'SMTP', ?4)",
            args![at, at - at % 3600, kind, outcome, step],
        )
        .unwrap();
    }
    db.execute_batch(&format!(
        "INSERT INTO lead_source_run (provider, started_at, finished_at, result, deduped) VALUES
            ('DUMMY_SEED', {a}, {a}, 'OK', 3), ('DUMMY_SEED', {b}, {b}, 'OK', 4);
         INSERT INTO customer (id, company, contact_email, public_token, created_at) VALUES (1, 'C', 'c@c.com', '{tok}', 0);
         INSERT INTO invoice (customer_id, amount_cents, currency, status, created_at) VALUES (1, 15000, 'usd', 'draft', {c1});
         INSERT INTO invoice (customer_id, amount_cents, currency, status, created_at) VALUES (1, 500, 'usd', 'open', {c2});
         INSERT INTO invoice (customer_id, amount_cents, currency, status, created_at, paid_at, paid_via) VALUES (1, 2000, 'usd', 'paid', {c3}, {p3}, 'manual');
         INSERT INTO invoice (customer_id, amount_cents, currency, status, created_at, paid_at, paid_via) VALUES (1, 999, 'usd', 'paid', {c3}, {p4}, 'manual');",
        a = T - 7200,
        b = T - 3 * day,
        tok = "a".repeat(32),
        c1 = T - 3 * 3600,
        c2 = T - 30 * 3600,
        c3 = T - 10 * day,
        p3 = T - 3600,
        p4 = T - 2 * day,
    ))
    .unwrap();
}

#[test]
fn summary_counts_every_window_exactly() {
    let sb = Sandbox::new().with("HOSS_NOW", NOW);
    seed(&sb);
    let day: Summary = sb.json(&["summary", "--json"]);
    assert_eq!(
        (day.period.as_str(), day.from.as_str(), day.to.as_str()),
        ("day", "2026-11-24T14:00:05Z", NOW)
    );
    assert!(!day.release_mode && day.email.is_none());
    assert_eq!(day.currency, "usd");
    assert_eq!(
        day.leads,
        SummaryLeads {
            created: 3,
            by_source: [("DUMMY_SEED".into(), 2), ("import".into(), 1)].into(),
            deduped: 3
        }
    );
    assert_eq!(
        day.emails,
        SummaryEmails {
            total: 8,
            success: 3,
            failed: 1,
            throttled: 1,
            dry_run: 1,
            suppressed: 1,
            uncertain: 1,
            first_emails: 1,
            follow_ups: 1,
            replies: 0,
            bounces: 0,
            complaints: 0,
            opt_outs: 0,
        }
    );
    assert_eq!(
        day.invoices,
        SummaryInvoices {
            created: 1,
            amount_cents: 15000,
            overdue: 0,
            overdue_cents: 0,
            outstanding_cents: 15500,
        }
    );
    assert_eq!(
        day.payments,
        SummaryPayments {
            received: 1,
            amount_cents: 2000
        }
    );
    assert!(
        day.attention.iter().any(|a| a.contains("1 uncertain send")),
        "{:?}",
        day.attention
    );

    let week: Summary = sb.json(&["summary", "--period", "week", "--json"]);
    assert_eq!(week.period, "week");
    assert_eq!(week.leads.created, 5);
    assert_eq!(week.leads.by_source["SEARCH_API"], 1);
    assert_eq!(week.leads.deduped, 7);
    assert_eq!((week.emails.total, week.emails.success), (9, 4));
    assert_eq!(
        (week.emails.first_emails, week.emails.follow_ups),
        (2, 1),
        "real outreach sends by step; the test message is neither"
    );
    assert_eq!(
        week.invoices,
        SummaryInvoices {
            created: 2,
            amount_cents: 15500,
            overdue: 0,
            overdue_cents: 0,
            outstanding_cents: 15500,
        }
    );
    assert_eq!(
        week.payments,
        SummaryPayments {
            received: 2,
            amount_cents: 2999
        }
    );

    let text = sb.run(&["summary"]).stdout;
    assert!(
        text.contains("leads:     3 new (DUMMY_SEED 2, import 1), 3 deduped"),
        "{text}"
    );
    assert!(text.contains("payments:  1 received, 20.00 USD"), "{text}");
    assert!(
        text.contains("outreach:  1 first emails, 1 follow-ups sent"),
        "{text}"
    );
}

#[test]
fn status_counts_the_current_clock_hour_only() {
    let sb = Sandbox::new().with("HOSS_NOW", NOW);
    seed(&sb);
    let st: Value = sb.json(&["status", "--json"]);
    // Rows at T-60 … T-480 straddle 14:00:00: only the ones at or after it count.
    assert_eq!(st["email"]["hour"], "2026-11-25T14");
    assert_eq!(
        st["email"]["sent_this_hour"], 0,
        "all of them are in the 13:00 hour"
    );
    let later: Value = sb
        .with("HOSS_NOW", "2026-11-25T13:59:59Z")
        .json(&["status", "--json"]);
    assert_eq!(later["email"]["hour"], "2026-11-25T13");
    assert_eq!(
        later["email"]["sent_this_hour"], 3,
        "outreach sent ×2 and uncertain ×1, never a test message or the digest"
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Status {
    release_mode: bool,
    dry_run: bool,
    subsystems: BTreeMap<String, Value>,
    store: String,
    config_file: Option<String>,
    email: StatusEmail,
    leads: StatusLeads,
    stripe: StatusStripe,
    billing: StatusBilling,
    inbox: StatusInbox,
    health: StatusHealth,
    addresses: StatusAddresses,
    runs: BTreeMap<String, StatusRun>,
    warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusAddresses {
    mx_check: String,
    dns_server: String,
    send_to_role_accounts: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusInbox {
    mode: String,
    last_sync_at: Option<String>,
    last_uid: Option<u32>,
    replies_7d: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusHealth {
    paused: bool,
    reason: Option<String>,
    sends_7d: i64,
    hard_bounces_7d: i64,
    complaints_7d: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusEmail {
    mode: String,
    requested: String,
    reason: Option<String>,
    max_per_cycle: u32,
    max_per_hour: u32,
    hour: String,
    sent_this_hour: i64,
    uncertain: i64,
    max_per_day: u32,
    sent_24h: i64,
    daily_cap_today: u32,
    sequences: StatusSequences,
    due_now: i64,
    recent_attempts: Vec<StatusAttempt>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct StatusSequences {
    active: i64,
    finished: i64,
    stopped: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusAttempt {
    at: String,
    lead_id: Option<i64>,
    to: String,
    subject: String,
    kind: String,
    mode: String,
    outcome: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusLeads {
    provider: String,
    last_run: Option<Value>,
    by_status: BTreeMap<String, i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusStripe {
    status: String,
    reason: Option<String>,
    key_mode: Option<String>,
    min_amount_cents: i64,
    max_amount_cents: i64,
    currency: String,
    webhook_secret: bool,
    last_webhook_at: Option<String>,
    last_webhook_error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBilling {
    by_status: BTreeMap<String, i64>,
    outstanding_cents: i64,
    overdue: i64,
    overdue_cents: i64,
    currency: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusRun {
    started_at: String,
    finished_at: Option<String>,
    outcome: String,
}

#[test]
fn status_json_has_exactly_the_documented_fields() {
    let sb = Sandbox::new().with("HOSS_NOW", NOW);
    seed(&sb);
    sb.run(&["source-leads"]);
    let st: Status = sb.json(&["status", "--json"]);
    assert!(!st.release_mode && !st.dry_run);
    assert_eq!(st.subsystems.len(), 5);
    assert_eq!(
        (
            st.inbox.mode.as_str(),
            st.inbox.last_sync_at.as_deref(),
            st.inbox.last_uid,
            st.inbox.replies_7d
        ),
        ("OFF", None, None, 0)
    );
    assert!(!st.health.paused && st.health.reason.is_none());
    assert_eq!((st.health.hard_bounces_7d, st.health.complaints_7d), (0, 0));
    assert!(st.health.sends_7d >= 0);
    // The sandbox turns the MX check off; the system resolver is the default.
    assert_eq!(
        (
            st.addresses.mx_check.as_str(),
            st.addresses.dns_server.as_str(),
            st.addresses.send_to_role_accounts
        ),
        ("OFF", "system", false)
    );
    if sb.on_postgres() {
        // The server and database, never the user or password.
        let url = &sb.envs()["DATABASE_URL"];
        let database = url.split('/').nth(3).unwrap().split('?').next().unwrap();
        assert!(
            st.store.starts_with("postgres://127.0.0.1:"),
            "{}",
            st.store
        );
        assert!(st.store.ends_with(&format!("/{database}")), "{}", st.store);
        assert!(!st.store.contains(crate::harness::PG_PASSWORD));
    } else {
        let db = std::fs::canonicalize(sb.path("hoss.db")).unwrap();
        assert_eq!(st.store, format!("sqlite:{}", db.display()));
    }
    assert_eq!(st.config_file, None);
    let with_file = Sandbox::new().config_file("MAX_EMAILS_PER_HOUR = 5\n");
    let check: Value = with_file.json(&["check", "--json"]);
    let file = std::fs::canonicalize(with_file.path("hoss.toml")).unwrap();
    assert_eq!(check["config_file"].as_str(), Some(file.to_str().unwrap()));
    assert!(
        with_file
            .run(&["status"])
            .stdout
            .contains(&format!("config file: {}", file.display()))
    );
    assert_eq!(
        (
            st.email.mode.as_str(),
            st.email.requested.as_str(),
            st.email.reason.as_deref()
        ),
        ("DRY_RUN", "DRY_RUN", None)
    );
    assert_eq!(
        (
            st.email.max_per_cycle,
            st.email.max_per_hour,
            st.email.uncertain
        ),
        (10, 50, 1)
    );
    assert_eq!(st.email.hour, "2026-11-25T14");
    assert_eq!(st.email.sent_this_hour, 0);
    // The sandbox lifts the daily cap and the warm-up (SPEC §14 allows it
    // for tests); the 24 h count is the daily cap's: sent and uncertain.
    assert_eq!(
        (
            st.email.max_per_day,
            st.email.daily_cap_today,
            st.email.sent_24h
        ),
        (1_000_000, 1_000_000, 3)
    );
    assert_eq!(
        (st.email.sequences, st.email.due_now),
        (
            StatusSequences {
                active: 0,
                finished: 0,
                stopped: 0
            },
            0
        )
    );
    assert_eq!(st.email.recent_attempts.len(), 11);
    let a = &st.email.recent_attempts[0];
    assert_eq!(
        (
            a.kind.as_str(),
            a.outcome.as_str(),
            a.mode.as_str(),
            a.to.as_str()
        ),
        ("outreach", "sent", "SMTP", "x@y.com")
    );
    assert!(
        a.at.ends_with('Z') && a.lead_id.is_none() && a.subject.is_empty() && a.error.is_none()
    );
    assert_eq!(st.leads.provider, "DUMMY_SEED");
    assert_eq!(st.leads.last_run.as_ref().unwrap()["created"], 10);
    assert_eq!(st.leads.by_status["new"], 16);
    assert_eq!(
        (st.stripe.status.as_str(), st.stripe.key_mode.as_deref()),
        ("DISABLED", None)
    );
    assert_eq!(
        (
            st.stripe.min_amount_cents,
            st.stripe.max_amount_cents,
            st.stripe.currency.as_str()
        ),
        (100, 50_000, "usd")
    );
    assert!(
        !st.stripe.webhook_secret
            && st.stripe.last_webhook_at.is_none()
            && st.stripe.last_webhook_error.is_none()
    );
    assert!(st.stripe.reason.is_some());
    assert_eq!(st.billing.by_status["paid"], 2);
    assert_eq!(
        (st.billing.outstanding_cents, st.billing.currency.as_str()),
        (15_500, "usd")
    );
    assert_eq!(
        (st.billing.overdue, st.billing.overdue_cents),
        (0, 0),
        "the seeded open invoice has no due date"
    );
    let run = &st.runs["source-leads"];
    assert_eq!(
        (
            run.outcome.as_str(),
            run.started_at.as_str(),
            run.finished_at.as_deref()
        ),
        ("ok", NOW, Some(NOW))
    );
    assert!(
        st.warnings.iter().any(|w| w.contains("uncertain")),
        "{:?}",
        st.warnings
    );
}

/// Three invoices opened by `bill` at `BILLED` (due 14 days later, at
/// `DUE`): Acme's stays open, Bolt's is paid and Cord's voided.
const BILLED: &str = "2026-11-30T10:00:00Z";
const DUE: &str = "2026-12-14T10:00:00Z";

fn three_open_invoices(stub: &StripeStub) -> Sandbox {
    let sb = Sandbox::new()
        .with("ENABLE_STRIPE", "TRUE")
        .with("STRIPE_API_KEY", "sk_test_hossoverduetests")
        .with("STRIPE_API_BASE", &stub.server.url)
        .with("HOSS_NOW", BILLED);
    for (company, amount) in [("Acme", "150.00"), ("Bolt", "20.00"), ("Cord", "7.50")] {
        let c: Value = sb.json(&[
            "customer",
            "add",
            "--company",
            company,
            "--email",
            &format!("pay@{}.com", company.to_lowercase()),
            "--json",
        ]);
        sb.done_task(&c["id"].as_i64().unwrap().to_string(), "work", amount);
    }
    let bill: Value = sb.json(&["bill", "--json"]);
    assert_eq!(bill["links_created"], 3, "{bill}");
    let due: Vec<(String, Option<i64>)> = sb
        .db()
        .query_all(
            "SELECT status, due_at FROM invoice ORDER BY id",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
        .into_iter()
        .collect();
    // 2026-12-14T10:00:00Z
    let due_at = 1_797_242_400;
    assert_eq!(due, vec![("open".to_string(), Some(due_at)); 3]);
    assert_eq!(sb.run(&["invoice", "mark-paid", "2"]).code, 0);
    assert_eq!(sb.run(&["invoice", "void", "3"]).code, 0);
    sb
}

/// `sb` with its clock at `now`.
fn at<'a>(sb: &'a mut Sandbox, now: &str) -> &'a Sandbox {
    sb.set("HOSS_NOW", now);
    sb
}

fn digest_at(sb: &mut Sandbox, now: &str, week: bool) -> Summary {
    let args: &[&str] = if week {
        &["summary", "--period", "week", "--json"]
    } else {
        &["summary", "--json"]
    };
    at(sb, now).json(args)
}

#[test]
fn an_open_invoice_is_overdue_after_its_due_date_and_a_paid_or_void_one_never() {
    let stub = StripeStub::start();
    let mut sb = three_open_invoices(&stub);
    let billing = |sb: &mut Sandbox, now: &str| -> (i64, i64, i64) {
        let st: Status = at(sb, now).json(&["status", "--json"]);
        (
            st.billing.overdue,
            st.billing.overdue_cents,
            st.billing.outstanding_cents,
        )
    };
    let invoices = |sb: &mut Sandbox, now: &str, week: bool| digest_at(sb, now, week).invoices;
    assert_eq!(billing(&mut sb, BILLED), (0, 0, 15_000));
    assert_eq!(
        billing(&mut sb, DUE),
        (0, 0, 15_000),
        "due at the very second: not yet"
    );
    for later in ["2026-12-14T10:00:01Z", "2027-03-01T00:00:00Z"] {
        assert_eq!(
            billing(&mut sb, later),
            (1, 15_000, 15_000),
            "{later}: Acme's only, never the paid or the void one"
        );
    }
    assert_eq!(
        invoices(&mut sb, DUE, false),
        SummaryInvoices {
            created: 0,
            amount_cents: 0,
            overdue: 0,
            overdue_cents: 0,
            outstanding_cents: 15_000,
        }
    );
    assert_eq!(
        invoices(&mut sb, "2026-12-15T09:00:00Z", false),
        SummaryInvoices {
            created: 0,
            amount_cents: 0,
            overdue: 1,
            overdue_cents: 15_000,
            outstanding_cents: 15_000,
        }
    );
    let week = invoices(&mut sb, "2026-12-16T09:00:00Z", true);
    assert_eq!((week.overdue, week.overdue_cents), (1, 15_000));

    let text = at(&mut sb, "2026-12-15T09:00:00Z").run(&["status"]).stdout;
    assert!(
        text.contains("billing: outstanding 150.00 USD; overdue 1 invoice(s), 150.00 USD"),
        "{text}"
    );
    let digest = sb.run(&["summary"]).stdout;
    assert!(
        digest.contains(
            "invoices:  0 created, 0.00 USD; outstanding 150.00 USD; overdue 1, 150.00 USD"
        ),
        "{digest}"
    );

    // Paying it ends it.
    assert_eq!(sb.run(&["invoice", "mark-paid", "1"]).code, 0);
    assert_eq!(billing(&mut sb, "2026-12-15T09:00:00Z"), (0, 0, 0));
}

#[test]
fn the_digest_names_an_invoice_once_in_the_window_where_it_became_overdue() {
    let stub = StripeStub::start();
    let mut sb = three_open_invoices(&stub);
    let overdue_lines = |sb: &mut Sandbox, now: &str, week: bool| -> Vec<String> {
        digest_at(sb, now, week)
            .attention
            .into_iter()
            .filter(|a| a.contains("overdue"))
            .collect()
    };
    let line = "invoice #1 (Acme, 150.00 USD) is overdue since 2026-12-14: ";
    // Daily digests at 10:00:00 and 10:00:01 around the due second
    // (10:00:00): overdue is `due_at < now`, so the first digest that ends
    // after it names it, and only that one.
    assert!(
        overdue_lines(&mut sb, DUE, false).is_empty(),
        "not yet overdue at the due second"
    );
    let named = overdue_lines(&mut sb, "2026-12-14T10:00:01Z", false);
    assert_eq!(named.len(), 1, "{named:?}");
    assert!(named[0].starts_with(line), "{named:?}");
    assert!(
        named[0]
            .ends_with("no reminders, it was never sent to the customer (`hoss invoice send 1`)"),
        "DRY_RUN never announced it: {named:?}"
    );
    assert_eq!(
        overdue_lines(&mut sb, "2026-12-15T10:00:00Z", false).len(),
        1,
        "the window (12-14 10:00, 12-15 10:00]"
    );
    assert!(
        overdue_lines(&mut sb, "2026-12-15T10:00:01Z", false).is_empty(),
        "the next day's window starts after the due second"
    );
    assert!(overdue_lines(&mut sb, "2026-12-16T09:00:00Z", false).is_empty());
    assert_eq!(
        overdue_lines(&mut sb, "2026-12-16T09:00:00Z", true).len(),
        1,
        "the week still holds it"
    );
    assert!(
        overdue_lines(&mut sb, "2026-12-22T09:00:00Z", true).is_empty(),
        "nor the week after"
    );

    // Announced, reminders follow it as configured.
    sb.db()
        .execute(
            "INSERT INTO send_ledger (at, hour_start, kind, invoice_id, step, recipient, mode, outcome)
             VALUES (?1, ?2, 'invoice', 1, 1, 'pay@acme.com', 'SMTP', 'sent')",
            args![1_796_032_800_i64, 1_796_032_800_i64] // on the hour,
        )
        .unwrap();
    assert_eq!(
        overdue_lines(&mut sb, "2026-12-15T09:00:00Z", false),
        [format!(
            "{line}reminders follow 3, 7, 14 day(s) after it (INVOICE_REMINDER_DAYS)"
        )]
    );
    let off = sb
        .with("INVOICE_EMAILS", "OFF")
        .with("HOSS_NOW", "2026-12-15T09:00:00Z");
    let digest = off.run(&["summary"]).stdout;
    assert!(
        digest.contains(&format!("  ! {line}no reminders (INVOICE_EMAILS=OFF)")),
        "{digest}"
    );
}

#[test]
fn status_warns_about_passes_that_stopped_running() {
    let sb = Sandbox::new().with("HOSS_NOW", NOW);
    sb.run(&["send-outreach"]);
    let later = sb.with("HOSS_NOW", "2026-11-25T16:30:00Z");
    let st: Status = later.json(&["status", "--json"]);
    assert!(
        st.warnings
            .iter()
            .any(|w| w.starts_with("send-outreach has not run for 2h")),
        "{:?}",
        st.warnings
    );
}

#[test]
fn status_draws_tables_on_a_terminal_and_plain_text_in_a_pipe() {
    let sb = Sandbox::new().with("NO_COLOR", "1");
    sb.run(&["source-leads"]);
    let piped = sb.run(&["status"]);
    assert_eq!(piped.code, 0);
    assert!(
        !piped.stdout.contains('│') && !piped.stdout.contains('─'),
        "{}",
        piped.stdout
    );
    assert!(
        piped.stdout.contains("subsystem  requested"),
        "{}",
        piped.stdout
    );
    // A real pseudo-terminal, 80 columns wide.
    let tty = in_pty(&sb, "cols 80", "", "status");
    assert!(tty.contains('│') && tty.contains('─'), "{tty}");
    assert!(!tty.contains("\u{1b}["), "NO_COLOR: no escape sequences");
    for line in tty.lines().filter(|l| l.contains('│')) {
        assert!(
            line.chars().count() <= 80,
            "wider than the terminal: {line}"
        );
    }
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/target")).unwrap();
    std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/status-tty.txt"),
        &tty,
    )
    .unwrap();
}

#[test]
fn cycle_runs_every_step_in_order_and_records_each() {
    let trap = Trap::start();
    let mut sb = Sandbox::new();
    trap.arm(&mut sb);
    let report: Value = sb.json(&["cycle", "--json"]);
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "source-leads",
            "sync-inbox",
            "send-outreach",
            "onboard",
            "ops",
            "bill",
            "portal-export"
        ]
    );
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] == "ok"),
        "{report}"
    );
    assert_eq!(report["steps"][0]["report"]["created"], 10);
    assert_eq!(report["steps"][1]["report"]["mode"], "OFF");
    assert_eq!(report["steps"][2]["report"]["dry_run"], 10);
    assert_eq!(report["exit_code"], 0);
    let st: Status = sb.json(&["status", "--json"]);
    for step in steps {
        assert_eq!(st.runs[step].outcome, "ok", "{step}");
    }
    let text = sb.run(&["cycle"]).stdout;
    assert_eq!(text.lines().count(), 7, "one line per step: {text}");
    assert_eq!(trap.connections(), 0);
}

#[test]
fn a_failing_or_busy_step_does_not_stop_the_others() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path("portal")).unwrap();
    std::fs::write(sb.path("portal/mine.txt"), "not hoss's").unwrap();
    let _held = sb.hold_lock("send-outreach");
    let out = sb.run(&["cycle", "--json"]);
    assert_eq!(out.code, 78, "the worst step code: {out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let outcome = |i: usize| report["steps"][i]["outcome"].as_str().unwrap().to_string();
    assert_eq!(outcome(0), "ok");
    assert_eq!(outcome(2), "busy");
    assert_eq!(
        (outcome(5), outcome(6)),
        ("ok".to_string(), "error".to_string())
    );
    assert!(
        report["steps"][6]["error"]
            .as_str()
            .unwrap()
            .contains("refusing to replace")
    );
    assert_eq!(out.log_lines("[LOCK][BUSY] command=send-outreach").len(), 1);
}

#[test]
fn cycle_pings_the_healthcheck_and_never_fails_on_a_bad_ping() {
    let server = FakeServer::answering(200, "OK");
    let sb = Sandbox::new().with("HEALTHCHECK_URL", &format!("{}/ping/abc", server.url));
    assert_eq!(sb.run(&["cycle"]).code, 0);
    let urls: Vec<String> = server.requests().iter().map(|r| r.url.clone()).collect();
    assert_eq!(urls, ["/ping/abc/start", "/ping/abc"]);
    assert!(server.requests()[1].body.contains("source-leads"));

    std::fs::create_dir(sb.path("portal-x")).unwrap();
    std::fs::write(sb.path("portal-x/mine.txt"), "x").unwrap();
    let failing = sb.with("PORTAL_DIR", "portal-x");
    assert_eq!(failing.run(&["cycle"]).code, 78);
    assert_eq!(server.requests().last().unwrap().url, "/ping/abc/fail");

    let port = closed_addr().port();
    let unreachable = Sandbox::new().with("HEALTHCHECK_URL", &format!("http://127.0.0.1:{port}/x"));
    let out = unreachable.run(&["cycle"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.log_lines("[PING][FAIL]").len(), 2, "{}", out.stderr);

    let trap = Trap::start();
    let dry = Sandbox::new()
        .with("HEALTHCHECK_URL", &trap.url("/x"))
        .with("DRY_RUN", "TRUE");
    assert_eq!(dry.run(&["cycle"]).code, 0);
    assert_eq!(trap.connections(), 0, "no pings under DRY_RUN");
}

#[test]
fn the_digest_email_goes_to_the_operator_outside_the_outreach_quota() {
    let dry = Sandbox::new();
    let out = dry.run(&["summary", "--email", "--json"]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.log_lines("[SUMMARY][DRY_RUN]").len(),
        1,
        "{}",
        out.stderr
    );
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["email"]["outcome"], "dry_run");

    let server = FakeServer::sendgrid();
    let sb = Sandbox::new()
        .email_via_sendgrid(&server.url)
        .with("SENDGRID_API_KEY", "SG.k")
        .with("OPERATOR_EMAIL", "boss@hoss-operator.com")
        .with("MAX_EMAILS_PER_HOUR", "1");
    let report: Value = sb.json(&["summary", "--email", "--json"]);
    assert_eq!(report["email"]["outcome"], "sent");
    let body = server.requests()[0].json();
    assert_eq!(
        body["personalizations"][0]["to"][0]["email"],
        "boss@hoss-operator.com"
    );
    assert!(
        body["subject"]
            .as_str()
            .unwrap()
            .starts_with("[SUMMARY] hoss daily digest")
    );
    assert!(
        body["content"][0]["value"]
            .as_str()
            .unwrap()
            .contains("emails:")
    );
    assert!(
        body.get("headers").is_none(),
        "no unsubscribe headers on operator mail"
    );
    sb.run(&[
        "lead",
        "add",
        "--email",
        "p@client.com",
        "--company",
        "Client",
        "--name",
        "Pat",
    ]);
    let sent: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(sent["sent"], 1, "the digest used no outreach quota: {sent}");
    let st: Value = sb.json(&["status", "--json"]);
    assert_eq!(st["email"]["recent_attempts"][1]["kind"], "summary");
    // The hour is full for outreach; the operator's own mail still goes.
    let test = sb.run(&[
        "send-test-email",
        "--to",
        "boss@hoss-operator.com",
        "--json",
    ]);
    assert_eq!(test.code, 0, "{test:?}");
    assert_eq!(
        sb.json::<Value>(&["status", "--json"])["email"]["sent_this_hour"],
        1
    );
    let report: Value = sb.json(&["summary", "--email", "--json"]);
    assert_eq!(report["email"]["outcome"], "sent");
    let e = &report["emails"];
    assert_eq!(
        (
            e["total"].as_i64(),
            e["outreach"].as_i64(),
            e["tests"].as_i64(),
            e["digests"].as_i64()
        ),
        (Some(2), Some(1), Some(1), Some(1)),
        "{e}"
    );
    let requests = server.requests();
    let digest = requests.last().unwrap().json();
    let text = digest["content"][0]["value"].as_str().unwrap();
    assert!(text.contains("(1 outreach, 1 test)"), "{text}");
    assert!(
        !text.contains("\n-- \n") && !text.contains("unsubscribe"),
        "no outreach footer: {text}"
    );
    assert!(text.lines().all(|l| l.chars().count() <= 998));
}

#[test]
fn the_digest_keeps_long_table_lines_whole() {
    let server = FakeServer::sendgrid();
    let sb = Sandbox::new()
        .email_via_sendgrid(&server.url)
        .with("SENDGRID_API_KEY", "SG.k");
    // A long attention line (an invoice outside the limits) would be wrapped
    // at 78 columns in outreach; the digest keeps it on one line.
    let report: Value = sb.json(&["summary", "--email", "--json"]);
    assert_eq!(report["email"]["outcome"], "sent");
    let body = server.requests()[0].json();
    let text = body["content"][0]["value"].as_str().unwrap();
    let emails_line = text.lines().find(|l| l.starts_with("emails:")).unwrap();
    assert!(
        emails_line.chars().count() > 78,
        "one line, unwrapped: {text}"
    );
}

fn script(name: &str) {
    let out = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/").to_string() + name)
        .env("HOSS_BIN", BIN)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name} failed:\n{text}");
}

#[test]
fn the_demo_script_runs_the_whole_pipeline() {
    script("demo.sh");
}

#[test]
fn the_dry_run_smoke_script_passes() {
    script("smoke-dry-run.sh");
}

#[test]
fn the_release_simulation_smoke_script_passes() {
    script("smoke-release-sim.sh");
}

#[test]
fn ledgers_are_pruned_after_the_retention_window() {
    let sb = Sandbox::new()
        .with("HOSS_NOW", NOW)
        .with("LEDGER_RETENTION_DAYS", "35");
    sb.run(&["check"]);
    let db = sb.db();
    for (at, id) in [
        (T - 36 * 86_400, "evt_old"),
        (T - 34 * 86_400, "evt_recent"),
    ] {
        db.execute(
            "INSERT INTO send_ledger (at, hour_start, kind, recipient, mode, outcome) VALUES (?1, ?1, 'outreach', 'x@y.com', 'SMTP', 'sent')",
            args![at],
        )
        .unwrap();
        db.execute(
            "INSERT INTO stripe_event (event_id, type, received_at, outcome) VALUES (?1, 'x', ?2, 'ignored')",
            args![id, at],
        )
        .unwrap();
    }
    // An abandoned reservation is first declared uncertain, then ages out
    // like any row (its lead stays `email_failed`, which is what stops a resend).
    db.execute(
        "INSERT INTO send_ledger (at, hour_start, kind, recipient, mode, outcome) VALUES (?1, ?1, 'outreach', 'z@y.com', 'SMTP', 'reserved')",
        args![T - 40 * 86_400],
    )
    .unwrap();
    let out = sb.run(&["send-outreach"]);
    assert_eq!(
        out.log_lines("[EMAIL][UNCERTAIN] lead_id=- email=z@y.com")
            .len(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(
        out.log_lines("[EMAIL][LEDGER_PRUNED] rows=2").len(),
        1,
        "{}",
        out.stderr
    );
    sb.run(&["bill"]);
    let (ledger, events): (i64, i64) = db
        .query_row("SELECT (SELECT COUNT(*) FROM send_ledger WHERE outcome <> 'dry_run'), (SELECT COUNT(*) FROM stripe_event)", args![], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(
        (ledger, events),
        (1, 1),
        "only the rows inside the window stay"
    );
}

#[test]
fn a_busy_pass_still_answers_json() {
    let sb = Sandbox::new();
    let _held = sb.hold_lock("bill");
    let v: Value = sb.json(&["bill", "--json"]);
    assert_eq!(
        (v["command"].as_str(), v["outcome"].as_str()),
        (Some("bill"), Some("busy"))
    );
    // A run that was skipped does not hide a pass that stopped running.
    let st: Value = sb.json(&["status", "--json"]);
    assert_eq!(st["runs"]["bill"]["outcome"], "busy");
}

#[test]
fn lists_page_the_same_way_and_never_cut_silently() {
    let sb = Sandbox::new();
    let mut csv = String::from("name,email,company\n");
    for i in 1..=130 {
        let company = if i == 77 {
            "Fifty%Off Deals".to_string()
        } else {
            format!("Company {i}")
        };
        csv.push_str(&format!("Person {i},p{i}@c{i}.com,{company}\n"));
    }
    std::fs::write(sb.path("leads.csv"), csv).unwrap();
    assert_eq!(sb.run(&["lead", "import", "leads.csv"]).code, 0);
    let ids = |out: &crate::harness::Output| -> Vec<i64> {
        serde_json::from_str::<Vec<Value>>(&out.stdout)
            .unwrap()
            .iter()
            .map(|l| l["id"].as_i64().unwrap())
            .collect()
    };
    let first = sb.run(&["lead", "list", "--json"]);
    assert_eq!(ids(&first), (1..=100).collect::<Vec<_>>());
    assert_eq!(
        first.stderr.trim(),
        "showing 1–100 of 130; --offset 100 for more"
    );
    let rest = sb.run(&["lead", "list", "--offset", "100", "--json"]);
    assert_eq!(ids(&rest), (101..=130).collect::<Vec<_>>());
    assert_eq!(rest.stderr, "", "everything shown: no note");
    let newest = sb.run(&["lead", "list", "--newest", "--limit", "3", "--json"]);
    assert_eq!(ids(&newest), vec![130, 129, 128]);
    assert!(
        newest.stderr.contains("showing 1–3 of 130, newest first"),
        "{}",
        newest.stderr
    );
    let past = sb.run(&["lead", "list", "--offset", "500"]);
    assert!(
        past.stderr
            .contains("nothing at --offset 500: there are 130"),
        "{}",
        past.stderr
    );
    // --search reads the text literally, over email, name and company.
    assert_eq!(
        ids(&sb.run(&["lead", "list", "--search", "%off", "--json"])),
        vec![77]
    );
    assert_eq!(
        ids(&sb.run(&["lead", "list", "--search", "p12@", "--json"])),
        vec![12]
    );
    assert_eq!(
        ids(&sb.run(&["lead", "list", "--search", "PERSON 13", "--json"])),
        vec![13, 130]
    );
    // Every list takes the same flags.
    for i in 1..=3 {
        sb.run(&["suppress", "add", &format!("s{i}@x.com")]);
    }
    let sup = sb.run(&["suppress", "list", "--limit", "2", "--newest", "--json"]);
    let list: Vec<Value> = serde_json::from_str(&sup.stdout).unwrap();
    assert_eq!(list.len(), 2);
    assert!(
        sup.stderr.contains("showing 1–2 of 3, newest first"),
        "{}",
        sup.stderr
    );
    for args in [
        &[
            "customer", "list", "--limit", "1", "--offset", "0", "--newest",
        ][..],
        &["task", "list", "--limit", "1", "--offset", "0", "--newest"],
        &[
            "invoice", "list", "--limit", "1", "--offset", "0", "--newest",
        ],
    ] {
        assert_eq!(sb.run(args).code, 0, "{args:?}");
    }
}

#[test]
fn leads_customers_and_tasks_are_managed_by_id_or_email() {
    let sb = Sandbox::new();
    for (email, company) in [
        ("ann@acme.com", "Acme"),
        ("bo@bolt.com", "Bolt"),
        ("cy@crux.com", "Crux"),
    ] {
        assert_eq!(
            sb.run(&["lead", "add", "--email", email, "--company", company])
                .code,
            0
        );
    }
    // Edit by address: normalised like a new lead, the domain follows the website.
    let edited: Value = sb.json(&[
        "lead",
        "edit",
        "ANN@acme.com",
        "--name",
        "Ann Lee",
        "--company",
        "Acme Widgets, LLC",
        "--website",
        "https://www.acme-widgets.com/about",
        "--json",
    ]);
    assert_eq!(
        (
            edited["name"].as_str(),
            edited["company"].as_str(),
            edited["domain"].as_str()
        ),
        (
            Some("Ann Lee"),
            Some("Acme Widgets, LLC"),
            Some("acme-widgets.com")
        )
    );
    let cleared: Value = sb.json(&["lead", "edit", "1", "--name", "", "--json"]);
    assert_eq!(cleared["name"], Value::Null);
    let clash = sb.run(&[
        "lead",
        "edit",
        "2",
        "--company",
        "Acme Widgets",
        "--website",
        "acme-widgets.com",
    ]);
    assert_eq!(clash.code, 65, "{clash:?}");
    assert!(
        clash.stderr.contains("another active lead"),
        "{}",
        clash.stderr
    );
    assert_eq!(sb.run(&["lead", "edit", "2"]).code, 2, "nothing to change");
    assert_eq!(
        sb.run(&["lead", "edit", "nobody@x.com", "--name", "X"])
            .code,
        65
    );

    // Bulk status: a count first, nothing changed without --yes.
    let dry: Value = sb.json(&[
        "lead",
        "set-status",
        "--where-status",
        "new",
        "dead",
        "--json",
    ]);
    assert_eq!(
        (
            dry["matched"].as_i64(),
            dry["changed"].as_i64(),
            dry["dry_run"].as_bool()
        ),
        (Some(3), Some(0), Some(true))
    );
    assert_eq!(
        sb.json::<Value>(&["lead", "show", "bo@bolt.com", "--json"])["status"],
        "new"
    );
    let done: Value = sb.json(&[
        "lead",
        "set-status",
        "--where-status",
        "new",
        "dead",
        "--yes",
        "--json",
    ]);
    assert_eq!(
        (done["matched"].as_i64(), done["changed"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(
        sb.json::<Value>(&["lead", "show", "cy@crux.com", "--json"])["status"],
        "dead"
    );
    // Back to new: a lead that was emailed is skipped with its reason, the rest move.
    sb.db()
        .execute(
            "UPDATE lead SET last_contacted_at = 1 WHERE email = 'bo@bolt.com'",
            args![],
        )
        .unwrap();
    let back: Value = sb.json(&[
        "lead",
        "set-status",
        "--where-status",
        "dead",
        "new",
        "--yes",
        "--json",
    ]);
    assert_eq!(
        (back["changed"].as_i64(), back["skipped_total"].as_i64()),
        (Some(2), Some(1)),
        "{back}"
    );
    assert_eq!(back["skipped"][0]["lead_id"], 2);
    assert!(
        back["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("at most once"),
        "{back}"
    );
    assert_eq!(
        sb.run(&[
            "lead",
            "set-status",
            "--where-status",
            "new",
            "converted",
            "--yes"
        ])
        .code,
        2
    );
    assert_eq!(sb.run(&["lead", "set-status", "1"]).code, 2);

    // Customers pause; a paused customer's pending work is not run by ops.
    sb.run(&[
        "customer",
        "add",
        "--company",
        "Acme",
        "--email",
        "ap@acme.com",
    ]);
    sb.run(&[
        "task",
        "add",
        "--customer",
        "1",
        "--description",
        "Setup",
        "--amount",
        "10",
    ]);
    let paused: Value = sb.json(&["customer", "set-status", "1", "paused", "--json"]);
    assert_eq!(paused["status"], "paused", "{paused}");
    let ops = sb
        .command(&["ops", "--json"])
        .env("OPS_EXECUTOR_CMD", "cat >/dev/null; echo ok")
        .output()
        .unwrap();
    assert!(ops.status.success());
    assert_eq!(
        sb.json::<Value>(&["task", "list", "--json"])[0]["status"],
        "pending"
    );
    assert_eq!(sb.run(&["customer", "set-status", "1", "gone"]).code, 2);
    sb.run(&["customer", "set-status", "1", "active"]);
    // A failed task can be retried; others cannot.
    let fail = sb
        .command(&["ops", "--json"])
        .env("OPS_EXECUTOR_CMD", "cat >/dev/null; exit 3")
        .output()
        .unwrap();
    assert!(fail.status.success());
    assert_eq!(
        sb.json::<Value>(&["task", "list", "--json"])[0]["status"],
        "failed"
    );
    let retried: Value = sb.json(&["task", "retry", "1", "--json"]);
    assert_eq!(
        (retried["status"].as_str(), retried["error"].as_str()),
        (Some("pending"), None),
        "{retried}"
    );
    assert_eq!(
        sb.run(&["task", "retry", "1"]).code,
        65,
        "a pending task is not retried"
    );
}

/// `hoss ARGS` in a real pseudo-terminal set up by `stty SETTINGS`.
fn in_pty(sb: &Sandbox, stty: &str, env: &str, args: &str) -> String {
    let script = format!(
        "stty {stty}; env -i PATH=\"$PATH\" NO_COLOR=1 {env} HOSS_DB={} HOSS_LOCK_DIR={} {} {BIN} {args}",
        sb.path("hoss.db").display(),
        sb.path("locks").display(),
        sb.envs()
            .get("DATABASE_URL")
            .map_or(String::new(), |url| format!("DATABASE_URL='{url}'"))
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &script, "/dev/null"])
        .current_dir(sb.dir.path())
        .output()
        .expect("script(1) from util-linux");
    let tty = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(out.status.success(), "{tty}");
    tty
}

#[test]
fn a_terminal_without_a_size_still_gets_readable_tables() {
    let sb = Sandbox::new();
    let email = "procurement@a-long-company-name.com";
    // As long as the simulated leads' addresses, with names to match.
    let long = "priya.clark@trueline-advisory-studio48123.example";
    for (address, company, name) in [
        (email, "A Company With A Long Name", "Pat Example"),
        (long, "Sterlinggate Analytics Cedarline", "Priya Clark"),
    ] {
        let out = sb.run(&[
            "lead",
            "add",
            "--email",
            address,
            "--company",
            company,
            "--name",
            name,
        ]);
        assert_eq!(out.code, 0, "{out:?}");
    }
    for (stty, env, widest) in [
        ("cols 0 rows 0", "", 100),
        ("cols 0 rows 0", "COLUMNS=90", 90),
        ("cols 80", "", 80),
        ("cols 60", "", 60),
    ] {
        for args in ["lead list", "status"] {
            let tty = in_pty(&sb, stty, env, args);
            // Tables (and the lists that fall back to one block per row)
            // fit; status's prose lines wrap in the terminal as prose does.
            for line in tty.lines().filter(|l| args != "status" || l.contains('│')) {
                assert!(
                    line.chars().count() <= widest,
                    "{args} {stty} {env}: wider than {widest}: {line}\n{tty}"
                );
            }
            if args == "status" {
                continue;
            }
            for whole in [email, long] {
                assert!(
                    tty.contains(whole),
                    "{stty} {env}: the address is whole on one line:\n{tty}"
                );
            }
            for word in [
                "Pat Example",
                "A Company With",
                "Sterlinggate",
                "Analytics",
                "Cedarline",
                "Priya Clark",
            ] {
                assert!(tty.contains(word), "{stty} {env}: {word} is cut:\n{tty}");
            }
        }
    }
}

#[test]
fn late_passes_follow_the_configured_schedule_and_a_release_pipeline_that_never_ran_is_named() {
    let warnings = |sb: &Sandbox| -> Vec<String> {
        let st: Value = sb.json(&["status", "--json"]);
        serde_json::from_value(st["warnings"].clone()).unwrap()
    };
    // Release mode on a fresh database: nothing has ever run.
    let fresh = Sandbox::new().with("RELEASE_MODE", "TRUE");
    assert!(
        warnings(&fresh)
            .iter()
            .any(|w| w.contains("no pass has ever run")),
        "{:?}",
        warnings(&fresh)
    );
    fresh.run(&["cycle"]);
    assert!(!warnings(&fresh).iter().any(|w| w.contains("never run")));

    // Outreach on business days only, every 16 h at most: a night is not late.
    let sb = Sandbox::new()
        .with("HOSS_NOW", NOW)
        .with("EXPECT_EVERY", "send-outreach=16h, cycle=1d");
    sb.run(&["send-outreach"]);
    let night = sb.with("HOSS_NOW", "2026-11-26T02:00:00Z");
    assert!(
        !warnings(&night)
            .iter()
            .any(|w| w.contains("send-outreach has not run")),
        "{:?}",
        warnings(&night)
    );
    let days = night.with("HOSS_NOW", "2026-11-27T02:00:00Z");
    assert!(
        warnings(&days)
            .iter()
            .any(|w| w.starts_with("send-outreach has not run for 35h")),
        "{:?}",
        warnings(&days)
    );
    // A schedule that cannot be read keeps the default and says so.
    let bad = days.with("EXPECT_EVERY", "send-outreach=often");
    let out = bad.run(&["send-outreach"]);
    assert_eq!(
        out.log_lines("[CONFIG][INVALID] EXPECT_EVERY").len(),
        1,
        "{}",
        out.stderr
    );
}

#[test]
fn backup_copies_the_database_while_a_writer_holds_it_and_never_overwrites() {
    let sb = Sandbox::new();
    sb.run(&["source-leads"]);
    // Another process is in the middle of a write transaction.
    let writer = sb.db();
    writer.begin_write("BEGIN IMMEDIATE").unwrap();
    writer
        .execute(
            "INSERT INTO lead (email, company, source, created_at) VALUES ('half@way.com', 'H', 'manual', 0)",
            args![],
        )
        .unwrap();
    let out = sb.run(&["backup", "backups-1.db", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(report["bytes"].as_u64().unwrap() > 0);
    writer.execute_batch("COMMIT").unwrap();
    // The copy is a whole hoss database of what was committed.
    let copy = sb.path("backups-1.db");
    let listed = sb
        .command(&["lead", "list", "--json"])
        .env("HOSS_DB", &copy)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let leads: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        leads.len(),
        10,
        "the committed leads, not the half-written one"
    );
    let again = sb.run(&["backup", "backups-1.db"]);
    assert_eq!(again.code, 65, "{again:?}");
    assert!(
        again.stderr.contains("never overwrites"),
        "{}",
        again.stderr
    );
}

/// The schedule lines of scripts/crontab.example, as (schedule, command).
fn crontab_lines() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/crontab.example"
    ))
    .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && !l.contains('='))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields[..5].join(" "), fields[5..].join(" "))
        })
        .collect()
}

#[test]
fn the_crontab_example_runs_as_written_each_pass_on_its_own() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let sb = Sandbox::new();
    // An env file as the README describes it: quoted values with spaces,
    // `#` and `$` in them.
    std::fs::write(
        sb.path("hoss.env"),
        format!(
            "HOSS_DB={}\nHOSS_LOCK_DIR={}\nCOMPANY_POSTAL_ADDRESS='1 Main St #4, Springfield'\nBIZDEV_OFFER='ops that cost less than $100'\nEXPECT_EVERY='send-outreach=64h,source-leads=30m,bill=30m'\n",
            sb.path("hoss.db").display(),
            sb.path("locks").display()
        ),
    )
    .unwrap();
    let lines = crontab_lines();
    assert!(
        lines
            .iter()
            .any(|(when, what)| when == "0 9-17 * * 1-5" && what.ends_with("send-outreach")),
        "{lines:?}"
    );
    for (_, command) in &lines {
        let command = command
            .replace("/srv/hoss/scripts", &format!("{repo}/scripts"))
            .replace("/srv/hoss", sb.dir.path().to_str().unwrap())
            .replace("\\%", "%");
        let out = std::process::Command::new("bash")
            .args(["-c", &command])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOSS_HOME", sb.dir.path())
            .env("HOSS_BIN", BIN)
            .output()
            .unwrap();
        assert!(out.status.success(), "{command}: {out:?}");
    }
    for log in [
        "send-outreach",
        "sync-inbox",
        "source-leads",
        "onboard",
        "ops",
        "bill",
        "portal-export",
        "summary",
        "backup",
    ] {
        let text = std::fs::read_to_string(sb.path(&format!("logs/{log}.log")))
            .unwrap_or_else(|e| panic!("{log}: {e}"));
        assert!(text.contains("=== exit 0"), "{log}: {text}");
    }
    let day = std::fs::read_dir(sb.path("backups")).unwrap().count();
    assert_eq!(day, 1, "tonight's backup");
    // The env file's quoted values arrived whole.
    let cfg: Value = serde_json::from_slice(
        &std::process::Command::new(format!("{repo}/scripts/hoss-cron.sh"))
            .args(["check", "--json"])
            .env("HOSS_HOME", sb.dir.path())
            .env("HOSS_BIN", BIN)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap_or(Value::Null);
    assert_eq!(cfg, Value::Null, "hoss-cron writes to the log, not stdout");
    let check = std::fs::read_to_string(sb.path("logs/check.log")).unwrap();
    assert!(check.contains("\"ok\":true"), "{check}");
    let preview = std::process::Command::new(format!("{repo}/scripts/hoss-cron.sh"))
        .args(["preview", "1"])
        .env("HOSS_HOME", sb.dir.path())
        .env("HOSS_BIN", BIN)
        .status()
        .unwrap();
    assert!(preview.success());
    let message = std::fs::read_to_string(sb.path("logs/preview.log")).unwrap();
    assert!(message.contains("1 Main St #4, Springfield"), "{message}");
    // A pass that fails says so in its log and its exit code; the others ran.
    std::fs::write(sb.path("hoss.env"), "HOSS_DB=/nonexistent-dir/hoss.db\n").unwrap();
    let failed = std::process::Command::new(format!("{repo}/scripts/hoss-cron.sh"))
        .arg("bill")
        .env("HOSS_HOME", sb.dir.path())
        .env("HOSS_BIN", BIN)
        .status()
        .unwrap();
    assert_eq!(failed.code(), Some(78));
    assert!(
        std::fs::read_to_string(sb.path("logs/bill.log"))
            .unwrap()
            .contains("=== exit 78")
    );
}

#[test]
fn the_readme_quick_tour_runs_as_written_on_defaults() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let tour = readme.split("## Quick tour").nth(1).unwrap();
    let block = tour
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let sb = Sandbox::new();
    let mut ran = 0;
    for line in block.lines() {
        // The command, without its comment (a `#` after two spaces).
        let command = line.split("  #").next().unwrap().trim();
        let Some(args) = command.strip_prefix("hoss ") else {
            continue;
        };
        let out = std::process::Command::new("bash")
            .args(["-c", &format!("{BIN} {args}")])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .envs(sb.envs())
            .current_dir(sb.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{command}: {out:?}");
        ran += 1;
    }
    assert!(ran >= 10, "{block}");
    let invoices: Vec<Value> = sb.json(&["invoice", "list", "--json"]);
    assert_eq!(invoices.len(), 1, "the tour ends with an invoice");
    assert!(sb.path("portal").exists());
}

/// replit.md's env file, sourced the way scripts/hoss-cron.sh does, is a
/// working email setup: copied as written (with a real key in place of the
/// placeholder) it must not leave email falling back to DRY_RUN.
#[test]
fn the_replit_env_file_example_is_a_complete_email_setup() {
    let notes = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/replit.md")).unwrap();
    let block = notes
        .split("**The env file.**")
        .nth(1)
        .unwrap()
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let sb = Sandbox::new();
    std::fs::write(sb.path("hoss.env"), block).unwrap();
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!("set -a; . ./hoss.env; set +a; {BIN} check --json"),
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .envs(sb.envs())
        .current_dir(sb.dir.path())
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let email = &report["subsystems"]["email"];
    assert_eq!(email["effective"], email["requested"], "{report}");
    // The minimum-environment table names everything real email needs.
    let table = notes
        .split("**Minimum environment for real sending and billing**")
        .nth(1)
        .unwrap();
    let sendgrid = table
        .lines()
        .find(|l| l.starts_with("| email via SendGrid"))
        .unwrap();
    for key in ["SENDER_NAME", "COMPANY_NAME", "SENDGRID_FROM_EMAIL"] {
        assert!(sendgrid.contains(key), "{key} missing: {sendgrid}");
    }
}
