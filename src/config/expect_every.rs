//! `EXPECT_EVERY`: how often each pass is expected to run, so `status` can
//! say when one is late.

use super::keys::Raw;
use super::notices::Notice;

/// The schedule `EXPECT_EVERY` gives, or the default one with a warning.
pub(super) fn resolve_expect_every(raw: &Raw, notices: &mut Vec<Notice>) -> Vec<(String, i64)> {
    match raw.get("EXPECT_EVERY").map(parse_expect_every) {
        None => default_expect_every(),
        Some(Ok(list)) => list,
        Some(Err(e)) => {
            notices.push(Notice::warn(format!(
                "[CONFIG][INVALID] EXPECT_EVERY: {e}; using the default schedule"
            )));
            default_expect_every()
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::cfg;

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
        assert!(c.notices.iter().any(|n| {
            n.line
                .starts_with("[CONFIG][INVALID] EXPECT_EVERY: \"soon\" is not a duration")
        }));
    }
}
