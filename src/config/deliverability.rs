//! Addresses worth sending to (SPEC §15): whether role accounts are
//! emailed, the MX check and the resolver it asks.

use std::net::{IpAddr, SocketAddr};

use super::keys::{Raw, parse_bool, quote_value};
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
}

pub(super) fn resolve_deliverability(raw: &Raw, p: &mut Problems) -> Deliverability {
    let send_to_role_accounts = match raw.get("SEND_TO_ROLE_ACCOUNTS") {
        None => false,
        Some(v) => parse_bool(v).unwrap_or_else(|| {
            p.0.push(format!(
                "SEND_TO_ROLE_ACCOUNTS {} is not TRUE or FALSE",
                quote_value(v)
            ));
            false
        }),
    };
    let mx_check = match raw.get("MX_CHECK").map(str::to_ascii_uppercase).as_deref() {
        None | Some("ON") => true,
        Some("OFF") => false,
        Some(_) => {
            p.0.push(format!(
                "MX_CHECK {} is not ON or OFF",
                quote_value(raw.get("MX_CHECK").unwrap_or_default())
            ));
            true
        }
    };
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
    Deliverability {
        send_to_role_accounts,
        mx_check,
        dns_server,
    }
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
