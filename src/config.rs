//! The one place that reads configuration (SPEC §3).
//!
//! Settings come from the environment, layered over an optional flat TOML
//! file (`HOSS_CONFIG`, else `config/hoss.toml` when it exists); the
//! environment wins. [`Config::load`] parses them once into typed values and
//! resolves, per subsystem (email, leads, stripe, pings), the requested mode,
//! the *effective* mode and the reason for any fallback. Nothing else in hoss
//! reads the environment or re-derives a mode.
//!
//! Two rules shape everything here:
//! * an invalid single value never becomes a silent default that could raise
//!   a limit: its subsystem falls back to DRY_RUN and the reason names the
//!   variable (never its value when it is a secret);
//! * secrets are [`Secret`]s, whose `Debug` says only `set`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use log::Level;
use serde::Serialize;

use crate::domain::templates::{self, Pack};
use crate::error::{Error, Result};
use crate::money::Cents;

/// Every setting hoss understands; the TOML file may use exactly these names.
pub const KNOWN_KEYS: &[&str] = &[
    "HOSS_DB",
    "HOSS_LOCK_DIR",
    "HOSS_LOG",
    "DRY_RUN",
    "RELEASE_MODE",
    "PRODUCTION",
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
    "HOSS_NOW",
];

/// Read from the environment only (they say where the file is, or are the
/// conventional logging and terminal-width variables).
const ENV_ONLY_KEYS: &[&str] = &["HOSS_CONFIG", "RUST_LOG", "COLUMNS"];

pub const DEFAULT_SENDGRID_API_BASE: &str = "https://api.sendgrid.com";
pub const DEFAULT_STRIPE_API_BASE: &str = "https://api.stripe.com";
const DEFAULT_CONFIG_FILE: &str = "config/hoss.toml";
/// The display name of simulated mail only: real mail never goes out under
/// the product's name.
const DEFAULT_FROM_NAME: &str = "HossAgent";
const DEFAULT_TEMPLATES_DIR: &str = "config/templates";
const DEFAULT_LEAD_NICHE: &str = "small B2B agencies";
const DEFAULT_LEAD_SEARCH_PAGE_PARAM: &str = "page";

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

/// A line the process logs once at start, after the database is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub level: Level,
    pub line: String,
}

/// Requested and effective mode of one subsystem (the JSON shape of SPEC §12).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Resolved {
    pub requested: String,
    pub effective: String,
    pub reason: Option<String>,
}

impl Resolved {
    /// A requested mode that could not be honoured.
    pub fn fell_back(&self) -> bool {
        self.reason.is_some() && self.requested != self.effective
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Subsystems {
    pub email: Resolved,
    pub leads: Resolved,
    pub stripe: Resolved,
    pub pings: Resolved,
}

impl Subsystems {
    pub fn iter(&self) -> [(&'static str, &Resolved); 4] {
        [
            ("email", &self.email),
            ("leads", &self.leads),
            ("stripe", &self.stripe),
            ("pings", &self.pings),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EmailMode {
    #[serde(rename = "DRY_RUN")]
    DryRun,
    #[serde(rename = "SENDGRID")]
    SendGrid,
    #[serde(rename = "SMTP")]
    Smtp,
}

impl EmailMode {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailMode::DryRun => "DRY_RUN",
            EmailMode::SendGrid => "SENDGRID",
            EmailMode::Smtp => "SMTP",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Implicit,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LeadProvider {
    #[serde(rename = "DUMMY_SEED")]
    DummySeed,
    #[serde(rename = "SEARCH_API")]
    SearchApi,
    #[serde(rename = "NONE")]
    None,
}

impl LeadProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            LeadProvider::DummySeed => "DUMMY_SEED",
            LeadProvider::SearchApi => "SEARCH_API",
            LeadProvider::None => "NONE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyMode {
    Test,
    Live,
}

impl KeyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyMode::Test => "test",
            KeyMode::Live => "live",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: Option<String>,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub tls: SmtpTls,
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub mode: Resolved,
    pub effective: EmailMode,
    pub max_per_cycle: u32,
    pub max_per_hour: u32,
    pub delay_min_secs: u32,
    pub delay_max_secs: u32,
    pub from_email: String,
    pub from_name: String,
    pub reply_to: String,
    pub sendgrid_api_key: Option<Secret>,
    pub sendgrid_api_base: String,
    pub smtp: SmtpConfig,
    pub company_postal_address: Option<String>,
    pub public_base_url: Option<String>,
    pub operator_email: String,
    pub niche_template: String,
    /// The pack `BIZDEV_NICHE_TEMPLATE` names, read from `TEMPLATES_DIR` or
    /// built in, checked; its error made email fall back.
    pub pack: std::result::Result<Pack, String>,
    pub templates_dir: PathBuf,
    pub sender_name: String,
    /// `COMPANY_NAME`: the operator's company, in every footer.
    pub company_name: Option<String>,
    pub offer: String,
}

#[derive(Debug, Clone)]
pub struct LeadsConfig {
    pub mode: Resolved,
    pub effective: LeadProvider,
    /// What runs when SEARCH_API cannot (NONE or DUMMY_SEED).
    pub fallback: LeadProvider,
    pub api_url: Option<String>,
    pub api_key: Option<Secret>,
    pub niche: String,
    pub geography: Option<String>,
    pub min_company_size: Option<u32>,
    pub max_company_size: Option<u32>,
    pub max_new_per_cycle: u32,
    /// The search API's page parameter; `None` when paging is off
    /// (`LEAD_SEARCH_PAGE_PARAM=NONE`).
    pub page_param: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StripeConfig {
    pub mode: Resolved,
    pub enabled: bool,
    pub api_key: Option<Secret>,
    pub key_mode: Option<KeyMode>,
    pub webhook_secret: Option<Secret>,
    /// Why a set `STRIPE_WEBHOOK_SECRET` cannot be used, if it cannot.
    pub webhook_secret_problem: Option<String>,
    pub currency: String,
    /// Why `currency` cannot be used for invoices, if it cannot.
    pub currency_error: Option<String>,
    pub min_amount: Cents,
    pub max_amount: Cents,
    pub webhook_tolerance_secs: u32,
    pub api_base: String,
}

impl StripeConfig {
    /// The currency new invoices are made in, or a configuration error.
    pub fn invoice_currency(&self) -> Result<&str> {
        match &self.currency_error {
            Some(e) => Err(Error::Config(e.clone())),
            None => Ok(&self.currency),
        }
    }
}

#[derive(Debug, Clone)]
pub struct OnboardingTask {
    pub description: String,
    pub amount: Cents,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub db_path: PathBuf,
    pub config_file: Option<PathBuf>,
    pub lock_dir: PathBuf,
    pub log_filter: String,
    pub dry_run: bool,
    pub release_mode: bool,
    pub log_max_entries: u32,
    pub ledger_retention_days: u32,
    pub email: EmailConfig,
    pub leads: LeadsConfig,
    pub stripe: StripeConfig,
    pub pings: Resolved,
    pub healthcheck_url: Option<String>,
    pub ops_executor_cmd: Option<String>,
    pub ops_executor_timeout_secs: u32,
    pub portal_dir: PathBuf,
    pub portal_base_url: Option<String>,
    pub listen: String,
    /// How often each pass is expected to run (`EXPECT_EVERY`), in seconds;
    /// `status` says when one is late.
    pub expect_every: Vec<(String, i64)>,
    /// `COLUMNS`: the width of a terminal that reports none.
    pub columns: Option<u16>,
    /// Onboarding tasks from the file; an invalid table is kept as its error
    /// so that only `onboard` refuses to run.
    pub onboarding_tasks: std::result::Result<Vec<OnboardingTask>, String>,
    /// Lines to log once at start: banner, fallbacks, warnings.
    pub notices: Vec<Notice>,
    /// `HOSS_NOW`: a pinned clock (unix seconds) for tests and replays.
    pub now_override: Option<i64>,
}

impl Config {
    /// Reads the process environment and the config file.
    pub fn load() -> Result<Config> {
        let mut env = HashMap::new();
        for key in KNOWN_KEYS.iter().chain(ENV_ONLY_KEYS) {
            if let Some(v) = std::env::var_os(key) {
                env.insert(key.to_string(), v.to_string_lossy().into_owned());
            }
        }
        Config::from_env(&env)
    }

    /// Builds the configuration from an explicit environment map (tests use
    /// this; `load` passes the real one).
    pub fn from_env(env: &HashMap<String, String>) -> Result<Config> {
        let file = match env
            .get("HOSS_CONFIG")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            Some(p) => Some(PathBuf::from(p)),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
        };
        let mut notices = Vec::new();
        let mut raw: HashMap<String, String> = HashMap::new();
        let mut tasks_value = None;
        if let Some(path) = &file {
            let (values, tasks) = read_file(path, &mut notices)?;
            raw.extend(values);
            tasks_value = tasks;
        }
        // An empty variable counts as unset, so the file's value stands: a
        // templated crontab line like `DRY_RUN= hoss cycle` must never turn
        // simulation off or raise a limit to its default.
        for (k, v) in env {
            if !v.trim().is_empty() {
                raw.insert(k.clone(), v.clone());
            } else if raw.contains_key(k) {
                notices.push(Notice {
                    level: Level::Info,
                    line: format!(
                        "[CONFIG][EMPTY_ENV] {k} is empty in the environment; the config file's value stands"
                    ),
                });
            }
        }
        let raw = Raw(raw);
        let now_override = match raw.get("HOSS_NOW") {
            None => None,
            Some(v) => Some(
                chrono::DateTime::parse_from_rfc3339(v)
                    .map(|t| t.timestamp())
                    .map_err(|_| {
                        Error::Config(
                            "HOSS_NOW is not an RFC 3339 time like 2026-11-25T14:00:00Z".into(),
                        )
                    })?,
            ),
        };
        let mut cfg = resolve(&raw, notices);
        cfg.config_file = file;
        cfg.now_override = now_override;
        cfg.onboarding_tasks = parse_tasks(tasks_value, &cfg.stripe.currency);
        Ok(cfg)
    }

    /// Resolves already-merged values (no file, no environment).
    #[cfg(test)]
    pub(crate) fn from_values(values: HashMap<String, String>) -> Config {
        resolve(&Raw(values), Vec::new())
    }

    pub fn subsystems(&self) -> Subsystems {
        Subsystems {
            email: self.email.mode.clone(),
            leads: self.leads.mode.clone(),
            stripe: self.stripe.mode.clone(),
            pings: self.pings.clone(),
        }
    }

    /// Where the state lives, as shown to the operator: `sqlite:/abs/path`.
    pub fn store_label(&self) -> String {
        let path = std::fs::canonicalize(&self.db_path).unwrap_or_else(|_| self.db_path.clone());
        format!("sqlite:{}", path.display())
    }

    /// The config file in use, as shown to the operator.
    pub fn config_file_label(&self) -> Option<String> {
        self.config_file.as_ref().map(|p| {
            std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
    }

    /// The deploy gate of `hoss check`: in release mode every requested
    /// subsystem must run as requested.
    pub fn check_ok(&self) -> bool {
        !self.release_mode || self.subsystems().iter().iter().all(|(_, r)| !r.fell_back())
    }
}

/// Reads the TOML file into flat string values (plus the onboarding tasks).
fn read_file(
    path: &Path,
    notices: &mut Vec<Notice>,
) -> Result<(HashMap<String, String>, Option<toml::Value>)> {
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
    let mut tasks = None;
    for (key, value) in table {
        if key == "onboarding" {
            tasks = value.get("tasks").cloned();
            continue;
        }
        if !KNOWN_KEYS.contains(&key.as_str()) {
            notices.push(warn(format!(
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
    Ok((values, tasks))
}

/// Task amounts are in the invoice currency (`STRIPE_DEFAULT_CURRENCY`), in
/// its own decimals: `1500` is ¥1500, not ¥150000.
fn parse_tasks(
    value: Option<toml::Value>,
    currency: &str,
) -> std::result::Result<Vec<OnboardingTask>, String> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .ok_or("onboarding.tasks must be an array of tables ([[onboarding.tasks]])")?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let n = i + 1;
            let description = item
                .get("description")
                .and_then(|d| d.as_str())
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .ok_or(format!("onboarding task {n} needs a description"))?;
            let amount = match item.get("amount") {
                Some(toml::Value::String(s)) => Cents::parse_in(s, currency),
                Some(toml::Value::Integer(i)) => Cents::parse_in(&i.to_string(), currency),
                Some(toml::Value::Float(f)) => Cents::parse_in(&f.to_string(), currency),
                _ => Err("is missing".to_string()),
            }
            .and_then(
                |a| match crate::money::stripe_amount_problem(a.0, currency) {
                    Some(problem) => Err(problem),
                    None => Ok(a),
                },
            )
            .map_err(|e| format!("onboarding task {n} amount {e}"))?;
            Ok(OnboardingTask {
                description: description.to_string(),
                amount,
            })
        })
        .collect()
}

/// The merged raw values with small typed readers. Blank values count as unset.
struct Raw(HashMap<String, String>);

impl Raw {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn string(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_string()
    }

    fn secret(&self, key: &str) -> Option<Secret> {
        self.get(key).map(|v| Secret(v.to_string()))
    }

    /// A boolean; an unreadable value resolves to `safe` with a warning.
    fn bool(&self, key: &str, default: bool, safe: bool, notices: &mut Vec<Notice>) -> bool {
        match self.get(key) {
            None => default,
            Some(v) => parse_bool(v).unwrap_or_else(|| {
                notices.push(warn(format!(
                    "[CONFIG][INVALID_BOOL] {key} is not TRUE/FALSE; using the safe value {}",
                    if safe { "TRUE" } else { "FALSE" }
                )));
                safe
            }),
        }
    }

    /// A whole number in `min..=max`, or the reason it is not.
    fn uint(
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

    fn opt_uint(&self, key: &str, max: u32) -> std::result::Result<Option<u32>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.uint(key, 0, 0, max).map(Some),
        }
    }

    /// An optional e-mail address, or the reason it is invalid.
    fn email(&self, key: &str) -> std::result::Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => crate::domain::address::normalize_email(v)
                .map(Some)
                .ok_or_else(|| format!("{key} is not a valid e-mail address")),
        }
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim() {
        "TRUE" | "true" | "True" | "1" | "yes" | "YES" | "Yes" => Some(true),
        "FALSE" | "false" | "False" | "0" | "no" | "NO" | "No" => Some(false),
        _ => None,
    }
}

fn warn(line: String) -> Notice {
    Notice {
        level: Level::Warn,
        line,
    }
}

/// Quotes a non-secret value for a log line: printable, short.
fn quote_value(v: &str) -> String {
    let clean: String = v.chars().filter(|c| !c.is_control()).take(40).collect();
    format!("{clean:?}")
}

/// Is this host the local machine? Plain http and SMTP without TLS are
/// allowed only there (the tests' stand-ins).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Splits `scheme://host[:port]/rest` into (scheme, host, rest).
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
        return None;
    }
    let host = if let Some(stripped) = authority.strip_prefix('[') {
        &authority[..stripped.find(']')? + 2]
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    Some((scheme, host, &rest[end..]))
}

/// Checks a URL the process may call: https, or http on loopback only.
fn check_url(key: &str, url: &str) -> std::result::Result<String, String> {
    let Some((scheme, host, _)) = split_url(url) else {
        return Err(format!("{key} is not a URL"));
    };
    match scheme {
        "https" => Ok(url.to_string()),
        "http" if is_loopback_host(host) => Ok(url.to_string()),
        "http" => Err(format!(
            "{key} must use https (plain http only on loopback)"
        )),
        _ => Err(format!("{key} must be an https URL")),
    }
}

/// An API base is scheme + host (+ port) only; hoss appends the paths.
fn check_api_base(key: &str, url: &str) -> std::result::Result<String, String> {
    let url = url.trim_end_matches('/');
    let checked = check_url(key, url)?;
    match split_url(&checked) {
        Some((_, _, "")) => Ok(checked),
        _ => Err(format!(
            "{key} must be scheme and host only, without a path"
        )),
    }
}

/// Collects the reasons a subsystem cannot run as requested.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn take<T>(&mut self, r: std::result::Result<T, String>, fallback: T) -> T {
        r.unwrap_or_else(|e| {
            self.0.push(e);
            fallback
        })
    }

    fn require<T>(&mut self, v: Option<T>, key: &str) -> Option<T> {
        if v.is_none() {
            self.0.push(format!("{key} is missing"));
        }
        v
    }

    fn reason(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join("; "))
    }
}

fn resolve(raw: &Raw, mut notices: Vec<Notice>) -> Config {
    let dry_run = raw.bool("DRY_RUN", false, true, &mut notices);
    let release_mode = match raw.get("RELEASE_MODE") {
        Some(_) => raw.bool("RELEASE_MODE", false, true, &mut notices),
        None => raw.bool("PRODUCTION", false, true, &mut notices),
    };

    let db_path = PathBuf::from(raw.string("HOSS_DB", "hoss.db"));
    let lock_dir = raw
        .get("HOSS_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let mut name = db_path.file_name().unwrap_or_default().to_os_string();
            name.push(".locks");
            db_path.with_file_name(name)
        });
    let log_filter = raw
        .get("HOSS_LOG")
        .or_else(|| raw.get("RUST_LOG"))
        .unwrap_or("info")
        .to_string();

    let mut general = Problems::default();
    let log_max_entries = general.take(raw.uint("LOG_MAX_ENTRIES", 5000, 100, 10_000_000), 5000);
    let ledger_retention_days = general.take(raw.uint("LEDGER_RETENTION_DAYS", 35, 1, 3650), 35);
    let ops_executor_timeout_secs =
        general.take(raw.uint("OPS_EXECUTOR_TIMEOUT_SECS", 300, 1, 86_400), 300);
    for p in general.0 {
        notices.push(warn(format!("[CONFIG][INVALID] {p}; using the default")));
    }

    let email = resolve_email(raw, dry_run);
    let leads = resolve_leads(raw, dry_run);
    let stripe = resolve_stripe(raw, dry_run, &mut notices);

    let mut ping_problems = Problems::default();
    let healthcheck_url = raw
        .get("HEALTHCHECK_URL")
        .and_then(|u| ping_problems.take(check_url("HEALTHCHECK_URL", u).map(Some), None));
    let pings = match raw.get("HEALTHCHECK_URL") {
        None => Resolved {
            requested: "OFF".into(),
            effective: "OFF".into(),
            reason: None,
        },
        Some(_) => {
            if dry_run {
                ping_problems.0.insert(0, "DRY_RUN=TRUE".into());
            }
            let reason = ping_problems.reason();
            Resolved {
                requested: "ON".into(),
                effective: if reason.is_some() { "OFF" } else { "ON" }.into(),
                reason,
            }
        }
    };

    let mut portal_problems = Problems::default();
    let portal_base_url = raw.get("PORTAL_BASE_URL").and_then(|u| {
        portal_problems.take(
            check_url("PORTAL_BASE_URL", u.trim_end_matches('/')).map(Some),
            None,
        )
    });
    for p in portal_problems.0 {
        notices.push(warn(format!(
            "[CONFIG][INVALID] {p}; portal links are not printed"
        )));
    }

    let mut cfg = Config {
        db_path,
        config_file: None,
        lock_dir,
        log_filter,
        dry_run,
        release_mode,
        log_max_entries,
        ledger_retention_days,
        email,
        leads,
        stripe,
        pings,
        healthcheck_url,
        ops_executor_cmd: raw.get("OPS_EXECUTOR_CMD").map(str::to_string),
        ops_executor_timeout_secs,
        portal_dir: PathBuf::from(raw.string("PORTAL_DIR", "portal")),
        portal_base_url,
        listen: raw.string("HOSS_LISTEN", "127.0.0.1:8080"),
        columns: raw.get("COLUMNS").and_then(|c| c.parse().ok()),
        expect_every: match raw.get("EXPECT_EVERY").map(parse_expect_every) {
            None => default_expect_every(),
            Some(Ok(list)) => list,
            Some(Err(e)) => {
                notices.push(warn(format!(
                    "[CONFIG][INVALID] EXPECT_EVERY: {e}; using the default schedule"
                )));
                default_expect_every()
            }
        },
        onboarding_tasks: Ok(Vec::new()),
        notices: Vec::new(),
        now_override: None,
    };
    cfg.notices = startup_notices(&cfg, notices);
    cfg
}

/// Passes `status` watches when `EXPECT_EVERY` says nothing: an hourly
/// outreach pass and daily others.
fn default_expect_every() -> Vec<(String, i64)> {
    [
        ("send-outreach", 3600),
        ("source-leads", 86_400),
        ("onboard", 86_400),
        ("bill", 86_400),
        ("cycle", 86_400),
    ]
    .into_iter()
    .map(|(p, s)| (p.to_string(), s))
    .collect()
}

/// The passes `EXPECT_EVERY` may name.
const PASSES: &[&str] = &[
    "source-leads",
    "send-outreach",
    "onboard",
    "ops",
    "bill",
    "portal-export",
    "cycle",
    "summary --email",
];

/// `cycle=1h,send-outreach=30m,summary --email=1d`: each pass and how often
/// it runs (`s`, `m`, `h` or `d`).
fn parse_expect_every(text: &str) -> std::result::Result<Vec<(String, i64)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (pass, every) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not PASS=DURATION"))?;
            let pass = pass.trim();
            if !PASSES.contains(&pass) {
                return Err(format!(
                    "{pass:?} is not a pass (one of: {})",
                    PASSES.join(", ")
                ));
            }
            let every = every.trim();
            let (digits, unit) = every.split_at(every.len().saturating_sub(1));
            let n: i64 = digits
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{every:?} is not a duration like 30m, 2h or 1d"))?;
            let secs = match unit {
                "s" => n,
                "m" => n * 60,
                "h" => n * 3600,
                "d" => n * 86_400,
                _ => return Err(format!("{every:?} is not a duration like 30m, 2h or 1d")),
            };
            Ok((pass.to_string(), secs))
        })
        .collect()
}

/// The banner, the fallback lines and the warnings, in the order they are
/// logged. Fallbacks are loud in release mode and quiet in the sandbox.
fn startup_notices(cfg: &Config, config_notices: Vec<Notice>) -> Vec<Notice> {
    let mut out = Vec::new();
    if cfg.release_mode {
        out.push(Notice {
            level: Level::Info,
            line: "[RELEASE_MODE][ON]".into(),
        });
    }
    out.extend(config_notices);
    let fallback_level = if cfg.release_mode {
        Level::Error
    } else {
        Level::Info
    };
    for (name, r) in cfg.subsystems().iter() {
        if r.fell_back() {
            out.push(Notice {
                level: fallback_level,
                line: format!(
                    "[DRY_RUN_FALLBACK] subsystem={name} reason={:?}",
                    r.reason.as_deref().unwrap_or_default()
                ),
            });
        }
    }
    if cfg.release_mode && cfg.email.max_per_hour > 100 {
        out.push(warn(format!(
            "[RELEASE_MODE][HIGH_VOLUME_WARNING] max_emails_per_hour={} recommended_max=100",
            cfg.email.max_per_hour
        )));
    }
    if let Some(key_mode) = cfg.stripe.key_mode {
        let mismatch = match key_mode {
            KeyMode::Test => cfg.release_mode,
            KeyMode::Live => !cfg.release_mode,
        };
        if mismatch {
            out.push(warn(format!(
                "[STRIPE][KEY_MODE_MISMATCH] key_mode={} release_mode={}",
                key_mode.as_str(),
                cfg.release_mode
            )));
        }
    }
    if !cfg.release_mode {
        let real: Vec<&str> = cfg
            .subsystems()
            .iter()
            .iter()
            .filter(|(name, r)| match *name {
                "email" => r.effective != "DRY_RUN",
                "leads" => r.effective == "SEARCH_API",
                "stripe" => r.effective == "ENABLED",
                _ => r.effective == "ON",
            })
            .map(|(name, _)| *name)
            .collect();
        if !real.is_empty() {
            out.push(warn(format!(
                "[RELEASE_MODE][OFF][REAL_SIDE_EFFECTS] subsystems={}",
                real.join(",")
            )));
        }
    }
    out
}

fn resolve_email(raw: &Raw, dry_run: bool) -> EmailConfig {
    let mut p = Problems::default();
    let requested_text = raw.string("EMAIL_MODE", "DRY_RUN");
    let requested = match requested_text.to_ascii_uppercase().as_str() {
        "DRY_RUN" => Some(EmailMode::DryRun),
        "SENDGRID" => Some(EmailMode::SendGrid),
        "SMTP" => Some(EmailMode::Smtp),
        _ => {
            p.0.push(format!(
                "EMAIL_MODE {} is not one of DRY_RUN, SENDGRID, SMTP",
                quote_value(&requested_text)
            ));
            None
        }
    };

    // Limits: an unreadable limit is 0 (sends nothing), never the default.
    let max_per_cycle = p.take(raw.uint("MAX_EMAILS_PER_CYCLE", 10, 0, 10_000), 0);
    let max_per_hour = p.take(raw.uint("MAX_EMAILS_PER_HOUR", 50, 0, 100_000), 0);
    let delay_min_secs = p.take(raw.uint("EMAIL_SEND_DELAY_MIN", 1, 0, 600), 0);
    let delay_max_secs = p.take(raw.uint("EMAIL_SEND_DELAY_MAX", 5, 0, 600), 0);
    if delay_min_secs > delay_max_secs {
        p.0.push("EMAIL_SEND_DELAY_MIN is greater than EMAIL_SEND_DELAY_MAX".into());
    }

    let sendgrid_api_key = raw.secret("SENDGRID_API_KEY");
    let sendgrid_api_base = p.take(
        check_api_base(
            "SENDGRID_API_BASE",
            raw.get("SENDGRID_API_BASE")
                .unwrap_or(DEFAULT_SENDGRID_API_BASE),
        ),
        DEFAULT_SENDGRID_API_BASE.into(),
    );
    let smtp_tls_text = raw.string("SMTP_TLS", "STARTTLS");
    let smtp_tls = match smtp_tls_text.to_ascii_uppercase().as_str() {
        "STARTTLS" => SmtpTls::StartTls,
        "TLS" => SmtpTls::Implicit,
        "NONE" => SmtpTls::None,
        _ => {
            p.0.push("SMTP_TLS is not one of STARTTLS, TLS, NONE".into());
            SmtpTls::StartTls
        }
    };
    let smtp = SmtpConfig {
        host: raw.get("SMTP_HOST").map(str::to_string),
        port: p.take(raw.uint("SMTP_PORT", 587, 1, 65_535), 587) as u16,
        username: raw.get("SMTP_USERNAME").map(str::to_string),
        password: raw.secret("SMTP_PASSWORD"),
        tls: smtp_tls,
    };

    let sendgrid_from = p.take(raw.email("SENDGRID_FROM_EMAIL"), None);
    let smtp_from = p.take(raw.email("SMTP_FROM_EMAIL"), None);
    let bizdev_email = p.take(raw.email("BIZDEV_SENDER_EMAIL"), None);
    let reply_to = p.take(raw.email("REPLY_TO_EMAIL"), None);
    let operator_email = p.take(raw.email("OPERATOR_EMAIL"), None);
    let public_base_url = raw.get("PUBLIC_BASE_URL").and_then(|u| {
        p.take(
            check_url("PUBLIC_BASE_URL", u.trim_end_matches('/')).map(Some),
            None,
        )
    });
    let company_postal_address = raw.get("COMPANY_POSTAL_ADDRESS").map(str::to_string);

    // What the requested real mailer needs, on top of the shared checks.
    let (from_email, from_name) = match requested {
        Some(EmailMode::SendGrid) => {
            let key = p.require(sendgrid_api_key.as_ref(), "SENDGRID_API_KEY");
            if key.is_some_and(|k| k.0.chars().any(|c| c.is_whitespace() || c.is_control())) {
                p.0.push("SENDGRID_API_KEY contains whitespace".into());
            }
            (
                p.require(sendgrid_from.clone(), "SENDGRID_FROM_EMAIL"),
                raw.get("SENDGRID_FROM_NAME"),
            )
        }
        Some(EmailMode::Smtp) => {
            if let Some(host) = p.require(smtp.host.as_deref(), "SMTP_HOST") {
                if host.contains(|c: char| c.is_whitespace() || c == '/' || c == '@') {
                    p.0.push("SMTP_HOST is not a host name".into());
                } else if smtp.tls == SmtpTls::None && !is_loopback_host(host) {
                    p.0.push("SMTP_TLS=NONE is allowed only for a loopback SMTP_HOST".into());
                }
            }
            if smtp.username.is_some() != smtp.password.is_some() {
                p.0.push("SMTP_USERNAME and SMTP_PASSWORD must be set together".into());
            }
            (
                p.require(smtp_from.clone(), "SMTP_FROM_EMAIL"),
                raw.get("SMTP_FROM_NAME"),
            )
        }
        _ => (
            sendgrid_from.clone().or(smtp_from.clone()),
            raw.get("SENDGRID_FROM_NAME").or(raw.get("SMTP_FROM_NAME")),
        ),
    };
    // The operator's name and company, never the product's, on real mail.
    let from_name = from_name
        .or(raw.get("SENDER_NAME"))
        .or(raw.get("BIZDEV_SENDER_NAME"))
        .map(sanitize_display_name)
        .filter(|n| !n.is_empty());
    let company_name = raw
        .get("COMPANY_NAME")
        .map(sanitize_display_name)
        .filter(|n| !n.is_empty());
    if requested.is_some_and(|m| m != EmailMode::DryRun) {
        if from_name.is_none() {
            p.0.push(
                "SENDER_NAME is missing (real email never goes out under the product's name; SENDGRID_FROM_NAME or SMTP_FROM_NAME also do)"
                    .into(),
            );
        }
        p.require(company_name.as_ref(), "COMPANY_NAME");
        p.require(company_postal_address.as_ref(), "COMPANY_POSTAL_ADDRESS");
    }
    let niche_template = raw
        .string("BIZDEV_NICHE_TEMPLATE", "general")
        .to_ascii_lowercase();
    let templates_dir = PathBuf::from(raw.string("TEMPLATES_DIR", DEFAULT_TEMPLATES_DIR));
    // A TEMPLATES_DIR the operator named (other than the default, which is
    // optional) but that is not there (a typo, a
    // deploy that forgot it) must not quietly swap their packs for the
    // built-in text: email falls back and `check` names it.
    let named = raw
        .get("TEMPLATES_DIR")
        .is_some_and(|d| Path::new(d) != Path::new(DEFAULT_TEMPLATES_DIR));
    let pack = if named && !templates_dir.is_dir() {
        Err(format!(
            "{TEMPLATES_DIR_PREFIX}{} is not a folder; its packs would be replaced by the built-in ones",
            quote_value(&templates_dir.display().to_string())
        ))
    } else {
        load_pack(&niche_template, &templates_dir)
    };
    if let Err(e) = &pack {
        p.0.push(pack_problem(e));
    }
    if dry_run {
        p.0.insert(0, "DRY_RUN=TRUE".into());
    }

    let from_name = from_name.unwrap_or_else(|| DEFAULT_FROM_NAME.into());
    // The name in the signature: the outreach persona, else the person.
    let sender_name = raw
        .get("BIZDEV_SENDER_NAME")
        .or(raw.get("SENDER_NAME"))
        .map(sanitize_display_name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| from_name.clone());
    let from_email = from_email.unwrap_or_else(|| "hoss@dry-run.invalid".into());
    let reply_to = reply_to
        .or(bizdev_email)
        .unwrap_or_else(|| from_email.clone());
    let operator_email = operator_email.unwrap_or_else(|| from_email.clone());
    let effective = match requested {
        Some(m) if p.0.is_empty() => m,
        _ => EmailMode::DryRun,
    };
    // DRY_RUN asked for is not a fallback, but a broken setting still shows.
    let reason = p.reason();
    EmailConfig {
        mode: Resolved {
            requested: requested.map_or(requested_text, |m| m.as_str().to_string()),
            effective: effective.as_str().into(),
            reason,
        },
        effective,
        max_per_cycle,
        max_per_hour,
        delay_min_secs,
        delay_max_secs,
        from_email,
        from_name,
        reply_to,
        sendgrid_api_key,
        sendgrid_api_base,
        smtp,
        company_postal_address,
        public_base_url,
        operator_email,
        niche_template,
        pack,
        templates_dir,
        sender_name,
        company_name,
        offer: raw.string("BIZDEV_OFFER", "autonomous business operations"),
    }
}

/// Display names go into headers: no control characters, no quotes games.
fn sanitize_display_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | '\\'))
        .take(64)
        .collect();
    clean.trim().to_string()
}

/// The pack called `name`: `TEMPLATES_DIR/<name>.toml` when that file
/// exists (read now, at run time), else the built-in one; checked either way.
pub fn load_pack(name: &str, dir: &Path) -> std::result::Result<Pack, String> {
    let file = dir.join(format!("{name}.toml"));
    if file.is_file() {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        return templates::parse(name, &file.display().to_string(), &text);
    }
    match templates::builtin(name) {
        Some(_) => templates::builtin_pack(name),
        None => Err(format!(
            "no template pack named {} (built in: {}; or add {})",
            quote_value(name),
            templates::BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
            file.display()
        )),
    }
}

const TEMPLATES_DIR_PREFIX: &str = "TEMPLATES_DIR ";

/// The reason a pack cannot be used, named after the setting to fix.
pub fn pack_problem(e: &str) -> String {
    if e.starts_with(TEMPLATES_DIR_PREFIX) {
        e.to_string()
    } else {
        format!("BIZDEV_NICHE_TEMPLATE: {e}")
    }
}

/// Every pack file in `TEMPLATES_DIR`, checked (for `hoss check`).
pub fn template_dir_problems(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|f| {
            let name = f.file_stem()?.to_string_lossy().to_lowercase();
            load_pack(&name, dir).err()
        })
        .collect()
}

fn resolve_leads(raw: &Raw, dry_run: bool) -> LeadsConfig {
    let mut p = Problems::default();
    let api_url_text = raw.get("LEAD_SEARCH_API_URL");
    let api_key = raw.secret("LEAD_SEARCH_API_KEY");
    let requested_text = match raw.get("LEAD_SOURCE_PROVIDER") {
        Some(v) => v.to_string(),
        None if api_url_text.is_some() && api_key.is_some() => "SEARCH_API".into(),
        None => "DUMMY_SEED".into(),
    };
    let fallback = match raw
        .string("LEAD_SOURCE_FALLBACK", "NONE")
        .to_ascii_uppercase()
        .as_str()
    {
        "NONE" => LeadProvider::None,
        "DUMMY_SEED" => LeadProvider::DummySeed,
        _ => {
            p.0.push("LEAD_SOURCE_FALLBACK is not one of NONE, DUMMY_SEED".into());
            LeadProvider::None
        }
    };
    let max_new_per_cycle = p.take(raw.uint("MAX_NEW_LEADS_PER_CYCLE", 10, 0, 100_000), 0);
    let min_company_size = p.take(raw.opt_uint("LEAD_MIN_COMPANY_SIZE", 10_000_000), None);
    let max_company_size = p.take(raw.opt_uint("LEAD_MAX_COMPANY_SIZE", 10_000_000), None);
    if let (Some(a), Some(b)) = (min_company_size, max_company_size)
        && a > b
    {
        p.0.push("LEAD_MIN_COMPANY_SIZE is greater than LEAD_MAX_COMPANY_SIZE".into());
    }

    let requested = match requested_text.to_ascii_uppercase().as_str() {
        "DUMMY_SEED" | "DUMMY" => Some(LeadProvider::DummySeed),
        "SEARCH_API" => Some(LeadProvider::SearchApi),
        _ => {
            p.0.push(format!(
                "LEAD_SOURCE_PROVIDER {} is not one of DUMMY_SEED, SEARCH_API",
                quote_value(&requested_text)
            ));
            None
        }
    };
    let mut api_url = None;
    let mut page_param = None;
    if requested == Some(LeadProvider::SearchApi) {
        if let Some(u) = p.require(api_url_text, "LEAD_SEARCH_API_URL") {
            api_url = p.take(check_url("LEAD_SEARCH_API_URL", u).map(Some), None);
        }
        p.require(api_key.as_ref(), "LEAD_SEARCH_API_KEY");
        page_param = p.take(
            check_page_param(&raw.string("LEAD_SEARCH_PAGE_PARAM", DEFAULT_LEAD_SEARCH_PAGE_PARAM)),
            None,
        );
        if dry_run {
            p.0.insert(0, "DRY_RUN=TRUE".into());
        }
    }
    let (effective, reason) = match (requested, p.reason()) {
        (Some(r), None) => (r, None),
        // An unusable limit means no leads at all, never the default.
        (_, Some(reason))
            if max_new_per_cycle == 0 && raw.get("MAX_NEW_LEADS_PER_CYCLE").is_some() =>
        {
            (LeadProvider::None, Some(reason))
        }
        (_, reason) => (fallback, reason),
    };
    LeadsConfig {
        mode: Resolved {
            requested: requested.map_or(requested_text, |r| r.as_str().to_string()),
            effective: effective.as_str().into(),
            reason,
        },
        effective,
        fallback,
        api_url,
        api_key,
        niche: raw.string("LEAD_NICHE", DEFAULT_LEAD_NICHE),
        geography: raw.get("LEAD_GEOGRAPHY").map(str::to_string),
        min_company_size,
        max_company_size,
        max_new_per_cycle,
        page_param,
    }
}

/// `LEAD_SEARCH_PAGE_PARAM`: a query parameter name hoss does not already
/// send, or `NONE` (no paging, for a vendor that refuses unknown
/// parameters). A typo such as `page=1` is refused rather than sent.
fn check_page_param(v: &str) -> std::result::Result<Option<String>, String> {
    if v.eq_ignore_ascii_case("NONE") {
        return Ok(None);
    }
    let name_like = v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.[]".contains(&b));
    if !name_like {
        return Err(format!(
            "LEAD_SEARCH_PAGE_PARAM {} is not a query parameter name (letters, digits, _ - . [ ]) or NONE",
            quote_value(v)
        ));
    }
    if matches!(v, "query" | "limit") {
        return Err(format!(
            "LEAD_SEARCH_PAGE_PARAM {} would replace a parameter hoss already sends",
            quote_value(v)
        ));
    }
    Ok(Some(v.to_string()))
}

/// `sk_`/`rk_` + `test_`/`live_` + an alphanumeric body.
pub fn stripe_key_mode(key: &str) -> Option<KeyMode> {
    let rest = key
        .strip_prefix("sk_")
        .or_else(|| key.strip_prefix("rk_"))?;
    let (mode, body) = if let Some(b) = rest.strip_prefix("test_") {
        (KeyMode::Test, b)
    } else {
        (KeyMode::Live, rest.strip_prefix("live_")?)
    };
    (body.len() >= 8 && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then_some(mode)
}

/// An amount limit in the invoice currency: `NAME` in its decimals
/// (`1500` JPY, `1.500` KWD) or `NAME_CENTS` in its minor units.
fn amount_setting(
    raw: &Raw,
    name: &str,
    default: Cents,
    currency: &str,
) -> std::result::Result<Cents, String> {
    let cents_key = format!("{name}_CENTS");
    let decimal = raw.get(name).map(|v| {
        Cents::parse_in(v, currency).map_err(|e| {
            format!(
                "{name} is not an amount of {} ({e})",
                currency.to_ascii_uppercase()
            )
        })
    });
    let minor = raw.get(&cents_key).map(|v| {
        Cents::parse_minor_in(v, currency).map_err(|_| {
            format!("{cents_key} is not a whole number of minor units (at most 10 million currency units)")
        })
    });
    match (decimal, minor) {
        (None, None) => Ok(default),
        (Some(a), None) | (None, Some(a)) => a,
        (Some(a), Some(b)) => match (a?, b?) {
            (a, b) if a == b => Ok(a),
            _ => Err(format!("{name} and {cents_key} disagree")),
        },
    }
}

fn resolve_stripe(raw: &Raw, dry_run: bool, notices: &mut Vec<Notice>) -> StripeConfig {
    let requested = raw.bool("ENABLE_STRIPE", false, false, notices);
    let mut p = Problems::default();
    let api_key = raw.secret("STRIPE_API_KEY");
    let key_mode = api_key.as_ref().and_then(|k| stripe_key_mode(k.expose()));
    let currency = raw
        .string("STRIPE_DEFAULT_CURRENCY", "usd")
        .to_ascii_lowercase();
    let currency_error = (!(currency.len() == 3
        && currency.bytes().all(|b| b.is_ascii_lowercase())))
    .then(|| "STRIPE_DEFAULT_CURRENCY is not an ISO 4217 code like usd".to_string());
    if let Some(e) = &currency_error {
        p.0.push(e.clone());
        notices.push(warn(format!(
            "[CONFIG][INVALID] {e}; bill and import-legacy refuse to make invoices"
        )));
    }
    let min_amount = p.take(
        amount_setting(raw, "STRIPE_MIN_AMOUNT", Cents(100), &currency),
        Cents(100),
    );
    let max_amount = p.take(
        amount_setting(raw, "STRIPE_MAX_AMOUNT", Cents(50_000), &currency),
        Cents(0),
    );
    if min_amount > max_amount && p.0.is_empty() {
        p.0.push("STRIPE_MIN_AMOUNT is greater than STRIPE_MAX_AMOUNT".into());
    }
    if min_amount == Cents(0) {
        p.0.push("STRIPE_MIN_AMOUNT must be above zero".into());
    }
    let webhook_tolerance_secs =
        p.take(raw.uint("STRIPE_WEBHOOK_TOLERANCE_SECS", 300, 1, 3600), 300);
    let api_base = p.take(
        check_api_base(
            "STRIPE_API_BASE",
            raw.get("STRIPE_API_BASE")
                .unwrap_or(DEFAULT_STRIPE_API_BASE),
        ),
        DEFAULT_STRIPE_API_BASE.into(),
    );
    let mut webhook_secret_problem = None;
    let webhook_secret = raw.secret("STRIPE_WEBHOOK_SECRET").filter(|s| {
        let problem = if !s.expose().starts_with("whsec_") {
            Some("does not start with whsec_")
        } else if s.expose().len() <= 10 {
            Some("is too short to be a signing secret (copy it whole from the Stripe dashboard)")
        } else {
            None
        };
        if let Some(p) = problem {
            notices.push(warn(format!(
                "[CONFIG][INVALID] STRIPE_WEBHOOK_SECRET {p}; webhooks are rejected"
            )));
            webhook_secret_problem = Some(format!("STRIPE_WEBHOOK_SECRET {p}"));
        }
        problem.is_none()
    });
    if requested {
        match &api_key {
            None => p.0.push("STRIPE_API_KEY is missing".into()),
            Some(_) if key_mode.is_none() => p.0.push(
                "STRIPE_API_KEY is not a Stripe secret or restricted key (sk_/rk_ + test_/live_)"
                    .into(),
            ),
            Some(_) => {}
        }
        if dry_run {
            p.0.insert(0, "DRY_RUN=TRUE".into());
        }
    }
    let reason = if requested { p.reason() } else { None };
    let enabled = requested && reason.is_none();
    StripeConfig {
        mode: Resolved {
            requested: if requested { "ENABLED" } else { "DISABLED" }.into(),
            effective: if enabled { "ENABLED" } else { "DISABLED" }.into(),
            reason: reason.or_else(|| (!requested).then(|| "ENABLE_STRIPE is not TRUE".into())),
        },
        enabled,
        api_key,
        key_mode,
        webhook_secret,
        webhook_secret_problem,
        currency,
        currency_error,
        min_amount,
        max_amount,
        webhook_tolerance_secs,
        api_base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        let raw = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(&Raw(raw), Vec::new())
    }

    const SENDGRID_OK: &[(&str, &str)] = &[
        ("EMAIL_MODE", "SENDGRID"),
        ("SENDGRID_API_KEY", "SG.sentinel-key"),
        ("SENDGRID_FROM_EMAIL", "ops@hoss.test"),
        ("COMPANY_POSTAL_ADDRESS", "1 Main St"),
        ("SENDER_NAME", "Sam Carter"),
        ("COMPANY_NAME", "Carter Consulting"),
    ];

    #[test]
    fn defaults_are_all_simulation() {
        let c = cfg(&[]);
        assert!(!c.dry_run && !c.release_mode);
        assert_eq!(c.email.effective, EmailMode::DryRun);
        assert_eq!(c.email.mode.reason, None);
        assert_eq!(c.leads.effective, LeadProvider::DummySeed);
        assert!(!c.stripe.enabled);
        assert_eq!(c.pings.effective, "OFF");
        assert!(c.notices.is_empty(), "{:?}", c.notices);
        assert_eq!((c.email.max_per_cycle, c.email.max_per_hour), (10, 50));
    }

    #[test]
    fn complete_sendgrid_config_is_real() {
        let c = cfg(SENDGRID_OK);
        assert_eq!(c.email.effective, EmailMode::SendGrid, "{:?}", c.email.mode);
        assert!(
            c.notices
                .iter()
                .any(|n| n.line.contains("[REAL_SIDE_EFFECTS] subsystems=email"))
        );
    }

    #[test]
    fn invalid_limits_fall_back_and_never_raise_the_limit() {
        for bad in ["abc", "-5", "1.5", "99999999999"] {
            let mut pairs = SENDGRID_OK.to_vec();
            pairs.push(("MAX_EMAILS_PER_HOUR", bad));
            let c = cfg(&pairs);
            assert_eq!(c.email.effective, EmailMode::DryRun, "{bad}");
            assert_eq!(c.email.max_per_hour, 0, "{bad}");
            assert!(
                c.email
                    .mode
                    .reason
                    .as_deref()
                    .unwrap()
                    .contains("MAX_EMAILS_PER_HOUR")
            );
        }
    }

    #[test]
    fn misspelt_email_mode_falls_back_with_reason() {
        let c = cfg(&[("EMAIL_MODE", "SENDGRIDD")]);
        assert_eq!(c.email.effective, EmailMode::DryRun);
        assert_eq!(c.email.mode.requested, "SENDGRIDD");
        assert!(
            c.email
                .mode
                .reason
                .as_deref()
                .unwrap()
                .starts_with("EMAIL_MODE")
        );
    }

    #[test]
    fn real_email_never_goes_out_under_the_products_name() {
        for missing in ["SENDER_NAME", "COMPANY_NAME"] {
            let pairs: Vec<_> = SENDGRID_OK
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let c = cfg(&pairs);
            assert_eq!(c.email.effective, EmailMode::DryRun, "{missing}");
            assert!(
                c.email
                    .mode
                    .reason
                    .as_deref()
                    .unwrap()
                    .starts_with(&format!("{missing} is missing")),
                "{:?}",
                c.email.mode.reason
            );
        }
        // A per-mailer name stands in for SENDER_NAME.
        let mut pairs: Vec<_> = SENDGRID_OK
            .iter()
            .copied()
            .filter(|(k, _)| *k != "SENDER_NAME")
            .collect();
        pairs.push(("SENDGRID_FROM_NAME", "Sam at Carter"));
        let c = cfg(&pairs);
        assert_eq!(c.email.effective, EmailMode::SendGrid);
        assert_eq!(
            (c.email.from_name.as_str(), c.email.sender_name.as_str()),
            ("Sam at Carter", "Sam at Carter")
        );
        let c = cfg(SENDGRID_OK);
        assert_eq!(c.email.company_name.as_deref(), Some("Carter Consulting"));
    }

    #[test]
    fn expect_every_reads_a_schedule_or_refuses_it() {
        assert_eq!(
            parse_expect_every("cycle=1h, send-outreach=30m,summary --email=1d").unwrap(),
            vec![
                ("cycle".to_string(), 3600),
                ("send-outreach".to_string(), 1800),
                ("summary --email".to_string(), 86_400)
            ]
        );
        for bad in ["cycle", "cycle=0h", "cycle=1w", "lead list=1h", "cycle=h"] {
            assert!(parse_expect_every(bad).is_err(), "{bad}");
        }
        let c = cfg(&[("EXPECT_EVERY", "cycle=soon")]);
        assert_eq!(c.expect_every, default_expect_every());
    }

    #[test]
    fn real_outreach_needs_a_postal_address() {
        let pairs: Vec<_> = SENDGRID_OK
            .iter()
            .copied()
            .filter(|(k, _)| *k != "COMPANY_POSTAL_ADDRESS")
            .collect();
        let c = cfg(&pairs);
        assert_eq!(c.email.effective, EmailMode::DryRun);
        assert_eq!(
            c.email.mode.reason.as_deref(),
            Some("COMPANY_POSTAL_ADDRESS is missing")
        );
    }

    #[test]
    fn global_dry_run_forces_every_subsystem() {
        let mut pairs = SENDGRID_OK.to_vec();
        pairs.extend([
            ("DRY_RUN", "TRUE"),
            ("ENABLE_STRIPE", "TRUE"),
            ("STRIPE_API_KEY", "sk_test_abcdefgh1234"),
            ("LEAD_SOURCE_PROVIDER", "SEARCH_API"),
            ("LEAD_SEARCH_API_URL", "https://search.test/api"),
            ("LEAD_SEARCH_API_KEY", "k"),
            ("HEALTHCHECK_URL", "https://ping.test/x"),
        ]);
        let c = cfg(&pairs);
        assert_eq!(c.email.effective, EmailMode::DryRun);
        assert_eq!(c.leads.effective, LeadProvider::None);
        assert!(!c.stripe.enabled);
        assert_eq!(c.pings.effective, "OFF");
        for (_, r) in c.subsystems().iter() {
            assert!(
                r.reason.as_deref().unwrap().starts_with("DRY_RUN=TRUE"),
                "{r:?}"
            );
        }
    }

    #[test]
    fn unreadable_booleans_take_the_safe_side() {
        let c = cfg(&[
            ("DRY_RUN", "maybe"),
            ("RELEASE_MODE", "perhaps"),
            ("ENABLE_STRIPE", "sure"),
        ]);
        assert!(c.dry_run);
        assert!(c.release_mode);
        assert_eq!(c.stripe.mode.requested, "DISABLED");
        assert_eq!(
            c.notices
                .iter()
                .filter(|n| n.line.contains("INVALID_BOOL"))
                .count(),
            3
        );
    }

    #[test]
    fn production_is_accepted_for_release_mode() {
        assert!(cfg(&[("PRODUCTION", "TRUE")]).release_mode);
        assert!(!cfg(&[("PRODUCTION", "TRUE"), ("RELEASE_MODE", "FALSE")]).release_mode);
    }

    #[test]
    fn stripe_key_shapes() {
        assert_eq!(stripe_key_mode("sk_test_51Habcdefgh"), Some(KeyMode::Test));
        assert_eq!(stripe_key_mode("rk_live_51Habcdefgh"), Some(KeyMode::Live));
        for bad in [
            "pk_test_51Habcdefgh",
            "sk_51Habcdefgh",
            "sk_test_",
            "sk_test_abc def gh",
            "whsec_x",
        ] {
            assert_eq!(stripe_key_mode(bad), None, "{bad}");
        }
        let c = cfg(&[
            ("ENABLE_STRIPE", "TRUE"),
            ("STRIPE_API_KEY", "pk_test_nope12345"),
        ]);
        assert!(!c.stripe.enabled);
        assert!(
            c.stripe
                .mode
                .reason
                .as_deref()
                .unwrap()
                .contains("STRIPE_API_KEY")
        );
        assert!(!c.stripe.mode.reason.as_deref().unwrap().contains("nope"));
    }

    #[test]
    fn api_bases_must_be_https_outside_loopback() {
        assert!(check_api_base("X", "https://api.stripe.com").is_ok());
        assert!(check_api_base("X", "http://127.0.0.1:4242").is_ok());
        assert!(check_api_base("X", "http://localhost:4242/").is_ok());
        assert!(check_api_base("X", "http://[::1]:4242").is_ok());
        assert!(check_api_base("X", "http://api.stripe.com").is_err());
        assert!(check_api_base("X", "https://api.stripe.com/v1").is_err());
        assert!(check_api_base("X", "ftp://x").is_err());
        assert!(check_api_base("X", "http://127.0.0.1.evil.com").is_err());
        let c = cfg(&[
            ("ENABLE_STRIPE", "TRUE"),
            ("STRIPE_API_KEY", "sk_test_abcdefgh1234"),
            ("STRIPE_API_BASE", "http://stripe.test"),
        ]);
        assert!(!c.stripe.enabled);
        assert!(
            c.stripe
                .mode
                .reason
                .as_deref()
                .unwrap()
                .contains("STRIPE_API_BASE")
        );
    }

    #[test]
    fn stripe_amount_bounds_accept_cents_variants() {
        let c = cfg(&[
            ("STRIPE_MIN_AMOUNT_CENTS", "250"),
            ("STRIPE_MAX_AMOUNT", "20.00"),
        ]);
        assert_eq!(
            (c.stripe.min_amount, c.stripe.max_amount),
            (Cents(250), Cents(2000))
        );
        let c = cfg(&[
            ("ENABLE_STRIPE", "TRUE"),
            ("STRIPE_API_KEY", "sk_test_abcdefgh1234"),
            ("STRIPE_MAX_AMOUNT", "1e3"),
        ]);
        assert!(!c.stripe.enabled);
        let c = cfg(&[
            ("ENABLE_STRIPE", "TRUE"),
            ("STRIPE_API_KEY", "sk_test_abcdefgh1234"),
            ("STRIPE_MIN_AMOUNT", "9"),
            ("STRIPE_MAX_AMOUNT", "5"),
        ]);
        assert!(!c.stripe.enabled);
    }

    #[test]
    fn search_api_is_chosen_when_both_credentials_are_set() {
        let c = cfg(&[
            ("LEAD_SEARCH_API_URL", "https://search.test/leads"),
            ("LEAD_SEARCH_API_KEY", "k"),
        ]);
        assert_eq!(c.leads.effective, LeadProvider::SearchApi);
        let c = cfg(&[
            ("LEAD_SOURCE_PROVIDER", "SEARCH_API"),
            ("LEAD_SOURCE_FALLBACK", "DUMMY_SEED"),
        ]);
        assert_eq!(c.leads.effective, LeadProvider::DummySeed);
        assert!(
            c.leads
                .mode
                .reason
                .as_deref()
                .unwrap()
                .contains("LEAD_SEARCH_API_URL is missing")
        );
    }

    #[test]
    fn the_search_page_parameter_defaults_to_page_and_can_be_turned_off() {
        let search = [
            ("LEAD_SEARCH_API_URL", "https://search.test/leads"),
            ("LEAD_SEARCH_API_KEY", "k"),
        ];
        let with = |v: &str| {
            let mut pairs = search.to_vec();
            pairs.push(("LEAD_SEARCH_PAGE_PARAM", v));
            cfg(&pairs).leads
        };
        assert_eq!(cfg(&search).leads.page_param.as_deref(), Some("page"));
        assert_eq!(with("p").page_param.as_deref(), Some("p"));
        assert_eq!(
            with("page[number]").page_param.as_deref(),
            Some("page[number]")
        );
        let off = with("none");
        assert_eq!(
            (off.page_param, off.effective),
            (None, LeadProvider::SearchApi)
        );
        for bad in ["page=2", "my page", "limit"] {
            let leads = with(bad);
            assert_eq!(leads.effective, LeadProvider::None, "{bad}");
            assert!(
                leads
                    .mode
                    .reason
                    .as_deref()
                    .unwrap()
                    .contains("LEAD_SEARCH_PAGE_PARAM"),
                "{bad}: {:?}",
                leads.mode.reason
            );
        }
    }

    #[test]
    fn smtp_without_tls_only_on_loopback() {
        let base = [
            ("EMAIL_MODE", "SMTP"),
            ("SMTP_FROM_EMAIL", "a@hoss.test"),
            ("COMPANY_POSTAL_ADDRESS", "x"),
            ("SMTP_FROM_NAME", "Sam"),
            ("COMPANY_NAME", "Sam Co"),
            ("SMTP_TLS", "NONE"),
        ];
        let mut ok = base.to_vec();
        ok.push(("SMTP_HOST", "127.0.0.1"));
        assert_eq!(cfg(&ok).email.effective, EmailMode::Smtp);
        let mut bad = base.to_vec();
        bad.push(("SMTP_HOST", "smtp.mail.test"));
        assert_eq!(cfg(&bad).email.effective, EmailMode::DryRun);
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut pairs = SENDGRID_OK.to_vec();
        pairs.extend([
            ("STRIPE_API_KEY", "sk_live_sentinelsecret1"),
            ("SMTP_PASSWORD", "sentinel-pw"),
        ]);
        let text = format!("{:?}", cfg(&pairs));
        assert!(!text.contains("sentinel"), "{text}");
    }

    #[test]
    fn release_mode_notices_are_loud() {
        let c = cfg(&[
            ("RELEASE_MODE", "TRUE"),
            ("EMAIL_MODE", "SENDGRID"),
            ("MAX_EMAILS_PER_HOUR", "150"),
        ]);
        assert_eq!(c.notices[0].line, "[RELEASE_MODE][ON]");
        let fb = c
            .notices
            .iter()
            .find(|n| n.line.starts_with("[DRY_RUN_FALLBACK] subsystem=email"))
            .unwrap();
        assert_eq!(fb.level, Level::Error);
        assert!(
            c.notices
                .iter()
                .any(|n| n.line.starts_with("[RELEASE_MODE][HIGH_VOLUME_WARNING]"))
        );
        assert!(!c.check_ok());
    }
}
