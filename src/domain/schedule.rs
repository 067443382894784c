//! When a message may go (SPEC §14): the send window in a time zone,
//! blackout dates, the delay of a follow-up in business or calendar days,
//! the warm-up ramp of the daily cap, and which variant a lead gets.
//! Times in and out are UTC; the local calendar is only looked at, through
//! DST changes, by `chrono-tz`.

use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `SEND_WINDOW`: `always`, or days and hours (`Mon-Fri 08:00-17:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendWindow {
    Always,
    Hours {
        /// Monday first.
        days: [bool; 7],
        /// Minutes after local midnight: `start..end`, `end` ≤ 1440.
        start: u32,
        end: u32,
    },
}

impl Default for SendWindow {
    fn default() -> Self {
        "Mon-Fri 08:00-17:00"
            .parse()
            .expect("the default window parses")
    }
}

fn day_index(name: &str) -> Option<usize> {
    let lower = name.trim().to_ascii_lowercase();
    DAY_NAMES.iter().position(|d| {
        lower.len() >= 3 && (lower.starts_with(d) && (lower.len() == 3 || is_full_day(&lower)))
    })
}

fn is_full_day(lower: &str) -> bool {
    [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    .contains(&lower)
}

fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

impl FromStr for SendWindow {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "SEND_WINDOW {text:?} is not `always` or days and hours like `Mon-Fri 08:00-17:00`"
            )
        };
        let text_trim = text.trim();
        if text_trim.eq_ignore_ascii_case("always") {
            return Ok(SendWindow::Always);
        }
        let (day_part, hours) = text_trim.rsplit_once(' ').ok_or_else(bad)?;
        let (from, to) = hours.split_once('-').ok_or_else(bad)?;
        let (start, end) = (minutes(from).ok_or_else(bad)?, minutes(to).ok_or_else(bad)?);
        if start >= end {
            return Err(format!(
                "SEND_WINDOW {text:?}: the window must end after it starts"
            ));
        }
        let mut days = [false; 7];
        for item in day_part.split(',') {
            match item.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day_index(a).ok_or_else(bad)?, day_index(b).ok_or_else(bad)?);
                    let mut d = a;
                    loop {
                        days[d] = true;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => days[day_index(item).ok_or_else(bad)?] = true,
            }
        }
        Ok(SendWindow::Hours { days, start, end })
    }
}

/// `SEND_BLACKOUT_DATES`: comma-separated ISO dates.
pub fn parse_blackout(text: &str) -> Result<Vec<NaiveDate>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| format!("SEND_BLACKOUT_DATES: {d:?} is not a date like 2026-12-24"))
        })
        .collect()
}

/// An IANA time zone name (`America/New_York`), or why not.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!(
            "{:?} is not an IANA time zone (e.g. Europe/Berlin)",
            name.trim()
        )
    })
}

/// Why a moment is outside the calendar, and when it opens again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Window { opens: DateTime<Utc> },
    Blackout { opens: DateTime<Utc> },
}

impl Closed {
    pub fn opens(self) -> DateTime<Utc> {
        match self {
            Closed::Window { opens } | Closed::Blackout { opens } => opens,
        }
    }
}

/// A lead's sending calendar: the window, in its time zone, minus the
/// blackout dates.
#[derive(Debug, Clone, Copy)]
pub struct Calendar<'a> {
    pub window: SendWindow,
    pub tz: Tz,
    pub blackout: &'a [NaiveDate],
}

/// The UTC instant of a local wall-clock time; a time that does not exist
/// (the hour skipped in spring) moves on to the first one that does, a time
/// that exists twice (autumn) takes the first.
pub fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut t = local;
    for _ in 0..16 {
        if let Some(dt) = tz.from_local_datetime(&t).earliest() {
            return dt.with_timezone(&Utc);
        }
        t += chrono::Duration::minutes(15);
    }
    Utc.from_utc_datetime(&local)
}

impl Calendar<'_> {
    fn open_on(&self, date: NaiveDate) -> bool {
        if self.blackout.contains(&date) {
            return false;
        }
        match self.window {
            SendWindow::Always => true,
            SendWindow::Hours { days, .. } => days[date.weekday().num_days_from_monday() as usize],
        }
    }

    /// `Ok` when `at` is inside the calendar, else why not and when it opens.
    pub fn check(&self, at: DateTime<Utc>) -> Result<(), Closed> {
        let local = at.with_timezone(&self.tz);
        let date = local.date_naive();
        let minute = local.hour() * 60 + local.minute();
        let inside = match self.window {
            SendWindow::Always => true,
            SendWindow::Hours { start, end, .. } => {
                self.open_on(date) && minute >= start && minute < end
            }
        };
        if inside && !self.blackout.contains(&date) {
            return Ok(());
        }
        let opens = self.next_open(at);
        if self.blackout.contains(&date) {
            Err(Closed::Blackout { opens })
        } else {
            Err(Closed::Window { opens })
        }
    }

    /// The first instant at or after `at` inside the calendar (a year on at
    /// most: a calendar that never opens answers a year later).
    pub fn next_open(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let local = at.with_timezone(&self.tz);
        let today = local.date_naive();
        let minute = local.hour() * 60 + local.minute();
        let (start, end) = match self.window {
            SendWindow::Always => (0, 1440),
            SendWindow::Hours { start, end, .. } => (start, end),
        };
        for offset in 0..=400u64 {
            let Some(date) = today.checked_add_days(Days::new(offset)) else {
                break;
            };
            if !self.open_on(date) {
                continue;
            }
            if offset == 0 {
                if minute >= end {
                    continue;
                }
                if minute >= start {
                    return at;
                }
            }
            let local_start = date
                .and_hms_opt(start / 60, start % 60, 0)
                .expect("valid minute");
            return local_to_utc(self.tz, local_start).max(at);
        }
        at + chrono::Duration::days(366)
    }
}

/// When a follow-up is due: `days` after `previous` (business days, Monday
/// to Friday in the lead's time zone, unless `calendar`), at the same local
/// time of day. Zero days is `previous` itself.
pub fn due_after(previous: DateTime<Utc>, days: u32, calendar: bool, tz: Tz) -> DateTime<Utc> {
    if days == 0 {
        return previous;
    }
    let local = previous.with_timezone(&tz);
    let mut date = local.date_naive();
    let mut left = days;
    while left > 0 {
        date = date.succ_opt().unwrap_or(date);
        if calendar || !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    local_to_utc(tz, date.and_time(local.time()))
}

/// The warm-up ramp (SPEC §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warmup {
    /// Day 0 of the ramp: `WARMUP_START_DATE`, else the first real send's
    /// day (`None` before it: day 0).
    pub start_date: Option<NaiveDate>,
    pub start: u32,
    pub step: u32,
}

/// Today's cap: `min(max, start + step × days since the ramp began)`.
pub fn daily_cap(max: u32, warmup: Option<Warmup>, today: NaiveDate) -> u32 {
    let Some(w) = warmup else { return max };
    let days = w
        .start_date
        .map_or(0, |d| (today - d).num_days().max(0) as u64);
    let ramp = u64::from(w.start) + u64::from(w.step) * days;
    ramp.min(u64::from(max)) as u32
}

/// Which of `n` variants a lead gets at a step: the same every time.
pub fn variant(lead_id: i64, step: u32, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    // SplitMix64 of (lead, step): spread, stable across runs and versions.
    let mut z = (lead_id as u64) ^ (u64::from(step) << 48);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z % n as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn cal(window: &str, tz: &str) -> (SendWindow, Tz) {
        (window.parse().unwrap(), parse_tz(tz).unwrap())
    }

    #[test]
    fn windows_parse_and_bad_ones_name_the_setting() {
        let w: SendWindow = "Mon,Wed,Fri 09:30-16:00".parse().unwrap();
        assert_eq!(
            w,
            SendWindow::Hours {
                days: [true, false, true, false, true, false, false],
                start: 570,
                end: 960
            }
        );
        assert_eq!("always".parse::<SendWindow>(), Ok(SendWindow::Always));
        let all: SendWindow = "Mon-Sun 00:00-24:00".parse().unwrap();
        assert_eq!(
            all,
            SendWindow::Hours {
                days: [true; 7],
                start: 0,
                end: 1440
            }
        );
        let wrap: SendWindow = "Fri-Mon 10:00-12:00".parse().unwrap();
        assert!(matches!(
            wrap,
            SendWindow::Hours {
                days: [true, false, false, false, true, true, true],
                ..
            }
        ));
        for bad in [
            "",
            "weekdays",
            "Mon-Fri 17:00-08:00",
            "Mon-Fri 8-17",
            "Mon-Fry 08:00-17:00",
            "Mon-Fri 25:00-26:00",
            "Mon-Fri 08:00-24:01",
        ] {
            let e = bad.parse::<SendWindow>().unwrap_err();
            assert!(e.starts_with("SEND_WINDOW"), "{bad}: {e}");
        }
        assert!(parse_tz("Mars/Olympus").unwrap_err().contains("IANA"));
        assert!(parse_blackout("2026-12-24, 2026-12-25").unwrap().len() == 2);
        assert!(
            parse_blackout("24.12.2026")
                .unwrap_err()
                .contains("SEND_BLACKOUT_DATES")
        );
    }

    #[test]
    fn the_window_opens_at_local_eight_across_the_new_york_dst_change() {
        let (window, tz) = cal("Mon-Fri 08:00-17:00", "America/New_York");
        let c = Calendar {
            window,
            tz,
            blackout: &[],
        };
        // Friday 6 March 2026, 18:00 EST: closed until Monday 08:00, which
        // is EDT after the change on Sunday 8 March: 12:00 UTC, not 13:00.
        let friday_evening = utc("2026-03-06T23:00:00Z");
        assert_eq!(
            c.check(friday_evening),
            Err(Closed::Window {
                opens: utc("2026-03-09T12:00:00Z")
            })
        );
        assert_eq!(c.check(utc("2026-03-09T12:00:00Z")), Ok(()));
        assert!(c.check(utc("2026-03-09T11:59:00Z")).is_err());
        // Autumn: Friday 30 October EDT → Monday 2 November 08:00 EST = 13:00 UTC.
        assert_eq!(
            c.next_open(utc("2026-10-30T22:00:00Z")),
            utc("2026-11-02T13:00:00Z")
        );
    }

    #[test]
    fn berlin_and_a_window_across_the_skipped_hour() {
        let (window, tz) = cal("Mon-Sun 02:30-03:30", "Europe/Berlin");
        let c = Calendar {
            window,
            tz,
            blackout: &[],
        };
        // Sunday 29 March 2026: 02:00 → 03:00 CEST; 02:30 does not exist,
        // the window opens at 03:00 local = 01:00 UTC.
        assert_eq!(
            c.next_open(utc("2026-03-28T23:00:00Z")),
            utc("2026-03-29T01:00:00Z")
        );
        // A normal day: 02:30 CET = 01:30 UTC.
        assert_eq!(
            c.next_open(utc("2026-03-27T20:00:00Z")),
            utc("2026-03-28T01:30:00Z")
        );
        let (window, tz) = cal("Mon-Fri 09:00-17:00", "Europe/Berlin");
        let c = Calendar {
            window,
            tz,
            blackout: &[],
        };
        // Monday 26 October 2026 09:00 CET (after the autumn change) = 08:00 UTC.
        assert_eq!(
            c.next_open(utc("2026-10-23T16:00:00Z")),
            utc("2026-10-26T08:00:00Z")
        );
    }

    #[test]
    fn blackout_dates_close_whole_local_days() {
        let (window, tz) = cal("always", "UTC");
        let blackout = parse_blackout("2026-12-24,2026-12-25").unwrap();
        let c = Calendar {
            window,
            tz,
            blackout: &blackout,
        };
        assert_eq!(
            c.check(utc("2026-12-24T10:00:00Z")),
            Err(Closed::Blackout {
                opens: utc("2026-12-26T00:00:00Z")
            })
        );
        assert_eq!(c.check(utc("2026-12-26T00:00:00Z")), Ok(()));
    }

    #[test]
    fn business_days_skip_weekends_and_keep_the_local_time() {
        let tz = parse_tz("America/New_York").unwrap();
        // Thursday 5 March 2026 10:00 EST + 3 business days = Tuesday 10
        // March 10:00 EDT (14:00 UTC).
        let sent = utc("2026-03-05T15:00:00Z");
        assert_eq!(due_after(sent, 3, false, tz), utc("2026-03-10T14:00:00Z"));
        assert_eq!(due_after(sent, 3, true, tz), utc("2026-03-08T14:00:00Z"));
        assert_eq!(due_after(sent, 0, false, tz), sent);
        // The default sequence: 0, 3, 5 → the third is 8 business days on.
        let second = due_after(sent, 3, false, tz);
        assert_eq!(due_after(second, 5, false, tz), utc("2026-03-17T14:00:00Z"));
    }

    #[test]
    fn warm_up_ramps_daily_up_to_the_cap() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let w = Warmup {
            start_date: Some(d("2026-12-01")),
            start: 10,
            step: 2,
        };
        assert_eq!(daily_cap(50, Some(w), d("2026-12-01")), 10);
        assert_eq!(daily_cap(50, Some(w), d("2026-12-02")), 12);
        assert_eq!(daily_cap(50, Some(w), d("2026-12-21")), 50);
        assert_eq!(
            daily_cap(50, Some(w), d("2026-11-20")),
            10,
            "before the start: day 0"
        );
        assert_eq!(daily_cap(50, None, d("2026-12-01")), 50);
        let unstarted = Warmup {
            start_date: None,
            ..w
        };
        assert_eq!(daily_cap(50, Some(unstarted), d("2026-12-09")), 10);
    }

    #[test]
    fn variants_are_stable_and_spread() {
        assert_eq!(variant(7, 2, 1), 0);
        assert_eq!(variant(7, 2, 3), variant(7, 2, 3));
        let mut seen = [0; 3];
        for lead in 0..300 {
            seen[variant(lead, 1, 3)] += 1;
        }
        assert!(seen.iter().all(|n| *n > 70), "{seen:?}");
    }
}
