//! The sending discipline of SPEC §14 as one lead meets it, shared by
//! `send-outreach` (today's cap, the lead's time zone, the step's pack),
//! `why`, `plan` and `status`: for a lead at a time, every rule that holds
//! it back, under the fixed rule names, with a detail and when the rule
//! lifts — from the configuration and the database alone: no network,
//! nothing written.
//!
//! The checks are those of `send_outreach::run` and `db::outbox::reserve`,
//! in their order: the mode and the pause (the whole pass), what the lead
//! has left to send (status, sequence, a claim on the step), when it is due,
//! the send window, a domain hold, the per-domain caps (first emails at
//! company domains only), suppression (and an address already emailed, for
//! a first email), the daily cap, the hour cap. `MAX_EMAILS_PER_CYCLE`
//! bounds a pass, not a lead: it is not a rule.

use std::collections::{HashMap, VecDeque};

use chrono::Days;
use serde::Serialize;

use crate::app::Ctx;
use crate::clock::{Timestamp, hour_label, hour_start, local_day, rfc3339, utc};
use crate::config::EmailMode;
use crate::config::Step;
use crate::db::{self, discipline as q, leads::Lead, outbox, sequences::Sequence};
use crate::domain::lead_csv::is_company_domain;
use crate::domain::schedule::{
    self, Calendar, Closed, SendWindow, Warmup, daily_cap, local_to_utc, parse_tz,
};
use crate::domain::status::LeadStatus;
use crate::domain::templates::Pack;
use crate::error::Result;

/// Every rule name `why` and `plan` may use (SPEC §14), fixed. `role` and
/// `no_mx` are the address checks of SPEC §15 (`commands::addresses`).
pub const RULES: [&str; 16] = [
    "mode",
    "status",
    "sequence_finished",
    "sequence_stopped",
    "not_due",
    "window",
    "blackout",
    "hour_cap",
    "daily_cap",
    "domain_new_cap",
    "domain_active_cap",
    "domain_held",
    "suppressed",
    "paused",
    "role",
    "no_mx",
];

/// The day (in `SEND_TIMEZONE`) of the first real outreach send: day 0 of
/// the warm-up when `WARMUP_START_DATE` is not set.
pub const FIRST_SEND_DAY: &str = "first_real_send_day";

/// One rule that holds a lead back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Block {
    pub rule: &'static str,
    pub detail: String,
    /// When it lifts, if that is known (and nothing else is sent meanwhile).
    pub until: Option<Timestamp>,
}

impl Block {
    /// A rule that holds until something changes (no known time).
    pub fn new(rule: &'static str, detail: String) -> Block {
        block(rule, detail, None)
    }

    /// A rule that lifts at `until`, when that is known.
    pub fn until(rule: &'static str, detail: String, until: Option<i64>) -> Block {
        block(rule, detail, until)
    }
}

fn block(rule: &'static str, detail: String, until: Option<i64>) -> Block {
    debug_assert!(RULES.contains(&rule));
    Block {
        rule,
        detail,
        until: until.map(Timestamp),
    }
}

/// Today's daily cap at `now`: `MAX_EMAILS_PER_DAY`, or the warm-up ramp's
/// step, counted from `WARMUP_START_DATE` or the day of the first real send.
pub fn today_cap(ctx: &Ctx, now: i64) -> Result<u32> {
    let s = &ctx.config.email.sending;
    Ok(daily_cap(
        s.max_per_day,
        warmup(ctx)?,
        local_day(now, s.timezone),
    ))
}

fn warmup(ctx: &Ctx) -> Result<Option<Warmup>> {
    let Some(w) = ctx.config.email.sending.warmup else {
        return Ok(None);
    };
    let first_send = db::sequences::state_value(ctx.db(), FIRST_SEND_DAY)?
        .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
    Ok(Some(Warmup {
        start_date: w.start_date.or(first_send),
        ..w
    }))
}

/// The time zone of a lead's send window: its own, else `SEND_TIMEZONE`.
pub fn lead_tz(ctx: &Ctx, lead_id: i64) -> Result<chrono_tz::Tz> {
    Ok(zone(ctx, db::sequences::lead_timezone(ctx.db(), lead_id)?))
}

fn zone(ctx: &Ctx, own: Option<String>) -> chrono_tz::Tz {
    own.and_then(|name| parse_tz(&name).ok())
        .unwrap_or(ctx.config.email.sending.timezone)
}

/// The sending calendar in time zone `tz`.
pub fn calendar(ctx: &Ctx, tz: chrono_tz::Tz) -> Calendar<'_> {
    let s = &ctx.config.email.sending;
    Calendar {
        window: s.window,
        tz,
        blackout: &s.blackout,
    }
}

/// The configured step `step` (from 1), if there is one.
pub fn step_config(ctx: &Ctx, step: i64) -> Option<&Step> {
    usize::try_from(step - 1)
        .ok()
        .and_then(|i| ctx.config.email.sending.steps.get(i))
}

/// The pack a lead's step is written with: the step's template or one of
/// its variants, the same for a lead and step every time; its name is
/// recorded in the ledger. A name without a loaded pack uses `fallback`.
pub fn step_pack<'a>(
    ctx: &'a Ctx,
    step_cfg: &Step,
    lead_id: i64,
    step: i64,
    fallback: &'a Pack,
) -> (String, &'a Pack) {
    let cfg = &ctx.config.email;
    let packs = step_cfg.packs(&cfg.niche_template);
    let variant = packs[schedule::variant(lead_id, step as u32, packs.len())].clone();
    let pack = cfg.sending.packs.get(&variant).unwrap_or(fallback);
    (variant, pack)
}

/// What every candidate of one pass shares, read once at `at`; a forecast
/// ([`PassState::plan_send`]) moves the counts on as it plans sends.
#[derive(Debug, Clone)]
pub struct PassState {
    pub at: i64,
    /// Why nothing real is sent: email runs DRY_RUN (and why, if it fell back).
    pub dry_run: Option<String>,
    /// Why outreach is paused (the operator, or the health evidence).
    pub paused: Option<String>,
    pub day_cap: u32,
    /// Real sends counted by the daily cap (the planned ones included).
    pub sent_24h: i64,
    /// Real sends holding the UTC hour of `at` (the planned ones included).
    pub sent_hour: i64,
    planned: i64,
    /// Planned first emails per company domain.
    new_at_domain: HashMap<String, i64>,
    /// Planned changes in the active sequences per company domain.
    active_delta: HashMap<String, i64>,
}

impl PassState {
    pub fn read(ctx: &Ctx, at: i64) -> Result<PassState> {
        let mode = &ctx.config.email.mode;
        let dry_run = (mode.effective == EmailMode::DryRun).then(|| match &mode.reason {
            Some(reason) => format!(
                "email runs DRY_RUN (requested {}: {reason})",
                mode.requested.as_str()
            ),
            None => "email runs DRY_RUN: nothing real is sent".to_string(),
        });
        Ok(PassState {
            at,
            dry_run,
            paused: crate::commands::health::pause_reason(ctx)?,
            day_cap: today_cap(ctx, at)?,
            // What `reserve` counts (`outbox::real_in_24h`), from the tallies.
            sent_24h: db::digest::real_outreach(ctx.db(), at - 86_399, at + 1)?,
            sent_hour: outbox::sent_in_hour(ctx.db(), at)?,
            planned: 0,
            new_at_domain: HashMap::new(),
            active_delta: HashMap::new(),
        })
    }

    /// Counts a send the forecast plans: it holds the hour and the day, a
    /// first email counts at its company domain and starts a sequence there
    /// (unless it is the only step), a last step ends one.
    pub fn plan_send(&mut self, ctx: &Ctx, lead: &Lead, step: i64) {
        self.planned += 1;
        self.sent_24h += 1;
        self.sent_hour += 1;
        let domain = company_domain(lead);
        if domain.is_empty() {
            return;
        }
        let steps = ctx.config.email.sending.steps.len() as i64;
        if step == outbox::FIRST_STEP {
            *self.new_at_domain.entry(domain.to_string()).or_insert(0) += 1;
        }
        let delta = match (step == outbox::FIRST_STEP, step >= steps) {
            (true, false) => 1,
            (false, true) => -1,
            _ => 0,
        };
        *self.active_delta.entry(domain.to_string()).or_insert(0) += delta;
    }
}

/// The domain the per-domain caps count: the lead's company domain, empty
/// for free mail and the platforms many unrelated leads share, as
/// `outbox::reserve` counts it.
fn company_domain(lead: &Lead) -> &str {
    if !is_company_domain(&lead.domain) {
        ""
    } else {
        &lead.domain
    }
}

/// A lead as the next pass at `PassState::at` sees it.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The step it would be sent next (1 before its first email); for a
    /// sequence that is over, the last step sent.
    pub step: i64,
    pub sequence: Option<Sequence>,
    /// Every rule that holds it back, in the pass's order; empty: sendable.
    pub blocks: Vec<Block>,
    /// The lead's unsubscribe token, once it has one.
    pub unsubscribe_token: Option<String>,
}

impl Verdict {
    pub fn next_due_at(&self) -> Option<i64> {
        self.sequence
            .as_ref()
            .filter(|s| s.state == "active")
            .and_then(|s| s.next_due_at)
    }
}

/// Every rule that holds `lead` back at `pass.at`. A lead with nothing left
/// to send (its status, a finished or stopped sequence, a step already
/// claimed) lists that and any suppression, not the window or the caps.
pub fn evaluate(ctx: &Ctx, pass: &PassState, lead: &Lead) -> Result<Verdict> {
    let facts = q::lead_facts(ctx.db(), lead.id, pass.at)?;
    judge(ctx, pass, lead, facts)
}

/// `evaluate` once the lead's facts are read (`q::lead_with_facts` reads
/// them with the lead).
pub fn judge(ctx: &Ctx, pass: &PassState, lead: &Lead, facts: q::LeadFacts) -> Result<Verdict> {
    let sequence = facts.sequence.clone();
    let mut blocks = Vec::new();
    if let Some(why) = &pass.dry_run {
        blocks.push(block("mode", why.clone(), None));
    }
    if let Some(why) = &pass.paused {
        blocks.push(block(
            "paused",
            format!("outreach is paused: {why}; `hoss email resume` lifts it"),
            None,
        ));
    }
    let step = match &sequence {
        Some(s) if s.state == "active" => s.next_step.unwrap_or(s.step + 1),
        Some(s) => s.step,
        None => outbox::FIRST_STEP,
    };
    let over = left_to_send(ctx, lead, &facts, step);
    let terminal = !over.is_empty();
    blocks.extend(over);
    if !terminal {
        timing(ctx, pass, &facts, step, &mut blocks);
        domain_rules(ctx, pass, lead, &facts, step, &mut blocks)?;
        blocks.extend(crate::commands::addresses::blocks(ctx, lead)?);
    }
    let suppressed = match outbox::refusal(facts.suppressed.clone(), &lead.email, true) {
        Some(reason) => Some(reason),
        None if step == outbox::FIRST_STEP && !terminal => {
            outbox::already_emailed(ctx.db(), &lead.email)?
        }
        None => None,
    };
    if let Some(reason) = suppressed {
        blocks.push(block("suppressed", reason, None));
    }
    if !terminal {
        caps(ctx, pass, &mut blocks)?;
    }
    Ok(Verdict {
        step,
        sequence,
        blocks,
        unsubscribe_token: facts.unsubscribe_token,
    })
}

/// Status, sequence and claim: whether the lead has a step left to send.
fn left_to_send(ctx: &Ctx, lead: &Lead, facts: &q::LeadFacts, step: i64) -> Vec<Block> {
    let mut out = Vec::new();
    let status = lead.status;
    match &facts.sequence {
        None => {
            if status == LeadStatus::Contacted {
                out.push(block(
                    "status",
                    format!(
                        "status contacted{}, with no sequence: no follow-up is scheduled",
                        lead.last_contacted_at
                            .map(|t| format!(" (emailed at {t})"))
                            .unwrap_or_default()
                    ),
                    None,
                ));
            } else if status != LeadStatus::New {
                let why = lead
                    .status_reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                out.push(block(
                    "status",
                    format!("status {status}{why}: only new leads get a first email"),
                    None,
                ));
            } else if let Some(t) = lead.last_contacted_at {
                out.push(block(
                    "status",
                    format!("already contacted at {t}: a lead gets its first email once"),
                    None,
                ));
            }
        }
        Some(s) if s.state == "active" => {
            if status != LeadStatus::Contacted {
                out.push(block(
                    "status",
                    format!("status {status}: the next pass stops its sequence"),
                    None,
                ));
            } else if step_config(ctx, step).is_none() {
                out.push(block(
                    "sequence_stopped",
                    format!(
                        "step {step} is no longer in [[sequence.steps]]: the next pass stops the sequence"
                    ),
                    None,
                ));
            }
        }
        Some(s) => {
            if s.state == "finished" {
                out.push(block(
                    "sequence_finished",
                    format!("all {} step(s) sent", s.step),
                    None,
                ));
            } else {
                out.push(block(
                    "sequence_stopped",
                    s.stop_reason.clone().unwrap_or_else(|| "stopped".into()),
                    None,
                ));
            }
            if status != LeadStatus::Contacted {
                out.push(block("status", format!("status {status}"), None));
            }
        }
    }
    if out.is_empty()
        && let Some(claim) = facts.claim(step)
    {
        let what = match claim.outcome.as_str() {
            "reserved" => "is being sent by a pass (reserved",
            "sent" => "was already sent (",
            _ => "was already handed over, uncertain (",
        };
        out.push(block(
            "status",
            format!(
                "step {step} {what} at {}); a step is sent at most once",
                rfc3339(claim.at)
            ),
            None,
        ));
    }
    out
}

/// When the step is due, and the send window.
fn timing(ctx: &Ctx, pass: &PassState, facts: &q::LeadFacts, step: i64, blocks: &mut Vec<Block>) {
    let at = pass.at;
    if step > outbox::FIRST_STEP {
        let due = facts
            .sequence
            .as_ref()
            .and_then(|s| s.next_due_at)
            .filter(|d| *d > at);
        let waiting = facts.not_before.filter(|t| *t > at);
        let until = due.max(waiting);
        if let Some(until) = until {
            let detail = if waiting == Some(until) {
                format!("an auto-reply asked to wait until {}", rfc3339(until))
            } else {
                format!("step {step} is due at {}", rfc3339(until))
            };
            blocks.push(block("not_due", detail, Some(until)));
        }
    }
    let tz = zone(ctx, facts.timezone.clone());
    match calendar(ctx, tz).check(utc(at)) {
        Ok(()) => {}
        Err(Closed::Window { opens }) => blocks.push(block(
            "window",
            format!(
                "outside the send window ({}) in {}",
                window_text(ctx.config.email.sending.window),
                tz.name()
            ),
            Some(opens.timestamp()),
        )),
        Err(Closed::Blackout { opens }) => blocks.push(block(
            "blackout",
            format!(
                "{} is a blackout date (SEND_BLACKOUT_DATES) in {}",
                local_day(at, tz),
                tz.name()
            ),
            Some(opens.timestamp()),
        )),
    }
}

fn window_text(w: SendWindow) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let SendWindow::Hours { days, start, end } = w else {
        return "always".into();
    };
    // Runs of days: `Mon-Fri`, `Mon,Wed,Fri`.
    let mut runs = Vec::new();
    let mut i = 0;
    while i < 7 {
        if !days[i] {
            i += 1;
            continue;
        }
        let first = i;
        while i + 1 < 7 && days[i + 1] {
            i += 1;
        }
        runs.push(match i - first {
            0 => DAYS[first].to_string(),
            1 => format!("{},{}", DAYS[first], DAYS[i]),
            _ => format!("{}-{}", DAYS[first], DAYS[i]),
        });
        i += 1;
    }
    format!(
        "{} {:02}:{:02}-{:02}:{:02}",
        runs.join(","),
        start / 60,
        start % 60,
        end / 60,
        end % 60
    )
}

/// A hold on the lead's company domain, and the per-domain caps of a first
/// email to a company domain.
fn domain_rules(
    ctx: &Ctx,
    pass: &PassState,
    lead: &Lead,
    facts: &q::LeadFacts,
    step: i64,
    blocks: &mut Vec<Block>,
) -> Result<()> {
    let at = pass.at;
    if let Some((until, reason)) = &facts.domain_held {
        blocks.push(block(
            "domain_held",
            format!("{} is held: {reason}", lead.domain),
            Some(*until),
        ));
    }
    let domain = company_domain(lead);
    if step != outbox::FIRST_STEP || domain.is_empty() {
        return Ok(());
    }
    let s = &ctx.config.email.sending;
    let times = q::first_contact_times(ctx.db(), domain, at)?;
    let planned = pass.new_at_domain.get(domain).copied().unwrap_or(0);
    let count = times.len() as i64 + planned;
    let cap = i64::from(s.max_new_per_domain_per_day);
    if count >= cap {
        // The count falls under the cap when its (count − cap + 1) oldest
        // first emails are a day old; the planned ones go at `at`.
        let until = (cap > 0).then(|| {
            let k = (count - cap) as usize;
            times.get(k).copied().unwrap_or(at) + 86_400
        });
        blocks.push(block(
            "domain_new_cap",
            format!(
                "{count} first email(s) to {domain} in the last 24 h; MAX_NEW_CONTACTS_PER_DOMAIN_PER_DAY is {cap}"
            ),
            until,
        ));
    }
    let active = db::sequences::active_at_domain(ctx.db(), domain)?
        + pass.active_delta.get(domain).copied().unwrap_or(0);
    let cap = i64::from(s.max_active_per_domain);
    if active >= cap {
        blocks.push(block(
            "domain_active_cap",
            format!(
                "{active} active sequence(s) at {domain}; MAX_ACTIVE_PER_DOMAIN is {cap} (one ends with its last step, a reply or a stop)"
            ),
            None,
        ));
    }
    Ok(())
}

/// The daily cap (warm-up included) and the hour cap.
fn caps(ctx: &Ctx, pass: &PassState, blocks: &mut Vec<Block>) -> Result<()> {
    let at = pass.at;
    let s = &ctx.config.email.sending;
    if pass.sent_24h >= i64::from(pass.day_cap) {
        let warm = if pass.day_cap < s.max_per_day {
            format!(" (warm-up; MAX_EMAILS_PER_DAY is {})", s.max_per_day)
        } else {
            String::new()
        };
        blocks.push(block(
            "daily_cap",
            format!(
                "{} real send(s) in the last 24 h; today's cap is {}{warm}",
                pass.sent_24h, pass.day_cap
            ),
            daily_cap_lifts(ctx, pass)?,
        ));
    }
    let hour_limit = ctx.config.email.max_per_hour;
    if pass.sent_hour >= i64::from(hour_limit) {
        blocks.push(block(
            "hour_cap",
            format!(
                "{} real send(s) in the UTC hour {}; MAX_EMAILS_PER_HOUR is {hour_limit}",
                pass.sent_hour,
                hour_label(at)
            ),
            (hour_limit > 0).then(|| hour_start(at) + 3600),
        ));
    }
    Ok(())
}

/// When the daily cap lets a send through again (if nothing else is sent):
/// the oldest counted sends rolling off the 24 h, or the next day's higher
/// warm-up cap, whichever comes first.
fn daily_cap_lifts(ctx: &Ctx, pass: &PassState) -> Result<Option<i64>> {
    let at = pass.at;
    let in_ledger = pass.sent_24h - pass.planned;
    // The time the count falls under `cap` by sends rolling off alone.
    let rolls_off = |cap: u32| -> Result<Option<i64>> {
        if cap == 0 {
            return Ok(None);
        }
        let k = pass.sent_24h - i64::from(cap);
        if k < 0 {
            return Ok(Some(at));
        }
        Ok(Some(if k < in_ledger {
            q::nth_counted_send_at(ctx.db(), at, k)?.unwrap_or(at) + 86_400
        } else {
            at + 86_400
        }))
    };
    let today = rolls_off(pass.day_cap)?;
    let tz = ctx.config.email.sending.timezone;
    let tomorrow = local_day(at, tz)
        .checked_add_days(Days::new(1))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|midnight| local_to_utc(tz, midnight).timestamp());
    let Some(midnight) = tomorrow else {
        return Ok(today);
    };
    let next_cap = today_cap(ctx, midnight)?;
    if next_cap <= pass.day_cap {
        return Ok(today);
    }
    let then = rolls_off(next_cap)?.map(|t| t.max(midnight));
    Ok(match (today, then) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Whether the calendar of `SEND_TIMEZONE` is closed at `at`: then every
/// lead without a time zone of its own waits (`plan` counts them at once).
pub fn default_closed(ctx: &Ctx, at: i64) -> Option<Closed> {
    zone_closed(ctx, None, at)
}

/// Whether the calendar of a lead's own zone (`None`, or a name that is not
/// a zone: `SEND_TIMEZONE`) is closed at `at`.
pub fn zone_closed(ctx: &Ctx, own: Option<&str>, at: i64) -> Option<Closed> {
    calendar(ctx, zone(ctx, own.map(str::to_string)))
        .check(utc(at))
        .err()
}

/// The rule a closed calendar stands for.
pub fn closed_rule(closed: Closed) -> &'static str {
    match closed {
        Closed::Window { .. } => "window",
        Closed::Blackout { .. } => "blackout",
    }
}

/// The candidates of a real `send-outreach` pass at `at`, in its order: due
/// follow-ups oldest due first, then `new` leads oldest first — the pass
/// and `plan` walk the same list. Where the send window is closed at `at`
/// in `SEND_TIMEZONE`, every lead without a zone of its own waits, as do
/// the leads of every other closed zone: those are counted
/// ([`Candidates::closed`]) rather than walked one by one, and only the
/// leads of the zones open at `at` are yielded. (A pass decides this at its
/// start: a zone that opens while it runs is the next pass's.)
pub struct Candidates<'a> {
    ctx: &'a Ctx,
    at: i64,
    closed: Vec<(&'static str, i64)>,
    walk: Walk,
}

enum Walk {
    /// The window is open in `SEND_TIMEZONE`: every candidate, in batches.
    All {
        cursor: (i64, i64),
        after: i64,
        buf: VecDeque<(i64, i64)>,
        follow_ups_done: bool,
        done: bool,
    },
    /// Only the open zones' leads: their due follow-ups (sorted), then
    /// their new leads, each zone's in id order, merged.
    Zones {
        follow_ups: VecDeque<(i64, i64, i64)>,
        streams: Vec<ZoneStream>,
    },
}

struct ZoneStream {
    zone: String,
    buf: VecDeque<i64>,
    after: i64,
    done: bool,
}

const BATCH: u32 = 64;

impl<'a> Candidates<'a> {
    /// `counts`: the pass's candidates at `at` (`q::pass_counts`), if the
    /// caller has them already; read here only when they are needed.
    pub fn new(ctx: &'a Ctx, at: i64, counts: Option<q::PassCounts>) -> Result<Candidates<'a>> {
        let Some(default) = default_closed(ctx, at) else {
            return Ok(Candidates {
                ctx,
                at,
                closed: Vec::new(),
                walk: Walk::All {
                    cursor: (i64::MIN, 0),
                    after: 0,
                    buf: VecDeque::new(),
                    follow_ups_done: false,
                    done: false,
                },
            });
        };
        let mut closed: Vec<(&'static str, i64)> = Vec::new();
        let mut count =
            |rule: &'static str, n: i64| match closed.iter_mut().find(|(r, _)| *r == rule) {
                Some((_, total)) => *total += n,
                None => closed.push((rule, n)),
            };
        let mut open = Vec::new();
        let counts = match counts {
            Some(counts) => counts,
            None => q::pass_counts(ctx.db(), at)?,
        };
        let mut rest = counts.due + counts.new;
        for (zone, n) in q::candidates_by_zone(ctx.db(), at)? {
            // A name that is not a zone is SEND_TIMEZONE's: in `rest`.
            if parse_tz(&zone).is_err() {
                continue;
            }
            match zone_closed(ctx, Some(&zone), at) {
                Some(c) => count(closed_rule(c), n),
                None => open.push(zone),
            }
            rest -= n;
        }
        count(closed_rule(default), rest);
        closed.retain(|(_, n)| *n > 0);
        let mut follow_ups = Vec::new();
        for zone in &open {
            follow_ups.extend(q::due_in_zone(ctx.db(), zone, at)?);
        }
        follow_ups.sort_unstable();
        Ok(Candidates {
            ctx,
            at,
            closed,
            walk: Walk::Zones {
                follow_ups: follow_ups.into(),
                streams: open
                    .into_iter()
                    .map(|zone| ZoneStream {
                        zone,
                        buf: VecDeque::new(),
                        after: 0,
                        done: false,
                    })
                    .collect(),
            },
        })
    }

    /// The candidates not walked, by the rule that holds them back
    /// (`window`, `blackout`).
    pub fn closed(&self) -> &[(&'static str, i64)] {
        &self.closed
    }

    /// The next candidate: (lead, step).
    pub fn next_lead(&mut self) -> Result<Option<(i64, i64)>> {
        match &mut self.walk {
            Walk::All {
                cursor,
                after,
                buf,
                follow_ups_done,
                done,
            } => {
                while buf.is_empty() && !*done {
                    if !*follow_ups_done {
                        let batch = db::sequences::due(self.ctx.db(), self.at, *cursor, BATCH)?;
                        *follow_ups_done = batch.len() < BATCH as usize;
                        if let Some((d, lead, _)) = batch.last() {
                            *cursor = (*d, *lead);
                        }
                        buf.extend(batch.into_iter().map(|(_, lead, step)| (lead, step)));
                    } else {
                        let batch = outbox::due_leads(self.ctx.db(), *after, BATCH)?;
                        *done = batch.len() < BATCH as usize;
                        *after = batch.last().copied().unwrap_or(*after);
                        buf.extend(batch.into_iter().map(|lead| (lead, outbox::FIRST_STEP)));
                    }
                }
                Ok(buf.pop_front())
            }
            Walk::Zones {
                follow_ups,
                streams,
            } => {
                if let Some((_, lead, step)) = follow_ups.pop_front() {
                    return Ok(Some((lead, step)));
                }
                for s in streams.iter_mut() {
                    if s.buf.is_empty() && !s.done {
                        let batch = q::new_in_zone(self.ctx.db(), &s.zone, s.after, BATCH)?;
                        s.done = batch.len() < BATCH as usize;
                        s.after = batch.last().copied().unwrap_or(s.after);
                        s.buf.extend(batch);
                    }
                }
                let next = streams
                    .iter_mut()
                    .filter(|s| !s.buf.is_empty())
                    .min_by_key(|s| s.buf.front().copied());
                Ok(next
                    .and_then(|s| s.buf.pop_front())
                    .map(|lead| (lead, outbox::FIRST_STEP)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::db::params;

    use super::*;
    use crate::app::Ctx;
    use crate::config::Config;
    use crate::db::outbox::{Claim, Kind, Reservation, Target};
    use crate::services::mailer::{self, MailerFactory};

    /// Wednesday 2026-11-25T14:00:05Z.
    const T: i64 = 1_795_615_205;
    const DAY: i64 = 86_400;

    /// Real email through SendGrid (never reached: nothing here sends),
    /// with the SPEC §14 defaults unless `extra` says otherwise.
    fn ctx(extra: &[(&str, &str)], now: i64) -> Ctx {
        let mut values: std::collections::HashMap<String, String> = [
            ("EMAIL_MODE", "SENDGRID"),
            ("SENDGRID_API_KEY", "SG.test-key"),
            ("SENDGRID_FROM_EMAIL", "ops@hoss-operator.com"),
            ("COMPANY_POSTAL_ADDRESS", "1 Main St"),
            ("SENDER_NAME", "Sam Carter"),
            ("COMPANY_NAME", "Carter Consulting"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            values.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_values(values);
        let mailers: MailerFactory = mailer::real();
        Ctx::for_test(config, now, mailers)
    }

    /// A lead: (email, domain, status, last contacted).
    fn lead(ctx: &Ctx, email: &str, status: &str, contacted: Option<i64>) -> Lead {
        let domain = email.rsplit('@').next().unwrap();
        let id = ctx
            .db()
            .insert_id(
                "INSERT INTO lead (email, company, company_key, domain, source, status, created_at, last_contacted_at)
                 VALUES (?1, 'Co', ?1, ?2, 't', ?3, 0, ?4)",
                params![email, domain, status, contacted],
            )
            .unwrap();
        db::leads::get(ctx.db(), id).unwrap().unwrap()
    }

    /// A real outreach send of `step` to `lead` at `at`.
    fn sent(ctx: &Ctx, lead: &Lead, step: i64, at: i64) {
        ctx.db()
            .execute(
                "INSERT INTO send_ledger (at, hour_start, kind, lead_id, step, recipient, mode, outcome)
                 VALUES (?1, ?1 - ?1 % 3600, 'outreach', ?2, ?3, ?4, 'SENDGRID', 'sent')",
                params![at, lead.id, step, lead.email],
            )
            .unwrap();
    }

    fn sequence(
        ctx: &Ctx,
        lead: &Lead,
        state: &str,
        next: Option<(i64, i64)>,
        reason: Option<&str>,
    ) {
        ctx.db()
            .execute(
                "INSERT INTO sequence (lead_id, step, next_step, next_due_at, state, stop_reason, domain, first_subject, started_at, updated_at)
                 VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, 'Hello', 0, 0)",
                params![lead.id, next.map(|n| n.0), next.map(|n| n.1), state, reason, lead.domain],
            )
            .unwrap();
    }

    fn why(ctx: &Ctx, lead: &Lead) -> Vec<(&'static str, Option<i64>)> {
        let pass = PassState::read(ctx, ctx.now()).unwrap();
        evaluate(ctx, &pass, lead)
            .unwrap()
            .blocks
            .into_iter()
            .map(|b| (b.rule, b.until.map(|t| t.0)))
            .collect()
    }

    /// What `reserve` says of the lead's step at `now`, rolled back.
    fn reserve(ctx: &Ctx, lead: &Lead, step: i64) -> Reservation {
        let tx = ctx.sqlite().unwrap().unchecked_transaction().unwrap();
        let s = &ctx.config.email.sending;
        let claim = Claim {
            hour_limit: ctx.config.email.max_per_hour,
            day_cap: today_cap(ctx, ctx.now()).unwrap(),
            domain_new_cap: s.max_new_per_domain_per_day,
            domain_active_cap: s.max_active_per_domain,
        };
        let target = Target {
            kind: Kind::Outreach,
            step,
            lead_id: Some(lead.id),
            recipient: &lead.email,
        };
        let r =
            outbox::reserve(db::Db::sqlite(&tx), &target, "SENDGRID", &claim, ctx.now()).unwrap();
        tx.rollback().unwrap();
        r
    }

    const LIFTED: [(&str, &str); 3] = [
        ("SEND_WINDOW", "always"),
        ("WARMUP", "OFF"),
        ("MAX_EMAILS_PER_DAY", "1000"),
    ];

    #[test]
    fn window_text_reads_like_the_setting() {
        let text = |w: &str| window_text(w.parse().unwrap());
        assert_eq!(text("Mon-Fri 08:00-17:00"), "Mon-Fri 08:00-17:00");
        assert_eq!(text("Mon,Wed,Fri 09:30-16:00"), "Mon,Wed,Fri 09:30-16:00");
        assert_eq!(text("Sat,Sun 10:00-12:00"), "Sat,Sun 10:00-12:00");
        assert_eq!(text("Mon-Sun 00:00-24:00"), "Mon-Sun 00:00-24:00");
        assert_eq!(window_text(SendWindow::Always), "always");
    }

    #[test]
    fn a_closed_window_or_blackout_lifts_at_the_next_opening_in_the_leads_zone() {
        // Saturday 15:00 UTC: the New York window opens Monday 08:00 EST.
        let saturday = 1_795_878_000;
        let c = ctx(
            &[("SEND_TIMEZONE", "America/New_York"), ("WARMUP", "OFF")],
            saturday,
        );
        let ann = lead(&c, "ann@acme.com", "new", None);
        assert_eq!(
            why(&c, &ann),
            [("window", Some(1_796_043_600))],
            "2026-11-30T13:00:00Z"
        );
        // Its own zone wins over SEND_TIMEZONE.
        c.db()
            .execute(
                "UPDATE lead SET timezone = 'Asia/Tokyo' WHERE id = ?1",
                params![ann.id],
            )
            .unwrap();
        // Monday 08:00 in Tokyo is Sunday 23:00 UTC.
        assert_eq!(why(&c, &ann), [("window", Some(1_795_993_200))]);
        let c = ctx(
            &[
                ("SEND_WINDOW", "always"),
                ("SEND_BLACKOUT_DATES", "2026-11-25"),
                ("WARMUP", "OFF"),
            ],
            T,
        );
        let bo = lead(&c, "bo@bolt.io", "new", None);
        assert_eq!(why(&c, &bo), [("blackout", Some(T - 14 * 3600 - 5 + DAY))]);
    }

    #[test]
    fn the_daily_cap_lifts_when_its_oldest_send_is_a_day_old_or_tomorrows_warm_up_is_higher() {
        let c = ctx(
            &[
                ("SEND_WINDOW", "always"),
                ("WARMUP", "OFF"),
                ("MAX_EMAILS_PER_DAY", "2"),
            ],
            T,
        );
        let old = lead(&c, "old@old.com", "contacted", Some(T - 80_000));
        sent(&c, &old, 1, T - 80_000);
        sent(&c, &old, 2, T - 70_000);
        let ann = lead(&c, "ann@acme.com", "new", None);
        assert_eq!(why(&c, &ann), [("daily_cap", Some(T - 80_000 + DAY))]);
        assert!(matches!(
            reserve(&c, &ann, 1),
            Reservation::DailyCap { count: 2, cap: 2 }
        ));

        // Warm-up from today: cap 1 today, 3 tomorrow (midnight UTC).
        let c = ctx(
            &[
                ("SEND_WINDOW", "always"),
                ("WARMUP_START_DATE", "2026-11-25"),
                ("WARMUP_START", "1"),
                ("WARMUP_STEP", "2"),
            ],
            T,
        );
        let old = lead(&c, "old@old.com", "contacted", Some(T - 60));
        sent(&c, &old, 1, T - 60);
        let ann = lead(&c, "ann@acme.com", "new", None);
        let midnight = T - 14 * 3600 - 5 + DAY;
        assert_eq!(why(&c, &ann), [("daily_cap", Some(midnight))]);
        assert!(matches!(
            reserve(&c, &ann, 1),
            Reservation::DailyCap { cap: 1, .. }
        ));
    }

    #[test]
    fn the_hour_cap_lifts_at_the_next_utc_hour() {
        let mut extra = LIFTED.to_vec();
        extra.push(("MAX_EMAILS_PER_HOUR", "1"));
        let c = ctx(&extra, T);
        let old = lead(&c, "old@old.com", "contacted", Some(T - 5));
        sent(&c, &old, 1, T - 5);
        let ann = lead(&c, "ann@acme.com", "new", None);
        assert_eq!(why(&c, &ann), [("hour_cap", Some(T - 5 + 3600))]);
        assert!(matches!(
            reserve(&c, &ann, 1),
            Reservation::Throttled { count: 1 }
        ));
    }

    #[test]
    fn per_domain_caps_hold_back_first_emails_to_company_domains_only() {
        let c = ctx(&LIFTED, T);
        let first = lead(&c, "a@acme.com", "contacted", Some(T - 3600));
        sent(&c, &first, 1, T - 3600);
        sequence(&c, &first, "active", Some((2, T + 3 * DAY)), None);
        let second = lead(&c, "b@acme.com", "new", None);
        assert_eq!(why(&c, &second), [("domain_new_cap", Some(T - 3600 + DAY))]);
        assert!(matches!(
            reserve(&c, &second, 1),
            Reservation::DomainCap {
                rule: "domain_new_cap",
                count: 1
            }
        ));
        // Free mail is exempt.
        let g1 = lead(&c, "x@gmail.com", "contacted", Some(T - 60));
        sent(&c, &g1, 1, T - 60);
        let g2 = lead(&c, "y@gmail.com", "new", None);
        assert_eq!(why(&c, &g2), []);
        assert!(matches!(reserve(&c, &g2, 1), Reservation::Reserved { .. }));

        // Three running sequences at a domain, none new today.
        let c = ctx(&LIFTED, T);
        for i in 0..3 {
            let l = lead(&c, &format!("p{i}@bolt.io"), "contacted", Some(T - 5 * DAY));
            sent(&c, &l, 1, T - 5 * DAY);
            sequence(&c, &l, "active", Some((2, T + DAY)), None);
        }
        let fourth = lead(&c, "q@bolt.io", "new", None);
        assert_eq!(why(&c, &fourth), [("domain_active_cap", None)]);
        assert!(matches!(
            reserve(&c, &fourth, 1),
            Reservation::DomainCap {
                rule: "domain_active_cap",
                count: 3
            }
        ));
    }

    #[test]
    fn sequences_say_where_they_are_and_when_the_next_step_is_due() {
        let c = ctx(&LIFTED, T);
        let waiting = lead(&c, "w@one.com", "contacted", Some(T - DAY));
        sequence(&c, &waiting, "active", Some((2, T + 3600)), None);
        let pass = PassState::read(&c, T).unwrap();
        let v = evaluate(&c, &pass, &waiting).unwrap();
        assert_eq!((v.step, v.next_due_at()), (2, Some(T + 3600)));
        assert_eq!(why(&c, &waiting), [("not_due", Some(T + 3600))]);
        assert_eq!(reserve(&c, &waiting, 2), Reservation::Gone);

        let due = lead(&c, "d@two.com", "contacted", Some(T - 3 * DAY));
        sequence(&c, &due, "active", Some((2, T - 60)), None);
        assert_eq!(why(&c, &due), []);
        assert!(matches!(reserve(&c, &due, 2), Reservation::Reserved { .. }));
        // An auto-reply's return date delays it.
        c.db()
            .execute(
                "UPDATE lead SET not_before = ?2 WHERE id = ?1",
                params![due.id, T + DAY],
            )
            .unwrap();
        assert_eq!(why(&c, &due), [("not_due", Some(T + DAY))]);
        assert_eq!(reserve(&c, &due, 2), Reservation::Gone);

        let done = lead(&c, "f@three.com", "contacted", Some(T - DAY));
        sequence(&c, &done, "finished", None, None);
        assert_eq!(why(&c, &done), [("sequence_finished", None)]);
        let stopped = lead(&c, "s@four.com", "replied", Some(T - DAY));
        sequence(&c, &stopped, "stopped", None, Some("domain_replied"));
        let pass = PassState::read(&c, T).unwrap();
        let blocks = evaluate(&c, &pass, &stopped).unwrap().blocks;
        assert_eq!(
            (blocks[0].rule, blocks[0].detail.as_str(), blocks[1].rule),
            ("sequence_stopped", "domain_replied", "status")
        );
        // Contacted outside any sequence, or re-queued after a contact.
        let legacy = lead(&c, "l@five.com", "contacted", Some(T - DAY));
        assert_eq!(why(&c, &legacy), [("status", None)]);
        let requeued = lead(&c, "r@six.com", "new", Some(T - DAY));
        assert_eq!(why(&c, &requeued), [("status", None)]);
        assert_eq!(reserve(&c, &requeued, 1), Reservation::Gone);
    }

    #[test]
    fn holds_suppression_an_address_already_emailed_the_mode_and_a_pause() {
        let c = ctx(&LIFTED, T);
        let held = lead(&c, "h@held.com", "new", None);
        db::inbox::hold_domain(c.db(), "held.com", T + 5 * DAY, "domain_replied", None, T).unwrap();
        assert_eq!(why(&c, &held), [("domain_held", Some(T + 5 * DAY))]);
        assert!(matches!(reserve(&c, &held, 1), Reservation::Held { .. }));

        // On the list (a bounce pulled from the provider), the lead still new.
        let gone = lead(&c, "g@gone.com", "new", None);
        c.db().execute(
            "INSERT INTO suppression (email, reason, created_at) VALUES ('g@gone.com', 'bounce', 0)",
            params![],
        )
        .unwrap();
        assert_eq!(why(&c, &gone), [("suppressed", None)]);
        assert!(matches!(
            reserve(&c, &gone, 1),
            Reservation::Suppressed { .. }
        ));
        // Suppressed through hoss, the lead is unsubscribed as well.
        lead(&c, "u@out.com", "new", None);
        db::suppression::add(c.db(), "u@out.com", "unsubscribe", None, T).unwrap();
        let out = db::leads::by_email(c.db(), "u@out.com").unwrap().unwrap();
        assert_eq!(why(&c, &out), [("status", None), ("suppressed", None)]);
        assert_eq!(reserve(&c, &out, 1), Reservation::Gone);

        // The same address emailed as another lead (since made invalid).
        let before = lead(&c, "twice@two.com", "contacted", Some(T - DAY));
        sent(&c, &before, 1, T - DAY);
        c.db()
            .execute(
                "UPDATE lead SET status = 'invalid' WHERE id = ?1",
                params![before.id],
            )
            .unwrap();
        let again = lead(&c, "twice@two.com", "new", None);
        let pass = PassState::read(&c, T).unwrap();
        let blocks = evaluate(&c, &pass, &again).unwrap().blocks;
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].rule, "suppressed");
        assert!(
            blocks[0].detail.starts_with("already emailed"),
            "{blocks:?}"
        );
        assert!(matches!(
            reserve(&c, &again, 1),
            Reservation::Suppressed { .. }
        ));

        let fine = lead(&c, "ok@fine.com", "new", None);
        assert_eq!(why(&c, &fine), []);
        db::inbox::pause(c.db(), "operator", "checking bounces", T).unwrap();
        assert_eq!(why(&c, &fine), [("paused", None)]);

        let dry = ctx(&[("EMAIL_MODE", "DRY_RUN"), ("SEND_WINDOW", "always")], T);
        let ann = lead(&dry, "ann@acme.com", "new", None);
        assert_eq!(why(&dry, &ann), [("mode", None)]);
    }

    #[test]
    fn every_rule_named_is_one_of_the_fixed_names() {
        // `block` asserts it in debug builds; the list itself is SPEC §14's.
        assert_eq!(RULES.len(), 16);
        let mut sorted = RULES.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 16);
    }

    /// Every candidate (lead, step), and the waiting ones counted by rule.
    type Walked = (Vec<(i64, i64)>, Vec<(&'static str, i64)>);

    fn walk(c: &Ctx) -> Walked {
        let mut candidates = Candidates::new(c, c.now(), None).unwrap();
        let closed = candidates.closed().to_vec();
        let mut out = Vec::new();
        while let Some(next) = candidates.next_lead().unwrap() {
            out.push(next);
        }
        (out, closed)
    }

    #[test]
    fn candidates_come_in_the_passs_order_across_batches_and_closed_zones_are_counted() {
        let c = ctx(&LIFTED, T);
        // 150 due follow-ups, due in the reverse order of their ids, one
        // not due yet; then 130 new leads.
        for i in 0..151 {
            let l = lead(&c, &format!("s{i}@seq{i}.com"), "contacted", Some(T - DAY));
            sequence(&c, &l, "active", Some((2, T - i)), None);
        }
        c.db()
            .execute(
                "UPDATE sequence SET next_due_at = ?1 WHERE lead_id = 1",
                params![T + 60],
            )
            .unwrap();
        for i in 0..130 {
            lead(&c, &format!("n{i}@new{i}.com"), "new", None);
        }
        let (all, closed) = walk(&c);
        assert!(closed.is_empty());
        let expected: Vec<(i64, i64)> = (2..=151)
            .rev()
            .map(|id| (id, 2))
            .chain((152..=281).map(|id| (id, 1)))
            .collect();
        assert_eq!(all, expected);

        // At night in UTC, morning in Tokyo and Sydney: their leads alone,
        // oldest first across both; the rest counted as waiting.
        let night = T + 9 * 3600 + 30 * 60 - 5; // 23:30 UTC
        let c = ctx(&[("SEND_WINDOW", "Mon-Fri 08:00-17:00")], night);
        for i in 0..200 {
            let l = lead(&c, &format!("z{i}@zone{i}.com"), "new", None);
            let zone = match i % 4 {
                0 => Some("Asia/Tokyo"),
                1 => Some("Australia/Sydney"),
                2 => Some("Europe/Berlin"),
                _ => None,
            };
            c.db()
                .execute(
                    "UPDATE lead SET timezone = ?2 WHERE id = ?1",
                    params![l.id, zone],
                )
                .unwrap();
        }
        let (open, closed) = walk(&c);
        let expected: Vec<(i64, i64)> = (1..=200)
            .filter(|id| (id - 1) % 4 < 2)
            .map(|id| (id, 1))
            .collect();
        assert_eq!(open, expected);
        assert_eq!(closed, [("window", 100)]);
    }
}
