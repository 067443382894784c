//! The lines the process logs once at start: the release banner, what the
//! configuration could not use, each subsystem that fell back, and the
//! warnings an operator must see.

use log::Level;

use super::Config;
use super::email::EmailMode;
use super::leads::LeadProvider;
use super::pings::PingMode;
use super::stripe::KeyMode;

/// A line the process logs once at start, after the database is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub level: Level,
    pub line: String,
}

impl Notice {
    pub(super) fn warn(line: String) -> Notice {
        Notice {
            level: Level::Warn,
            line,
        }
    }

    pub(super) fn info(line: String) -> Notice {
        Notice {
            level: Level::Info,
            line,
        }
    }
}

/// The banner, the fallback lines and the warnings, in the order they are
/// logged. Fallbacks are loud in release mode and quiet in the sandbox.
pub(super) fn startup_notices(cfg: &Config, config_notices: Vec<Notice>) -> Vec<Notice> {
    let mut out = Vec::new();
    if cfg.release_mode {
        out.push(Notice::info("[RELEASE_MODE][ON]".into()));
    }
    out.extend(config_notices);
    let fallback_level = if cfg.release_mode {
        Level::Error
    } else {
        Level::Info
    };
    for view in cfg.subsystems().views() {
        if view.fell_back {
            out.push(Notice {
                level: fallback_level,
                line: format!(
                    "[DRY_RUN_FALLBACK] subsystem={} reason={:?}",
                    view.name,
                    view.reason.unwrap_or_default()
                ),
            });
        }
    }
    if cfg.release_mode && cfg.email.max_per_hour > 100 {
        out.push(Notice::warn(format!(
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
            out.push(Notice::warn(format!(
                "[STRIPE][KEY_MODE_MISMATCH] key_mode={} release_mode={}",
                key_mode.as_str(),
                cfg.release_mode
            )));
        }
    }
    if !cfg.release_mode {
        let real: Vec<&str> = [
            ("email", cfg.email.mode.effective != EmailMode::DryRun),
            ("leads", cfg.leads.mode.effective == LeadProvider::SearchApi),
            ("stripe", cfg.stripe.enabled()),
            ("pings", cfg.pings.mode.effective == PingMode::On),
        ]
        .into_iter()
        .filter_map(|(name, real)| real.then_some(name))
        .collect();
        if !real.is_empty() {
            out.push(Notice::warn(format!(
                "[RELEASE_MODE][OFF][REAL_SIDE_EFFECTS] subsystems={}",
                real.join(",")
            )));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::cfg;

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

    #[test]
    fn the_sandbox_names_every_subsystem_with_real_side_effects() {
        let c = cfg(&[
            ("ENABLE_STRIPE", "TRUE"),
            ("STRIPE_API_KEY", "sk_live_abcdefgh1234"),
            ("HEALTHCHECK_URL", "https://ping.test/x"),
            ("LEAD_SEARCH_API_URL", "https://search.test/leads"),
            ("LEAD_SEARCH_API_KEY", "k"),
        ]);
        let lines: Vec<&str> = c.notices.iter().map(|n| n.line.as_str()).collect();
        assert_eq!(
            lines,
            [
                "[STRIPE][KEY_MODE_MISMATCH] key_mode=live release_mode=false",
                "[RELEASE_MODE][OFF][REAL_SIDE_EFFECTS] subsystems=leads,stripe,pings",
            ]
        );
    }
}
