//! Monitoring pings: on when `HEALTHCHECK_URL` is set and usable, never
//! under global DRY_RUN.

use serde::Serialize;

use super::keys::Raw;
use super::resolved::{Problems, Requested, Resolved};
use super::urls::check_url;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum PingMode {
    On,
    Off,
}

impl PingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PingMode::On => "ON",
            PingMode::Off => "OFF",
        }
    }
}

impl From<PingMode> for &'static str {
    fn from(m: PingMode) -> Self {
        m.as_str()
    }
}

#[derive(Debug, Clone)]
pub struct PingsConfig {
    pub mode: Resolved<PingMode>,
    /// `HEALTHCHECK_URL`, when it is a URL hoss may call.
    pub url: Option<String>,
}

pub(super) fn resolve_pings(raw: &Raw, dry_run: bool) -> PingsConfig {
    let Some(text) = raw.get("HEALTHCHECK_URL") else {
        return PingsConfig {
            mode: Resolved {
                requested: Requested::Mode(PingMode::Off),
                effective: PingMode::Off,
                reason: None,
            },
            url: None,
        };
    };
    let mut p = Problems::default();
    let url = p.take(check_url("HEALTHCHECK_URL", text).map(Some), None);
    if dry_run {
        p.0.insert(0, "DRY_RUN=TRUE".into());
    }
    PingsConfig {
        mode: Resolved::new(Requested::Mode(PingMode::On), PingMode::Off, &p),
        url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::cfg;

    #[test]
    fn pings_run_only_with_a_usable_url_and_never_under_dry_run() {
        let off = cfg(&[]).pings;
        assert_eq!(off.mode.effective, PingMode::Off);
        assert!(!off.mode.fell_back());
        let on = cfg(&[("HEALTHCHECK_URL", "https://ping.test/x")]).pings;
        assert_eq!(on.mode.effective, PingMode::On);
        assert_eq!(on.url.as_deref(), Some("https://ping.test/x"));
        let plain = cfg(&[("HEALTHCHECK_URL", "http://ping.test/x")]).pings;
        assert_eq!(plain.mode.effective, PingMode::Off);
        assert_eq!(plain.url, None);
        assert!(plain.mode.reason.unwrap().starts_with("HEALTHCHECK_URL"));
        let dry = cfg(&[("HEALTHCHECK_URL", "https://ping.test/x"), ("DRY_RUN", "1")]).pings;
        assert_eq!(dry.mode.effective, PingMode::Off);
        assert_eq!(dry.mode.reason.as_deref(), Some("DRY_RUN=TRUE"));
    }
}
