//! `hoss source-leads`: one bounded pass of lead sourcing.
//!
//! Pick the provider the config resolved (falling back per
//! `LEAD_SOURCE_FALLBACK` when the search API fails), normalise every record,
//! insert through the database's dedupe, stop at `MAX_NEW_LEADS_PER_CYCLE`
//! created, and record the pass. The search API is asked for the next page
//! of its query each pass (remembered in the database, per query), so the
//! same first page is not fetched and deduped forever.

use log::{error, info, warn};
use serde::Serialize;

use crate::app::Ctx;
use crate::clock::Timestamp;
use crate::config::{LeadProvider, Requested};
use crate::db::{self, leads::Inserted, leads::SourceRun};
use crate::domain::leads::{NewLead, RawLead, next_search_page, normalize};
use crate::error::Result;
use crate::render::Report;
use crate::services::leads::{DummySeed, LeadSource, SearchApi};

#[derive(Debug, Serialize)]
pub struct SourceReport {
    pub provider: String,
    pub result: String,
    pub fetched: i64,
    pub created: i64,
    pub deduped: i64,
    pub invalid: i64,
    /// The search API result page asked for (`null` when the pass did not
    /// ask the search API for a page).
    pub page: Option<u32>,
}

impl Report for SourceReport {
    fn human(&self, _terminal: bool) -> String {
        let page = self.page.map_or(String::new(), |p| format!(" page={p}"));
        format!(
            "source-leads: provider={} result={} fetched={} created={} deduped={} invalid={}{page}\n",
            self.provider, self.result, self.fetched, self.created, self.deduped, self.invalid
        )
    }
}

/// At most this many `[LEADS][INVALID]` reasons are logged per pass (then a
/// count), so one bad page cannot flood the log.
const INVALID_LOGGED: i64 = 5;

/// The search API page a pass asked for, under the query it belongs to.
struct Paging {
    query: String,
    page: u32,
}

/// What the providers produced, before any insert.
struct Fetched {
    provider: LeadProvider,
    result: &'static str,
    records: Vec<RawLead>,
    error: Option<String>,
    /// Set when the search API was asked for a page and answered.
    paging: Option<Paging>,
}

fn fetch(ctx: &Ctx) -> Result<Fetched> {
    let cfg = &ctx.config.leads;
    let max = cfg.max_new_per_cycle;
    let dummy = |result, error| Fetched {
        provider: LeadProvider::DummySeed,
        result,
        records: DummySeed.fetch(max, None).unwrap_or_default(),
        error,
        paging: None,
    };
    let nothing = |provider, result, error| Fetched {
        provider,
        result,
        records: Vec::new(),
        error,
        paging: None,
    };
    let search_requested = cfg.mode.requested == Requested::Mode(LeadProvider::SearchApi);
    match cfg.mode.effective {
        LeadProvider::SearchApi => {
            let Some(api) = SearchApi::from_config(cfg) else {
                return Ok(nothing(
                    LeadProvider::None,
                    "NO_CREDS",
                    Some("search API not configured".into()),
                ));
            };
            let page = if api.pages() {
                Some(db::leads::search_page(ctx.db(), api.query())?)
            } else {
                None
            };
            Ok(match api.fetch(max, page) {
                Ok(records) => Fetched {
                    provider: LeadProvider::SearchApi,
                    result: "OK",
                    records,
                    error: None,
                    paging: page.map(|page| Paging {
                        query: api.query().to_string(),
                        page,
                    }),
                },
                Err(e) => {
                    let status = e.status.map_or("none".to_string(), |s| s.to_string());
                    if matches!(e.status, Some(401 | 403)) {
                        // Every pass will fail the same way until the key is fixed.
                        error!(
                            "[LEADS][API_ERROR] status={status} error={:?} (the search API refused LEAD_SEARCH_API_KEY; no new leads until it is fixed)",
                            e.error
                        );
                    } else {
                        warn!("[LEADS][API_ERROR] status={status} error={:?}", e.error);
                    }
                    let error = Some(format!("status={status} {}", e.error));
                    if cfg.fallback == LeadProvider::DummySeed {
                        info!("[LEADS][FALLBACK] provider=DUMMY_SEED after API_ERROR");
                        dummy("FALLBACK", error)
                    } else {
                        nothing(LeadProvider::SearchApi, "API_ERROR", error)
                    }
                }
            })
        }
        effective if search_requested => {
            let reason = cfg.mode.reason.clone().unwrap_or_default();
            warn!(
                "[LEADS][NO_CREDS] reason={reason:?} fallback={}",
                cfg.fallback.as_str()
            );
            Ok(match effective {
                LeadProvider::DummySeed => dummy("FALLBACK", Some(reason)),
                _ => nothing(LeadProvider::None, "NO_CREDS", Some(reason)),
            })
        }
        LeadProvider::DummySeed => Ok(dummy("OK", None)),
        LeadProvider::None => Ok(nothing(LeadProvider::None, "OK", cfg.mode.reason.clone())),
    }
}

pub fn run(ctx: &Ctx) -> Result<SourceReport> {
    let started_at = Timestamp(ctx.now());
    let max = i64::from(ctx.config.leads.max_new_per_cycle);
    let fetched = fetch(ctx)?;
    let source = fetched.provider.as_str();
    let run = SourceRun {
        provider: source.to_string(),
        started_at,
        result: Some(fetched.result.to_string()),
        fetched: fetched.records.len() as i64,
        error: fetched.error,
        ..SourceRun::default()
    };
    if fetched.records.len() > 1000 {
        db::leads::bulk_mode(ctx.db())?;
    }
    // The pass may run again on PostgreSQL (a serialization failure): it
    // counts into its own copy of the run and keeps its log lines until
    // the transaction has committed.
    let (run, next_page, notes) = ctx.db().immediate(|tx| {
        let mut run = run.clone();
        let mut notes: Vec<(log::Level, String)> = Vec::new();
        let mut next_page = None;
        let now = ctx.now();
        let mut worked_through = true;
        // Valid leads go in together, up to a batch, never more than the
        // pass may still create: one statement each, not one per lead.
        let mut batch: Vec<NewLead> = Vec::new();
        let mut records = fetched.records.iter().enumerate().peekable();
        while let Some((i, raw)) = records.next() {
            if run.created >= max {
                worked_through = false;
                break;
            }
            match normalize(raw) {
                Ok(lead) => batch.push(lead),
                Err(reason) => {
                    run.invalid += 1;
                    if run.invalid <= INVALID_LOGGED {
                        notes.push((
                            log::Level::Info,
                            format!("[LEADS][INVALID] reason={reason:?} record={}", i + 1),
                        ));
                    }
                }
            }
            let room = usize::try_from(max - run.created).unwrap_or(0);
            if batch.len() >= room.min(db::leads::BATCH) || records.peek().is_none() {
                let outcomes = db::leads::insert_many(tx, &batch, source, now)?;
                for (lead, outcome) in batch.drain(..).zip(outcomes) {
                    count(&mut run, &mut notes, &lead, outcome);
                }
            }
        }
        if run.invalid > INVALID_LOGGED {
            notes.push((
                log::Level::Info,
                format!(
                    "[LEADS][INVALID] count={} logged={INVALID_LOGGED} (the other reasons are not logged)",
                    run.invalid
                ),
            ));
        }
        if let Some(p) = &fetched.paging {
            let next = next_search_page(p.page, fetched.records.len(), worked_through);
            db::leads::set_search_page(tx, &p.query, next, now)?;
            next_page = Some(next);
        }
        run.finished_at = Some(Timestamp(ctx.now()));
        db::leads::record_source_run(tx, &run, ctx.config.log_max_entries)?;
        Ok((run, next_page, notes))
    })?;
    for (level, line) in notes {
        log::log!(level, "{line}");
    }
    let page = fetched.paging.as_ref().map(|p| p.page);
    if let (Some(p), Some(1)) = (&fetched.paging, next_page)
        && fetched.records.is_empty()
    {
        info!(
            "[LEADS][PAGES_DONE] query={:?} page={} was empty; the next pass starts over at page 1",
            p.query, p.page
        );
    }
    let paging = match (page, next_page) {
        (Some(p), Some(n)) => format!(" page={p} next_page={n}"),
        _ => String::new(),
    };
    info!(
        "[LEADS][RUN] provider={source} result={} fetched={} created={} deduped={} invalid={}{paging}",
        fetched.result, run.fetched, run.created, run.deduped, run.invalid
    );
    Ok(SourceReport {
        provider: run.provider,
        result: fetched.result.to_string(),
        fetched: run.fetched,
        created: run.created,
        deduped: run.deduped,
        invalid: run.invalid,
        page,
    })
}

/// One lead's outcome into the pass's counts and log lines.
fn count(
    run: &mut SourceRun,
    notes: &mut Vec<(log::Level, String)>,
    lead: &NewLead,
    outcome: Inserted,
) {
    match outcome {
        Inserted::Created(id) => {
            run.created += 1;
            notes.push((
                log::Level::Debug,
                format!("[LEADS][CREATED] lead_id={id} email={}", lead.email),
            ));
        }
        Inserted::Deduped { existing_id, by } => {
            run.deduped += 1;
            notes.push((
                log::Level::Info,
                format!(
                    "[LEADS][DEDUPED] existing_id={existing_id} by={by} email={}",
                    lead.email
                ),
            ));
        }
    }
}
