//! The `lead` and `lead_source_run` tables.
//!
//! Dedupe is enforced by two partial unique indexes (email; folded company +
//! domain), both ignoring `invalid` leads. An insert that hits either is a
//! no-op, after which we look up which lead it matched, so overlapping
//! passes can never insert the same lead twice.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::clock::Timestamp;
use crate::domain::leads::NewLead;
use crate::domain::status::LeadStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Created(i64),
    Deduped { existing_id: i64, by: &'static str },
}

/// Gives this connection a 64 MiB page cache for a large batch of inserts,
/// so one transaction of 100,000 leads does not spill pages to the WAL over
/// and over. Only the passes that insert in bulk ask for it.
pub fn bulk_mode(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("PRAGMA cache_size = -65536")
}

/// Inserts a normalised lead unless an active lead matches it.
pub fn insert(
    conn: &Connection,
    lead: &NewLead,
    source: &str,
    now: i64,
) -> rusqlite::Result<Inserted> {
    insert_as(conn, lead, source, LeadStatus::New, now, None, None)
}

/// [`insert`] with a given status and times (imports keep their history).
pub fn insert_as(
    conn: &Connection,
    lead: &NewLead,
    source: &str,
    status: LeadStatus,
    created_at: i64,
    last_contacted_at: Option<i64>,
    legacy_id: Option<i64>,
) -> rusqlite::Result<Inserted> {
    let changed = conn
        .prepare_cached(
            "INSERT INTO lead (name, email, company, company_key, domain, website, niche, source, status,
                               created_at, last_contacted_at, legacy_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            lead.name,
            lead.email,
            lead.company,
            lead.company_key,
            lead.domain,
            lead.website,
            lead.niche,
            source,
            status,
            created_at,
            last_contacted_at,
            legacy_id
        ])?;
    if changed == 1 {
        return Ok(Inserted::Created(conn.last_insert_rowid()));
    }
    if let Some(id) = conn
        .prepare_cached("SELECT id FROM lead WHERE email = ?1 AND status <> 'invalid'")?
        .query_row([&lead.email], |r| r.get(0))
        .optional()?
    {
        return Ok(Inserted::Deduped {
            existing_id: id,
            by: "email",
        });
    }
    let id = conn
        .prepare_cached(
            "SELECT id FROM lead WHERE company_key = ?1 AND domain = ?2 AND status <> 'invalid'
             AND company_key <> '' AND domain <> ''",
        )?
        .query_row([&lead.company_key, &lead.domain], |r| r.get(0))?;
    Ok(Inserted::Deduped {
        existing_id: id,
        by: "company_domain",
    })
}

/// A lead as lists and `lead show` print it; its JSON is the contract's
/// (SPEC §12).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Lead {
    pub id: i64,
    pub name: Option<String>,
    pub email: String,
    pub company: String,
    pub domain: String,
    pub website: Option<String>,
    pub niche: Option<String>,
    pub source: String,
    pub status: LeadStatus,
    pub created_at: Timestamp,
    pub last_contacted_at: Option<Timestamp>,
    /// A role account (info@, sales@, …): not emailed unless
    /// `SEND_TO_ROLE_ACCOUNTS=TRUE` (SPEC §15).
    pub role: bool,
    /// Why the lead has its status, when hoss set it (a bounce, an
    /// opt-out, no mail route …).
    pub status_reason: Option<String>,
}

const LEAD_COLUMNS: &str = "id, name, email, company, domain, website, niche, source, status, created_at, last_contacted_at, status_reason";

fn lead_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Lead> {
    Ok(Lead {
        id: r.get(0)?,
        name: r.get(1)?,
        email: r.get(2)?,
        company: r.get(3)?,
        domain: r.get(4)?,
        website: r.get(5)?,
        niche: r.get(6)?,
        source: r.get(7)?,
        status: r.get(8)?,
        created_at: r.get(9)?,
        last_contacted_at: r.get(10)?,
        role: false,
        status_reason: r.get(11)?,
    })
    .map(|mut lead: Lead| {
        lead.role = crate::domain::address::is_role_account(&lead.email);
        lead
    })
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Lead>> {
    conn.query_row(
        &format!("SELECT {LEAD_COLUMNS} FROM lead WHERE id = ?1"),
        [id],
        lead_row,
    )
    .optional()
}

/// The lead with this address: the one that is not `invalid` (there is at
/// most one), else the newest.
pub fn by_email(conn: &Connection, email: &str) -> rusqlite::Result<Option<Lead>> {
    let active = conn
        .query_row(
            &format!("SELECT {LEAD_COLUMNS} FROM lead WHERE email = ?1 AND status <> 'invalid'"),
            [email],
            lead_row,
        )
        .optional()?;
    if active.is_some() {
        return Ok(active);
    }
    conn.query_row(
        &format!(
            "SELECT {LEAD_COLUMNS} FROM lead INDEXED BY lead_email_invalid
             WHERE email = ?1 AND status = 'invalid' ORDER BY id DESC LIMIT 1"
        ),
        [email],
        lead_row,
    )
    .optional()
}

/// The lead's unsubscribe token, once it has one.
pub fn unsubscribe_token(conn: &Connection, id: i64) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT unsubscribe_token FROM lead WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .optional()
    .map(Option::flatten)
}

/// The lead an unsubscribe link belongs to: (id, email).
pub fn by_unsubscribe_token(
    conn: &Connection,
    token: &str,
) -> rusqlite::Result<Option<(i64, String)>> {
    conn.query_row(
        "SELECT id, email FROM lead WHERE unsubscribe_token = ?1",
        [token],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// A page of leads by id, optionally of one status and matching `search`
/// (in the email, name or company).
pub fn list(
    conn: &Connection,
    status: Option<LeadStatus>,
    search: Option<&str>,
    page: super::Page,
) -> rusqlite::Result<super::Listed<Lead>> {
    let (filter, mut args) = super::where_equal(&[("status", status.map(super::word))]);
    let mut filter = filter;
    if let Some(text) = search.map(str::trim).filter(|t| !t.is_empty()) {
        // LIKE with its wildcards escaped: the operator's text is literal.
        let literal = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        args.push(format!("%{literal}%").into());
        let n = args.len();
        let matches = format!(
            "(email LIKE ?{n} ESCAPE '\\' OR name LIKE ?{n} ESCAPE '\\' OR company LIKE ?{n} ESCAPE '\\')"
        );
        filter = if filter.is_empty() {
            format!("WHERE {matches}")
        } else {
            format!("{filter} AND {matches}")
        };
    }
    super::page_of(
        conn,
        LEAD_COLUMNS,
        &format!("FROM lead {filter}"),
        args,
        &["id"],
        page,
        lead_row,
    )
}

/// Ids of the leads in one status, by id.
pub fn ids_with_status(conn: &Connection, status: LeadStatus) -> rusqlite::Result<Vec<i64>> {
    conn.prepare_cached("SELECT id FROM lead WHERE status = ?1 ORDER BY id")?
        .query_map([status], |r| r.get(0))?
        .collect()
}

/// A lead's descriptive fields, as normalised (never its address).
pub fn update_fields(conn: &Connection, id: i64, lead: &NewLead) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE lead SET name = ?2, company = ?3, company_key = ?4, domain = ?5, website = ?6, niche = ?7
         WHERE id = ?1",
        params![id, lead.name, lead.company, lead.company_key, lead.domain, lead.website, lead.niche],
    )? == 1)
}

/// Makes a lead `invalid` with the reason, unless it has moved on (a reply,
/// a customer, an opt-out …) since it was queued.
pub fn invalidate(conn: &Connection, id: i64, reason: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE lead SET status = 'invalid', status_reason = ?2
         WHERE id = ?1 AND status IN ('new', 'contacted')",
        params![id, reason],
    )? == 1)
}

/// Sets a lead's status; `false` when there is no such lead.
pub fn set_status(
    conn: &Connection,
    id: i64,
    status: LeadStatus,
    reason: Option<&str>,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE lead SET status = ?2, status_reason = ?3 WHERE id = ?1",
        params![id, status, reason],
    )?;
    Ok(n == 1)
}

/// How many leads hold each status (every status listed, zeros included).
pub fn count_by_status(conn: &Connection) -> rusqlite::Result<BTreeMap<String, i64>> {
    let mut counts: BTreeMap<String, i64> = LeadStatus::NAMES
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    let mut stmt = conn.prepare_cached("SELECT status, n FROM lead_status_count")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (status, n) = row?;
        counts.insert(status, n);
    }
    Ok(counts)
}

/// One recorded `source-leads` pass (`status` gives the last, `at` being
/// when it started).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceRun {
    #[serde(rename = "at")]
    pub started_at: Timestamp,
    pub provider: String,
    #[serde(skip)]
    pub finished_at: Option<Timestamp>,
    pub result: Option<String>,
    pub fetched: i64,
    pub created: i64,
    pub deduped: i64,
    pub invalid: i64,
    pub error: Option<String>,
}

pub fn record_source_run(conn: &Connection, run: &SourceRun, cap: u32) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO lead_source_run
         (provider, started_at, finished_at, result, fetched, created, deduped, invalid, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            run.provider,
            run.started_at,
            run.finished_at,
            run.result,
            run.fetched,
            run.created,
            run.deduped,
            run.invalid,
            run.error
        ],
    )?;
    super::cap_table(conn, "lead_source_run", cap)
}

pub fn last_source_run(conn: &Connection) -> rusqlite::Result<Option<SourceRun>> {
    conn.query_row(
        "SELECT provider, started_at, finished_at, result, fetched, created, deduped, invalid, error
         FROM lead_source_run ORDER BY id DESC LIMIT 1",
        [],
        |r| {
            Ok(SourceRun {
                provider: r.get(0)?,
                started_at: r.get(1)?,
                finished_at: r.get(2)?,
                result: r.get(3)?,
                fetched: r.get(4)?,
                created: r.get(5)?,
                deduped: r.get(6)?,
                invalid: r.get(7)?,
                error: r.get(8)?,
            })
        },
    )
    .optional()
}

/// The search API page to ask for next with `query`: 1 when none is stored.
pub fn search_page(conn: &Connection, query: &str) -> rusqlite::Result<u32> {
    let page: Option<i64> = conn
        .query_row(
            "SELECT next_page FROM search_page WHERE query = ?1",
            [query],
            |r| r.get(0),
        )
        .optional()?;
    Ok(page.and_then(|p| u32::try_from(p).ok()).unwrap_or(1).max(1))
}

/// Remembers the page to ask for next with `query`.
pub fn set_search_page(
    conn: &Connection,
    query: &str,
    next_page: u32,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO search_page (query, next_page, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (query) DO UPDATE SET next_page = excluded.next_page, updated_at = excluded.updated_at",
        params![query, next_page.max(1), now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::leads::{RawLead, normalize};

    fn lead(email: &str, company: &str, website: &str) -> NewLead {
        normalize(&RawLead {
            email: Some(email.into()),
            company: Some(company.into()),
            website: Some(website.into()),
            ..RawLead::default()
        })
        .unwrap()
    }

    #[test]
    fn search_pages_are_kept_per_query() {
        let conn = crate::db::open_in_memory().unwrap();
        assert_eq!(search_page(&conn, "dentists in Ohio").unwrap(), 1);
        set_search_page(&conn, "dentists in Ohio", 3, 10).unwrap();
        set_search_page(&conn, "lawyers", 2, 10).unwrap();
        assert_eq!(search_page(&conn, "dentists in Ohio").unwrap(), 3);
        set_search_page(&conn, "dentists in Ohio", 1, 20).unwrap();
        assert_eq!(search_page(&conn, "dentists in Ohio").unwrap(), 1);
        assert_eq!(search_page(&conn, "lawyers").unwrap(), 2);
        assert_eq!(search_page(&conn, "Dentists in Ohio").unwrap(), 1);
    }

    #[test]
    fn dedupes_by_email_then_by_company_and_domain() {
        let conn = crate::db::open_in_memory().unwrap();
        let a = insert(&conn, &lead("jane@acme.com", "Acme", "acme.com"), "test", 1).unwrap();
        let Inserted::Created(id) = a else {
            panic!("{a:?}")
        };
        assert_eq!(
            insert(
                &conn,
                &lead(" JANE@acme.COM", "Other", "other.com"),
                "test",
                2
            )
            .unwrap(),
            Inserted::Deduped {
                existing_id: id,
                by: "email"
            }
        );
        assert_eq!(
            insert(
                &conn,
                &lead("bob@acme.com", "ACME Inc.", "https://www.Acme.com/about"),
                "test",
                3
            )
            .unwrap(),
            Inserted::Deduped {
                existing_id: id,
                by: "company_domain"
            }
        );
        assert!(matches!(
            insert(
                &conn,
                &lead("bob@acme.com", "Acme Labs", "acme.com"),
                "test",
                4
            )
            .unwrap(),
            Inserted::Created(_)
        ));
    }

    #[test]
    fn status_counts_stay_exact_through_inserts_updates_and_deletes() {
        let conn = crate::db::open_in_memory().unwrap();
        for i in 0..20 {
            insert(
                &conn,
                &lead(
                    &format!("p{i}@c{i}.com"),
                    &format!("C{i}"),
                    &format!("c{i}.com"),
                ),
                "t",
                0,
            )
            .unwrap();
        }
        conn.execute("UPDATE lead SET status = 'contacted' WHERE id <= 5", [])
            .unwrap();
        conn.execute("UPDATE lead SET status = 'contacted' WHERE id <= 7", [])
            .unwrap();
        conn.execute("DELETE FROM lead WHERE id IN (1, 19)", [])
            .unwrap();
        let counted: BTreeMap<String, i64> = conn
            .prepare("SELECT status, COUNT(*) FROM lead GROUP BY status")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let kept = count_by_status(&conn).unwrap();
        assert_eq!(
            (kept["new"], kept["contacted"]),
            (counted["new"], counted["contacted"])
        );
        assert_eq!((kept["new"], kept["contacted"]), (12, 6));
    }

    #[test]
    fn an_invalid_lead_does_not_block_a_new_one() {
        let conn = crate::db::open_in_memory().unwrap();
        let Inserted::Created(id) =
            insert(&conn, &lead("jane@acme.com", "Acme", "acme.com"), "t", 1).unwrap()
        else {
            panic!()
        };
        assert!(set_status(&conn, id, LeadStatus::Invalid, None).unwrap());
        assert!(matches!(
            insert(&conn, &lead("jane@acme.com", "Acme", "acme.com"), "t", 2).unwrap(),
            Inserted::Created(n) if n != id
        ));
        assert_eq!(count_by_status(&conn).unwrap()["invalid"], 1);
    }
}
