//! PgBouncer (Debian `pgbouncer`) in session mode in front of a test
//! cluster, on a loopback port: what POSTGRES.md says hoss may sit behind.
//! It checks logins against the server's stored SCRAM secret, as a pooler
//! in production does, and keeps the server's connections between clients.
//! As root it runs as the cluster's user (PgBouncer refuses root). It is
//! stopped when the value is dropped.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::postgres::{PG_PASSWORD, PG_USER, Postgres, free_port};
use super::system_package;

const PGBOUNCER: &str = "/usr/sbin/pgbouncer";

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
        if !system_package("pgbouncer", Path::new(PGBOUNCER).exists()) {
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
                 logfile = {}\n",
                server.port,
                users.display(),
                dir.path().join("pgbouncer.log").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut cmd = Command::new(PGBOUNCER);
        cmd.arg(&ini)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = server.run_as() {
            for p in [dir.path(), &users, &ini] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
            }
            cmd.uid(uid).gid(gid);
        }
        let child = cmd.spawn().expect("start pgbouncer");
        let pooler = PgBouncer { port, dir, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pgbouncer never listened on {port}:\n{}",
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

    /// The pooler's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
