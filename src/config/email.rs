//! Email: the mailer asked for (`EMAIL_MODE`), its limits, the sender and
//! the template pack; what makes real mail fall back to DRY_RUN.

use std::path::PathBuf;

use serde::Serialize;

use super::keys::{Raw, Secret, quote_value};
use super::resolved::{Problems, Requested, Resolved};
use super::templates::{self, pack_problem};
use super::urls::{check_api_base, check_url, is_loopback_host};
use crate::domain::templates::Pack;

pub const DEFAULT_SENDGRID_API_BASE: &str = "https://api.sendgrid.com";
/// The display name of simulated mail only: real mail never goes out under
/// the product's name.
const DEFAULT_FROM_NAME: &str = "HossAgent";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum EmailMode {
    DryRun,
    SendGrid,
    Smtp,
}

impl EmailMode {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailMode::DryRun => "DRY_RUN",
            EmailMode::SendGrid => "SENDGRID",
            EmailMode::Smtp => "SMTP",
        }
    }
}

impl From<EmailMode> for &'static str {
    fn from(m: EmailMode) -> Self {
        m.as_str()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Implicit,
    None,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: Option<String>,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub tls: SmtpTls,
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub mode: Resolved<EmailMode>,
    pub max_per_cycle: u32,
    pub max_per_hour: u32,
    /// When outreach pauses itself (SPEC §13).
    pub health: super::HealthLimits,
    /// Sequences, the send window and the caps (SPEC §14).
    pub sending: super::SendingConfig,
    /// Role accounts, the MX check and its resolver (SPEC §15).
    pub deliverability: super::Deliverability,
    pub delay_min_secs: u32,
    pub delay_max_secs: u32,
    pub from_email: String,
    pub from_name: String,
    pub reply_to: String,
    pub sendgrid_api_key: Option<Secret>,
    pub sendgrid_api_base: String,
    pub smtp: SmtpConfig,
    pub company_postal_address: Option<String>,
    pub public_base_url: Option<String>,
    /// Why `PUBLIC_BASE_URL` was refused, when it was (email fell back).
    pub public_base_url_problem: Option<String>,
    pub operator_email: String,
    pub niche_template: String,
    /// The pack `BIZDEV_NICHE_TEMPLATE` names, read from `TEMPLATES_DIR` or
    /// built in, checked; its error made email fall back.
    pub pack: std::result::Result<Pack, String>,
    pub templates_dir: PathBuf,
    pub sender_name: String,
    /// `COMPANY_NAME`: the operator's company, in every footer.
    pub company_name: Option<String>,
    pub offer: String,
}

pub(super) fn resolve_email(
    raw: &Raw,
    dry_run: bool,
    sequence_steps: Option<&toml::Value>,
) -> EmailConfig {
    let mut p = Problems::default();
    let requested_text = raw.string("EMAIL_MODE", "DRY_RUN");
    let requested = match requested_text.to_ascii_uppercase().as_str() {
        "DRY_RUN" => Requested::Mode(EmailMode::DryRun),
        "SENDGRID" => Requested::Mode(EmailMode::SendGrid),
        "SMTP" => Requested::Mode(EmailMode::Smtp),
        _ => {
            p.0.push(format!(
                "EMAIL_MODE {} is not one of DRY_RUN, SENDGRID, SMTP",
                quote_value(&requested_text)
            ));
            Requested::Unknown(requested_text)
        }
    };

    // Limits: an unreadable limit is 0 (sends nothing), never the default.
    let health = super::health::resolve_health(raw, &mut p);
    let sending = super::sending::resolve_sending(raw, sequence_steps, &mut p);
    let max_per_cycle = p.take(raw.uint("MAX_EMAILS_PER_CYCLE", 10, 0, 10_000), 0);
    let max_per_hour = p.take(raw.uint("MAX_EMAILS_PER_HOUR", 50, 0, 100_000), 0);
    let delay_min_secs = p.take(raw.uint("EMAIL_SEND_DELAY_MIN", 1, 0, 600), 0);
    let delay_max_secs = p.take(raw.uint("EMAIL_SEND_DELAY_MAX", 5, 0, 600), 0);
    if delay_min_secs > delay_max_secs {
        p.0.push("EMAIL_SEND_DELAY_MIN is greater than EMAIL_SEND_DELAY_MAX".into());
    }

    let sendgrid_api_key = raw.secret("SENDGRID_API_KEY");
    let sendgrid_api_base = p.take(
        check_api_base(
            "SENDGRID_API_BASE",
            raw.get("SENDGRID_API_BASE")
                .unwrap_or(DEFAULT_SENDGRID_API_BASE),
        ),
        DEFAULT_SENDGRID_API_BASE.into(),
    );
    let smtp_tls_text = raw.string("SMTP_TLS", "STARTTLS");
    let smtp_tls = match smtp_tls_text.to_ascii_uppercase().as_str() {
        "STARTTLS" => SmtpTls::StartTls,
        "TLS" => SmtpTls::Implicit,
        "NONE" => SmtpTls::None,
        _ => {
            p.0.push("SMTP_TLS is not one of STARTTLS, TLS, NONE".into());
            SmtpTls::StartTls
        }
    };
    let smtp = SmtpConfig {
        host: raw.get("SMTP_HOST").map(str::to_string),
        port: p.take(raw.uint("SMTP_PORT", 587, 1, 65_535), 587) as u16,
        username: raw.get("SMTP_USERNAME").map(str::to_string),
        password: raw.secret("SMTP_PASSWORD"),
        tls: smtp_tls,
    };

    let sendgrid_from = p.take(raw.email("SENDGRID_FROM_EMAIL"), None);
    let smtp_from = p.take(raw.email("SMTP_FROM_EMAIL"), None);
    let bizdev_email = p.take(raw.email("BIZDEV_SENDER_EMAIL"), None);
    let reply_to = p.take(raw.email("REPLY_TO_EMAIL"), None);
    let operator_email = p.take(raw.email("OPERATOR_EMAIL"), None);
    let checked_base = raw
        .get("PUBLIC_BASE_URL")
        .map(|u| check_url("PUBLIC_BASE_URL", u.trim_end_matches('/')));
    let public_base_url_problem = checked_base.as_ref().and_then(|r| r.clone().err());
    let public_base_url = checked_base.and_then(|r| p.take(r.map(Some), None));
    let company_postal_address = raw.get("COMPANY_POSTAL_ADDRESS").map(str::to_string);

    // What the requested real mailer needs, on top of the shared checks.
    let (from_email, from_name) = match requested {
        Requested::Mode(EmailMode::SendGrid) => {
            let key = p.require(sendgrid_api_key.as_ref(), "SENDGRID_API_KEY");
            if key.is_some_and(|k| {
                k.expose()
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            }) {
                p.0.push("SENDGRID_API_KEY contains whitespace".into());
            }
            (
                p.require(sendgrid_from.clone(), "SENDGRID_FROM_EMAIL"),
                raw.get("SENDGRID_FROM_NAME"),
            )
        }
        Requested::Mode(EmailMode::Smtp) => {
            if let Some(host) = p.require(smtp.host.as_deref(), "SMTP_HOST") {
                if host.contains(|c: char| c.is_whitespace() || c == '/' || c == '@') {
                    p.0.push("SMTP_HOST is not a host name".into());
                } else if smtp.tls == SmtpTls::None && !is_loopback_host(host) {
                    p.0.push("SMTP_TLS=NONE is allowed only for a loopback SMTP_HOST".into());
                }
            }
            if smtp.username.is_some() != smtp.password.is_some() {
                p.0.push("SMTP_USERNAME and SMTP_PASSWORD must be set together".into());
            }
            (
                p.require(smtp_from.clone(), "SMTP_FROM_EMAIL"),
                raw.get("SMTP_FROM_NAME"),
            )
        }
        _ => (
            sendgrid_from.clone().or(smtp_from.clone()),
            raw.get("SENDGRID_FROM_NAME").or(raw.get("SMTP_FROM_NAME")),
        ),
    };
    // The operator's name and company, never the product's, on real mail.
    let from_name = from_name
        .or(raw.get("SENDER_NAME"))
        .or(raw.get("BIZDEV_SENDER_NAME"))
        .map(sanitize_display_name)
        .filter(|n| !n.is_empty());
    let company_name = raw
        .get("COMPANY_NAME")
        .map(sanitize_display_name)
        .filter(|n| !n.is_empty());
    if matches!(requested, Requested::Mode(m) if m != EmailMode::DryRun) {
        if from_name.is_none() {
            p.0.push(
                "SENDER_NAME is missing (real email never goes out under the product's name; SENDGRID_FROM_NAME or SMTP_FROM_NAME also do)"
                    .into(),
            );
        }
        p.require(company_name.as_ref(), "COMPANY_NAME");
        p.require(company_postal_address.as_ref(), "COMPANY_POSTAL_ADDRESS");
    }
    // The MX check, role accounts, and the DKIM key for this From address.
    let deliverability =
        super::deliverability::resolve_deliverability(raw, from_email.as_deref(), &mut p);
    let (niche_template, templates_dir, pack) = templates::resolve_pack(raw);
    if let Err(e) = &pack {
        p.0.push(pack_problem(e));
    }
    let mut sending = sending;
    for step in &sending.steps {
        for name in step.packs(&niche_template) {
            if name == niche_template || sending.packs.contains_key(&name) {
                continue;
            }
            match super::load_pack(&name, &templates_dir) {
                Ok(pack) => {
                    sending.packs.insert(name, pack);
                }
                Err(e) => p.0.push(format!("[[sequence.steps]]: {e}")),
            }
        }
    }
    if let Ok(first) = &pack {
        sending.packs.insert(niche_template.clone(), first.clone());
    }
    if dry_run {
        p.0.insert(0, "DRY_RUN=TRUE".into());
    }

    let from_name = from_name.unwrap_or_else(|| DEFAULT_FROM_NAME.into());
    // The name in the signature: the outreach persona, else the person.
    let sender_name = raw
        .get("BIZDEV_SENDER_NAME")
        .or(raw.get("SENDER_NAME"))
        .map(sanitize_display_name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| from_name.clone());
    let from_email = from_email.unwrap_or_else(|| "hoss@dry-run.invalid".into());
    let reply_to = reply_to
        .or(bizdev_email)
        .unwrap_or_else(|| from_email.clone());
    let operator_email = operator_email.unwrap_or_else(|| from_email.clone());
    EmailConfig {
        // DRY_RUN asked for is not a fallback, but a broken setting still shows.
        mode: Resolved::new(requested, EmailMode::DryRun, &p),
        max_per_cycle,
        health,
        sending,
        deliverability,
        max_per_hour,
        delay_min_secs,
        delay_max_secs,
        from_email,
        from_name,
        reply_to,
        sendgrid_api_key,
        sendgrid_api_base,
        smtp,
        company_postal_address,
        public_base_url,
        public_base_url_problem,
        operator_email,
        niche_template,
        pack,
        templates_dir,
        sender_name,
        company_name,
        offer: raw.string("BIZDEV_OFFER", "autonomous business operations"),
    }
}

/// Display names go into headers: no control characters, no quotes games.
fn sanitize_display_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | '\\'))
        .take(64)
        .collect();
    clean.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{SENDGRID_OK, cfg};

    #[test]
    fn complete_sendgrid_config_is_real() {
        let c = cfg(SENDGRID_OK);
        assert_eq!(
            c.email.mode.effective,
            EmailMode::SendGrid,
            "{:?}",
            c.email.mode
        );
        assert!(
            c.notices
                .iter()
                .any(|n| n.line.contains("[REAL_SIDE_EFFECTS] subsystems=email"))
        );
    }

    #[test]
    fn invalid_limits_fall_back_and_never_raise_the_limit() {
        for bad in ["abc", "-5", "1.5", "99999999999"] {
            let mut pairs = SENDGRID_OK.to_vec();
            pairs.push(("MAX_EMAILS_PER_HOUR", bad));
            let c = cfg(&pairs);
            assert_eq!(c.email.mode.effective, EmailMode::DryRun, "{bad}");
            assert_eq!(c.email.max_per_hour, 0, "{bad}");
            assert!(
                c.email
                    .mode
                    .reason
                    .as_deref()
                    .unwrap()
                    .contains("MAX_EMAILS_PER_HOUR")
            );
        }
    }

    #[test]
    fn misspelt_email_mode_falls_back_with_reason() {
        let c = cfg(&[("EMAIL_MODE", "SENDGRIDD")]);
        assert_eq!(c.email.mode.effective, EmailMode::DryRun);
        assert_eq!(
            c.email.mode.requested,
            Requested::Unknown("SENDGRIDD".into())
        );
        assert!(
            c.email
                .mode
                .reason
                .as_deref()
                .unwrap()
                .starts_with("EMAIL_MODE")
        );
    }

    #[test]
    fn real_email_never_goes_out_under_the_products_name() {
        for missing in ["SENDER_NAME", "COMPANY_NAME"] {
            let pairs: Vec<_> = SENDGRID_OK
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let c = cfg(&pairs);
            assert_eq!(c.email.mode.effective, EmailMode::DryRun, "{missing}");
            assert!(
                c.email
                    .mode
                    .reason
                    .as_deref()
                    .unwrap()
                    .starts_with(&format!("{missing} is missing")),
                "{:?}",
                c.email.mode.reason
            );
        }
        // A per-mailer name stands in for SENDER_NAME.
        let mut pairs: Vec<_> = SENDGRID_OK
            .iter()
            .copied()
            .filter(|(k, _)| *k != "SENDER_NAME")
            .collect();
        pairs.push(("SENDGRID_FROM_NAME", "Sam at Carter"));
        let c = cfg(&pairs);
        assert_eq!(c.email.mode.effective, EmailMode::SendGrid);
        assert_eq!(
            (c.email.from_name.as_str(), c.email.sender_name.as_str()),
            ("Sam at Carter", "Sam at Carter")
        );
        let c = cfg(SENDGRID_OK);
        assert_eq!(c.email.company_name.as_deref(), Some("Carter Consulting"));
    }

    #[test]
    fn real_outreach_needs_a_postal_address() {
        let pairs: Vec<_> = SENDGRID_OK
            .iter()
            .copied()
            .filter(|(k, _)| *k != "COMPANY_POSTAL_ADDRESS")
            .collect();
        let c = cfg(&pairs);
        assert_eq!(c.email.mode.effective, EmailMode::DryRun);
        assert_eq!(
            c.email.mode.reason.as_deref(),
            Some("COMPANY_POSTAL_ADDRESS is missing")
        );
    }

    #[test]
    fn smtp_without_tls_only_on_loopback() {
        let base = [
            ("EMAIL_MODE", "SMTP"),
            ("SMTP_FROM_EMAIL", "a@hoss.test"),
            ("COMPANY_POSTAL_ADDRESS", "x"),
            ("SMTP_FROM_NAME", "Sam"),
            ("COMPANY_NAME", "Sam Co"),
            ("SMTP_TLS", "NONE"),
        ];
        let mut ok = base.to_vec();
        ok.push(("SMTP_HOST", "127.0.0.1"));
        assert_eq!(cfg(&ok).email.mode.effective, EmailMode::Smtp);
        let mut bad = base.to_vec();
        bad.push(("SMTP_HOST", "smtp.mail.test"));
        assert_eq!(cfg(&bad).email.mode.effective, EmailMode::DryRun);
    }
}
