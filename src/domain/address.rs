//! E-mail addresses and domains: normalisation, validation and the reserved
//! domains that a real mailer must never send to.

/// Trims and lower-cases an address and checks its shape; `None` when it is
/// not a plausible deliverable address. Never invents or repairs one.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    if email.len() > 254 || !email.is_ascii() {
        return None;
    }
    let (local, domain) = email.rsplit_once('@')?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
    (local_ok && is_valid_domain(domain)).then_some(email)
}

/// A dotted DNS name with letter-digit-hyphen labels and an alphabetic TLD.
pub fn is_valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// Domains reserved for documentation and testing (RFC 2606, RFC 6761): a
/// real mailer never sends to them.
pub fn is_reserved_domain(domain: &str) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    matches!(d.as_str(), "example.com" | "example.net" | "example.org")
        || ["example", "test", "invalid", "localhost"]
            .iter()
            .any(|tld| d == *tld || d.ends_with(&format!(".{tld}")))
        || ["example.com", "example.net", "example.org"]
            .iter()
            .any(|base| d.ends_with(&format!(".{base}")))
}

/// The domain part of an address (already normalised).
pub fn email_domain(email: &str) -> &str {
    email.rsplit_once('@').map_or("", |(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_whitespace() {
        assert_eq!(
            normalize_email("  Jane.Doe@Acme.COM \n").as_deref(),
            Some("jane.doe@acme.com")
        );
        assert_eq!(
            normalize_email("a+tag@sub.acme.io").as_deref(),
            Some("a+tag@sub.acme.io")
        );
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for bad in [
            "",
            "jane",
            "jane@",
            "@acme.com",
            "jane@acme",
            "jane@@acme.com",
            "ja ne@acme.com",
            "jane@acme..com",
            "jane@-acme.com",
            "jané@acme.com",
            "jane@acme.c0m",
            ".jane@acme.com",
            "jane\r\nbcc:x@y.com@acme.com",
            "jane@acme.com\r\nBcc: x@y.com",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reserved_domains_are_recognised() {
        for d in [
            "example.com",
            "EXAMPLE.org",
            "mail.example.net",
            "acme.example",
            "x.test",
            "y.invalid",
            "localhost",
            "a.localhost",
        ] {
            assert!(is_reserved_domain(d), "{d}");
        }
        for d in ["acme.com", "example.co", "notexample.com", "testing.io"] {
            assert!(!is_reserved_domain(d), "{d}");
        }
    }
}
