//! DNS for SPEC §15: where a domain takes mail (the MX check) and the TXT
//! records of `check --deliverability`. Synchronous (rsdns: UDP, TCP when
//! an answer is truncated), one server — `DNS_SERVER` or the first
//! nameserver of `/etc/resolv.conf` — and bounded time: each query lives at
//! most [`QUERY_LIFETIME`], and after [`MAX_FAILURES`] queries in a row
//! without an answer (timed out, refused, unusable) the server counts as
//! down for the rest of the pass, so a dead resolver costs seconds, not
//! seconds per domain. A SERVFAIL is an answer about the name, not the
//! server: that lead waits, and it does not count toward down.
//!
//! A failure to get an answer is never a verdict on the domain: only an
//! answer (NXDOMAIN, a null MX, no record at all) says that mail cannot be
//! delivered.

use std::net::SocketAddr;
use std::time::Duration;

use rsdns::clients::std::Client;
use rsdns::clients::{ClientConfig, ProtocolStrategy};
use rsdns::message::RCode;
use rsdns::records::data::{A, Aaaa, Mx, RData, Txt};
use rsdns::records::{Class, RecordSet};

const QUERY_LIFETIME: Duration = Duration::from_secs(4);
const RETRY_AFTER: Duration = Duration::from_millis(1500);
const MAX_FAILURES: u32 = 2;

/// Where a domain's mail goes, as DNS answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailRoute {
    /// MX hosts, most preferred first.
    Mx(Vec<String>),
    /// No MX but an address record: the implicit MX of RFC 5321 §5.1.
    Implicit,
    /// `MX 0 .` (RFC 7505): the domain says it takes no mail.
    NullMx,
    /// NXDOMAIN: the domain does not exist.
    NoDomain,
    /// The name exists with neither MX nor address records.
    Nothing,
}

impl MailRoute {
    /// Whether mail to the domain can be delivered.
    pub fn accepts_mail(&self) -> bool {
        matches!(self, MailRoute::Mx(_) | MailRoute::Implicit)
    }

    /// The evidence, in words.
    pub fn detail(&self) -> String {
        match self {
            MailRoute::Mx(hosts) => format!("MX {}", hosts.join(", ")),
            MailRoute::Implicit => "no MX; an A/AAAA record (implicit MX)".into(),
            MailRoute::NullMx => "null MX (0 .): the domain takes no mail".into(),
            MailRoute::NoDomain => "the domain does not exist (NXDOMAIN)".into(),
            MailRoute::Nothing => "no MX and no A/AAAA record".into(),
        }
    }
}

/// What one query gave.
enum Answer<D> {
    Records(Vec<D>),
    NoData,
    NoDomain,
}

pub struct Resolver {
    server: Result<SocketAddr, String>,
    /// Queries in a row that got no usable answer.
    failures: u32,
}

impl Resolver {
    /// A resolver asking `server`, else the system's.
    pub fn new(server: Option<SocketAddr>) -> Resolver {
        Resolver {
            server: server.map_or_else(system_nameserver, Ok),
            failures: 0,
        }
    }

    /// The server asked, for evidence lines.
    pub fn server(&self) -> String {
        match &self.server {
            Ok(a) => a.to_string(),
            Err(e) => e.clone(),
        }
    }

    /// Whether the server is not asked again this pass: there is none, or
    /// it failed [`MAX_FAILURES`] queries in a row.
    pub fn is_down(&self) -> bool {
        self.server.is_err() || self.failures >= MAX_FAILURES
    }

    /// Where `domain`'s mail goes; `Err` is transient (no answer, a
    /// malformed one, a server failure): the reason, never a verdict.
    pub fn mail_route(&mut self, domain: &str) -> Result<MailRoute, String> {
        match self.query::<Mx>(domain)? {
            Answer::NoDomain => Ok(MailRoute::NoDomain),
            Answer::Records(mut mx) => {
                if mx.len() == 1 && mx[0].exchange.as_str() == "." {
                    return Ok(MailRoute::NullMx);
                }
                mx.sort_by_key(|m| m.preference);
                Ok(MailRoute::Mx(
                    mx.iter()
                        .map(|m| m.exchange.as_str().trim_end_matches('.').to_string())
                        .filter(|h| !h.is_empty())
                        .collect(),
                ))
            }
            Answer::NoData => {
                if matches!(self.query::<A>(domain)?, Answer::Records(_))
                    || matches!(self.query::<Aaaa>(domain)?, Answer::Records(_))
                {
                    Ok(MailRoute::Implicit)
                } else {
                    Ok(MailRoute::Nothing)
                }
            }
        }
    }

    /// The TXT records at `name`, each with its strings joined (a record
    /// split in 255-byte chunks reads whole); none when the name or the
    /// record does not exist. `Err` is transient.
    pub fn txt(&mut self, name: &str) -> Result<Vec<String>, String> {
        Ok(match self.query::<Txt>(name)? {
            Answer::Records(records) => records
                .into_iter()
                .map(|t| String::from_utf8_lossy(&t.text).into_owned())
                .collect(),
            Answer::NoData | Answer::NoDomain => Vec::new(),
        })
    }

    fn query<D: RData>(&mut self, name: &str) -> Result<Answer<D>, String> {
        let server = self.server.clone()?;
        if self.is_down() {
            return Err(format!(
                "DNS server {server} gave no usable answer to {MAX_FAILURES} queries in a row: not asked again this pass"
            ));
        }
        let answer = ask::<D>(server, name);
        // SERVFAIL is the server answering that it could not resolve this
        // name (the domain's own servers are broken): the server is up, so
        // it does not count toward down — else two such domains at the head
        // of the queue would stop every pass before the leads behind them.
        self.failures = match &answer {
            Ok(_) => 0,
            Err(Failure::ServFail(_)) => 0,
            Err(Failure::Other(_)) => self.failures + 1,
        };
        answer.map_err(Failure::into_reason)
    }
}

/// Why one question got no usable answer.
enum Failure {
    /// The server answered SERVFAIL for the name.
    ServFail(String),
    /// No answer, a refusal or an unusable one.
    Other(String),
}

impl Failure {
    fn into_reason(self) -> String {
        match self {
            Failure::ServFail(r) | Failure::Other(r) => r,
        }
    }
}

/// One question to `server`.
fn ask<D: RData>(server: SocketAddr, name: &str) -> Result<Answer<D>, Failure> {
    let config = ClientConfig::with_nameserver(server)
        .set_query_lifetime(QUERY_LIFETIME)
        .set_query_timeout(Some(RETRY_AFTER))
        .set_protocol_strategy(ProtocolStrategy::Udp);
    let what = format!("{} {name}", D::RTYPE);
    let mut client = Client::new(config).map_err(|e| Failure::Other(format!("DNS {what}: {e}")))?;
    let failure = |e: rsdns::Error| match e {
        rsdns::Error::BadResponseCode(RCode::SERVFAIL) => {
            Failure::ServFail(format!("DNS {what}: {server} answered SERVFAIL"))
        }
        rsdns::Error::Timeout => {
            Failure::Other(format!("DNS {what}: {server} did not answer in time"))
        }
        rsdns::Error::IoError(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            Failure::Other(format!("DNS {what}: {server} did not answer in time"))
        }
        rsdns::Error::IoError(e) => Failure::Other(format!("DNS {what}: {server}: {e}")),
        rsdns::Error::BadResponseCode(code) => {
            Failure::Other(format!("DNS {what}: {server} answered {code}"))
        }
        e => Failure::Other(format!("DNS {what}: unusable answer from {server}: {e}")),
    };
    let mut buf = vec![0u8; rsdns::constants::DNS_MESSAGE_MAX_LENGTH];
    let n = client
        .query_raw(name, D::RTYPE, Class::IN, &mut buf)
        .map_err(failure)?;
    let msg = &buf[..n];
    // "No such record" is a verdict only from a server that resolved the
    // name (RA) or holds its zone (AA): one that does neither answers with
    // a referral, which says nothing about the domain.
    let trusted = msg.len() >= 4 && (msg[3] & 0x80 != 0 || msg[2] & 0x04 != 0);
    match RecordSet::<D>::from_msg(msg) {
        Ok(set) => Ok(Answer::Records(set.rdata)),
        Err(rsdns::Error::NoAnswer) if trusted => Ok(Answer::NoData),
        Err(rsdns::Error::BadResponseCode(RCode::NXDOMAIN)) if trusted => Ok(Answer::NoDomain),
        Err(rsdns::Error::NoAnswer | rsdns::Error::BadResponseCode(RCode::NXDOMAIN)) => {
            Err(Failure::Other(format!(
                "DNS {what}: {server} answered without resolving it (no recursion, not authoritative): DNS_SERVER must be a resolver"
            )))
        }
        Err(e) => Err(failure(e)),
    }
}

/// The first `nameserver` of `/etc/resolv.conf`.
fn system_nameserver() -> Result<SocketAddr, String> {
    let text = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| format!("no DNS server: /etc/resolv.conf: {e} (set DNS_SERVER)"))?;
    first_nameserver(&text)
        .ok_or_else(|| "no DNS server: /etc/resolv.conf names none (set DNS_SERVER)".into())
}

fn first_nameserver(resolv_conf: &str) -> Option<SocketAddr> {
    resolv_conf.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("nameserver"))
            .then(|| words.next())
            .flatten()
            // A scoped IPv6 address (fe80::1%eth0) is not usable here.
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn the_first_usable_nameserver_of_resolv_conf() {
        let conf = "# generated\nsearch lan\nnameserver fe80::1%eth0\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n";
        assert_eq!(first_nameserver(conf), Some("10.0.0.2:53".parse().unwrap()));
        assert_eq!(first_nameserver("search lan\n"), None);
    }

    /// A server that answers every query with `reply(query)`.
    fn fake_server(reply: fn(&[u8]) -> Vec<u8>) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let _ = socket.send_to(&reply(&buf[..n]), from);
            }
        });
        addr
    }

    /// The query's header and question (its EDNS record left out), flagged
    /// as a response with one answer, followed by `rest`.
    fn answer_with(query: &[u8], rest: &[u8]) -> Vec<u8> {
        let mut end = 12;
        while query[end] != 0 {
            end += 1 + query[end] as usize;
        }
        let mut out = query[..end + 5].to_vec();
        out[2] = 0x81;
        out[3] = 0x80;
        out[7] = 1;
        out[11] = 0;
        out.extend_from_slice(rest);
        out
    }

    #[test]
    fn a_malformed_answer_is_transient_never_a_verdict() {
        // An answer whose record runs past the end of the message.
        let server =
            fake_server(|q| answer_with(q, &[0xc0, 0x0c, 0, 15, 0, 1, 0, 0, 0, 60, 0, 40, 0]));
        let mut r = Resolver::new(Some(server));
        let err = r.mail_route("acme.com").unwrap_err();
        assert!(err.contains("unusable answer"), "{err}");
        // A pointer loop in the exchange name.
        let server = fake_server(|q| {
            let ptr = (answer_with(q, &[]).len() + 14) as u8;
            answer_with(
                q,
                &[0xc0, 0x0c, 0, 15, 0, 1, 0, 0, 0, 60, 0, 4, 0, 10, 0xc0, ptr],
            )
        });
        let err = Resolver::new(Some(server))
            .mail_route("acme.com")
            .unwrap_err();
        assert!(err.contains("unusable answer"), "{err}");
        // Garbage.
        let server = fake_server(|_| vec![0xff; 7]);
        assert!(Resolver::new(Some(server)).mail_route("acme.com").is_err());
    }

    #[test]
    fn a_silent_server_is_asked_twice_then_left_alone() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut r = Resolver::new(Some(socket.local_addr().unwrap()));
        for _ in 0..MAX_FAILURES {
            assert!(!r.is_down());
            let err = r.mail_route("acme.com").unwrap_err();
            assert!(err.contains("did not answer in time"), "{err}");
        }
        assert!(r.is_down());
        let err = r.mail_route("other.com").unwrap_err();
        assert!(err.contains("not asked again"), "{err}");
        drop(socket);
    }

    #[test]
    fn a_server_answering_servfail_is_up() {
        let server = fake_server(|q| {
            let mut out = q.to_vec();
            out[2] = 0x81;
            out[3] = 0x82; // SERVFAIL
            out
        });
        let mut r = Resolver::new(Some(server));
        for domain in ["broken1.com", "broken2.com", "broken3.com"] {
            let err = r.mail_route(domain).unwrap_err();
            assert!(err.contains("SERVFAIL"), "{err}");
            assert!(!r.is_down());
        }
    }

    #[test]
    fn a_refusing_server_is_named_in_the_reason() {
        let server = fake_server(|q| {
            let mut out = q.to_vec();
            out[2] = 0x81;
            out[3] = 0x85; // REFUSED
            out
        });
        let err = Resolver::new(Some(server))
            .mail_route("acme.com")
            .unwrap_err();
        assert!(err.contains("REFUSED"), "{err}");
    }

    #[test]
    fn no_such_domain_from_a_server_that_did_not_resolve_it_is_no_verdict() {
        // NXDOMAIN with neither RA nor AA: a referral-only server.
        let server = fake_server(|q| {
            let mut out = answer_with(q, &[]);
            out[3] = 0x03;
            out[7] = 0;
            out
        });
        let err = Resolver::new(Some(server))
            .mail_route("acme.com")
            .unwrap_err();
        assert!(err.contains("without resolving it"), "{err}");
        // The same answer with RA is a verdict.
        let server = fake_server(|q| {
            let mut out = answer_with(q, &[]);
            out[3] = 0x83;
            out[7] = 0;
            out
        });
        assert_eq!(
            Resolver::new(Some(server)).mail_route("acme.com"),
            Ok(MailRoute::NoDomain)
        );
    }
}
