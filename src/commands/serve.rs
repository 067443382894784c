//! `hoss serve`: the small public server. `GET /portal/<token>/` (the live
//! portal page), `POST /stripe/webhook`, `GET|POST /unsubscribe/<token>`
//! (RFC 8058 one-click), `POST /sendgrid/events` (SendGrid's Event
//! Webhook), `GET /healthz`.
//!
//! This file is the site: routes and what each answers. The HTTP front
//! (`services::http_server`) holds the hardening: one 10 s deadline for a
//! request's head and body together (408), bodies only with a Content-Length
//! (411) and within the route's limit (413, before reading), at most 128
//! connections being read at once (503 beyond), and an accept loop that runs
//! until SIGTERM/SIGINT however long it is idle and survives transient accept
//! errors. Only complete requests reach the pool of 8 workers, each with its
//! own database connection, through a bounded queue (full → 503); `/healthz`,
//! 404s and 405s are answered without a worker. Log lines reach the event
//! log through one writer with its own connection, every 100 ms and once
//! more when serve stops. Security headers on every answer; no internal
//! detail in any response; SIGTERM/SIGINT stop taking connections, finish
//! the requests in hand, and exit 0. A listener that fails for good is
//! logged (`[SERVE][ERROR]`) and exits 70.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::{error, info, warn};

use crate::app::Ctx;
use crate::commands::{feedback, payments};
use crate::db::{self, customers};
use crate::domain::token::is_plausible;
use crate::error::{EXIT_OK, Error, Result};
use crate::render;
use crate::services::http_server::{self, Front, Job, Request, Response, Route};

pub const WORKERS: usize = 8;
const QUEUE: usize = 64;
/// How often the workers' log lines are written to the event log, and the
/// pause after a write that failed.
const LOG_EVERY: Duration = Duration::from_millis(100);
const LOG_RETRY: Duration = Duration::from_secs(5);
/// Largest one-click unsubscribe body (`List-Unsubscribe=One-Click`).
const UNSUBSCRIBE_BODY: usize = 64 * 1024;

const FRONT: Front = Front {
    deadline: Duration::from_secs(10),
    connections: 128,
    write_timeout: Duration::from_secs(10),
    headers: &[
        (
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cache-Control", "no-store"),
    ],
};

fn not_found() -> Response {
    Response::html(
        404,
        render::portal::not_found().unwrap_or_else(|_| "Not found".into()),
    )
}

/// Where a request goes, from its method and path alone.
enum Endpoint<'a> {
    Health,
    Portal(&'a str),
    Webhook,
    SendGridEvents,
    Unsubscribe { token: &'a str, confirm: bool },
    NotAllowed,
    NotFound,
}

fn endpoint(request: &Request) -> Endpoint<'_> {
    let segments: Vec<&str> = request
        .path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect();
    let method = request.method.as_str();
    match (segments.as_slice(), method) {
        (["healthz"], "GET" | "HEAD") => Endpoint::Health,
        (["portal", token], "GET" | "HEAD") => Endpoint::Portal(token),
        (["stripe", "webhook"], "POST") => Endpoint::Webhook,
        (["sendgrid", "events"], "POST") => Endpoint::SendGridEvents,
        (["unsubscribe", token], "GET") => Endpoint::Unsubscribe {
            token,
            confirm: false,
        },
        (["unsubscribe", token], "POST") => Endpoint::Unsubscribe {
            token,
            confirm: true,
        },
        (
            ["healthz"]
            | ["portal", _]
            | ["stripe", "webhook"]
            | ["sendgrid", "events"]
            | ["unsubscribe", _],
            _,
        ) => Endpoint::NotAllowed,
        _ => Endpoint::NotFound,
    }
}

/// Decided on the connection thread from the head: answers that need no
/// database now, the rest (with their body limit) to a worker.
fn route(request: &Request) -> Route {
    match endpoint(request) {
        Endpoint::Health => Route::Now(Response::text(200, "ok")),
        Endpoint::NotAllowed => Route::Now(Response::text(405, "method not allowed")),
        Endpoint::NotFound => Route::Now(not_found()),
        Endpoint::Portal(token) | Endpoint::Unsubscribe { token, .. } if !is_plausible(token) => {
            Route::Now(not_found())
        }
        Endpoint::Webhook => Route::Work {
            body_limit: payments::MAX_BODY,
        },
        Endpoint::SendGridEvents => Route::Work {
            body_limit: feedback::SENDGRID_EVENTS_BODY,
        },
        Endpoint::Unsubscribe { confirm: true, .. } => Route::Work {
            body_limit: UNSUBSCRIBE_BODY,
        },
        Endpoint::Portal(_) | Endpoint::Unsubscribe { .. } => Route::Work { body_limit: 0 },
    }
}

fn bind(listen: &str) -> Result<TcpListener> {
    let addr: SocketAddr = listen.parse().map_err(|_| {
        Error::Config(format!(
            "HOSS_LISTEN {listen:?} is not an address like 127.0.0.1:8080"
        ))
    })?;
    TcpListener::bind(addr).map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))
}

pub fn run(ctx: &Ctx, out: &mut dyn Write) -> Result<i32> {
    let listener = bind(&ctx.config.listen)?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| Error::Internal(e.to_string()))?;
    }
    let (queue, inbox) = sync_channel::<Job>(QUEUE);
    let inbox = Arc::new(Mutex::new(inbox));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let mut worker = ctx.worker()?;
        let inbox = inbox.clone();
        workers.push(std::thread::spawn(move || {
            loop {
                let next = inbox.lock().map(|rx| rx.recv());
                let Ok(Ok(job)) = next else { break };
                let mut answer = respond(&worker, &job.request, &job.body);
                // A database server closes idle connections (or restarts):
                // a request that failed on a connection that no longer
                // answers runs again on a new one, so serve outlives it.
                // Every endpoint may run twice (a failed transaction left
                // nothing; events are deduped).
                if answer.status >= 500 && !worker.store.answers() {
                    match worker.worker() {
                        Ok(fresh) => {
                            warn!("[SERVE][RECONNECTED] the database connection was closed; a new one answers");
                            worker = fresh;
                            answer = respond(&worker, &job.request, &job.body);
                        }
                        Err(e) => error!("[SERVE][ERROR] cannot reconnect to the database: {e}"),
                    }
                }
                job.reply(answer);
            }
        }));
    }
    // The workers' log lines reach the event log through one writer, a
    // batch at a time, not a transaction per request.
    let workers_done = Arc::new(AtomicBool::new(false));
    let log_writer = {
        let writer = ctx.worker()?;
        let done = workers_done.clone();
        std::thread::spawn(move || write_log(writer, &done))
    };
    info!("[SERVE][LISTENING] addr={local} workers={WORKERS}");
    let _ = writeln!(out, "listening on http://{local}");
    let _ = out.flush();
    ctx.flush_log();
    // Returns once no connection is left; the queue's last sender goes with
    // it, and the workers finish what is queued and end.
    let ended = http_server::serve(listener, FRONT, &stop, Arc::new(route), queue);
    for w in workers {
        let _ = w.join();
    }
    let outcome = match ended {
        Ok(()) => {
            info!("[SERVE][STOPPED] addr={local}");
            Ok(EXIT_OK)
        }
        // Already logged as [SERVE][ERROR] by the front.
        Err(e) => Err(Error::Internal(format!("listener on {local} failed: {e}"))),
    };
    // The writer's last write takes every line up to here (the main
    // connection has been idle all along and may be gone).
    workers_done.store(true, Ordering::Release);
    if log_writer.join().is_err() {
        error!("[SERVE][ERROR] the event log's writer failed; its last lines are on stderr only");
    }
    outcome
}

/// The event log's one writer while serve runs: every [`LOG_EVERY`] the
/// buffered lines in one transaction, on a new connection at once when its
/// own no longer answers (an idle timeout, a restart). A write that still
/// fails is said once, and tried again after [`LOG_RETRY`]. When `done`, a
/// last write.
fn write_log(mut writer: Ctx, done: &AtomicBool) {
    let mut next = Instant::now();
    let mut failing = false;
    loop {
        let last = done.load(Ordering::Acquire);
        if last || Instant::now() >= next {
            let written = writer.flush_log() || (reconnected(&mut writer) && writer.flush_log());
            if written && failing {
                warn!("[SERVE][RECONNECTED] the event log is written again");
            }
            if !written {
                if !failing {
                    error!(
                        "[SERVE][ERROR] the event log cannot be written; its lines wait (they are on stderr) and are tried again every {} s",
                        LOG_RETRY.as_secs()
                    );
                }
                next = Instant::now() + LOG_RETRY;
            }
            failing = !written;
        }
        if last {
            return;
        }
        std::thread::sleep(LOG_EVERY);
    }
}

/// A new connection for `ctx` when its own no longer answers; whether it
/// got one.
fn reconnected(ctx: &mut Ctx) -> bool {
    match ctx.fresh_store() {
        Some(store) => {
            ctx.store = store;
            true
        }
        None => false,
    }
}

fn respond(ctx: &Ctx, request: &Request, body: &[u8]) -> Response {
    answer(ctx, request, body).unwrap_or_else(|e| {
        error!(
            "[SERVE][ERROR] path={:?} error={:?}",
            request.path,
            e.to_string()
        );
        Response::text(500, "Something went wrong. Please try again later.")
    })
}

/// A worker's answer to a complete request that [`route`] sent its way.
fn answer(ctx: &Ctx, request: &Request, body: &[u8]) -> Result<Response> {
    match endpoint(request) {
        Endpoint::Portal(token) => portal(ctx, token),
        Endpoint::Unsubscribe { token, confirm } => unsubscribe(ctx, token, confirm),
        Endpoint::Webhook => {
            let outcome = payments::handle(ctx, request.header("Stripe-Signature"), body);
            // The reason stays in the operator log: a caller learns only the
            // outcome, never whether a secret is configured or what failed.
            Ok(Response {
                status: outcome.http_status,
                content_type: "application/json",
                body: serde_json::json!({"outcome": outcome.outcome}).to_string(),
            })
        }
        Endpoint::SendGridEvents => {
            let a = feedback::sendgrid_events(
                ctx,
                request.header("X-Twilio-Email-Event-Webhook-Signature"),
                request.header("X-Twilio-Email-Event-Webhook-Timestamp"),
                body,
            )?;
            Ok(Response {
                status: a.http_status,
                content_type: "application/json",
                body: serde_json::json!({"outcome": a.outcome, "applied": a.applied}).to_string(),
            })
        }
        Endpoint::Health => Ok(Response::text(200, "ok")),
        Endpoint::NotAllowed => Ok(Response::text(405, "method not allowed")),
        Endpoint::NotFound => Ok(not_found()),
    }
}

fn portal(ctx: &Ctx, token: &str) -> Result<Response> {
    if !is_plausible(token) {
        return Ok(not_found());
    }
    match customers::by_token(ctx.db(), token)? {
        Some(customer) => Ok(Response::html(
            200,
            render::portal::customer_page(ctx.db(), &ctx.config, &customer, ctx.now())?,
        )),
        None => Ok(not_found()),
    }
}

fn unsubscribe(ctx: &Ctx, token: &str, confirm: bool) -> Result<Response> {
    if !is_plausible(token) {
        return Ok(not_found());
    }
    let Some((lead_id, email)) = db::leads::by_unsubscribe_token(ctx.db(), token)? else {
        return Ok(not_found());
    };
    if confirm {
        ctx.db().immediate(|tx| {
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
    Ok(Response::html(
        200,
        render::portal::unsubscribe(
            &email,
            confirm,
            ctx.config.email.company_name.as_deref().unwrap_or_default(),
        )?,
    ))
}
