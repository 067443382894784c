//! The sender's health (SPEC §13): over the last 7 days, with at least
//! `HEALTH_MIN_SENDS` real sends, a hard-bounce or complaint rate above its
//! limit pauses outreach.

use super::keys::Raw;
use super::resolved::Problems;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthLimits {
    pub min_sends: u32,
    pub max_bounce_rate: f64,
    pub max_complaint_rate: f64,
}

/// Reads the limits. An unreadable one is a problem of the email subsystem
/// (it falls back to DRY_RUN), never a silently raised limit.
pub(super) fn resolve_health(raw: &Raw, p: &mut Problems) -> HealthLimits {
    let mut rate = |key: &str, default: f64| {
        let value = match raw.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && (0.0..=1.0).contains(r))
                .ok_or_else(|| format!("{key} is not a rate between 0 and 1 (e.g. 0.02)")),
        };
        p.take(value, 0.0)
    };
    let max_bounce_rate = rate("HEALTH_MAX_BOUNCE_RATE", 0.02);
    let max_complaint_rate = rate("HEALTH_MAX_COMPLAINT_RATE", 0.001);
    HealthLimits {
        min_sends: p.take(raw.uint("HEALTH_MIN_SENDS", 50, 1, 1_000_000), 1),
        max_bounce_rate,
        max_complaint_rate,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::EmailMode;
    use crate::config::testing::cfg;

    #[test]
    fn defaults_and_an_unreadable_rate_stops_real_email() {
        let c = cfg(&[]).email.health;
        assert_eq!(
            (c.min_sends, c.max_bounce_rate, c.max_complaint_rate),
            (50, 0.02, 0.001)
        );
        let bad = cfg(&[("HEALTH_MAX_BOUNCE_RATE", "2%")]).email;
        assert_eq!(bad.mode.effective, EmailMode::DryRun);
        assert!(bad.mode.reason.unwrap().contains("HEALTH_MAX_BOUNCE_RATE"));
        let strict = cfg(&[
            ("HEALTH_MAX_COMPLAINT_RATE", "0"),
            ("HEALTH_MIN_SENDS", "10"),
        ])
        .email;
        assert_eq!(
            (strict.health.max_complaint_rate, strict.health.min_sends),
            (0.0, 10)
        );
    }
}
