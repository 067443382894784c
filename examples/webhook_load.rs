//! Load generator for `scripts/bench.sh`: sends N signed Stripe webhook
//! events over HTTP/1.1 from T threads to `hoss serve`, or, with
//! `--baseline`, to a do-nothing tiny_http server in this process (the
//! loopback HTTP limit). One connection per event (`Connection: close`), as
//! `hoss serve` answers one request per connection; the baseline is asked
//! the same way. Prints `events=N seconds=S rate=R failures=F`.
//!
//!   webhook_load URL EVENTS THREADS SECRET
//!   webhook_load --baseline EVENTS THREADS
#![allow(
    clippy::disallowed_methods,
    clippy::print_stdout,
    reason = "a benchmark client outside hoss: it stamps events with the real time and prints its result for scripts/bench.sh"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (addr, events, threads, secret) = if args.first().map(String::as_str) == Some("--baseline")
    {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let addr = server.server_addr().to_ip().expect("ip").to_string();
        for _ in 0..8 {
            let s = server.clone();
            std::thread::spawn(move || {
                for mut req in s.incoming_requests() {
                    let mut body = Vec::new();
                    let _ = req.as_reader().read_to_end(&mut body);
                    let _ = req.respond(tiny_http::Response::from_string("{}"));
                }
            });
        }
        (
            addr,
            args[1].parse().unwrap(),
            args[2].parse().unwrap(),
            "whsec_baseline".to_string(),
        )
    } else {
        let addr = args[0]
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        (
            addr,
            args[1].parse::<usize>().unwrap(),
            args[2].parse::<usize>().unwrap(),
            args[3].clone(),
        )
    };
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (addr, next, failures, secret) = (addr.clone(), next.clone(), failures.clone(), secret.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= events {
                        break;
                    }
                    let body = format!(
                        r#"{{"id":"evt_bench_{run}_{i}","object":"event","type":"checkout.session.completed","data":{{"object":{{"id":"cs_{i}","payment_link":"plink_none","payment_status":"paid","amount_total":100,"currency":"usd"}}}}}}"#
                    );
                    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
                    let sig = hoss::domain::webhook::sign(&secret, t, body.as_bytes());
                    let req = format!(
                        "POST /stripe/webhook HTTP/1.1\r\nHost: {addr}\r\nStripe-Signature: {sig}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let stream = TcpStream::connect(&addr).expect("connect");
                    stream.set_nodelay(true).ok();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    writer.write_all(req.as_bytes()).expect("send");
                    let mut status = String::new();
                    reader.read_line(&mut status).expect("status line");
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line).expect("header");
                        if line == "\r\n" || line.is_empty() {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).expect("body");
                    if !status.contains(" 200 ") {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "events={events} seconds={secs:.3} rate={:.0} failures={}",
        events as f64 / secs,
        failures.load(Ordering::Relaxed)
    );
}
