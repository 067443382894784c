//! SendGrid's suppression lists, read from a cursor (SPEC §13):
//! `GET /v3/suppression/{list}?start_time=…&limit=…&offset=…`.

use std::time::Duration;

use serde_json::Value;

use super::http;

const TIMEOUT: Duration = Duration::from_secs(20);

/// One entry of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub email: String,
    pub created: i64,
    pub reason: Option<String>,
}

/// Why a list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The key was refused (401/403): the operator must act.
    #[error("{0}")]
    Account(String),
    /// Anything else: try again at the next pass.
    #[error("{0}")]
    Unreachable(String),
}

pub struct Client {
    agent: ureq::Agent,
    base: String,
    key: String,
}

impl Client {
    pub fn new(base: &str, key: &str) -> Client {
        Client {
            agent: http::agent(TIMEOUT),
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
        }
    }

    /// One page of `list` from `start_time` (unix seconds, inclusive).
    pub fn page(
        &self,
        list: &str,
        start_time: i64,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Entry>, PullError> {
        let url = format!("{}/v3/suppression/{list}", self.base);
        let response = self
            .agent
            .get(&url)
            .query("start_time", start_time.to_string())
            .query("limit", limit.to_string())
            .query("offset", offset.to_string())
            .header("Authorization", &format!("Bearer {}", self.key))
            .call()
            .map_err(|e| PullError::Unreachable(format!("SendGrid {list}: {e}")))?;
        let status = response.status().as_u16();
        let text = response
            .into_body()
            .with_config()
            .limit(4 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| PullError::Unreachable(format!("SendGrid {list}: {e}")))?;
        let shown = || http::shorten(&text, 200, Some(&self.key));
        match status {
            200 => {}
            401 => {
                return Err(PullError::Account(format!(
                    "SendGrid refused the API key for {list} (HTTP 401): {}",
                    shown()
                )));
            }
            403 => {
                return Err(PullError::Account(format!(
                    "the SendGrid API key may not read suppressions (HTTP 403 on {list}): give it \"Suppressions: Read Access\" beside \"Mail Send\" (Settings → API Keys): {}",
                    shown()
                )));
            }
            _ => {
                return Err(PullError::Unreachable(format!(
                    "SendGrid {list}: HTTP {status}: {}",
                    shown()
                )));
            }
        }
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| PullError::Unreachable(format!("SendGrid {list}: not JSON: {e}")))?;
        let rows = value
            .as_array()
            .ok_or_else(|| PullError::Unreachable(format!("SendGrid {list}: not a JSON list")))?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let email = r.get("email")?.as_str()?.trim().to_ascii_lowercase();
                email.contains('@').then(|| Entry {
                    email,
                    created: r.get("created").and_then(Value::as_i64).unwrap_or(0),
                    reason: r
                        .get("reason")
                        .and_then(Value::as_str)
                        .map(|s| http::shorten(s, 200, None)),
                })
            })
            .collect())
    }
}
