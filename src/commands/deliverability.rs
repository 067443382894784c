//! `hoss check --deliverability` (SPEC §15): whether mail from the From
//! domain will be believed, checked where receivers check it — SPF, DMARC
//! and the DKIM key in DNS (through the same resolver as the MX check), the
//! one-click unsubscribe endpoint over HTTP, and the sender's 7-day health.
//! One line of evidence per check; a check that cannot be made (a DNS
//! timeout, a refused connection) fails with the reason. In release mode any
//! failed check is exit 78.

use serde::Serialize;

use crate::app::Ctx;
use crate::config::{DkimSettings, EmailConfig, EmailMode, Requested};
use crate::domain::dkim::DkimRecord;
use crate::error::{EXIT_CONFIG, EXIT_OK, Result};
use crate::render::Report;
use crate::services::dns::Resolver;
use crate::services::http;

/// How long the `/healthz` request may take.
const HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The JSON answer: `{"domain", "ok", "checks": [{"name", "ok", "detail"}]}`.
#[derive(Debug, Serialize)]
pub struct DeliverabilityReport {
    /// The From domain checked; `None` when nothing was checked.
    pub domain: Option<String>,
    pub ok: bool,
    pub checks: Vec<Check>,
    /// The DNS server asked, for the human header.
    #[serde(skip)]
    resolver: String,
    /// Why nothing was checked, when nothing was.
    #[serde(skip)]
    skipped: Option<String>,
    #[serde(skip)]
    release_mode: bool,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

fn pass(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        ok: true,
        detail: detail.into(),
    }
}

fn fail(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        ok: false,
        detail: detail.into(),
    }
}

fn unchecked(name: &'static str, reason: &str) -> Check {
    fail(name, format!("could not be checked: {reason}"))
}

pub fn run(ctx: &Ctx) -> Result<DeliverabilityReport> {
    let email = &ctx.config.email;
    let release_mode = ctx.config.release_mode;
    let nothing = |why: &str| DeliverabilityReport {
        domain: None,
        ok: false,
        checks: Vec::new(),
        resolver: String::new(),
        skipped: Some(why.into()),
        release_mode,
    };
    if ctx.config.dry_run {
        return Ok(nothing(
            "global DRY_RUN=TRUE: no network at all, so nothing was checked",
        ));
    }
    let Some(domain) = email.deliverability.from_domain.clone() else {
        return Ok(nothing(
            "no From address is configured (SENDGRID_FROM_EMAIL or SMTP_FROM_EMAIL; email is DRY_RUN): nothing to check",
        ));
    };
    let mut dns = Resolver::new(email.deliverability.dns_server);
    let checks = vec![
        spf(&mut dns, &domain),
        dmarc(&mut dns, &domain),
        dkim(&mut dns, email),
        unsubscribe(email),
        health(ctx)?,
    ];
    Ok(DeliverabilityReport {
        domain: Some(domain),
        ok: checks.iter().all(|c| c.ok),
        checks,
        resolver: dns.server(),
        skipped: None,
        release_mode,
    })
}

/// The TXT records at `name` that start with `tag` (`v=spf1`, `v=DMARC1`).
fn tagged(records: Vec<String>, tag: &str) -> Vec<String> {
    records
        .into_iter()
        .filter(|r| {
            let r = r.trim_start();
            r.get(..tag.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(tag))
                && r[tag.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| c.is_whitespace() || c == ';')
        })
        .collect()
}

/// Exactly one `v=spf1` record: two or more is a permanent error to every
/// receiver (RFC 7208 §4.5), as bad as none.
fn spf(dns: &mut Resolver, domain: &str) -> Check {
    const NAME: &str = "spf";
    let records = match dns.txt(domain) {
        Ok(r) => tagged(r, "v=spf1"),
        Err(e) => return unchecked(NAME, &e),
    };
    match records.as_slice() {
        [] => fail(NAME, format!("no SPF record (TXT v=spf1) at {domain}")),
        [one] => pass(NAME, one.clone()),
        many => fail(
            NAME,
            format!(
                "{} SPF records at {domain}: receivers treat that as a permanent error (permerror); merge them into one: {}",
                many.len(),
                many.join(" | ")
            ),
        ),
    }
}

/// One `v=DMARC1` record at `_dmarc.<domain>` with a `p=` policy.
fn dmarc(dns: &mut Resolver, domain: &str) -> Check {
    const NAME: &str = "dmarc";
    let name = format!("_dmarc.{domain}");
    let all = match dns.txt(&name) {
        Ok(r) => r,
        Err(e) => return unchecked(NAME, &e),
    };
    if all.is_empty() {
        return fail(NAME, format!("no TXT record at {name}"));
    }
    let records = tagged(all, "v=DMARC1");
    let record = match records.as_slice() {
        [] => return fail(NAME, format!("no DMARC record (TXT v=DMARC1) at {name}")),
        [one] => one,
        many => {
            return fail(
                NAME,
                format!(
                    "{} DMARC records at {name}: receivers then apply none; keep one",
                    many.len()
                ),
            );
        }
    };
    let policy = record.split(';').find_map(|tag| {
        let (k, v) = tag.split_once('=')?;
        (k.trim() == "p").then(|| v.trim().to_ascii_lowercase())
    });
    match policy.as_deref() {
        None => fail(NAME, format!("no p= policy in {name}: {record}")),
        Some(p @ ("reject" | "quarantine")) => pass(NAME, format!("policy p={p}: {record}")),
        Some("none") => pass(
            NAME,
            format!("policy p=none (reports only; nothing is enforced): {record}"),
        ),
        Some(p) => fail(
            NAME,
            format!("p={p} is not none, quarantine or reject: {record}"),
        ),
    }
}

/// The DKIM key record when a selector is set, and that it publishes the
/// configured key; without one, SMTP mail goes out unsigned.
fn dkim(dns: &mut Resolver, email: &EmailConfig) -> Check {
    const NAME: &str = "dkim";
    // hoss signs SMTP mail only: under SendGrid the DKIM_* settings sign
    // nothing, whatever DNS publishes.
    if email.mode.requested == Requested::Mode(EmailMode::SendGrid) {
        let unused = if email.deliverability.dkim.is_some() {
            " (DKIM_* are set but unused: hoss signs SMTP mail only)"
        } else {
            ""
        };
        return pass(
            NAME,
            format!("skipped: SendGrid signs with its domain authentication{unused}"),
        );
    }
    let Some(DkimSettings {
        selector,
        domain,
        key,
    }) = &email.deliverability.dkim
    else {
        return match email.mode.requested {
            Requested::Mode(EmailMode::Smtp) => fail(
                NAME,
                "SMTP mail is not DKIM-signed: set DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE, and publish the key",
            ),
            _ => pass(NAME, "skipped: email is DRY_RUN"),
        };
    };
    let name = format!("{selector}._domainkey.{domain}");
    let records: Vec<String> = match dns.txt(&name) {
        Ok(r) => r
            .into_iter()
            .filter(|r| DkimRecord::parse(r).p.is_some())
            .collect(),
        Err(e) => return unchecked(NAME, &e),
    };
    let key = match (records.first(), key) {
        (None, Ok(key)) => {
            return fail(
                NAME,
                format!(
                    "no DKIM key record (TXT with p=) at {name}; publish: {}",
                    key.txt_record()
                ),
            );
        }
        (None, Err(_)) => {
            return fail(NAME, format!("no DKIM key record (TXT with p=) at {name}"));
        }
        (Some(_), Err(e)) => {
            return fail(
                NAME,
                format!("{name} publishes a key, but mail cannot be signed: {e}"),
            );
        }
        (Some(_), Ok(key)) => key,
    };
    if records.iter().any(|r| key.matches_record(r).is_ok()) {
        return pass(
            NAME,
            format!(
                "{name} publishes the {} key of DKIM_PRIVATE_KEY_FILE",
                key.algorithm().as_str()
            ),
        );
    }
    let why = key.matches_record(&records[0]).err().unwrap_or_default();
    fail(
        NAME,
        format!("{name}: {why}; publish: {}", key.txt_record()),
    )
}

/// `PUBLIC_BASE_URL/healthz` answers 200: the one-click unsubscribe link in
/// every message leads somewhere that answers.
fn unsubscribe(email: &EmailConfig) -> Check {
    const NAME: &str = "unsubscribe";
    let Some(base) = &email.public_base_url else {
        // An unusable value was refused when the settings were read.
        return fail(
            NAME,
            email.public_base_url_problem.clone().unwrap_or_else(|| {
                "PUBLIC_BASE_URL is not set: the one-click unsubscribe link has nowhere to go"
                    .into()
            }),
        );
    };
    let url = format!("{base}/healthz");
    match http::agent(HTTP_TIMEOUT).get(&url).call() {
        Ok(response) => {
            let status = response.status().as_u16();
            if status == 200 {
                pass(NAME, format!("GET {url} answered 200"))
            } else {
                fail(NAME, format!("GET {url} answered {status}, not 200"))
            }
        }
        Err(e) => fail(
            NAME,
            format!(
                "GET {url} failed: {}",
                http::shorten(&e.to_string(), 200, None)
            ),
        ),
    }
}

/// The 7-day hard-bounce and complaint rates against the health limits.
fn health(ctx: &Ctx) -> Result<Check> {
    const NAME: &str = "health";
    let h = crate::commands::health::read(ctx)?;
    let limits = ctx.config.email.health;
    let pct = |n: i64| {
        if h.sends_7d == 0 {
            "0%".to_string()
        } else {
            format!("{:.2}%", n as f64 * 100.0 / h.sends_7d as f64)
        }
    };
    let evidence = format!(
        "{} real sends, {} hard bounces ({}), {} complaints ({}) in 7 days; limits HEALTH_MAX_BOUNCE_RATE {} and HEALTH_MAX_COMPLAINT_RATE {}",
        h.sends_7d,
        h.hard_bounces_7d,
        pct(h.hard_bounces_7d),
        h.complaints_7d,
        pct(h.complaints_7d),
        limits.max_bounce_rate,
        limits.max_complaint_rate
    );
    if h.paused {
        let reason = h.reason.clone().unwrap_or_default();
        return Ok(fail(
            NAME,
            format!("outreach is paused: {reason}; {evidence}"),
        ));
    }
    Ok(match crate::commands::health::verdict(ctx, &h) {
        Some(over) => fail(NAME, over),
        None if h.sends_7d < i64::from(limits.min_sends) => pass(
            NAME,
            format!(
                "{evidence} (fewer than HEALTH_MIN_SENDS {}: not judged yet)",
                limits.min_sends
            ),
        ),
        None => pass(NAME, evidence),
    })
}

impl Report for DeliverabilityReport {
    fn human(&self, _terminal: bool) -> String {
        let Some(domain) = &self.domain else {
            let why = self.skipped.as_deref().unwrap_or_default();
            return format!("deliverability: {why}\n");
        };
        let mut s = format!(
            "deliverability of {domain} (DNS server {})\n",
            self.resolver
        );
        for c in &self.checks {
            s.push_str(&format!(
                "{:<4} {:<11} {}\n",
                if c.ok { "ok" } else { "FAIL" },
                c.name,
                c.detail
            ));
        }
        let failed = self.checks.iter().filter(|c| !c.ok).count();
        if failed == 0 {
            s.push_str("deliverability: ok\n");
        } else {
            s.push_str(&format!(
                "deliverability: {failed} of {} checks FAILED{}\n",
                self.checks.len(),
                if self.release_mode {
                    " (release mode: exit 78)"
                } else {
                    ""
                }
            ));
        }
        s
    }

    fn exit_code(&self) -> i32 {
        if self.release_mode && !self.ok {
            EXIT_CONFIG
        } else {
            EXIT_OK
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_told_apart_by_their_version_tag() {
        let records = vec![
            "v=spf1 -all".to_string(),
            "v=spf10 nonsense".to_string(),
            "google-site-verification=abc".to_string(),
            "V=SPF1 include:_spf.example.com ~all".to_string(),
            "v=spf1".to_string(),
        ];
        assert_eq!(
            tagged(records, "v=spf1"),
            [
                "v=spf1 -all",
                "V=SPF1 include:_spf.example.com ~all",
                "v=spf1"
            ]
        );
        assert_eq!(
            tagged(vec!["v=DMARC1;p=reject".into()], "v=DMARC1"),
            ["v=DMARC1;p=reject"]
        );
    }
}
