//! `hoss webhook --signature HEADER < body`: one Stripe event from stdin,
//! answered with one JSON line whatever happens (`commands::payments`
//! decides; `hoss serve` answers the same events over HTTP).

use std::io::{Read, Write};

use log::error;

use crate::app::Ctx;
use crate::commands::payments::{MAX_BODY, WebhookOutcome, handle};
use crate::error::{Error, Result};
use crate::render::{self, Report};

/// Reads the event (at most `MAX_BODY` and one byte) and answers it.
pub fn from_stdin(ctx: &Ctx, signature: &str) -> WebhookOutcome {
    let mut body = Vec::new();
    if let Err(e) = std::io::stdin()
        .lock()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
    {
        return WebhookOutcome::new("rejected", 400, Some(format!("cannot read the body: {e}")));
    }
    handle(ctx, Some(signature), &body)
}

/// `hoss webhook` promises one JSON line whatever happens — a busy or
/// unreadable database, a broken configuration — so whoever relays it to
/// Stripe can answer 500 and Stripe retries. This is that line for a
/// failure before the event could be looked at; the exit code is the
/// failure's.
pub fn failed_before_start(e: &Error, out: &mut dyn Write) -> Result<i32> {
    error!(
        "[STRIPE][WEBHOOK] outcome=error http_status=500 reason={:?}",
        e.to_string()
    );
    let line = WebhookOutcome::failed(format!("nothing recorded, retry: {e}"));
    render::write_all(out, line.human(false).as_bytes())?;
    Ok(e.exit_code())
}
