//! Lead providers: the dummy simulation (no I/O) and the search API.

use std::time::Duration;

use crate::config::{LeadsConfig, Secret};
use crate::domain::leads::{RawLead, dummy_lead, parse_search_results, search_query};
use crate::services::http;

/// Largest search API answer read; anything bigger is an API error.
pub const MAX_BODY_BYTES: u64 = 5 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a provider returned nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: Option<u16>,
    pub error: String,
}

pub trait LeadSource {
    /// Up to about `limit` raw records (duplicates and invalid ones
    /// included), from result page `page` where the source pages.
    fn fetch(&self, limit: u32, page: Option<u32>) -> Result<Vec<RawLead>, ApiError>;
}

/// Simulation: plausible companies on reserved `.example` domains. A few
/// more candidates than asked, so a pass still fills up after dedupe.
pub struct DummySeed;

impl LeadSource for DummySeed {
    fn fetch(&self, limit: u32, _page: Option<u32>) -> Result<Vec<RawLead>, ApiError> {
        let mut rng = rand::rng();
        let n = limit as usize + limit as usize / 4 + 8;
        Ok((0..n).map(|_| dummy_lead(&mut rng)).collect())
    }
}

pub struct SearchApi {
    agent: ureq::Agent,
    url: String,
    key: Secret,
    query: String,
    page_param: Option<String>,
}

impl SearchApi {
    /// `None` unless the configuration made SEARCH_API effective.
    pub fn from_config(cfg: &LeadsConfig) -> Option<SearchApi> {
        if cfg.mode.effective != crate::config::LeadProvider::SearchApi {
            return None;
        }
        Some(SearchApi {
            agent: http::agent(TIMEOUT),
            url: cfg.api_url.clone()?,
            key: cfg.api_key.clone()?,
            query: search_query(
                &cfg.niche,
                cfg.geography.as_deref(),
                cfg.min_company_size,
                cfg.max_company_size,
            ),
            page_param: cfg.page_param.clone(),
        })
    }

    /// The query as sent: what its result pages are remembered by.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// Whether this API is asked for one page after another.
    pub fn pages(&self) -> bool {
        self.page_param.is_some()
    }
}

impl LeadSource for SearchApi {
    fn fetch(&self, limit: u32, page: Option<u32>) -> Result<Vec<RawLead>, ApiError> {
        let secret = Some(self.key.expose());
        let transport = |e: ureq::Error| ApiError {
            status: None,
            error: match e {
                ureq::Error::BodyExceedsLimit(n) => format!("response body larger than {n} bytes"),
                other => http::shorten(&other.to_string(), 200, secret),
            },
        };
        let mut request = self
            .agent
            .get(&self.url)
            .header("Authorization", &format!("Bearer {}", self.key.expose()))
            .header("Accept", "application/json")
            .query("query", &self.query)
            .query("limit", limit.to_string());
        if let (Some(param), Some(page)) = (&self.page_param, page) {
            request = request.query(param, page.to_string());
        }
        let mut response = request.call().map_err(transport)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_string()
            .map_err(|e| ApiError {
                status: Some(status),
                ..transport(e)
            })?;
        if !(200..300).contains(&status) {
            return Err(ApiError {
                status: Some(status),
                error: http::shorten(&body, 200, secret),
            });
        }
        parse_search_results(&body).map_err(|e| ApiError {
            status: Some(status),
            error: http::shorten(&e, 200, secret),
        })
    }
}
