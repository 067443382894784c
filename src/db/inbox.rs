//! What came back (SPEC §13): the IMAP read position, each message or
//! event recorded once, attribution lookups, domain holds, the SendGrid
//! cursors and the outreach pause.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::clock::Timestamp;
use crate::domain::status::LeadStatus;

/// Where a folder was read up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderState {
    pub uid_validity: u32,
    pub last_uid: u32,
    pub last_sync_at: i64,
}

fn folder_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FolderState> {
    Ok(FolderState {
        uid_validity: r.get(0)?,
        last_uid: r.get(1)?,
        last_sync_at: r.get(2)?,
    })
}

pub fn folder_state(conn: &Connection, folder: &str) -> rusqlite::Result<Option<FolderState>> {
    conn.query_row(
        "SELECT uid_validity, last_uid, last_sync_at FROM inbox_state WHERE folder = ?1",
        [folder],
        folder_row,
    )
    .optional()
}

/// The most recent sync of any folder.
pub fn last_state(conn: &Connection) -> rusqlite::Result<Option<FolderState>> {
    conn.query_row(
        "SELECT uid_validity, last_uid, last_sync_at FROM inbox_state
         ORDER BY last_sync_at DESC LIMIT 1",
        [],
        folder_row,
    )
    .optional()
}

pub fn save_folder_state(
    conn: &Connection,
    folder: &str,
    state: FolderState,
) -> rusqlite::Result<()> {
    conn.execute(
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
pub fn seen(conn: &Connection, source_key: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM inbox_message WHERE source_key = ?1)")?
        .query_row([source_key], |r| r.get(0))
}

/// Records `m`; `false` when its key was recorded before (nothing to do).
pub fn record(conn: &Connection, m: &Message) -> rusqlite::Result<bool> {
    Ok(conn.execute(
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

fn received(r: &rusqlite::Row<'_>) -> rusqlite::Result<Received> {
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
    conn: &Connection,
    kind: Option<&str>,
    page: super::Page,
) -> rusqlite::Result<super::Listed<Received>> {
    let (filter, args) = super::where_equal(&[("kind", kind.map(|k| k.to_string().into()))]);
    let page = super::Page {
        newest: true,
        ..page
    };
    super::page_of(
        conn,
        RECEIVED_COLUMNS,
        &format!("FROM inbox_message {filter}"),
        args,
        &["at", "id"],
        page,
        received,
    )
}

/// Human replies recorded in `[from, to)`, oldest first (at most `limit`).
pub fn replies_between(
    conn: &Connection,
    from: i64,
    to: i64,
    limit: u32,
) -> rusqlite::Result<Vec<Received>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RECEIVED_COLUMNS} FROM inbox_message
         WHERE kind = 'reply' AND at >= ?1 AND at < ?2 ORDER BY at, id LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![from, to, limit], received)?;
    rows.collect()
}

/// Counts by kind since `from` (`bounce` split into `bounce:hard` etc.).
pub fn counts_since(
    conn: &Connection,
    from: i64,
    to: i64,
) -> rusqlite::Result<std::collections::BTreeMap<String, i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind || COALESCE(':' || bounce, ''), COUNT(*) FROM inbox_message
         WHERE at >= ?1 AND at < ?2 GROUP BY 1",
    )?;
    let rows = stmt.query_map(params![from, to], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The health evidence in `[from, to)`: (hard bounces and blocks,
/// complaints) of the real outreach sends of that window — the rate's
/// denominator. A bounce of the operator's other mail on the same SendGrid
/// account, or of a send before the window (the first pull or sync reads
/// two weeks back, all recorded today), is suppressed like any but says
/// nothing about this week. Each address counts once: SendGrid tells of one
/// bounce twice (the event, then its list), a DSN may come too.
pub fn health_evidence(conn: &Connection, from: i64, to: i64) -> rusqlite::Result<(i64, i64)> {
    conn.prepare_cached(
        "SELECT COUNT(DISTINCT CASE WHEN m.kind = 'bounce' AND m.bounce IN ('hard', 'blocked')
                                    THEN COALESCE(m.address, '#' || m.lead_id) END),
                COUNT(DISTINCT CASE WHEN m.kind = 'complaint'
                                    THEN COALESCE(m.address, '#' || m.lead_id) END)
         FROM inbox_message m
         WHERE m.at >= ?1 AND m.at < ?2 AND m.lead_id IS NOT NULL
           AND EXISTS (SELECT 1 FROM send_ledger s
                       WHERE s.lead_id = m.lead_id AND s.kind = 'outreach' AND s.outcome = 'sent'
                         AND s.at >= ?1 AND s.at < ?2)",
    )?
    .query_row(params![from, to], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// Soft bounces of `address` since `from`.
pub fn soft_bounces_since(conn: &Connection, address: &str, from: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COUNT(*) FROM inbox_message WHERE bounce = 'soft' AND address = ?1 AND at >= ?2",
    )?
    .query_row(params![address, from], |r| r.get(0))
}

/// A lead's plus-address token, once its first send made one.
pub fn lead_reply_token(conn: &Connection, lead_id: i64) -> rusqlite::Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT reply_token FROM lead WHERE id = ?1",
            [lead_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

/// The lead whose plus-address token is `token`.
pub fn lead_by_reply_token(conn: &Connection, token: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT id FROM lead WHERE reply_token = ?1", [token], |r| {
        r.get(0)
    })
    .optional()
}

/// The lead a message hoss sent (by its Message-ID) went to.
pub fn lead_by_message_id(conn: &Connection, message_id: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT lead_id FROM send_ledger WHERE message_id = ?1 AND lead_id IS NOT NULL
         ORDER BY id DESC LIMIT 1",
        [message_id],
        |r| r.get(0),
    )
    .optional()
}

/// The lead send `id` went to, when it went to `recipient` (an id from
/// another database — a restored backup, a second hoss on the same SendGrid
/// account — names some other send here).
pub fn lead_of_send(conn: &Connection, id: i64, recipient: &str) -> rusqlite::Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT lead_id FROM send_ledger WHERE id = ?1 AND recipient = ?2",
            params![id, recipient],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

/// The lead with this address (a live one before an `invalid` one).
pub fn lead_by_email(conn: &Connection, email: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM lead WHERE email = ?1 ORDER BY status = 'invalid', id DESC LIMIT 1",
        [email],
        |r| r.get(0),
    )
    .optional()
}

/// The most recently contacted lead at a company domain.
pub fn lead_at_domain(conn: &Connection, domain: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM lead WHERE domain = ?1 AND status <> 'invalid'
         ORDER BY last_contacted_at IS NULL, last_contacted_at DESC, id DESC LIMIT 1",
        [domain],
        |r| r.get(0),
    )
    .optional()
}

/// A lead's address, company domain and status.
pub fn lead_facts(
    conn: &Connection,
    id: i64,
) -> rusqlite::Result<Option<(String, String, String)>> {
    conn.query_row(
        "SELECT email, domain, status FROM lead WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
}

/// Moves a lead to `status` when it is in one of `from`; whether it moved.
pub fn move_lead(
    conn: &Connection,
    id: i64,
    from: &[LeadStatus],
    status: LeadStatus,
    reason: &str,
) -> rusqlite::Result<bool> {
    let list = from
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(conn.execute(
        &format!(
            "UPDATE lead SET status = ?2, status_reason = ?3 WHERE id = ?1 AND status IN ({list})"
        ),
        params![id, status, reason],
    )? == 1)
}

/// Holds a company domain until `until` (an existing, longer hold stays).
pub fn hold_domain(
    conn: &Connection,
    domain: &str,
    until: i64,
    reason: &str,
    lead_id: Option<i64>,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO domain_hold (domain, until, reason, lead_id, at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (domain) DO UPDATE SET until = max(until, ?2), reason = ?3, lead_id = ?4, at = ?5",
        params![domain, until, reason, lead_id, now],
    )?;
    Ok(())
}

/// The hold on `domain` in force at `now`: (until, reason).
pub fn domain_held(
    conn: &Connection,
    domain: &str,
    now: i64,
) -> rusqlite::Result<Option<(i64, String)>> {
    conn.prepare_cached("SELECT until, reason FROM domain_hold WHERE domain = ?1 AND until > ?2")?
        .query_row(params![domain, now], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// Delays a lead's next step to `not_before` (an auto-reply's return day).
pub fn delay_lead(conn: &Connection, id: i64, not_before: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE lead SET not_before = max(COALESCE(not_before, 0), ?2) WHERE id = ?1",
        params![id, not_before],
    )?;
    Ok(())
}

pub fn sendgrid_cursor(conn: &Connection, list: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT start_time FROM sendgrid_cursor WHERE list = ?1",
        [list],
        |r| r.get(0),
    )
    .optional()
}

pub fn set_sendgrid_cursor(conn: &Connection, list: &str, start_time: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sendgrid_cursor (list, start_time) VALUES (?1, ?2)
         ON CONFLICT (list) DO UPDATE SET start_time = max(start_time, ?2)",
        params![list, start_time],
    )?;
    Ok(())
}

/// The outreach pause in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub paused_at: i64,
    pub source: String,
    pub reason: String,
}

pub fn pause_in_force(conn: &Connection) -> rusqlite::Result<Option<Pause>> {
    conn.prepare_cached(
        "SELECT paused_at, source, reason FROM email_pause WHERE resumed_at IS NULL",
    )?
    .query_row([], |r| {
        Ok(Pause {
            paused_at: r.get(0)?,
            source: r.get(1)?,
            reason: r.get(2)?,
        })
    })
    .optional()
}

/// Pauses outreach; `false` when a pause is already in force.
pub fn pause(conn: &Connection, source: &str, reason: &str, now: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "INSERT INTO email_pause (paused_at, source, reason) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
        params![now, source, reason],
    )? == 1)
}

/// Lifts the pause in force; `false` when there was none.
pub fn resume(conn: &Connection, now: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE email_pause SET resumed_at = ?1 WHERE resumed_at IS NULL",
        [now],
    )? == 1)
}

/// When the operator last resumed outreach: evidence before it is spent.
pub fn last_resume(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT MAX(resumed_at) FROM email_pause", [], |r| r.get(0))
}

/// Real outreach sends since `from` (the ledger's `sent` outcome).
pub fn real_sends_since(conn: &Connection, from: i64, to: i64) -> rusqlite::Result<i64> {
    // digest.rs is on the query layer, this file not yet.
    let attempts =
        super::digest::send_attempts(super::Db::sqlite(conn), from, to).map_err(|e| match e {
            super::StoreError::Sqlite(e) => e,
            other => rusqlite::Error::ToSqlConversionFailure(Box::new(other)),
        })?;
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
        let conn = crate::db::open_in_memory().unwrap();
        assert!(record(&conn, &msg("m1", "reply", 10)).unwrap());
        assert!(!record(&conn, &msg("m1", "reply", 11)).unwrap());
        assert!(seen(&conn, "m1").unwrap());
        let mut soft = msg("m2", "bounce", 20);
        soft.bounce = Some("soft");
        soft.address = Some("b@x.example".into());
        record(&conn, &soft).unwrap();
        let counts = counts_since(&conn, 0, 100).unwrap();
        assert_eq!((counts["reply"], counts["bounce:soft"]), (1, 1));
        assert_eq!(soft_bounces_since(&conn, "b@x.example", 15).unwrap(), 1);
        assert_eq!(soft_bounces_since(&conn, "b@x.example", 21).unwrap(), 0);
        let listed = list(&conn, Some("reply"), crate::db::Page::ALL).unwrap();
        assert_eq!(listed.rows.len(), 1);
    }

    #[test]
    fn one_pause_in_force_and_holds_only_grow() {
        let conn = crate::db::open_in_memory().unwrap();
        assert!(pause(&conn, "auto", "bounce rate", 5).unwrap());
        assert!(!pause(&conn, "operator", "again", 6).unwrap());
        assert_eq!(
            pause_in_force(&conn).unwrap().unwrap().reason,
            "bounce rate"
        );
        assert!(resume(&conn, 7).unwrap());
        assert!(!resume(&conn, 8).unwrap());
        assert_eq!(last_resume(&conn).unwrap(), Some(7));
        assert!(pause_in_force(&conn).unwrap().is_none());
        hold_domain(&conn, "acme.example", 100, "domain_replied", None, 1).unwrap();
        hold_domain(&conn, "acme.example", 50, "domain_replied", None, 2).unwrap();
        assert_eq!(
            domain_held(&conn, "acme.example", 60).unwrap().unwrap().0,
            100
        );
        assert!(domain_held(&conn, "acme.example", 100).unwrap().is_none());
    }
}
