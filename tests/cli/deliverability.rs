//! SPEC §15: SMTP mail DKIM-signed and verified by an independent
//! implementation (dkimpy, resolving the key from a real DNS server), keys
//! that cannot sign refused before any send, and `check --deliverability`
//! against real DNS (dnsmasq) and a loopback `/healthz`.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::harness::{
    DNS_ZONE, DnsZone, FakeServer, Output, Sandbox, SmtpMode, SmtpServer, closed_addr,
    system_package,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dkim");
/// The Debian interpreter, which has the Debian packages (a pyenv or venv
/// python3 earlier on PATH would not).
const PYTHON: &str = "/usr/bin/python3";

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// The From domain of these tests, under the zone dnsmasq answers for.
fn sender() -> String {
    format!("sender.{DNS_ZONE}")
}

/// The base64 body of a PEM file.
fn pem_body(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

/// The DKIM TXT value for a fixture key, from its `.pub` file: the
/// SubjectPublicKeyInfo for RSA, the raw 32 bytes for Ed25519 (RFC 8463).
fn dkim_txt(key: &str) -> String {
    let public = pem_body(&fixture(&key.replace(".pem", ".pub")));
    if key.starts_with("ed25519") {
        let spki = STANDARD.decode(public).unwrap();
        format!(
            "v=DKIM1; k=ed25519; p={}",
            STANDARD.encode(&spki[spki.len() - 32..])
        )
    } else {
        format!("v=DKIM1; k=rsa; p={public}")
    }
}

/// A TXT value in 255-byte strings, as long records are published.
fn chunks(value: &str) -> Vec<&str> {
    value
        .as_bytes()
        .chunks(255)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect()
}

/// A line from the middle of a key file: it must never appear anywhere.
fn key_line(key: &str) -> String {
    let text = std::fs::read_to_string(fixture(key)).unwrap();
    text.lines().nth(1).unwrap().to_string()
}

fn assert_no_key(out: &Output, key: &str) {
    let line = key_line(key);
    assert!(
        !out.stdout.contains(&line) && !out.stderr.contains(&line),
        "{out:?}"
    );
}

/// Whether dkimpy (with dnspython and PyNaCl for Ed25519) can run; one
/// loud line when not.
fn dkimpy() -> bool {
    let present = Command::new(PYTHON)
        .args(["-c", "import dkim, dns.resolver, nacl"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    system_package("python3-dkim", present)
}

/// dkimpy's verdict on `message`, the key looked up at the dnsmasq on
/// `port` (never the system's resolver).
const VERIFY: &str = r#"
import logging, sys
import dkim, dns.resolver
port = int(sys.argv[1])
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = ['127.0.0.1']
resolver.port = port
resolver.lifetime = 5
def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    try:
        answer = resolver.resolve(name, 'TXT')
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    return b''.join(list(answer)[0].strings)
logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
ok = dkim.verify(sys.stdin.buffer.read(), logger=logging.getLogger('dkim'), dnsfunc=dnsfunc)
print('PASS' if ok else 'FAIL')
"#;

fn verify(message: &[u8], dns_port: u16) -> (bool, String) {
    let mut child = Command::new(PYTHON)
        .args(["-c", VERIFY, &dns_port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dkimpy");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        stdout == "PASS" || stdout == "FAIL",
        "dkimpy did not answer: {out:?}"
    );
    (
        stdout == "PASS",
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The header `name` of a raw message, unfolded.
fn header(message: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(message);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The `h=` tag of the DKIM signature, as a list.
fn signed_headers(message: &[u8]) -> Vec<String> {
    let sig = header(message, "DKIM-Signature").expect("a DKIM-Signature");
    sig.split(';')
        .find_map(|t| t.trim().strip_prefix("h="))
        .unwrap()
        .split(':')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect()
}

/// Real SMTP mail from `hello@sender.<zone>` signed with `key` as
/// `selector`.
fn signing(server: &SmtpServer, selector: &str, key: &str) -> Sandbox {
    Sandbox::new()
        .email_via_smtp(server.port)
        .with("SMTP_FROM_EMAIL", &format!("hello@{}", sender()))
        .with("PUBLIC_BASE_URL", &format!("https://{}", sender()))
        .with("MAX_EMAILS_PER_HOUR", "100")
        .with("DKIM_SELECTOR", selector)
        .with("DKIM_DOMAIN", &sender())
        .with("DKIM_PRIVATE_KEY_FILE", &fixture(key))
}

const KEYS: [(&str, &str); 3] = [
    ("rsa8", "rsa2048.pkcs8.pem"),
    ("rsa1", "rsa2048.pkcs1.pem"),
    ("ed", "ed25519.pkcs8.pem"),
];

/// The sender's zone with each fixture key published at its selector, in
/// 255-byte strings as long records are.
fn every_key_published() -> DnsZone {
    KEYS.iter().fold(DnsZone::new(), |zone, (selector, key)| {
        zone.txt(
            &format!("{selector}._domainkey.{}", sender()),
            &chunks(&dkim_txt(key)),
        )
    })
}

#[test]
fn smtp_mail_is_dkim_signed_and_an_independent_verifier_agrees() {
    if !dkimpy() {
        return;
    }
    let zone = every_key_published();
    let Some(dns) = zone.start() else { return };
    let expected: Vec<String> = [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "reply-to",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ]
    .map(String::from)
    .to_vec();
    for (selector, key) in KEYS {
        let server = SmtpServer::start(SmtpMode::Accept);
        let sb = signing(&server, selector, key);
        let check: Value = sb.json(&["check", "--json"]);
        assert_eq!(check["subsystems"]["email"]["effective"], "SMTP", "{check}");
        let mut outputs = vec![sb.run(&[
            "lead",
            "add",
            "--email",
            "ann@gadgets.com",
            "--company",
            "Gadgets",
        ])];
        // Outreach, the test email and the digest: every SMTP message.
        let out = sb.run(&["send-outreach", "--json"]);
        assert_eq!(out.code, 0, "{out:?}");
        outputs.push(out);
        outputs.push(sb.run(&["send-test-email", "--to", "me@hoss-operator.com"]));
        outputs.push(sb.run(&["summary", "--email"]));
        let messages = server.messages();
        assert_eq!(messages.len(), 3, "{key}: {outputs:?}");
        for m in &messages {
            let (ok, log) = verify(&m.data, dns.port);
            assert!(ok, "{key}: dkimpy refused the signature:\n{log}");
            let sig = header(&m.data, "DKIM-Signature").unwrap();
            let algorithm = if key.starts_with("ed") {
                "a=ed25519-sha256"
            } else {
                "a=rsa-sha256"
            };
            assert!(sig.contains(algorithm), "{sig}");
            assert!(
                sig.contains(&format!("d={}; s={selector};", sender())),
                "{sig}"
            );
            assert!(sig.contains("c=relaxed/relaxed"), "{sig}");
            assert_eq!(signed_headers(&m.data), expected, "{sig}");
        }
        // The outreach message carries both unsubscribe headers it signs.
        let outreach = &messages[0];
        assert!(header(&outreach.data, "List-Unsubscribe").is_some());
        assert_eq!(
            header(&outreach.data, "List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        // A changed body or a changed signed header fails: the verifier is real.
        let text = String::from_utf8(outreach.data.clone()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let tampered = format!("{head}\r\n\r\n{}", body.replacen('e', "a", 1));
        assert!(!verify(tampered.as_bytes(), dns.port).0, "{key}");
        let reply_to = header(&outreach.data, "Reply-To").unwrap();
        let tampered = text.replacen(&reply_to, "attacker@evil.example", 1);
        assert!(!verify(tampered.as_bytes(), dns.port).0, "{key}");
        // The key never reaches any output, nor the database.
        for out in &outputs {
            assert_no_key(out, key);
        }
        let file = if sb.on_postgres() {
            // The database's contents, as a file to search.
            let file = format!("contents-{}.db", key.replace(['/', '.'], "-"));
            assert_eq!(sb.run(&["backup", &file]).code, 0);
            file
        } else {
            "hoss.db".to_string()
        };
        let db = std::fs::read(sb.path(&file)).unwrap();
        let line = key_line(key);
        assert!(!db.windows(line.len()).any(|w| w == line.as_bytes()));
    }
}

#[test]
fn a_dkim_key_that_cannot_sign_makes_email_fall_back_and_nothing_is_sent() {
    let server = SmtpServer::start(SmtpMode::Accept);
    let not_a_key = Sandbox::new();
    std::fs::write(not_a_key.path("dkim.pem"), "hello, I am not a key\n").unwrap();
    let not_a_key_path = not_a_key.path("dkim.pem").display().to_string();
    for (file, reason) in [
        ("/nonexistent/dkim.pem".to_string(), "does not exist"),
        (not_a_key_path, "is not a PEM file"),
        (fixture("rsa512.pkcs1.pem"), "is a 512-bit RSA key"),
        (
            fixture("rsa2048.pkcs8.pub"),
            "holds a public key; DKIM signs with the private key",
        ),
    ] {
        let sb = signing(&server, "s1", "rsa2048.pkcs8.pem").with("DKIM_PRIVATE_KEY_FILE", &file);
        let out = sb.run(&["check", "--json"]);
        let check: Value = serde_json::from_str(&out.stdout).unwrap();
        let email = &check["subsystems"]["email"];
        assert_eq!(email["effective"], "DRY_RUN", "{check}");
        let got = email["reason"].as_str().unwrap();
        assert!(
            got.contains(&format!("DKIM_PRIVATE_KEY_FILE \"{file}\" {reason}")),
            "{got}"
        );
        sb.run(&[
            "lead",
            "add",
            "--email",
            "ann@gadgets.com",
            "--company",
            "Gadgets",
        ]);
        let sent = sb.run(&["send-outreach", "--json"]);
        let report: Value = serde_json::from_str(&sent.stdout).unwrap();
        assert_eq!(report["sent"], 0, "{report}");
        let test = sb.run(&["send-test-email", "--to", "me@hoss-operator.com"]);
        for out in [&out, &sent, &test] {
            assert_no_key(out, "rsa512.pkcs1.pem");
            assert_no_key(out, "rsa2048.pkcs8.pem");
            assert!(!out.stderr.contains("panicked"), "{out:?}");
        }
    }
    // A selector without a key, and a key without a selector.
    let mut sb = signing(&server, "s1", "rsa2048.pkcs8.pem");
    sb.unset("DKIM_PRIVATE_KEY_FILE");
    assert!(email_reason(&sb).contains("DKIM_PRIVATE_KEY_FILE is missing"));
    let mut sb = signing(&server, "s1", "rsa2048.pkcs8.pem");
    sb.unset("DKIM_SELECTOR");
    assert!(email_reason(&sb).contains("DKIM_SELECTOR is missing"));
    assert!(server.messages().is_empty());
}

/// A domain with everything receivers look for: one SPF record, a DMARC
/// policy, the DKIM key (in 255-byte strings).
fn good_domain(zone: DnsZone, domain: &str, selector: &str, key: &str) -> DnsZone {
    zone.txt(domain, &["v=spf1 ip4:192.0.2.0/24 -all"])
        .txt(domain, &["google-site-verification=abc123"])
        .txt(
            &format!("_dmarc.{domain}"),
            &["v=DMARC1; p=reject; rua=mailto:dmarc@", domain],
        )
        .txt(
            &format!("{selector}._domainkey.{domain}"),
            &chunks(&dkim_txt(key)),
        )
}

/// `check --deliverability` for mail from `hello@<domain>`, DKIM-signed
/// with the PKCS#8 RSA fixture as `s1`.
fn checking(dns: &str, domain: &str, healthz: &str) -> Sandbox {
    Sandbox::new()
        .email_via_smtp(closed_addr().port())
        .with("SMTP_FROM_EMAIL", &format!("hello@{domain}"))
        .with("PUBLIC_BASE_URL", healthz)
        .with("DNS_SERVER", dns)
        .with("DKIM_SELECTOR", "s1")
        .with("DKIM_PRIVATE_KEY_FILE", &fixture("rsa2048.pkcs8.pem"))
}

fn checks(report: &Value) -> Vec<(String, bool, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["ok"].as_bool().unwrap(),
                c["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn detail(report: &Value, name: &str) -> String {
    checks(report)
        .into_iter()
        .find(|c| c.0 == name)
        .unwrap_or_else(|| panic!("no {name} check: {report}"))
        .2
}

#[test]
fn deliverability_of_a_fully_set_up_domain_passes_in_release_mode() {
    let domain = sender();
    let Some(dns) = good_domain(DnsZone::new(), &domain, "s1", "rsa2048.pkcs8.pem").start() else {
        return;
    };
    let healthz = FakeServer::answering(200, "ok");
    let sb = checking(&dns.server(), &domain, &healthz.url).with("RELEASE_MODE", "TRUE");
    let out = sb.run(&["check", "--deliverability", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    // The shape, exactly.
    let keys: Vec<&String> = report.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["checks", "domain", "ok"], "{report}");
    for c in report["checks"].as_array().unwrap() {
        let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["detail", "name", "ok"], "{c}");
    }
    assert_eq!(report["domain"], domain.as_str());
    assert_eq!(report["ok"], true, "{report}");
    let names: Vec<String> = checks(&report).into_iter().map(|c| c.0).collect();
    assert_eq!(names, ["spf", "dmarc", "dkim", "unsubscribe", "health"]);
    assert!(checks(&report).iter().all(|c| c.1), "{report}");
    assert_eq!(detail(&report, "spf"), "v=spf1 ip4:192.0.2.0/24 -all");
    // The record split in two strings reads whole.
    assert_eq!(
        detail(&report, "dmarc"),
        format!("policy p=reject: v=DMARC1; p=reject; rua=mailto:dmarc@{domain}")
    );
    assert!(
        detail(&report, "dkim").contains("publishes the rsa key of DKIM_PRIVATE_KEY_FILE"),
        "{report}"
    );
    assert!(detail(&report, "health").contains("0 real sends"));
    let asked: Vec<String> = healthz.requests().iter().map(|r| r.url.clone()).collect();
    assert_eq!(asked, ["/healthz"]);

    // The same for people: the domain and the resolver, one line per check.
    let out = sb.run(&["check", "--deliverability"]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("deliverability of {domain} (DNS server {})", dns.server())
    );
    assert_eq!(lines[1], "ok   spf         v=spf1 ip4:192.0.2.0/24 -all");
    assert!(lines[2].starts_with("ok   dmarc       policy p=reject"));
    assert!(lines[5].starts_with("ok   health      "), "{}", out.stdout);
    assert_eq!(lines[6], "deliverability: ok");
    assert_no_key(&out, "rsa2048.pkcs8.pem");
}

#[test]
fn deliverability_failures_are_named_and_block_a_release() {
    let domain = format!("broken.{DNS_ZONE}");
    // Two SPF records, no DMARC, and the DKIM selector publishing another
    // key than the one mail is signed with.
    let Some(dns) = DnsZone::new()
        .txt(&domain, &["v=spf1 include:_spf.mail-a.example -all"])
        .txt(&domain, &["v=spf1 include:_spf.mail-b.example ~all"])
        .txt(
            &format!("s1._domainkey.{domain}"),
            &chunks(&dkim_txt("rsa2048.pkcs1.pem")),
        )
        .start()
    else {
        return;
    };
    let healthz = FakeServer::answering(503, "down");
    let mut sb = checking(&dns.server(), &domain, &healthz.url);
    let out = sb.run(&["check", "--deliverability", "--json"]);
    assert_eq!(out.code, 0, "outside release mode it only reports: {out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let verdicts: Vec<(String, bool)> = checks(&report)
        .into_iter()
        .map(|(name, ok, _)| (name, ok))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("spf".to_string(), false),
            ("dmarc".to_string(), false),
            ("dkim".to_string(), false),
            ("unsubscribe".to_string(), false),
            ("health".to_string(), true)
        ]
    );
    let spf = detail(&report, "spf");
    assert!(spf.starts_with("2 SPF records"), "{spf}");
    assert!(
        spf.contains("permerror") && spf.contains("mail-b.example"),
        "{spf}"
    );
    assert_eq!(
        detail(&report, "dmarc"),
        format!("no TXT record at _dmarc.{domain}")
    );
    // The mismatch is named, with the record to publish instead.
    let dkim = detail(&report, "dkim");
    assert!(
        dkim.contains("is not the public half of DKIM_PRIVATE_KEY_FILE"),
        "{dkim}"
    );
    assert!(dkim.contains(&dkim_txt("rsa2048.pkcs8.pem")), "{dkim}");
    assert!(
        detail(&report, "unsubscribe").contains("answered 503"),
        "{report}"
    );

    sb.set("RELEASE_MODE", "TRUE");
    let out = sb.run(&["check", "--deliverability"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "FAIL dmarc       no TXT record at _dmarc.{domain}"
        )),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("FAIL spf         2 SPF records"));
    assert!(
        out.stdout
            .contains("deliverability: 4 of 5 checks FAILED (release mode: exit 78)")
    );
}

#[test]
fn deliverability_checks_that_cannot_be_made_fail_with_the_reason() {
    let domain = format!("slow.{DNS_ZONE}");
    let Some(dns) = DnsZone::new().slow(&domain).start() else {
        return;
    };
    let closed = format!("http://{}", closed_addr());
    let sb = checking(&dns.server(), &domain, &closed);
    let out = sb.run(&["check", "--deliverability", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    for name in ["spf", "dmarc", "dkim"] {
        let d = detail(&report, name);
        assert!(d.starts_with("could not be checked: "), "{name}: {d}");
    }
    assert!(detail(&report, "spf").contains("did not answer in time"));
    // After two timeouts the server is not asked again this pass.
    assert!(
        detail(&report, "dkim").contains("not asked again"),
        "{report}"
    );
    let unsubscribe = detail(&report, "unsubscribe");
    assert!(
        unsubscribe.starts_with(&format!("GET {closed}/healthz failed")),
        "{unsubscribe}"
    );

    // Plain http is for loopback only; no base at all is named too.
    let mut sb = checking(&dns.server(), &domain, "http://hoss-operator.com");
    let report: Value = sb.json(&["check", "--deliverability", "--json"]);
    assert!(
        detail(&report, "unsubscribe").contains("PUBLIC_BASE_URL must use https"),
        "{report}"
    );
    sb.unset("PUBLIC_BASE_URL");
    let report: Value = sb.json(&["check", "--deliverability", "--json"]);
    assert!(detail(&report, "unsubscribe").starts_with("PUBLIC_BASE_URL is not set"));
}

#[test]
fn deliverability_without_a_from_address_or_under_dry_run_asks_no_one() {
    let trap = UdpSocket::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let http = FakeServer::answering(200, "ok");
    let dns = trap.local_addr().unwrap().to_string();
    // The defaults: DRY_RUN, no From address.
    let sb = Sandbox::new()
        .with("DNS_SERVER", &dns)
        .with("PUBLIC_BASE_URL", &http.url);
    let out = sb.run(&["check", "--deliverability"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("no From address is configured"),
        "{}",
        out.stdout
    );
    let report: Value = sb.json(&["check", "--deliverability", "--json"]);
    assert_eq!(
        report,
        serde_json::json!({"domain": null, "ok": false, "checks": []})
    );
    // Release mode: nothing could be verified, so the gate is closed.
    let out = sb
        .with("RELEASE_MODE", "TRUE")
        .run(&["check", "--deliverability"]);
    assert_eq!(out.code, 78, "{out:?}");
    // Global DRY_RUN means no network at all, even with a From address.
    let sb = checking(&dns, &sender(), &http.url).with("DRY_RUN", "TRUE");
    let out = sb.run(&["check", "--deliverability"]);
    assert!(out.stdout.contains("global DRY_RUN=TRUE"), "{out:?}");
    let mut buf = [0u8; 512];
    assert!(trap.recv(&mut buf).is_err(), "a DNS query was sent");
    assert!(http.requests().is_empty());
}

/// The SendGrid mailer does not sign: SendGrid's domain authentication
/// does, so the check does not ask for a selector.
#[test]
fn deliverability_under_sendgrid_leaves_dkim_to_sendgrid() {
    let domain = format!("sg.{DNS_ZONE}");
    let Some(dns) = DnsZone::new()
        .txt(&domain, &["v=spf1 include:sendgrid.net -all"])
        .txt(&format!("_dmarc.{domain}"), &["v=DMARC1; p=none"])
        .start()
    else {
        return;
    };
    let healthz = FakeServer::answering(200, "ok");
    let sb = Sandbox::new()
        .email_via_sendgrid(&healthz.url)
        .with("SENDGRID_API_KEY", "SG.test")
        .with("SENDGRID_FROM_EMAIL", &format!("hello@{domain}"))
        .with("PUBLIC_BASE_URL", &healthz.url)
        .with("DNS_SERVER", &dns.server());
    let report: Value = sb.json(&["check", "--deliverability", "--json"]);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        detail(&report, "dkim"),
        "skipped: SendGrid signs with its domain authentication"
    );
    assert!(detail(&report, "dmarc").starts_with("policy p=none (reports only"));
    // And SMTP without a selector is named as unsigned.
    let smtp = Sandbox::new()
        .email_via_smtp(closed_addr().port())
        .with("SMTP_FROM_EMAIL", &format!("hello@{domain}"))
        .with("PUBLIC_BASE_URL", &healthz.url)
        .with("DNS_SERVER", &dns.server());
    let report: Value = smtp.json(&["check", "--deliverability", "--json"]);
    assert!(
        detail(&report, "dkim").starts_with("SMTP mail is not DKIM-signed"),
        "{report}"
    );
}

/// replit.md's "Deliverability checklist" runs as written: its openssl
/// lines make a key hoss signs with, its `echo` prints the TXT value that
/// `check --deliverability` asks for, and once that value is published the
/// check finds the key.
#[test]
fn the_deliverability_checklist_of_replit_md_runs_as_written() {
    if !system_package("openssl", Path::new("/usr/bin/openssl").exists()) {
        return;
    }
    let notes = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/replit.md")).unwrap();
    let section = notes.split("## Deliverability checklist").nth(1).unwrap();
    let block = section
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    assert!(block.contains("hoss check --deliverability"), "{block}");
    let domain = format!("docs.{DNS_ZONE}");
    let zone = || {
        DnsZone::new()
            .txt(&domain, &["v=spf1 -all"])
            .txt(&format!("_dmarc.{domain}"), &["v=DMARC1; p=reject"])
    };
    let healthz = FakeServer::answering(200, "ok");
    let run = |sb: &Sandbox, script: &str| {
        let bin_dir = Path::new(crate::harness::BIN).parent().unwrap();
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .env_clear()
            .env(
                "PATH",
                format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
            )
            .envs(sb.envs())
            .current_dir(sb.dir.path())
            .output()
            .unwrap();
        Output::from(out)
    };
    let Some(dns) = zone().start() else { return };
    let sb =
        checking(&dns.server(), &domain, &healthz.url).with("DKIM_PRIVATE_KEY_FILE", "dkim.pem");
    let out = run(&sb, block);
    assert_eq!(out.code, 0, "{out:?}");
    // The value the docs print is the value hoss asks for.
    let txt = out
        .stdout
        .lines()
        .find(|l| l.starts_with("v=DKIM1; k=rsa; p="))
        .unwrap_or_else(|| panic!("no TXT value printed: {out:?}"));
    let dkim_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL dkim"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(
        dkim_line.ends_with(&format!("publish: {txt}")),
        "{dkim_line}"
    );
    let key = std::fs::read_to_string(sb.path("dkim.pem")).unwrap();
    assert!(!out.stdout.contains(key.lines().nth(1).unwrap()));
    drop(dns);
    // Published, it is found.
    let Some(dns) = zone()
        .txt(&format!("s1._domainkey.{domain}"), &chunks(txt))
        .start()
    else {
        return;
    };
    let sb = sb
        .with("DNS_SERVER", &dns.server())
        .with("RELEASE_MODE", "TRUE");
    let out = run(&sb, "hoss check --deliverability");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("ok   dkim"), "{}", out.stdout);
}

/// Words from the world: accents, CJK and emoji in every header hoss
/// fills and in the body, long folded subjects, body lines that start
/// with "From " or ".", trailing blank lines and CRLF template text — in
/// outreach (with both unsubscribe headers), the test email and an
/// invoice notice. Every message must verify.
#[test]
fn dkim_signatures_verify_for_hostile_words_in_every_kind_of_mail() {
    if !dkimpy() {
        return;
    }
    let zone = every_key_published();
    let Some(dns) = zone.start() else { return };
    let stub = crate::harness::StripeStub::start();
    for (selector, key) in [KEYS[0], KEYS[2]] {
        let server = SmtpServer::start(SmtpMode::Accept);
        let sb = signing(&server, selector, key)
            .with("SENDER_NAME", "Zoë 日本 🎉 Müller-Lüdenscheidt")
            .with("COMPANY_NAME", "Café Ünïcode 日本語 Consulting GmbH 🎉")
            .with(
                "COMPANY_POSTAL_ADDRESS",
                "1 Rue de l'Église, 8001 Zürich 🇨🇭",
            )
            .with("TEMPLATES_DIR", "packs")
            .with("ENABLE_STRIPE", "TRUE")
            .with("STRIPE_API_KEY", "sk_test_hossbillingtests")
            .with("STRIPE_API_BASE", &stub.server.url)
            .with("STRIPE_WEBHOOK_SECRET", "whsec_test_webhook_secret")
            .with("PORTAL_BASE_URL", "https://portal.carter.test")
            .with("STRIPE_MAX_AMOUNT", "5000")
            .with(
                "PAYMENT_INSTRUCTIONS",
                "Überweisung an IBAN DE00 0000 — 日本",
            );
        std::fs::create_dir_all(sb.path("packs")).unwrap();
        let outreach = "subjects = [\"Ünïcödé {{ company }} 日本語のテキスト 🎉 long enough to fold\"]\r\nbodies = [\"\"\"Hi {{ first_name | default(\\\"there\\\") }} 🎉,\r\n\r\nFrom here on, a line starts with From.\r\n.a line starts with a dot\r\n..\r\n.\r\nTrailing spaces   \r\n\ttabbed line\t\r\n{{ footer }}\r\n\r\n\r\n\r\n\"\"\"]\r\n";
        std::fs::write(sb.path("packs/general.toml"), outreach).unwrap();
        let mut outputs = vec![sb.run(&[
            "lead",
            "add",
            "--email",
            "ann@gadgets.com",
            "--company",
            "Gädgets 日本 🎉 Ltd",
            "--name",
            "Ännä Ōta",
        ])];
        let out = sb.run(&["send-outreach", "--json"]);
        outputs.push(out);
        outputs.push(sb.run(&["send-test-email", "--to", "me@hoss-operator.com"]));
        let c: Value = sb.json(&[
            "customer",
            "add",
            "--company",
            "Zähnärzte 日本 🦷 GmbH",
            "--email",
            "pat@acme-dental.com",
            "--name",
            "Påt Büyer",
            "--json",
        ]);
        let id = c["id"].as_i64().unwrap().to_string();
        sb.done_task(&id, "From the audit: Ünïcödé 日本 🎉", "1200.00");
        sb.done_task(&id, ".dotted task", "300.50");
        outputs.push(sb.run(&["bill", "--json"]));
        let messages = server.messages();
        assert_eq!(messages.len(), 3, "{key}: {outputs:#?}");
        for m in &messages {
            let (ok, log) = verify(&m.data, dns.port);
            assert!(
                ok,
                "{key}: dkimpy refused:\n{log}\n{}",
                String::from_utf8_lossy(&m.data)
            );
        }
    }
}

/// A key whose line breaks were lost (pasted through a secret store): in
/// release mode `check` fails the deploy with exit 78 and the reason,
/// and neither it nor any command quotes the key back.
#[test]
fn a_key_pasted_on_one_line_blocks_a_release_without_showing_the_key() {
    let server = SmtpServer::start(SmtpMode::Accept);
    let key = "rsa2048.pkcs8.pem";
    let text = std::fs::read_to_string(fixture(key)).unwrap();
    let sb = Sandbox::new();
    for (name, pasted) in [
        ("spaces.pem", text.replace('\n', " ")),
        ("joined.pem", text.replace('\n', "")),
    ] {
        std::fs::write(sb.path(name), pasted).unwrap();
        let sb = signing(&server, "s1", key)
            .with(
                "DKIM_PRIVATE_KEY_FILE",
                &sb.path(name).display().to_string(),
            )
            .with("RELEASE_MODE", "TRUE");
        let out = sb.run(&["check"]);
        assert_eq!(out.code, 78, "{out:?}");
        assert!(out.stdout.contains("line breaks lost"), "{out:?}");
        let sent = sb.run(&["send-test-email", "--to", "me@hoss-operator.com"]);
        for out in [&out, &sent] {
            for line in text.lines().filter(|l| !l.starts_with("-----")) {
                for chunk in line.as_bytes().chunks(16) {
                    let chunk = std::str::from_utf8(chunk).unwrap();
                    assert!(
                        !out.stdout.contains(chunk) && !out.stderr.contains(chunk),
                        "{out:?}"
                    );
                }
            }
        }
    }
    assert!(server.messages().is_empty());
}

/// Why email falls back, as `check --json` says.
fn email_reason(sb: &Sandbox) -> String {
    let check: Value = sb.json(&["check", "--json"]);
    check["subsystems"]["email"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
