//! What comes back (SPEC §13): the inbox hoss reads (`INBOX_MODE=IMAP`),
//! how replies are attributed and held, and SendGrid's Event Webhook key.

use serde::Serialize;

use super::keys::{Raw, Secret};
use super::notices::Notice;
use super::resolved::{Problems, Requested, Resolved};
use super::urls::is_loopback_host;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum InboxMode {
    Off,
    Imap,
}

impl InboxMode {
    pub fn as_str(self) -> &'static str {
        match self {
            InboxMode::Off => "OFF",
            InboxMode::Imap => "IMAP",
        }
    }
}

impl From<InboxMode> for &'static str {
    fn from(m: InboxMode) -> Self {
        m.as_str()
    }
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapTls {
    /// TLS from the first byte (port 993).
    Implicit,
    StartTls,
    /// Plain text: loopback hosts only (the configuration enforces it).
    None,
}

/// How hoss proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapAuth {
    Login,
    /// SASL XOAUTH2 (Gmail, Microsoft 365) with an access token.
    XOAuth2,
}

/// The IMAP password, or the command whose stdout is the password or an
/// OAuth2 access token (run at each pass: tokens expire).
#[derive(Debug, Clone)]
pub enum ImapSecret {
    Password(Secret),
    Command(String),
}

#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: ImapTls,
    pub auth: ImapAuth,
    pub username: String,
    pub secret: ImapSecret,
    pub folder: String,
    /// Deadline of each IMAP step (a body fetch: per message), however
    /// slowly the server dribbles its answer.
    pub timeout_secs: u32,
}

#[derive(Debug, Clone)]
pub struct InboxConfig {
    pub mode: Resolved<InboxMode>,
    /// Set exactly when the effective mode is IMAP.
    pub imap: Option<ImapConfig>,
    /// How far back the first sync (and a sync after a new UIDVALIDITY) reads.
    pub lookback_days: u32,
    /// `REPLY_TO_PLUS_TOKEN`: outreach Reply-To is `local+h<token>@domain`.
    pub reply_plus_token: bool,
    /// A company domain that replied holds its other leads this long.
    pub domain_hold_days: u32,
    /// `SENDGRID_WEBHOOK_PUBLIC_KEY`, checked; `None` when unset.
    pub sendgrid_webhook_key: Option<Result<p256::ecdsa::VerifyingKey, String>>,
    pub sendgrid_webhook_tolerance_secs: u32,
}

pub(super) fn resolve_inbox(raw: &Raw, dry_run: bool, notices: &mut Vec<Notice>) -> InboxConfig {
    let mut p = Problems::default();
    let text = raw.string("INBOX_MODE", "OFF");
    let requested = match text.to_ascii_uppercase().as_str() {
        "OFF" => Requested::Mode(InboxMode::Off),
        "IMAP" => Requested::Mode(InboxMode::Imap),
        _ => {
            p.0.push(format!("INBOX_MODE {text:?} is not one of OFF, IMAP"));
            Requested::Unknown(text)
        }
    };
    let imap = (requested == Requested::Mode(InboxMode::Imap))
        .then(|| imap_settings(raw, &mut p))
        .flatten();
    if dry_run && requested != Requested::Mode(InboxMode::Off) {
        p.0.insert(0, "DRY_RUN=TRUE".into());
    }
    let mode = Resolved::new(requested, InboxMode::Off, &p);
    let mut general = Problems::default();
    let lookback_days = general.take(raw.uint("INBOX_LOOKBACK_DAYS", 14, 1, 365), 14);
    let domain_hold_days = general.take(raw.uint("DOMAIN_HOLD_DAYS", 90, 0, 3650), 90);
    let sendgrid_webhook_tolerance_secs = general.take(
        raw.uint("SENDGRID_WEBHOOK_TOLERANCE_SECS", 300, 1, 86_400),
        300,
    );
    for problem in general.0 {
        notices.push(Notice::warn(format!(
            "[CONFIG][INVALID] {problem}; using the default"
        )));
    }
    InboxConfig {
        imap: imap.filter(|_| mode.effective == InboxMode::Imap),
        mode,
        lookback_days,
        // An unreadable value is the safe side: no plus token.
        reply_plus_token: raw.bool("REPLY_TO_PLUS_TOKEN", false, false, notices),
        domain_hold_days,
        sendgrid_webhook_key: raw
            .get("SENDGRID_WEBHOOK_PUBLIC_KEY")
            .map(crate::domain::sendgrid_events::public_key),
        sendgrid_webhook_tolerance_secs,
    }
}

fn imap_settings(raw: &Raw, p: &mut Problems) -> Option<ImapConfig> {
    let host = p.require(raw.get("IMAP_HOST"), "IMAP_HOST");
    let username = p.require(raw.get("IMAP_USERNAME"), "IMAP_USERNAME");
    let tls = match raw.string("IMAP_TLS", "TLS").to_ascii_uppercase().as_str() {
        "TLS" => ImapTls::Implicit,
        "STARTTLS" => ImapTls::StartTls,
        "NONE" => ImapTls::None,
        _ => {
            p.0.push("IMAP_TLS is not one of TLS, STARTTLS, NONE".into());
            ImapTls::Implicit
        }
    };
    if tls == ImapTls::None && host.is_some_and(|h| !is_loopback_host(h)) {
        p.0.push("IMAP_TLS=NONE is allowed for a loopback IMAP_HOST only".into());
    }
    let default_port = if tls == ImapTls::Implicit { 993 } else { 143 };
    let port = p.take(raw.uint("IMAP_PORT", default_port, 1, 65_535), 0) as u16;
    let auth = match raw
        .string("IMAP_AUTH", "LOGIN")
        .to_ascii_uppercase()
        .as_str()
    {
        "LOGIN" => ImapAuth::Login,
        "XOAUTH2" => ImapAuth::XOAuth2,
        _ => {
            p.0.push("IMAP_AUTH is not one of LOGIN, XOAUTH2".into());
            ImapAuth::Login
        }
    };
    let secret = match (raw.secret("IMAP_PASSWORD"), raw.get("IMAP_PASSWORD_CMD")) {
        (Some(_), Some(_)) => {
            p.0.push("set IMAP_PASSWORD or IMAP_PASSWORD_CMD, not both".into());
            None
        }
        (Some(s), None) => Some(ImapSecret::Password(s)),
        (None, Some(cmd)) => Some(ImapSecret::Command(cmd.to_string())),
        (None, None) => {
            p.0.push("IMAP_PASSWORD (or IMAP_PASSWORD_CMD) is missing".into());
            None
        }
    };
    let folder = raw.string("IMAP_FOLDER", "INBOX");
    let timeout_secs = p.take(raw.uint("IMAP_TIMEOUT_SECS", 30, 1, 600), 30);
    Some(ImapConfig {
        host: host?.to_string(),
        port,
        tls,
        auth,
        username: username?.to_string(),
        secret: secret?,
        folder,
        timeout_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::cfg;

    const IMAP: &[(&str, &str)] = &[
        ("INBOX_MODE", "imap"),
        ("IMAP_HOST", "imap.mail.test"),
        ("IMAP_USERNAME", "me@sender.test"),
        ("IMAP_PASSWORD", "app-password-1"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> InboxConfig {
        let mut all = IMAP.to_vec();
        all.extend_from_slice(extra);
        cfg(&all).inbox
    }

    #[test]
    fn off_by_default_and_imap_when_complete() {
        let off = cfg(&[]).inbox;
        assert_eq!(off.mode.effective, InboxMode::Off);
        assert!(off.imap.is_none() && !off.mode.fell_back());
        assert_eq!((off.lookback_days, off.domain_hold_days), (14, 90));
        let on = with(&[]);
        assert_eq!(on.mode.effective, InboxMode::Imap, "{:?}", on.mode.reason);
        let imap = on.imap.unwrap();
        assert_eq!(
            (imap.port, imap.tls, imap.folder.as_str()),
            (993, ImapTls::Implicit, "INBOX")
        );
        assert!(format!("{:?}", imap.secret).contains("Secret(set)"));
        assert!(!format!("{:?}", imap.secret).contains("app-password-1"));
    }

    #[test]
    fn anything_missing_or_unsafe_falls_back_to_off_with_the_reason() {
        let missing = cfg(&[("INBOX_MODE", "IMAP")]).inbox;
        assert_eq!(missing.mode.effective, InboxMode::Off);
        let reason = missing.mode.reason.unwrap();
        assert!(reason.contains("IMAP_HOST is missing") && reason.contains("IMAP_PASSWORD"));
        let plain = with(&[("IMAP_TLS", "NONE")]);
        assert!(plain.mode.reason.unwrap().contains("loopback"));
        assert!(plain.imap.is_none());
        let both = with(&[("IMAP_PASSWORD_CMD", "pass show imap")]);
        assert!(both.mode.reason.unwrap().contains("not both"));
        let typo = cfg(&[("INBOX_MODE", "POP3")]).inbox;
        assert!(typo.mode.fell_back());
        let dry = with(&[("DRY_RUN", "TRUE")]);
        assert_eq!(dry.mode.effective, InboxMode::Off);
        assert!(dry.mode.reason.unwrap().starts_with("DRY_RUN=TRUE"));
        let local = with(&[
            ("IMAP_HOST", "127.0.0.1"),
            ("IMAP_TLS", "none"),
            ("IMAP_PORT", "1143"),
        ]);
        assert_eq!(
            local.imap.map(|i| (i.port, i.tls)),
            Some((1143, ImapTls::None))
        );
    }

    #[test]
    fn a_bad_webhook_key_is_kept_as_its_reason() {
        let c = cfg(&[("SENDGRID_WEBHOOK_PUBLIC_KEY", "not-a-key")]).inbox;
        assert!(
            c.sendgrid_webhook_key
                .unwrap()
                .unwrap_err()
                .contains("SENDGRID_WEBHOOK_PUBLIC_KEY")
        );
    }
}
