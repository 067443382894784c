//! Money is integer minor units (`Cents`) everywhere. Decimal text is parsed
//! exactly, digit by digit, never through floats.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cents(pub i64);

/// The largest amount hoss accepts anywhere: 10 million currency units.
pub const MAX_CENTS: i64 = 1_000_000_000;

impl Cents {
    /// Parses a non-negative decimal amount such as `150`, `150.5` or `150.00`.
    /// Rejects signs, exponents, more than two decimals, non-ASCII digits,
    /// `NaN`, empty text and amounts above [`MAX_CENTS`].
    pub fn parse(text: &str) -> Result<Cents, String> {
        let t = text.trim();
        let (whole, frac) = match t.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (t, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) {
            return Err(format!(
                "{text:?} is not an amount (expected digits with up to two decimals, e.g. 150.00)"
            ));
        }
        let frac_cents = match frac {
            None => 0,
            Some(f) if digits(f) && f.len() <= 2 => {
                let v: i64 = f
                    .parse()
                    .map_err(|_| format!("{text:?} is not an amount"))?;
                if f.len() == 1 { v * 10 } else { v }
            }
            Some(_) => {
                return Err(format!(
                    "{text:?} is not an amount (at most two decimals, digits only)"
                ));
            }
        };
        let whole: i64 = whole
            .parse()
            .ok()
            .filter(|w: &i64| *w <= MAX_CENTS / 100)
            .ok_or_else(|| format!("{text:?} is too large"))?;
        let cents = whole * 100 + frac_cents;
        if cents > MAX_CENTS {
            return Err(format!("{text:?} is too large"));
        }
        Ok(Cents(cents))
    }

    /// Parses a whole number of minor units (the `*_CENTS` settings).
    pub fn parse_minor(text: &str) -> Result<Cents, String> {
        let t = text.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{text:?} is not a whole number of cents"));
        }
        t.parse::<i64>()
            .ok()
            .filter(|c| *c <= MAX_CENTS)
            .map(Cents)
            .ok_or_else(|| format!("{text:?} is too large"))
    }
}

/// `12.34` — the plain decimal form, without currency.
impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", a / 100, a % 100)
    }
}

/// `12.34 USD`
pub fn format_amount(cents: Cents, currency: &str) -> String {
    format!("{cents} {}", currency.to_ascii_uppercase())
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
}
