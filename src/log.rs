//! The operator log (SPEC §8): one tagged line per event on stderr,
//! `2026-11-25T14:03:07Z WARN [EMAIL][THROTTLED] hour=… count=…`, and the
//! same event in the capped `event_log` table.
//!
//! Code logs with the `log` macros. The logger prints through env_logger's
//! filter (`HOSS_LOG`/`RUST_LOG`) and keeps hoss's own INFO+ events in memory
//! until [`flush`] writes them with the caller's connection. Writing from the
//! logger itself would need a second connection, which would wait on a write
//! transaction this same process may be holding (a reservation, say).

use std::io::Write;
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::db::Db;
use crate::db::events::{self, Event};

static PENDING: Mutex<Vec<Event>> = Mutex::new(Vec::new());

struct OpLog {
    stderr: env_logger::Logger,
}

impl Log for OpLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        (self.stderr.enabled(metadata) && !muted(metadata)) || is_ours(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if self.stderr.matches(record) && !muted(record.metadata()) {
            self.stderr.log(record);
        }
        if is_ours(record.metadata()) && record.level() <= Level::Info {
            let message = one_line(&record.args().to_string());
            let event = Event {
                at: crate::clock::system_now(),
                level: record.level().as_str().to_string(),
                tag: tag_of(&message).to_string(),
                message,
            };
            if let Ok(mut pending) = PENDING.lock() {
                pending.push(event);
            }
        }
    }

    fn flush(&self) {
        self.stderr.flush();
    }
}

/// Dependencies speak only when something is wrong, whatever the filter
/// says: at debug and trace the HTTP and SMTP clients print request lines and
/// headers — `Authorization: Bearer …`, an SMTP `AUTH` exchange, a
/// healthcheck URL that is itself a secret.
fn muted(metadata: &Metadata<'_>) -> bool {
    !metadata.target().starts_with("hoss") && metadata.level() > Level::Warn
}

fn is_ours(metadata: &Metadata<'_>) -> bool {
    metadata.target().starts_with("hoss") && metadata.level() <= Level::Info
}

/// Installs the logger once per process; `filter` is an env_logger spec.
pub fn init(filter: &str) {
    // Dependencies speak only when something is wrong (see `muted`).
    let stderr = env_logger::Builder::new()
        .filter_module("refinery_core", LevelFilter::Warn)
        .parse_filters(filter)
        .format(|buf, record| {
            writeln!(
                buf,
                "{} {} {}",
                crate::clock::rfc3339(crate::clock::system_now()),
                record.level(),
                one_line(&record.args().to_string())
            )
        })
        .target(env_logger::Target::Stderr)
        .build();
    let max = stderr.filter().max(LevelFilter::Info);
    if log::set_boxed_logger(Box::new(OpLog { stderr })).is_ok() {
        log::set_max_level(max);
    }
}

/// Writes the buffered events to the capped table: only the newest `cap`
/// of them, as the table would keep. A failure keeps them buffered for the
/// next flush (and says `false`); the stderr lines are already out.
pub fn flush(db: Db<'_>, cap: u32) -> bool {
    let mut batch: Vec<Event> = match PENDING.lock() {
        Ok(mut pending) => std::mem::take(&mut *pending),
        Err(_) => return false,
    };
    let beyond = batch.len().saturating_sub(cap as usize);
    batch.drain(..beyond);
    if batch.is_empty() {
        return true;
    }
    if events::append(db, &batch, cap).is_ok() {
        return true;
    }
    if let Ok(mut pending) = PENDING.lock() {
        let newer = std::mem::take(&mut *pending);
        *pending = batch;
        pending.extend(newer);
    }
    false
}

/// Log text stays on one line: CR, LF and other control characters from
/// outside data are shown escaped, so nobody can forge a log line.
pub fn one_line(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The leading `[A][B]…` of a message.
pub fn tag_of(message: &str) -> &str {
    let mut end = 0;
    let bytes = message.as_bytes();
    while end < bytes.len() && bytes[end] == b'[' {
        match message[end..].find(']') {
            Some(close) => end += close + 1,
            None => break,
        }
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_the_leading_bracket_chain() {
        assert_eq!(tag_of("[EMAIL][THROTTLED] hour=x"), "[EMAIL][THROTTLED]");
        assert_eq!(tag_of("[RELEASE_MODE][ON]"), "[RELEASE_MODE][ON]");
        assert_eq!(tag_of("plain text [X]"), "");
    }

    #[test]
    fn control_characters_cannot_break_a_line() {
        assert_eq!(one_line("a\r\nb\tc"), "a\\r\\nb\\tc");
        assert_eq!(one_line("plain"), "plain");
    }
}
