//! The safety contract of SPEC §1–3, §8, §10: modes and fallbacks, release
//! mode, secrets, config files, exit codes, runs and the operator log.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::Stdio;

use serde::Deserialize;

use crate::harness::{Sandbox, Trap};

#[derive(Debug, Deserialize)]
pub struct Sub {
    pub requested: String,
    pub effective: String,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Subs {
    pub email: Sub,
    pub leads: Sub,
    pub stripe: Sub,
    pub pings: Sub,
}

#[derive(Debug, Deserialize)]
pub struct CheckJson {
    pub release_mode: bool,
    pub dry_run: bool,
    pub subsystems: Subs,
    pub ok: bool,
}

#[derive(Debug, Deserialize)]
pub struct RunJson {
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: String,
}

#[derive(Debug, Deserialize)]
pub struct StatusJson {
    pub release_mode: bool,
    pub dry_run: bool,
    pub subsystems: Subs,
    pub runs: BTreeMap<String, RunJson>,
    pub warnings: Vec<String>,
}

/// A configuration that would be real in every subsystem.
fn fully_configured(trap: &Trap) -> Sandbox {
    let mut sb = Sandbox::new()
        .with("EMAIL_MODE", "SENDGRID")
        .with("SENDER_NAME", "Sam Carter")
        .with("COMPANY_NAME", "Carter Consulting LLC")
        .with("SENDGRID_API_KEY", "SG.sentinel-sendgrid-key")
        .with("SENDGRID_FROM_EMAIL", "ops@hoss-operator.com")
        .with("COMPANY_POSTAL_ADDRESS", "1 Main St, Springfield")
        .with("LEAD_SOURCE_PROVIDER", "SEARCH_API")
        .with("LEAD_SEARCH_API_KEY", "sentinel-search-key")
        .with("ENABLE_STRIPE", "TRUE")
        .with("STRIPE_API_KEY", "sk_test_sentinelstripekey123")
        .with("STRIPE_WEBHOOK_SECRET", "whsec_sentinelwebhooksecret");
    trap.arm(&mut sb);
    sb.set("HEALTHCHECK_URL", &trap.url("/ping"));
    sb
}

#[test]
fn defaults_simulate_everything_and_open_no_connection() {
    let trap = Trap::start();
    let mut sb = Sandbox::new();
    trap.arm(&mut sb);
    let check: CheckJson = sb.json(&["check", "--json"]);
    assert!(check.ok && !check.release_mode && !check.dry_run);
    assert_eq!(check.subsystems.email.effective, "DRY_RUN");
    assert_eq!(check.subsystems.leads.effective, "DUMMY_SEED");
    assert_eq!(check.subsystems.stripe.effective, "DISABLED");
    assert_eq!(check.subsystems.pings.effective, "OFF");
    let status = sb.run(&["status"]);
    assert_eq!(status.code, 0, "{status:?}");
    assert!(
        status.log_lines("DRY_RUN_FALLBACK").is_empty(),
        "{}",
        status.stderr
    );
    assert_eq!(trap.connections(), 0);
}

#[test]
fn complete_configuration_is_reported_real() {
    let trap = Trap::start();
    let sb = fully_configured(&trap);
    let check: CheckJson = sb.json(&["check", "--json"]);
    assert_eq!(check.subsystems.email.effective, "SENDGRID", "{check:?}");
    assert_eq!(check.subsystems.leads.effective, "SEARCH_API");
    assert_eq!(check.subsystems.stripe.effective, "ENABLED");
    assert_eq!(check.subsystems.pings.effective, "ON");
    let out = sb.run(&["check"]);
    assert_eq!(
        out.log_lines("[RELEASE_MODE][OFF][REAL_SIDE_EFFECTS] subsystems=email,leads,stripe,pings")
            .len(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(trap.connections(), 0, "check and status never call out");
}

#[test]
fn global_dry_run_forces_every_subsystem_and_opens_no_connection() {
    let trap = Trap::start();
    let sb = fully_configured(&trap).with("DRY_RUN", "TRUE");
    let check: CheckJson = sb.json(&["check", "--json"]);
    assert!(check.dry_run && check.ok);
    let s = &check.subsystems;
    for (name, sub, effective) in [
        ("email", &s.email, "DRY_RUN"),
        ("leads", &s.leads, "NONE"),
        ("stripe", &s.stripe, "DISABLED"),
        ("pings", &s.pings, "OFF"),
    ] {
        assert_eq!(sub.effective, effective, "{name}");
        assert!(
            sub.reason.as_deref().unwrap().starts_with("DRY_RUN=TRUE"),
            "{name}: {sub:?}"
        );
    }
    let status = sb.run(&["status", "--json"]);
    assert_eq!(status.code, 0);
    assert_eq!(trap.connections(), 0);
}

#[test]
fn missing_credentials_fall_back_with_one_line_per_subsystem() {
    let sb = Sandbox::new()
        .with("EMAIL_MODE", "SENDGRID")
        .with("SENDER_NAME", "Sam Carter")
        .with("COMPANY_NAME", "Carter Consulting LLC")
        .with("LEAD_SOURCE_PROVIDER", "SEARCH_API")
        .with("ENABLE_STRIPE", "TRUE");
    let out = sb.run(&["check"]);
    assert_eq!(out.code, 0, "{out:?}");
    for (subsystem, var) in [
        ("email", "SENDGRID_API_KEY is missing"),
        ("leads", "LEAD_SEARCH_API_KEY is missing"),
        ("stripe", "STRIPE_API_KEY is missing"),
    ] {
        let lines = out.log_lines(&format!(
            "[DRY_RUN_FALLBACK] subsystem={subsystem} reason=\""
        ));
        assert_eq!(lines.len(), 1, "{subsystem}: {}", out.stderr);
        assert!(lines[0].contains(var), "{}", lines[0]);
        assert!(
            lines[0].contains(" INFO "),
            "sandbox fallbacks are quiet: {}",
            lines[0]
        );
    }
    assert!(out.log_lines("[RELEASE_MODE][ON]").is_empty());
}

#[test]
fn release_mode_with_missing_credentials_is_loud_and_fails_the_deploy_gate() {
    let sb = Sandbox::new()
        .with("RELEASE_MODE", "TRUE")
        .with("EMAIL_MODE", "SENDGRID")
        .with("SENDER_NAME", "Sam Carter")
        .with("COMPANY_NAME", "Carter Consulting LLC")
        .with("LEAD_SOURCE_PROVIDER", "SEARCH_API")
        .with("ENABLE_STRIPE", "TRUE")
        .with("MAX_EMAILS_PER_HOUR", "150");
    let out = sb.run(&["check"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert_eq!(
        out.log_lines("[RELEASE_MODE][ON]").len(),
        1,
        "{}",
        out.stderr
    );
    let fallbacks = out.log_lines("[DRY_RUN_FALLBACK]");
    assert_eq!(fallbacks.len(), 3, "{}", out.stderr);
    assert!(
        fallbacks
            .iter()
            .all(|l| l.contains(" ERROR ") || l.contains(" WARN "))
    );
    assert_eq!(
        out.log_lines("[RELEASE_MODE][HIGH_VOLUME_WARNING]").len(),
        1
    );

    // status still answers (exit 0) and lists the fallbacks as warnings.
    let status: StatusJson = sb.json(&["status", "--json"]);
    assert!(status.release_mode && !status.dry_run);
    assert_eq!(status.subsystems.email.effective, "DRY_RUN");
    let fallbacks = status
        .warnings
        .iter()
        .filter(|w| w.contains(" requested "))
        .count();
    assert_eq!(fallbacks, 3, "{:?}", status.warnings);
    assert!(
        !status.runs.contains_key("check"),
        "a look is not a run: {:?}",
        status.runs.keys()
    );

    // The same release configuration, complete, passes the gate.
    let ok = Sandbox::new().with("RELEASE_MODE", "TRUE");
    assert_eq!(ok.run(&["check"]).code, 0);
}

#[test]
fn production_is_accepted_as_release_mode() {
    let check: CheckJson = Sandbox::new()
        .with("PRODUCTION", "TRUE")
        .json(&["check", "--json"]);
    assert!(check.release_mode);
}

#[test]
fn stripe_key_mode_mismatch_is_warned() {
    let sb = Sandbox::new()
        .with("RELEASE_MODE", "TRUE")
        .with("ENABLE_STRIPE", "TRUE")
        .with("STRIPE_API_KEY", "sk_test_abcdefgh12345678");
    let out = sb.run(&["check"]);
    assert_eq!(
        out.log_lines("[STRIPE][KEY_MODE_MISMATCH] key_mode=test release_mode=true")
            .len(),
        1,
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("abcdefgh"));
}

#[test]
fn invalid_values_fall_back_with_a_reason_naming_the_variable() {
    let trap = Trap::start();
    for (var, value) in [
        ("MAX_EMAILS_PER_HOUR", "abc"),
        ("MAX_EMAILS_PER_HOUR", "-5"),
        ("MAX_EMAILS_PER_CYCLE", "1e3"),
        ("EMAIL_SEND_DELAY_MAX", "601"),
        ("EMAIL_MODE", "SENDGRIDD"),
        ("SENDGRID_API_BASE", "http://api.sendgrid.com"),
        ("REPLY_TO_EMAIL", "not-an-address"),
    ] {
        let sb = fully_configured(&trap).with(var, value);
        let out = sb.run(&["check", "--json"]);
        assert_eq!(out.code, 0, "{var}={value}: {out:?}");
        let check: CheckJson = serde_json::from_str(&out.stdout).unwrap();
        let email = &check.subsystems.email;
        assert_eq!(email.effective, "DRY_RUN", "{var}={value}");
        assert!(
            email.reason.as_deref().unwrap().contains(var),
            "{var}={value}: {email:?}"
        );
        let line = out.log_lines("[DRY_RUN_FALLBACK] subsystem=email");
        assert_eq!(line.len(), 1, "{var}={value}: {}", out.stderr);
        assert!(line[0].contains(var));
    }
    for (var, value) in [
        ("STRIPE_API_KEY", "pk_live_wrongshape123"),
        ("STRIPE_API_BASE", "http://api.stripe.com"),
        ("STRIPE_MAX_AMOUNT", "1e3"),
        ("STRIPE_DEFAULT_CURRENCY", "US Dollar"),
    ] {
        let out = fully_configured(&trap)
            .with(var, value)
            .run(&["check", "--json"]);
        // A currency `bill` refuses is also a deploy-gate problem (exit 78).
        let refused_by_bill = var == "STRIPE_DEFAULT_CURRENCY";
        assert_eq!(out.code, if refused_by_bill { 78 } else { 0 }, "{out:?}");
        let check: CheckJson = serde_json::from_str(&out.stdout).unwrap();
        let stripe = &check.subsystems.stripe;
        assert_eq!(stripe.effective, "DISABLED", "{var}={value}");
        assert!(
            stripe.reason.as_deref().unwrap().contains(var),
            "{var}={value}: {stripe:?}"
        );
    }
    let check: CheckJson = fully_configured(&trap)
        .with("LEAD_SEARCH_API_URL", "http://leads.vendor.com/search")
        .json(&["check", "--json"]);
    assert_eq!(check.subsystems.leads.effective, "NONE");
    assert!(
        check
            .subsystems
            .leads
            .reason
            .unwrap()
            .contains("LEAD_SEARCH_API_URL")
    );
    assert_eq!(trap.connections(), 0);
}

#[test]
fn unreadable_booleans_resolve_to_the_safe_side() {
    let sb = Sandbox::new()
        .with("DRY_RUN", "perhaps")
        .with("RELEASE_MODE", "sometimes");
    let out = sb.run(&["check", "--json"]);
    let check: CheckJson = serde_json::from_str(&out.stdout).unwrap();
    assert!(check.dry_run && check.release_mode);
    assert_eq!(
        out.log_lines("[CONFIG][INVALID_BOOL]").len(),
        2,
        "{}",
        out.stderr
    );
}

#[test]
fn secret_values_never_appear_in_output_or_database() {
    let trap = Trap::start();
    let sentinels = [
        ("SENDGRID_API_KEY", "SG.SENTINEL0SENDGRID"),
        ("SMTP_PASSWORD", "SENTINEL1SMTPPW"),
        ("LEAD_SEARCH_API_KEY", "SENTINEL2SEARCH"),
        ("STRIPE_API_KEY", "sk_live_SENTINEL3STRIPE"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_SENTINEL4HOOK"),
    ];
    let mut runs = Vec::new();
    for release in ["FALSE", "TRUE"] {
        for bad_stripe_key in [false, true] {
            let mut sb = fully_configured(&trap)
                .with("RELEASE_MODE", release)
                .with("SMTP_USERNAME", "u");
            for (k, v) in sentinels {
                sb.set(k, v);
            }
            if bad_stripe_key {
                sb.set("STRIPE_API_KEY", "sk_wrong_SENTINEL3STRIPE");
            }
            for args in [
                &["check"][..],
                &["check", "--json"],
                &["status"],
                &["status", "--json"],
            ] {
                let out = sb.run(args);
                runs.push(format!("{}\n{}", out.stdout, out.stderr));
            }
            for entry in std::fs::read_dir(sb.dir.path()).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    runs.push(String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned());
                }
            }
        }
    }
    for text in &runs {
        assert!(!text.contains("SENTINEL"), "a secret leaked:\n{text}");
    }
}

#[test]
fn unparsable_config_file_exits_78_naming_file_and_line() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("config")).unwrap();
    std::fs::write(
        sb.path("config/hoss.toml"),
        "EMAIL_MODE = \"SMTP\"\n\nMAX_EMAILS_PER_HOUR = = 5\n",
    )
    .unwrap();
    let out = sb.run(&["check"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(out.stderr.contains("config/hoss.toml"), "{}", out.stderr);
    assert!(out.stderr.contains("line 3"), "{}", out.stderr);
    assert!(
        !sb.path("hoss.db").exists(),
        "nothing done before the config is read"
    );

    let missing = Sandbox::new().with("HOSS_CONFIG", "nowhere.toml");
    let out = missing.run(&["check"]);
    assert_eq!(out.code, 78);
    assert!(out.stderr.contains("nowhere.toml"), "{}", out.stderr);
}

#[test]
fn config_file_values_apply_and_the_environment_wins() {
    let sb = Sandbox::new();
    let file = sb.path("custom.toml");
    std::fs::write(
        &file,
        "EMAIL_MODE = \"SMTP\"\nMAX_EMAILS_PER_HOUR = 7\nENABLE_STRIPE = true\nTYPO_KEY = 1\n\n[[onboarding.tasks]]\ndescription = \"Setup\"\namount = \"150.00\"\n",
    )
    .unwrap();
    let sb = sb.with("HOSS_CONFIG", file.to_str().unwrap());
    let out = sb.run(&["check", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let check: CheckJson = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(check.subsystems.email.requested, "SMTP");
    assert_eq!(check.subsystems.stripe.requested, "ENABLED");
    assert_eq!(
        out.log_lines("[CONFIG][UNKNOWN_KEY] key=\"TYPO_KEY\"")
            .len(),
        1,
        "{}",
        out.stderr
    );

    let sb = sb
        .with("EMAIL_MODE", "DRY_RUN")
        .with("ENABLE_STRIPE", "FALSE");
    let check: CheckJson = sb.json(&["check", "--json"]);
    assert_eq!(check.subsystems.email.requested, "DRY_RUN");
    assert_eq!(check.subsystems.stripe.requested, "DISABLED");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let sb = Sandbox::new();
    assert_eq!(sb.run(&["frobnicate"]).code, 2);
    assert_eq!(sb.run(&["check", "--bogus"]).code, 2);
    assert_eq!(sb.run(&[]).code, 2);
    let help = sb.run(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Exit codes"));
}

#[test]
fn a_closed_stdout_pipe_is_not_an_error() {
    let sb = Sandbox::new();
    sb.run(&["check"]);
    for _ in 0..3 {
        let mut child = sb
            .command(&["status"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{err}");
        assert!(
            !err.contains("panicked") && !err.contains("INTERNAL"),
            "{err}"
        );
    }
}

#[test]
fn database_problems_give_clear_messages_and_exit_codes() {
    let sb = Sandbox::sqlite().with("HOSS_DB", "/nonexistent-dir-for-hoss/hoss.db");
    let out = sb.run(&["status"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);

    let sb = Sandbox::sqlite();
    std::fs::write(sb.path("hoss.db"), vec![b'x'; 4096]).unwrap();
    let out = sb.run(&["status"]);
    assert_eq!(out.code, 65, "{out:?}");
    assert!(
        out.stderr.contains("not a valid hoss database"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"));
}

#[test]
fn every_command_that_acts_records_its_run_and_looks_do_not() {
    let sb = Sandbox::new();
    assert_eq!(sb.run(&["source-leads"]).code, 0);
    assert_eq!(sb.run(&["lead", "set-status", "1", "dead"]).code, 0);
    let status: StatusJson = sb.json(&["status", "--json"]);
    let run = &status.runs["source-leads"];
    assert_eq!(run.outcome, "ok");
    assert!(
        run.started_at.ends_with('Z') && run.finished_at.is_some(),
        "{run:?}"
    );
    assert_eq!(status.runs["lead set-status"].outcome, "ok");
    // Looking is not running: a failed `lead show` is the asker's problem.
    assert_eq!(sb.run(&["check"]).code, 0);
    assert_eq!(sb.run(&["lead", "show", "999"]).code, 65);
    assert_eq!(sb.run(&["invoice", "show", "999"]).code, 65);
    let status: StatusJson = sb.json(&["status", "--json"]);
    for look in ["check", "status", "lead show", "invoice show", "lead list"] {
        assert!(
            !status.runs.contains_key(look),
            "{look}: {:?}",
            status.runs.keys()
        );
    }
    assert!(
        status.warnings.iter().all(|w| !w.contains("show")),
        "{:?}",
        status.warnings
    );
}

#[test]
fn operator_events_are_stored_in_the_capped_table() {
    let sb = Sandbox::new()
        .with("EMAIL_MODE", "SMTP")
        .with("SENDER_NAME", "Sam Carter")
        .with("COMPANY_NAME", "Carter Consulting LLC")
        .with("LOG_MAX_ENTRIES", "100");
    for _ in 0..3 {
        sb.run(&["check"]);
    }
    let db = sb.db();
    let (n, level, message): (i64, String, String) = db
        .query_row(
            "SELECT COUNT(*), MAX(level), MAX(message) FROM event_log WHERE tag = '[DRY_RUN_FALLBACK]'",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(level, "INFO");
    assert!(
        message.starts_with("[DRY_RUN_FALLBACK] subsystem=email reason=\"SMTP_HOST is missing"),
        "{message}"
    );
}

#[test]
fn human_status_names_every_subsystem_and_run() {
    let sb = Sandbox::new()
        .with("EMAIL_MODE", "SENDGRID")
        .with("SENDER_NAME", "Sam Carter")
        .with("COMPANY_NAME", "Carter Consulting LLC");
    sb.run(&["source-leads"]);
    let out = sb.run(&["status"]);
    assert_eq!(out.code, 0);
    for needle in [
        "release mode: OFF",
        "email",
        "leads",
        "stripe",
        "pings",
        "SENDGRID_API_KEY is missing",
        "source-leads",
        "ok",
    ] {
        assert!(out.stdout.contains(needle), "{needle}: {}", out.stdout);
    }
}

#[test]
fn the_example_config_documents_only_known_keys_and_parses() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/hoss.example.toml"
    ))
    .unwrap();
    let uncommented: String = example
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if is_setting(rest) => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        uncommented.contains("\nEMAIL_MODE = \"DRY_RUN\""),
        "{uncommented}"
    );
    let mut sb = Sandbox::new();
    let file = sb.path("full.toml");
    std::fs::write(&file, &uncommented).unwrap();
    sb.set("HOSS_CONFIG", file.to_str().unwrap());
    let out = sb.run(&["check", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.log_lines("[CONFIG]").is_empty(), "{}", out.stderr);
}

/// `KEY = value`, `[[table]]` or a task field: a commented-out setting.
fn is_setting(line: &str) -> bool {
    let key = line.split(" = ").next().unwrap_or_default();
    line.starts_with("[[")
        || (line.contains(" = ")
            && !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_lowercase()))
}

#[test]
fn an_empty_variable_never_overrides_the_config_file() {
    let sb = Sandbox::new()
        .config_file("DRY_RUN = true\nMAX_EMAILS_PER_HOUR = 5\nMAX_EMAILS_PER_CYCLE = 2\n")
        .with("DRY_RUN", "")
        .with("MAX_EMAILS_PER_HOUR", "")
        .with("MAX_EMAILS_PER_CYCLE", "  ");
    let out = sb.run(&["status", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let status: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        status["dry_run"], true,
        "an empty DRY_RUN keeps the file's TRUE"
    );
    assert_eq!(status["email"]["max_per_hour"], 5);
    assert_eq!(status["email"]["max_per_cycle"], 2);
    assert_eq!(
        out.log_lines("[CONFIG][EMPTY_ENV] DRY_RUN").len(),
        1,
        "{}",
        out.stderr
    );
}

#[test]
fn every_json_command_prints_one_document_even_when_it_fails() {
    let sb = Sandbox::new();
    type Case<'a> = (&'a [&'a str], Option<(&'a str, &'a str)>, i32);
    let cases: [Case; 4] = [
        (&["lead", "show", "999", "--json"], None, 65),
        (&["invoice", "void", "42", "--json"], None, 65),
        (
            &["check", "--json"],
            Some(("HOSS_CONFIG", "nowhere.toml")),
            78,
        ),
        (
            &["status", "--json"],
            Some(("HOSS_CONFIG", "nowhere.toml")),
            78,
        ),
    ];
    for (args, env, code) in cases {
        let mut cmd = sb.command(args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{args:?}: {stdout}");
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(doc["error"]["code"], code, "{args:?}: {doc}");
        assert!(
            !doc["error"]["message"].as_str().unwrap().is_empty(),
            "{args:?}: {doc}"
        );
    }
    // Without --json, stdout stays empty on failure.
    let out = sb.run(&["lead", "show", "999"]);
    assert_eq!((out.code, out.stdout.as_str()), (65, ""));
}

#[test]
fn check_is_a_full_deploy_gate_for_what_a_pass_would_read_or_run() {
    let problems = |sb: &Sandbox| -> (i32, Vec<String>) {
        let out = sb.run(&["check", "--json"]);
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let list = doc["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect();
        assert_eq!(doc["ok"], out.code == 0, "{doc}");
        (out.code, list)
    };
    let sb = Sandbox::new();
    assert_eq!(problems(&sb), (0, vec![]));

    let tasks = Sandbox::new()
        .config_file("[[onboarding.tasks]]\ndescription = \"Setup\"\namount = \"ten\"\n");
    let (code, list) = problems(&tasks);
    assert_eq!(code, 78, "{list:?}");
    assert!(list[0].contains("onboarding"), "{list:?}");
    assert_eq!(
        tasks.run(&["onboard"]).code,
        78,
        "check agrees with the pass"
    );

    for (cmd, fine) in [
        ("env; echo done", true),
        ("/bin/cat", true),
        ("FOO=1 sh -c 'cat'", true),
        ("touch ran-by-check", true),
        ("no-such-executor-xyz --flag", false),
        ("./missing-script.sh", false),
        ("echo 'unclosed", false),
    ] {
        let sb = Sandbox::new().with("OPS_EXECUTOR_CMD", cmd);
        let (code, list) = problems(&sb);
        assert_eq!(code == 0, fine, "{cmd}: {list:?}");
        if !fine {
            assert!(list[0].starts_with("OPS_EXECUTOR_CMD"), "{list:?}");
        }
        assert!(
            !sb.path("ran-by-check").exists(),
            "check never runs the executor"
        );
    }

    let portal = Sandbox::new().with("PORTAL_DIR", "/no/such/dir/portal");
    let (code, list) = problems(&portal);
    assert_eq!(code, 78);
    assert!(list[0].starts_with("PORTAL_DIR"), "{list:?}");
    let human = portal.run(&["check"]);
    assert!(
        human.stdout.contains("problem: PORTAL_DIR"),
        "{}",
        human.stdout
    );
}

#[test]
fn the_release_banner_is_logged_by_passes_and_check_not_by_looks() {
    let sb = Sandbox::new().with("RELEASE_MODE", "TRUE");
    for (args, loud) in [
        (&["check"][..], true),
        (&["source-leads"], true),
        (&["status"], false),
        (&["lead", "list"], false),
        (&["summary"], false),
    ] {
        let out = sb.run(args);
        assert_eq!(
            out.log_lines("[RELEASE_MODE][ON]").len(),
            usize::from(loud),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn error_texts_say_each_cause_once_and_what_to_do() {
    let short = Sandbox::new().with("STRIPE_WEBHOOK_SECRET", "whsec_x");
    let out = short.run(&["check"]);
    let line = out.log_lines("STRIPE_WEBHOOK_SECRET");
    assert_eq!(line.len(), 1, "{}", out.stderr);
    assert!(
        line[0].contains("too short") && !line[0].contains("does not start"),
        "{}",
        line[0]
    );
    // A data error is its own message, without a generic prefix.
    let out = Sandbox::new().run(&["lead", "show", "999"]);
    assert!(
        out.stderr.contains("there is no lead 999"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("bad input"), "{}", out.stderr);
}

#[test]
fn serve_refuses_json_and_the_file_cannot_set_release_mode_or_the_clock() {
    let sb = Sandbox::new();
    let out = sb.run(&["serve", "--json"]);
    assert_eq!(out.code, 2, "{out:?}");
    let sb =
        Sandbox::new().config_file("RELEASE_MODE = true\nHOSS_NOW = \"2020-01-01T00:00:00Z\"\n");
    let out = sb.run(&["check", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let check: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        check["release_mode"], false,
        "the file never turns production on"
    );
    assert_eq!(
        out.log_lines("[CONFIG][ENV_ONLY]").len(),
        2,
        "{}",
        out.stderr
    );
}

#[test]
fn a_database_server_that_cannot_be_reached_stops_every_command_unread() {
    // A loopback port nothing listens on: refused at once, no DNS asked.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sb = Sandbox::new().with(
        "DATABASE_URL",
        &format!("postgres://hoss:pg-secret-77@127.0.0.1:{port}/hoss?sslmode=require"),
    );
    for args in [
        &["status"][..],
        &["cycle"],
        &["check", "--json"],
        &["lead", "list"],
    ] {
        let out = sb.run(args);
        assert_eq!(out.code, 75, "{args:?}: {out:?}");
        assert!(
            out.stderr.contains(&format!(
                "cannot reach PostgreSQL at postgres://127.0.0.1:{port}/hoss"
            )),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.contains("pg-secret-77") && !out.stdout.contains("pg-secret-77"));
    }
    // Nothing was written anywhere: no local file stood in for the server.
    assert!(!sb.path("hoss.db").exists());
}

#[test]
fn a_local_file_in_a_replit_deployment_is_a_warning_and_a_release_blocker() {
    let sb = Sandbox::sqlite().with("REPLIT_DEPLOYMENT", "1");
    let status: serde_json::Value = sb.json(&["status", "--json"]);
    assert!(
        status["warnings"]
            .to_string()
            .contains("in a Replit deployment"),
        "{status}"
    );
    assert_eq!(sb.run(&["check"]).code, 0);
    let release = sb.with("RELEASE_MODE", "TRUE");
    let out = release.run(&["check", "--json"]);
    assert_eq!(out.code, 78, "{out:?}");
    let check: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        check["problems"]
            .to_string()
            .contains("its files do not last"),
        "{check}"
    );
    // A pass there writes what the next run will not find: warned each
    // time, and refused in release mode before anything is written.
    let pass = Sandbox::sqlite().with("REPLIT_DEPLOYMENT", "1");
    let out = pass.run(&["cycle"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.log_lines("[CONFIG][EPHEMERAL_STORE]").len(),
        1,
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("DATABASE_URL"), "{}", out.stderr);
    let release = Sandbox::sqlite()
        .with("REPLIT_DEPLOYMENT", "1")
        .with("RELEASE_MODE", "TRUE");
    let out = release.run(&["cycle"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(!release.path("hoss.db").exists(), "nothing written");
    // A database server is where state lasts there: nothing to warn of.
    let on_server = Sandbox::new().with("REPLIT_DEPLOYMENT", "1");
    if on_server.on_postgres() {
        let status: serde_json::Value = on_server.json(&["status", "--json"]);
        assert!(
            !status["warnings"].to_string().contains("Replit"),
            "{status}"
        );
        let release = on_server.with("RELEASE_MODE", "TRUE");
        assert_eq!(release.run(&["check"]).code, 0);
    }
}
