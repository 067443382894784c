//! Leads: the provider asked for (`LEAD_SOURCE_PROVIDER`), what runs when
//! the search API cannot, and the search query.

use serde::Serialize;

use super::keys::{Raw, Secret, quote_value};
use super::resolved::{Problems, Requested, Resolved};
use super::urls::check_url;

const DEFAULT_LEAD_NICHE: &str = "small B2B agencies";
const DEFAULT_LEAD_SEARCH_PAGE_PARAM: &str = "page";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum LeadProvider {
    DummySeed,
    SearchApi,
    None,
}

impl LeadProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            LeadProvider::DummySeed => "DUMMY_SEED",
            LeadProvider::SearchApi => "SEARCH_API",
            LeadProvider::None => "NONE",
        }
    }
}

impl From<LeadProvider> for &'static str {
    fn from(p: LeadProvider) -> Self {
        p.as_str()
    }
}

#[derive(Debug, Clone)]
pub struct LeadsConfig {
    pub mode: Resolved<LeadProvider>,
    /// What runs when SEARCH_API cannot (NONE or DUMMY_SEED).
    pub fallback: LeadProvider,
    pub api_url: Option<String>,
    pub api_key: Option<Secret>,
    pub niche: String,
    pub geography: Option<String>,
    pub min_company_size: Option<u32>,
    pub max_company_size: Option<u32>,
    pub max_new_per_cycle: u32,
    /// The search API's page parameter; `None` when paging is off
    /// (`LEAD_SEARCH_PAGE_PARAM=NONE`).
    pub page_param: Option<String>,
}

pub(super) fn resolve_leads(raw: &Raw, dry_run: bool) -> LeadsConfig {
    let mut p = Problems::default();
    let api_url_text = raw.get("LEAD_SEARCH_API_URL");
    let api_key = raw.secret("LEAD_SEARCH_API_KEY");
    let requested_text = match raw.get("LEAD_SOURCE_PROVIDER") {
        Some(v) => v.to_string(),
        None if api_url_text.is_some() && api_key.is_some() => "SEARCH_API".into(),
        None => "DUMMY_SEED".into(),
    };
    let fallback = match raw
        .string("LEAD_SOURCE_FALLBACK", "NONE")
        .to_ascii_uppercase()
        .as_str()
    {
        "NONE" => LeadProvider::None,
        "DUMMY_SEED" => LeadProvider::DummySeed,
        _ => {
            p.0.push("LEAD_SOURCE_FALLBACK is not one of NONE, DUMMY_SEED".into());
            LeadProvider::None
        }
    };
    let max_new_per_cycle = p.take(raw.uint("MAX_NEW_LEADS_PER_CYCLE", 10, 0, 100_000), 0);
    let min_company_size = p.take(raw.opt_uint("LEAD_MIN_COMPANY_SIZE", 10_000_000), None);
    let max_company_size = p.take(raw.opt_uint("LEAD_MAX_COMPANY_SIZE", 10_000_000), None);
    if let (Some(a), Some(b)) = (min_company_size, max_company_size)
        && a > b
    {
        p.0.push("LEAD_MIN_COMPANY_SIZE is greater than LEAD_MAX_COMPANY_SIZE".into());
    }

    let requested = match requested_text.to_ascii_uppercase().as_str() {
        "DUMMY_SEED" | "DUMMY" => Requested::Mode(LeadProvider::DummySeed),
        "SEARCH_API" => Requested::Mode(LeadProvider::SearchApi),
        _ => {
            p.0.push(format!(
                "LEAD_SOURCE_PROVIDER {} is not one of DUMMY_SEED, SEARCH_API",
                quote_value(&requested_text)
            ));
            Requested::Unknown(requested_text)
        }
    };
    let mut api_url = None;
    let mut page_param = None;
    if requested == Requested::Mode(LeadProvider::SearchApi) {
        if let Some(u) = p.require(api_url_text, "LEAD_SEARCH_API_URL") {
            api_url = p.take(check_url("LEAD_SEARCH_API_URL", u).map(Some), None);
        }
        p.require(api_key.as_ref(), "LEAD_SEARCH_API_KEY");
        page_param = p.take(
            check_page_param(&raw.string("LEAD_SEARCH_PAGE_PARAM", DEFAULT_LEAD_SEARCH_PAGE_PARAM)),
            None,
        );
        if dry_run {
            p.0.insert(0, "DRY_RUN=TRUE".into());
        }
    }
    // An unusable limit means no leads at all, never the default.
    let limit_unusable = max_new_per_cycle == 0 && raw.get("MAX_NEW_LEADS_PER_CYCLE").is_some();
    let fell_back_to = if limit_unusable {
        LeadProvider::None
    } else {
        fallback
    };
    LeadsConfig {
        mode: Resolved::new(requested, fell_back_to, &p),
        fallback,
        api_url,
        api_key,
        niche: raw.string("LEAD_NICHE", DEFAULT_LEAD_NICHE),
        geography: raw.get("LEAD_GEOGRAPHY").map(str::to_string),
        min_company_size,
        max_company_size,
        max_new_per_cycle,
        page_param,
    }
}

/// `LEAD_SEARCH_PAGE_PARAM`: a query parameter name hoss does not already
/// send, or `NONE` (no paging, for a vendor that refuses unknown
/// parameters). A typo such as `page=1` is refused rather than sent.
fn check_page_param(v: &str) -> std::result::Result<Option<String>, String> {
    if v.eq_ignore_ascii_case("NONE") {
        return Ok(None);
    }
    let name_like = v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.[]".contains(&b));
    if !name_like {
        return Err(format!(
            "LEAD_SEARCH_PAGE_PARAM {} is not a query parameter name (letters, digits, _ - . [ ]) or NONE",
            quote_value(v)
        ));
    }
    if matches!(v, "query" | "limit") {
        return Err(format!(
            "LEAD_SEARCH_PAGE_PARAM {} would replace a parameter hoss already sends",
            quote_value(v)
        ));
    }
    Ok(Some(v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::cfg;

    #[test]
    fn search_api_is_chosen_when_both_credentials_are_set() {
        let c = cfg(&[
            ("LEAD_SEARCH_API_URL", "https://search.test/leads"),
            ("LEAD_SEARCH_API_KEY", "k"),
        ]);
        assert_eq!(c.leads.mode.effective, LeadProvider::SearchApi);
        let c = cfg(&[
            ("LEAD_SOURCE_PROVIDER", "SEARCH_API"),
            ("LEAD_SOURCE_FALLBACK", "DUMMY_SEED"),
        ]);
        assert_eq!(c.leads.mode.effective, LeadProvider::DummySeed);
        assert!(
            c.leads
                .mode
                .reason
                .as_deref()
                .unwrap()
                .contains("LEAD_SEARCH_API_URL is missing")
        );
    }

    #[test]
    fn an_unusable_limit_means_no_leads_whatever_the_fallback() {
        let c = cfg(&[
            ("LEAD_SOURCE_FALLBACK", "DUMMY_SEED"),
            ("MAX_NEW_LEADS_PER_CYCLE", "lots"),
        ]);
        assert_eq!(c.leads.mode.effective, LeadProvider::None);
        assert_eq!(c.leads.max_new_per_cycle, 0);
        assert!(c.leads.mode.fell_back());
    }

    #[test]
    fn the_search_page_parameter_defaults_to_page_and_can_be_turned_off() {
        let search = [
            ("LEAD_SEARCH_API_URL", "https://search.test/leads"),
            ("LEAD_SEARCH_API_KEY", "k"),
        ];
        let with = |v: &str| {
            let mut pairs = search.to_vec();
            pairs.push(("LEAD_SEARCH_PAGE_PARAM", v));
            cfg(&pairs).leads
        };
        assert_eq!(cfg(&search).leads.page_param.as_deref(), Some("page"));
        assert_eq!(with("p").page_param.as_deref(), Some("p"));
        assert_eq!(
            with("page[number]").page_param.as_deref(),
            Some("page[number]")
        );
        let off = with("none");
        assert_eq!(
            (off.page_param, off.mode.effective),
            (None, LeadProvider::SearchApi)
        );
        for bad in ["page=2", "my page", "limit"] {
            let leads = with(bad);
            assert_eq!(leads.mode.effective, LeadProvider::None, "{bad}");
            assert!(
                leads
                    .mode
                    .reason
                    .as_deref()
                    .unwrap()
                    .contains("LEAD_SEARCH_PAGE_PARAM"),
                "{bad}: {:?}",
                leads.mode.reason
            );
        }
    }
}
