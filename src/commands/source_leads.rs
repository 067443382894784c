//! `hoss source-leads`: one bounded pass of lead sourcing.
//!
//! Pick the provider the config resolved (falling back per
//! `LEAD_SOURCE_FALLBACK` when the search API fails), normalise every record,
//! insert through the database's dedupe, stop at `MAX_NEW_LEADS_PER_CYCLE`
//! created, and record the pass.

use log::{debug, error, info, warn};
use serde::Serialize;

use crate::app::Ctx;
use crate::config::LeadProvider;
use crate::db::{self, leads::Inserted, leads::SourceRun};
use crate::domain::leads::{RawLead, normalize};
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
}

impl Report for SourceReport {
    fn human(&self, _terminal: bool) -> String {
        format!(
            "source-leads: provider={} result={} fetched={} created={} deduped={} invalid={}\n",
            self.provider, self.result, self.fetched, self.created, self.deduped, self.invalid
        )
    }
}

/// What the providers produced, before any insert.
struct Fetched {
    provider: LeadProvider,
    result: &'static str,
    records: Vec<RawLead>,
    error: Option<String>,
}

fn fetch(ctx: &Ctx) -> Fetched {
    let cfg = &ctx.config.leads;
    let max = cfg.max_new_per_cycle;
    let dummy = |result, error| Fetched {
        provider: LeadProvider::DummySeed,
        result,
        records: DummySeed.fetch(max).unwrap_or_default(),
        error,
    };
    let nothing = |provider, result, error| Fetched {
        provider,
        result,
        records: Vec::new(),
        error,
    };
    let search_requested = cfg.mode.requested == LeadProvider::SearchApi.as_str();
    match cfg.effective {
        LeadProvider::SearchApi => {
            let Some(api) = SearchApi::from_config(cfg) else {
                return nothing(
                    LeadProvider::None,
                    "NO_CREDS",
                    Some("search API not configured".into()),
                );
            };
            match api.fetch(max) {
                Ok(records) => Fetched {
                    provider: LeadProvider::SearchApi,
                    result: "OK",
                    records,
                    error: None,
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
            }
        }
        effective if search_requested => {
            let reason = cfg.mode.reason.clone().unwrap_or_default();
            warn!(
                "[LEADS][NO_CREDS] reason={reason:?} fallback={}",
                cfg.fallback.as_str()
            );
            match effective {
                LeadProvider::DummySeed => dummy("FALLBACK", Some(reason)),
                _ => nothing(LeadProvider::None, "NO_CREDS", Some(reason)),
            }
        }
        LeadProvider::DummySeed => dummy("OK", None),
        LeadProvider::None => nothing(LeadProvider::None, "OK", cfg.mode.reason.clone()),
    }
}

pub fn run(ctx: &Ctx) -> Result<SourceReport> {
    let started_at = ctx.now();
    let max = i64::from(ctx.config.leads.max_new_per_cycle);
    let fetched = fetch(ctx);
    let source = fetched.provider.as_str();
    let mut run = SourceRun {
        provider: source.to_string(),
        started_at,
        result: Some(fetched.result.to_string()),
        fetched: fetched.records.len() as i64,
        error: fetched.error,
        ..SourceRun::default()
    };
    if fetched.records.len() > 1000 {
        db::leads::bulk_mode(&ctx.db)?;
    }
    db::immediate(&ctx.db, |tx| {
        let now = ctx.now();
        for raw in &fetched.records {
            if run.created >= max {
                break;
            }
            let lead = match normalize(raw) {
                Ok(lead) => lead,
                Err(reason) => {
                    run.invalid += 1;
                    debug!("[LEADS][INVALID] reason={reason:?}");
                    continue;
                }
            };
            match db::leads::insert(tx, &lead, source, now)? {
                Inserted::Created(id) => {
                    run.created += 1;
                    debug!("[LEADS][CREATED] lead_id={id} email={}", lead.email);
                }
                Inserted::Deduped { existing_id, by } => {
                    run.deduped += 1;
                    info!(
                        "[LEADS][DEDUPED] existing_id={existing_id} by={by} email={}",
                        lead.email
                    );
                }
            }
        }
        run.finished_at = Some(ctx.now());
        db::leads::record_source_run(tx, &run, ctx.config.log_max_entries)?;
        Ok(())
    })?;
    info!(
        "[LEADS][RUN] provider={source} result={} fetched={} created={} deduped={} invalid={}",
        fetched.result, run.fetched, run.created, run.deduped, run.invalid
    );
    Ok(SourceReport {
        provider: run.provider,
        result: fetched.result.to_string(),
        fetched: run.fetched,
        created: run.created,
        deduped: run.deduped,
        invalid: run.invalid,
    })
}
