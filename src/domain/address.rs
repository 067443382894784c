//! E-mail addresses and domains: normalisation, validation and the reserved
//! domains that a real mailer must never send to.

/// Trims and lower-cases an address and checks its shape; `None` when it is
/// not a plausible deliverable address. Never invents or repairs one.
pub fn normalize_email(raw: &str) -> Option<String> {
    check_email(raw).ok()
}

/// The address in the form hoss stores and sends to (trimmed, lower-cased,
/// an internationalised domain in its ASCII `xn--` form), or why it is
/// refused (SPEC §15: no quoted local part, no IP literal, a dotted ASCII
/// or IDNA domain). The reason names the rule, never repairs the address.
pub fn check_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err("email is not a valid address (no @)".into());
    };
    if local.starts_with('"') || local.ends_with('"') {
        return Err("email is not a valid address (a quoted local part is not accepted)".into());
    }
    if domain.starts_with('[') {
        return Err("email is not a valid address (an IP-literal domain is not accepted)".into());
    }
    if !local.is_ascii() {
        return Err(
            "email is not a valid address (a non-ASCII local part: SMTPUTF8 mail is not sent)"
                .into(),
        );
    }
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
    if !local_ok {
        return Err("email is not a valid address".into());
    }
    let domain = if domain.is_ascii() && !domain.split('.').any(|l| l.starts_with("xn--")) {
        domain.to_string()
    } else if domain.is_ascii() {
        // An `xn--` label is an IDNA name already in its ASCII form: it
        // must decode to a valid name and encode back to itself.
        idna::domain_to_ascii_strict(domain)
            .ok()
            .filter(|ascii| ascii == domain)
            .ok_or(
                "email is not a valid address (the domain is not a valid internationalised name)",
            )?
    } else {
        // UTS 46 with the STD3 rules: letters, digits and hyphens only.
        idna::domain_to_ascii_strict(domain).map_err(
            |_| "email is not a valid address (the domain is not a valid internationalised name)",
        )?
    };
    if !is_valid_domain(&domain) {
        return Err("email is not a valid address".into());
    }
    let email = format!("{local}@{domain}");
    if email.len() > 254 {
        return Err("email is not a valid address (longer than 254 characters)".into());
    }
    Ok(email)
}

/// The disposable-mail domain (from the maintained list of the
/// `mailchecker` crate) that `domain` is or lies under.
pub fn disposable(domain: &str) -> Option<&'static str> {
    use std::collections::HashSet;
    use std::sync::OnceLock;
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let list = LIST.get_or_init(|| mailchecker::blacklist().into_iter().collect());
    let domain = domain.trim_end_matches('.');
    std::iter::successors(Some(domain), |d| d.split_once('.').map(|(_, rest)| rest))
        .find_map(|d| list.get(d).copied())
}

/// Local parts that reach a department or a machine rather than a person
/// (SPEC §15): kept, marked `role`, not emailed unless
/// `SEND_TO_ROLE_ACCOUNTS=TRUE`.
const ROLE_ACCOUNTS: &[&str] = &[
    "abuse",
    "accounting",
    "accounts",
    "admin",
    "administrator",
    "billing",
    "careers",
    "contact",
    "contactus",
    "customerservice",
    "do-not-reply",
    "donotreply",
    "enquiries",
    "enquiry",
    "feedback",
    "help",
    "hello",
    "helpdesk",
    "hostmaster",
    "hr",
    "info",
    "inquiries",
    "inquiry",
    "jobs",
    "legal",
    "mail",
    "mailer-daemon",
    "marketing",
    "media",
    "newsletter",
    "no-reply",
    "no_reply",
    "noreply",
    "office",
    "orders",
    "postmaster",
    "press",
    "privacy",
    "sales",
    "security",
    "service",
    "support",
    "team",
    "webmaster",
];

/// Whether `email` (normalised) is a role account; a `+tag` is ignored.
pub fn is_role_account(email: &str) -> bool {
    let local = email.rsplit_once('@').map_or(email, |(l, _)| l);
    let local = local.split_once('+').map_or(local, |(l, _)| l);
    ROLE_ACCOUNTS.contains(&local)
}

/// A dotted DNS name with letter-digit-hyphen labels and an alphabetic TLD
/// (or an internationalised one, `xn--…`).
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
        && labels.last().is_some_and(|tld| {
            tld.len() >= 2
                && (tld.bytes().all(|b| b.is_ascii_alphabetic()) || tld.starts_with("xn--"))
        })
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
            "\"jane doe\"@acme.com",
            "jane@[192.0.2.1]",
            "jane@192.0.2.1",
            "jane@bü cher.de",
            "jane@acme.c0m",
            ".jane@acme.com",
            "jane\r\nbcc:x@y.com@acme.com",
            "jane@acme.com\r\nBcc: x@y.com",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn each_refusal_names_its_rule() {
        let reason = |e: &str| check_email(e).unwrap_err();
        assert!(reason("jane").contains("no @"));
        assert!(reason("\"j\"@acme.com").contains("quoted local part"));
        assert!(reason("j@[192.0.2.1]").contains("IP-literal domain"));
        assert!(reason("jané@acme.com").contains("non-ASCII local part"));
        assert!(reason("j@bü_cher.de").contains("internationalised"));
    }

    #[test]
    fn an_internationalised_domain_is_kept_in_its_ascii_form() {
        assert_eq!(
            check_email(" Jane@Bücher.DE ").as_deref(),
            Ok("jane@xn--bcher-kva.de")
        );
        assert_eq!(
            check_email("ivan@пример.рф").as_deref(),
            Ok("ivan@xn--e1afmkfd.xn--p1ai")
        );
        // The ASCII form of a valid name is itself valid, once.
        assert_eq!(
            check_email("jane@xn--bcher-kva.de").as_deref(),
            Ok("jane@xn--bcher-kva.de")
        );
        assert_eq!(
            check_email("ivan@XN--E1AFMKFD.XN--P1AI").as_deref(),
            Ok("ivan@xn--e1afmkfd.xn--p1ai")
        );
    }

    #[test]
    fn an_ascii_domain_in_xn_form_must_be_valid_idna() {
        // `xn--` labels that are not punycode of a valid name: neither an
        // ASCII host name nor an IDNA one.
        for bad in [
            "jane@xn--.com",
            "jane@xn--zz-.com",
            "jane@xn--a.com",
            "jane@acme.xn--9",
        ] {
            let got = check_email(bad);
            assert!(got.is_err(), "{bad:?}: {got:?}");
        }
    }

    #[test]
    fn disposable_domains_come_from_the_maintained_list() {
        assert_eq!(disposable("mailinator.com"), Some("mailinator.com"));
        assert_eq!(disposable("eu.mailinator.com"), Some("mailinator.com"));
        assert_eq!(
            disposable("guerrillamailblock.com"),
            Some("guerrillamailblock.com")
        );
        for d in ["acme.com", "gmail.com", "outlook.com", "com", ""] {
            assert_eq!(disposable(d), None, "{d}");
        }
    }

    #[test]
    fn role_accounts_are_recognised_by_their_local_part() {
        for e in [
            "info@acme.com",
            "sales+eu@acme.com",
            "no-reply@acme.com",
            "hello@acme.com",
        ] {
            assert!(is_role_account(e), "{e}");
        }
        for e in [
            "jane@acme.com",
            "information@acme.com",
            "salesforce@acme.com",
        ] {
            assert!(!is_role_account(e), "{e}");
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
