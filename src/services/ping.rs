//! Monitoring pings (`HEALTHCHECK_URL`, healthchecks.io style): `/start` when
//! a cycle begins, the URL itself on success, `/fail` on failure. A ping
//! that fails is logged and never fails the cycle. Only built when pings are
//! effectively ON (never under DRY_RUN).

use std::time::Duration;

use crate::config::{Config, PingMode};
use crate::services::http;

pub struct Pinger {
    agent: ureq::Agent,
    url: String,
}

impl Pinger {
    pub fn from_config(cfg: &Config) -> Option<Pinger> {
        if cfg.pings.mode.effective != PingMode::On {
            return None;
        }
        Some(Pinger {
            agent: http::agent(Duration::from_secs(5)),
            url: cfg.pings.url.clone()?.trim_end_matches('/').to_string(),
        })
    }

    /// `suffix` is "" (success), "/start" or "/fail".
    pub fn ping(&self, suffix: &str, body: &str) -> Result<(), String> {
        let url = format!("{}{suffix}", self.url);
        match self.agent.post(&url).send(body.as_bytes()) {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("answered {}", r.status().as_u16())),
            Err(e) => Err(http::shorten(&e.to_string(), 200, Some(&self.url))),
        }
    }
}
