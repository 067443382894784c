//! One way to build an HTTP agent: bounded in time, no proxy from the
//! environment, no redirects (a redirect could leave https), and every
//! status answered as a value for the caller to classify.

use std::time::Duration;

pub fn agent(total: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(total))
        .timeout_connect(Some(Duration::from_secs(5).min(total)))
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(0)
        .user_agent(concat!("hoss/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// A vendor's text made safe for a log line or a database column: one line,
/// at most `max` characters, and without `secret` should the vendor echo it.
pub fn shorten(text: &str, max: usize, secret: Option<&str>) -> String {
    let mut t = crate::log::one_line(text.trim());
    if let Some(s) = secret.filter(|s| !s.is_empty()) {
        t = t.replace(s, "[redacted]");
    }
    if t.chars().count() > max {
        t = t.chars().take(max).collect::<String>() + "…";
    }
    t
}

#[cfg(test)]
mod tests {
    #[test]
    fn shortened_text_is_one_line_and_never_holds_the_secret() {
        let t = super::shorten("bad key sk_live_X\nsecond line", 100, Some("sk_live_X"));
        assert_eq!(t, "bad key [redacted]\\nsecond line");
        assert_eq!(super::shorten("abcdef", 3, None), "abc…");
    }
}
