//! Addresses worth sending to and mail that proves where it comes from
//! (SPEC §15): whether role accounts are emailed, the MX check and the
//! resolver it asks, and the DKIM key SMTP mail is signed with (read once,
//! here; a key that cannot sign makes email fall back with the reason).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use crate::domain::dkim::DkimKey;

use super::keys::{Raw, parse_switch, quote_value};
use super::resolved::Problems;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliverability {
    /// `SEND_TO_ROLE_ACCOUNTS=TRUE`: info@, sales@ … are emailed too.
    pub send_to_role_accounts: bool,
    /// `MX_CHECK=ON` (default): a domain's mail route is checked before a
    /// real send to it.
    pub mx_check: bool,
    /// `DNS_SERVER=host:port`; `None`: the first nameserver of
    /// `/etc/resolv.conf`.
    pub dns_server: Option<SocketAddr>,
    /// The domain of the configured From address (`None`: no From address,
    /// as in DRY_RUN by default): what `check --deliverability` checks.
    pub from_domain: Option<String>,
    /// `DKIM_SELECTOR` and what goes with it; `None` when it is not set.
    pub dkim: Option<DkimSettings>,
}

/// SMTP mail is signed with `key` as `d=domain; s=selector`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimSettings {
    pub selector: String,
    /// `DKIM_DOMAIN`, else the From address's domain.
    pub domain: String,
    /// The key from `DKIM_PRIVATE_KEY_FILE`; `Err`: why there is none (the
    /// same reason made email fall back).
    pub key: Result<DkimKey, String>,
}

/// A key file is a few kilobytes; anything much larger is not one.
const MAX_KEY_FILE: u64 = 64 * 1024;

pub(super) fn resolve_deliverability(
    raw: &Raw,
    from_email: Option<&str>,
    p: &mut Problems,
) -> Deliverability {
    // An unreadable switch makes email fall back, with its safe value.
    let mut switch = |key: &str, default: bool, safe: bool| match raw.get(key) {
        None => default,
        Some(v) => parse_switch(v).unwrap_or_else(|| {
            p.0.push(format!(
                "{key} {} is not ON or OFF (TRUE or FALSE)",
                quote_value(v)
            ));
            safe
        }),
    };
    let send_to_role_accounts = switch("SEND_TO_ROLE_ACCOUNTS", false, false);
    let mx_check = switch("MX_CHECK", true, true);
    let dns_server = raw.get("DNS_SERVER").and_then(|v| {
        p.take(
            parse_server(v).map(Some).ok_or_else(|| {
                format!(
                    "DNS_SERVER {} is not an IP address with an optional port (192.0.2.53:53, [2001:db8::53]:53)",
                    quote_value(v)
                )
            }),
            None,
        )
    });
    let from_domain = from_email.map(|e| crate::domain::address::email_domain(e).to_string());
    let dkim = resolve_dkim(raw, from_domain.as_deref(), p);
    Deliverability {
        send_to_role_accounts,
        mx_check,
        dns_server,
        from_domain,
        dkim,
    }
}

fn resolve_dkim(raw: &Raw, from_domain: Option<&str>, p: &mut Problems) -> Option<DkimSettings> {
    let selector = raw.get("DKIM_SELECTOR");
    let file = raw.get("DKIM_PRIVATE_KEY_FILE");
    let domain = raw.get("DKIM_DOMAIN");
    let Some(selector) = selector else {
        if file.is_some() {
            p.0.push("DKIM_SELECTOR is missing (DKIM_PRIVATE_KEY_FILE is set)".into());
        } else if domain.is_some() {
            p.0.push("DKIM_DOMAIN is set without DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE".into());
        }
        return None;
    };
    let mut valid = true;
    if let Some(e) = dns_name_problem(selector, false) {
        p.0.push(format!("DKIM_SELECTOR {} {e}", quote_value(selector)));
        valid = false;
    }
    let domain = match domain.or(from_domain) {
        Some(d) => {
            if let Some(e) = dns_name_problem(d, true) {
                p.0.push(format!("DKIM_DOMAIN {} {e}", quote_value(d)));
                valid = false;
            }
            d.to_ascii_lowercase()
        }
        None => {
            p.0.push("DKIM_DOMAIN is missing (there is no From address to take it from)".into());
            valid = false;
            String::new()
        }
    };
    let key = match file {
        None => Err("DKIM_PRIVATE_KEY_FILE is missing (DKIM_SELECTOR is set)".to_string()),
        Some(path) => read_key(Path::new(path))
            .map_err(|e| format!("DKIM_PRIVATE_KEY_FILE {} {e}", quote_path(path))),
    };
    if let Err(e) = &key {
        p.0.push(e.clone());
    }
    valid.then(|| DkimSettings {
        selector: selector.to_ascii_lowercase(),
        domain,
        key,
    })
}

/// A path in a reason: whole (the operator must find the file), quoted,
/// without control characters.
fn quote_path(v: &str) -> String {
    let clean: String = v.chars().filter(|c| !c.is_control()).take(400).collect();
    format!("{clean:?}")
}

/// Reads and parses the key file; `Err` follows the file's name.
fn read_key(path: &Path) -> Result<DkimKey, String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        _ => format!("cannot be read: {e}"),
    })?;
    if !meta.is_file() {
        return Err("is not a file".into());
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(format!("is {} bytes: too large to be a key", meta.len()));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "is not a PEM file (not text)".to_string())?;
    DkimKey::from_pem(&text)
}

/// Why `name` is not a DNS name of letters, digits and inner hyphens (a
/// domain needs a dot too); `None` when it is one.
fn dns_name_problem(name: &str, domain: bool) -> Option<&'static str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return Some("is not a DNS name (1 to 253 characters)");
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !name.split('.').all(label_ok) {
        return Some(
            "is not a DNS name (labels of letters, digits and inner hyphens; IDNs in their xn-- form)",
        );
    }
    if domain && !name.contains('.') {
        return Some("is not a domain (it has no dot)");
    }
    None
}

/// `IP`, `IP:port` or `[IPv6]:port`; port 53 when none is given. A host
/// name is refused: resolving the resolver would need a resolver.
fn parse_server(v: &str) -> Option<SocketAddr> {
    v.parse::<SocketAddr>()
        .ok()
        .or_else(|| v.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
        .filter(|a| a.port() != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmailMode;
    use crate::config::testing::cfg;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dkim");

    fn smtp(extra: &[(&str, &str)]) -> crate::config::Config {
        let mut pairs = vec![
            ("EMAIL_MODE", "SMTP"),
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_TLS", "NONE"),
            ("SMTP_FROM_EMAIL", "ann@Sender.Example.com"),
            ("SMTP_FROM_NAME", "Ann"),
            ("COMPANY_NAME", "Ann Co"),
            ("COMPANY_POSTAL_ADDRESS", "1 Main St"),
        ];
        pairs.extend_from_slice(extra);
        cfg(&pairs)
    }

    #[test]
    fn dkim_settings_resolve_with_the_from_domain_by_default() {
        let key = format!("{FIXTURES}/ed25519.pkcs8.pem");
        let c = smtp(&[
            ("DKIM_SELECTOR", "Hoss2026"),
            ("DKIM_PRIVATE_KEY_FILE", &key),
        ]);
        assert_eq!(
            c.email.mode.effective,
            EmailMode::Smtp,
            "{:?}",
            c.email.mode
        );
        let dkim = c.email.deliverability.dkim.clone().unwrap();
        assert_eq!(
            (dkim.selector.as_str(), dkim.domain.as_str()),
            ("hoss2026", "sender.example.com")
        );
        assert!(dkim.key.is_ok());
        assert_eq!(
            c.email.deliverability.from_domain.as_deref(),
            Some("sender.example.com")
        );
        let c = smtp(&[
            ("DKIM_SELECTOR", "s1"),
            ("DKIM_DOMAIN", "example.com"),
            ("DKIM_PRIVATE_KEY_FILE", &key),
        ]);
        assert_eq!(c.email.deliverability.dkim.unwrap().domain, "example.com");
        // The key never shows in the configuration's Debug.
        let text = format!(
            "{:?}",
            smtp(&[("DKIM_SELECTOR", "s1"), ("DKIM_PRIVATE_KEY_FILE", &key)])
        );
        let pem = std::fs::read_to_string(&key).unwrap();
        assert!(!text.contains(pem.lines().nth(1).unwrap()), "{text}");
        assert!(text.contains("DkimKey(ed25519, 256 bits)"), "{text}");
    }

    #[test]
    fn dkim_settings_that_cannot_sign_make_email_fall_back() {
        let key = format!("{FIXTURES}/rsa2048.pkcs8.pem");
        let small = format!("{FIXTURES}/rsa512.pkcs1.pem");
        let public = format!("{FIXTURES}/rsa2048.pkcs8.pub");
        for (pairs, reason) in [
            (
                vec![("DKIM_SELECTOR", "s1")],
                "DKIM_PRIVATE_KEY_FILE is missing",
            ),
            (
                vec![("DKIM_PRIVATE_KEY_FILE", key.as_str())],
                "DKIM_SELECTOR is missing",
            ),
            (
                vec![("DKIM_DOMAIN", "example.com")],
                "DKIM_DOMAIN is set without",
            ),
            (
                vec![
                    ("DKIM_SELECTOR", "s_1"),
                    ("DKIM_PRIVATE_KEY_FILE", key.as_str()),
                ],
                "DKIM_SELECTOR \"s_1\" is not a DNS name",
            ),
            (
                vec![
                    ("DKIM_SELECTOR", "s1"),
                    ("DKIM_DOMAIN", "localhost"),
                    ("DKIM_PRIVATE_KEY_FILE", key.as_str()),
                ],
                "DKIM_DOMAIN \"localhost\" is not a domain",
            ),
            (
                vec![
                    ("DKIM_SELECTOR", "s1"),
                    ("DKIM_PRIVATE_KEY_FILE", "/nonexistent/k.pem"),
                ],
                "DKIM_PRIVATE_KEY_FILE \"/nonexistent/k.pem\" does not exist",
            ),
            (
                vec![("DKIM_SELECTOR", "s1"), ("DKIM_PRIVATE_KEY_FILE", FIXTURES)],
                "is not a file",
            ),
            (
                vec![
                    ("DKIM_SELECTOR", "s1"),
                    ("DKIM_PRIVATE_KEY_FILE", small.as_str()),
                ],
                "is a 512-bit RSA key",
            ),
            (
                vec![
                    ("DKIM_SELECTOR", "s1"),
                    ("DKIM_PRIVATE_KEY_FILE", public.as_str()),
                ],
                "holds a public key",
            ),
        ] {
            let c = smtp(&pairs);
            assert_eq!(c.email.mode.effective, EmailMode::DryRun, "{reason}");
            let got = c.email.mode.reason.unwrap();
            assert!(got.contains(reason), "{reason}: {got}");
        }
        // No From address and no DKIM_DOMAIN: nothing to sign as.
        let c = cfg(&[("DKIM_SELECTOR", "s1"), ("DKIM_PRIVATE_KEY_FILE", &key)]);
        assert!(
            c.email
                .mode
                .reason
                .unwrap()
                .contains("DKIM_DOMAIN is missing")
        );
    }

    #[test]
    fn dns_names_for_dkim() {
        for ok in ["s1", "hoss-2026.mail", "a.b"] {
            assert_eq!(dns_name_problem(ok, false), None, "{ok}");
        }
        assert_eq!(dns_name_problem("example.com.", true), None);
        for bad in ["", "-s", "s-", "a..b", "a b", "é", &"x".repeat(64), "s/1"] {
            assert!(dns_name_problem(bad, false).is_some(), "{bad}");
        }
        assert!(dns_name_problem("example", true).is_some());
    }

    #[test]
    fn a_resolver_is_an_address_never_a_name() {
        assert_eq!(
            parse_server("127.0.0.1:5353"),
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(
            parse_server("192.0.2.53"),
            Some("192.0.2.53:53".parse().unwrap())
        );
        assert_eq!(parse_server("[::1]:53"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(parse_server("::1"), Some("[::1]:53".parse().unwrap()));
        for bad in [
            "dns.google:53",
            "127.0.0.1:0",
            "127.0.0.1:99999",
            "",
            "1.2.3",
        ] {
            assert_eq!(parse_server(bad), None, "{bad}");
        }
    }
}
