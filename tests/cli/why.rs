//! `hoss why` and `hoss plan` (SPEC §14) as the operator sees them: each
//! rule named with when it lifts, from the database alone, and a plan that
//! is what the next `send-outreach` pass then really sends. The sandbox
//! lifts the §14 rules; each test sets back the ones it is about.

use serde_json::Value;

use crate::harness::{FakeServer, Sandbox, Trap};

/// Wednesday 2026-11-25T14:00:05Z: inside `Mon-Fri 08:00-17:00` in UTC and
/// in New York.
const T: &str = "2026-11-25T14:00:05Z";

/// Real email through a SendGrid stand-in, no pauses between sends.
fn sendgrid(url: &str) -> Sandbox {
    Sandbox::new()
        .email_via_sendgrid(url)
        .with("SENDGRID_API_KEY", "SG.test-key")
        .with("EMAIL_SEND_DELAY_MIN", "0")
        .with("EMAIL_SEND_DELAY_MAX", "0")
        .with("HOSS_NOW", T)
}

/// Imports `rows` (`name,email,company`), in order: lead ids from 1.
fn leads(sb: &Sandbox, rows: &[&str]) {
    let csv = format!("name,email,company\n{}\n", rows.join("\n"));
    std::fs::write(sb.path("leads.csv"), csv).unwrap();
    let out = sb.run(&["lead", "import", "leads.csv"]);
    assert_eq!(out.code, 0, "{out:?}");
}

fn why(sb: &Sandbox, lead: &str) -> Value {
    sb.json(&["why", lead, "--json"])
}

/// (rule, until) of every rule that holds the lead back.
fn rules(report: &Value) -> Vec<(String, Option<String>)> {
    report["blocked_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["rule"].as_str().unwrap().to_string(),
                b["until"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn owned(v: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    v.iter()
        .map(|(r, u)| (r.to_string(), u.map(str::to_string)))
        .collect()
}

/// (to, subject) of each planned send, in order.
fn planned(plan: &Value) -> Vec<(String, String)> {
    plan["would_send"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["to"].as_str().unwrap().to_string(),
                p["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// (to, subject) of each message the SendGrid stand-in accepted, in order.
fn received(server: &FakeServer) -> Vec<(String, String)> {
    server
        .mail_sends()
        .iter()
        .map(|r| {
            (
                r.mail_to(),
                r.json()["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_lead_outside_its_window_waits_for_the_next_opening_in_its_zone() {
    let server = FakeServer::sendgrid();
    // Saturday afternoon: New York's window opens Monday 08:00 EST.
    let sb = sendgrid(&server.url)
        .with("HOSS_NOW", "2026-11-28T15:00:00Z")
        .with("SEND_WINDOW", "Mon-Fri 08:00-17:00")
        .with("SEND_TIMEZONE", "America/New_York");
    leads(&sb, &["Ann,ann@acme-widgets.com,Acme"]);
    let report = why(&sb, "1");
    assert_eq!(
        (
            report["lead_id"].as_i64(),
            report["status"].as_str(),
            report["step"].as_i64(),
            report["sendable_now"].as_bool()
        ),
        (Some(1), Some("new"), Some(1), Some(false))
    );
    assert!(report["next_due_at"].is_null(), "{report}");
    assert_eq!(
        rules(&report),
        owned(&[("window", Some("2026-11-30T13:00:00Z"))])
    );
    let detail = report["blocked_by"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("Mon-Fri 08:00-17:00") && detail.contains("America/New_York"),
        "{detail}"
    );
    // The same lead named by its address, for a person.
    let text = sb.run(&["why", "ann@acme-widgets.com"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains("window") && text.stdout.contains("2026-11-30T13:00:00Z"),
        "{}",
        text.stdout
    );
    // The pass agrees: nothing is attempted, nothing reaches SendGrid.
    let plan: Value = sb.json(&["plan", "--json"]);
    assert_eq!(plan["waiting"], serde_json::json!({"window": 1}));
    assert!(planned(&plan).is_empty());
    let pass: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(
        (pass["attempted"].as_i64(), pass["waiting"].as_i64()),
        (Some(0), Some(1))
    );
    assert!(server.mail_sends().is_empty());
    // Monday morning in New York it goes.
    let monday = sb.with("HOSS_NOW", "2026-11-30T13:00:00Z");
    assert_eq!(why(&monday, "1")["sendable_now"], true);
}

#[test]
fn a_suppressed_address_is_named_and_an_unknown_lead_is_bad_input() {
    let server = FakeServer::sendgrid();
    let sb = sendgrid(&server.url);
    leads(&sb, &["Ann,ann@acme-widgets.com,Acme"]);
    let out = sb.run(&["suppress", "add", "ann@acme-widgets.com"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report = why(&sb, "ann@acme-widgets.com");
    assert_eq!(report["sendable_now"], false);
    let rules: Vec<String> = rules(&report).into_iter().map(|(r, _)| r).collect();
    assert_eq!(rules, ["status", "suppressed"], "{report}");
    assert!(
        report["blocked_by"][1]["detail"]
            .as_str()
            .unwrap()
            .starts_with("suppressed"),
        "{report}"
    );
    let missing = sb.run(&["why", "99", "--json"]);
    assert_eq!(missing.code, 65, "{missing:?}");
    let bad_time = sb.run(&["plan", "--at", "tomorrow"]);
    assert_eq!(bad_time.code, 2, "{bad_time:?}");
}

#[test]
fn under_dry_run_every_lead_waits_on_the_mode_and_nothing_is_contacted() {
    let mut sb = Sandbox::new().with("HOSS_NOW", T);
    let trap = Trap::start();
    trap.arm(&mut sb);
    leads(
        &sb,
        &["Ann,ann@acme-widgets.com,Acme", "Bo,bo@bolt.io,Bolt"],
    );
    let report = why(&sb, "2");
    assert_eq!(rules(&report), owned(&[("mode", None)]));
    let plan: Value = sb.json(&["plan", "--json"]);
    assert_eq!(plan["mode"], "DRY_RUN");
    assert_eq!(plan["waiting"], serde_json::json!({"mode": 2}));
    assert!(planned(&plan).is_empty());
    assert_eq!(trap.connections(), 0);
    // Both only look: no run is recorded for them.
    let status: Value = sb.json(&["status", "--json"]);
    let runs = status["runs"].as_object().unwrap();
    assert!(
        !runs.contains_key("why") && !runs.contains_key("plan"),
        "{runs:?}"
    );
}

#[test]
fn a_second_lead_at_a_company_domain_contacted_today_waits_a_day_for_domain_new_cap() {
    let server = FakeServer::sendgrid();
    let sb = sendgrid(&server.url)
        .with("MAX_NEW_CONTACTS_PER_DOMAIN_PER_DAY", "1")
        .with("MAX_EMAILS_PER_CYCLE", "1");
    leads(
        &sb,
        &[
            "Ann,ann@acme-widgets.com,Acme Widgets",
            "Bo,bo@acme-widgets.com,Acme Widgets Sales",
        ],
    );
    assert_eq!(why(&sb, "2")["sendable_now"], true);
    let pass: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(pass["sent"], 1, "{pass}");
    let report = why(&sb, "bo@acme-widgets.com");
    assert_eq!(
        rules(&report),
        owned(&[("domain_new_cap", Some("2026-11-26T14:00:05Z"))])
    );
    let first = why(&sb, "1");
    assert_eq!(
        (
            first["status"].as_str(),
            first["sequence"].as_str(),
            first["step"].as_i64(),
            first["next_due_at"].as_str()
        ),
        // Three business days after Wednesday: Monday, same time.
        (
            Some("contacted"),
            Some("active"),
            Some(2),
            Some("2026-11-30T14:00:05Z")
        )
    );
    assert_eq!(
        rules(&first),
        owned(&[("not_due", Some("2026-11-30T14:00:05Z"))])
    );
    let plan: Value = sb.json(&["plan", "--json"]);
    assert_eq!(
        plan["waiting"],
        serde_json::json!({"domain_new_cap": 1, "not_due": 1})
    );
    // The next pass agrees: nothing more goes today.
    sb.run(&["send-outreach"]);
    assert_eq!(server.mail_sends().len(), 1);
}

#[test]
fn plan_is_what_the_next_pass_sends_as_caps_fill_and_follow_ups_come_due() {
    let server = FakeServer::sendgrid();
    let sb = sendgrid(&server.url)
        .with("SEND_WINDOW", "Mon-Fri 08:00-17:00")
        .with("MAX_NEW_CONTACTS_PER_DOMAIN_PER_DAY", "1")
        .with("MAX_ACTIVE_PER_DOMAIN", "3")
        .with("MAX_EMAILS_PER_CYCLE", "4");
    leads(
        &sb,
        &[
            "Ann,ann@acme-widgets.com,Acme Widgets",
            "Bo,bo@acme-widgets.com,Acme Widgets Sales", // held back by Ann's first email
            "Cy,cy@gmail.com,Cy Consulting",             // free mail
            "Eve,eve@corp-one.com,Corp One",
            "Fay,fay@corp-two.com,Corp Two",
            "Gus,gus@corp-three.com,Corp Three", // beyond this cycle
        ],
    );
    let plan: Value = sb.json(&["plan", "--json"]);
    assert_eq!(plan["at"], T);
    assert_eq!(plan["waiting"], serde_json::json!({"domain_new_cap": 1}));
    assert_eq!(plan["beyond_cycle"], 1);
    let steps: Vec<i64> = plan["would_send"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, [1, 1, 1, 1]);
    let day_one = planned(&plan);
    let to: Vec<&str> = day_one.iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(
        to,
        [
            "ann@acme-widgets.com",
            "cy@gmail.com",
            "eve@corp-one.com",
            "fay@corp-two.com"
        ]
    );
    let pass: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(pass["sent"], 4, "{pass}");
    assert_eq!(received(&server), day_one, "plan and pass differ");

    // Monday, when the second steps are due: asked ahead with --at...
    let monday = "2026-11-30T14:00:05Z";
    let ahead: Value = sb.json(&["plan", "--at", monday, "--json"]);
    let sb = sb
        .with("HOSS_NOW", monday)
        .with("MAX_EMAILS_PER_CYCLE", "5");
    // ...and on the day, with one more attempt per cycle.
    let plan: Value = sb.json(&["plan", "--json"]);
    assert_eq!(planned(&ahead), planned(&plan)[..4]);
    let steps: Vec<(i64, i64)> = plan["would_send"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["lead_id"].as_i64().unwrap(), p["step"].as_i64().unwrap()))
        .collect();
    // Due follow-ups first, then new leads: Bo now (a day later), Gus next time.
    assert_eq!(steps, [(1, 2), (3, 2), (4, 2), (5, 2), (2, 1)]);
    let follow_ups = planned(&plan);
    for ((_, first), (_, again)) in day_one.iter().zip(&follow_ups) {
        assert_eq!(again, &format!("Re: {first}"));
    }
    assert_eq!(plan["beyond_cycle"], 1);
    let pass: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(pass["sent"], 5, "{pass}");
    assert_eq!(
        received(&server)[4..],
        follow_ups[..],
        "plan and pass differ"
    );

    // The operator's panels count the same sends.
    let status: Value = sb.json(&["status", "--json"]);
    let email = &status["email"];
    assert_eq!(
        (
            email["sent_24h"].as_i64(),
            email["sequences"]["active"].as_i64(),
            email["due_now"].as_i64()
        ),
        (Some(5), Some(5), Some(0))
    );
    let text = sb.run(&["status"]).stdout;
    assert!(
        text.contains("sequences 5 active, 0 finished, 0 stopped; 0 due now"),
        "{text}"
    );
    let summary: Value = sb.json(&["summary", "--period", "week", "--json"]);
    assert_eq!(
        (
            summary["emails"]["first_emails"].as_i64(),
            summary["emails"]["follow_ups"].as_i64()
        ),
        (Some(5), Some(4))
    );
}

#[test]
fn with_the_window_closed_in_send_timezone_only_leads_in_open_zones_are_planned_and_sent() {
    let server = FakeServer::sendgrid();
    // Wednesday 23:30 UTC: closed in UTC and Berlin; Thursday morning in
    // Tokyo and Sydney.
    let sb = sendgrid(&server.url)
        .with("HOSS_NOW", "2026-11-25T23:30:00Z")
        .with("SEND_WINDOW", "Mon-Fri 08:00-17:00");
    leads(
        &sb,
        &[
            "Ann,ann@acme-widgets.com,Acme",
            "Ken,ken@tokyo-trading.jp,Tokyo Trading",
            "Liz,liz@harbour-works.com.au,Harbour Works",
            "Max,max@spree-bau.de,Spree Bau",
            "Yui,yui@osaka-tools.jp,Osaka Tools",
        ],
    );
    let db = sb.db();
    for (id, zone) in [
        (2, "Asia/Tokyo"),
        (3, "Australia/Sydney"),
        (4, "Europe/Berlin"),
        (5, "Asia/Tokyo"),
    ] {
        db.execute(
            "UPDATE lead SET timezone = ?2 WHERE id = ?1",
            args![id, zone],
        )
        .unwrap();
    }
    let plan: Value = sb.json(&["plan", "--json"]);
    assert_eq!(plan["waiting"], serde_json::json!({"window": 2}));
    let to: Vec<String> = planned(&plan).into_iter().map(|(to, _)| to).collect();
    assert_eq!(
        to,
        [
            "ken@tokyo-trading.jp",
            "liz@harbour-works.com.au",
            "yui@osaka-tools.jp"
        ],
        "oldest first across the open zones"
    );
    assert_eq!(
        rules(&why(&sb, "1")),
        owned(&[("window", Some("2026-11-26T08:00:00Z"))])
    );
    assert_eq!(
        rules(&why(&sb, "4")),
        owned(&[("window", Some("2026-11-26T07:00:00Z"))]),
        "08:00 in Berlin"
    );
    sb.run(&["send-outreach"]);
    assert_eq!(received(&server), planned(&plan));
}

#[test]
fn leads_whose_site_is_a_platform_page_share_no_domain_cap_in_why_as_in_the_pass() {
    // Two businesses known only by their Facebook pages: `reserve` exempts
    // the platform from the per-domain caps, so `why` must too.
    let server = FakeServer::sendgrid();
    let sb = sendgrid(&server.url)
        .with("MAX_NEW_CONTACTS_PER_DOMAIN_PER_DAY", "1")
        .with("MAX_EMAILS_PER_CYCLE", "1");
    for (email, company, page) in [
        (
            "ann@ann-bakery.com",
            "Ann Bakery",
            "https://facebook.com/annbakery",
        ),
        (
            "bo@bo-florist.com",
            "Bo Florist",
            "https://facebook.com/boflorist",
        ),
    ] {
        let out = sb.run(&[
            "lead",
            "add",
            "--email",
            email,
            "--company",
            company,
            "--website",
            page,
        ]);
        assert_eq!(out.code, 0, "{out:?}");
    }
    let pass: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(pass["sent"], 1, "{pass}");
    let report = why(&sb, "2");
    assert_eq!(report["sendable_now"], true, "{report}");
    let pass: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(pass["sent"], 1, "the pass agrees: {pass}");
}
