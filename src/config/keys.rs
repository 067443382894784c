//! The list of settings and how their raw text is layered: the environment
//! over the flat TOML file, blank counting as unset.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use super::notices::Notice;
use crate::error::{Error, Result};

/// Every setting hoss understands, once: the TOML file may use exactly these
/// names, `Raw` reads nothing else, and the docs test checks the README,
/// replit.md and `config/hoss.example.toml` against this list.
pub const KNOWN_KEYS: &[&str] = &[
    "HOSS_DB",
    "HOSS_LOCK_DIR",
    "HOSS_LOG",
    "DRY_RUN",
    "LOG_MAX_ENTRIES",
    "LEDGER_RETENTION_DAYS",
    "EMAIL_MODE",
    "SENDGRID_API_KEY",
    "SENDGRID_FROM_EMAIL",
    "SENDGRID_FROM_NAME",
    "SENDGRID_API_BASE",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_FROM_EMAIL",
    "SMTP_FROM_NAME",
    "SMTP_TLS",
    "REPLY_TO_EMAIL",
    "MAX_EMAILS_PER_CYCLE",
    "MAX_EMAILS_PER_HOUR",
    "EMAIL_SEND_DELAY_MIN",
    "EMAIL_SEND_DELAY_MAX",
    "COMPANY_POSTAL_ADDRESS",
    "PUBLIC_BASE_URL",
    "OPERATOR_EMAIL",
    "BIZDEV_NICHE_TEMPLATE",
    "BIZDEV_SENDER_NAME",
    "BIZDEV_SENDER_EMAIL",
    "BIZDEV_OFFER",
    "SENDER_NAME",
    "COMPANY_NAME",
    "TEMPLATES_DIR",
    "EXPECT_EVERY",
    "LEAD_SOURCE_PROVIDER",
    "LEAD_SOURCE_FALLBACK",
    "LEAD_SEARCH_API_URL",
    "LEAD_SEARCH_API_KEY",
    "LEAD_NICHE",
    "LEAD_GEOGRAPHY",
    "LEAD_MIN_COMPANY_SIZE",
    "LEAD_MAX_COMPANY_SIZE",
    "LEAD_SEARCH_PAGE_PARAM",
    "MAX_NEW_LEADS_PER_CYCLE",
    "ENABLE_STRIPE",
    "STRIPE_API_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_DEFAULT_CURRENCY",
    "STRIPE_MIN_AMOUNT",
    "STRIPE_MAX_AMOUNT",
    "STRIPE_MIN_AMOUNT_CENTS",
    "STRIPE_MAX_AMOUNT_CENTS",
    "STRIPE_WEBHOOK_TOLERANCE_SECS",
    "STRIPE_API_BASE",
    "OPS_EXECUTOR_CMD",
    "OPS_EXECUTOR_TIMEOUT_SECS",
    "PORTAL_DIR",
    "PORTAL_BASE_URL",
    "HOSS_LISTEN",
    "HEALTHCHECK_URL",
    "INBOX_MODE",
    "IMAP_HOST",
    "IMAP_PORT",
    "IMAP_TLS",
    "IMAP_USERNAME",
    "IMAP_PASSWORD",
    "IMAP_PASSWORD_CMD",
    "IMAP_AUTH",
    "IMAP_FOLDER",
    "IMAP_TIMEOUT_SECS",
    "INBOX_LOOKBACK_DAYS",
    "REPLY_TO_PLUS_TOKEN",
    "DOMAIN_HOLD_DAYS",
    "SENDGRID_WEBHOOK_PUBLIC_KEY",
    "SENDGRID_WEBHOOK_TOLERANCE_SECS",
    "HEALTH_MIN_SENDS",
    "HEALTH_MAX_BOUNCE_RATE",
    "HEALTH_MAX_COMPLAINT_RATE",
    "INVOICE_EMAILS",
    "INVOICE_DUE_DAYS",
    "INVOICE_REMINDER_DAYS",
    "PAYMENT_INSTRUCTIONS",
    "STRIPE_HARD_MAX_AMOUNT",
    "STRIPE_HARD_MAX_AMOUNT_CENTS",
    "DATABASE_URL",
    "SEND_TO_ROLE_ACCOUNTS",
    "MX_CHECK",
    "DNS_SERVER",
    "DKIM_SELECTOR",
    "DKIM_DOMAIN",
    "DKIM_PRIVATE_KEY_FILE",
    "SEND_WINDOW",
    "SEND_TIMEZONE",
    "SEND_BLACKOUT_DATES",
    "MAX_EMAILS_PER_DAY",
    "WARMUP",
    "WARMUP_START_DATE",
    "WARMUP_START",
    "WARMUP_STEP",
    "MAX_NEW_CONTACTS_PER_DOMAIN_PER_DAY",
    "MAX_ACTIVE_PER_DOMAIN",
];

/// Read from the environment only: where the file is, the conventional
/// logging and terminal-width variables, the release posture (SPEC §2: a
/// file copied from staging must not turn production on or off) and the
/// test clock (a file must never freeze time for every pass).
pub(super) const ENV_ONLY_KEYS: &[&str] = &[
    "HOSS_CONFIG",
    "RUST_LOG",
    "COLUMNS",
    "RELEASE_MODE",
    "PRODUCTION",
    "HOSS_NOW",
    "REPLIT_DEPLOYMENT",
];

/// A secret setting. It can be used, never shown: `Debug` prints `set`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(set)")
    }
}

/// The tables of the config file (the rest is flat `KEY = value`).
#[derive(Debug, Default)]
pub(super) struct FileTables {
    /// `[[onboarding.tasks]]`
    pub onboarding_tasks: Option<toml::Value>,
    /// `[[sequence.steps]]`
    pub sequence_steps: Option<toml::Value>,
}

/// Reads the TOML file into flat string values plus its tables.
pub(super) fn read_file(
    path: &Path,
    notices: &mut Vec<Notice>,
) -> Result<(HashMap<String, String>, FileTables)> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read config file {shown}: {e}")))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .map(|l| format!(" line {l}:"))
            .unwrap_or_default();
        Error::Config(format!(
            "config file {shown}{line} {}",
            e.message().trim_end()
        ))
    })?;
    let mut values = HashMap::new();
    let mut tables = FileTables::default();
    for (key, value) in table {
        if key == "onboarding" {
            tables.onboarding_tasks = value.get("tasks").cloned();
            continue;
        }
        if key == "sequence" {
            tables.sequence_steps = value.get("steps").cloned();
            continue;
        }
        if ENV_ONLY_KEYS.contains(&key.as_str()) {
            notices.push(Notice::warn(format!(
                "[CONFIG][ENV_ONLY] key={key} file={shown}: read from the environment only; ignored here"
            )));
            continue;
        }
        if !KNOWN_KEYS.contains(&key.as_str()) {
            notices.push(Notice::warn(format!(
                "[CONFIG][UNKNOWN_KEY] key={} file={shown}",
                quote_value(&key)
            )));
            continue;
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(Error::Config(format!(
                    "config file {shown}: {key} must be a string, number or boolean"
                )));
            }
        };
        values.insert(key, text);
    }
    Ok((values, tables))
}

/// The file's values with the environment's over them. An empty variable
/// counts as unset, so the file's value stands: a templated crontab line
/// like `DRY_RUN= hoss cycle` must never turn simulation off or raise a
/// limit to its default.
pub(super) fn layer(
    file: HashMap<String, String>,
    env: &HashMap<String, String>,
    notices: &mut Vec<Notice>,
) -> Raw {
    let mut raw = file;
    for (k, v) in env {
        if !v.trim().is_empty() {
            raw.insert(k.clone(), v.clone());
        } else if raw.contains_key(k) {
            notices.push(Notice::info(format!(
                "[CONFIG][EMPTY_ENV] {k} is empty in the environment; the config file's value stands"
            )));
        }
    }
    Raw(raw)
}

/// The merged raw values with small typed readers. Blank values count as unset.
pub(super) struct Raw(pub(super) HashMap<String, String>);

impl Raw {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        debug_assert!(
            KNOWN_KEYS.contains(&key) || ENV_ONLY_KEYS.contains(&key),
            "{key} is read but not in KNOWN_KEYS"
        );
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub(super) fn string(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_string()
    }

    pub(super) fn secret(&self, key: &str) -> Option<Secret> {
        self.get(key).map(|v| Secret(v.to_string()))
    }

    /// A boolean; an unreadable value resolves to `safe` with a warning.
    pub(super) fn bool(
        &self,
        key: &str,
        default: bool,
        safe: bool,
        notices: &mut Vec<Notice>,
    ) -> bool {
        match self.get(key) {
            None => default,
            Some(v) => parse_bool(v).unwrap_or_else(|| {
                notices.push(Notice::warn(format!(
                    "[CONFIG][INVALID_BOOL] {key} is not TRUE/FALSE; using the safe value {}",
                    if safe { "TRUE" } else { "FALSE" }
                )));
                safe
            }),
        }
    }

    /// A whole number in `min..=max`, or the reason it is not.
    pub(super) fn uint(
        &self,
        key: &str,
        default: u32,
        min: u32,
        max: u32,
    ) -> std::result::Result<u32, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (min..=max).contains(n) && v.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("{key} is not a whole number between {min} and {max}")),
        }
    }

    pub(super) fn opt_uint(&self, key: &str, max: u32) -> std::result::Result<Option<u32>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.uint(key, 0, 0, max).map(Some),
        }
    }

    /// An optional e-mail address, or the reason it is invalid.
    pub(super) fn email(&self, key: &str) -> std::result::Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => crate::domain::address::normalize_email(v)
                .map(Some)
                .ok_or_else(|| format!("{key} is not a valid e-mail address")),
        }
    }
}

/// A switch: `ON`/`OFF` or any word of [`parse_bool`], any case.
pub fn parse_switch(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" => Some(true),
        "off" => Some(false),
        w => parse_bool(&w.to_ascii_uppercase()),
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim() {
        "TRUE" | "true" | "True" | "1" | "yes" | "YES" | "Yes" => Some(true),
        "FALSE" | "false" | "False" | "0" | "no" | "NO" | "No" => Some(false),
        _ => None,
    }
}

/// Quotes a non-secret value for a log line: printable, short.
pub(super) fn quote_value(v: &str) -> String {
    let clean: String = v.chars().filter(|c| !c.is_control()).take(40).collect();
    format!("{clean:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_listed_once_and_in_one_list() {
        let mut all: Vec<&str> = KNOWN_KEYS.iter().chain(ENV_ONLY_KEYS).copied().collect();
        all.sort_unstable();
        let before = all.len();
        all.dedup();
        assert_eq!(all.len(), before, "a key is listed twice");
    }

    #[test]
    fn the_environment_wins_unless_it_is_blank() {
        let file = HashMap::from([
            ("DRY_RUN".to_string(), "true".to_string()),
            ("HOSS_DB".to_string(), "file.db".to_string()),
        ]);
        let env = HashMap::from([
            ("DRY_RUN".to_string(), " ".to_string()),
            ("HOSS_DB".to_string(), "env.db".to_string()),
            ("HOSS_LOG".to_string(), String::new()),
        ]);
        let mut notices = Vec::new();
        let raw = layer(file, &env, &mut notices);
        assert_eq!(raw.get("DRY_RUN"), Some("true"));
        assert_eq!(raw.get("HOSS_DB"), Some("env.db"));
        assert_eq!(raw.get("HOSS_LOG"), None);
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].line.starts_with("[CONFIG][EMPTY_ENV] DRY_RUN"));
    }

    #[test]
    fn booleans_and_quoting() {
        assert_eq!(parse_bool(" yes "), Some(true));
        assert_eq!(parse_bool("No"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(quote_value("a\nb\"c"), "\"ab\\\"c\"");
        assert_eq!(quote_value(&"x".repeat(50)).len(), 42);
    }
}
