//! The local servers that stand in for the outside world: an HTTP recorder
//! with a handler (SendGrid, the search API, a healthcheck), a Stripe that
//! honours idempotency keys, a real SMTP session (mailin), a peer that hangs
//! up, and a trap that must see no connection at all; plus what goes with
//! them: Stripe's webhook signature, a closed port, waiting for a request.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::Sandbox;

/// One request a fake server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (a SendGrid mail send, a healthcheck's report).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {}: not JSON ({e}): {}",
                self.method, self.url, self.body
            )
        })
    }

    /// The first recipient of a SendGrid v3 mail send.
    pub fn mail_to(&self) -> String {
        self.json()["personalizations"][0]["to"][0]["email"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// An HTTP stand-in on 127.0.0.1 that records every request and answers
/// with `handler`'s (status, body).
pub struct FakeServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    server: Arc<tiny_http::Server>,
}

impl FakeServer {
    pub fn start<F>(handler: F) -> FakeServer
    where
        F: Fn(&Recorded) -> (u16, String) + Send + Sync + 'static,
    {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind fake server"));
        let url = format!("http://{}", server.server_addr().to_ip().expect("ip addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (srv, reqs) = (server.clone(), requests.clone());
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for mut req in srv.incoming_requests() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let rec = Recorded {
                    method: req.method().to_string(),
                    url: req.url().to_string(),
                    headers: req
                        .headers()
                        .iter()
                        .map(|h| (h.field.to_string(), h.value.to_string()))
                        .collect(),
                    body,
                };
                reqs.lock().unwrap().push(rec.clone());
                let handler = handler.clone();
                std::thread::spawn(move || {
                    let (status, body) = handler(&rec);
                    let response = tiny_http::Response::from_string(body)
                        .with_status_code(status)
                        .with_header(
                            "Content-Type: application/json"
                                .parse::<tiny_http::Header>()
                                .unwrap(),
                        );
                    let _ = req.respond(response);
                });
            }
        });
        FakeServer {
            url,
            requests,
            server,
        }
    }

    /// A stand-in that gives every request the same canned answer.
    pub fn answering(status: u16, body: impl Into<String>) -> FakeServer {
        let body = body.into();
        FakeServer::start(move |_| (status, body.clone()))
    }

    /// A SendGrid stand-in: every mail send accepted (202), every
    /// suppression list empty (what `sync-inbox` pulls).
    pub fn sendgrid() -> FakeServer {
        FakeServer::start(sendgrid_answer)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The mail sends it received (not the suppression pulls).
    pub fn mail_sends(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.url.starts_with("/v3/mail/send"))
            .collect()
    }
}

/// What SendGrid answers: 202 to a mail send, an empty list to a pull.
pub fn sendgrid_answer(r: &Recorded) -> (u16, String) {
    if r.url.starts_with("/v3/suppression/") {
        (200, "[]".into())
    } else {
        (202, String::new())
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// A TCP listener that every API base, search URL, SMTP host and ping URL
/// points at. It counts connections of any protocol and answers none: in
/// DRY_RUN it must see nothing at all.
pub struct Trap {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl Trap {
    pub fn start() -> Trap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind trap");
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                count.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Trap { addr, connections }
    }

    /// Connections seen so far (after a moment for the backlog to drain).
    pub fn connections(&self) -> usize {
        std::thread::sleep(Duration::from_millis(150));
        self.connections.load(Ordering::SeqCst)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Points every outside address of `sandbox` at the trap.
    pub fn arm(&self, sandbox: &mut Sandbox) {
        let base = format!("http://{}", self.addr);
        sandbox.set("SENDGRID_API_BASE", &base);
        sandbox.set("STRIPE_API_BASE", &base);
        sandbox.set("LEAD_SEARCH_API_URL", &format!("{base}/search"));
        sandbox.set("SMTP_HOST", "127.0.0.1");
        sandbox.set("SMTP_PORT", &self.addr.port().to_string());
        sandbox.set("IMAP_HOST", "127.0.0.1");
        sandbox.set("IMAP_PORT", &self.addr.port().to_string());
    }
}

/// Polls `done` every 20 ms until it holds; fails the test with `what` if
/// it still does not after `limit` (a stand-in that never saw its request).
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An address on 127.0.0.1 where nobody listens (a port bound and let go
/// again): a connection to it is refused.
pub fn closed_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a port to let go")
        .local_addr()
        .unwrap()
}

/// One message an SMTP stand-in accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

/// How the SMTP stand-in answers.
#[derive(Debug, Clone, Copy)]
pub enum SmtpMode {
    Accept,
    /// Refuse every RCPT with this code (550 permanent, 451 transient).
    RejectRcpt(u16),
    /// Offer AUTH PLAIN/LOGIN (in plain text, loopback only) and accept only
    /// this password; a wrong one gets 535.
    Auth(&'static str),
}

/// A real SMTP server session on 127.0.0.1 (mailin's state machine over a
/// TCP socket), keeping every accepted message.
pub struct SmtpServer {
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
}

struct SmtpHandler {
    mode: SmtpMode,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
    sink: Arc<Mutex<Vec<Received>>>,
}

impl mailin::Handler for SmtpHandler {
    fn auth_plain(&mut self, _authz: &str, _authn: &str, password: &str) -> mailin::Response {
        self.auth_login("", password)
    }

    fn auth_login(&mut self, _username: &str, password: &str) -> mailin::Response {
        match self.mode {
            SmtpMode::Auth(expected) if password == expected => mailin::response::AUTH_OK,
            _ => mailin::response::INVALID_CREDENTIALS,
        }
    }

    fn rcpt(&mut self, _to: &str) -> mailin::Response {
        match self.mode {
            SmtpMode::Accept | SmtpMode::Auth(_) => mailin::response::OK,
            SmtpMode::RejectRcpt(code) => {
                mailin::Response::custom(code, "refused by the test server".into())
            }
        }
    }

    fn data_start(
        &mut self,
        _domain: &str,
        from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin::Response {
        self.from = from.to_string();
        self.to = to.to_vec();
        self.data.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin::Response {
        self.sink.lock().unwrap().push(Received {
            from: self.from.clone(),
            to: self.to.clone(),
            data: std::mem::take(&mut self.data),
        });
        mailin::response::OK
    }
}

impl SmtpServer {
    pub fn start(mode: SmtpMode) -> SmtpServer {
        use std::io::{BufRead, BufReader, Write};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind smtp");
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = messages.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let peer = stream.peer_addr().unwrap().ip();
                    let handler = SmtpHandler {
                        mode,
                        from: String::new(),
                        to: Vec::new(),
                        data: Vec::new(),
                        sink,
                    };
                    let mut builder = mailin::SessionBuilder::new("hoss-test-smtp");
                    if let SmtpMode::Auth(_) = mode {
                        builder
                            .enable_auth(mailin::AuthMechanism::Plain)
                            .enable_auth(mailin::AuthMechanism::Login)
                            .insecure_enable_plaintext_auth();
                    }
                    let mut session = builder.build(peer, handler);
                    let mut writer = stream.try_clone().unwrap();
                    let mut reader = BufReader::new(stream);
                    let _ = session.greeting().write_to(&mut writer);
                    let mut line = Vec::new();
                    loop {
                        line.clear();
                        match reader.read_until(b'\n', &mut line) {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                        let response = session.process(&line);
                        match response.action {
                            mailin::Action::NoReply => continue,
                            mailin::Action::Close | mailin::Action::UpgradeTls => {
                                let _ = response.write_to(&mut writer);
                                let _ = writer.flush();
                                break;
                            }
                            mailin::Action::Reply => {
                                let _ = response.write_to(&mut writer);
                                let _ = writer.flush();
                            }
                        }
                    }
                });
            }
        });
        SmtpServer { port, messages }
    }

    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }
}

/// An HTTP peer that reads each request whole and then hangs up without an
/// answer: the request was handed over, the outcome is unknown.
pub struct DropServer {
    pub url: String,
    requests: Arc<AtomicUsize>,
}

impl DropServer {
    pub fn start() -> DropServer {
        use std::io::{BufRead, BufReader};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind drop server");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let count = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream);
                let mut length = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0u8; length];
                let _ = std::io::Read::read_exact(&mut reader, &mut body);
                count.fetch_add(1, Ordering::SeqCst);
                drop(reader);
            }
        });
        DropServer { url, requests }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Stripe's behaviour, as much as hoss relies on: idempotent POSTs, objects
/// with ids, completed sessions per link.
#[derive(Default)]
pub struct StripeState {
    pub objects_by_key: HashMap<String, Value>,
    pub created: Vec<Value>,
    pub sessions: HashMap<String, Vec<Value>>,
    pub balance_status: Option<u16>,
    pub hang_links: bool,
    /// Milliseconds every answer waits (crash campaigns kill mid-call).
    pub delay_ms: u64,
}

pub struct StripeStub {
    pub server: FakeServer,
    pub state: Arc<Mutex<StripeState>>,
}

impl StripeStub {
    pub fn start() -> StripeStub {
        let state = Arc::new(Mutex::new(StripeState::default()));
        let shared = state.clone();
        let server = FakeServer::start(move |req| {
            let path = req.url.split('?').next().unwrap_or_default().to_string();
            let hang = shared.lock().unwrap().hang_links && path == "/v1/payment_links";
            if hang {
                // Stripe made the link, but its answer never arrives.
                let key = req
                    .header("Idempotency-Key")
                    .unwrap_or_default()
                    .to_string();
                let mut s = shared.lock().unwrap();
                let n = s.created.len() + 1;
                let link = json!({"id": format!("plink_{n}"), "url": format!("https://buy.stripe.test/{n}"), "active": true});
                s.created.push(link.clone());
                s.objects_by_key.insert(key, link);
                drop(s);
                std::thread::sleep(Duration::from_secs(30));
                return (500, "{}".into());
            }
            let delay = shared.lock().unwrap().delay_ms;
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(delay));
            }
            let mut s = shared.lock().unwrap();
            match (req.method.as_str(), path.as_str()) {
                ("GET", "/v1/balance") => match s.balance_status {
                    Some(code) => (
                        code,
                        json!({"error": {"message": "Invalid API Key provided"}}).to_string(),
                    ),
                    None => (200, json!({"object": "balance"}).to_string()),
                },
                ("POST", "/v1/prices") | ("POST", "/v1/payment_links") => {
                    let key = req
                        .header("Idempotency-Key")
                        .unwrap_or_default()
                        .to_string();
                    if let Some(existing) = s.objects_by_key.get(&key) {
                        return (200, existing.to_string());
                    }
                    let n = s.created.len() + 1;
                    let object = if path == "/v1/prices" {
                        json!({"id": format!("price_{n}"), "object": "price"})
                    } else {
                        json!({"id": format!("plink_{n}"), "url": format!("https://buy.stripe.test/{n}"), "active": true})
                    };
                    s.created.push(object.clone());
                    s.objects_by_key.insert(key, object.clone());
                    (200, object.to_string())
                }
                ("GET", "/v1/checkout/sessions") => {
                    let link = req
                        .url
                        .split("payment_link=")
                        .nth(1)
                        .unwrap_or_default()
                        .split('&')
                        .next()
                        .unwrap_or_default();
                    let data = s.sessions.get(link).cloned().unwrap_or_default();
                    (200, json!({"object": "list", "data": data}).to_string())
                }
                ("POST", p) if p.starts_with("/v1/payment_links/plink_") => (
                    200,
                    json!({"id": p.trim_start_matches("/v1/payment_links/"), "active": false})
                        .to_string(),
                ),
                _ => (
                    404,
                    json!({"error": {"message": "no such route"}}).to_string(),
                ),
            }
        });
        StripeStub { server, state }
    }

    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.method == method && r.url.split('?').next() == Some(path))
            .collect()
    }
}

/// Seconds since the Unix epoch: the `t=` of a webhook signed now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The `Stripe-Signature` header Stripe would send with `body`, signed with
/// `secret` at `t`: `t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. Written
/// here independently of hoss, so the tests do not trust hoss's own signer.
pub fn stripe_signature(secret: &str, t: i64, body: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// [`stripe_signature`] at the current time.
pub fn stripe_signature_now(secret: &str, body: &str) -> String {
    stripe_signature(secret, unix_now(), body)
}
