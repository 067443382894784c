//! URLs the process may call: https, or plain http on loopback only (the
//! tests' stand-ins).

/// Is this host the local machine? Plain http and SMTP without TLS are
/// allowed only there (the tests' stand-ins).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Splits `scheme://host[:port]/rest` into (scheme, host, rest).
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
        return None;
    }
    let host = if let Some(stripped) = authority.strip_prefix('[') {
        &authority[..stripped.find(']')? + 2]
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    Some((scheme, host, &rest[end..]))
}

/// Checks a URL the process may call: https, or http on loopback only.
pub(super) fn check_url(key: &str, url: &str) -> std::result::Result<String, String> {
    let Some((scheme, host, _)) = split_url(url) else {
        return Err(format!("{key} is not a URL"));
    };
    match scheme {
        "https" => Ok(url.to_string()),
        "http" if is_loopback_host(host) => Ok(url.to_string()),
        "http" => Err(format!(
            "{key} must use https (plain http only on loopback)"
        )),
        _ => Err(format!("{key} must be an https URL")),
    }
}

/// An API base is scheme + host (+ port) only; hoss appends the paths.
pub(super) fn check_api_base(key: &str, url: &str) -> std::result::Result<String, String> {
    let url = url.trim_end_matches('/');
    let checked = check_url(key, url)?;
    match split_url(&checked) {
        Some((_, _, "")) => Ok(checked),
        _ => Err(format!(
            "{key} must be scheme and host only, without a path"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_bases_must_be_https_outside_loopback() {
        assert!(check_api_base("X", "https://api.stripe.com").is_ok());
        assert!(check_api_base("X", "http://127.0.0.1:4242").is_ok());
        assert!(check_api_base("X", "http://localhost:4242/").is_ok());
        assert!(check_api_base("X", "http://[::1]:4242").is_ok());
        assert!(check_api_base("X", "http://api.stripe.com").is_err());
        assert!(check_api_base("X", "https://api.stripe.com/v1").is_err());
        assert!(check_api_base("X", "ftp://x").is_err());
        assert!(check_api_base("X", "http://127.0.0.1.evil.com").is_err());
    }

    #[test]
    fn urls_split_into_scheme_host_and_rest() {
        assert_eq!(
            split_url("https://h.test:8443/a?b"),
            Some(("https", "h.test", "/a?b"))
        );
        assert_eq!(split_url("http://[::1]:80/"), Some(("http", "[::1]", "/")));
        for bad in ["h.test", "https://", "https://u@h.test", "https://h .test"] {
            assert_eq!(split_url(bad), None, "{bad}");
        }
        assert!(check_url("K", "http://localhost/x").is_ok());
        assert_eq!(check_url("K", "mailto:x").unwrap_err(), "K is not a URL");
    }
}
