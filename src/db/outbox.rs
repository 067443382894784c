//! The send ledger (`send_ledger`): every attempt of every kind, the hour
//! counter and the at-most-once guarantee of SPEC §4.2–4.5.
//!
//! A real send is: [`reserve`] (one `BEGIN IMMEDIATE` transaction: the lead
//! is still `new` and unclaimed, not suppressed, on a deliverable domain, and
//! the UTC hour has room — then a `reserved` row is inserted), the send, then
//! [`finish`]. A unique partial index on (lead, step) over
//! `reserved|sent|uncertain` makes a second claim impossible even if two
//! processes race; `reserved` rows count toward the hour, so eight
//! overlapping passes together never exceed it.

use serde::Serialize;

use super::{Db, StoreResult, params};

use crate::clock::{Timestamp, hour_start};
use crate::domain::address::{email_domain, is_reserved_domain};
use crate::domain::delivery::{Delivery, SendResult};
use crate::domain::lead_csv::is_company_domain;
use crate::domain::status::LeadStatus;
use crate::domain::token::new_token;
use crate::error::{Error, Result};

/// Reservations older than this belong to a process that died mid-send.
pub const STALE_RESERVATION_SECS: i64 = 15 * 60;
/// Transient failures after which a lead is given up (`email_failed`).
pub const MAX_TRANSIENT_FAILURES: i64 = 3;
/// The outreach step every lead gets today (a follow-up would be step 2).
pub const FIRST_STEP: i64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Outreach,
    Test,
    Summary,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Outreach => "outreach",
            Kind::Test => "test",
            Kind::Summary => "summary",
        }
    }
}

/// Who a send goes to.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub kind: Kind,
    pub lead_id: Option<i64>,
    /// The sequence step (1 for the first email, test mail and digests).
    pub step: i64,
    pub recipient: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Go ahead: the slot and (for outreach) the lead are ours.
    Reserved {
        ledger_id: i64,
        unsubscribe_token: Option<String>,
        /// The lead's plus-address token (`local+h<token>@domain`).
        reply_token: Option<String>,
    },
    /// Not now: the lead's company domain is held (a colleague replied or
    /// complained) until `until`; the lead stays `new`.
    Held { until: i64, reason: String },
    /// Not sent: on the suppression list or a reserved domain.
    Suppressed { reason: String },
    /// The hour is full: `count` real sends already hold it.
    Throttled { count: i64 },
    /// Today's cap (warm-up included) is reached over the rolling 24 h.
    DailyCap { count: i64, cap: u32 },
    /// A per-domain cap (`domain_new_cap`, `domain_active_cap`) holds this
    /// first email back; the lead stays `new`.
    DomainCap { rule: &'static str, count: i64 },
    /// Another process claimed the lead, or it is no longer `new`.
    Gone,
}

/// Real outreach sends holding the hour of `now` (reserved, sent or
/// uncertain). Test messages and digests are the operator's own mail and
/// never use outreach quota.
pub fn sent_in_hour(db: Db<'_>, now: i64) -> StoreResult<i64> {
    db.query_row(
        "SELECT COUNT(*) FROM send_ledger
         WHERE hour_start = ?1 AND outcome IN ('reserved', 'sent', 'uncertain')
           AND kind = 'outreach'",
        params![hour_start(now)],
        |r| r.get(0),
    )
}

/// Records an attempt that needs no reservation (DRY_RUN, suppressed,
/// throttled, or a failure before any send). (The cast in the CASE tells
/// PostgreSQL `?1` is the BIGINT `at`: alone beside NULL it would guess
/// text.)
pub fn record(
    db: Db<'_>,
    target: &Target<'_>,
    subject: &str,
    mode: &str,
    outcome: &str,
    error: Option<&str>,
    now: i64,
) -> StoreResult<i64> {
    db.insert_id(
        "INSERT INTO send_ledger
         (at, hour_start, kind, lead_id, step, recipient, subject, mode, outcome, error, finished_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, CASE WHEN ?9 = 'reserved' THEN NULL ELSE CAST(?1 AS BIGINT) END)",
        params![
        now,
        hour_start(now),
        target.kind.as_str(),
        target.lead_id,
        target.step,
        target.recipient,
        subject,
        mode,
            outcome,
            error
        ],
    )
}

/// Why this recipient must not be sent to, if it must not.
pub fn suppression_reason(db: Db<'_>, recipient: &str, real: bool) -> StoreResult<Option<String>> {
    let listed: Option<String> = db.query_opt(
        "SELECT reason FROM suppression WHERE email = ?1",
        params![recipient],
        |r| r.get(0),
    )?;
    Ok(refusal(listed, recipient, real))
}

/// `suppression_reason` once the list's reason (if any) is known.
pub fn refusal(listed: Option<String>, recipient: &str, real: bool) -> Option<String> {
    if let Some(reason) = listed {
        return Some(format!("suppressed ({reason})"));
    }
    (real && is_reserved_domain(email_domain(recipient))).then(|| "reserved domain".into())
}

/// Whether this address was already emailed by outreach — by any lead,
/// whatever its status now (an `invalid` lead re-added, a later search
/// result): the lead it was, and when.
pub fn already_emailed(db: Db<'_>, recipient: &str) -> StoreResult<Option<String>> {
    let ledger: Option<(Option<i64>, i64)> = db.query_opt(
        "SELECT lead_id, at FROM send_ledger INDEXED BY send_ledger_outreach_recipient
         WHERE recipient = ?1 AND kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain')
         ORDER BY at LIMIT 1",
        params![recipient],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let found = match ledger {
        Some(hit) => Some(hit),
        // Every lead with this address: the one not `invalid` (unique index)
        // and the `invalid` ones (their own small index). (PostgreSQL 15
        // wants the subquery named.)
        None => db.query_opt(
            "SELECT id, last_contacted_at FROM (
                 SELECT id, last_contacted_at FROM lead WHERE email = ?1 AND status <> 'invalid'
                 UNION ALL
                 SELECT id, last_contacted_at FROM lead INDEXED BY lead_email_invalid
                 WHERE email = ?1 AND status = 'invalid') AS same_address
             WHERE last_contacted_at IS NOT NULL ORDER BY last_contacted_at LIMIT 1",
            params![recipient],
            |r| Ok((Some(r.get(0)?), r.get(1)?)),
        )?,
    };
    Ok(found.map(|(lead, at)| {
        let lead = lead.map_or("-".to_string(), |id| id.to_string());
        format!(
            "already emailed (lead {lead} at {})",
            crate::clock::rfc3339(at)
        )
    }))
}

/// What a claim may take: the step, and the caps of SPEC §4.2 and §14
/// (outreach only; test mail and digests use none of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub hour_limit: u32,
    /// Today's cap over the rolling 24 h (warm-up included).
    pub day_cap: u32,
    pub domain_new_cap: u32,
    pub domain_active_cap: u32,
}

impl Claim {
    /// The claim of a test message or a digest.
    pub const OPERATOR: Claim = Claim {
        hour_limit: u32::MAX,
        day_cap: u32::MAX,
        domain_new_cap: u32::MAX,
        domain_active_cap: u32::MAX,
    };
}

/// Real outreach sends in the 24 h up to `now`, `(now − 24 h, now]`
/// (reserved, sent, uncertain): from the send tallies, kept by triggers in
/// the same transaction as the ledger, so a day with hundreds of thousands
/// of sends is not counted row by row. (A ledger row pruned within the day
/// would still count: the cap errs on the side of sending less.)
pub fn real_in_24h(db: Db<'_>, now: i64) -> StoreResult<i64> {
    super::digest::real_outreach(db, now - 86_400 + 1, now + 1)
}

/// First emails to a company domain in the 24 h up to `now`.
pub fn first_contacts_at_domain(db: Db<'_>, domain: &str, now: i64) -> StoreResult<i64> {
    // From the domain's leads to their first steps: the planner would
    // rather read every send of the day (thousands) by time.
    db.query_row(
        "SELECT COUNT(*) FROM lead l INDEXED BY lead_domain
         JOIN send_ledger s INDEXED BY send_ledger_once_uq
           ON s.lead_id = l.id AND s.step = 1 AND s.kind = 'outreach'
          AND s.outcome IN ('reserved', 'sent', 'uncertain')
         WHERE l.domain = ?3 AND l.domain <> '' AND s.at > ?1 AND s.at <= ?2",
        params![now - 86_400, now, domain],
        |r| r.get(0),
    )
}

/// First emails to a company domain reserved and not yet recorded.
fn first_emails_in_flight_at_domain(db: Db<'_>, domain: &str) -> StoreResult<i64> {
    db.query_row(
        "SELECT COUNT(*) FROM send_ledger s JOIN lead l ON l.id = s.lead_id
         WHERE s.outcome = 'reserved' AND s.kind = 'outreach' AND s.step = ?2 AND l.domain = ?1",
        params![domain, FIRST_STEP],
        |r| r.get(0),
    )
}

/// What a claim reads of its lead: status, unsubscribe token, last
/// contact, company domain, and the auto-reply's "not before".
type ClaimedLead = (LeadStatus, Option<String>, Option<i64>, String, Option<i64>);

/// Claims the lead's step (outreach) and a slot of the hour and the day, in
/// the caller's `BEGIN IMMEDIATE` transaction ([`Db::immediate`]).
/// Suppressed and throttled attempts are recorded here too.
pub fn reserve(
    tx: Db<'_>,
    target: &Target<'_>,
    mode: &str,
    claim: &Claim,
    now: i64,
) -> Result<Reservation> {
    let mut unsubscribe_token = None;
    let mut reply_token = None;
    if let Some(lead_id) = target.lead_id {
        let lead: Option<ClaimedLead> = tx.query_opt(
            "SELECT status, unsubscribe_token, last_contacted_at, domain, not_before FROM lead WHERE id = ?1",
            params![lead_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let Some((status, token, last_contacted, domain, not_before)) = lead else {
            return Ok(Reservation::Gone);
        };
        let claimed: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM send_ledger WHERE lead_id = ?1 AND step = ?2
             AND kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain'))",
            params![lead_id, target.step],
            |r| r.get(0),
        )?;
        if claimed {
            return Ok(Reservation::Gone);
        }
        if target.step == FIRST_STEP {
            // A lead that was ever contacted is never emailed a first step
            // again, even when its ledger rows have been pruned or were
            // never here (imports).
            if status != LeadStatus::New || last_contacted.is_some() {
                return Ok(Reservation::Gone);
            }
        } else {
            // A follow-up: the lead is still in its sequence, waiting for
            // exactly this step, and it is due.
            let waiting: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM sequence WHERE lead_id = ?1 AND state = 'active'
                 AND next_step = ?2 AND next_due_at <= ?3)",
                params![lead_id, target.step, now],
                |r| r.get(0),
            )?;
            if status != LeadStatus::Contacted {
                // Moved on by hand, a reply or a failure: the sequence ends.
                super::sequences::stop(tx, lead_id, &format!("status {status}"), now)?;
                return Ok(Reservation::Gone);
            }
            if !waiting || not_before.is_some_and(|t| t > now) {
                return Ok(Reservation::Gone);
            }
        }
        let held: Option<(i64, String)> = tx.query_opt(
            "SELECT h.until, h.reason FROM lead l JOIN domain_hold h ON h.domain = l.domain
             WHERE l.id = ?1 AND l.domain <> '' AND h.until > ?2",
            params![lead_id, now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if let Some((until, reason)) = held {
            return Ok(Reservation::Held { until, reason });
        }
        // Free mail and platforms many unrelated leads share (a Facebook
        // page for a website) are no company: exempt.
        if target.step == FIRST_STEP && is_company_domain(&domain) {
            let new_here = first_contacts_at_domain(tx, &domain, now)?;
            if new_here >= i64::from(claim.domain_new_cap) {
                return Ok(Reservation::DomainCap {
                    rule: "domain_new_cap",
                    count: new_here,
                });
            }
            // A first email in flight (reserved, not yet recorded) starts a
            // sequence the moment it is recorded: it counts already, or
            // overlapping passes would each see room for one more.
            let active = super::sequences::active_at_domain(tx, &domain)?
                + first_emails_in_flight_at_domain(tx, &domain)?;
            if active >= i64::from(claim.domain_active_cap) {
                return Ok(Reservation::DomainCap {
                    rule: "domain_active_cap",
                    count: active,
                });
            }
        }
        reply_token = Some(lead_reply_token(tx, lead_id)?);
        unsubscribe_token = Some(match token {
            Some(t) => t,
            None => {
                let t = new_token().map_err(Error::Internal)?;
                tx.execute(
                    "UPDATE lead SET unsubscribe_token = ?2 WHERE id = ?1",
                    params![lead_id, t],
                )?;
                t
            }
        });
    }
    let refused = match suppression_reason(tx, target.recipient, true)? {
        Some(reason) => Some(reason),
        None if target.kind == Kind::Outreach && target.step == FIRST_STEP => {
            already_emailed(tx, target.recipient)?
        }
        None => None,
    };
    if let Some(reason) = refused {
        record(tx, target, "", mode, "suppressed", Some(&reason), now)?;
        if let Some(lead_id) = target.lead_id {
            let status = if reason.starts_with("suppressed") {
                LeadStatus::Unsubscribed
            } else {
                LeadStatus::Dead
            };
            tx.execute(
                "UPDATE lead SET status = ?2, status_reason = ?3 WHERE id = ?1 AND status IN ('new', 'contacted')",
                params![lead_id, status, reason],
            )?;
            super::sequences::stop(tx, lead_id, "suppressed", now)?;
        }
        return Ok(Reservation::Suppressed { reason });
    }
    if target.kind == Kind::Outreach {
        let day = real_in_24h(tx, now)?;
        if day >= i64::from(claim.day_cap) {
            return Ok(Reservation::DailyCap {
                count: day,
                cap: claim.day_cap,
            });
        }
    }
    let count = sent_in_hour(tx, now)?;
    if target.kind == Kind::Outreach && count >= i64::from(claim.hour_limit) {
        record(
            tx,
            target,
            "",
            mode,
            "throttled",
            Some("hourly limit reached"),
            now,
        )?;
        return Ok(Reservation::Throttled { count });
    }
    let ledger_id = record(tx, target, "", mode, "reserved", None, now)?;
    Ok(Reservation::Reserved {
        ledger_id,
        unsubscribe_token,
        reply_token,
    })
}

/// The lead's reply token, made on first use: 64 random bits in lower-case
/// hex (a mail server may fold the local part's case).
fn lead_reply_token(tx: Db<'_>, lead_id: i64) -> Result<String> {
    let existing: Option<String> = tx.query_row(
        "SELECT reply_token FROM lead WHERE id = ?1",
        params![lead_id],
        |r| r.get(0),
    )?;
    if let Some(t) = existing {
        return Ok(t);
    }
    let t: String = new_token()
        .map_err(Error::Internal)?
        .chars()
        .take(16)
        .collect();
    tx.execute(
        "UPDATE lead SET reply_token = ?2 WHERE id = ?1",
        params![lead_id, t],
    )?;
    Ok(t)
}

/// Records the Message-ID given to a reserved send (before it is sent, so
/// an answer to it can always be traced).
pub fn set_message_id(
    db: Db<'_>,
    ledger_id: i64,
    message_id: &str,
    variant: &str,
) -> StoreResult<()> {
    db.execute(
        "UPDATE send_ledger SET message_id = ?2, variant = ?3 WHERE id = ?1",
        params![ledger_id, message_id, variant],
    )?;
    Ok(())
}

/// What became of a reservation, written with the lead's new status.
pub fn finish(
    tx: Db<'_>,
    ledger_id: i64,
    lead_id: Option<i64>,
    subject: &str,
    result: &SendResult,
    now: i64,
) -> StoreResult<()> {
    let (outcome, transient) = match result.delivery {
        Delivery::Sent => ("sent", false),
        Delivery::Permanent => ("failed", false),
        Delivery::Transient | Delivery::Account | Delivery::Unreachable => ("failed", true),
        Delivery::Uncertain => ("uncertain", false),
    };
    tx.execute(
        "UPDATE send_ledger SET outcome = ?2, transient = ?3, error = ?4, provider_message_id = ?5,
         subject = ?6, finished_at = ?7 WHERE id = ?1 AND outcome = 'reserved'",
        params![
            ledger_id,
            outcome,
            transient,
            result.error,
            result.message_id,
            subject,
            now
        ],
    )?;
    let Some(lead_id) = lead_id else {
        return Ok(());
    };
    let reason = result.error.as_deref();
    match result.delivery {
        // A follow-up finds its lead `contacted` already. The transient
        // failures counted toward giving up are those of the step in hand:
        // a step that went starts the next one from zero.
        Delivery::Sent => tx.execute(
            "UPDATE lead SET status = 'contacted', last_contacted_at = ?2, status_reason = NULL,
                 transient_failures = 0
             WHERE id = ?1 AND status IN ('new', 'contacted')",
            params![lead_id, now],
        )?,
        Delivery::Permanent => tx.execute(
            "UPDATE lead SET status = 'email_failed', status_reason = ?2
             WHERE id = ?1 AND status IN ('new', 'contacted')",
            params![lead_id, reason],
        )?,
        Delivery::Uncertain => tx.execute(
            "UPDATE lead SET status = 'email_failed', status_reason = ?2 WHERE id = ?1 AND status = 'new'",
            params![lead_id, format!("uncertain: {}", reason.unwrap_or("no answer"))],
        )?,
        Delivery::Transient => tx.execute(
            "UPDATE lead SET transient_failures = transient_failures + 1,
                 status = CASE WHEN transient_failures + 1 >= ?3 THEN 'email_failed' ELSE status END,
                 status_reason = ?2
             WHERE id = ?1 AND status IN ('new', 'contacted')",
            params![lead_id, reason, MAX_TRANSIENT_FAILURES],
        )?,
        // The sender's problem: the lead keeps its place and its retries.
        Delivery::Account | Delivery::Unreachable => 0,
    };
    Ok(())
}

/// A reservation whose process died: now `uncertain`, never re-sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abandoned {
    pub ledger_id: i64,
    pub lead_id: Option<i64>,
    pub recipient: String,
    pub at: i64,
}

/// Turns reservations older than [`STALE_RESERVATION_SECS`] into
/// `uncertain`; their leads become `email_failed` with the reason.
pub fn recover_stale(tx: Db<'_>, now: i64) -> Result<Vec<Abandoned>> {
    let stale: Vec<(Abandoned, bool)> = tx.query_all(
        "SELECT id, lead_id, recipient, at, kind = 'outreach' AND step > ?2
         FROM send_ledger WHERE outcome = 'reserved' AND at < ?1",
        params![now - STALE_RESERVATION_SECS, FIRST_STEP],
        |r| {
            Ok((
                Abandoned {
                    ledger_id: r.get(0)?,
                    lead_id: r.get(1)?,
                    recipient: r.get(2)?,
                    at: r.get(3)?,
                },
                r.get(4)?,
            ))
        },
    )?;
    let reason = "uncertain: the sending process ended before recording an answer";
    for (a, follow_up) in &stale {
        tx.execute(
            "UPDATE send_ledger SET outcome = 'uncertain', error = ?2, finished_at = ?3 WHERE id = ?1",
            params![a.ledger_id, reason, now],
        )?;
        if let Some(lead_id) = a.lead_id {
            tx.execute(
                "UPDATE lead SET status = 'email_failed', status_reason = ?2 WHERE id = ?1 AND status = 'new'",
                params![lead_id, reason],
            )?;
            // A follow-up that may have gone is never sent again, so its
            // sequence cannot move on: it ends, as an uncertain follow-up
            // of a live pass does (else it stays active and due forever,
            // and holds a place under MAX_ACTIVE_PER_DOMAIN).
            if *follow_up {
                super::sequences::stop(tx, lead_id, "uncertain", now)?;
            }
        }
    }
    Ok(stale.into_iter().map(|(a, _)| a).collect())
}

/// Lets an operator re-queue a lead after checking the provider: its
/// uncertain attempts stop blocking a new one. Refused when the lead was
/// certainly sent already (at most once per step).
pub fn release_for_requeue(tx: Db<'_>, lead_id: i64) -> Result<()> {
    let sent_at: Option<i64> = tx.query_row(
        "SELECT COALESCE(
             (SELECT MAX(at) FROM send_ledger WHERE lead_id = ?1 AND step = ?2 AND kind = 'outreach'
              AND outcome IN ('sent', 'reserved')),
             (SELECT last_contacted_at FROM lead WHERE id = ?1))",
        params![lead_id, FIRST_STEP],
        |r| r.get(0),
    )?;
    if let Some(at) = sent_at {
        return Err(Error::Data(format!(
            "lead {lead_id} was already emailed (attempt at {}); hoss emails a lead at most once",
            crate::clock::rfc3339(at)
        )));
    }
    tx.execute(
        "UPDATE send_ledger SET outcome = 'failed',
             error = COALESCE(error, 'uncertain') || ' (re-queued by operator)'
         WHERE lead_id = ?1 AND step = ?2 AND kind = 'outreach' AND outcome = 'uncertain'",
        params![lead_id, FIRST_STEP],
    )?;
    tx.execute(
        "UPDATE lead SET transient_failures = 0 WHERE id = ?1",
        params![lead_id],
    )?;
    Ok(())
}

/// `new` leads after `after_id`, oldest first.
pub fn due_leads(db: Db<'_>, after_id: i64, limit: u32) -> StoreResult<Vec<i64>> {
    db.query_all(
        "SELECT id FROM lead WHERE status = 'new' AND id > ?1 ORDER BY id LIMIT ?2",
        params![after_id, limit],
        |r| r.get(0),
    )
}

/// Drops ledger rows older than the retention window (never a live
/// reservation).
pub fn prune(db: Db<'_>, now: i64, retention_days: u32) -> StoreResult<usize> {
    db.execute(
        "DELETE FROM send_ledger WHERE at < ?1 AND outcome <> 'reserved'",
        params![now - i64::from(retention_days) * 86_400],
    )
}

/// One attempt on the ledger, as `status` lists the newest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub at: Timestamp,
    pub lead_id: Option<i64>,
    #[serde(rename = "to")]
    pub recipient: String,
    pub subject: String,
    pub kind: String,
    pub mode: String,
    pub outcome: String,
    pub error: Option<String>,
}

/// The newest attempts, newest first.
pub fn recent(db: Db<'_>, limit: u32) -> StoreResult<Vec<Attempt>> {
    db.query_all(
        "SELECT at, lead_id, recipient, subject, kind, mode, outcome, error
         FROM send_ledger ORDER BY id DESC LIMIT ?1",
        params![limit],
        |r| {
            Ok(Attempt {
                at: r.get(0)?,
                lead_id: r.get(1)?,
                recipient: r.get(2)?,
                subject: r.get(3)?,
                kind: r.get(4)?,
                mode: r.get(5)?,
                outcome: r.get(6)?,
                error: r.get(7)?,
            })
        },
    )
}

/// Uncertain sends still on record (the operator should look at them).
pub fn count_uncertain(db: Db<'_>) -> StoreResult<i64> {
    // The planner prefers scanning a covering index for COUNT(*); the
    // partial index holds only the uncertain rows, so name it.
    db.query_row(
        "SELECT COUNT(*) FROM send_ledger INDEXED BY send_ledger_uncertain WHERE outcome = 'uncertain'",
        params![],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    fn hour_limit(n: u32) -> super::Claim {
        super::Claim {
            hour_limit: n,
            ..super::Claim::OPERATOR
        }
    }

    use super::*;

    /// The lead the tests' [`target`] names (id 1: each store is new).
    fn with_lead(db: Db<'_>, email: &str) {
        let id = db
            .insert_id(
                "INSERT INTO lead (email, company, source, created_at) VALUES (?1, 'Acme', 't', 0)",
                params![email],
            )
            .unwrap();
        assert_eq!(id, 1);
    }

    fn lead_status(db: Db<'_>) -> String {
        db.query_row("SELECT status FROM lead", params![], |r| r.get(0))
            .unwrap()
    }

    fn target(email: &str) -> Target<'_> {
        Target {
            kind: Kind::Outreach,
            step: FIRST_STEP,
            lead_id: Some(1),
            recipient: email,
        }
    }

    fn sent() -> SendResult {
        SendResult {
            success: true,
            mode: crate::config::EmailMode::Smtp,
            error: None,
            message_id: None,
            delivery: Delivery::Sent,
        }
    }

    #[test]
    fn a_lead_can_be_reserved_once() {
        crate::db::on_each_store(|db| {
            with_lead(db, "a@acme.com");
            let first = reserve(db, &target("a@acme.com"), "SMTP", &hour_limit(10), 100).unwrap();
            assert!(matches!(first, Reservation::Reserved { .. }));
            assert_eq!(
                reserve(db, &target("a@acme.com"), "SMTP", &hour_limit(10), 101).unwrap(),
                Reservation::Gone
            );
            assert_eq!(sent_in_hour(db, 102).unwrap(), 1);
        });
    }

    #[test]
    fn the_hour_counter_resets_at_the_boundary() {
        crate::db::on_each_store(|db| {
            with_lead(db, "a@acme.com");
            let hour = 1_795_615_200;
            reserve(
                db,
                &target("a@acme.com"),
                "SMTP",
                &hour_limit(1),
                hour + 3599,
            )
            .unwrap();
            assert_eq!(sent_in_hour(db, hour + 3599).unwrap(), 1);
            assert_eq!(sent_in_hour(db, hour + 3600).unwrap(), 0);
            // A test message is the operator's own mail: never throttled, never counted.
            let t = Target {
                kind: Kind::Test,
                step: FIRST_STEP,
                lead_id: None,
                recipient: "op@acme.com",
            };
            assert!(matches!(
                reserve(db, &t, "SMTP", &hour_limit(1), hour + 3599).unwrap(),
                Reservation::Reserved { .. }
            ));
            assert_eq!(sent_in_hour(db, hour + 3599).unwrap(), 1);
        });
    }

    #[test]
    fn finishing_moves_the_lead_and_frees_failed_slots() {
        crate::db::on_each_store(|db| {
            with_lead(db, "a@acme.com");
            let Reservation::Reserved { ledger_id, .. } =
                reserve(db, &target("a@acme.com"), "SMTP", &hour_limit(10), 100).unwrap()
            else {
                panic!()
            };
            let transient = SendResult {
                success: false,
                delivery: Delivery::Transient,
                error: Some("421".into()),
                ..sent()
            };
            finish(db, ledger_id, Some(1), "s", &transient, 101).unwrap();
            assert_eq!(sent_in_hour(db, 102).unwrap(), 0);
            let Reservation::Reserved { ledger_id, .. } =
                reserve(db, &target("a@acme.com"), "SMTP", &hour_limit(10), 103).unwrap()
            else {
                panic!()
            };
            finish(db, ledger_id, Some(1), "s", &sent(), 104).unwrap();
            let (status, at): (String, i64) = db
                .query_row(
                    "SELECT status, last_contacted_at FROM lead",
                    params![],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!((status.as_str(), at), ("contacted", 104));
        });
    }

    #[test]
    fn three_transient_failures_give_up() {
        crate::db::on_each_store(|db| {
            with_lead(db, "a@acme.com");
            let transient = SendResult {
                success: false,
                delivery: Delivery::Transient,
                error: Some("busy".into()),
                ..sent()
            };
            for i in 0..3 {
                let Reservation::Reserved { ledger_id, .. } =
                    reserve(db, &target("a@acme.com"), "SMTP", &hour_limit(10), 100 + i).unwrap()
                else {
                    panic!("{i}")
                };
                finish(db, ledger_id, Some(1), "s", &transient, 100 + i).unwrap();
            }
            let status = lead_status(db);
            assert_eq!(status, "email_failed");
        });
    }

    #[test]
    fn stale_reservations_become_uncertain_and_are_never_resent() {
        crate::db::on_each_store(|db| {
            with_lead(db, "a@acme.com");
            reserve(db, &target("a@acme.com"), "SMTP", &hour_limit(10), 1000).unwrap();
            assert!(
                recover_stale(db, 1000 + STALE_RESERVATION_SECS - 1)
                    .unwrap()
                    .is_empty()
            );
            let stale = recover_stale(db, 1000 + STALE_RESERVATION_SECS + 1).unwrap();
            assert_eq!(stale.len(), 1);
            assert_eq!(count_uncertain(db).unwrap(), 1);
            let status = lead_status(db);
            assert_eq!(status, "email_failed");
            db.execute("UPDATE lead SET status = 'new'", params![])
                .unwrap();
            assert_eq!(
                reserve(db, &target("a@acme.com"), "SMTP", &hour_limit(10), 5000).unwrap(),
                Reservation::Gone
            );
            release_for_requeue(db, 1).unwrap();
            assert!(matches!(
                reserve(db, &target("a@acme.com"), "SMTP", &hour_limit(10), 5001).unwrap(),
                Reservation::Reserved { .. }
            ));
        });
    }

    #[test]
    fn suppressed_and_reserved_recipients_are_not_reserved() {
        crate::db::on_each_store(|db| {
            with_lead(db, "a@acme.example");
            let r = reserve(db, &target("a@acme.example"), "SMTP", &hour_limit(10), 100).unwrap();
            assert_eq!(
                r,
                Reservation::Suppressed {
                    reason: "reserved domain".into()
                }
            );
            let status = lead_status(db);
            assert_eq!(status, "dead");
        });
    }

    #[test]
    fn the_ledger_reads_what_it_recorded() {
        crate::db::on_each_store(|db| {
            with_lead(db, "a@acme.com");
            db.execute("UPDATE lead SET domain = 'acme.com'", params![])
                .unwrap();
            assert_eq!(due_leads(db, 0, 10).unwrap(), [1]);
            assert_eq!(already_emailed(db, "a@acme.com").unwrap(), None);
            let Reservation::Reserved { ledger_id, .. } =
                reserve(db, &target("a@acme.com"), "SMTP", &hour_limit(10), 100).unwrap()
            else {
                panic!()
            };
            set_message_id(db, ledger_id, "m1@acme.com", "a").unwrap();
            finish(db, ledger_id, Some(1), "Hello", &sent(), 101).unwrap();
            assert_eq!(due_leads(db, 0, 10).unwrap(), [0i64; 0]);
            assert_eq!(real_in_24h(db, 200).unwrap(), 1);
            assert_eq!(first_contacts_at_domain(db, "acme.com", 200).unwrap(), 1);
            assert_eq!(
                already_emailed(db, "a@acme.com").unwrap().as_deref(),
                Some("already emailed (lead 1 at 1970-01-01T00:01:40Z)")
            );
            // Without its ledger row, the lead's own last contact answers
            // (the union of valid and invalid leads with the address).
            assert_eq!(prune(db, 100 + 86_400 * 2, 1).unwrap(), 1);
            assert_eq!(
                already_emailed(db, "a@acme.com").unwrap().as_deref(),
                Some("already emailed (lead 1 at 1970-01-01T00:01:41Z)")
            );
            db.execute(
                "INSERT INTO suppression (email, reason, created_at) VALUES ('b@acme.com', 'manual', 0)",
                params![],
            )
            .unwrap();
            assert_eq!(
                suppression_reason(db, "b@acme.com", false)
                    .unwrap()
                    .as_deref(),
                Some("suppressed (manual)")
            );
            let t = Target {
                kind: Kind::Test,
                step: FIRST_STEP,
                lead_id: None,
                recipient: "op@acme.com",
            };
            record(db, &t, "s", "DRY_RUN", "dry_run", None, 300).unwrap();
            let newest = recent(db, 1).unwrap();
            assert_eq!(
                (newest[0].recipient.as_str(), newest[0].outcome.as_str()),
                ("op@acme.com", "dry_run")
            );
            assert_eq!(count_uncertain(db).unwrap(), 0);
        });
    }
}
