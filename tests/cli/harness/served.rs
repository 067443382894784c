//! `hoss serve` run as a real process on an ephemeral port of 127.0.0.1,
//! spoken to over HTTP (ureq) or raw TCP, stopped by SIGTERM or on drop.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::Duration;

use super::Sandbox;

/// `hoss serve` on an ephemeral port; killed on drop.
pub struct Served {
    pub child: Child,
    pub base: String,
}

impl Served {
    pub fn start(sb: &Sandbox) -> Served {
        let mut child = sb
            .command(&["serve"])
            .env("HOSS_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{line:?}"))
            .to_string();
        Served { child, base }
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .proxy(None)
            .build()
            .into()
    }

    pub fn get(&self, path: &str) -> (u16, String, ureq::http::HeaderMap) {
        let mut r = Self::agent()
            .get(&format!("{}{path}", self.base))
            .call()
            .unwrap();
        let headers = r.headers().clone();
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap(),
            headers,
        )
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        let mut req = Self::agent().post(&format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut r = req.send(body).unwrap();
        (
            r.status().as_u16(),
            r.body_mut()
                .with_config()
                .limit(10_000_000)
                .read_to_string()
                .unwrap_or_default(),
        )
    }

    /// `host:port`, for raw TCP.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, then the exit code and the whole operator log.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status.code(), err)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
