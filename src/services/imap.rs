//! A read-only IMAP session (SPEC §13): connect, log in (LOGIN or
//! XOAUTH2), `EXAMINE` the folder, search by UID, fetch headers in batches
//! and bodies with `BODY.PEEK`. Nothing here sets a flag, moves or deletes.
//!
//! Every step has a deadline of `IMAP_TIMEOUT_SECS` (a body fetch, that
//! long per message), however the server paces its bytes: a peer that
//! answers one byte at a time cannot hold a pass for ever.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::config::{ImapAuth as Auth, ImapTls as Tls};
use crate::domain::inbox::MAX_BODY_BYTES;

/// Where to read and as whom. `secret` is the password or the token.
pub struct Account<'a> {
    pub host: &'a str,
    pub port: u16,
    pub tls: Tls,
    pub auth: Auth,
    pub username: &'a str,
    pub secret: &'a str,
    pub timeout: Duration,
}

/// Why a pass could not read the inbox.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The server was not reached or the connection failed: try again later.
    #[error("{0}")]
    Unreachable(String),
    /// The server refused the account or the folder: the operator must act.
    #[error("{0}")]
    Account(String),
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// When the current step must be over; shared by the session and its socket.
#[derive(Clone)]
struct Deadline(Arc<Mutex<Instant>>);

impl Deadline {
    fn new(after: Duration) -> Deadline {
        Deadline(Arc::new(Mutex::new(Instant::now() + after)))
    }

    /// Starts a new step that may last `after`.
    fn reset(&self, after: Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now() + after;
    }

    /// The time left, or a timeout error once it is spent.
    fn left(&self) -> std::io::Result<Duration> {
        let at = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        let left = at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "IMAP_TIMEOUT_SECS passed before the server finished answering",
            ));
        }
        Ok(left)
    }
}

/// The TCP socket, each read and write bounded by what is left of the
/// step's deadline (not a fresh timeout per read).
struct Timed {
    tcp: TcpStream,
    deadline: Deadline,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.deadline.left()?;
        self.tcp.set_read_timeout(Some(left))?;
        self.tcp.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let left = self.deadline.left()?;
        self.tcp.set_write_timeout(Some(left))?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush()
    }
}

/// An open, logged-in session.
pub struct Session {
    inner: imap::Session<Box<dyn Stream>>,
    deadline: Deadline,
    timeout: Duration,
}

/// What `EXAMINE` says about the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Folder {
    pub uid_validity: u32,
    pub uid_next: Option<u32>,
    pub exists: u32,
}

/// One message's headers (and, when asked for, its body up to 256 KiB).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub uid: u32,
    pub bytes: Vec<u8>,
    pub internal_date: Option<i64>,
}

fn unreachable(host: &str, port: u16, e: impl std::fmt::Display) -> ImapError {
    ImapError::Unreachable(format!("IMAP server {host}:{port}: {e}"))
}

fn connect_tcp(a: &Account, deadline: &Deadline) -> Result<Timed, ImapError> {
    let addrs = (a.host, a.port)
        .to_socket_addrs()
        .map_err(|e| unreachable(a.host, a.port, e))?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, a.timeout) {
            Ok(tcp) => {
                return Ok(Timed {
                    tcp,
                    deadline: deadline.clone(),
                });
            }
            Err(e) => last = Some(e),
        }
    }
    Err(unreachable(
        a.host,
        a.port,
        last.map_or("no address".to_string(), |e| e.to_string()),
    ))
}

fn tls_stream(host: &str, port: u16, tcp: Timed) -> Result<Box<dyn Stream>, ImapError> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| unreachable(host, port, e))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| ImapError::Account(format!("IMAP_HOST {host:?} is not a valid TLS name")))?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| unreachable(host, port, e))?;
    Ok(Box::new(rustls::StreamOwned::new(conn, tcp)))
}

/// The plain-text prologue of STARTTLS: greeting, command, tagged OK.
/// Read a byte at a time so nothing of the TLS handshake is consumed.
fn start_tls(a: &Account, mut tcp: Timed) -> Result<Timed, ImapError> {
    let mut line = Vec::new();
    let mut read_line = |tcp: &mut Timed| -> Result<String, ImapError> {
        line.clear();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\n") {
            match tcp.read(&mut byte) {
                Ok(0) => return Err(unreachable(a.host, a.port, "closed during STARTTLS")),
                Ok(_) if line.len() < 4096 => line.push(byte[0]),
                Ok(_) => return Err(unreachable(a.host, a.port, "overlong line")),
                Err(e) => return Err(unreachable(a.host, a.port, e)),
            }
        }
        Ok(String::from_utf8_lossy(&line).into_owned())
    };
    read_line(&mut tcp)?;
    tcp.write_all(b"h0 STARTTLS\r\n")
        .map_err(|e| unreachable(a.host, a.port, e))?;
    loop {
        let reply = read_line(&mut tcp)?;
        if let Some(status) = reply.strip_prefix("h0 ") {
            if status.starts_with("OK") {
                return Ok(tcp);
            }
            return Err(ImapError::Account(format!(
                "IMAP server {} refused STARTTLS: {}",
                a.host,
                status.trim()
            )));
        }
    }
}

struct XOAuth2<'a> {
    user: &'a str,
    token: &'a str,
}

impl imap::Authenticator for XOAuth2<'_> {
    type Response = String;
    fn process(&self, _: &[u8]) -> String {
        format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token)
    }
}

/// Classifies a protocol error: a `NO`/`BAD` is the account's problem, the
/// rest (I/O, timeouts, a closed connection) is the network's.
fn failed(a: &Account, what: &str, e: imap::Error) -> ImapError {
    match e {
        imap::Error::No(n) => ImapError::Account(format!("IMAP {what} refused: {}", n.information)),
        imap::Error::Bad(b) => {
            ImapError::Account(format!("IMAP {what} rejected: {}", b.information))
        }
        other => unreachable(a.host, a.port, format!("{what}: {other}")),
    }
}

impl Session {
    /// Connects and logs in. The secret never appears in an error.
    pub fn open(a: &Account) -> Result<Session, ImapError> {
        let deadline = Deadline::new(a.timeout);
        let tcp = connect_tcp(a, &deadline)?;
        let stream: Box<dyn Stream> = match a.tls {
            Tls::Implicit => tls_stream(a.host, a.port, tcp)?,
            Tls::None => Box::new(tcp),
            Tls::StartTls => tls_stream(a.host, a.port, start_tls(a, tcp)?)?,
        };
        // The greeting and the TLS handshake make one step, the login another.
        deadline.reset(a.timeout);
        let mut client = imap::Client::new(stream);
        if a.tls == Tls::StartTls {
            // The greeting came before STARTTLS; none follows the handshake.
            client.greeting_read = true;
        } else {
            client
                .read_greeting()
                .map_err(|e| failed(a, "greeting", e))?;
        }
        deadline.reset(a.timeout);
        let login = match a.auth {
            Auth::Login => client.login(a.username, a.secret),
            Auth::XOAuth2 => client.authenticate(
                "XOAUTH2",
                &XOAuth2 {
                    user: a.username,
                    token: a.secret,
                },
            ),
        };
        let inner = login.map_err(|(e, _)| match e {
            imap::Error::No(_) | imap::Error::Bad(_) => ImapError::Account(format!(
                "IMAP login as {} refused by {}",
                a.username, a.host
            )),
            other => unreachable(a.host, a.port, format!("login: {other}")),
        })?;
        Ok(Session {
            inner,
            deadline,
            timeout: a.timeout,
        })
    }

    /// Starts a step that may take `steps` times `IMAP_TIMEOUT_SECS`.
    fn step(&self, steps: usize) {
        let steps = u32::try_from(steps.max(1)).unwrap_or(u32::MAX);
        self.deadline.reset(self.timeout.saturating_mul(steps));
    }

    /// Opens `folder` read-only.
    pub fn examine(&mut self, folder: &str) -> Result<Folder, ImapError> {
        self.step(1);
        let mailbox = self.inner.examine(folder).map_err(|e| match e {
            imap::Error::No(n) => {
                ImapError::Account(format!("IMAP folder {folder:?}: {}", n.information))
            }
            other => ImapError::Unreachable(format!("EXAMINE {folder:?}: {other}")),
        })?;
        let uid_validity = mailbox.uid_validity.ok_or_else(|| {
            ImapError::Account(format!("IMAP folder {folder:?} has no UIDVALIDITY"))
        })?;
        Ok(Folder {
            uid_validity,
            uid_next: mailbox.uid_next,
            exists: mailbox.exists,
        })
    }

    /// UIDs after `last_uid`, or (when `None`) received since `since`
    /// (`d-Mon-yyyy`), ascending.
    pub fn new_uids(&mut self, last_uid: Option<u32>, since: &str) -> Result<Vec<u32>, ImapError> {
        let query = match last_uid {
            Some(uid) => format!("UID {}:*", uid.saturating_add(1)),
            None => format!("SINCE {since}"),
        };
        self.step(1);
        let found = self
            .inner
            .uid_search(&query)
            .map_err(|e| ImapError::Unreachable(format!("UID SEARCH: {e}")))?;
        let mut uids: Vec<u32> = found
            .into_iter()
            // `n:*` always matches the last message, even below n.
            .filter(|u| last_uid.is_none_or(|last| *u > last))
            .collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// Headers of `uids` (one request), in UID order.
    pub fn headers(&mut self, uids: &[u32]) -> Result<Vec<Fetched>, ImapError> {
        self.step(1);
        self.fetch(uids, "(UID INTERNALDATE BODY.PEEK[HEADER])", |f| f.header())
    }

    /// Whole messages, each cut at 256 KiB (and given its own timeout).
    pub fn bodies(&mut self, uids: &[u32]) -> Result<Vec<Fetched>, ImapError> {
        self.step(uids.len());
        let query = format!("(UID INTERNALDATE BODY.PEEK[]<0.{MAX_BODY_BYTES}>)");
        self.fetch(uids, &query, |f| f.body())
    }

    fn fetch(
        &mut self,
        uids: &[u32],
        query: &str,
        part: impl for<'f> Fn(&'f imap::types::Fetch<'f>) -> Option<&'f [u8]>,
    ) -> Result<Vec<Fetched>, ImapError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let fetches = self
            .inner
            .uid_fetch(&set, query)
            .map_err(|e| ImapError::Unreachable(format!("UID FETCH: {e}")))?;
        let mut out: Vec<Fetched> = fetches
            .iter()
            .filter_map(|f| {
                let uid = f.uid?;
                uids.contains(&uid).then(|| Fetched {
                    uid,
                    bytes: part(f).unwrap_or_default().to_vec(),
                    internal_date: f.internal_date().map(|d| d.timestamp()),
                })
            })
            .collect();
        out.sort_by_key(|f| f.uid);
        out.dedup_by_key(|f| f.uid);
        Ok(out)
    }

    /// Says goodbye; errors are ignored (the pass is over either way).
    pub fn close(mut self) {
        self.step(1);
        let _ = self.inner.logout();
    }
}
