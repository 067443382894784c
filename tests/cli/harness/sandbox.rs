//! The per-test sandbox: the built `hoss` binary run as a real process in a
//! temp directory with an explicit environment (never the caller's), its
//! SQLite file, its JSON answers, and the system-package skip rule.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use hoss::db::{Row, Store, StoreResult, Value};

use serde::de::DeserializeOwned;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_hoss");

/// Whether a test that needs a system package may run. Without the package
/// it prints one loud line naming it and the test returns early; with
/// `HOSS_REQUIRE_SYSTEM_TESTS=1` (as `.ci/run` sets after installing them)
/// a missing package fails the test instead.
pub fn system_package(package: &str, present: bool) -> bool {
    if present {
        return true;
    }
    let required = std::env::var("HOSS_REQUIRE_SYSTEM_TESTS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "HOSS_REQUIRE_SYSTEM_TESTS=1 but the Debian package {package} is not installed"
    );
    // Straight to the process's stderr: the test harness captures eprintln!.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: Debian package {package} is not installed (apt-get install {package}; CI requires it)"
    );
    false
}

/// Every SPEC §14 rule, lifted: sends at any hour, no warm-up, no caps
/// beyond the hour limit each test sets; and no MX check (SPEC §15), so no
/// test asks a resolver unless it starts its own (`DnsZone`).
pub const LIFTED: [(&str, &str); 6] = [
    ("MX_CHECK", "OFF"),
    ("SEND_WINDOW", "always"),
    ("WARMUP", "OFF"),
    ("MAX_EMAILS_PER_DAY", "1000000"),
    ("MAX_NEW_CONTACTS_PER_DOMAIN_PER_DAY", "100000"),
    ("MAX_ACTIVE_PER_DOMAIN", "100000"),
];

/// Whether the suite runs on PostgreSQL (`HOSS_TEST_STORE=postgres`, as
/// `.ci/run`'s second pass sets): each sandbox gets a new database on one
/// throwaway cluster per test binary, named by `DATABASE_URL`. Else SQLite,
/// a file in the sandbox.
pub fn on_postgres() -> bool {
    std::env::var("HOSS_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// A test about the SQLite file itself (its path, its directory, a
/// read-only disk) says so and returns early when the suite runs on
/// PostgreSQL; `false` then.
pub fn sqlite_only(what: &str) -> bool {
    if on_postgres() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SQLITE ONLY: {what} (this pass runs on PostgreSQL)"
        );
        return false;
    }
    true
}

/// The cluster of this test binary's PostgreSQL pass, started once.
pub fn shared_cluster() -> &'static super::Postgres {
    static CLUSTER: OnceLock<&'static super::Postgres> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let server = super::Postgres::start()
            .expect("HOSS_TEST_STORE=postgres needs the Debian package postgresql");
        server.stop_at_exit()
    })
}

/// A new database for one sandbox, copied from a migrated template so each
/// test starts at the latest schema without running the migrations again.
fn new_postgres_database() -> String {
    const TEMPLATE: &str = "sandbox_template";
    static MIGRATED: OnceLock<()> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = shared_cluster();
    MIGRATED.get_or_init(|| {
        let mut client = hoss::db::postgres::connect(&server.database(TEMPLATE)).unwrap();
        hoss::db::postgres::migrate(&mut client).unwrap();
    });
    let name = format!("sandbox_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    server.database_from(&name, TEMPLATE)
}

/// A fresh working directory with its own database and lock folder.
pub struct Sandbox {
    pub dir: TempDir,
    env: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Output {
    /// A finished process: its exit code (-1 when killed by a signal) and
    /// its output as text.
    fn from(out: std::process::Output) -> Output {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Output {
    /// stderr lines that contain `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.contains(needle)).collect()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut env = BTreeMap::new();
        env.insert(
            "HOSS_DB".into(),
            dir.path().join("hoss.db").display().to_string(),
        );
        env.insert(
            "HOSS_LOCK_DIR".into(),
            dir.path().join("locks").display().to_string(),
        );
        env.insert("HOSS_LOG".into(), "info".into());
        // The sending discipline of SPEC §14 is lifted here, by
        // configuration, as SPEC §14 allows for tests: each test of a rule
        // sets it back (`.with("SEND_WINDOW", "Mon-Fri 08:00-17:00")`).
        for (key, value) in LIFTED {
            env.insert(key.into(), value.into());
        }
        if on_postgres() {
            env.insert("DATABASE_URL".into(), new_postgres_database());
        }
        Sandbox { dir, env }
    }

    /// A sandbox on a SQLite file whichever store the suite runs on: for
    /// tests about the file itself, or that move a file's state elsewhere.
    pub fn sqlite() -> Sandbox {
        let mut sb = Sandbox::new();
        sb.unset("DATABASE_URL");
        sb
    }

    pub fn with(mut self, key: &str, value: &str) -> Sandbox {
        self.set(key, value);
        self
    }

    /// Writes `text` as this sandbox's config file and points HOSS_CONFIG at it.
    pub fn config_file(mut self, text: &str) -> Sandbox {
        let path = self.path("hoss.toml");
        std::fs::write(&path, text).expect("write config");
        self.set("HOSS_CONFIG", path.to_str().unwrap());
        self
    }

    /// Real email through a SendGrid stand-in at `url`, sent as the operator
    /// Sam Carter of Carter Consulting LLC from hello@hoss-operator.com, with
    /// the postal address real email needs. No API key and no send delays:
    /// each caller says its own (a sentinel, or none, to test the fallback).
    pub fn email_via_sendgrid(self, url: &str) -> Sandbox {
        self.with("EMAIL_MODE", "SENDGRID")
            .with("SENDER_NAME", "Sam Carter")
            .with("COMPANY_NAME", "Carter Consulting LLC")
            .with("SENDGRID_FROM_EMAIL", "hello@hoss-operator.com")
            .with("COMPANY_POSTAL_ADDRESS", "1 Main St")
            .with("SENDGRID_API_BASE", url)
    }

    /// Real email over SMTP to a stand-in on `port` (plain text, loopback),
    /// sent as Sam Carter of Carter Consulting LLC from
    /// hello@hoss-operator.com, with no send delays.
    pub fn email_via_smtp(self, port: u16) -> Sandbox {
        self.with("EMAIL_MODE", "SMTP")
            .with("SENDER_NAME", "Sam Carter")
            .with("COMPANY_NAME", "Carter Consulting LLC")
            .with("SMTP_HOST", "127.0.0.1")
            .with("SMTP_PORT", &port.to_string())
            .with("SMTP_TLS", "NONE")
            .with("SMTP_FROM_EMAIL", "hello@hoss-operator.com")
            .with("COMPANY_POSTAL_ADDRESS", "1 Main St, Springfield")
            .with("EMAIL_SEND_DELAY_MIN", "0")
            .with("EMAIL_SEND_DELAY_MAX", "0")
    }

    /// Reads replies from the Dovecot stand-in on `port`, folder `folder`.
    pub fn inbox_via_imap(self, port: u16, folder: &str) -> Sandbox {
        self.with("INBOX_MODE", "IMAP")
            .with("IMAP_HOST", "127.0.0.1")
            .with("IMAP_PORT", &port.to_string())
            .with("IMAP_TLS", "NONE")
            .with("IMAP_USERNAME", super::IMAP_USER)
            .with("IMAP_PASSWORD", super::IMAP_PASSWORD)
            .with("IMAP_FOLDER", folder)
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.env.insert(key.into(), value.into());
    }

    pub fn unset(&mut self, key: &str) {
        self.env.remove(key);
    }

    /// The explicit environment every command of this sandbox gets.
    pub fn envs(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Output::from(self.command(args).output().expect("run hoss"))
    }

    /// Takes `command`'s overlap lock as a concurrent run would (a file in
    /// this sandbox's lock folder, or the advisory lock on PostgreSQL, from
    /// a connection of its own); held until the value is dropped.
    pub fn hold_lock(&self, command: &str) -> Box<dyn std::any::Any> {
        if let Some(url) = self.env.get("DATABASE_URL") {
            let mut client = hoss::db::postgres::connect(url).expect("connect test db");
            client
                .execute(
                    "SELECT pg_advisory_lock($1, hashtext($2))",
                    &[
                        &hoss::lock::ADVISORY_CLASS,
                        &hoss::lock::advisory_name(&self.path("locks"), command),
                    ],
                )
                .expect("take the lock");
            return Box::new(client);
        }
        std::fs::create_dir_all(self.path("locks")).expect("lock dir");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path(&format!("locks/{command}.lock")))
            .expect("lock file");
        file.lock().expect("take the lock");
        Box::new(file)
    }

    /// Runs `n` copies of a command at once, each with its own lock folder
    /// (so only the database keeps them apart), and waits for all of them.
    pub fn run_concurrently(&self, args: &[&str], n: usize) -> Vec<Output> {
        let children: Vec<_> = (0..n)
            .map(|i| {
                self.command(args)
                    .env("HOSS_LOCK_DIR", self.path(&format!("locks-{i}")))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("run hoss")
            })
            .collect();
        children
            .into_iter()
            .map(|child| Output::from(child.wait_with_output().expect("wait for hoss")))
            .collect()
    }

    /// Runs a command with `input` on its stdin (`hoss webhook`).
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run hoss");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
        Output::from(child.wait_with_output().expect("wait for hoss"))
    }

    /// Runs a `--json` command that must succeed and decodes its answer.
    pub fn json<T: DeserializeOwned>(&self, args: &[&str]) -> T {
        let out = self.run(args);
        assert_eq!(out.code, 0, "{args:?} failed: {out:?}");
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?} printed invalid JSON ({e}): {}", out.stdout))
    }

    /// Adds a task for `customer` (an id) and marks it done: work ready to
    /// be billed. Returns the task's id.
    pub fn done_task(&self, customer: &str, description: &str, amount: &str) -> i64 {
        let task: serde_json::Value = self.json(&[
            "task",
            "add",
            "--customer",
            customer,
            "--description",
            description,
            "--amount",
            amount,
            "--json",
        ]);
        let id = task["id"].as_i64().unwrap();
        let done = self.run(&["task", "done", &id.to_string()]);
        assert_eq!(done.code, 0, "task done {id}: {done:?}");
        id
    }

    /// This sandbox's store, as hoss opens it (SQLite or PostgreSQL), for
    /// a test's own setup and checks.
    pub fn db(&self) -> TestDb {
        TestDb(match self.env.get("DATABASE_URL") {
            Some(url) => {
                let mut client = hoss::db::postgres::connect(url).expect("connect test db");
                hoss::db::postgres::migrate(&mut client).expect("migrate test db");
                Store::postgres(client)
            }
            None => {
                Store::Sqlite(hoss::db::open_sqlite(&self.path("hoss.db")).expect("open test db"))
            }
        })
    }

    /// Keeps state in `other`'s store from now on (its SQLite file, or its
    /// PostgreSQL database): two configurations, one store.
    pub fn share_store_with(mut self, other: &Sandbox) -> Sandbox {
        for key in ["HOSS_DB", "DATABASE_URL"] {
            match other.env.get(key) {
                Some(value) => self.env.insert(key.into(), value.clone()),
                None => self.env.remove(key),
            };
        }
        self
    }

    /// Whether this sandbox's store is PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.env.contains_key("DATABASE_URL")
    }
}

/// A sandbox's store, spoken to in SQLite's SQL text (`?N` parameters) on
/// either store, through hoss's own query layer. Arguments: `args![…]`.
pub struct TestDb(pub Store);

impl TestDb {
    pub fn execute(&self, sql: &str, args: &[Value]) -> StoreResult<usize> {
        self.0.db().execute(sql, args)
    }

    pub fn execute_batch(&self, sql: &str) -> StoreResult<()> {
        self.0.db().execute_batch(sql)
    }

    /// Opens a transaction holding the store's write lock, as another
    /// process in the middle of a write would: `sqlite_begin` on SQLite
    /// (`BEGIN IMMEDIATE` or `BEGIN EXCLUSIVE`), the advisory write lock
    /// hoss's transactions take on PostgreSQL. Held until `COMMIT` or the
    /// value drops.
    pub fn begin_write(&self, sqlite_begin: &str) -> StoreResult<()> {
        match self.0 {
            Store::Sqlite(_) => self.execute_batch(sqlite_begin),
            Store::Postgres(_) => self.execute_batch(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({})",
                hoss::db::WRITE_LOCK
            )),
        }
    }

    pub fn query_row<T>(
        &self,
        sql: &str,
        args: &[Value],
        f: impl FnOnce(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.0.db().query_row(sql, args, f)
    }

    pub fn query_all<T>(
        &self,
        sql: &str,
        args: &[Value],
        f: impl FnMut(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        self.0.db().query_all(sql, args, f)
    }
}

/// `args![a, b]`: statement arguments for [`TestDb`], as hoss's `params!`.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        &[$(hoss::db::ToValue::to_value(&$value)),*] as &[hoss::db::Value]
    };
}
