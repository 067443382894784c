//! The sender's health (SPEC §13), shared by `send-outreach` (which stops
//! when paused), `sync-inbox` (which learns the evidence), `status` and
//! `check`. Over the last 7 days — or since the operator last resumed,
//! whichever is shorter — too many hard bounces or complaints per real send
//! pause outreach until the operator resumes it.

use log::warn;
use serde::Serialize;

use crate::app::Ctx;
use crate::db::inbox;
use crate::error::Result;

const WINDOW: i64 = 7 * 86_400;

/// The `health` object of `status --json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Health {
    pub paused: bool,
    pub reason: Option<String>,
    pub sends_7d: i64,
    pub hard_bounces_7d: i64,
    pub complaints_7d: i64,
}

/// Reads the evidence and the pause in force (no writes).
pub fn read(ctx: &Ctx) -> Result<Health> {
    let now = ctx.now();
    // Evidence from the second after a resume on: what the operator has
    // seen and lifted never pauses outreach again.
    let since_resume = inbox::last_resume(ctx.db())?.map_or(0, |t| t + 1);
    let from = (now - WINDOW).max(since_resume);
    let (hard_bounces, complaints) = inbox::health_evidence(ctx.db(), from, now + 1)?;
    let pause = inbox::pause_in_force(ctx.db())?;
    Ok(Health {
        paused: pause.is_some(),
        reason: pause.map(|p| p.reason),
        sends_7d: inbox::real_sends_since(ctx.db(), from, now + 1)?,
        hard_bounces_7d: hard_bounces,
        complaints_7d: complaints,
    })
}

/// Why the evidence calls for a pause, if it does.
pub fn verdict(ctx: &Ctx, h: &Health) -> Option<String> {
    let limits = ctx.config.email.health;
    if h.sends_7d < i64::from(limits.min_sends) {
        return None;
    }
    let rate = |n: i64| n as f64 / h.sends_7d as f64;
    [
        (
            "hard bounces",
            h.hard_bounces_7d,
            "HEALTH_MAX_BOUNCE_RATE",
            limits.max_bounce_rate,
        ),
        (
            "complaints",
            h.complaints_7d,
            "HEALTH_MAX_COMPLAINT_RATE",
            limits.max_complaint_rate,
        ),
    ]
    .into_iter()
    .find(|(_, n, _, limit)| rate(*n) > *limit)
    .map(|(what, n, key, limit)| {
        format!(
            "{what} {n}/{} sends ({:.2}%) over 7 days exceed {key} {limit}",
            h.sends_7d,
            rate(n) * 100.0
        )
    })
}

/// Why the next real pass would send nothing, read-only: the pause in
/// force, or the evidence [`enforce`] would pause on.
pub fn pause_reason(ctx: &Ctx) -> Result<Option<String>> {
    let h = read(ctx)?;
    if h.paused {
        return Ok(h.reason.or_else(|| Some("paused".into())));
    }
    Ok(verdict(ctx, &h))
}

/// Pauses outreach when the evidence says so; returns the health after.
pub fn enforce(ctx: &Ctx) -> Result<Health> {
    let mut h = read(ctx)?;
    if h.paused {
        return Ok(h);
    }
    if let Some(reason) = verdict(ctx, &h) {
        let now = ctx.now();
        if ctx
            .db()
            .immediate(|tx| Ok(inbox::pause(tx, "auto", &reason, now)?))?
        {
            warn!("[EMAIL][PAUSED] source=auto reason={reason:?}; `hoss email resume` lifts it");
        }
        h = read(ctx)?;
    }
    Ok(h)
}

/// The `inbox` object of `status --json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InboxPanel {
    pub mode: &'static str,
    pub last_sync_at: Option<String>,
    pub last_uid: Option<u32>,
    pub replies_7d: i64,
}

/// The inbox and health panels of `status`, and the warning a pause raises.
pub fn panels(ctx: &Ctx) -> Result<(InboxPanel, Health, Option<String>)> {
    let now = ctx.now();
    let last = inbox::last_state(ctx.db())?;
    let counts = inbox::counts_since(ctx.db(), now - WINDOW, now + 1)?;
    let panel = InboxPanel {
        mode: ctx.config.inbox.mode.effective.as_str(),
        last_sync_at: last.map(|s| crate::clock::rfc3339(s.last_sync_at)),
        last_uid: last.map(|s| s.last_uid),
        replies_7d: counts.get("reply").copied().unwrap_or(0),
    };
    let health = read(ctx)?;
    let warning = health.reason.as_ref().map(|r| {
        format!("outreach is paused: {r}; `hoss email resume` lifts it once the cause is fixed")
    });
    Ok((panel, health, warning))
}

impl InboxPanel {
    pub fn human(&self, h: &Health) -> String {
        format!(
            "inbox: {}; last sync {}; replies in 7 days {}\nhealth: {} real sends, {} hard bounces, {} complaints in 7 days{}\n",
            self.mode,
            self.last_sync_at.as_deref().unwrap_or("never"),
            self.replies_7d,
            h.sends_7d,
            h.hard_bounces_7d,
            h.complaints_7d,
            if h.paused { "; outreach PAUSED" } else { "" }
        )
    }
}
