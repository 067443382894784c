//! The small HTTP/1.1 front of `hoss serve`, on std threads and sockets.
//!
//! Why not a server crate: the one we used (tiny_http) shared the socket
//! timeouts between `accept()` and reads, died on the first accept error, and
//! let eight clients trickling bodies hold every worker. This front is small
//! enough to read in one sitting and makes each of those limits explicit:
//!
//! * The listener has no socket timeouts. A non-blocking accept loop waits in
//!   `poll(2)` and checks the stop flag a few times a second, so `serve` runs
//!   until SIGTERM/SIGINT however long it is idle. Transient accept errors
//!   (aborted connections, out of descriptors or buffers) are logged and
//!   survived with a short back-off; any other listener error is returned.
//! * Each connection gets ONE deadline ([`Front::deadline`]) for the request
//!   head and body together; every read waits only for the time left of it,
//!   so slow headers and slow bodies are cut off alike (408).
//! * Requests are read by at most [`Front::connections`] connection threads;
//!   when all are busy the accept loop answers 503 at once. Only complete
//!   requests are queued for the workers that touch the database (queue full
//!   → 503); the site answers what needs no database (health checks, 404s,
//!   405s) on the connection thread.
//! * One request per connection (`Connection: close`); bodies only with
//!   `Content-Length` (none on a POST, or `Transfer-Encoding` → 411; over the
//!   route's limit → 413, refused before a byte of it is read).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, SyncSender, TrySendError, channel};
use std::time::{Duration, Instant};

use log::{error, warn};
use rustix::io::Errno;

/// The request head, plus the path without its query string.
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    pub fn html(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: "text/html; charset=utf-8",
            body,
        }
    }

    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_string(),
        }
    }
}

/// What the site wants done with a request once its head has arrived.
pub enum Route {
    /// Answer now, on the connection thread; the body is never read.
    Now(Response),
    /// Read a body of at most `body_limit` bytes, then queue the request
    /// for a worker.
    Work { body_limit: usize },
}

/// A complete request for a worker; [`Job::reply`] sends the answer back to
/// the connection thread, which writes it.
pub struct Job {
    pub request: Request,
    pub body: Vec<u8>,
    reply: Sender<Response>,
}

impl Job {
    pub fn reply(self, response: Response) {
        let _ = self.reply.send(response);
    }
}

pub type Router = dyn Fn(&Request) -> Route + Send + Sync;

/// The limits of the front, and the headers every answer carries.
pub struct Front {
    /// Time from accepting a connection to having its whole request.
    pub deadline: Duration,
    /// Connection threads reading requests or waiting on a worker.
    pub connections: usize,
    /// Longest time to write an answer.
    pub write_timeout: Duration,
    pub headers: &'static [(&'static str, &'static str)],
}

/// Largest request head (request line and headers).
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;
/// How often the accept loop looks at the stop flag while idle.
const POLL: Duration = Duration::from_millis(200);
/// After answering, how long to read and discard what the client still sends
/// (so that closing does not reset the connection under the answer).
const LINGER: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serves `listener` until `stop` is set (then `Ok`) or the listener fails
/// (then the error). Either way it returns only after every connection
/// thread has finished, so dropping `queue`'s last sender ends the workers.
pub fn serve(
    listener: TcpListener,
    front: Front,
    stop: &AtomicBool,
    router: Arc<Router>,
    queue: SyncSender<Job>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let front = Arc::new(front);
    let active = Arc::new(AtomicUsize::new(0));
    let mut backoff = Duration::ZERO;
    let mut ended = Ok(());
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                backoff = Duration::ZERO;
                hand_off(stream, &front, &active, &router, &queue);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if let Err(e) = wait_for_connection(&listener) {
                    error!("[SERVE][ERROR] listener failed: {e}");
                    ended = Err(e);
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if is_transient(&e) => {
                backoff = (backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
                warn!("[SERVE][ACCEPT] accept failed: {e}; retrying in {backoff:?}");
                std::thread::sleep(backoff);
            }
            Err(e) => {
                error!("[SERVE][ERROR] listener failed: {e}");
                ended = Err(e);
                break;
            }
        }
    }
    drop(listener);
    while active.load(Ordering::SeqCst) > 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    ended
}

/// Waits until a connection is pending, a signal arrives or [`POLL`] passes.
fn wait_for_connection(listener: &TcpListener) -> std::io::Result<()> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(listener, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: 0,
        tv_nsec: POLL.as_nanos() as _,
    };
    match poll(&mut fds, Some(&timeout)) {
        Ok(_) | Err(Errno::INTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Accept errors that say nothing about the listener itself: the pending
/// connection went away, or the process or system is briefly out of
/// descriptors or memory. Linux's accept(2) also asks to retry on the
/// network errors it passes through from the new socket.
fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock
            | ErrorKind::Interrupted
            | ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionReset
            | ErrorKind::OutOfMemory
            | ErrorKind::TimedOut
    ) || Errno::from_io_error(e).is_some_and(|errno| {
        [
            Errno::MFILE,
            Errno::NFILE,
            Errno::NOBUFS,
            Errno::NOMEM,
            Errno::PROTO,
            Errno::PERM,
            Errno::NOPROTOOPT,
            Errno::HOSTDOWN,
            Errno::NETDOWN,
            Errno::NETUNREACH,
            Errno::HOSTUNREACH,
            Errno::OPNOTSUPP,
        ]
        .contains(&errno)
    })
}

/// Gives the connection to a thread of its own, or answers 503 at once when
/// every connection thread is busy.
fn hand_off(
    stream: TcpStream,
    front: &Arc<Front>,
    active: &Arc<AtomicUsize>,
    router: &Arc<Router>,
    queue: &SyncSender<Job>,
) {
    if active.load(Ordering::SeqCst) >= front.connections {
        warn!(
            "[SERVE][BUSY] connections={} all busy; answered 503",
            front.connections
        );
        refuse_busy(stream, front);
        return;
    }
    active.fetch_add(1, Ordering::SeqCst);
    let slot = Slot(active.clone());
    let (front_, router, queue) = (front.clone(), router.clone(), queue.clone());
    let spawned = std::thread::Builder::new()
        .name("hoss-http".into())
        .spawn(move || {
            let _slot = slot;
            connection(stream, &front_, router.as_ref(), &queue);
        });
    if let Err(e) = spawned {
        // The closure (stream and slot) is dropped with the error.
        warn!("[SERVE][BUSY] cannot start a connection thread: {e}; connection closed");
    }
}

/// One taken connection thread; given back when dropped, even on a panic.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// 503 from the accept loop: one small write that cannot block for long,
/// then whatever of the request already arrived is discarded before closing.
fn refuse_busy(mut stream: TcpStream, front: &Front) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let bytes = encode(
        &Response::text(503, "busy, try again"),
        false,
        front.headers,
    );
    let _ = stream.write_all(&bytes);
    let _ = stream.shutdown(Shutdown::Write);
    if stream.set_nonblocking(true).is_ok() {
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
                break;
            }
        }
    }
}

/// Everything that happens on one connection: read the request within the
/// deadline, get its answer, write it, close gently.
fn connection(mut stream: TcpStream, front: &Front, router: &Router, queue: &SyncSender<Job>) {
    let deadline = Instant::now() + front.deadline;
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let (response, head_only) = match read_request(&mut stream, deadline, router) {
        Incoming::Gone => return,
        Incoming::Refused(response) => (response, false),
        Incoming::Answered(request, response) => (response, request.method == "HEAD"),
        Incoming::Complete(request, body) => {
            let head_only = request.method == "HEAD";
            (work(request, body, queue), head_only)
        }
    };
    let bytes = encode(&response, head_only, front.headers);
    if write_by(&mut stream, &bytes, Instant::now() + front.write_timeout).is_ok() {
        let _ = stream.shutdown(Shutdown::Write);
        linger(&mut stream);
    }
}

/// Queues a complete request for a worker and waits for its answer.
fn work(request: Request, body: Vec<u8>, queue: &SyncSender<Job>) -> Response {
    let (reply, answer) = channel();
    let job = Job {
        request,
        body,
        reply,
    };
    match queue.try_send(job) {
        Ok(()) => answer.recv().unwrap_or_else(|_| {
            error!("[SERVE][ERROR] a worker ended without answering");
            Response::text(500, "Something went wrong. Please try again later.")
        }),
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            warn!("[SERVE][BUSY] queue full; answered 503");
            Response::text(503, "busy, try again")
        }
    }
}

/// How reading a request ended.
enum Incoming {
    /// The client went away (or sent nothing): nobody to answer.
    Gone,
    /// Malformed, too large, too slow: answered without the site.
    Refused(Response),
    /// The site answered from the head alone.
    Answered(Request, Response),
    /// Head and whole body, for a worker.
    Complete(Request, Vec<u8>),
}

fn read_request(stream: &mut TcpStream, deadline: Instant, router: &Router) -> Incoming {
    let mut buf = Vec::with_capacity(2048);
    let (request, head_len) = loop {
        match parse_head(&buf) {
            Head::Complete(request, len) => break (request, len),
            Head::Invalid(response) => return Incoming::Refused(response),
            Head::Partial if buf.len() >= MAX_HEAD => {
                return Incoming::Refused(Response::text(431, "request head too large"));
            }
            Head::Partial => match read_some(stream, &mut buf, MAX_HEAD, deadline) {
                Ok(0) => return Incoming::Gone,
                Ok(_) => {}
                Err(Slow) if buf.is_empty() => return Incoming::Gone,
                Err(Slow) => return Incoming::Refused(too_slow()),
            },
        }
    };
    let length = match body_length(&request) {
        Ok(length) => length,
        Err(response) => return Incoming::Refused(response),
    };
    let body_limit = match router(&request) {
        Route::Now(response) => return Incoming::Answered(request, response),
        Route::Work { body_limit } => body_limit,
    };
    let length = match length {
        Some(n) => n,
        None if request.method == "POST" => {
            return Incoming::Refused(Response::text(411, "Content-Length required"));
        }
        None => 0,
    };
    if length > body_limit {
        return Incoming::Refused(Response::text(413, "request body too large"));
    }
    let mut body = buf.split_off(head_len);
    body.truncate(length);
    if body.len() < length
        && request
            .header("Expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        && write_by(stream, b"HTTP/1.1 100 Continue\r\n\r\n", deadline).is_err()
    {
        return Incoming::Gone;
    }
    body.reserve_exact(length - body.len());
    while body.len() < length {
        match read_some(stream, &mut body, length, deadline) {
            Ok(0) => return Incoming::Gone,
            Ok(_) => {}
            Err(Slow) => return Incoming::Refused(too_slow()),
        }
    }
    Incoming::Complete(request, body)
}

fn too_slow() -> Response {
    Response::text(408, "request not received in time")
}

enum Head {
    Partial,
    Complete(Request, usize),
    Invalid(Response),
}

fn parse_head(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(buf) {
        Ok(httparse::Status::Partial) => Head::Partial,
        Ok(httparse::Status::Complete(len)) => {
            let target = parsed.path.unwrap_or_default();
            let request = Request {
                method: parsed.method.unwrap_or_default().to_string(),
                path: target.split('?').next().unwrap_or_default().to_string(),
                headers: parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect(),
            };
            Head::Complete(request, len)
        }
        Err(httparse::Error::TooManyHeaders) => {
            Head::Invalid(Response::text(431, "too many request headers"))
        }
        Err(_) => Head::Invalid(Response::text(400, "bad request")),
    }
}

/// The declared body length: `None` without `Content-Length`; an error
/// answer for a transfer coding (only `Content-Length` bodies are read) or a
/// length that is not one plain number.
fn body_length(request: &Request) -> Result<Option<usize>, Response> {
    if request.header("Transfer-Encoding").is_some() {
        return Err(Response::text(411, "Content-Length required"));
    }
    let mut length = None;
    for (_, value) in request
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
    {
        let value = value.trim();
        let n = match value.parse::<u64>() {
            Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(Response::text(400, "bad Content-Length")),
        };
        if length.is_some_and(|l| l != n) {
            return Err(Response::text(400, "bad Content-Length"));
        }
        length = Some(n);
    }
    // Beyond usize means beyond any limit.
    Ok(length.map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
}

/// The request did not arrive before its deadline.
struct Slow;

/// One read appended to `buf`, which grows to at most `upto` bytes, waiting
/// no later than `deadline`. `Ok(0)` is the end of the stream or a broken
/// connection.
fn read_some(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    upto: usize,
    deadline: Instant,
) -> Result<usize, Slow> {
    let mut chunk = [0u8; 16 * 1024];
    let want = upto.saturating_sub(buf.len()).min(chunk.len());
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(Slow);
        }
        match stream.read(&mut chunk[..want]) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(Slow);
            }
            Err(_) => return Ok(0),
        }
    }
}

/// Writes all of `bytes` by `deadline` at the latest.
fn write_by(stream: &mut TcpStream, mut bytes: &[u8], deadline: Instant) -> Result<(), ()> {
    while !bytes.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_write_timeout(Some(left)).is_err() {
            return Err(());
        }
        match stream.write(bytes) {
            Ok(0) => return Err(()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Err(()),
        }
    }
    Ok(())
}

/// Reads and discards until the client closes, for at most [`LINGER`].
fn linger(stream: &mut TcpStream) {
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 16 * 1024];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn encode(response: &Response, head_only: bool, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        crate::clock::http_date(crate::clock::system_now()),
        response.content_type,
        response.body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(&response.body);
    }
    out.into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(errno: Errno) -> std::io::Error {
        std::io::Error::from_raw_os_error(errno.raw_os_error())
    }

    #[test]
    fn accept_errors_about_one_connection_or_scarce_resources_are_survived() {
        for errno in [
            Errno::AGAIN,
            Errno::INTR,
            Errno::CONNABORTED,
            Errno::MFILE,
            Errno::NFILE,
            Errno::NOBUFS,
            Errno::NOMEM,
            Errno::PROTO,
        ] {
            assert!(is_transient(&os(errno)), "{errno:?}");
        }
    }

    #[test]
    fn accept_errors_about_the_listener_itself_are_fatal() {
        for errno in [Errno::BADF, Errno::INVAL, Errno::NOTSOCK, Errno::FAULT] {
            assert!(!is_transient(&os(errno)), "{errno:?}");
        }
    }

    fn head(text: &str) -> Request {
        match parse_head(text.as_bytes()) {
            Head::Complete(request, _) => request,
            _ => panic!("{text:?}"),
        }
    }

    #[test]
    fn body_length_needs_one_plain_content_length_and_no_transfer_coding() {
        let ok = head("POST /a?x=1 HTTP/1.1\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(ok.path, "/a");
        assert_eq!(body_length(&ok).ok(), Some(Some(12)));
        let none = head("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(body_length(&none).ok(), Some(None));
        for (text, status) in [
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
            ("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400),
            (
                "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                400,
            ),
        ] {
            assert_eq!(
                body_length(&head(text)).err().map(|r| r.status),
                Some(status),
                "{text:?}"
            );
        }
        assert!(matches!(parse_head(b"GET / HTTP/1.1\r\n"), Head::Partial));
        assert!(matches!(
            parse_head(b"GET /\x01 HTTP/1.1\r\n\r\n"),
            Head::Invalid(_)
        ));
    }
}
