//! hoss: an operator's outbound-sales and billing pipeline as cron passes.
//!
//! `main.rs` only calls [`main_entry`]; everything else lives in this library
//! so it can be tested. `docs/ARCHITECTURE.md` says which room holds what.

pub mod app;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod lock;
pub mod log;
pub mod money;
#[cfg(test)]
mod proptests;
pub mod render;
pub mod services;

use std::panic;

use clap::Parser;

use crate::error::{EXIT_INTERNAL, EXIT_OK, EXIT_USAGE};

/// Parses the command line, runs it and returns the process exit code. No
/// panic or stack trace reaches the user: a panic is reported as an internal
/// error (exit 70) in the operator log format.
pub fn main_entry() -> i32 {
    panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "{} ERROR [INTERNAL] hoss hit a bug{at}: {}",
            clock::rfc3339(clock::system_now()),
            crate::log::one_line(&msg)
        );
    }));
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    let json = cli.json();
    let mut stdout = std::io::stdout().lock();
    let (code, message) =
        match panic::catch_unwind(panic::AssertUnwindSafe(|| app::run(cli, &mut stdout))) {
            Ok(Ok(code)) => return code,
            Ok(Err(e)) => {
                ::log::error!("[ERROR] {e}");
                if !::log::log_enabled!(::log::Level::Error) {
                    eprintln!("{e}");
                }
                (e.exit_code(), e.to_string())
            }
            Err(_) => (EXIT_INTERNAL, "hoss hit a bug (see the log)".to_string()),
        };
    // `--json` promises one document on stdout, a failure included.
    if json {
        let doc = serde_json::json!({"error": {"code": code, "message": message}});
        let _ = render::write_all(&mut stdout, format!("{doc}\n").as_bytes());
    }
    code
}
