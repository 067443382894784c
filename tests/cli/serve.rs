//! `hoss serve` under hostile or quiet conditions (SPEC §7, §10): it runs
//! until told to stop however long it is idle, survives accept errors, and
//! gives every request one deadline so slow clients cannot starve it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Sandbox, Served, stripe_signature_now, wait_until};

const SECRET: &str = "whsec_serve_tests_secret";

/// The server's one deadline for a request's head and body.
const DEADLINE: Duration = Duration::from_secs(10);
/// What a slow connection may live beyond the deadline: the answer, the
/// close, a loaded test machine.
const SLACK: Duration = Duration::from_secs(3);
/// A prompt answer on a loaded test machine.
const PROMPT: Duration = Duration::from_secs(3);

/// Sends `request` on a fresh connection and returns the whole answer.
fn exchange(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PROMPT)).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// Writes `next()` one piece at a time, waiting `every` between pieces, until
/// the server answers and closes; returns what it answered and how long the
/// connection lived. Gives up (None) after `give_up`.
fn trickle(
    stream: &mut TcpStream,
    mut next: impl FnMut() -> Vec<u8>,
    every: Duration,
    give_up: Instant,
) -> Option<(String, Duration)> {
    let opened = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    stream.set_read_timeout(Some(every)).unwrap();
    while Instant::now() < give_up {
        if answer.is_empty() && stream.write_all(&next()).is_err() {
            return Some((
                String::from_utf8_lossy(&answer).into_owned(),
                opened.elapsed(),
            ));
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                return Some((
                    String::from_utf8_lossy(&answer).into_owned(),
                    opened.elapsed(),
                ));
            }
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                return Some((
                    String::from_utf8_lossy(&answer).into_owned(),
                    opened.elapsed(),
                ));
            }
        }
    }
    None
}

fn webhook_event(id: &str) -> String {
    json!({"id": id, "object": "event", "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_1", "payment_link": "plink_none", "payment_status": "paid",
        "amount_total": 100, "currency": "usd"}}})
    .to_string()
}

/// A customer's portal path (`/portal/TOKEN/`), the customer made for it.
fn acme_portal_page(sb: &Sandbox) -> String {
    let customer: serde_json::Value = sb.json(&[
        "customer",
        "add",
        "--company",
        "Acme",
        "--email",
        "ann@acme.com",
        "--json",
    ]);
    format!("/portal/{}/", customer["public_token"].as_str().unwrap())
}

/// On PostgreSQL: the server ends every other connection to the sandbox's
/// database (serve's, as an idle timeout or a restart would); how many.
fn close_others_connections(sb: &Sandbox) -> i64 {
    sb.db()
        .query_row(
            "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid()) AS ended",
            args![],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn serve_keeps_running_when_idle_longer_than_every_timeout() {
    let sb = Sandbox::new();
    let mut served = Served::start(&sb);
    std::thread::sleep(DEADLINE + Duration::from_secs(2));
    assert!(served.running(), "serve stopped by itself while idle");
    assert_eq!(served.get("/healthz").0, 200);
    let (code, log) = served.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("[SERVE][STOPPED]"), "{log}");
    assert!(!log.contains("[SERVE][ERROR]"), "{log}");
}

#[test]
fn sixteen_slow_bodies_neither_starve_serve_nor_outlive_the_deadline() {
    let sb = Sandbox::new().with("STRIPE_WEBHOOK_SECRET", SECRET);
    let served = Served::start(&sb);
    let addr = served.addr();
    let started = Instant::now();
    let end = started + Duration::from_secs(15);
    let drippers: Vec<_> = (0..16u64)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                // (answer, lifetime) of every connection the server closed.
                let mut closed = Vec::new();
                let every = Duration::from_millis(1000 + (i % 2) * 1000);
                while Instant::now() < end {
                    let mut stream = TcpStream::connect(&addr).unwrap();
                    let mut head = Some(
                        b"POST /stripe/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nStripe-Signature: t=1,v1=00\r\n\r\n".to_vec(),
                    );
                    let opened = Instant::now();
                    match trickle(&mut stream, || head.take().unwrap_or(b"x".to_vec()), every, end) {
                        Some(c) => closed.push(c),
                        // Still open when the test ended: it must be young.
                        None => assert!(
                            opened.elapsed() < DEADLINE + SLACK,
                            "a slow connection lived {:?}",
                            opened.elapsed()
                        ),
                    }
                }
                closed
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let mut rounds = 0;
    while Instant::now() + PROMPT < end {
        let asked = Instant::now();
        assert_eq!(served.get("/healthz").0, 200);
        assert!(
            asked.elapsed() < PROMPT,
            "/healthz took {:?}",
            asked.elapsed()
        );
        let asked = Instant::now();
        let (status, body, _) = served.get("/portal/ffffffffffffffffffffffffffffffff/");
        assert_eq!(status, 404);
        assert!(body.contains("Not found"));
        assert!(
            asked.elapsed() < PROMPT,
            "portal took {:?}",
            asked.elapsed()
        );
        let asked = Instant::now();
        let event = webhook_event(&format!("evt_busy_{rounds}"));
        let (status, body) = served.post(
            "/stripe/webhook",
            &[("Stripe-Signature", &stripe_signature_now(SECRET, &event))],
            event.as_bytes(),
        );
        assert_eq!(status, 200, "{body}");
        assert!(
            asked.elapsed() < PROMPT,
            "webhook took {:?}",
            asked.elapsed()
        );
        rounds += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(rounds >= 5, "only {rounds} rounds");
    let mut cut = 0;
    for d in drippers {
        for (answer, lived) in d.join().unwrap() {
            assert!(
                lived < DEADLINE + SLACK,
                "a slow connection lived {lived:?}"
            );
            assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
            cut += 1;
        }
    }
    assert!(cut >= 16, "only {cut} slow connections were cut off");
}

#[test]
fn slow_request_headers_are_cut_off_at_the_deadline() {
    let sb = Sandbox::new();
    let served = Served::start(&sb);
    let mut stream = TcpStream::connect(served.addr()).unwrap();
    let mut head = b"GET /healthz HTTP/1.1\r\n"
        .iter()
        .copied()
        .chain(std::iter::repeat(b"X-Slow: yes\r\n".iter().copied()).flatten());
    let (answer, lived) = trickle(
        &mut stream,
        || vec![head.next().unwrap()],
        Duration::from_millis(300),
        Instant::now() + DEADLINE * 2,
    )
    .expect("the server never cut off the slow head");
    assert!(
        lived < DEADLINE + SLACK,
        "the slow head was read for {lived:?}"
    );
    assert!(
        lived >= DEADLINE - Duration::from_secs(1),
        "cut off early: {lived:?}"
    );
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    assert_eq!(served.get("/healthz").0, 200);
}

#[test]
fn a_post_needs_a_content_length_within_the_limit() {
    let sb = Sandbox::new().with("STRIPE_WEBHOOK_SECRET", SECRET);
    let served = Served::start(&sb);
    let addr = served.addr();
    let answer = exchange(&addr, b"POST /stripe/webhook HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 411 "), "{answer}");
    let answer = exchange(
        &addr,
        b"POST /stripe/webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 411 "), "{answer}");
    // 100 MB declared, not one byte of it sent: refused at once, unread.
    let asked = Instant::now();
    let answer = exchange(
        &addr,
        b"POST /stripe/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(asked.elapsed() < PROMPT, "413 took {:?}", asked.elapsed());
    assert!(
        answer.contains("X-Content-Type-Options: nosniff"),
        "{answer}"
    );
    assert!(answer.contains("Connection: close"), "{answer}");
}

/// Out of file descriptors, accept fails (EMFILE) until connections close;
/// serve logs it, backs off and carries on.
#[test]
fn serve_survives_running_out_of_file_descriptors() {
    let present = Command::new("prlimit").arg("--version").output().is_ok();
    if !crate::harness::system_package("util-linux (prlimit)", present) {
        return;
    }
    let sb = Sandbox::new();
    let mut served = Served::start(&sb);
    let pid = served.child.id();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let limit = format!("--nofile={}", open + 4);
    assert!(
        Command::new("prlimit")
            .args(["--pid", &pid.to_string(), &limit])
            .status()
            .unwrap()
            .success()
    );
    let idle: Vec<TcpStream> = (0..24)
        .map(|_| TcpStream::connect(served.addr()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    drop(idle);
    let asked = Instant::now();
    let (status, _, _) = served.get("/healthz");
    assert_eq!(status, 200);
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert!(served.running());
    let (code, log) = served.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("[SERVE][ACCEPT]"), "{log}");
    assert!(log.contains("[SERVE][STOPPED]"), "{log}");
}

/// On PostgreSQL (the suite's second pass): a server that closes serve's
/// connections — an idle timeout, a restart, an operator's
/// pg_terminate_backend — costs no request: each worker that finds its
/// connection gone answers on a new one, and serve stays up.
#[test]
fn serve_outlives_the_database_closing_its_connections() {
    let sb = Sandbox::new().with("STRIPE_WEBHOOK_SECRET", SECRET);
    if !sb.on_postgres() {
        return; // SQLite has no connection to lose.
    }
    let page = acme_portal_page(&sb);
    let mut served = Served::start(&sb);
    assert_eq!(served.get(&page).0, 200);
    for round in 0..3 {
        let ended = close_others_connections(&sb);
        assert!(
            ended >= 1,
            "round {round}: no connection of serve's to close"
        );
        // More requests than workers: every one of them meets a closed
        // connection or a new one, and every answer is right.
        for _ in 0..12 {
            assert_eq!(served.get(&page).0, 200, "round {round}");
        }
    }
    assert!(served.running(), "serve stopped");
    let (_, log) = served.terminate();
    assert!(log.contains("[SERVE][RECONNECTED]"), "{log}");
    // Its own connection was closed too: the run is recorded on a new one,
    // not left "running".
    let (outcome, finished): (String, Option<i64>) = sb
        .db()
        .query_row(
            "SELECT outcome, finished_at FROM command_run WHERE command = 'serve' ORDER BY id DESC LIMIT 1",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(outcome, "ok", "{log}");
    assert!(finished.is_some(), "{log}");
    assert!(!log.contains("[RUN][RECORD_FAILED]"), "{log}");
}

/// On PostgreSQL: a request that waited on the write lock longer than the
/// lock timeout (another host's long transaction) fails alone; the worker's
/// connection is not left inside the aborted transaction, so the requests
/// after it are answered.
#[test]
fn a_request_that_timed_out_on_the_write_lock_does_not_break_its_worker() {
    let sb = Sandbox::new().with("STRIPE_WEBHOOK_SECRET", SECRET);
    if !sb.on_postgres() {
        return; // SQLite's busy timeout leaves no transaction behind.
    }
    let page = acme_portal_page(&sb);
    let served = Served::start(&sb);
    let holder = sb.db();
    holder.begin_write("BEGIN IMMEDIATE").unwrap();
    // Every worker meets the held lock once (each waits out the timeout).
    let body = webhook_event("evt_locked_1");
    let header = stripe_signature_now(SECRET, &body);
    let answers: Vec<u16> = std::thread::scope(|s| {
        let waiting: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    served
                        .post(
                            "/stripe/webhook",
                            &[("Stripe-Signature", &header)],
                            body.as_bytes(),
                        )
                        .0
                })
            })
            .collect();
        waiting.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|&s| s == 500), "{answers:?}");
    holder.execute_batch("COMMIT").unwrap();
    for _ in 0..16 {
        assert_eq!(served.get(&page).0, 200);
    }
    let (code, log) = served.terminate();
    assert_eq!(code, Some(0), "{log}");
}

/// The workers' log lines reach the event log through one writer: soon
/// while serve runs, the last ones when it stops, and on PostgreSQL also
/// after the server closed the writer's connection.
#[test]
fn webhook_log_lines_reach_the_event_log_while_serving_and_at_the_stop() {
    let sb = Sandbox::new().with("STRIPE_WEBHOOK_SECRET", SECRET);
    let served = Served::start(&sb);
    let deliver = |id: &str| {
        let body = webhook_event(id);
        let signature = stripe_signature_now(SECRET, &body);
        let (status, answer) = served.post(
            "/stripe/webhook",
            &[("Stripe-Signature", signature.as_str())],
            body.as_bytes(),
        );
        assert_eq!(status, 200, "{answer}");
    };
    let logged = |id: &str| -> bool {
        sb.db()
            .query_row(
                "SELECT COUNT(*) FROM event_log WHERE tag = '[STRIPE][WEBHOOK]' AND message LIKE ?1",
                args![format!("%event_id={id} %")],
                |r| r.get::<i64>(0),
            )
            .unwrap()
            > 0
    };
    deliver("evt_log_1");
    wait_until(PROMPT, "evt_log_1 in the event log", || logged("evt_log_1"));
    if sb.on_postgres() {
        close_others_connections(&sb);
        deliver("evt_log_2");
        // One failed write, a new connection, the next try.
        wait_until(
            Duration::from_secs(15),
            "evt_log_2 in the event log",
            || logged("evt_log_2"),
        );
    }
    deliver("evt_log_3");
    let (code, log) = served.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        logged("evt_log_3"),
        "the last line was not written at the stop"
    );
}
