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
//!
//! One file per concern: `keys` (the list of settings and the layering),
//! `urls`, `resolved` (requested/effective/reason), one file per subsystem
//! (`email`, `leads`, `stripe`, `pings`), `templates`, `expect_every`,
//! `onboarding` and the startup `notices`.
#![allow(
    clippy::disallowed_methods,
    reason = "src/config/ is where the environment is read (SPEC §3)"
)]

mod deliverability;
mod email;
mod expect_every;
mod health;
mod inbox;
mod invoicing;
mod keys;
mod leads;
mod notices;
mod onboarding;
mod pings;
mod resolved;
mod sending;
mod stripe;
mod templates;
mod urls;

#[cfg(test)]
mod docs_tests;

use std::collections::HashMap;
use std::path::PathBuf;

pub use deliverability::{Deliverability, DkimSettings};
pub use email::{DEFAULT_SENDGRID_API_BASE, EmailConfig, EmailMode, SmtpConfig, SmtpTls};
pub use health::HealthLimits;
pub use inbox::{ImapAuth, ImapConfig, ImapSecret, ImapTls, InboxConfig, InboxMode};
pub use invoicing::Invoicing;
pub use keys::{KNOWN_KEYS, Secret, parse_bool};
pub use leads::{LeadProvider, LeadsConfig};
pub use notices::Notice;
pub use onboarding::OnboardingTask;
pub use pings::{PingMode, PingsConfig};
pub use resolved::{ModeView, Requested, Resolved, Subsystems};
pub use sending::{SendingConfig, Step};
pub use stripe::{DEFAULT_STRIPE_API_BASE, KeyMode, StripeConfig, StripeMode, stripe_key_mode};
pub use templates::{load_pack, pack_problem, template_dir_problems};
pub use urls::is_loopback_host;

use crate::error::{Error, Result};
use keys::{ENV_ONLY_KEYS, Raw, read_file};
use notices::startup_notices;
use resolved::Problems;

const DEFAULT_CONFIG_FILE: &str = "config/hoss.toml";

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
    pub pings: PingsConfig,
    pub inbox: InboxConfig,
    /// Invoice emails, reminders and receipts (SPEC §16).
    pub invoicing: Invoicing,
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
    /// `DATABASE_URL`: a database server this version cannot use yet; set,
    /// it stops every command that keeps state (never a silent local file).
    pub database_url: Option<Secret>,
    /// `REPLIT_DEPLOYMENT` is set: the files written here do not last.
    pub replit_deployment: bool,
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
        let (values, tables) = match &file {
            Some(path) => read_file(path, &mut notices)?,
            None => Default::default(),
        };
        let raw = keys::layer(values, env, &mut notices);
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
        let mut cfg = resolve(&raw, notices, tables.sequence_steps.as_ref());
        cfg.config_file = file;
        cfg.now_override = now_override;
        cfg.onboarding_tasks =
            onboarding::parse_tasks(tables.onboarding_tasks, &cfg.stripe.currency);
        Ok(cfg)
    }

    /// Resolves already-merged values (no file, no environment).
    #[cfg(test)]
    pub(crate) fn from_values(values: HashMap<String, String>) -> Config {
        resolve(&Raw(values), Vec::new(), None)
    }

    pub fn subsystems(&self) -> Subsystems {
        Subsystems {
            email: self.email.mode.clone(),
            leads: self.leads.mode.clone(),
            stripe: self.stripe.mode.clone(),
            pings: self.pings.mode.clone(),
            inbox: self.inbox.mode.clone(),
        }
    }

    /// Where the state lives, as shown to the operator: `sqlite:/abs/path`,
    /// or `postgres://host/db` (never the user or password).
    pub fn store_label(&self) -> String {
        if let Some(url) = &self.database_url {
            return database_label(url.expose());
        }
        let path = std::fs::canonicalize(&self.db_path).unwrap_or_else(|_| self.db_path.clone());
        format!("sqlite:{}", path.display())
    }

    /// Why the store will not last, if it will not: a local SQLite file in a
    /// Replit deployment.
    pub fn ephemeral_store(&self) -> Option<String> {
        (self.replit_deployment && self.database_url.is_none()).then(|| {
            format!(
                "the store is a local file ({}) in a Replit deployment (REPLIT_DEPLOYMENT is set): its files do not last, and with them the send ledger and the invoices; set DATABASE_URL to the Replit Database (replit.md \"Deploying on Replit\")",
                self.store_label()
            )
        })
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
        !self.release_mode || self.subsystems().views().into_iter().all(|v| !v.fell_back)
    }
}

/// The settings outside the four subsystems, then each subsystem.
fn resolve(raw: &Raw, mut notices: Vec<Notice>, sequence_steps: Option<&toml::Value>) -> Config {
    let dry_run = raw.bool("DRY_RUN", false, true, &mut notices);
    let release_mode = match raw.get("RELEASE_MODE") {
        Some(_) => raw.bool("RELEASE_MODE", false, true, &mut notices),
        None => raw.bool("PRODUCTION", false, true, &mut notices),
    };

    let db_path = PathBuf::from(raw.string("HOSS_DB", "hoss.db"));
    // On PostgreSQL the lock folder only names the advisory locks: its
    // default is then the same on every host, whatever HOSS_DB says.
    let lock_dir = raw
        .get("HOSS_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            if raw.get("DATABASE_URL").is_some() {
                return PathBuf::from("hoss.locks");
            }
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
        notices.push(Notice::warn(format!(
            "[CONFIG][INVALID] {p}; using the default"
        )));
    }

    let email = email::resolve_email(raw, dry_run, sequence_steps);
    let leads = leads::resolve_leads(raw, dry_run);
    let stripe = stripe::resolve_stripe(raw, dry_run, &mut notices);
    let pings = pings::resolve_pings(raw, dry_run);
    let inbox = inbox::resolve_inbox(raw, dry_run, &mut notices);
    let invoicing = invoicing::resolve_invoicing(raw, &mut notices);

    let mut portal_problems = Problems::default();
    let portal_base_url = raw.get("PORTAL_BASE_URL").and_then(|u| {
        portal_problems.take(
            urls::check_url("PORTAL_BASE_URL", u.trim_end_matches('/')).map(Some),
            None,
        )
    });
    for p in portal_problems.0 {
        notices.push(Notice::warn(format!(
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
        inbox,
        invoicing,
        ops_executor_cmd: raw.get("OPS_EXECUTOR_CMD").map(str::to_string),
        ops_executor_timeout_secs,
        portal_dir: PathBuf::from(raw.string("PORTAL_DIR", "portal")),
        portal_base_url,
        listen: raw.string("HOSS_LISTEN", "127.0.0.1:8080"),
        columns: raw.get("COLUMNS").and_then(|c| c.parse().ok()),
        expect_every: expect_every::resolve_expect_every(raw, &mut notices),
        onboarding_tasks: Ok(Vec::new()),
        notices: Vec::new(),
        now_override: None,
        database_url: raw.secret("DATABASE_URL"),
        replit_deployment: raw.get("REPLIT_DEPLOYMENT").is_some(),
    };
    cfg.notices = startup_notices(&cfg, notices);
    cfg
}

/// Helpers for the tests of every file here.
#[cfg(test)]
pub(crate) mod testing {
    use super::Config;

    /// The configuration these settings resolve to (no file, no environment).
    pub fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::from_values(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// A SendGrid setup complete enough for real mail.
    pub const SENDGRID_OK: &[(&str, &str)] = &[
        ("EMAIL_MODE", "SENDGRID"),
        ("SENDGRID_API_KEY", "SG.sentinel-key"),
        ("SENDGRID_FROM_EMAIL", "ops@hoss.test"),
        ("COMPANY_POSTAL_ADDRESS", "1 Main St"),
        ("SENDER_NAME", "Sam Carter"),
        ("COMPANY_NAME", "Carter Consulting"),
    ];
}

#[cfg(test)]
mod tests {
    use super::testing::{SENDGRID_OK, cfg};
    use super::*;

    #[test]
    fn defaults_are_all_simulation() {
        let c = cfg(&[]);
        assert!(!c.dry_run && !c.release_mode);
        assert_eq!(c.email.mode.effective, EmailMode::DryRun);
        assert_eq!(c.email.mode.reason, None);
        assert_eq!(c.leads.mode.effective, LeadProvider::DummySeed);
        assert!(!c.stripe.enabled());
        assert_eq!(c.pings.mode.effective, PingMode::Off);
        assert!(c.notices.is_empty(), "{:?}", c.notices);
        assert_eq!((c.email.max_per_cycle, c.email.max_per_hour), (10, 50));
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
            ("INBOX_MODE", "IMAP"),
            ("IMAP_HOST", "imap.mail.test"),
            ("IMAP_USERNAME", "me@sender.test"),
            ("IMAP_PASSWORD", "app-password"),
        ]);
        let c = cfg(&pairs);
        assert_eq!(c.email.mode.effective, EmailMode::DryRun);
        assert_eq!(c.leads.mode.effective, LeadProvider::None);
        assert!(!c.stripe.enabled());
        assert_eq!(c.pings.mode.effective, PingMode::Off);
        for v in c.subsystems().views() {
            assert!(v.reason.unwrap().starts_with("DRY_RUN=TRUE"), "{v:?}");
            assert!(v.fell_back, "{v:?}");
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
        assert_eq!(
            c.stripe.mode.requested,
            Requested::Mode(StripeMode::Disabled)
        );
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
    fn an_unparsable_hoss_now_is_refused() {
        let env = HashMap::from([
            (
                "HOSS_CONFIG".to_string(),
                "/nonexistent/hoss.toml".to_string(),
            ),
            ("HOSS_NOW".to_string(), "2026-11-25T14:00:00Z".to_string()),
        ]);
        let Err(Error::Config(e)) = Config::from_env(&env) else {
            panic!("a missing named config file is an error");
        };
        assert!(
            e.starts_with("cannot read config file /nonexistent/hoss.toml"),
            "{e}"
        );
        let env = HashMap::from([
            ("HOSS_CONFIG".to_string(), "/dev/null".to_string()),
            ("HOSS_NOW".to_string(), "tomorrow".to_string()),
        ]);
        assert!(matches!(Config::from_env(&env), Err(Error::Config(_))));
        let env = HashMap::from([
            ("HOSS_CONFIG".to_string(), "/dev/null".to_string()),
            ("HOSS_NOW".to_string(), "2026-11-25T14:00:00Z".to_string()),
        ]);
        let c = Config::from_env(&env).unwrap();
        assert_eq!(c.now_override, Some(1_795_615_200));
    }
}

/// A database URL as it may be shown: scheme, host, port and database,
/// never the user, the password or the parameters.
pub fn database_label(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "not a URL".into();
    };
    // Nothing before the last `@` is ever shown: a password may hold `/`,
    // `#`, `?` or `@` unencoded.
    let rest = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let scheme: String = scheme
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '+')
        .collect();
    let clean = |s: &str, also: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || "._-:[]%".contains(*c) || also.contains(*c))
            .collect()
    };
    format!("{scheme}://{}/{}", clean(host, ""), clean(path, "/"))
}

#[cfg(test)]
mod store_tests {
    use super::database_label;

    #[test]
    fn a_database_url_is_shown_without_its_credentials() {
        for (url, shown) in [
            (
                "postgres://hoss:s3cret@db.example.com:5432/hoss?sslmode=require",
                "postgres://db.example.com:5432/hoss",
            ),
            ("postgresql://u:p@w@host/db", "postgresql://host/db"),
            // Unencoded `/`, `#`, `?`, `@` in a password never show.
            (
                "postgres://hoss:pa/ss@127.0.0.1:55432/hoss",
                "postgres://127.0.0.1:55432/hoss",
            ),
            (
                "postgres://hoss:p@ss:w/rd#1?x@h:1/db?sslmode=require",
                "postgres://h:1/db",
            ),
            ("postgres://hoss:pa#ss@h/db", "postgres://h/db"),
            ("postgres://hoss:S3cr/et+Pw@h/db", "postgres://h/db"),
            ("postgres://hoss:pa?ss@h/db", "postgres://h/db"),
            // A socket directory, percent-encoded, shows as written.
            (
                "postgres://hoss:x@%2Ftmp%2Fpg:5432/hoss",
                "postgres://%2Ftmp%2Fpg:5432/hoss",
            ),
            ("postgres://host", "postgres://host/"),
            ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
            ("nonsense", "not a URL"),
        ] {
            let label = database_label(url);
            assert_eq!(label, shown, "{url}");
            for secret in ["s3cret", "pa", "ss", "rd", "S3cr", "hoss:"] {
                assert!(
                    !label.contains(secret) || shown.contains(secret),
                    "{url}: {label}"
                );
            }
        }
    }
}
