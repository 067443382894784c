//! The integration harness: the built `hoss` binary run as a real process in
//! a temp directory with an explicit environment (never the caller's), plus
//! local servers that stand in for the outside world.
#![allow(dead_code)] // not every test binary module uses every helper

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_hoss");

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
        Sandbox { dir, env }
    }

    pub fn with(mut self, key: &str, value: &str) -> Sandbox {
        self.set(key, value);
        self
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.env.insert(key.into(), value.into());
    }

    pub fn unset(&mut self, key: &str) {
        self.env.remove(key);
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
        let out = self.command(args).output().expect("run hoss");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a `--json` command that must succeed and decodes its answer.
    pub fn json<T: DeserializeOwned>(&self, args: &[&str]) -> T {
        let out = self.run(args);
        assert_eq!(out.code, 0, "{args:?} failed: {out:?}");
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?} printed invalid JSON ({e}): {}", out.stdout))
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.path("hoss.db")).expect("open test db")
    }
}

/// One request a fake server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP stand-in on 127.0.0.1 that records every request and answers
/// with `handler`'s (status, body).
pub struct FakeServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    server: Arc<tiny_http::Server>,
}

impl FakeServer {
    pub fn start<F>(handler: F) -> FakeServer
    where
        F: Fn(&Recorded) -> (u16, String) + Send + Sync + 'static,
    {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind fake server"));
        let url = format!("http://{}", server.server_addr().to_ip().expect("ip addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (srv, reqs) = (server.clone(), requests.clone());
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for mut req in srv.incoming_requests() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let rec = Recorded {
                    method: req.method().to_string(),
                    url: req.url().to_string(),
                    headers: req
                        .headers()
                        .iter()
                        .map(|h| (h.field.to_string(), h.value.to_string()))
                        .collect(),
                    body,
                };
                reqs.lock().unwrap().push(rec.clone());
                let handler = handler.clone();
                std::thread::spawn(move || {
                    let (status, body) = handler(&rec);
                    let response = tiny_http::Response::from_string(body)
                        .with_status_code(status)
                        .with_header(
                            "Content-Type: application/json"
                                .parse::<tiny_http::Header>()
                                .unwrap(),
                        );
                    let _ = req.respond(response);
                });
            }
        });
        FakeServer {
            url,
            requests,
            server,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// A TCP listener that every API base, search URL, SMTP host and ping URL
/// points at. It counts connections of any protocol and answers none: in
/// DRY_RUN it must see nothing at all.
pub struct Trap {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl Trap {
    pub fn start() -> Trap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind trap");
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                count.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Trap { addr, connections }
    }

    /// Connections seen so far (after a moment for the backlog to drain).
    pub fn connections(&self) -> usize {
        std::thread::sleep(Duration::from_millis(150));
        self.connections.load(Ordering::SeqCst)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Points every outside address of `sandbox` at the trap.
    pub fn arm(&self, sandbox: &mut Sandbox) {
        let base = format!("http://{}", self.addr);
        sandbox.set("SENDGRID_API_BASE", &base);
        sandbox.set("STRIPE_API_BASE", &base);
        sandbox.set("LEAD_SEARCH_API_URL", &format!("{base}/search"));
        sandbox.set("SMTP_HOST", "127.0.0.1");
        sandbox.set("SMTP_PORT", &self.addr.port().to_string());
    }
}
