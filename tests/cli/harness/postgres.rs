//! A real PostgreSQL server for the store tests (issue #19): a throwaway
//! cluster (Debian `postgresql`: `initdb` + `pg_ctl`) in a temp directory,
//! listening on a free loopback port only, `fsync=off` (its data dies with
//! the test), password (SCRAM) login for a `hoss` role that owns a `hoss`
//! database and is no superuser, as on a hosted server. As root the server
//! runs as `nobody` (PostgreSQL refuses to run as root). It is stopped when
//! the value is dropped.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::system_package;

pub const PG_USER: &str = "hoss";
pub const PG_PASSWORD: &str = "pg-secret-5d8";
/// The cluster's superuser (`postgres`), for the harness's own setup.
const SUPER_PASSWORD: &str = "pg-super-c41";
/// Debian's `openssl`: the certificate of [`Postgres::start_with_tls`].
const OPENSSL: &str = "/usr/bin/openssl";

pub struct Postgres {
    pub port: u16,
    dir: TempDir,
    bin: PathBuf,
    /// The uid and gid the server runs as, when the tests run as root.
    run_as: Option<(u32, u32)>,
}

/// Where `initdb` and `pg_ctl` are: Debian keeps them out of PATH, under
/// `/usr/lib/postgresql/<major>/bin` (the newest major wins); else PATH.
/// Whether the cluster's tools are installed (without starting one).
pub fn installed() -> bool {
    bin_dir().is_some()
}

fn bin_dir() -> Option<PathBuf> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            Some((major, e.path().join("bin")))
        })
        .filter(|(_, d)| has_tools(d))
        .collect();
    debian.sort();
    if let Some((_, d)) = debian.pop() {
        return Some(d);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|d| has_tools(d))
}

/// As root, the uid and gid of `nobody` (always in Debian's passwd, which
/// `initdb` needs to name the user); otherwise the tests' own user.
fn server_user() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> u32 {
        let out = Command::new("id").args(args).output().expect("id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a numeric id")
    };
    (id(&["-u"]) == 0).then(|| (id(&["-u", "nobody"]), id(&["-g", "nobody"])))
}

impl Postgres {
    /// Starts a cluster and makes the `hoss` role and database, or returns
    /// `None` (after the loud SKIPPED line) when the package is missing.
    pub fn start() -> Option<Postgres> {
        Self::start_with(false)
    }

    /// A cluster that also speaks TLS, with a self-signed certificate (made
    /// by `openssl`) that no public root vouches for.
    #[allow(dead_code)] // the lib's unit tests include this file
    pub fn start_with_tls() -> Option<Postgres> {
        if !system_package("openssl", Path::new(OPENSSL).exists()) {
            return None;
        }
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Option<Postgres> {
        let bin = bin_dir();
        if !system_package("postgresql", bin.is_some()) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let run_as = server_user();
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let server = Postgres {
            port: free_port(),
            dir,
            bin: bin.unwrap(),
            run_as,
        };
        let root = server.dir.path();
        std::fs::write(root.join("pwfile"), format!("{SUPER_PASSWORD}\n")).unwrap();
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(root.join("pwfile"), Some(uid), Some(gid)).unwrap();
        }
        server.tool(
            "initdb",
            &[
                "-D",
                &root.join("data").display().to_string(),
                "-U",
                "postgres",
                "--pwfile",
                &root.join("pwfile").display().to_string(),
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            server.port,
            root.display()
        );
        if tls {
            let (cert, key) = (root.join("server.crt"), root.join("server.key"));
            let made = Command::new(OPENSSL)
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                ])
                .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout"])
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .output()
                .expect("run openssl");
            assert!(
                made.status.success(),
                "{}",
                String::from_utf8_lossy(&made.stderr)
            );
            // The server refuses a key others may read.
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            if let Some((uid, gid)) = run_as {
                for f in [&cert, &key] {
                    std::os::unix::fs::chown(f, Some(uid), Some(gid)).unwrap();
                }
            }
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert.display(),
                key.display()
            ));
        }
        server.tool(
            "pg_ctl",
            &[
                "-D",
                &root.join("data").display().to_string(),
                "-l",
                &root.join("server.log").display().to_string(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        let mut admin = server.client("postgres", SUPER_PASSWORD, "postgres");
        // One statement each: CREATE DATABASE cannot run in a batch's
        // implicit transaction.
        admin
            .batch_execute(&format!(
                "CREATE ROLE {PG_USER} LOGIN PASSWORD '{PG_PASSWORD}'"
            ))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {PG_USER} OWNER {PG_USER}"))
            .unwrap();
        Some(server)
    }

    /// `postgres://hoss:PASSWORD@127.0.0.1:PORT/hoss`.
    pub fn url(&self) -> String {
        self.url_of(PG_USER)
    }

    /// The URL of the database `name` (owned by `hoss`), made if new: one
    /// cluster can hold a fresh database per test.
    pub fn database(&self, name: &str) -> String {
        let mut admin = self.client("postgres", SUPER_PASSWORD, "postgres");
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .unwrap()
            .is_some();
        if !exists {
            admin
                .batch_execute(&format!("CREATE DATABASE \"{name}\" OWNER {PG_USER}"))
                .unwrap();
        }
        self.url_of(name)
    }

    /// The URL of a new database `name` made as a copy of `template` (a
    /// database made by [`Postgres::database`] that nobody is connected to).
    pub fn database_from(&self, name: &str, template: &str) -> String {
        let mut admin = self.client("postgres", SUPER_PASSWORD, "postgres");
        admin
            .batch_execute(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\" OWNER {PG_USER}"
            ))
            .unwrap_or_else(|e| panic!("create database {name}: {e}\n{}", self.log()));
        self.url_of(name)
    }

    fn url_of(&self, database: &str) -> String {
        format!(
            "postgres://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// A plain connection for the test's own setup and checks.
    pub fn client(&self, user: &str, password: &str, database: &str) -> postgres::Client {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .password(password)
            .dbname(database)
            .connect(postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to the test cluster: {e}\n{}", self.log()))
    }

    /// The SCRAM secret the server keeps for `user` (`pg_authid`), as a
    /// pooler's auth file takes it instead of the password.
    pub fn scram_secret(&self, user: &str) -> String {
        self.client("postgres", SUPER_PASSWORD, "postgres")
            .query_one(
                "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
                &[&user],
            )
            .unwrap()
            .get(0)
    }

    /// The uid and gid the server runs as when the tests run as root.
    pub fn run_as(&self) -> Option<(u32, u32)> {
        self.run_as
    }

    /// The server's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Keeps the cluster for the rest of the process instead of stopping it
    /// on drop: a watchdog (`sh`, as the server's user) waits for its stdin
    /// to close, which happens when this process exits however it exits,
    /// then stops the server and removes its directory. For one cluster
    /// shared by a whole test binary through a `static`, whose value is
    /// never dropped (the lib's unit tests, `db::test_stores`).
    #[allow(dead_code)]
    // the lib's unit tests include this file
    // Never waited for: it outlives this process, and init reaps it.
    #[allow(clippy::zombie_processes)]
    pub fn stop_at_exit(self) -> &'static Postgres {
        let script = "cat >/dev/null; \"$1\" -D \"$2/data\" -m immediate -w stop; rm -rf \"$2\"";
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script, "watchdog"])
            .arg(self.bin.join("pg_ctl"))
            .arg(self.dir.path())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LC_ALL", "C")
            .current_dir("/")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        let mut watchdog = cmd.spawn().expect("start the cluster's watchdog");
        // The pipe's write end stays open (close-on-exec: no other child
        // holds it) until the process ends; leaked, the value never drops,
        // so neither `Drop` nor the TempDir races the watchdog.
        std::mem::forget(watchdog.stdin.take());
        Box::leak(Box::new(self))
    }

    /// Runs one of the cluster's tools as the server's user; panics with
    /// its output when it fails.
    fn tool(&self, name: &str, args: &[&str]) {
        let mut cmd = Command::new(self.bin.join(name));
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.dir.path())
            .env("LC_ALL", "C")
            .current_dir(self.dir.path());
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        let out = cmd.output().unwrap_or_else(|e| panic!("run {name}: {e}"));
        assert!(
            out.status.success(),
            "{name} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let mut cmd = Command::new(self.bin.join("pg_ctl"));
        cmd.args([
            "-D",
            &data.display().to_string(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ])
        .env_clear()
        .env("LC_ALL", "C")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        let _ = cmd.status();
    }
}

pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
