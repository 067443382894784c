//! A real DNS server for the address and deliverability tests: dnsmasq
//! (Debian `dnsmasq-base`) on a loopback port, with no upstream and no
//! hosts file, answering for [`DNS_ZONE`] only from the records a test
//! gives (MX, null MX, address, TXT in chunks). Names under the zone that
//! were not given are NXDOMAIN; a domain made `slow` is forwarded to a
//! socket that never answers, so its queries time out; a domain made
//! `failing` is forwarded to one that answers every query SERVFAIL (as a
//! recursive resolver does for a domain whose own servers are broken). The
//! process stops when the value is dropped.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::system_package;

const DNSMASQ: &str = "/usr/sbin/dnsmasq";
/// The zone the test server is authoritative for.
pub const DNS_ZONE: &str = "hossdns.net";

/// The records of one test's zone.
#[derive(Default)]
pub struct DnsZone {
    args: Vec<String>,
    slow: Vec<String>,
    failing: Vec<String>,
}

impl DnsZone {
    pub fn new() -> DnsZone {
        DnsZone::default()
    }

    /// `domain` takes mail at `mx.<domain>` (which has an address).
    pub fn mx(mut self, domain: &str) -> DnsZone {
        self.args.push(format!("--mx-host={domain},mx.{domain},10"));
        self.a(&format!("mx.{domain}"))
    }

    /// An address record (127.0.0.1), and nothing else, at `name`.
    pub fn a(mut self, name: &str) -> DnsZone {
        self.args.push(format!("--host-record={name},127.0.0.1"));
        self
    }

    /// `MX 0 .` (RFC 7505) at `domain`.
    pub fn null_mx(mut self, domain: &str) -> DnsZone {
        // RDATA: preference 0, exchange the root name.
        self.args.push(format!("--dns-rr={domain},15,000000"));
        self
    }

    /// A TXT record at `name` made of `chunks` (each one string of the
    /// record, as long TXT records are published); called again for the
    /// same name, a second record. On dnsmasq's command line (unlike in its
    /// config file) quotes are kept as text and a comma starts the next
    /// string, so a chunk is passed bare and may not hold a comma.
    pub fn txt(mut self, name: &str, chunks: &[&str]) -> DnsZone {
        assert!(
            chunks.iter().all(|c| !c.contains(',')),
            "a TXT chunk with a comma: {chunks:?}"
        );
        self.args
            .push(format!("--txt-record={name},{}", chunks.join(",")));
        self
    }

    /// Every query for `domain` goes unanswered.
    pub fn slow(mut self, domain: &str) -> DnsZone {
        self.slow.push(domain.to_string());
        self
    }

    /// Every query for `domain` is answered SERVFAIL.
    pub fn failing(mut self, domain: &str) -> DnsZone {
        self.failing.push(domain.to_string());
        self
    }

    /// Starts dnsmasq, or returns `None` (after the loud SKIPPED line)
    /// when the package is missing.
    pub fn start(self) -> Option<Dnsmasq> {
        if !system_package("dnsmasq-base", Path::new(DNSMASQ).exists()) {
            return None;
        }
        // Queries for a slow domain go here and are read, never answered.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let silent_port = silent.local_addr().unwrap().port();
        // Queries for a failing domain go here and are answered SERVFAIL.
        let failing = UdpSocket::bind("127.0.0.1:0").unwrap();
        let failing_port = failing.local_addr().unwrap().port();
        let answering = failing.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = answering.recv_from(&mut buf) {
                if n < 12 {
                    continue;
                }
                let mut reply = buf[..n].to_vec();
                reply[2] = 0x80 | (reply[2] & 0x01); // a response, RD kept
                reply[3] = 0x80 | 2; // RA, SERVFAIL
                let _ = answering.send_to(&reply, from);
            }
        });
        for _ in 0..5 {
            let port = UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut cmd = Command::new(DNSMASQ);
            cmd.args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--pid-file=",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--cache-size=0",
                &format!("--port={port}"),
                &format!("--local=/{DNS_ZONE}/"),
            ])
            .args(&self.args)
            .args(
                self.slow
                    .iter()
                    .map(|d| format!("--server=/{d}/127.0.0.1#{silent_port}")),
            )
            .args(
                self.failing
                    .iter()
                    .map(|d| format!("--server=/{d}/127.0.0.1#{failing_port}")),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("dnsmasq starts");
            if ready(port, &mut child) {
                return Some(Dnsmasq {
                    port,
                    child,
                    _silent: silent,
                    _failing: failing,
                });
            }
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            eprintln!(
                "dnsmasq on port {port} did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        panic!("dnsmasq did not start on any port");
    }
}

/// Whether dnsmasq answers on `port` (a query for the zone itself).
fn ready(port: u16, child: &mut Child) -> bool {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut query = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in DNS_ZONE.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let _ = socket.send_to(&query, ("127.0.0.1", port));
        let mut buf = [0u8; 512];
        if socket.recv(&mut buf).is_ok() {
            return true;
        }
    }
    false
}

pub struct Dnsmasq {
    pub port: u16,
    child: Child,
    _silent: UdpSocket,
    _failing: UdpSocket,
}

impl Dnsmasq {
    /// The value of `DNS_SERVER`.
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
