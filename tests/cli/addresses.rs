//! SPEC §15: addresses checked when a lead is created, role accounts held
//! back, and the MX check against a real DNS server (dnsmasq on loopback).

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::harness::{DNS_ZONE, DnsZone, Output, Sandbox, SmtpMode, SmtpServer};

fn add(sb: &Sandbox, email: &str) -> Output {
    sb.run(&["lead", "add", "--email", email, "--company", email])
}

fn lead_id(sb: &Sandbox, email: &str) -> i64 {
    sb.db()
        .query_row("SELECT id FROM lead WHERE email = ?1", args![email], |r| {
            r.get(0)
        })
        .unwrap()
}

fn status_of(sb: &Sandbox, email: &str) -> (String, Option<String>) {
    sb.db()
        .query_row(
            "SELECT status, status_reason FROM lead WHERE email = ?1",
            args![email],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

fn real_smtp(server: &SmtpServer) -> Sandbox {
    Sandbox::new()
        .email_via_smtp(server.port)
        .with("MAX_EMAILS_PER_HOUR", "100")
        .with("MAX_EMAILS_PER_CYCLE", "100")
}

/// Real mail with the MX check on, asking `dns` (`DNS_SERVER`).
fn mx_checked(server: &SmtpServer, dns: &str) -> Sandbox {
    real_smtp(server)
        .with("MX_CHECK", "ON")
        .with("DNS_SERVER", dns)
}

fn recipients(server: &SmtpServer) -> Vec<String> {
    let mut to: Vec<String> = server
        .messages()
        .iter()
        .flat_map(|m| m.to.clone())
        .collect();
    to.sort();
    to
}

fn rules(sb: &Sandbox, id: i64) -> Vec<String> {
    let why: Value = sb.json(&["why", &id.to_string(), "--json"]);
    why["blocked_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["rule"].as_str().unwrap().to_string())
        .collect()
}

/// A UDP socket that counts the datagrams (DNS queries) it receives and
/// never answers.
struct QueryTrap {
    addr: String,
    count: Arc<AtomicUsize>,
}

impl QueryTrap {
    fn start() -> QueryTrap {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap().to_string();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while socket.recv(&mut buf).is_ok() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
        QueryTrap { addr, count }
    }
}

#[test]
fn addresses_are_checked_when_a_lead_is_created() {
    let sb = Sandbox::new();
    for (email, reason) in [
        (
            "promo@mailinator.com",
            "disposable-mail domain (mailinator.com)",
        ),
        ("x@eu.mailinator.com", "disposable-mail domain"),
        ("\"jane doe\"@acme.com", "quoted local part"),
        ("jane@[192.0.2.1]", "IP-literal domain"),
        ("jané@acme.com", "non-ASCII local part"),
        ("jane@bü_cher.de", "internationalised name"),
    ] {
        let out = add(&sb, email);
        assert_eq!(out.code, 65, "{email}: {out:?}");
        assert!(out.stderr.contains(reason), "{email}: {}", out.stderr);
    }
    assert_eq!(add(&sb, " Jane@Bücher.DE ").code, 0);
    assert_eq!(add(&sb, "info@acme.com").code, 0);
    assert_eq!(add(&sb, "ann@acme.com").code, 0);
    let leads: Vec<Value> = sb.json(&["lead", "list", "--json"]);
    let found: Vec<(String, bool)> = leads
        .iter()
        .map(|l| {
            (
                l["email"].as_str().unwrap().to_string(),
                l["role"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("jane@xn--bcher-kva.de".to_string(), false),
            ("info@acme.com".to_string(), true),
            ("ann@acme.com".to_string(), false)
        ]
    );
    let shown = sb.run(&["lead", "show", &lead_id(&sb, "info@acme.com").to_string()]);
    assert!(shown.stdout.contains("role account"), "{}", shown.stdout);

    // A CSV row at a disposable domain is invalid with the reason; the
    // others are created.
    std::fs::write(
        sb.path("leads.csv"),
        "email,company\nbob@guerrillamailblock.com,Temp\ncat@cats.io,Cats\n",
    )
    .unwrap();
    let report: Value = sb.json(&["lead", "import", "leads.csv", "--json"]);
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["invalid"], 1, "{report}");
    let row = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["row"] == 2)
        .unwrap();
    assert!(
        row.to_string()
            .contains("disposable-mail domain (guerrillamailblock.com)"),
        "{row}"
    );
}

#[test]
fn role_accounts_are_not_emailed_unless_the_operator_allows_them() {
    let server = SmtpServer::start(SmtpMode::Accept);
    let mut sb = real_smtp(&server);
    assert_eq!(add(&sb, "sales@widgets.com").code, 0);
    assert_eq!(add(&sb, "ann@gadgets.com").code, 0);
    let role = lead_id(&sb, "sales@widgets.com");
    assert_eq!(rules(&sb, role), ["role"]);
    let report: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(
        (report["sent"].as_i64(), report["role"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(recipients(&server), ["ann@gadgets.com"]);
    // Still new, waiting for the operator's word; DRY_RUN does not
    // pretend to email it either.
    assert_eq!(status_of(&sb, "sales@widgets.com").0, "new");
    let dry = Sandbox::new();
    add(&dry, "sales@widgets.com");
    let report: Value = dry.json(&["send-outreach", "--json"]);
    assert_eq!(
        (report["dry_run"].as_i64(), report["role"].as_i64()),
        (Some(0), Some(1))
    );

    sb.set("SEND_TO_ROLE_ACCOUNTS", "TRUE");
    assert!(rules(&sb, role).is_empty());
    let report: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(
        recipients(&server),
        ["ann@gadgets.com", "sales@widgets.com"]
    );

    sb.set("SEND_TO_ROLE_ACCOUNTS", "maybe");
    let check: Value = sb.json(&["check", "--json"]);
    let reason = check["subsystems"]["email"]["reason"].as_str().unwrap();
    assert!(reason.contains("SEND_TO_ROLE_ACCOUNTS"), "{reason}");
}

/// One lead at each kind of domain the test zone has.
fn zone() -> DnsZone {
    let z = DNS_ZONE;
    DnsZone::new()
        .mx(&format!("good.{z}"))
        .a(&format!("aonly.{z}"))
        .null_mx(&format!("nullmx.{z}"))
        .txt(&format!("txtonly.{z}"), &["v=spf1 -all"])
        .slow(&format!("slow.{z}"))
}

#[test]
fn the_mx_check_sends_only_where_dns_says_mail_is_taken() {
    let Some(dns) = zone().start() else { return };
    let server = SmtpServer::start(SmtpMode::Accept);
    let mut sb = mx_checked(&server, &dns.server()).with("HOSS_NOW", "2026-12-01T10:00:00Z");
    let z = DNS_ZONE;
    for name in ["good", "aonly", "nullmx", "gone", "txtonly", "slow"] {
        assert_eq!(add(&sb, &format!("ann@{name}.{z}")).code, 0);
    }
    let out = sb.run(&["send-outreach", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (
            report["sent"].as_i64(),
            report["invalid"].as_i64(),
            report["dns_waiting"].as_i64()
        ),
        (Some(2), Some(3), Some(1)),
        "{report}"
    );
    assert_eq!(
        recipients(&server),
        [format!("ann@aonly.{z}"), format!("ann@good.{z}")]
    );
    for (name, evidence) in [
        ("nullmx", "null MX"),
        ("gone", "NXDOMAIN"),
        ("txtonly", "no MX and no A/AAAA"),
    ] {
        let (status, reason) = status_of(&sb, &format!("ann@{name}.{z}"));
        assert_eq!(status, "invalid", "{name}");
        assert!(reason.unwrap().contains(evidence), "{name}");
        assert_eq!(
            out.log_lines(&format!("[EMAIL][NO_MX] domain={name}.{z}"))
                .len(),
            1,
            "{}",
            out.stderr
        );
    }
    // The reason is where the operator looks.
    let nullmx = lead_id(&sb, &format!("ann@nullmx.{z}")).to_string();
    let why = sb.run(&["why", &nullmx]).stdout;
    assert!(
        why.contains("status invalid (no mail route: null MX"),
        "{why}"
    );
    let shown = sb.run(&["lead", "show", &nullmx]).stdout;
    assert!(shown.contains("invalid (no mail route: null MX"), "{shown}");
    // A timeout is no verdict: the lead waits, named with its domain.
    assert_eq!(status_of(&sb, &format!("ann@slow.{z}")).0, "new");
    assert_eq!(
        out.log_lines(&format!("[EMAIL][DNS_WAIT] domain=slow.{z}"))
            .len(),
        1,
        "{}",
        out.stderr
    );

    // Answers are remembered for 7 days: with the DNS server gone, a new
    // lead at a known domain is sent (or refused) without asking, and
    // `why` names `no_mx` for a domain DNS said takes no mail.
    drop(dns);
    add(&sb, &format!("bob@good.{z}"));
    add(&sb, &format!("bob@nullmx.{z}"));
    assert_eq!(
        rules(&sb, lead_id(&sb, &format!("bob@nullmx.{z}"))),
        ["no_mx"]
    );
    sb.set("HOSS_NOW", "2026-12-07T10:00:00Z");
    let report: Value = sb.json(&["send-outreach", "--json"]);
    // The two follow-ups now due go out too: their domains are known.
    assert_eq!(
        (report["sent"].as_i64(), report["follow_ups"].as_i64()),
        (Some(3), Some(2)),
        "{report}"
    );
    assert!(recipients(&server).contains(&format!("bob@good.{z}")));
    assert_eq!(report["invalid"], 1, "{report}");
    assert_eq!(status_of(&sb, &format!("bob@nullmx.{z}")).0, "invalid");
    // … and asked again after 7 days: with no server, the lead waits.
    add(&sb, &format!("cat@good.{z}"));
    sb.set("HOSS_NOW", "2026-12-08T10:00:01Z");
    let report: Value = sb.json(&["send-outreach", "--json"]);
    // (ann@slow waits as well.)
    assert_eq!(report["dns_waiting"], 2, "{report}");
    assert_eq!(status_of(&sb, &format!("cat@good.{z}")).0, "new");
}

#[test]
fn dry_run_and_mx_check_off_ask_no_resolver() {
    let trap = QueryTrap::start();
    // Defaults (DRY_RUN) with the MX check on: nothing asked.
    let sb = Sandbox::new()
        .with("MX_CHECK", "ON")
        .with("DNS_SERVER", &trap.addr);
    add(&sb, "ann@acme-widgets.com");
    let report: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(report["dry_run"], 1, "{report}");
    // Real mail with the check off: sent, nothing asked, and `status`
    // says the check is off.
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = real_smtp(&server).with("DNS_SERVER", &trap.addr);
    add(&sb, "ann@acme-widgets.com");
    let report: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(trap.count.load(Ordering::SeqCst), 0);
    let status: Value = sb.json(&["status", "--json"]);
    assert_eq!(status["addresses"]["mx_check"], "OFF", "{status}");
    let text = sb.run(&["status"]).stdout;
    assert!(text.contains("MX check: OFF"), "{text}");
}

#[test]
fn a_resolver_that_refuses_or_stays_silent_makes_leads_wait() {
    let server = SmtpServer::start(SmtpMode::Accept);
    // A closed UDP port: the query is refused at once.
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let trap = QueryTrap::start();
    for dns in [closed.to_string(), trap.addr.clone()] {
        let sb = mx_checked(&server, &dns);
        for i in 0..4 {
            add(&sb, &format!("ann@acme{i}.com"));
        }
        let out = sb.run(&["send-outreach", "--json"]);
        assert_eq!(out.code, 0, "{out:?}");
        let report: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(report["sent"], 0, "{report}");
        assert_eq!(report["invalid"], 0, "{report}");
        // Two leads wait, then the pass stops rather than walk the queue.
        assert_eq!(report["dns_waiting"], 2, "{report}");
        assert_eq!(
            out.log_lines("[EMAIL][PASS_STOPPED]").len(),
            1,
            "{}",
            out.stderr
        );
        let leads: Vec<Value> = sb.json(&["lead", "list", "--json"]);
        assert!(leads.iter().all(|l| l["status"] == "new"));
    }
    assert!(server.messages().is_empty());
    // A silent server was asked twice, then left alone for the pass.
    assert!(
        trap.count.load(Ordering::SeqCst) <= 2 * 3,
        "{}",
        trap.count.load(Ordering::SeqCst)
    );
}

#[test]
fn domains_whose_dns_fails_do_not_hold_up_the_queue() {
    // A resolver that answers SERVFAIL for a domain (its own servers are
    // broken) is up: the oldest leads, at such domains, wait, and the
    // newer ones behind them are still emailed — pass after pass.
    let z = DNS_ZONE;
    let Some(dns) = DnsZone::new()
        .mx(&format!("good.{z}"))
        .failing(&format!("broken1.{z}"))
        .failing(&format!("broken2.{z}"))
        .failing(&format!("broken3.{z}"))
        .start()
    else {
        return;
    };
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = mx_checked(&server, &dns.server());
    for name in ["broken1", "broken2", "broken3", "good"] {
        assert_eq!(add(&sb, &format!("ann@{name}.{z}")).code, 0);
    }
    let out = sb.run(&["send-outreach", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (
            report["sent"].as_i64(),
            report["dns_waiting"].as_i64(),
            report["invalid"].as_i64()
        ),
        (Some(1), Some(3), Some(0)),
        "{report}\n{}",
        out.stderr
    );
    assert!(
        out.log_lines("[EMAIL][PASS_STOPPED]").is_empty(),
        "{}",
        out.stderr
    );
    assert_eq!(recipients(&server), [format!("ann@good.{z}")]);
    for name in ["broken1", "broken2", "broken3"] {
        let line = out.log_lines(&format!("[EMAIL][DNS_WAIT] domain={name}.{z}"));
        assert_eq!(line.len(), 1, "{}", out.stderr);
        assert!(line[0].contains("SERVFAIL"), "{}", line[0]);
        // No answer is no verdict.
        assert_eq!(status_of(&sb, &format!("ann@{name}.{z}")).0, "new");
    }
}

#[test]
fn a_lead_the_operator_sets_new_again_is_checked_afresh() {
    // DNS said the domain takes no mail, the lead became invalid; the
    // domain then publishes an MX and the operator sets the lead `new`:
    // the next pass asks DNS again rather than refuse it from the
    // remembered answer for the rest of the 7 days.
    let z = DNS_ZONE;
    let domain = format!("fixed.{z}");
    let email = format!("ann@{domain}");
    let server = SmtpServer::start(SmtpMode::Accept);
    let mut sb = real_smtp(&server).with("MX_CHECK", "ON");
    let Some(before) = DnsZone::new().null_mx(&domain).start() else {
        return;
    };
    sb.set("DNS_SERVER", &before.server());
    assert_eq!(add(&sb, &email).code, 0);
    let report: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(report["invalid"], 1, "{report}");
    assert_eq!(status_of(&sb, &email).0, "invalid");
    drop(before);

    let Some(after) = DnsZone::new().mx(&domain).start() else {
        return;
    };
    sb.set("DNS_SERVER", &after.server());
    let id = lead_id(&sb, &email).to_string();
    let out = sb.run(&["lead", "set-status", &id, "new"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(rules(&sb, lead_id(&sb, &email)).is_empty());
    let report: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(recipients(&server), [email]);
}

#[test]
fn a_pass_waits_on_dns_for_ten_leads_at_most() {
    // A resolver answering SERVFAIL for every domain is up, so the pass
    // does not call it down: it still stops after ten waits, rather than
    // walk the whole queue a few seconds per lead.
    let z = DNS_ZONE;
    let zone = (0..12).fold(DnsZone::new(), |zone, i| {
        zone.failing(&format!("broken{i}.{z}"))
    });
    let Some(dns) = zone.start() else {
        return;
    };
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = mx_checked(&server, &dns.server());
    for i in 0..12 {
        assert_eq!(add(&sb, &format!("ann@broken{i}.{z}")).code, 0);
    }
    let out = sb.run(&["send-outreach", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["dns_waiting"], 10, "{report}");
    assert_eq!(
        out.log_lines("[EMAIL][PASS_STOPPED]").len(),
        1,
        "{}",
        out.stderr
    );
    let leads: Vec<Value> = sb.json(&["lead", "list", "--json"]);
    assert!(leads.iter().all(|l| l["status"] == "new"));
}

#[test]
fn domains_that_time_out_at_the_front_of_the_queue_are_left_alone_for_an_hour() {
    // Dead name servers time out: the first pass cannot tell them from a
    // dead resolver and stops; the next one leaves the domain that timed
    // out alone and reaches the lead behind; `why` says when it is asked
    // again.
    let z = DNS_ZONE;
    let Some(dns) = DnsZone::new()
        .mx(&format!("good.{z}"))
        .slow(&format!("dead1.{z}"))
        .slow(&format!("dead2.{z}"))
        .start()
    else {
        return;
    };
    let server = SmtpServer::start(SmtpMode::Accept);
    let mut sb = mx_checked(&server, &dns.server()).with("HOSS_NOW", "2026-12-01T10:00:00Z");
    for name in ["dead1", "dead2", "good"] {
        assert_eq!(add(&sb, &format!("ann@{name}.{z}")).code, 0);
    }
    let first: Value = sb.json(&["send-outreach", "--json"]);
    assert_eq!(
        (first["sent"].as_i64(), first["dns_waiting"].as_i64()),
        (Some(0), Some(2)),
        "{first}"
    );
    sb.set("HOSS_NOW", "2026-12-01T10:05:00Z");
    let out = sb.run(&["send-outreach", "--json"]);
    let second: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(second["sent"], 1, "{second}\n{}", out.stderr);
    assert_eq!(recipients(&server), [format!("ann@good.{z}")]);
    // dead1 was not asked again (only dead2, which the first pass could
    // not blame on its domain, was).
    assert!(
        out.log_lines(&format!("[EMAIL][DNS_WAIT] domain=dead1.{z}"))
            .is_empty(),
        "{}",
        out.stderr
    );
    let why: Value = sb.json(&[
        "why",
        &lead_id(&sb, &format!("ann@dead1.{z}")).to_string(),
        "--json",
    ]);
    let block = &why["blocked_by"][0];
    assert_eq!(block["rule"], "no_mx", "{why}");
    assert_eq!(block["until"], "2026-12-01T11:00:00Z", "{why}");
    assert!(
        block["detail"].as_str().unwrap().contains("no answer"),
        "{why}"
    );
    // Still only waiting: never invalid.
    assert_eq!(status_of(&sb, &format!("ann@dead1.{z}")).0, "new");
}
