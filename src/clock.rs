//! Time as a dependency: commands take `now` from a [`Clock`] so tests can
//! pin it. All stored times are unix seconds, UTC.
//!
//! The one reader of the system clock (`clippy.toml` refuses it elsewhere).
//! Business rules take `ctx.now()`, which `HOSS_NOW` pins; only stamps that
//! must be the real time (log lines, the HTTP `Date` header, unique names)
//! use [`system_now`] and [`system_nanos`].
#![allow(
    clippy::disallowed_methods,
    reason = "clock.rs is where the system clock is read"
)]

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Serialize, Serializer};

pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        system_now()
    }
}

/// The real time, whatever `HOSS_NOW` says.
pub fn system_now() -> i64 {
    Utc::now().timestamp()
}

/// Nanoseconds since the epoch, for names that must not repeat.
pub fn system_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// A clock that always answers the same second.
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0
    }
}

fn datetime(ts: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(ts, 0).single().unwrap_or_default()
}

/// `ts` as a UTC date-time.
pub fn utc(ts: i64) -> DateTime<Utc> {
    datetime(ts)
}

/// The calendar day of `ts` in time zone `tz`.
pub fn local_day(ts: i64, tz: chrono_tz::Tz) -> chrono::NaiveDate {
    datetime(ts).with_timezone(&tz).date_naive()
}

/// `2026-11-25T14:03:07Z`
pub fn rfc3339(ts: i64) -> String {
    datetime(ts).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A stored time: unix seconds, UTC, an INTEGER in the database
/// (`db/columns.rs`). Shown and serialised as RFC 3339
/// (`2026-11-25T14:03:07Z`, [`rfc3339`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// `2026-11-25`, the UTC day.
    pub fn day(self) -> String {
        datetime(self.0).format("%Y-%m-%d").to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&rfc3339(self.0))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339(self.0))
    }
}

/// `Wed, 25 Nov 2026 14:03:07 GMT`, an HTTP `Date`.
pub fn http_date(ts: i64) -> String {
    datetime(ts).format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Start of the UTC clock hour holding `ts`.
pub fn hour_start(ts: i64) -> i64 {
    ts - ts.rem_euclid(3600)
}

/// `2026-11-25T14`, the hour label of the throttle log line.
pub fn hour_label(ts: i64) -> String {
    datetime(hour_start(ts)).format("%Y-%m-%dT%H").to_string()
}

/// A short human age such as `5m` or `3h`.
pub fn age(now: i64, then: i64) -> String {
    let s = (now - then).max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_boundaries_are_utc_clock_hours() {
        let t = 1_795_615_200; // 2026-11-25T14:00:00Z
        assert_eq!(rfc3339(t), "2026-11-25T14:00:00Z");
        assert_eq!(hour_start(t), t);
        assert_eq!(hour_start(t + 3599), t);
        assert_eq!(hour_start(t + 3600), t + 3600);
        assert_eq!(hour_label(t + 1), "2026-11-25T14");
    }

    #[test]
    fn http_dates_are_imf_fixdate() {
        assert_eq!(http_date(1_795_615_207), "Wed, 25 Nov 2026 14:00:07 GMT");
        assert_eq!(rfc3339(system_now()).len(), "2026-11-25T14:00:00Z".len());
    }

    #[test]
    fn timestamps_serialise_as_rfc3339_utc() {
        let t = Timestamp(1_795_615_387);
        assert_eq!(t.to_string(), "2026-11-25T14:03:07Z");
        assert_eq!(t.day(), "2026-11-25");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#""2026-11-25T14:03:07Z""#
        );
        assert_eq!(
            serde_json::to_string(&Some(Timestamp(0))).unwrap(),
            r#""1970-01-01T00:00:00Z""#
        );
        assert_eq!(serde_json::to_string(&None::<Timestamp>).unwrap(), "null");
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(100, 40), "1m");
        assert_eq!(age(10_000, 10_000 - 7200), "2h");
        assert_eq!(age(0, 10), "0s");
    }
}
