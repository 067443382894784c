//! Sequences and sending discipline (SPEC §14), as the operator sees them:
//! three threaded steps across simulated business days through a real SMTP
//! session, the send window in the lead's time zone, the warm-up ramp day
//! by day, per-domain caps, replies stopping the next step, and eight
//! overlapping passes that never exceed the daily cap or send a step twice.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use crate::harness::{FakeServer, Recorded, Sandbox, SmtpMode, SmtpServer};

fn smtp(server: &SmtpServer) -> Sandbox {
    Sandbox::new().email_via_smtp(server.port)
}

fn import(sb: &Sandbox, csv: &str) {
    std::fs::write(sb.path("leads.csv"), csv).unwrap();
    let out = sb.run(&["lead", "import", "leads.csv", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(r["invalid"], 0, "{r}");
}

/// One send-outreach pass at `at` (RFC 3339).
fn pass_at(sb: &Sandbox, at: &str) -> Value {
    let out = sb
        .command(&["send-outreach", "--json"])
        .env("HOSS_NOW", at)
        .output()
        .unwrap();
    let out = crate::harness::Output::from(out);
    assert_eq!(out.code, 0, "{at}: {out:?}");
    serde_json::from_str(&out.stdout).unwrap()
}

fn header(data: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    let mut value: Option<String> = None;
    for line in text.lines().take_while(|l| !l.is_empty()) {
        if let Some(v) = value.as_mut()
            && line.starts_with([' ', '\t'])
        {
            v.push(' ');
            v.push_str(line.trim());
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_string());
        }
    }
    value
}

#[test]
fn three_steps_go_out_threaded_on_business_days_in_the_lead_s_window() {
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server)
        .with("SEND_WINDOW", "Mon-Fri 08:00-17:00")
        .with("SEND_TIMEZONE", "America/New_York");
    import(
        &sb,
        "name,email,company\nAnn Lee,ann@acme-dental.com,Acme Dental\n",
    );

    // Thursday 5 March 2026, 10:00 in New York: the first email.
    assert_eq!(pass_at(&sb, "2026-03-05T15:00:00Z")["sent"], 1);
    // Friday, Monday: nothing is due (3 business days: Tuesday).
    for at in ["2026-03-06T15:00:00Z", "2026-03-09T15:00:00Z"] {
        assert_eq!(pass_at(&sb, at)["sent"], 0, "{at}");
    }
    // Tuesday 10 March 10:00 — now EDT after the DST change on Sunday: one
    // minute before is not due, the minute itself is.
    assert_eq!(pass_at(&sb, "2026-03-10T13:59:00Z")["sent"], 0);
    let second = pass_at(&sb, "2026-03-10T14:00:00Z");
    assert_eq!(
        (second["sent"].as_u64(), second["follow_ups"].as_u64()),
        (Some(1), Some(1)),
        "{second}"
    );
    // Five business days on: Tuesday 17 March, the last step.
    assert_eq!(pass_at(&sb, "2026-03-17T13:59:00Z")["sent"], 0);
    assert_eq!(pass_at(&sb, "2026-03-17T14:00:00Z")["sent"], 1);
    let messages = server.messages();
    assert_eq!(messages.len(), 3);
    let ids: Vec<String> = messages
        .iter()
        .map(|m| header(&m.data, "Message-ID").unwrap())
        .collect();
    let subject = header(&messages[0].data, "Subject").unwrap();
    assert!(header(&messages[0].data, "In-Reply-To").is_none());
    assert_eq!(
        header(&messages[1].data, "In-Reply-To").as_deref(),
        Some(ids[0].as_str())
    );
    assert_eq!(
        header(&messages[1].data, "References").as_deref(),
        Some(ids[0].as_str())
    );
    assert_eq!(
        header(&messages[2].data, "In-Reply-To").as_deref(),
        Some(ids[1].as_str())
    );
    assert_eq!(
        header(&messages[2].data, "References"),
        Some(format!("{} {}", ids[0], ids[1]))
    );
    for m in &messages[1..] {
        assert_eq!(header(&m.data, "Subject"), Some(format!("Re: {subject}")));
        assert_eq!(m.to, vec!["ann@acme-dental.com"]);
    }
    // The ledger holds each step once, with the pack it used.
    let steps: Vec<(i64, String, Option<String>)> = sb
        .db()
        .query_all(
            "SELECT step, outcome, variant FROM send_ledger WHERE kind = 'outreach' ORDER BY id",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        steps,
        vec![
            (1, "sent".to_string(), Some("general".to_string())),
            (2, "sent".to_string(), Some("followup".to_string())),
            (3, "sent".to_string(), Some("followup".to_string())),
        ]
    );
    let lead: Value = sb.json(&["lead", "show", "1", "--json"]);
    assert_eq!(lead["status"], "contacted");
    // The sequence is over: nothing more, ever.
    assert_eq!(pass_at(&sb, "2026-04-30T14:00:00Z")["sent"], 0);
    assert_eq!(server.messages().len(), 3);
}

#[test]
fn the_window_follows_the_lead_s_own_zone_and_blackout_days() {
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server)
        .with("SEND_WINDOW", "Mon-Fri 09:00-17:00")
        .with("SEND_TIMEZONE", "UTC")
        .with("SEND_BLACKOUT_DATES", "2026-12-24");
    import(
        &sb,
        "name,email,company,timezone\nBen,ben@berlin-bau.de,Berlin Bau,Europe/Berlin\nNia,nia@ny-law.com,NY Law,America/New_York\nUma,uma@utc-co.com,UTC Co,\n",
    );
    // 08:30 UTC on Monday 30 November: 09:30 in Berlin (open), 03:30 in
    // New York (closed), 08:30 UTC (closed).
    let r = pass_at(&sb, "2026-11-30T08:30:00Z");
    assert_eq!(
        (r["sent"].as_u64(), r["waiting"].as_u64()),
        (Some(1), Some(2)),
        "{r}"
    );
    assert_eq!(server.messages()[0].to, vec!["ben@berlin-bau.de"]);
    // Nothing was attempted for the two that wait: no ledger row.
    let rows: i64 = sb
        .db()
        .query_row("SELECT COUNT(*) FROM send_ledger", args![], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
    // 14:00 UTC: 09:00 in New York and UTC open.
    assert_eq!(pass_at(&sb, "2026-11-30T14:00:00Z")["sent"], 2);

    // A blackout day closes the whole day, follow-ups included; the next
    // day the new lead goes out (and the follow-ups whose window is open).
    import(
        &sb,
        "name,email,company\nXmas,xmas@holiday-co.com,Holiday Co\n",
    );
    let r = pass_at(&sb, "2026-12-24T12:00:00Z");
    assert_eq!(
        (r["sent"].as_u64(), r["waiting"].as_u64()),
        (Some(0), Some(4)),
        "{r}"
    );
    pass_at(&sb, "2026-12-25T12:00:00Z");
    let to: Vec<String> = server.messages().iter().map(|m| m.to[0].clone()).collect();
    assert!(to.contains(&"xmas@holiday-co.com".to_string()), "{to:?}");
    // New York is at 07:00: Nia's follow-up waits for her window.
    assert_eq!(
        to.iter().filter(|t| t.starts_with("nia@")).count(),
        1,
        "{to:?}"
    );
    // A bad zone is refused.
    let bad = sb.run(&["lead", "set-timezone", "1", "Mars/Olympus"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("IANA"), "{}", bad.stderr);
    std::fs::write(
        sb.path("bad.csv"),
        "email,company,timezone\nq@q-co.com,Q,Moon/Base\n",
    )
    .unwrap();
    let r: Value = sb.json(&["lead", "import", "bad.csv", "--json"]);
    assert_eq!(r["invalid"], 1, "{r}");
    assert!(
        r["rows"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("timezone")
    );
}

#[test]
fn a_bad_window_or_step_list_keeps_real_email_off_with_the_reason() {
    for (key, value) in [
        ("SEND_WINDOW", "weekdays 9-5"),
        ("SEND_TIMEZONE", "Nowhere/City"),
    ] {
        let server = SmtpServer::start(SmtpMode::Accept);
        let check: Value = smtp(&server).with(key, value).json(&["check", "--json"]);
        let email = &check["subsystems"]["email"];
        assert_eq!(email["effective"], "DRY_RUN", "{key}");
        assert!(email["reason"].as_str().unwrap().contains(key), "{email}");
    }
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server).config_file("[[sequence.steps]]\ndelay_days = \"three\"\n");
    let check: Value = sb.json(&["check", "--json"]);
    assert_eq!(check["subsystems"]["email"]["effective"], "DRY_RUN");
    assert!(
        check["subsystems"]["email"]["reason"]
            .as_str()
            .unwrap()
            .contains("sequence step 1")
    );
}

/// A SendGrid stand-in; returns (server, sandbox) with real email through it.
fn sendgrid_sandbox() -> (FakeServer, Sandbox) {
    let server = FakeServer::sendgrid();
    let sb = Sandbox::new()
        .email_via_sendgrid(&server.url)
        .with("SENDGRID_API_KEY", "SG.sequence-key")
        .with("EMAIL_SEND_DELAY_MIN", "0")
        .with("EMAIL_SEND_DELAY_MAX", "0")
        .with("MAX_EMAILS_PER_CYCLE", "100")
        .with("MAX_EMAILS_PER_HOUR", "100");
    (server, sb)
}

fn leads_csv(n: usize) -> String {
    let mut csv = String::from("name,email,company\n");
    for i in 0..n {
        csv.push_str(&format!("P {i},p{i}@firm{i}.com,Firm {i}\n"));
    }
    csv
}

#[test]
fn warm_up_raises_the_daily_cap_day_by_day() {
    let (server, sb) = sendgrid_sandbox();
    let sb = sb
        .with("WARMUP", "ON")
        .with("WARMUP_START", "2")
        .with("WARMUP_STEP", "1")
        .with("MAX_EMAILS_PER_DAY", "4");
    import(&sb, &leads_csv(20));
    let day = |d: u32| format!("2026-12-{:02}T10:00:00Z", d);
    // Day 0 (the first real send's day): 2, then the cap ends the pass.
    let r = pass_at(&sb, &day(1));
    assert_eq!(
        (r["sent"].as_u64(), r["daily_cap"].as_bool()),
        (Some(2), Some(true)),
        "{r}"
    );
    // An hour later the same 24 h still hold them.
    assert_eq!(pass_at(&sb, "2026-12-01T11:00:00Z")["sent"], 0);
    assert_eq!(pass_at(&sb, &day(2))["sent"], 3);
    assert_eq!(pass_at(&sb, &day(3))["sent"], 4);
    assert_eq!(
        pass_at(&sb, &day(4))["sent"],
        4,
        "MAX_EMAILS_PER_DAY caps the ramp"
    );
    assert_eq!(server.mail_sends().len(), 13);
    // WARMUP_START_DATE moves day 0.
    let (server2, sb2) = sendgrid_sandbox();
    let sb2 = sb2
        .with("WARMUP", "ON")
        .with("WARMUP_START", "2")
        .with("WARMUP_STEP", "1")
        .with("WARMUP_START_DATE", "2026-11-20")
        .with("MAX_EMAILS_PER_DAY", "50");
    import(&sb2, &leads_csv(20));
    assert_eq!(pass_at(&sb2, "2026-11-23T10:00:00Z")["sent"], 5);
    assert_eq!(server2.mail_sends().len(), 5);
}

#[test]
fn one_company_gets_one_first_email_a_day_and_free_mail_is_exempt() {
    let (server, sb) = sendgrid_sandbox();
    let sb = sb
        .with("MAX_NEW_CONTACTS_PER_DOMAIN_PER_DAY", "1")
        .with("MAX_ACTIVE_PER_DOMAIN", "2");
    import(
        &sb,
        "name,email,company\nA,a@big-corp.com,Big Corp\nB,b@big-corp.com,Big Corp Sales\nC,c@big-corp.com,Big Corp Ops\nG1,one@gmail.com,Solo One\nG2,two@gmail.com,Solo Two\n",
    );
    let r = pass_at(&sb, "2026-12-01T10:00:00Z");
    assert_eq!(
        (r["sent"].as_u64(), r["domain_capped"].as_u64()),
        (Some(3), Some(2)),
        "{r}"
    );
    // The next day the second goes; the third waits for an active sequence
    // at big-corp.com to end (2 active).
    let r = pass_at(&sb, "2026-12-02T10:00:01Z");
    assert_eq!(r["sent"], 1, "{r}");
    let r = pass_at(&sb, "2026-12-03T10:00:02Z");
    assert_eq!(
        (r["sent"].as_u64(), r["domain_capped"].as_u64()),
        (Some(0), Some(1)),
        "{r}"
    );
    let to: HashSet<String> = server.mail_sends().iter().map(Recorded::mail_to).collect();
    assert!(to.contains("one@gmail.com") && to.contains("two@gmail.com"));
    assert!(!to.contains("c@big-corp.com"));
}

#[test]
fn an_operator_status_change_or_a_suppression_stops_the_next_step() {
    let (server, sb) = sendgrid_sandbox();
    import(&sb, &leads_csv(3));
    assert_eq!(pass_at(&sb, "2026-12-01T10:00:00Z")["sent"], 3);
    assert_eq!(sb.run(&["lead", "set-status", "1", "responded"]).code, 0);
    assert_eq!(sb.run(&["suppress", "add", "p1@firm1.com"]).code, 0);
    // Three business days later only lead 3 gets its second step.
    let r = pass_at(&sb, "2026-12-04T10:00:00Z");
    assert_eq!(r["follow_ups"], 1, "{r}");
    let last = server.mail_sends().last().unwrap().mail_to();
    assert_eq!(last, "p2@firm2.com");
}

#[test]
fn eight_overlapping_passes_never_pass_the_daily_cap_or_send_a_step_twice() {
    let server = FakeServer::start(|r: &Recorded| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        crate::harness::sendgrid_answer(r)
    });
    let sb = Sandbox::new()
        .email_via_sendgrid(&server.url)
        .with("SENDGRID_API_KEY", "SG.overlap-key")
        .with("EMAIL_SEND_DELAY_MIN", "0")
        .with("EMAIL_SEND_DELAY_MAX", "0")
        .with("MAX_EMAILS_PER_CYCLE", "100")
        .with("MAX_EMAILS_PER_HOUR", "100")
        .with("MAX_EMAILS_PER_DAY", "7")
        .with("HOSS_NOW", "2026-12-01T10:00:00Z");
    import(&sb, &leads_csv(30));
    for out in sb.run_concurrently(&["send-outreach"], 8) {
        assert_eq!(out.code, 0, "{out:?}");
    }
    assert_eq!(
        server.mail_sends().len(),
        7,
        "the daily cap held across processes"
    );
    // Three business days later: 7 follow-ups are due and the rolling 24 h
    // is empty again; eight passes send each once, 7 in all.
    let later = sb.with("HOSS_NOW", "2026-12-04T10:00:00Z");
    for out in later.run_concurrently(&["send-outreach"], 8) {
        assert_eq!(out.code, 0, "{out:?}");
    }
    let db = later.db();
    let per_step: BTreeMap<(i64, i64), i64> = db
        .query_all(
            "SELECT lead_id, step, COUNT(*) FROM send_ledger
             WHERE kind = 'outreach' AND outcome IN ('sent', 'reserved', 'uncertain') GROUP BY 1, 2",
            args![],
            |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
        .unwrap()
        .into_iter()
        .collect();
    assert!(per_step.values().all(|n| *n == 1), "{per_step:?}");
    let follow_ups = per_step.keys().filter(|(_, step)| *step == 2).count();
    assert_eq!(follow_ups, 7, "{per_step:?}");
    assert_eq!(server.mail_sends().len(), 14);
}

#[test]
fn the_worked_example_of_replit_md_runs_as_written() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/replit.md")).unwrap();
    let section = &text[text.find("## Sequences and sending discipline").unwrap()..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server).config_file(example);
    // The example sets its own window, zone and cap.
    let sb = ["SEND_WINDOW", "SEND_TIMEZONE", "MAX_EMAILS_PER_DAY"]
        .iter()
        .fold(sb, |mut sb, k| {
            sb.unset(k);
            sb
        });
    let check = sb.run(&["check", "--json"]);
    assert_eq!(check.code, 0, "{check:?}");
    assert!(!check.stderr.contains("[CONFIG]"), "{}", check.stderr);
    import(
        &sb,
        "name,email,company\nAnn Lee,ann@acme-dental.com,Acme Dental\n",
    );
    // Thursday 10:00 in New York: inside 09:00–16:30.
    assert_eq!(pass_at(&sb, "2026-03-05T15:00:00Z")["sent"], 1);
    // Tuesday 10:00 EDT: the second; a week later the third, with the
    // step's own subject.
    assert_eq!(pass_at(&sb, "2026-03-10T14:00:00Z")["sent"], 1);
    assert_eq!(pass_at(&sb, "2026-03-17T14:00:00Z")["sent"], 1);
    let last = server.messages().pop().unwrap();
    assert_eq!(
        header(&last.data, "Subject").as_deref(),
        Some("Closing the loop, Ann")
    );
    // 16:45 in New York is outside the example's window.
    import(&sb, "name,email,company\nBo,bo@bo-co.com,Bo Co\n");
    assert_eq!(pass_at(&sb, "2026-03-18T20:45:00Z")["waiting"], 1);
}

#[test]
fn a_reply_read_from_the_inbox_stops_the_lead_and_its_company() {
    let Some(imap) = crate::harness::Dovecot::start() else {
        return;
    };
    imap.create("INBOX");
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server)
        .with("MAX_ACTIVE_PER_DOMAIN", "5")
        .with("MAX_NEW_CONTACTS_PER_DOMAIN_PER_DAY", "5")
        .inbox_via_imap(imap.port, "INBOX")
        .with("HOSS_NOW", "2026-12-01T10:00:00Z");
    import(
        &sb,
        "name,email,company\nAnn,ann@acme-dental.com,Acme Dental\nCy,cy@acme-dental.com,Acme Dental Billing\nDee,dee@other-co.com,Other Co\n",
    );
    assert_eq!(pass_at(&sb, "2026-12-01T10:00:00Z")["sent"], 3);
    let first = &server.messages()[0];
    assert_eq!(first.to, vec!["ann@acme-dental.com"]);
    let mid = header(&first.data, "Message-ID").unwrap();
    imap.deliver(
        "INBOX",
        &format!("From: ann@acme-dental.com\nTo: hello@hoss-operator.com\nSubject: Re: hi\nMessage-ID: <r1@acme-dental.com>\nIn-Reply-To: {mid}\n\nYes, let's talk.\n"),
    );
    let r: Value = sb.json(&["sync-inbox", "--json"]);
    assert_eq!(r["replies"], 1, "{r}");
    // Three business days on, only the other company hears from hoss.
    let r = pass_at(&sb, "2026-12-04T10:00:00Z");
    assert_eq!(r["follow_ups"], 1, "{r}");
    assert_eq!(
        server.messages().last().unwrap().to,
        vec!["dee@other-co.com"]
    );
    let stopped: Vec<(String, String)> = sb
        .db()
        .query_all("SELECT l.email, s.stop_reason FROM sequence s JOIN lead l ON l.id = s.lead_id WHERE s.state = 'stopped' ORDER BY l.id", args![], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        stopped,
        vec![
            ("ann@acme-dental.com".to_string(), "replied".to_string()),
            (
                "cy@acme-dental.com".to_string(),
                "domain_replied".to_string()
            ),
        ]
    );
}

#[test]
fn an_out_of_office_reply_holds_the_next_step_until_the_day_after_its_return() {
    let Some(imap) = crate::harness::Dovecot::start() else {
        return;
    };
    imap.create("INBOX");
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server)
        .inbox_via_imap(imap.port, "INBOX")
        .with("SEND_TIMEZONE", "Europe/Berlin")
        .with("HOSS_NOW", "2026-12-01T10:00:00Z");
    import(&sb, "name,email,company\nOlga,olga@away-co.com,Away Co\n");
    assert_eq!(pass_at(&sb, "2026-12-01T10:00:00Z")["sent"], 1);
    let mid = header(&server.messages()[0].data, "Message-ID").unwrap();
    imap.deliver(
        "INBOX",
        &format!("From: olga@away-co.com\nTo: hello@hoss-operator.com\nSubject: Automatic reply: hi\nAuto-Submitted: auto-replied\nMessage-ID: <ooo@away-co.com>\nIn-Reply-To: {mid}\n\nI am out of the office and back on 10 December 2026.\n"),
    );
    let r: Value = sb.json(&["sync-inbox", "--json"]);
    assert_eq!(r["auto_replies"], 1, "{r}");
    // Due on Friday 4 December, but she is away: not before 11 December,
    // midnight in Berlin (23:00 UTC on the 10th).
    assert_eq!(pass_at(&sb, "2026-12-04T10:00:00Z")["sent"], 0);
    assert_eq!(pass_at(&sb, "2026-12-10T22:59:00Z")["sent"], 0);
    assert_eq!(pass_at(&sb, "2026-12-11T09:00:00Z")["sent"], 1);
    let lead: Value = sb.json(&["lead", "show", "1", "--json"]);
    assert_eq!(lead["status"], "contacted", "an auto-reply stops nothing");
}

/// How many follow-ups (`sequence` rows) are in each state, with the reason.
fn sequence_states(sb: &Sandbox) -> Vec<(i64, String, Option<String>)> {
    sb.db()
        .query_all(
            "SELECT lead_id, state, stop_reason FROM sequence ORDER BY lead_id",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn a_follow_up_whose_process_was_killed_mid_send_ends_its_sequence_and_frees_its_company() {
    // The second mail send (lead 1's step 2) never answers.
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let server = FakeServer::start(move |r: &Recorded| {
        if r.url.starts_with("/v3/mail/send")
            && counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1
        {
            std::thread::sleep(std::time::Duration::from_secs(25));
        }
        crate::harness::sendgrid_answer(r)
    });
    let sb = Sandbox::new()
        .email_via_sendgrid(&server.url)
        .with("SENDGRID_API_KEY", "SG.killed-key")
        .with("EMAIL_SEND_DELAY_MIN", "0")
        .with("EMAIL_SEND_DELAY_MAX", "0")
        .with("MAX_ACTIVE_PER_DOMAIN", "1");
    import(
        &sb,
        "name,email,company\nAnn,ann@acme-dental.com,Acme Dental\n",
    );
    assert_eq!(pass_at(&sb, "2026-12-01T10:00:00Z")["sent"], 1);
    // Friday 4 December: step 2 goes to the provider, and the process dies.
    let mut child = sb
        .command(&["send-outreach"])
        .env("HOSS_NOW", "2026-12-04T10:00:00Z")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::harness::wait_until(
        std::time::Duration::from_secs(10),
        "step 2 never reached the provider",
        || server.mail_sends().len() == 2,
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // 20 minutes later the reservation is uncertain: step 2 is never sent
    // again, and the sequence is over rather than due forever.
    let r = pass_at(&sb, "2026-12-04T10:20:00Z");
    assert_eq!(
        (r["uncertain"].as_u64(), r["sent"].as_u64()),
        (Some(1), Some(0)),
        "{r}"
    );
    assert_eq!(
        sequence_states(&sb),
        vec![(1, "stopped".to_string(), Some("uncertain".to_string()))]
    );
    let lead: Value = sb.json(&["lead", "show", "1", "--json"]);
    assert_eq!(lead["status"], "contacted", "step 1 did reach the lead");
    // Its company is no longer taken by a sequence that can never move: a
    // colleague gets a first email (MAX_ACTIVE_PER_DOMAIN is 1).
    import(
        &sb,
        "name,email,company\nCy,cy@acme-dental.com,Acme Dental Billing\n",
    );
    let r = pass_at(&sb, "2026-12-07T10:00:00Z");
    assert_eq!(
        (r["sent"].as_u64(), r["domain_capped"].as_u64()),
        (Some(1), Some(0)),
        "{r}"
    );
    let to: Vec<String> = server.mail_sends().iter().map(Recorded::mail_to).collect();
    assert_eq!(
        to,
        [
            "ann@acme-dental.com",
            "ann@acme-dental.com",
            "cy@acme-dental.com"
        ]
    );
}

#[test]
fn overlapping_passes_never_start_more_sequences_at_one_company_than_max_active() {
    let server = FakeServer::start(|r: &Recorded| {
        std::thread::sleep(std::time::Duration::from_millis(150));
        crate::harness::sendgrid_answer(r)
    });
    let sb = Sandbox::new()
        .email_via_sendgrid(&server.url)
        .with("SENDGRID_API_KEY", "SG.active-key")
        .with("EMAIL_SEND_DELAY_MIN", "0")
        .with("EMAIL_SEND_DELAY_MAX", "0")
        .with("MAX_EMAILS_PER_CYCLE", "100")
        .with("MAX_EMAILS_PER_HOUR", "100")
        .with("MAX_NEW_CONTACTS_PER_DOMAIN_PER_DAY", "100")
        .with("MAX_ACTIVE_PER_DOMAIN", "2")
        .with("HOSS_NOW", "2026-12-01T10:00:00Z");
    let mut csv = String::from("name,email,company\n");
    for i in 0..12 {
        csv.push_str(&format!("P {i},p{i}@big-corp.com,Big Corp {i}\n"));
    }
    import(&sb, &csv);
    for out in sb.run_concurrently(&["send-outreach"], 8) {
        assert_eq!(out.code, 0, "{out:?}");
    }
    assert_eq!(
        server.mail_sends().len(),
        2,
        "MAX_ACTIVE_PER_DOMAIN held across processes"
    );
    let active: i64 = sb
        .db()
        .query_row(
            "SELECT COUNT(*) FROM sequence WHERE state = 'active'",
            args![],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(active, 2);
}

#[test]
fn businesses_that_only_have_a_facebook_page_are_not_one_company_for_the_domain_caps() {
    let (server, sb) = sendgrid_sandbox();
    let sb = sb
        .with("MAX_NEW_CONTACTS_PER_DOMAIN_PER_DAY", "1")
        .with("MAX_ACTIVE_PER_DOMAIN", "1");
    import(
        &sb,
        "name,email,company,website\nJoe,joe@joes-pizza.biz,Joes Pizza,https://facebook.com/joespizza\nAl,al@als-barber.biz,Als Barber,https://www.facebook.com/alsbarber\nMo,mo@mos-garage.biz,Mos Garage,facebook.com/mosgarage\n",
    );
    let r = pass_at(&sb, "2026-12-01T10:00:00Z");
    assert_eq!(
        (r["sent"].as_u64(), r["domain_capped"].as_u64()),
        (Some(3), Some(0)),
        "{r}"
    );
    assert_eq!(server.mail_sends().len(), 3);
}

#[test]
fn a_step_s_subject_is_checked_at_config_time_and_a_lead_it_cannot_name_gets_the_thread_s_subject()
{
    // A variable hoss does not know is a configuration problem, found by
    // `check` before any pass: real email stays off, with the reason.
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server)
        .config_file("[[sequence.steps]]\n[[sequence.steps]]\ndelay_days = 1\nsubject = \"Hi {{ firstname }}\"\n");
    let check: Value = sb.json(&["check", "--json"]);
    let email = &check["subsystems"]["email"];
    assert_eq!(email["effective"], "DRY_RUN", "{email}");
    assert!(
        email["reason"]
            .as_str()
            .unwrap()
            .contains("sequence step 2"),
        "{email}"
    );

    // A known variable this lead lacks: the follow-up still goes, as a
    // reply with the thread's subject; the lead stays `contacted`.
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server).config_file(
        "[[sequence.steps]]\n[[sequence.steps]]\ndelay_days = 1\ntemplate = \"followup\"\nsubject = \"Hi {{ first_name }}, one more thing\"\n",
    );
    import(&sb, "email,company\nnoname@acme-dental.com,Acme Dental\n");
    import(
        &sb,
        "name,email,company\nAnn Lee,ann@other-co.com,Other Co\n",
    );
    assert_eq!(pass_at(&sb, "2026-12-01T10:00:00Z")["sent"], 2);
    let r = pass_at(&sb, "2026-12-02T10:00:00Z");
    assert_eq!(
        (r["follow_ups"].as_u64(), r["failed"].as_u64()),
        (Some(2), Some(0)),
        "{r}"
    );
    let messages = server.messages();
    let subject = |i: usize| header(&messages[i].data, "Subject").unwrap();
    assert_eq!(messages[2].to, vec!["noname@acme-dental.com"]);
    assert_eq!(subject(2), format!("Re: {}", subject(0)));
    assert_eq!(subject(3), "Hi Ann, one more thing");
    let lead: Value = sb.json(&["lead", "show", "1", "--json"]);
    assert_eq!(lead["status"], "contacted");
}

#[test]
fn a_follow_up_that_cannot_be_written_for_a_lead_ends_its_sequence_not_the_lead() {
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server).config_file(
        "[[sequence.steps]]\n[[sequence.steps]]\ndelay_days = 1\ntemplate = \"blunt\"\n[[sequence.steps]]\ndelay_days = 1\n",
    );
    std::fs::create_dir_all(sb.path("templates")).unwrap();
    std::fs::write(
        sb.path("templates/blunt.toml"),
        "subjects = [\"Hello {{ company }}\"]\nbodies = [\"\"\"Hi {{ first_name }},\n\nShort one.\n\n{{ footer }}\"\"\"]\n",
    )
    .unwrap();
    let dir = sb.path("templates");
    let sb = sb.with("TEMPLATES_DIR", dir.to_str().unwrap());
    let check: Value = sb.json(&["check", "--json"]);
    assert_eq!(check["subsystems"]["email"]["effective"], "SMTP", "{check}");
    import(&sb, "email,company\nnoname@acme-dental.com,Acme Dental\n");
    assert_eq!(pass_at(&sb, "2026-12-01T10:00:00Z")["sent"], 1);
    // The pack needs a first name this lead does not have: nothing is sent,
    // and the sequence says why. The lead was emailed and stays `contacted`
    // (no bounce, no failed address).
    let r = pass_at(&sb, "2026-12-02T10:00:00Z");
    assert_eq!(r["sent"], 0, "{r}");
    let lead: Value = sb.json(&["lead", "show", "1", "--json"]);
    assert_eq!(lead["status"], "contacted", "{lead}");
    let states = sequence_states(&sb);
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].1, "stopped");
    let reason = states[0].2.clone().unwrap();
    assert!(reason.starts_with("cannot compose"), "{reason}");
    assert!(reason.contains("first_name"), "{reason}");
    // Nothing more is tried for it, and the ledger kept the attempt.
    assert_eq!(pass_at(&sb, "2026-12-03T10:00:00Z")["attempted"], 0);
    assert_eq!(server.messages().len(), 1);
    let failed: i64 = sb
        .db()
        .query_row(
            "SELECT COUNT(*) FROM send_ledger WHERE step = 2 AND outcome = 'failed'",
            args![],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failed, 1);
}

#[test]
fn a_configured_follow_up_without_a_template_uses_the_follow_up_words_not_the_first_email_again() {
    let server = SmtpServer::start(SmtpMode::Accept);
    let sb = smtp(&server).config_file("[[sequence.steps]]\n[[sequence.steps]]\ndelay_days = 1\n");
    import(
        &sb,
        "name,email,company\nAnn,ann@a-co.com,A Co\nBo,bo@b-co.com,B Co\n",
    );
    assert_eq!(pass_at(&sb, "2026-12-01T10:00:00Z")["sent"], 2);
    assert_eq!(pass_at(&sb, "2026-12-02T10:00:00Z")["follow_ups"], 2);
    let body = |data: &[u8]| {
        let text = String::from_utf8_lossy(data).replace("\r\n", "\n");
        text[text.find("\n\n").unwrap()..].to_string()
    };
    let messages = server.messages();
    for lead in ["ann@a-co.com", "bo@b-co.com"] {
        let bodies: Vec<String> = messages
            .iter()
            .filter(|m| m.to == vec![lead.to_string()])
            .map(|m| body(&m.data))
            .collect();
        assert_eq!(bodies.len(), 2);
        assert_ne!(bodies[0], bodies[1], "{lead} got the same email twice");
    }
    let variants: Vec<Option<String>> = sb
        .db()
        .query_all(
            "SELECT variant FROM send_ledger WHERE step = 2 ORDER BY id",
            args![],
            |r| r.get(0),
        )
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(variants, vec![Some("followup".to_string()); 2]);
}

#[test]
fn leads_held_back_by_a_cap_cost_no_pause_between_sends() {
    let (server, sb) = sendgrid_sandbox();
    let sb = sb
        .with("EMAIL_SEND_DELAY_MIN", "2")
        .with("EMAIL_SEND_DELAY_MAX", "2")
        .with("MAX_NEW_CONTACTS_PER_DOMAIN_PER_DAY", "1");
    let mut csv = String::from("name,email,company\nA,a@alpha-co.com,Alpha\n");
    for i in 0..6 {
        csv.push_str(&format!("B {i},b{i}@big-corp.com,Big Corp {i}\n"));
    }
    import(&sb, &csv);
    let started = std::time::Instant::now();
    let r = pass_at(&sb, "2026-12-01T10:00:00Z");
    let took = started.elapsed();
    assert_eq!(
        (r["sent"].as_u64(), r["domain_capped"].as_u64()),
        (Some(2), Some(5)),
        "{r}"
    );
    assert_eq!(server.mail_sends().len(), 2);
    // One pause after each real send (2 s each), none for the five leads
    // that were only looked at: well under the 12 s of a pause per lead.
    assert!(took < std::time::Duration::from_secs(8), "{took:?}");
}

#[test]
fn transient_failures_of_the_first_email_do_not_count_against_its_follow_up() {
    // Mail sends 1, 2 and 4 meet a busy provider (503), 3 and 5 go.
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let server = FakeServer::start(move |r: &Recorded| {
        if !r.url.starts_with("/v3/mail/send") {
            return crate::harness::sendgrid_answer(r);
        }
        match counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 | 1 | 3 => (503, "{\"errors\":[{\"message\":\"busy\"}]}".into()),
            _ => (202, String::new()),
        }
    });
    let sb = Sandbox::new()
        .email_via_sendgrid(&server.url)
        .with("SENDGRID_API_KEY", "SG.transient-key")
        .with("EMAIL_SEND_DELAY_MIN", "0")
        .with("EMAIL_SEND_DELAY_MAX", "0");
    import(
        &sb,
        "name,email,company\nAnn,ann@acme-dental.com,Acme Dental\n",
    );
    for at in ["2026-12-01T10:00:00Z", "2026-12-01T10:10:00Z"] {
        assert_eq!(pass_at(&sb, at)["failed"], 1, "{at}");
    }
    assert_eq!(pass_at(&sb, "2026-12-01T10:20:00Z")["sent"], 1);
    // Step 2 meets one busy answer: the lead was emailed, its step waits
    // for the next pass — one transient failure is not its third.
    let r = pass_at(&sb, "2026-12-04T10:30:00Z");
    assert_eq!(r["failed"], 1, "{r}");
    let lead: Value = sb.json(&["lead", "show", "1", "--json"]);
    assert_eq!(lead["status"], "contacted", "{lead}");
    let r = pass_at(&sb, "2026-12-04T10:40:00Z");
    assert_eq!(r["follow_ups"], 1, "{r}");
    assert_eq!(server.mail_sends().len(), 5);
}

#[test]
fn preview_of_a_due_follow_up_does_not_claim_it_would_be_refused() {
    let (_server, sb) = sendgrid_sandbox();
    import(
        &sb,
        "name,email,company\nAnn,ann@acme-dental.com,Acme Dental\n",
    );
    assert_eq!(pass_at(&sb, "2026-12-01T10:00:00Z")["sent"], 1);
    let out = sb
        .command(&["preview", "1", "--step", "2", "--json"])
        .env("HOSS_NOW", "2026-12-04T10:00:00Z")
        .output()
        .unwrap();
    let out = crate::harness::Output::from(out);
    assert_eq!(out.code, 0, "{out:?}");
    let p: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(p["not_sent_because"], Value::Null, "{p}");
    assert!(out.log_lines("[PREVIEW]").is_empty(), "{}", out.stderr);
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .contains("In-Reply-To: <hoss."),
        "{p}"
    );
    // Step 1 of the same lead is refused: it was emailed.
    let p: Value = sb.json(&["preview", "1", "--step", "1", "--json"]);
    assert!(p["not_sent_because"].is_string(), "{p}");
}

#[test]
fn a_warm_up_that_starts_at_zero_needs_a_start_date_or_it_would_never_send() {
    // Day 0 is the day of the first real send; a ramp starting at 0 would
    // wait for that day forever. `check` says so before any pass.
    let (_server, sb) = sendgrid_sandbox();
    let sb = sb
        .with("WARMUP", "ON")
        .with("WARMUP_START", "0")
        .with("WARMUP_STEP", "5");
    let check: Value = sb.json(&["check", "--json"]);
    let email = &check["subsystems"]["email"];
    assert_eq!(email["effective"], "DRY_RUN", "{email}");
    assert!(
        email["reason"].as_str().unwrap().contains("WARMUP_START"),
        "{email}"
    );
    // With a start date the ramp is a plan: 0 on day 0, 5 the day after.
    let (server, sb) = sendgrid_sandbox();
    let sb = sb
        .with("WARMUP", "ON")
        .with("WARMUP_START", "0")
        .with("WARMUP_STEP", "5")
        .with("WARMUP_START_DATE", "2026-12-01");
    import(&sb, &leads_csv(8));
    assert_eq!(pass_at(&sb, "2026-12-01T10:00:00Z")["sent"], 0);
    assert_eq!(pass_at(&sb, "2026-12-02T10:00:00Z")["sent"], 5);
    assert_eq!(server.mail_sends().len(), 5);
}

#[test]
fn dry_run_in_the_middle_of_a_sequence_sends_nothing_and_moves_nothing_on() {
    let (server, sb) = sendgrid_sandbox();
    import(
        &sb,
        "name,email,company\nAnn,ann@acme-dental.com,Acme Dental\n",
    );
    assert_eq!(pass_at(&sb, "2026-12-01T10:00:00Z")["sent"], 1);
    // Step 2 is due; the operator turns DRY_RUN on for a while.
    let dry = sb.with("DRY_RUN", "TRUE");
    let r = pass_at(&dry, "2026-12-04T10:00:00Z");
    assert_eq!(
        (r["mode"].as_str(), r["sent"].as_u64()),
        (Some("DRY_RUN"), Some(0)),
        "{r}"
    );
    let states = sequence_states(&dry);
    assert_eq!(states, vec![(1, "active".to_string(), None)]);
    let step: i64 = dry
        .db()
        .query_row("SELECT step FROM sequence", args![], |r| r.get(0))
        .unwrap();
    assert_eq!(step, 1);
    assert_eq!(server.mail_sends().len(), 1);
    // Back to real: the step goes once, threaded, and counts toward caps.
    let real = dry.with("DRY_RUN", "FALSE");
    assert_eq!(pass_at(&real, "2026-12-04T11:00:00Z")["follow_ups"], 1);
    assert_eq!(pass_at(&real, "2026-12-04T12:00:00Z")["sent"], 0);
    assert_eq!(server.mail_sends().len(), 2);
}
