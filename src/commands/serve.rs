//! `hoss serve`: the small public server. `GET /portal/<token>/` (the live
//! portal page), `POST /stripe/webhook`, `GET|POST /unsubscribe/<token>`
//! (RFC 8058 one-click), `GET /healthz`.
//!
//! Hardening: bodies over 1 MiB get 413 and must arrive within 10 s (408);
//! sockets have 5 s read and write timeouts (set on the listener, inherited
//! by every accepted connection);
//! a bounded pool of workers, each with its own database connection, and a
//! bounded queue in front of it (full → 503); security headers on every
//! answer; no internal detail in any response; SIGTERM/SIGINT stop taking
//! requests, finish the ones in hand, and exit 0.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::{error, info, warn};
use tiny_http::{Header, Method, Request, Response};

use crate::app::Ctx;
use crate::commands::portal::render_page;
use crate::commands::webhook;
use crate::db::{self, customers};
use crate::domain::token::is_plausible;
use crate::error::{EXIT_OK, Error, Result};
use crate::render;

pub const WORKERS: usize = 8;
const QUEUE: usize = 64;
/// Longest wait for any single read or write on a connection.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest time a request body may take to arrive, however it trickles.
const BODY_DEADLINE: Duration = Duration::from_secs(10);

struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
}

impl Answer {
    fn html(status: u16, body: String) -> Answer {
        Answer {
            status,
            content_type: "text/html; charset=utf-8",
            body,
        }
    }

    fn text(status: u16, body: &str) -> Answer {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_string(),
        }
    }

    fn not_found() -> Answer {
        Answer::html(
            404,
            render::portal::not_found().unwrap_or_else(|_| "Not found".into()),
        )
    }
}

/// Binds with socket timeouts that every accepted connection inherits.
fn bind(listen: &str) -> Result<TcpListener> {
    let addr: SocketAddr = listen.parse().map_err(|_| {
        Error::Config(format!(
            "HOSS_LISTEN {listen:?} is not an address like 127.0.0.1:8080"
        ))
    })?;
    let listener = TcpListener::bind(addr)
        .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))?;
    let probe = TcpStream::from(
        listener
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::Internal(e.to_string()))?,
    );
    probe
        .set_read_timeout(Some(SOCKET_TIMEOUT))
        .map_err(|e| Error::Internal(e.to_string()))?;
    probe
        .set_write_timeout(Some(SOCKET_TIMEOUT))
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(listener)
}

pub fn run(ctx: &Ctx, out: &mut dyn Write) -> Result<i32> {
    let listener = bind(&ctx.config.listen)?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| Error::Internal(e.to_string()))?;
    }
    let (queue, inbox) = sync_channel::<Request>(QUEUE);
    let inbox = Arc::new(Mutex::new(inbox));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let worker = ctx.worker()?;
        let inbox = inbox.clone();
        workers.push(std::thread::spawn(move || {
            loop {
                let next = inbox.lock().map(|rx| rx.recv());
                let Ok(Ok(request)) = next else { break };
                respond(&worker, request);
                worker.flush_log();
            }
        }));
    }
    info!("[SERVE][LISTENING] addr={local} workers={WORKERS}");
    let _ = writeln!(out, "listening on http://{local}");
    let _ = out.flush();
    ctx.flush_log();
    while !stop.load(Ordering::Relaxed) {
        match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(request)) => {
                if let Err(TrySendError::Full(request)) = queue.try_send(request) {
                    warn!("[SERVE][BUSY] queue full; answered 503");
                    send(request, Answer::text(503, "busy, try again"));
                }
            }
            Ok(None) => {}
            Err(e) => {
                error!("[SERVE][ERROR] {e}");
                break;
            }
        }
    }
    drop(queue);
    for w in workers {
        let _ = w.join();
    }
    info!("[SERVE][STOPPED] addr={local}");
    Ok(EXIT_OK)
}

fn respond(ctx: &Ctx, mut request: Request) {
    let answer = route(ctx, &mut request).unwrap_or_else(|e| {
        error!(
            "[SERVE][ERROR] path={:?} error={:?}",
            path_of(&request),
            e.to_string()
        );
        Answer::text(500, "Something went wrong. Please try again later.")
    });
    send(request, answer);
}

fn path_of(request: &Request) -> String {
    request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn send(request: Request, answer: Answer) {
    let mut response = Response::from_string(answer.body).with_status_code(answer.status);
    for (k, v) in [
        ("Content-Type", answer.content_type),
        (
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cache-Control", "no-store"),
    ] {
        if let Ok(h) = Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            response.add_header(h);
        }
    }
    let _ = request.respond(response);
}

enum Body {
    Complete(Vec<u8>),
    TooLarge,
    TooSlow,
}

/// The request body: at most `limit` bytes, all of it within
/// [`BODY_DEADLINE`] — a client trickling bytes cannot hold a worker.
fn body(request: &mut Request, limit: usize) -> Body {
    if request.body_length().is_some_and(|n| n > limit) {
        return Body::TooLarge;
    }
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let reader = request.as_reader();
    loop {
        if started.elapsed() > BODY_DEADLINE {
            return Body::TooSlow;
        }
        match reader.read(&mut chunk) {
            Ok(0) => return Body::Complete(buf),
            Ok(n) if buf.len() + n > limit => return Body::TooLarge,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Body::TooSlow,
        }
    }
}

fn route(ctx: &Ctx, request: &mut Request) -> Result<Answer> {
    let path = path_of(request);
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect();
    let method = request.method().clone();
    match (segments.as_slice(), method) {
        (["healthz"], Method::Get | Method::Head) => Ok(Answer::text(200, "ok")),
        (["portal", token], Method::Get | Method::Head) => portal(ctx, token),
        (["stripe", "webhook"], Method::Post) => {
            let signature = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("Stripe-Signature"))
                .map(|h| h.value.as_str().to_string());
            let payload = match body(request, webhook::MAX_BODY) {
                Body::Complete(b) => b,
                Body::TooLarge => return Ok(Answer::text(413, "request body too large")),
                Body::TooSlow => return Ok(Answer::text(408, "request body not received in time")),
            };
            let outcome = webhook::handle(ctx, signature.as_deref(), &payload);
            // The reason stays in the operator log: a caller learns only the
            // outcome, never whether a secret is configured or what failed.
            Ok(Answer {
                status: outcome.http_status,
                content_type: "application/json",
                body: serde_json::json!({"outcome": outcome.outcome}).to_string(),
            })
        }
        (["unsubscribe", token], Method::Get) => unsubscribe(ctx, token, false),
        (["unsubscribe", token], Method::Post) => {
            match body(request, 64 * 1024) {
                Body::Complete(_) => {}
                Body::TooLarge => return Ok(Answer::text(413, "request body too large")),
                Body::TooSlow => return Ok(Answer::text(408, "request body not received in time")),
            }
            unsubscribe(ctx, token, true)
        }
        (["healthz"] | ["portal", _] | ["stripe", "webhook"] | ["unsubscribe", _], _) => {
            Ok(Answer::text(405, "method not allowed"))
        }
        _ => Ok(Answer::not_found()),
    }
}

fn portal(ctx: &Ctx, token: &str) -> Result<Answer> {
    if !is_plausible(token) {
        return Ok(Answer::not_found());
    }
    match customers::by_token(&ctx.db, token)? {
        Some(customer) => Ok(Answer::html(
            200,
            render_page(&ctx.db, &ctx.config, &customer)?,
        )),
        None => Ok(Answer::not_found()),
    }
}

fn unsubscribe(ctx: &Ctx, token: &str, confirm: bool) -> Result<Answer> {
    if !is_plausible(token) {
        return Ok(Answer::not_found());
    }
    let Some((lead_id, email)) = db::leads::by_unsubscribe_token(&ctx.db, token)? else {
        return Ok(Answer::not_found());
    };
    if confirm {
        db::immediate(&ctx.db, |tx| {
            Ok(db::suppression::add(
                tx,
                &email,
                "unsubscribe",
                Some("one-click link"),
                ctx.now(),
            )?)
        })?;
        info!("[EMAIL][UNSUBSCRIBED] lead_id={lead_id} email={email} via=link");
    }
    Ok(Answer::html(
        200,
        render::portal::unsubscribe(
            &email,
            confirm,
            ctx.config.email.company_name.as_deref().unwrap_or_default(),
        )?,
    ))
}
