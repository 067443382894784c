//! The return date an out-of-office reply names ("back on 2 December",
//! "until 12/02/2026", "2026-12-02").

use chrono::{Datelike, NaiveDate};

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The latest date the text names that falls after the day the message was
/// received and within a year of it. Dates without a year take the
/// occurrence nearest the message; a numeric date that reads both ways
/// (`01/02/2027`) takes the later reading: waiting longer is the safe mistake.
pub fn return_date(text: &str, received: i64) -> Option<NaiveDate> {
    let today = chrono::DateTime::from_timestamp(received, 0)?.date_naive();
    let tokens: Vec<String> = text
        .lines()
        .take(40)
        .flat_map(|l| l.split(|c: char| c.is_whitespace() || ",;()".contains(c)))
        .map(|t| t.trim_end_matches(['.', ':', '!']).to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut best: Option<NaiveDate> = None;
    for (i, token) in tokens.iter().enumerate() {
        let next = |k: usize| tokens.get(i + k).map(String::as_str);
        for date in candidates(token, next, today) {
            let within = date > today && date <= today + chrono::Days::new(366);
            if within && best.is_none_or(|b| date > b) {
                best = Some(date);
            }
        }
    }
    best
}

fn candidates<'a>(
    token: &str,
    next: impl Fn(usize) -> Option<&'a str>,
    today: NaiveDate,
) -> Vec<NaiveDate> {
    if let Ok(d) = NaiveDate::parse_from_str(token, "%Y-%m-%d") {
        return vec![d];
    }
    if let Some(dates) = numeric(token) {
        return dates;
    }
    // "2 December [2026]", "2nd of Dec"
    if let Some(day) = day_number(token) {
        let (month_at, month) = match (next(1), next(2)) {
            (Some("of"), Some(m)) => (2, month_number(m)),
            (Some(m), _) => (1, month_number(m)),
            _ => (0, None),
        };
        if let Some(month) = month {
            return dated(day, month, next(month_at + 1), today);
        }
    }
    // "December 2[nd] [2026]"
    if let Some(month) = month_number(token)
        && let Some(day) = next(1).and_then(day_number)
    {
        return dated(day, month, next(2), today);
    }
    Vec::new()
}

/// `d/m/yyyy`, `m/d/yyyy`, `d.m.yyyy`: every valid reading.
fn numeric(token: &str) -> Option<Vec<NaiveDate>> {
    let parts: Vec<&str> = token.split(['/', '.']).collect();
    let [a, b, y] = parts.as_slice() else {
        return None;
    };
    let (a, b, y): (u32, u32, i32) = (a.parse().ok()?, b.parse().ok()?, y.parse().ok()?);
    if !(2000..=2100).contains(&y) {
        return None;
    }
    let mut out: Vec<NaiveDate> = [(a, b), (b, a)]
        .iter()
        .filter_map(|&(m, d)| NaiveDate::from_ymd_opt(y, m, d))
        .collect();
    out.dedup();
    Some(out)
}

fn dated(day: u32, month: u32, year: Option<&str>, today: NaiveDate) -> Vec<NaiveDate> {
    if let Some(y) = year
        .and_then(|y| y.parse::<i32>().ok())
        .filter(|y| (2000..=2100).contains(y))
    {
        return NaiveDate::from_ymd_opt(y, month, day).into_iter().collect();
    }
    // The occurrence nearest today: "since 28 November" said on 30 November
    // is two days ago, not next year.
    [today.year() - 1, today.year(), today.year() + 1]
        .iter()
        .filter_map(|&y| NaiveDate::from_ymd_opt(y, month, day))
        .min_by_key(|d| (*d - today).num_days().abs())
        .into_iter()
        .collect()
}

fn day_number(token: &str) -> Option<u32> {
    let digits = token.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &token[digits.len()..];
    if !matches!(suffix, "" | "st" | "nd" | "rd" | "th") {
        return None;
    }
    digits.parse().ok().filter(|d| (1..=31).contains(d))
}

fn month_number(token: &str) -> Option<u32> {
    if token.len() < 3 || !token.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    const FULL: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let i = MONTHS.iter().position(|m| token.starts_with(m))?;
    // "mar" or "march", never "market" or "mayor".
    (token.len() == 3 || FULL[i].starts_with(token) || token == "sept").then_some(i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-30T10:00:00Z
    const NOV30: i64 = 1_796_032_800;

    fn on(text: &str) -> Option<String> {
        return_date(text, NOV30).map(|d| d.to_string())
    }

    #[test]
    fn the_common_english_forms() {
        assert_eq!(on("I am back on 2 December."), Some("2026-12-02".into()));
        assert_eq!(on("Back on December 2nd, 2026"), Some("2026-12-02".into()));
        assert_eq!(on("returning the 3rd of Jan"), Some("2027-01-03".into()));
        assert_eq!(on("Away until 2026-12-09"), Some("2026-12-09".into()));
        assert_eq!(on("Abwesend bis 07.12.2026"), Some("2026-12-07".into()));
    }

    #[test]
    fn an_ambiguous_numeric_date_takes_the_later_reading() {
        assert_eq!(
            on("out until 12/02/2026"),
            Some("2026-12-02".into()),
            "12 Feb is past"
        );
        // 2 January or 1 February 2027: wait for February.
        assert_eq!(on("out until 01/02/2027"), Some("2027-02-01".into()));
        assert_eq!(on("out until 13/12/2026"), Some("2026-12-13".into()));
    }

    #[test]
    fn the_latest_future_date_wins_and_nonsense_is_ignored() {
        assert_eq!(
            on("Out from 1 Dec (since 28 November) until 14 December"),
            Some("2026-12-14".into())
        );
        assert_eq!(on("May I ask about the market on 31 February?"), None);
        assert_eq!(on("Call me on 555 1234"), None);
        assert_eq!(on("back 2099-01-01"), None, "more than a year away");
    }
}
