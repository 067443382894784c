//! PgBouncer (Debian `pgbouncer`) in session mode in front of a test
//! cluster, on a loopback port: what POSTGRES.md says hoss may sit behind.
//! It checks logins against the server's stored SCRAM secret, as a pooler
//! in production does, and keeps the server's connections between clients.
//! It gives up on a server it cannot reach after 5 s (`query_wait_timeout`,
//! `client_login_timeout`; 120 s and 60 s by default), as POSTGRES.md
//! advises. As root it runs as the cluster's user (PgBouncer refuses
//! root). It is stopped when the value is dropped.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::postgres::{PG_PASSWORD, PG_USER, Postgres, free_port};
use super::system_package;

/// Debian's `pgbouncer`, else one on PATH.
fn binary() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/sbin/pgbouncer");
    if debian.is_file() {
        return Some(debian);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("pgbouncer"))
        .find(|f| f.is_file())
}

pub struct PgBouncer {
    pub port: u16,
    dir: TempDir,
    child: Child,
}

impl PgBouncer {
    /// PgBouncer in front of `server`, at most `pool_size` server
    /// connections per database, or `None` (after the loud SKIPPED line)
    /// when the package is missing.
    pub fn start(server: &Postgres, pool_size: u32) -> Option<PgBouncer> {
        let bin = binary();
        if !system_package("pgbouncer", bin.is_some()) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let users = dir.path().join("users.txt");
        let ini = dir.path().join("pgbouncer.ini");
        std::fs::write(
            &users,
            format!("\"{PG_USER}\" \"{}\"\n", server.scram_secret(PG_USER)),
        )
        .unwrap();
        std::fs::write(
            &ini,
            format!(
                "[databases]\n* = host=127.0.0.1 port={}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                 unix_socket_dir =\nauth_type = scram-sha-256\nauth_file = {}\n\
                 pool_mode = session\ndefault_pool_size = {pool_size}\n\
                 query_wait_timeout = 5\nclient_login_timeout = 5\n\
                 logfile = {}\n",
                server.port,
                users.display(),
                dir.path().join("pgbouncer.log").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o600)).unwrap();
        // What it says before its log file is open goes to stderr.
        let stderr = std::fs::File::create(dir.path().join("stderr.txt")).unwrap();
        let mut cmd = Command::new(bin.unwrap());
        cmd.arg(&ini)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        if let Some((uid, gid)) = server.run_as() {
            for p in [dir.path(), &users, &ini] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
            }
            cmd.uid(uid).gid(gid);
        }
        let child = cmd.spawn().expect("start pgbouncer");
        let mut pooler = PgBouncer { port, dir, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pooler
            .log()
            .contains(&format!("listening on 127.0.0.1:{port}"))
        {
            let ended = pooler.child.try_wait().unwrap();
            assert!(
                ended.is_none() && Instant::now() < deadline,
                "pgbouncer never listened on {port} ({ended:?}):\n{}",
                pooler.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(pooler)
    }

    /// The URL of database `name` through the pooler.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{}/{name}?sslmode=disable",
            self.port
        )
    }

    /// The pooler's own log (and what it said before opening it).
    pub fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        read("stderr.txt") + &read("pgbouncer.log")
    }

    /// How many connections to the server it has opened so far.
    pub fn server_logins(&self) -> usize {
        self.log().matches("new connection to server").count()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
