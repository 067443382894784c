//! Leads as rules: normalising a raw record into something the database can
//! dedupe, reading a search API's answer, and the dummy simulation.
//!
//! Normalisation never repairs or invents: an unusable email makes the record
//! invalid (counted and skipped), nothing more.

use rand::{Rng, RngExt};
use serde_json::Value;

use super::address::{check_email, disposable, email_domain, is_valid_domain};

/// A lead as a provider, a CSV row or an operator gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawLead {
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub website: Option<String>,
    pub niche: Option<String>,
}

/// A lead ready for insertion: the dedupe keys are computed here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLead {
    pub name: Option<String>,
    pub email: String,
    pub company: String,
    pub company_key: String,
    pub domain: String,
    pub website: Option<String>,
    pub niche: Option<String>,
}

/// Longest text kept in a free-text lead field.
const MAX_FIELD: usize = 200;

/// Trims, decodes RFC 2047 encoded words (`=?utf-8?b?…?=`: a mail client
/// would decode them in a subject, CR/LF and all), removes control
/// characters (they could reach a header or a log line) and caps the
/// length; empty becomes `None`.
pub fn clean_text(v: Option<&str>) -> Option<String> {
    let flat = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let mut s = flat(v?);
    if s.contains("=?") {
        s = decode_encoded_words(&s).map_or(s, |d| flat(&d));
        // What is left that still looks like an encoded word (glued to a
        // word, which RFC 2047 leaves alone but lenient clients decode) is
        // defused: without its markers no client decodes it.
        if s.contains("=?") && s.contains("?=") {
            s = s.replace("=?", " ").replace("?=", " ");
        }
    }
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let s: String = s.chars().take(MAX_FIELD).collect();
    (!s.is_empty()).then_some(s)
}

/// The text with its encoded words decoded, as a mail client shows it.
fn decode_encoded_words(text: &str) -> Option<String> {
    let line = format!("X: {text}");
    let (header, _) = mailparse::parse_header(line.as_bytes()).ok()?;
    Some(header.get_value())
}

pub fn normalize(raw: &RawLead) -> Result<NewLead, String> {
    let email = match raw.email.as_deref().map(str::trim) {
        None | Some("") => return Err("email is missing".into()),
        Some(e) => check_email(e)?,
    };
    if let Some(listed) = disposable(email_domain(&email)) {
        return Err(format!("email is at a disposable-mail domain ({listed})"));
    }
    let company = clean_text(raw.company.as_deref()).unwrap_or_default();
    let website = clean_text(raw.website.as_deref());
    let domain = website
        .as_deref()
        .and_then(domain_of_website)
        .unwrap_or_else(|| strip_www(email_domain(&email)).to_string());
    Ok(NewLead {
        name: clean_text(raw.name.as_deref()),
        company_key: fold_company(&company),
        email,
        company,
        domain,
        website,
        niche: clean_text(raw.niche.as_deref()),
    })
}

fn strip_www(host: &str) -> &str {
    host.strip_prefix("www.").unwrap_or(host)
}

/// `https://www.Acme.com:443/about?x` → `acme.com`. `None` when there is no
/// usable host.
pub fn domain_of_website(website: &str) -> Option<String> {
    let w = website.trim();
    let rest = w.split_once("://").map_or(w, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host
        .split(':')
        .next()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let host = strip_www(&host);
    is_valid_domain(host).then(|| host.to_string())
}

/// Legal-form words that do not distinguish one company from another.
const LEGAL_SUFFIXES: &[&str] = &[
    "inc",
    "incorporated",
    "llc",
    "ltd",
    "limited",
    "co",
    "corp",
    "corporation",
    "company",
    "gmbh",
    "plc",
    "sa",
    "sarl",
    "bv",
    "ag",
    "pty",
    "llp",
    "lp",
    "pllc",
    "kg",
    "ug",
    "srl",
    "spa",
    "nv",
    "oy",
    "ab",
    "pte",
    "pvt",
    "kk",
];

/// The name to call a company by in a subject or greeting: trailing legal
/// forms dropped (`"Acme Widgets, LLC"` → `"Acme Widgets"`, `"Müller GmbH &
/// Co. KG"` → `"Müller"`). The full name when nothing else would be left.
pub fn short_company(company: &str) -> String {
    let mut words: Vec<&str> = company.split_whitespace().collect();
    let legal = |w: &str| {
        let bare: String = w
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase();
        bare.is_empty() && w.chars().all(|c| matches!(c, '&' | ',' | '.' | '-'))
            || LEGAL_SUFFIXES.contains(&bare.as_str())
    };
    while words.len() > 1 && words.last().is_some_and(|w| legal(w)) {
        words.pop();
    }
    let short = words
        .join(" ")
        .trim_end_matches([',', '.', '&', '-', ' '])
        .trim()
        .to_string();
    if short.is_empty() {
        company.trim().to_string()
    } else {
        short
    }
}

/// Company name folded for comparison: lower case, letters and digits only,
/// `&` read as `and`, trailing legal forms dropped.
/// `"ACME, Inc."` and `"Acme"` fold to the same key.
pub fn fold_company(company: &str) -> String {
    let lowered = company.to_lowercase().replace('&', " and ");
    let mut words: Vec<String> = lowered
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    while words.len() > 1
        && words
            .last()
            .is_some_and(|w| LEGAL_SUFFIXES.contains(&w.as_str()))
    {
        words.pop();
    }
    words.join(" ")
}

/// Reads a search API answer: a JSON list, or `{"results": [...]}`, of
/// objects with `company_name|company`, `contact_name|contact`, `email`,
/// `website|url` and `niche|industry`. Any other shape is an error; records
/// that are not objects come back as empty records (counted invalid).
pub fn parse_search_results(body: &str) -> Result<Vec<RawLead>, String> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| format!("response is not JSON: {e}"))?;
    let items = match &value {
        Value::Array(items) => items,
        Value::Object(map) => match map.get("results") {
            Some(Value::Array(items)) => items,
            _ => return Err("response JSON has no results list".into()),
        },
        _ => return Err("response JSON is neither a list nor an object with results".into()),
    };
    Ok(items.iter().map(raw_from_json).collect())
}

fn raw_from_json(item: &Value) -> RawLead {
    let field = |names: &[&str]| {
        names.iter().find_map(|n| match item.get(n) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    };
    RawLead {
        name: field(&["contact_name", "contact", "name"]),
        email: field(&["email"]),
        company: field(&["company_name", "company"]),
        website: field(&["website", "url"]),
        niche: field(&["niche", "industry"]),
    }
}

/// The search query from the configured niche, geography and size.
pub fn search_query(
    niche: &str,
    geography: Option<&str>,
    min: Option<u32>,
    max: Option<u32>,
) -> String {
    let mut q = niche.trim().to_string();
    if let Some(g) = geography.map(str::trim).filter(|g| !g.is_empty()) {
        q.push_str(&format!(" in {g}"));
    }
    match (min, max) {
        (Some(a), Some(b)) => q.push_str(&format!(", {a}-{b} employees")),
        (Some(a), None) => q.push_str(&format!(", {a}+ employees")),
        (None, Some(b)) => q.push_str(&format!(", up to {b} employees")),
        (None, None) => {}
    }
    q
}

/// The search API page to ask for on the next pass, after asking for
/// `asked` and getting `records` back. An empty page means the query is
/// exhausted: start over at 1 (new companies appear at the front over time).
/// A page the pass did not work through (`MAX_NEW_LEADS_PER_CYCLE` stopped
/// it) is asked for again, so its rest is not skipped; otherwise the next.
pub fn next_search_page(asked: u32, records: usize, worked_through: bool) -> u32 {
    match (records, worked_through) {
        (0, _) => 1,
        (_, false) => asked.max(1),
        (_, true) => asked.saturating_add(1),
    }
}

const PREFIXES: &[&str] = &[
    "Bright",
    "North",
    "Blue",
    "Iron",
    "Silver",
    "Clear",
    "Summit",
    "Harbor",
    "Cedar",
    "Granite",
    "Swift",
    "True",
    "Keystone",
    "Pioneer",
    "Beacon",
    "Maple",
    "River",
    "Stone",
    "Oak",
    "Pine",
    "Copper",
    "Golden",
    "Evergreen",
    "Prairie",
    "Atlas",
    "Lumen",
    "Vector",
    "Nimbus",
    "Orbit",
    "Polar",
    "Crescent",
    "Falcon",
    "Meridian",
    "Sterling",
    "Horizon",
    "Juniper",
    "Redwood",
    "Willow",
    "Aspen",
    "Coastal",
];
const ROOTS: &[&str] = &[
    "forge", "path", "point", "line", "bridge", "field", "works", "gate", "view", "stack", "craft",
    "wave", "peak", "loop", "mark", "base", "shift", "spring", "light", "ridge", "scale", "sphere",
    "well", "yard", "hub", "lane", "mill", "port", "wind", "vale",
];
const KINDS: &[(&str, &str)] = &[
    ("Analytics", "saas"),
    ("Marketing", "agency"),
    ("Digital", "agency"),
    ("Consulting", "consulting"),
    ("Partners", "consulting"),
    ("Labs", "saas"),
    ("Software", "saas"),
    ("Media", "agency"),
    ("Advisory", "consulting"),
    ("Growth", "revops"),
    ("Revenue Ops", "revops"),
    ("Studio", "agency"),
    ("Systems", "saas"),
    ("Group", "consulting"),
];
const FIRST_NAMES: &[&str] = &[
    "Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Drew",
    "Sam", "Robin", "Jesse", "Cameron", "Dana", "Elena", "Marcus", "Priya", "Tomás", "Aisha",
    "Wei", "Fatima", "Liam", "Sofia", "Noah", "Maya", "Omar", "Grace", "Ivan", "Chloe", "Hannah",
    "Daniel", "Leila", "Kenji", "Nadia", "Victor", "Zoe", "Mateo", "Ingrid", "Ravi",
];
const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Lee",
    "Garcia",
    "Martin",
    "Brown",
    "Davis",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Lopez",
    "Hill",
    "Scott",
    "Green",
    "Adams",
    "Baker",
    "Nguyen",
    "Patel",
    "Kim",
    "Chen",
    "Okafor",
    "Novak",
    "Rossi",
    "Müller",
    "Silva",
    "Haddad",
    "O'Brien",
    "Schmidt",
    "Kowalski",
    "Tanaka",
    "Johansson",
    "Murphy",
    "Reyes",
    "Cohen",
    "Ali",
    "Fischer",
];

fn pick<'a, T>(rng: &mut impl Rng, list: &'a [T]) -> &'a T {
    &list[rng.random_range(0..list.len())]
}

/// `first.last` as an address's local part, transliterated to ASCII
/// (`Kenji Müller` → `kenji.muller`, never `kenji.mller`).
pub fn local_part(first: &str, last: &str) -> String {
    deunicode::deunicode(&format!("{first}.{last}"))
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect()
}

/// One plausible simulated lead on a reserved `.example` domain. The number
/// in the domain keeps the space large (tens of millions of combinations) so
/// dedupe does not dry the simulation up.
pub fn dummy_lead(rng: &mut impl Rng) -> RawLead {
    let prefix = *pick(rng, PREFIXES);
    let root = *pick(rng, ROOTS);
    let (kind, niche) = *pick(rng, KINDS);
    let first = *pick(rng, FIRST_NAMES);
    let last = *pick(rng, LAST_NAMES);
    let number = rng.random_range(1..100_000);
    let domain = format!(
        "{}{}-{}{number}.example",
        prefix.to_ascii_lowercase(),
        root,
        kind.to_ascii_lowercase().replace(' ', "")
    );
    let local = local_part(first, last);
    RawLead {
        name: Some(format!("{first} {last}")),
        email: Some(format!("{local}@{domain}")),
        company: Some(format!("{prefix}{root} {kind}")),
        website: Some(format!("https://www.{domain}")),
        niche: Some(niche.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(email: &str, company: &str, website: Option<&str>) -> RawLead {
        RawLead {
            email: Some(email.into()),
            company: Some(company.into()),
            website: website.map(str::to_string),
            ..RawLead::default()
        }
    }

    #[test]
    fn domains_come_from_the_website_else_the_email() {
        let a = normalize(&raw(
            " Jane@ACME.com ",
            "Acme, Inc.",
            Some("https://www.Acme.com/about"),
        ))
        .unwrap();
        let b = normalize(&raw("bob@acme.com", "ACME", None)).unwrap();
        assert_eq!(a.email, "jane@acme.com");
        assert_eq!(
            (a.domain.as_str(), a.company_key.as_str()),
            ("acme.com", "acme")
        );
        assert_eq!(
            (b.domain.as_str(), b.company_key.as_str()),
            ("acme.com", "acme")
        );
    }

    #[test]
    fn website_hosts_lose_scheme_path_port_and_www() {
        for (w, d) in [
            ("acme.com", Some("acme.com")),
            ("http://WWW.acme.com:8080/x?y#z", Some("acme.com")),
            ("https://user@shop.acme.co.uk/", Some("shop.acme.co.uk")),
            ("not a website", None),
            ("https://", None),
        ] {
            assert_eq!(domain_of_website(w).as_deref(), d, "{w}");
        }
    }

    #[test]
    fn company_folding_ignores_case_punctuation_and_legal_form() {
        assert_eq!(fold_company("ACME, Inc."), "acme");
        assert_eq!(fold_company("Smith & Sons LLC"), "smith and sons");
        assert_eq!(fold_company("  The   Co "), "the");
        assert_eq!(fold_company(""), "");
    }

    #[test]
    fn invalid_emails_are_rejected_never_invented() {
        assert_eq!(
            normalize(&raw("", "Acme", None)),
            Err("email is missing".into())
        );
        assert!(normalize(&RawLead::default()).is_err());
        assert!(normalize(&raw("jane at acme", "Acme", None)).is_err());
    }

    #[test]
    fn short_company_names_drop_legal_forms() {
        for (full, short) in [
            ("Acme Widgets, LLC", "Acme Widgets"),
            ("Acme Inc.", "Acme"),
            ("Müller GmbH & Co. KG", "Müller"),
            ("Smith & Sons Ltd", "Smith & Sons"),
            ("Bolt Pty. Ltd.", "Bolt"),
            ("LLC", "LLC"),
            ("Company", "Company"),
            ("Acme", "Acme"),
        ] {
            assert_eq!(short_company(full), short, "{full}");
        }
    }

    #[test]
    fn generated_addresses_transliterate_names() {
        assert_eq!(local_part("Kenji", "Müller"), "kenji.muller");
        assert_eq!(local_part("Zoë", "Ångström"), "zoe.angstrom");
        assert_eq!(local_part("Søren", "O'Brien"), "soren.obrien");
    }

    #[test]
    fn encoded_words_are_decoded_then_cleaned() {
        // "\r\nBcc: evil4@evil.com" as a base64 encoded word.
        let evil = "=?utf-8?b?DQpCY2M6IGV2aWw0QGV2aWwuY29t?=";
        assert_eq!(
            clean_text(Some(evil)).as_deref(),
            Some("Bcc: evil4@evil.com")
        );
        let q = "Caf=?iso-8859-1?q?=E9?= =?utf-8?q?=0D=0ATo:_x?=";
        let cleaned = clean_text(Some(q)).unwrap();
        assert!(
            !cleaned.contains("=?") && !cleaned.chars().any(char::is_control),
            "{cleaned}"
        );
        assert_eq!(clean_text(Some("a =? b ?= c")).as_deref(), Some("a b c"));
        assert_eq!(clean_text(Some("=?utf-8?b?DQo=?=")), None);
    }

    #[test]
    fn control_characters_never_survive_in_text_fields() {
        let mut r = raw("a@acme.com", "Acme\r\nBcc: x@y.com", None);
        r.name = Some("Jane\u{0}\tDoe".into());
        let n = normalize(&r).unwrap();
        assert_eq!(n.company, "Acme Bcc: x@y.com");
        assert_eq!(n.name.as_deref(), Some("Jane Doe"));
    }

    #[test]
    fn search_results_accept_both_shapes_and_aliases() {
        let list = r#"[{"company_name":"A","contact_name":"Ann","email":"a@a.com","website":"a.com","niche":"x"}]"#;
        let wrapped = r#"{"results":[{"company":"A","contact":"Ann","email":"a@a.com","url":"a.com","industry":"x"}]}"#;
        assert_eq!(
            parse_search_results(list).unwrap(),
            parse_search_results(wrapped).unwrap()
        );
        assert_eq!(
            parse_search_results("[1, null]").unwrap(),
            vec![RawLead::default(); 2]
        );
        for bad in ["<html></html>", "[{\"email\":", "{\"data\":[]}", "42", ""] {
            assert!(parse_search_results(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_query_reads_naturally() {
        assert_eq!(
            search_query("agencies", Some("US"), Some(5), Some(50)),
            "agencies in US, 5-50 employees"
        );
        assert_eq!(search_query("agencies", None, None, None), "agencies");
    }

    #[test]
    fn search_pages_advance_until_an_empty_one_then_start_over() {
        assert_eq!(next_search_page(1, 10, true), 2);
        assert_eq!(next_search_page(7, 1, true), 8);
        assert_eq!(next_search_page(7, 0, true), 1);
        assert_eq!(next_search_page(7, 0, false), 1);
        assert_eq!(next_search_page(3, 40, false), 3);
        assert_eq!(next_search_page(u32::MAX, 5, true), u32::MAX);
    }

    #[test]
    fn dummy_leads_are_valid_reserved_and_varied() {
        let mut rng = rand::rng();
        let mut emails = std::collections::HashSet::new();
        for _ in 0..2000 {
            let lead = normalize(&dummy_lead(&mut rng)).expect("dummy leads are valid");
            assert!(
                super::super::address::is_reserved_domain(&lead.domain),
                "{}",
                lead.domain
            );
            emails.insert(lead.email);
        }
        assert!(
            emails.len() > 1990,
            "only {} distinct of 2000",
            emails.len()
        );
    }
}
