//! The PostgreSQL store (issue #19): its migrations give the same schema as
//! SQLite's (tables, columns, keys, indexes, foreign keys, CHECKs,
//! triggers) and apply once when processes start together; a server that
//! refuses or cannot be reached is told apart (exit 78 or 75), never
//! showing the password; replit.md's deployment runs on it; it works
//! behind PgBouncer in session mode, as POSTGRES.md says; and the whole
//! integration suite passes on it (run again from here).

use hoss::db::{postgres as pg, schema};

use crate::harness::{
    PG_PASSWORD, PG_USER, PgBouncer, Postgres, Sandbox, on_postgres, postgres_installed,
    system_package,
};

#[test]
fn postgres_migrations_give_the_same_schema_as_sqlite() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = hoss::db::open_sqlite(&dir.path().join("hoss.db")).unwrap();
    // No sslmode: `prefer`, which falls back to plain text on a server
    // without TLS, as this one is.
    let url = server.url().replace("?sslmode=disable", "");
    let mut client = pg::connect(&url).unwrap();
    let version = pg::migrate(&mut client).unwrap();
    assert_eq!(version, hoss::db::SCHEMA_VERSION);
    let applied: i32 = sqlite
        .query_row(
            "SELECT MAX(version) FROM refinery_schema_history",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        version, applied,
        "both stores report the same schema version"
    );

    let lite = schema::sqlite(&sqlite).unwrap();
    let post = schema::postgres(&mut client).unwrap();
    assert!(lite.len() >= 20, "{:?}", lite.keys());
    let differences = schema::differences(&lite, &post);
    assert!(
        differences.is_empty(),
        "SQLite (first) and PostgreSQL (second) differ:\n{}",
        differences.join("\n")
    );
    // Again: nothing left to apply.
    assert_eq!(pg::migrate(&mut client).unwrap(), version);
}

#[test]
fn a_server_certificate_hoss_does_not_trust_is_a_setting_to_fix_not_a_wait() {
    // A self-signed certificate: libpq's `require` would take it unchecked;
    // hoss checks it against the public roots and refuses (78), naming
    // the certificate and never the password. Without TLS the same server
    // answers.
    let Some(server) = Postgres::start_with_tls() else {
        return;
    };
    for mode in ["require", "prefer"] {
        let url = server
            .url()
            .replace("sslmode=disable", &format!("sslmode={mode}"));
        let out = Sandbox::sqlite().with("DATABASE_URL", &url).run(&["check"]);
        assert_eq!(out.code, 78, "{mode}: {}", out.stderr);
        assert!(out.stderr.contains("certificate"), "{mode}: {}", out.stderr);
        assert!(!out.stderr.contains(PG_PASSWORD), "{}", out.stderr);
    }
    let out = Sandbox::sqlite()
        .with("DATABASE_URL", &server.url())
        .run(&["check"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn processes_migrating_a_new_postgres_database_together_apply_each_version_once() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let url = server.url();
    let passes: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || pg::migrate(&mut pg::connect(&url).unwrap()).unwrap())
        })
        .collect();
    for pass in passes {
        assert_eq!(pass.join().unwrap(), hoss::db::SCHEMA_VERSION);
    }
    let mut client = pg::connect(&url).unwrap();
    let rows: i64 = client
        .query_one("SELECT COUNT(*) FROM refinery_schema_history", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, i64::from(hoss::db::SCHEMA_VERSION));
    let installs: i64 = client
        .query_one("SELECT COUNT(*) FROM install", &[])
        .unwrap()
        .get(0);
    assert_eq!(installs, 1);
}

#[test]
fn a_wrong_postgres_password_is_a_configuration_error_that_hides_it() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let url = server.url().replace(PG_PASSWORD, "not-the-password-31e");
    let sb = Sandbox::new().with("DATABASE_URL", &url);
    let host = format!("127.0.0.1:{}", server.port);
    for args in [&["status"][..], &["cycle"], &["check", "--json"]] {
        let out = sb.run(args);
        assert_eq!(out.code, 78, "{args:?}: {out:?}");
        assert!(out.stderr.contains(&host), "{}", out.stderr);
        assert!(out.stderr.contains("refused the login"), "{}", out.stderr);
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(!all.contains("not-the-password-31e"), "{all}");
    }
    // Unreachable is temporary: the same URL once the server is gone.
    drop(server);
    let out = sb.run(&["cycle"]);
    assert_eq!(out.code, 75, "{out:?}");
    assert!(out.stderr.contains(&host), "{}", out.stderr);
    assert!(
        !out.stderr.contains("not-the-password-31e"),
        "{}",
        out.stderr
    );
    // No local file stood in for the server the operator meant.
    assert!(!sb.path("hoss.db").exists());
}

/// The query layer (`hoss::db::Db`) and the first `db/` files moved to it
/// (runs, routes, events, suppression, sequences) on a PostgreSQL database:
/// the same answers as their SQLite unit tests; asking PostgreSQL for a
/// SQLite connection is an error, not a panic.
#[test]
fn the_files_on_the_query_layer_work_on_postgres() {
    use hoss::clock::Timestamp;
    use hoss::db::{Store, Value, events, routes, runs, sequences, suppression};

    let Some(server) = Postgres::start() else {
        return;
    };
    let mut client = pg::connect(&server.url()).unwrap();
    pg::migrate(&mut client).unwrap();
    let store = Store::postgres(client);
    let db = store.db();
    assert!(db.is_postgres());

    // command_run: ids come back from RETURNING; the cap keeps the newest.
    let a = runs::start(db, "status", 10, 100).unwrap();
    runs::finish(db, a, "ok", 0, None, 11).unwrap();
    let b = runs::start(db, "bill", 20, 100).unwrap();
    runs::finish(db, b, "busy", 0, Some("{}"), 21).unwrap();
    let me = runs::start(db, "status", 30, 100).unwrap();
    let last = runs::last_of_each(db, me).unwrap();
    assert_eq!(
        last.iter()
            .map(|r| (r.command.as_str(), r.finished_at))
            .collect::<Vec<_>>(),
        [
            ("bill", Some(Timestamp(21))),
            ("status", Some(Timestamp(11)))
        ]
    );
    let real = runs::last_real_of_each(db, me).unwrap();
    assert_eq!(real.len(), 1, "{real:?}");

    // mail_route: a bool goes into a BIGINT 0/1 and comes back.
    let t = 1_800_000_000;
    routes::remember(db, "acme.com", false, "null MX", t).unwrap();
    routes::remember(db, "acme.com", true, "MX mx.acme.com", t).unwrap();
    let route = routes::fresh(db, "acme.com", t + 1).unwrap().unwrap();
    assert!(route.accepts);
    assert_eq!(
        routes::fresh(db, "acme.com", t + routes::ROUTE_TTL_SECS).unwrap(),
        None
    );
    routes::remember(db, "nomail.com", false, "null MX", t).unwrap();
    routes::forget_refusal(db, "nomail.com").unwrap();
    assert_eq!(routes::fresh(db, "nomail.com", t).unwrap(), None);
    // dns_wait (V13): an hour's wait, renewed by a second wait, ended by an
    // answer.
    routes::wait(db, "slow.com", "timed out", t).unwrap();
    routes::wait(db, "slow.com", "timed out again", t + 10).unwrap();
    assert_eq!(
        routes::waiting(db, "slow.com", t + 11).unwrap(),
        Some((t + 10 + routes::WAIT_SECS, "timed out again".to_string()))
    );
    assert_eq!(
        routes::waiting(db, "slow.com", t + 10 + routes::WAIT_SECS).unwrap(),
        None
    );
    routes::remember(db, "slow.com", true, "MX mx.slow.com", t + 20).unwrap();
    assert_eq!(routes::waiting(db, "slow.com", t + 21).unwrap(), None);

    // event_log: one transaction per batch, capped; prefixes by starts_with.
    let event = |i: i64, level: &str, tag: &str| events::Event {
        at: i,
        level: level.into(),
        tag: tag.into(),
        message: format!("{tag} n={i}"),
    };
    let batch: Vec<_> = (0..250).map(|i| event(i, "INFO", "[T][X]")).collect();
    events::append(db, &batch, 100).unwrap();
    events::append(db, &[event(300, "WARN", "[STRIPE][WEBHOOK]")], 100).unwrap();
    events::append(db, &[event(301, "INFO", "[STRIPE][WEBHOOK]")], 100).unwrap();
    let n: i64 = db
        .query_row("SELECT COUNT(*) FROM event_log", &[], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 100);
    assert_eq!(
        events::recent(db, "[T]", 1).unwrap()[0].message,
        "[T][X] n=249"
    );
    assert_eq!(
        events::newest_of(db, &["[NONE]", "[T]"])
            .unwrap()
            .unwrap()
            .at,
        249
    );
    assert_eq!(
        events::last_with_tag(db, "[STRIPE][WEBHOOK]", false)
            .unwrap()
            .unwrap()
            .at,
        301
    );
    assert_eq!(
        events::last_with_tag(db, "[STRIPE][WEBHOOK]", true)
            .unwrap()
            .unwrap()
            .at,
        300
    );

    // suppression: list and remove work.
    db.execute(
        "INSERT INTO suppression (email, reason, note, created_at) VALUES (?1, 'manual', ?2, ?3)",
        &[Value::Text("a@b.com".into()), Value::Null, Value::Int(5)],
    )
    .unwrap();
    let listed = suppression::list(db, hoss::db::Page::ALL).unwrap();
    assert_eq!(listed.rows[0].created_at, Timestamp(5));
    assert_eq!(listed.rows[0].note, None);
    assert!(suppression::remove(db, "a@b.com").unwrap());

    // sequence: started, moved on only from its step (the Message-IDs
    // joined by `||` on a parameter), paged by the row-value cursor, counted.
    let lead = |email: &str| {
        db.insert_id(
            "INSERT INTO lead (email, company, domain, source, status, created_at)
             VALUES (?1, 'C', 'c.example', 't', 'contacted', 1)",
            &[Value::Text(email.into())],
        )
        .unwrap()
    };
    let (a, b) = (lead("a@b.com"), lead("b@c.example"));
    let sent = |id, step, next, mid| sequences::Sent {
        lead_id: id,
        step,
        next,
        domain: "c.example",
        subject: "Hello",
        message_id: Some(mid),
        now: 10,
    };
    sequences::sent(db, &sent(a, 1, Some((2, 100)), "m1@x")).unwrap();
    sequences::sent(db, &sent(b, 1, Some((2, 100)), "n1@x")).unwrap();
    let all = (i64::MIN, 0);
    assert_eq!(sequences::due(db, 99, all, 10).unwrap(), []);
    assert_eq!(
        sequences::due(db, 100, all, 10).unwrap(),
        [(100, a, 2), (100, b, 2)]
    );
    assert_eq!(
        sequences::due(db, 100, (100, a), 10).unwrap(),
        [(100, b, 2)]
    );
    sequences::sent(db, &sent(a, 2, Some((3, 200)), "m2@x")).unwrap();
    sequences::sent(db, &sent(a, 2, Some((3, 999)), "m2b@x")).unwrap();
    let q = sequences::get(db, a).unwrap().unwrap();
    assert_eq!((q.step, q.next_due_at), (2, Some(200)));
    assert_eq!(q.message_ids, ["m1@x", "m2@x"]);
    assert_eq!(sequences::get(db, 0).unwrap(), None);
    assert_eq!(sequences::active_at_domain(db, "c.example").unwrap(), 2);
    assert_eq!(sequences::counts(db, 150).unwrap(), (2, 0, 0, 1));
    assert_eq!(sequences::lead_timezone(db, a).unwrap(), None);
    assert!(sequences::set_timezone(db, a, Some("Asia/Tokyo")).unwrap());
    assert!(!sequences::set_timezone(db, 0, None).unwrap());
    assert_eq!(
        sequences::lead_timezone(db, a).unwrap().as_deref(),
        Some("Asia/Tokyo")
    );
    sequences::keep_first(db, "first_real_send_day", "2026-12-01").unwrap();
    sequences::keep_first(db, "first_real_send_day", "2026-12-02").unwrap();
    assert_eq!(
        sequences::state_value(db, "first_real_send_day")
            .unwrap()
            .as_deref(),
        Some("2026-12-01")
    );
    // suppression::add stops the address's sequence, in a transaction as
    // every caller runs it; a domain hold stops the rest.
    let added = db
        .immediate(|tx| Ok(suppression::add(tx, "a@b.com", "manual", None, 30)?))
        .unwrap();
    assert_eq!(added, (true, 1));
    let q = sequences::get(db, a).unwrap().unwrap();
    assert_eq!(
        (q.state.as_str(), q.stop_reason.as_deref()),
        ("stopped", Some("suppressed"))
    );
    assert!(!sequences::stop(db, a, "again", 31).unwrap());
    assert_eq!(
        sequences::stop_domain(db, "c.example", "held", 32).unwrap(),
        1
    );
    assert_eq!(sequences::counts(db, 1000).unwrap(), (0, 0, 2, 0));

    // Asking for the SQLite connection (SQLite's own backup does) is an
    // error on PostgreSQL (exit 70), never a panic.
    let err = hoss::error::Error::from(db.sqlite_only("VACUUM INTO").unwrap_err());
    assert_eq!(err.exit_code(), 70, "{err}");
    assert!(err.to_string().contains("VACUUM INTO"), "{err}");

    // A failing transaction leaves nothing behind; a good one commits.
    let insert = "INSERT INTO suppression (email, reason, created_at) VALUES (?1, 'manual', 0)";
    let failed: hoss::error::Result<()> = db.immediate(|tx| {
        tx.execute(insert, &[Value::Text("x@y.com".into())])?;
        Err(hoss::error::Error::Data("stop".into()))
    });
    assert!(failed.is_err());
    db.immediate(|tx| Ok(tx.execute(insert, &[Value::Text("z@y.com".into())])?))
        .unwrap();
    let emails = db
        .query_all("SELECT email FROM suppression ORDER BY email", &[], |r| {
            r.get::<String>(0)
        })
        .unwrap();
    assert_eq!(emails, ["a@b.com", "z@y.com"]);
}

/// The README's one test command runs the integration suite on both
/// stores: this test runs this same test binary again with
/// `HOSS_TEST_STORE=postgres` (every sandbox on a PostgreSQL database),
/// and fails with the names of the tests that failed there. Its whole
/// output is kept in `target/postgres-suite.txt`. To run a part of the
/// suite on PostgreSQL only: `HOSS_TEST_STORE=postgres cargo test --test
/// cli -- <filter>`.
#[test]
fn the_whole_suite_passes_on_postgresql_too() {
    if on_postgres() || !system_package("postgresql", postgres_installed()) {
        return;
    }
    let me = std::env::current_exe().unwrap();
    let out = std::process::Command::new(&me)
        .env("HOSS_TEST_STORE", "postgres")
        .args(["--skip", "store::the_whole_suite_passes_on_postgresql_too"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/postgres-suite.txt");
    let _ = std::fs::write(&report, &text);
    let failed: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("test ") && l.ends_with("FAILED"))
        .collect();
    let result = text
        .lines()
        .filter(|l| l.starts_with("test result:"))
        .collect::<Vec<_>>();
    assert!(
        out.status.success() && failed.is_empty(),
        "on PostgreSQL: {result:?}\n{}\n(the whole output: {})",
        failed.join("\n"),
        report.display()
    );
    assert!(
        result
            .iter()
            .any(|r| r.contains(" passed;") && !r.contains(" 0 passed;")),
        "the PostgreSQL pass ran no test: {result:?}"
    );
}

/// replit.md's "Deploying on Replit" runs as written against a PostgreSQL
/// server, with `DATABASE_URL` and `PORT` set as a deployment sets them
/// (its build step is the build this test runs on): `check` and `cycle`
/// keep everything in the database, no file, and `serve` answers on
/// `$PORT`.
#[test]
fn the_replit_deployment_of_replit_md_runs_as_written() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let notes = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/replit.md")).unwrap();
    let section = notes.split("## Deploying on Replit").nth(1).unwrap();
    let block = section.split("```sh\n").nth(1).unwrap();
    let block = block.split("```").next().unwrap();
    assert!(
        block.contains("hoss cycle") && block.contains("hoss serve"),
        "{block}"
    );
    let script: Vec<String> = block
        .lines()
        .filter(|l| !l.starts_with("cargo build"))
        .map(|l| l.replace("target/release/hoss", crate::harness::BIN))
        .collect();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sb = Sandbox::new()
        .with("DATABASE_URL", &server.url())
        .with("PORT", &port.to_string());
    let mut deployed = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script.join("\n")])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .envs(sb.envs())
        .current_dir(sb.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let health = format!("http://127.0.0.1:{port}/healthz");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let answered = loop {
        if let Ok(mut r) = ureq::get(&health).call() {
            break r.body_mut().read_to_string().unwrap_or_default();
        }
        if let Ok(Some(status)) = deployed.try_wait() {
            let mut log = String::new();
            use std::io::Read;
            deployed
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut log)
                .unwrap();
            panic!("the script ended ({status}) before serve answered:\n{log}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve never answered on $PORT"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(answered, "ok");
    // cycle's leads and runs are in the database; no file stood in for it.
    let leads: i64 = sb
        .db()
        .query_row("SELECT COUNT(*) FROM lead", args![], |r| r.get(0))
        .unwrap();
    assert!(leads > 0, "cycle kept nothing in PostgreSQL");
    assert!(!sb.path("hoss.db").exists());
    // `exec`: the script's process is serve now.
    let pid = deployed.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = deployed.wait().unwrap();
    assert_eq!(status.code(), Some(0), "serve stops cleanly on SIGTERM");
}

/// POSTGRES.md: hoss may reach the server through PgBouncer in session
/// mode. Two server connections, so each process gets one an earlier
/// process used (PgBouncer resets it in between): passes that prepare
/// statements run again and again; an overlap lock held through the pooler
/// keeps a second pass out, and is gone once its holder disconnects; what
/// the passes wrote is in the server. A login the pooler refuses is a
/// setting to fix (78); a server behind it that is down is a wait (75).
#[test]
fn hoss_runs_behind_pgbouncer_in_session_mode() {
    if on_postgres() {
        return; // its own cluster and pooler: once is enough
    }
    let Some(server) = Postgres::start() else {
        return;
    };
    let Some(pooler) = PgBouncer::start(&server, 2) else {
        return;
    };
    let sb = Sandbox::new().with("DATABASE_URL", &pooler.url(PG_USER));
    let out = sb.run(&["check"]);
    assert_eq!(out.code, 0, "{out:?}\n{}", pooler.log());
    for _ in 0..3 {
        let out = sb.run(&["cycle"]);
        assert_eq!(out.code, 0, "{out:?}\n{}", pooler.log());
    }
    let status: serde_json::Value = sb.json(&["status", "--json"]);
    assert!(
        pooler.server_logins() <= 2,
        "five processes, so connections were used again: {}",
        pooler.log()
    );
    assert_eq!(
        status["store"],
        format!("postgres://127.0.0.1:{}/{PG_USER}", pooler.port)
    );
    let mut direct = server.client(PG_USER, PG_PASSWORD, PG_USER);
    let leads: i64 = direct
        .query_one("SELECT COUNT(*) FROM lead", &[])
        .unwrap()
        .get(0);
    assert!(leads > 0);
    assert_eq!(
        status["leads"]["by_status"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_i64().unwrap())
            .sum::<i64>(),
        leads
    );

    let held = sb.hold_lock("source-leads");
    let out = sb.run(&["source-leads"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.log_lines("[LOCK][BUSY] command=source-leads").len(),
        1,
        "{}",
        out.stderr
    );
    drop(held);
    // PgBouncer resets the holder's connection (DISCARD ALL) as it takes
    // it back; the next process may get the other one first.
    let advisory = |c: &mut postgres::Client| -> i64 {
        c.query_one(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory'",
            &[],
        )
        .unwrap()
        .get(0)
    };
    crate::harness::wait_until(
        std::time::Duration::from_secs(10),
        "the holder's advisory lock to go",
        || advisory(&mut direct) == 0,
    );
    let out = sb.run(&["source-leads"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.log_lines("[LOCK][BUSY]").is_empty(),
        "the lock outlived its holder's connection: {}",
        out.stderr
    );

    let host = format!("127.0.0.1:{}", pooler.port);
    let wrong = Sandbox::new().with(
        "DATABASE_URL",
        &pooler
            .url(PG_USER)
            .replace(PG_PASSWORD, "not-the-password-7c1"),
    );
    let out = wrong.run(&["check"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(out.stderr.contains("refused the login"), "{}", out.stderr);
    assert!(out.stderr.contains(&host), "{}", out.stderr);
    assert!(
        !out.stderr.contains("not-the-password-7c1"),
        "{}",
        out.stderr
    );

    // A database name the server does not know: PgBouncer passes the
    // server's refusal on (as SQLSTATE 08P01).
    let misspelt = Sandbox::new().with("DATABASE_URL", &pooler.url("hosz"));
    let out = misspelt.run(&["check"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(out.stderr.contains("refused the login"), "{}", out.stderr);

    drop(direct);
    drop(server);
    let out = sb.run(&["check"]);
    assert_eq!(out.code, 75, "{out:?}\n{}", pooler.log());
    assert!(
        out.stderr.contains("cannot reach PostgreSQL at"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(&host), "{}", out.stderr);
}
