//! What came back (SPEC §13): the IMAP read position, each message or
//! event recorded once, attribution lookups, domain holds, the SendGrid
//! cursors and the outreach pause.

use serde::Serialize;

use super::{Db, Row, StoreResult, Value, params};

use crate::clock::Timestamp;
use crate::domain::status::LeadStatus;

/// Where a folder was read up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderState {
    pub uid_validity: u32,
    pub last_uid: u32,
    pub last_sync_at: i64,
}

fn folder_row(r: &Row<'_>) -> StoreResult<FolderState> {
    Ok(FolderState {
        uid_validity: r.get(0)?,
        last_uid: r.get(1)?,
        last_sync_at: r.get(2)?,
    })
}

pub fn folder_state(db: Db<'_>, folder: &str) -> StoreResult<Option<FolderState>> {
    db.query_opt(
        "SELECT uid_validity, last_uid, last_sync_at FROM inbox_state WHERE folder = ?1",
        params![folder],
        folder_row,
    )
}

/// The most recent sync of any folder.
pub fn last_state(db: Db<'_>) -> StoreResult<Option<FolderState>> {
    db.query_opt(
        "SELECT uid_validity, last_uid, last_sync_at FROM inbox_state
         ORDER BY last_sync_at DESC LIMIT 1",
        params![],
        folder_row,
    )
}

pub fn save_folder_state(db: Db<'_>, folder: &str, state: FolderState) -> StoreResult<()> {
    db.execute(
        "INSERT INTO inbox_state (folder, uid_validity, last_uid, last_sync_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (folder) DO UPDATE SET uid_validity = ?2, last_uid = ?3, last_sync_at = ?4",
        params![folder, state.uid_validity, state.last_uid, state.last_sync_at],
    )?;
    Ok(())
}

/// One thing that came back, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub at: i64,
    /// `imap`, `sendgrid_event` or `sendgrid_pull`.
    pub source: &'static str,
    pub source_key: String,
    /// `reply`, `auto_reply`, `bounce`, `opt_out`, `complaint`, `unmatched`.
    pub kind: &'static str,
    /// For bounces: `hard`, `soft` or `blocked`.
    pub bounce: Option<&'static str>,
    pub lead_id: Option<i64>,
    pub address: Option<String>,
    pub from: Option<String>,
    pub subject: String,
    pub action: String,
    pub detail: Option<String>,
}

/// Whether `source_key` was recorded already (applied once, never again).
pub fn seen(db: Db<'_>, source_key: &str) -> StoreResult<bool> {
    db.query_row(
        "SELECT EXISTS (SELECT 1 FROM inbox_message WHERE source_key = ?1)",
        params![source_key],
        |r| r.get(0),
    )
}

/// Records `m`; `false` when its key was recorded before (nothing to do).
pub fn record(db: Db<'_>, m: &Message) -> StoreResult<bool> {
    Ok(db.execute(
        "INSERT INTO inbox_message (at, source, source_key, kind, bounce, lead_id, address, from_addr,
                                    subject, action, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (source_key) DO NOTHING",
        params![
            m.at,
            m.source,
            m.source_key,
            m.kind,
            m.bounce,
            m.lead_id,
            m.address,
            m.from,
            m.subject,
            m.action,
            m.detail
        ],
    )? == 1)
}

/// A row of `hoss inbox list` (its JSON: `{"at", "kind", "lead_id",
/// "from", "subject", "action"}`; bounces as `bounce:hard|soft|blocked`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Received {
    pub at: Timestamp,
    pub kind: String,
    pub lead_id: Option<i64>,
    pub from: Option<String>,
    pub subject: String,
    pub action: String,
}

const RECEIVED_COLUMNS: &str =
    "at, kind || COALESCE(':' || bounce, ''), lead_id, from_addr, subject, action";

fn received(r: &Row<'_>) -> StoreResult<Received> {
    Ok(Received {
        at: r.get(0)?,
        kind: r.get(1)?,
        lead_id: r.get(2)?,
        from: r.get(3)?,
        subject: r.get(4)?,
        action: r.get(5)?,
    })
}

/// Newest first, optionally of one kind.
pub fn list(
    db: Db<'_>,
    kind: Option<&str>,
    page: super::Page,
) -> StoreResult<super::Listed<Received>> {
    // No filter at all when no kind is asked for (an index stays usable).
    let (filter, args) = match kind {
        Some(k) => ("WHERE kind = ?1", vec![Value::Text(k.to_string())]),
        None => ("", Vec::new()),
    };
    let page = super::Page {
        newest: true,
        ..page
    };
    super::page(
        db,
        RECEIVED_COLUMNS,
        &format!("FROM inbox_message {filter}"),
        args,
        &["at", "id"],
        page,
        received,
    )
}

/// Human replies recorded in `[from, to)`, oldest first (at most `limit`).
pub fn replies_between(db: Db<'_>, from: i64, to: i64, limit: u32) -> StoreResult<Vec<Received>> {
    db.query_all(
        &format!(
            "SELECT {RECEIVED_COLUMNS} FROM inbox_message
             WHERE kind = 'reply' AND at >= ?1 AND at < ?2 ORDER BY at, id LIMIT ?3"
        ),
        params![from, to, limit],
        received,
    )
}

/// Counts by kind since `from` (`bounce` split into `bounce:hard` etc.).
pub fn counts_since(
    db: Db<'_>,
    from: i64,
    to: i64,
) -> StoreResult<std::collections::BTreeMap<String, i64>> {
    let rows = db.query_all(
        "SELECT kind || COALESCE(':' || bounce, ''), COUNT(*) FROM inbox_message
         WHERE at >= ?1 AND at < ?2 GROUP BY 1",
        params![from, to],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows.into_iter().collect())
}

/// The health evidence in `[from, to)`: (hard bounces and blocks,
/// complaints) of the real outreach sends of that window — the rate's
/// denominator. A bounce of the operator's other mail on the same SendGrid
/// account, or of a send before the window (the first pull or sync reads
/// two weeks back, all recorded today), is suppressed like any but says
/// nothing about this week. Each address counts once: SendGrid tells of one
/// bounce twice (the event, then its list), a DSN may come too.
pub fn health_evidence(db: Db<'_>, from: i64, to: i64) -> StoreResult<(i64, i64)> {
    db.query_row(
        "SELECT COUNT(DISTINCT CASE WHEN m.kind = 'bounce' AND m.bounce IN ('hard', 'blocked')
                                    THEN COALESCE(m.address, '#' || m.lead_id) END),
                COUNT(DISTINCT CASE WHEN m.kind = 'complaint'
                                    THEN COALESCE(m.address, '#' || m.lead_id) END)
         FROM inbox_message m
         WHERE m.at >= ?1 AND m.at < ?2 AND m.lead_id IS NOT NULL
           AND EXISTS (SELECT 1 FROM send_ledger s
                       WHERE s.lead_id = m.lead_id AND s.kind = 'outreach' AND s.outcome = 'sent'
                         AND s.at >= ?1 AND s.at < ?2)",
        params![from, to],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Soft bounces of `address` since `from`.
pub fn soft_bounces_since(db: Db<'_>, address: &str, from: i64) -> StoreResult<i64> {
    db.query_row(
        "SELECT COUNT(*) FROM inbox_message WHERE bounce = 'soft' AND address = ?1 AND at >= ?2",
        params![address, from],
        |r| r.get(0),
    )
}

/// A lead's plus-address token, once its first send made one.
pub fn lead_reply_token(db: Db<'_>, lead_id: i64) -> StoreResult<Option<String>> {
    Ok(db
        .query_opt(
            "SELECT reply_token FROM lead WHERE id = ?1",
            params![lead_id],
            |r| r.get::<Option<String>>(0),
        )?
        .flatten())
}

/// The lead whose plus-address token is `token`.
pub fn lead_by_reply_token(db: Db<'_>, token: &str) -> StoreResult<Option<i64>> {
    db.query_opt(
        "SELECT id FROM lead WHERE reply_token = ?1",
        params![token],
        |r| r.get(0),
    )
}

/// The lead a message hoss sent (by its Message-ID) went to.
pub fn lead_by_message_id(db: Db<'_>, message_id: &str) -> StoreResult<Option<i64>> {
    db.query_opt(
        "SELECT lead_id FROM send_ledger WHERE message_id = ?1 AND lead_id IS NOT NULL
         ORDER BY id DESC LIMIT 1",
        params![message_id],
        |r| r.get(0),
    )
}

/// The lead send `id` went to, when it went to `recipient` (an id from
/// another database — a restored backup, a second hoss on the same SendGrid
/// account — names some other send here).
pub fn lead_of_send(db: Db<'_>, id: i64, recipient: &str) -> StoreResult<Option<i64>> {
    Ok(db
        .query_opt(
            "SELECT lead_id FROM send_ledger WHERE id = ?1 AND recipient = ?2",
            params![id, recipient],
            |r| r.get::<Option<i64>>(0),
        )?
        .flatten())
}

/// The lead with this address (a live one before an `invalid` one).
pub fn lead_by_email(db: Db<'_>, email: &str) -> StoreResult<Option<i64>> {
    db.query_opt(
        "SELECT id FROM lead WHERE email = ?1 ORDER BY status = 'invalid', id DESC LIMIT 1",
        params![email],
        |r| r.get(0),
    )
}

/// The most recently contacted lead at a company domain.
pub fn lead_at_domain(db: Db<'_>, domain: &str) -> StoreResult<Option<i64>> {
    db.query_opt(
        "SELECT id FROM lead WHERE domain = ?1 AND status <> 'invalid'
         ORDER BY last_contacted_at IS NULL, last_contacted_at DESC, id DESC LIMIT 1",
        params![domain],
        |r| r.get(0),
    )
}

/// A lead's address, company domain and status.
pub fn lead_facts(db: Db<'_>, id: i64) -> StoreResult<Option<(String, String, String)>> {
    db.query_opt(
        "SELECT email, domain, status FROM lead WHERE id = ?1",
        params![id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// Moves a lead to `status` when it is in one of `from`; whether it moved.
pub fn move_lead(
    db: Db<'_>,
    id: i64,
    from: &[LeadStatus],
    status: LeadStatus,
    reason: &str,
) -> StoreResult<bool> {
    let list = from
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(db.execute(
        &format!(
            "UPDATE lead SET status = ?2, status_reason = ?3 WHERE id = ?1 AND status IN ({list})"
        ),
        params![id, status, reason],
    )? == 1)
}

/// Holds a company domain until `until` (an existing, longer hold stays).
pub fn hold_domain(
    db: Db<'_>,
    domain: &str,
    until: i64,
    reason: &str,
    lead_id: Option<i64>,
    now: i64,
) -> StoreResult<()> {
    db.execute(
        db.pick(HOLD, HOLD_POSTGRES),
        params![domain, until, reason, lead_id, now],
    )?;
    Ok(())
}

// SQLite's scalar `max(a, b)` is PostgreSQL's `GREATEST(a, b)` (which
// skips NULLs where `max` returns NULL: no argument here is ever NULL).
// The twins are the same statements otherwise (a unit test holds them so).
// An upsert names the stored row's column by its table: to PostgreSQL a
// bare `until` could be the proposed row's too.
const HOLD: &str =
    "INSERT INTO domain_hold (domain, until, reason, lead_id, at) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (domain) DO UPDATE SET until = max(domain_hold.until, ?2), reason = ?3, lead_id = ?4, at = ?5";
const HOLD_POSTGRES: &str = "INSERT INTO domain_hold (domain, until, reason, lead_id, at) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (domain) DO UPDATE SET until = GREATEST(domain_hold.until, ?2), reason = ?3, lead_id = ?4, at = ?5";
const DELAY: &str = "UPDATE lead SET not_before = max(COALESCE(not_before, 0), ?2) WHERE id = ?1";
const DELAY_POSTGRES: &str =
    "UPDATE lead SET not_before = GREATEST(COALESCE(not_before, 0), ?2) WHERE id = ?1";
const CURSOR: &str = "INSERT INTO sendgrid_cursor (list, start_time) VALUES (?1, ?2)
     ON CONFLICT (list) DO UPDATE SET start_time = max(sendgrid_cursor.start_time, ?2)";
const CURSOR_POSTGRES: &str = "INSERT INTO sendgrid_cursor (list, start_time) VALUES (?1, ?2)
     ON CONFLICT (list) DO UPDATE SET start_time = GREATEST(sendgrid_cursor.start_time, ?2)";

/// Delays a lead's next step to `not_before` (an auto-reply's return day).
pub fn delay_lead(db: Db<'_>, id: i64, not_before: i64) -> StoreResult<()> {
    db.execute(db.pick(DELAY, DELAY_POSTGRES), params![id, not_before])?;
    Ok(())
}

pub fn sendgrid_cursor(db: Db<'_>, list: &str) -> StoreResult<Option<i64>> {
    db.query_opt(
        "SELECT start_time FROM sendgrid_cursor WHERE list = ?1",
        params![list],
        |r| r.get(0),
    )
}

pub fn set_sendgrid_cursor(db: Db<'_>, list: &str, start_time: i64) -> StoreResult<()> {
    db.execute(db.pick(CURSOR, CURSOR_POSTGRES), params![list, start_time])?;
    Ok(())
}

/// The outreach pause in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub paused_at: i64,
    pub source: String,
    pub reason: String,
}

pub fn pause_in_force(db: Db<'_>) -> StoreResult<Option<Pause>> {
    db.query_opt(
        "SELECT paused_at, source, reason FROM email_pause WHERE resumed_at IS NULL",
        params![],
        |r| {
            Ok(Pause {
                paused_at: r.get(0)?,
                source: r.get(1)?,
                reason: r.get(2)?,
            })
        },
    )
}

/// Pauses outreach; `false` when a pause is already in force.
pub fn pause(db: Db<'_>, source: &str, reason: &str, now: i64) -> StoreResult<bool> {
    Ok(db.execute(
        "INSERT INTO email_pause (paused_at, source, reason) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
        params![now, source, reason],
    )? == 1)
}

/// Lifts the pause in force; `false` when there was none.
pub fn resume(db: Db<'_>, now: i64) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE email_pause SET resumed_at = ?1 WHERE resumed_at IS NULL",
        params![now],
    )? == 1)
}

/// When the operator last resumed outreach: evidence before it is spent.
pub fn last_resume(db: Db<'_>) -> StoreResult<Option<i64>> {
    db.query_row("SELECT MAX(resumed_at) FROM email_pause", params![], |r| {
        r.get(0)
    })
}

/// Real outreach sends since `from` (the ledger's `sent` outcome).
pub fn real_sends_since(db: Db<'_>, from: i64, to: i64) -> StoreResult<i64> {
    let attempts = super::digest::send_attempts(db, from, to)?;
    Ok(attempts
        .get(&("outreach".to_string(), "sent".to_string()))
        .copied()
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(key: &str, kind: &'static str, at: i64) -> Message {
        Message {
            at,
            source: "imap",
            source_key: key.into(),
            kind,
            bounce: None,
            lead_id: None,
            address: None,
            from: Some("a@x.example".into()),
            subject: "s".into(),
            action: "nothing".into(),
            detail: None,
        }
    }

    #[test]
    fn a_message_is_recorded_once_and_counted() {
        crate::db::on_each_store(|db| {
            assert!(record(db, &msg("m1", "reply", 10)).unwrap());
            assert!(!record(db, &msg("m1", "reply", 11)).unwrap());
            assert!(seen(db, "m1").unwrap());
            assert!(!seen(db, "m9").unwrap());
            let mut soft = msg("m2", "bounce", 20);
            soft.bounce = Some("soft");
            soft.address = Some("b@x.example".into());
            record(db, &soft).unwrap();
            let counts = counts_since(db, 0, 100).unwrap();
            assert_eq!((counts["reply"], counts["bounce:soft"]), (1, 1));
            assert_eq!(soft_bounces_since(db, "b@x.example", 15).unwrap(), 1);
            assert_eq!(soft_bounces_since(db, "b@x.example", 21).unwrap(), 0);
            let listed = list(db, Some("reply"), crate::db::Page::ALL).unwrap();
            assert_eq!(listed.rows.len(), 1);
            let all = list(db, None, crate::db::Page::ALL).unwrap();
            assert_eq!(
                all.rows.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
                ["bounce:soft", "reply"]
            );
            let replies = replies_between(db, 0, 100, 10).unwrap();
            assert_eq!(replies.len(), 1);
            assert_eq!(replies[0].at, crate::clock::Timestamp(10));
        });
    }

    /// The hold on `domain` in force at `now`: (until, reason), as the
    /// sending rules read it (`discipline::lead_facts`).
    fn domain_held(db: Db<'_>, domain: &str, now: i64) -> StoreResult<Option<(i64, String)>> {
        db.query_opt(
            "SELECT until, reason FROM domain_hold WHERE domain = ?1 AND until > ?2",
            params![domain, now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    #[test]
    fn one_pause_in_force_and_holds_only_grow() {
        crate::db::on_each_store(|db| {
            assert_eq!(last_resume(db).unwrap(), None);
            assert!(pause(db, "auto", "bounce rate", 5).unwrap());
            assert!(!pause(db, "operator", "again", 6).unwrap());
            assert_eq!(pause_in_force(db).unwrap().unwrap().reason, "bounce rate");
            assert!(resume(db, 7).unwrap());
            assert!(!resume(db, 8).unwrap());
            assert_eq!(last_resume(db).unwrap(), Some(7));
            assert!(pause_in_force(db).unwrap().is_none());
            hold_domain(db, "acme.example", 100, "domain_replied", None, 1).unwrap();
            hold_domain(db, "acme.example", 50, "domain_replied", None, 2).unwrap();
            assert_eq!(domain_held(db, "acme.example", 60).unwrap().unwrap().0, 100);
            assert!(domain_held(db, "acme.example", 100).unwrap().is_none());
            hold_domain(db, "acme.example", 150, "complaint", None, 3).unwrap();
            assert_eq!(
                domain_held(db, "acme.example", 100).unwrap(),
                Some((150, "complaint".into()))
            );
        });
    }

    #[test]
    fn the_greatest_twins_are_their_sqlite_statements() {
        for (sqlite, postgres) in [
            (HOLD, HOLD_POSTGRES),
            (DELAY, DELAY_POSTGRES),
            (CURSOR, CURSOR_POSTGRES),
        ] {
            assert_eq!(sqlite.replace("max(", "GREATEST("), postgres);
        }
    }

    #[test]
    fn cursors_and_delays_only_move_forward_and_folders_keep_their_place() {
        crate::db::on_each_store(|db| {
            assert_eq!(sendgrid_cursor(db, "bounces").unwrap(), None);
            set_sendgrid_cursor(db, "bounces", 100).unwrap();
            set_sendgrid_cursor(db, "bounces", 50).unwrap();
            assert_eq!(sendgrid_cursor(db, "bounces").unwrap(), Some(100));
            set_sendgrid_cursor(db, "bounces", 150).unwrap();
            assert_eq!(sendgrid_cursor(db, "bounces").unwrap(), Some(150));
            db.execute_batch(
                "INSERT INTO lead (id, email, domain, source, status, created_at, last_contacted_at) VALUES
                   (1, 'a@acme.example', 'acme.example', 't', 'contacted', 0, 10),
                   (2, 'b@acme.example', 'acme.example', 't', 'new', 0, NULL),
                   (3, 'c@acme.example', 'acme.example', 't', 'contacted', 0, 20);",
            )
            .unwrap();
            delay_lead(db, 1, 500).unwrap();
            delay_lead(db, 1, 300).unwrap();
            let not_before: Option<i64> = db
                .query_row("SELECT not_before FROM lead WHERE id = 1", params![], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(not_before, Some(500));
            assert_eq!(lead_at_domain(db, "acme.example").unwrap(), Some(3));
            assert_eq!(lead_by_email(db, "b@acme.example").unwrap(), Some(2));
            assert_eq!(
                lead_facts(db, 2).unwrap(),
                Some(("b@acme.example".into(), "acme.example".into(), "new".into()))
            );
            assert!(move_lead(db, 2, &[LeadStatus::New], LeadStatus::Dead, "why").unwrap());
            assert!(!move_lead(db, 2, &[LeadStatus::New], LeadStatus::Dead, "why").unwrap());
            assert_eq!(lead_reply_token(db, 1).unwrap(), None);
            assert_eq!(lead_by_reply_token(db, "t0k").unwrap(), None);
            assert_eq!(folder_state(db, "INBOX").unwrap(), None);
            let state = FolderState {
                uid_validity: 7,
                last_uid: 42,
                last_sync_at: 99,
            };
            save_folder_state(db, "INBOX", state).unwrap();
            save_folder_state(db, "INBOX", state).unwrap();
            assert_eq!(folder_state(db, "INBOX").unwrap(), Some(state));
            assert_eq!(last_state(db).unwrap(), Some(state));
            assert_eq!(lead_by_message_id(db, "m@x").unwrap(), None);
            assert_eq!(lead_of_send(db, 1, "a@acme.example").unwrap(), None);
            assert_eq!(health_evidence(db, 0, 100).unwrap(), (0, 0));
        });
    }
}
