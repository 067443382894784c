//! The `lead` and `lead_source_run` tables.
//!
//! Dedupe is enforced by two partial unique indexes (email; folded company +
//! domain), both ignoring `invalid` leads. An insert that hits either is a
//! no-op, after which we look up which lead it matched, so overlapping
//! passes can never insert the same lead twice.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::{Db, Row, StoreError, StoreResult, Value, params};

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
/// and over. Only the passes that insert in bulk ask for it. (SQLite's
/// setting: PostgreSQL's buffers are the server's, nothing to ask.)
pub fn bulk_mode(db: Db<'_>) -> StoreResult<()> {
    if db.is_postgres() {
        return Ok(());
    }
    db.execute_batch("PRAGMA cache_size = -65536")
}

/// Whether a change was refused by a constraint of the schema (the dedupe
/// indexes, a CHECK): SQLite's constraint error as before, PostgreSQL's
/// class 23 (integrity constraint violation).
pub fn is_constraint_violation(e: &StoreError) -> bool {
    match e {
        StoreError::Sqlite(e) => {
            e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
        }
        StoreError::Postgres(e) => e.code().is_some_and(|c| c.code().starts_with("23")),
        _ => false,
    }
}

/// Inserts a normalised lead unless an active lead matches it.
pub fn insert(db: Db<'_>, lead: &NewLead, source: &str, now: i64) -> StoreResult<Inserted> {
    insert_as(db, lead, source, LeadStatus::New, now, None, None)
}

/// [`insert`] with a given status and times (imports keep their history).
pub fn insert_as(
    db: Db<'_>,
    lead: &NewLead,
    source: &str,
    status: LeadStatus,
    created_at: i64,
    last_contacted_at: Option<i64>,
    legacy_id: Option<i64>,
) -> StoreResult<Inserted> {
    // `RETURNING id` (both stores) names the new row; a conflict returns
    // no row. (`insert_id` cannot serve: PostgreSQL returns nothing for a
    // row the conflict skipped.)
    let created = db.query_opt(
        "INSERT INTO lead (name, email, company, company_key, domain, website, niche, source, status,
                           created_at, last_contacted_at, legacy_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT DO NOTHING RETURNING id",
        params![
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
        ],
        |r| r.get(0),
    )?;
    match created {
        Some(id) => Ok(Inserted::Created(id)),
        None => deduped(db, lead),
    }
}

/// How many leads [`insert_many`] inserts in one statement: 10 parameters
/// each, far below either store's limit.
pub const BATCH: usize = 500;

/// [`insert`] for many new leads at once, in one multi-row statement (at
/// most [`BATCH`]): each lead's outcome in order. In-batch duplicates go as
/// one-by-one inserts would: the first is created, the later ones deduped.
pub fn insert_many(
    db: Db<'_>,
    leads: &[NewLead],
    source: &str,
    now: i64,
) -> StoreResult<Vec<Inserted>> {
    if leads.is_empty() {
        return Ok(Vec::new());
    }
    let args: Vec<Value> = leads
        .iter()
        .flat_map(|lead| {
            params![
                lead.name,
                lead.email,
                lead.company,
                lead.company_key,
                lead.domain,
                lead.website,
                lead.niche,
                source,
                LeadStatus::New,
                now
            ]
            .to_vec()
        })
        .collect();
    let sql = format!(
        "INSERT INTO lead (name, email, company, company_key, domain, website, niche, source, status, created_at)
         VALUES {} ON CONFLICT DO NOTHING RETURNING id, email, company_key, domain",
        super::values_list(leads.len(), 10)
    );
    // Which inserted row is whose: by the columns the dedupe indexes read
    // (RETURNING promises no order).
    // The first lead in order with those columns is the one inserted.
    let mut created: HashMap<(String, String, String), i64> = db
        .query_all(&sql, &args, |r| {
            Ok(((r.get(1)?, r.get(2)?, r.get(3)?), r.get(0)?))
        })?
        .into_iter()
        .collect();
    leads
        .iter()
        .map(|lead| {
            let key = (
                lead.email.clone(),
                lead.company_key.clone(),
                lead.domain.clone(),
            );
            match created.remove(&key) {
                Some(id) => Ok(Inserted::Created(id)),
                None => deduped(db, lead),
            }
        })
        .collect()
}

/// The active lead `lead` collided with: by email, else by company and
/// domain.
fn deduped(db: Db<'_>, lead: &NewLead) -> StoreResult<Inserted> {
    if let Some(id) = db.query_opt(
        "SELECT id FROM lead WHERE email = ?1 AND status <> 'invalid'",
        params![lead.email],
        |r| r.get(0),
    )? {
        return Ok(Inserted::Deduped {
            existing_id: id,
            by: "email",
        });
    }
    let id = db.query_row(
        "SELECT id FROM lead WHERE company_key = ?1 AND domain = ?2 AND status <> 'invalid'
         AND company_key <> '' AND domain <> ''",
        params![lead.company_key, lead.domain],
        |r| r.get(0),
    )?;
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

/// The columns `lead_at` reads, in its order.
pub const LEAD_COLUMNS: &str = "id, name, email, company, domain, website, niche, source, status, created_at, last_contacted_at, status_reason";

fn lead_row(r: &Row<'_>) -> StoreResult<Lead> {
    lead_at(r, 0)
}

/// The lead whose `LEAD_COLUMNS` begin at column `first` of a row.
pub fn lead_at(r: &Row<'_>, first: usize) -> StoreResult<Lead> {
    Ok(Lead {
        id: r.get(first)?,
        name: r.get(first + 1)?,
        email: r.get(first + 2)?,
        company: r.get(first + 3)?,
        domain: r.get(first + 4)?,
        website: r.get(first + 5)?,
        niche: r.get(first + 6)?,
        source: r.get(first + 7)?,
        status: r.get(first + 8)?,
        created_at: r.get(first + 9)?,
        last_contacted_at: r.get(first + 10)?,
        role: false,
        status_reason: r.get(first + 11)?,
    })
    .map(|mut lead: Lead| {
        lead.role = crate::domain::address::is_role_account(&lead.email);
        lead
    })
}

pub fn get(db: Db<'_>, id: i64) -> StoreResult<Option<Lead>> {
    db.query_opt(
        &format!("SELECT {LEAD_COLUMNS} FROM lead WHERE id = ?1"),
        params![id],
        lead_row,
    )
}

/// The newest `invalid` lead with an address: the partial index of
/// invalid leads is named for SQLite (PostgreSQL's planner chooses).
const NEWEST_INVALID: &str = "FROM lead INDEXED BY lead_email_invalid
             WHERE email = ?1 AND status = 'invalid' ORDER BY id DESC LIMIT 1";
const NEWEST_INVALID_POSTGRES: &str = "FROM lead
             WHERE email = ?1 AND status = 'invalid' ORDER BY id DESC LIMIT 1";

/// The lead with this address: the one that is not `invalid` (there is at
/// most one), else the newest.
pub fn by_email(db: Db<'_>, email: &str) -> StoreResult<Option<Lead>> {
    let active = db.query_opt(
        &format!("SELECT {LEAD_COLUMNS} FROM lead WHERE email = ?1 AND status <> 'invalid'"),
        params![email],
        lead_row,
    )?;
    if active.is_some() {
        return Ok(active);
    }
    db.query_opt(
        &format!(
            "SELECT {LEAD_COLUMNS} {}",
            db.pick(NEWEST_INVALID, NEWEST_INVALID_POSTGRES)
        ),
        params![email],
        lead_row,
    )
}

/// The lead's unsubscribe token, once it has one.
pub fn unsubscribe_token(db: Db<'_>, id: i64) -> StoreResult<Option<String>> {
    db.query_opt(
        "SELECT unsubscribe_token FROM lead WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )
    .map(Option::flatten)
}

/// The lead an unsubscribe link belongs to: (id, email).
pub fn by_unsubscribe_token(db: Db<'_>, token: &str) -> StoreResult<Option<(i64, String)>> {
    db.query_opt(
        "SELECT id, email FROM lead WHERE unsubscribe_token = ?1",
        params![token],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// A page of leads by id, optionally of one status and matching `search`
/// (in the email, name or company).
pub fn list(
    db: Db<'_>,
    status: Option<LeadStatus>,
    search: Option<&str>,
    page: super::Page,
) -> StoreResult<super::Listed<Lead>> {
    let (filter, args) = super::where_equal(&[("status", status.map(super::word))]);
    let mut args: Vec<Value> = args.into_iter().map(filter_value).collect();
    let mut filter = filter;
    if let Some(text) = search.map(str::trim).filter(|t| !t.is_empty()) {
        // LIKE with its wildcards escaped: the operator's text is literal.
        let literal = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        args.push(Value::Text(format!("%{literal}%")));
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
    super::page(
        db,
        LEAD_COLUMNS,
        &format!("FROM lead {filter}"),
        args,
        &["id"],
        page,
        lead_row,
    )
}

/// A filter value of [`super::where_equal`] (rusqlite's) as the store's
/// (`tasks::list` uses it too).
pub(super) fn filter_value(v: rusqlite::types::Value) -> Value {
    use rusqlite::types::Value as V;
    match v {
        V::Null | V::Blob(_) => Value::Null,
        V::Integer(n) => Value::Int(n),
        V::Real(f) => Value::Real(f),
        V::Text(s) => Value::Text(s),
    }
}

/// Ids of the leads in one status, by id.
pub fn ids_with_status(db: Db<'_>, status: LeadStatus) -> StoreResult<Vec<i64>> {
    db.query_all(
        "SELECT id FROM lead WHERE status = ?1 ORDER BY id",
        params![status],
        |r| r.get(0),
    )
}

/// A lead's descriptive fields, as normalised (never its address).
pub fn update_fields(db: Db<'_>, id: i64, lead: &NewLead) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE lead SET name = ?2, company = ?3, company_key = ?4, domain = ?5, website = ?6, niche = ?7
         WHERE id = ?1",
        params![id, lead.name, lead.company, lead.company_key, lead.domain, lead.website, lead.niche],
    )? == 1)
}

/// Makes a lead `invalid` with the reason, unless it has moved on (a reply,
/// a customer, an opt-out …) since it was queued.
pub fn invalidate(db: Db<'_>, id: i64, reason: &str) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE lead SET status = 'invalid', status_reason = ?2
         WHERE id = ?1 AND status IN ('new', 'contacted')",
        params![id, reason],
    )? == 1)
}

/// Sets a lead's status; `false` when there is no such lead.
pub fn set_status(
    db: Db<'_>,
    id: i64,
    status: LeadStatus,
    reason: Option<&str>,
) -> StoreResult<bool> {
    let n = db.execute(
        "UPDATE lead SET status = ?2, status_reason = ?3 WHERE id = ?1",
        params![id, status, reason],
    )?;
    Ok(n == 1)
}

/// How many leads hold each status (every status listed, zeros included).
pub fn count_by_status(db: Db<'_>) -> StoreResult<BTreeMap<String, i64>> {
    let mut counts: BTreeMap<String, i64> = LeadStatus::NAMES
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    let rows = db.query_all("SELECT status, n FROM lead_status_count", params![], |r| {
        Ok((r.get::<String>(0)?, r.get::<i64>(1)?))
    })?;
    counts.extend(rows);
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

pub fn record_source_run(db: Db<'_>, run: &SourceRun, cap: u32) -> StoreResult<()> {
    db.execute(
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
    super::cap(db, "lead_source_run", cap)
}

pub fn last_source_run(db: Db<'_>) -> StoreResult<Option<SourceRun>> {
    db.query_opt(
        "SELECT provider, started_at, finished_at, result, fetched, created, deduped, invalid, error
         FROM lead_source_run ORDER BY id DESC LIMIT 1",
        params![],
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
}

/// The search API page to ask for next with `query`: 1 when none is stored.
pub fn search_page(db: Db<'_>, query: &str) -> StoreResult<u32> {
    let page: Option<i64> = db.query_opt(
        "SELECT next_page FROM search_page WHERE query = ?1",
        params![query],
        |r| r.get(0),
    )?;
    Ok(page.and_then(|p| u32::try_from(p).ok()).unwrap_or(1).max(1))
}

/// Remembers the page to ask for next with `query`.
pub fn set_search_page(db: Db<'_>, query: &str, next_page: u32, now: i64) -> StoreResult<()> {
    db.execute(
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
    fn a_batch_creates_and_dedupes_as_one_by_one_inserts_would_and_counts_each_once() {
        crate::db::on_each_store(|db| {
            let Inserted::Created(old) =
                insert(db, &lead("old@acme.com", "Acme", "acme.com"), "x", 5).unwrap()
            else {
                panic!("the first lead is new")
            };
            let batch = [
                lead("ann@beta.com", "Beta", "beta.com"),
                lead("old@acme.com", "Other", "other.com"), // email taken
                lead("bob@acme.com", "Acme", "acme.com"),   // company + domain taken
                lead("cy@gamma.com", "Gamma", "gamma.com"),
                lead("ann@beta.com", "Beta", "beta.com"), // twice in the batch
            ];
            let out = insert_many(db, &batch, "DUMMY_SEED", 7_200).unwrap();
            let Inserted::Created(ann) = out[0] else {
                panic!("{out:?}")
            };
            assert!(
                matches!(out[3], Inserted::Created(cy) if cy != ann),
                "{out:?}"
            );
            assert_eq!(
                out[1..3],
                [
                    Inserted::Deduped {
                        existing_id: old,
                        by: "email"
                    },
                    Inserted::Deduped {
                        existing_id: old,
                        by: "company_domain"
                    },
                ]
            );
            assert_eq!(
                out[4],
                Inserted::Deduped {
                    existing_id: ann,
                    by: "email"
                }
            );
            // Counted once per inserted lead, whatever the store's triggers.
            assert_eq!(count_by_status(db).unwrap()["new"], 3);
            let tallied: i64 = db
                .query_row(
                    "SELECT CAST(SUM(n) AS BIGINT) FROM tally_hour WHERE metric = 'lead' AND key = 'DUMMY_SEED' AND hour = 7200",
                    params![],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(tallied, 2);
            let second: i64 = db
                .query_row(
                    "SELECT n FROM tally_second WHERE metric = 'lead' AND key = 'DUMMY_SEED' AND at = 7200",
                    params![],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(second, 2);
            assert!(insert_many(db, &[], "x", 9).unwrap().is_empty());
        });
    }

    #[test]
    fn search_pages_are_kept_per_query() {
        crate::db::on_each_store(|db| {
            assert_eq!(search_page(db, "dentists in Ohio").unwrap(), 1);
            set_search_page(db, "dentists in Ohio", 3, 10).unwrap();
            set_search_page(db, "lawyers", 2, 10).unwrap();
            assert_eq!(search_page(db, "dentists in Ohio").unwrap(), 3);
            set_search_page(db, "dentists in Ohio", 1, 20).unwrap();
            assert_eq!(search_page(db, "dentists in Ohio").unwrap(), 1);
            assert_eq!(search_page(db, "lawyers").unwrap(), 2);
            assert_eq!(search_page(db, "Dentists in Ohio").unwrap(), 1);
        });
    }

    #[test]
    fn dedupes_by_email_then_by_company_and_domain() {
        crate::db::on_each_store(|db| {
            let a = insert(db, &lead("jane@acme.com", "Acme", "acme.com"), "test", 1).unwrap();
            let Inserted::Created(id) = a else {
                panic!("{a:?}")
            };
            assert_eq!(
                insert(db, &lead(" JANE@acme.COM", "Other", "other.com"), "test", 2).unwrap(),
                Inserted::Deduped {
                    existing_id: id,
                    by: "email"
                }
            );
            assert_eq!(
                insert(
                    db,
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
                    db,
                    &lead("bob@acme.com", "Acme Labs", "acme.com"),
                    "test",
                    4
                )
                .unwrap(),
                Inserted::Created(_)
            ));
        });
    }

    #[test]
    fn status_counts_stay_exact_through_inserts_updates_and_deletes() {
        crate::db::on_each_store(|db| {
            for i in 0..20 {
                insert(
                    db,
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
            db.execute(
                "UPDATE lead SET status = 'contacted' WHERE id <= 5",
                params![],
            )
            .unwrap();
            db.execute(
                "UPDATE lead SET status = 'contacted' WHERE id <= 7",
                params![],
            )
            .unwrap();
            db.execute("DELETE FROM lead WHERE id IN (1, 19)", params![])
                .unwrap();
            let counted: BTreeMap<String, i64> = db
                .query_all(
                    "SELECT status, COUNT(*) FROM lead GROUP BY status",
                    params![],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap()
                .into_iter()
                .collect();
            let kept = count_by_status(db).unwrap();
            assert_eq!(
                (kept["new"], kept["contacted"]),
                (counted["new"], counted["contacted"])
            );
            assert_eq!((kept["new"], kept["contacted"]), (12, 6));
        });
    }

    #[test]
    fn an_invalid_lead_does_not_block_a_new_one() {
        crate::db::on_each_store(|db| {
            let Inserted::Created(id) =
                insert(db, &lead("jane@acme.com", "Acme", "acme.com"), "t", 1).unwrap()
            else {
                panic!()
            };
            assert!(set_status(db, id, LeadStatus::Invalid, None).unwrap());
            assert!(matches!(
                insert(db, &lead("jane@acme.com", "Acme", "acme.com"), "t", 2).unwrap(),
                Inserted::Created(n) if n != id
            ));
            assert_eq!(count_by_status(db).unwrap()["invalid"], 1);
            // The active lead first, else the newest invalid one (the
            // PostgreSQL twin of the INDEXED BY query).
            assert_ne!(by_email(db, "jane@acme.com").unwrap().unwrap().id, id);
            assert!(set_status(db, id + 1, LeadStatus::Invalid, None).unwrap());
            let newest = by_email(db, "jane@acme.com").unwrap().unwrap();
            assert_eq!((newest.id, newest.status), (id + 1, LeadStatus::Invalid));
            assert!(by_email(db, "nobody@acme.com").unwrap().is_none());
        });
    }

    #[test]
    fn the_twin_is_the_sqlite_text_without_its_index() {
        assert_eq!(
            NEWEST_INVALID.replace(" INDEXED BY lead_email_invalid", ""),
            NEWEST_INVALID_POSTGRES
        );
    }

    #[test]
    fn a_list_filters_by_status_and_finds_text_in_any_case_literally() {
        crate::db::on_each_store(|db| {
            insert(db, &lead("jane@acme.com", "Acme", "acme.com"), "t", 1).unwrap();
            insert(
                db,
                &lead("bob@zeta.com", "Zeta 100% Co", "zeta.com"),
                "t",
                2,
            )
            .unwrap();
            let found = |status, text| {
                list(db, status, text, crate::db::Page::ALL)
                    .unwrap()
                    .rows
                    .into_iter()
                    .map(|l| l.email)
                    .collect::<Vec<_>>()
            };
            assert_eq!(found(None, Some("ACME")), ["jane@acme.com"]);
            assert_eq!(found(None, Some("100%")), ["bob@zeta.com"]);
            assert!(found(None, Some("1_0")).is_empty());
            assert_eq!(found(Some(LeadStatus::New), None).len(), 2);
            assert!(found(Some(LeadStatus::Invalid), Some("acme")).is_empty());
            assert_eq!(ids_with_status(db, LeadStatus::New).unwrap().len(), 2);
        });
    }

    #[test]
    fn source_runs_are_kept_newest_last_and_capped() {
        crate::db::on_each_store(|db| {
            assert!(last_source_run(db).unwrap().is_none());
            for i in 0..4 {
                let run = SourceRun {
                    provider: format!("p{i}"),
                    started_at: Timestamp(i),
                    created: i,
                    ..SourceRun::default()
                };
                record_source_run(db, &run, 2).unwrap();
            }
            assert_eq!(last_source_run(db).unwrap().unwrap().provider, "p3");
            let n: i64 = db
                .query_row("SELECT COUNT(*) FROM lead_source_run", params![], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(n, 2);
        });
    }
}
