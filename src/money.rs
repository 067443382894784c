//! Money is integer minor units (`Cents`) everywhere, beside its currency.
//! Decimal text is parsed exactly, digit by digit, never through floats, and
//! always in the currency's own exponent: `1500` is 1500 minor units of JPY
//! (no decimals), 150000 of USD (two), 1500000 of KWD (three) — the unit
//! Stripe's `unit_amount` takes.

use std::fmt;

use serde::Serialize;

/// An amount in minor units of its currency. Serialised as the bare integer
/// (`amount_cents: 15000`); stored as an INTEGER (`db/columns.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct Cents(pub i64);

/// The largest amount hoss accepts anywhere, in minor units of a two-decimal
/// currency: 10 million currency units. See [`max_minor`] for any currency.
pub const MAX_CENTS: i64 = 1_000_000_000;

/// The largest amount accepted, whole currency units (any currency).
const MAX_UNITS: i64 = 10_000_000;

/// Stripe's zero-decimal currencies (amounts are whole units).
pub const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// Stripe's three-decimal currencies (amounts must be multiples of 10).
pub const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

/// Decimal places of `currency`'s minor unit, per Stripe's list.
pub fn exponent(currency: &str) -> u32 {
    let c = currency.to_ascii_lowercase();
    if ZERO_DECIMAL.contains(&c.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&c.as_str()) {
        3
    } else {
        2
    }
}

/// The largest amount accepted in `currency`, in its minor units.
pub fn max_minor(currency: &str) -> i64 {
    MAX_UNITS * 10_i64.pow(exponent(currency))
}

/// Why Stripe would refuse `minor` units of `currency` as a price, if it
/// would: three-decimal currencies take only multiples of 10.
pub fn stripe_amount_problem(minor: Cents, currency: &str) -> Option<String> {
    (exponent(currency) == 3 && minor.0 % 10 != 0).then(|| {
        format!(
            "{} cannot be charged: Stripe takes {} amounts only in multiples of 0.010",
            format_amount(minor, currency),
            currency.to_ascii_uppercase()
        )
    })
}

/// Exact sums of stored amounts. Each part may be anything an `i64` holds,
/// so the total is kept in an `i128` and only then fitted back.
pub fn fit(total: i128) -> Option<Cents> {
    i64::try_from(total).ok().map(Cents)
}

impl Cents {
    /// Parses a non-negative decimal amount in a two-decimal currency (USD,
    /// EUR…): `150`, `150.5`, `150.00`. See [`Cents::parse_in`].
    pub fn parse(text: &str) -> Result<Cents, String> {
        Cents::parse_in(text, "usd")
    }

    /// Parses a non-negative decimal amount of `currency` into its minor
    /// units. Rejects signs, exponents, more decimals than the currency has
    /// (any for JPY), non-ASCII digits, `NaN`, empty text and amounts above
    /// [`max_minor`].
    pub fn parse_in(text: &str, currency: &str) -> Result<Cents, String> {
        let places = exponent(currency) as usize;
        let t = text.trim();
        let (whole, frac) = match t.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (t, None),
        };
        let expected = match places {
            0 => format!(
                "whole {} without decimals, e.g. 1500",
                currency.to_ascii_uppercase()
            ),
            2 => "digits with up to two decimals, e.g. 150.00".to_string(),
            n => format!(
                "digits with up to {n} decimals for {}, e.g. 150.{}",
                currency.to_ascii_uppercase(),
                "0".repeat(n)
            ),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) {
            return Err(format!("{text:?} is not an amount (expected {expected})"));
        }
        let scale = 10_i64.pow(places as u32);
        let frac_minor = match frac {
            None => 0,
            Some(f) if digits(f) && f.len() <= places => {
                let v: i64 = f
                    .parse()
                    .map_err(|_| format!("{text:?} is not an amount"))?;
                v * 10_i64.pow((places - f.len()) as u32)
            }
            Some(_) => {
                return Err(format!("{text:?} is not an amount (expected {expected})"));
            }
        };
        let max = max_minor(currency);
        let whole: i64 = whole
            .parse()
            .ok()
            .filter(|w: &i64| *w <= MAX_UNITS)
            .ok_or_else(|| format!("{text:?} is too large"))?;
        let minor = whole * scale + frac_minor;
        if minor > max {
            return Err(format!("{text:?} is too large"));
        }
        Ok(Cents(minor))
    }

    /// Parses a whole number of minor units (the `*_CENTS` settings).
    pub fn parse_minor(text: &str) -> Result<Cents, String> {
        Cents::parse_minor_in(text, "usd")
    }

    /// Parses a whole number of minor units of `currency`.
    pub fn parse_minor_in(text: &str, currency: &str) -> Result<Cents, String> {
        let t = text.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{text:?} is not a whole number of cents"));
        }
        t.parse::<i64>()
            .ok()
            .filter(|c| *c <= max_minor(currency))
            .map(Cents)
            .ok_or_else(|| format!("{text:?} is too large"))
    }

    /// The plain decimal form in `currency`'s exponent: `1500` (JPY),
    /// `12.34` (USD), `1.230` (KWD), without the currency code.
    pub fn in_currency(self, currency: &str) -> String {
        let places = exponent(currency);
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        if places == 0 {
            return format!("{sign}{a}");
        }
        let scale = 10_u64.pow(places);
        format!(
            "{sign}{}.{:0width$}",
            a / scale,
            a % scale,
            width = places as usize
        )
    }
}

/// `12.34` — the plain decimal form of a two-decimal currency. Where the
/// currency is known, use [`Cents::in_currency`] or [`format_amount`].
impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.in_currency("usd"))
    }
}

/// A total that may not fit (see [`fit`]): its amount, or a plain note.
pub fn format_total(total: Option<Cents>, currency: &str) -> String {
    match total {
        Some(t) => format_amount(t, currency),
        None => "too large to total (an imported amount is wrong: see `hoss invoice list`)".into(),
    }
}

/// `12.34 USD`, `1500 JPY`, `1.230 KWD`.
pub fn format_amount(cents: Cents, currency: &str) -> String {
    format!(
        "{} {}",
        cents.in_currency(currency),
        currency.to_ascii_uppercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        for (text, cents) in [
            ("0", 0),
            ("1", 100),
            ("1.00", 100),
            ("0.99", 99),
            ("1.5", 150),
            ("500.00", 50_000),
            ("500.01", 50_001),
            (" 150.00 ", 15_000),
            ("10000000", MAX_CENTS),
        ] {
            assert_eq!(Cents::parse(text), Ok(Cents(cents)), "{text}");
        }
    }

    #[test]
    fn rejects_everything_that_is_not_a_plain_amount() {
        for text in [
            "",
            "1e3",
            "1.234",
            "-1",
            "+1",
            "NaN",
            "inf",
            "１.00",
            "1,00",
            ".5",
            "1.",
            "1 000",
            "0x10",
            "10000000.01",
            "99999999999999999999",
        ] {
            assert!(Cents::parse(text).is_err(), "{text:?} should be rejected");
        }
    }

    #[test]
    fn minor_units_are_whole_numbers() {
        assert_eq!(Cents::parse_minor("100"), Ok(Cents(100)));
        assert!(Cents::parse_minor("1.00").is_err());
        assert!(Cents::parse_minor("-5").is_err());
    }

    #[test]
    fn displays_two_decimals() {
        assert_eq!(Cents(0).to_string(), "0.00");
        assert_eq!(Cents(15_005).to_string(), "150.05");
        assert_eq!(format_amount(Cents(99), "usd"), "0.99 USD");
    }

    #[test]
    fn amounts_follow_the_currency_exponent() {
        assert_eq!(Cents::parse_in("1500", "jpy"), Ok(Cents(1500)));
        assert_eq!(Cents::parse_in("1500", "JPY"), Ok(Cents(1500)));
        assert!(Cents::parse_in("1500.5", "jpy").is_err());
        assert!(Cents::parse_in("1500.", "jpy").is_err());
        assert_eq!(Cents::parse_in("1.5", "kwd"), Ok(Cents(1500)));
        assert_eq!(Cents::parse_in("1.234", "kwd"), Ok(Cents(1234)));
        assert!(Cents::parse_in("1.2345", "kwd").is_err());
        assert_eq!(Cents::parse_in("1.5", "eur"), Ok(Cents(150)));
        assert_eq!(Cents::parse_in("10000000", "jpy"), Ok(Cents(10_000_000)));
        assert!(Cents::parse_in("10000001", "jpy").is_err());
        assert_eq!(
            Cents::parse_in("10000000", "kwd"),
            Ok(Cents(10_000_000_000))
        );
        assert_eq!(Cents::parse_minor_in("1500", "jpy"), Ok(Cents(1500)));
        assert!(Cents::parse_minor_in("10000001", "jpy").is_err());
    }

    #[test]
    fn amounts_display_in_the_currency_exponent() {
        assert_eq!(format_amount(Cents(1500), "jpy"), "1500 JPY");
        assert_eq!(format_amount(Cents(1230), "kwd"), "1.230 KWD");
        assert_eq!(format_amount(Cents(5), "kwd"), "0.005 KWD");
        assert_eq!(format_amount(Cents(1500), "usd"), "15.00 USD");
        assert_eq!(Cents(-1500).in_currency("jpy"), "-1500");
    }

    #[test]
    fn three_decimal_amounts_must_be_multiples_of_ten_for_stripe() {
        assert_eq!(stripe_amount_problem(Cents(1230), "kwd"), None);
        assert!(
            stripe_amount_problem(Cents(1234), "kwd")
                .unwrap()
                .contains("multiples of 0.010")
        );
        assert_eq!(stripe_amount_problem(Cents(1234), "usd"), None);
        assert_eq!(stripe_amount_problem(Cents(1), "jpy"), None);
    }

    #[test]
    fn amounts_serialise_as_bare_integers() {
        assert_eq!(serde_json::to_string(&Cents(15_000)).unwrap(), "15000");
        assert_eq!(serde_json::to_string(&Some(Cents(-5))).unwrap(), "-5");
    }

    #[test]
    fn sums_that_do_not_fit_are_reported_not_wrapped() {
        assert_eq!(fit(5), Some(Cents(5)));
        assert_eq!(fit(i128::from(i64::MAX) + 1), None);
    }
}
