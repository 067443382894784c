//! What each subsystem was asked to do, what it does, and why they differ
//! (the JSON shape of SPEC §12), typed by the subsystem's mode.

use serde::Serialize;

use super::email::EmailMode;
use super::inbox::InboxMode;
use super::leads::LeadProvider;
use super::pings::PingMode;
use super::stripe::StripeMode;

/// What the operator asked a subsystem to run: one of its modes, or text
/// that names none (kept as written, for the reason and the JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Requested<M> {
    Mode(M),
    Unknown(String),
}

impl<M: Copy + Into<&'static str>> Requested<M> {
    pub fn as_str(&self) -> &str {
        match self {
            Requested::Mode(m) => (*m).into(),
            Requested::Unknown(text) => text,
        }
    }
}

/// Requested and effective mode of one subsystem. Serialises as
/// `{"requested": "...", "effective": "...", "reason": ...}`, each mode as
/// its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved<M> {
    pub requested: Requested<M>,
    pub effective: M,
    pub reason: Option<String>,
}

impl<M: Copy + PartialEq + Into<&'static str>> Resolved<M> {
    /// Resolves `requested` against the reasons it cannot run: as asked when
    /// there are none, else `fallback` with the reasons.
    pub(super) fn new(requested: Requested<M>, fallback: M, problems: &Problems) -> Resolved<M> {
        let reason = problems.reason();
        let effective = match requested {
            Requested::Mode(m) if reason.is_none() => m,
            _ => fallback,
        };
        Resolved {
            requested,
            effective,
            reason,
        }
    }

    /// A requested mode that could not be honoured.
    pub fn fell_back(&self) -> bool {
        self.reason.is_some() && self.requested != Requested::Mode(self.effective)
    }

    /// The modes as text, for a list of every subsystem.
    pub fn view(&self, name: &'static str) -> ModeView<'_> {
        ModeView {
            name,
            requested: self.requested.as_str(),
            effective: self.effective.into(),
            reason: self.reason.as_deref(),
            fell_back: self.fell_back(),
        }
    }
}

/// One subsystem's modes as text, whatever its mode type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeView<'a> {
    pub name: &'static str,
    pub requested: &'a str,
    pub effective: &'static str,
    pub reason: Option<&'a str>,
    pub fell_back: bool,
}

/// The five subsystems' modes, as `check` and `status` show them.
#[derive(Debug, Clone, Serialize)]
pub struct Subsystems {
    pub email: Resolved<EmailMode>,
    pub leads: Resolved<LeadProvider>,
    pub stripe: Resolved<StripeMode>,
    pub pings: Resolved<PingMode>,
    pub inbox: Resolved<InboxMode>,
}

impl Subsystems {
    pub fn views(&self) -> [ModeView<'_>; 5] {
        [
            self.email.view("email"),
            self.leads.view("leads"),
            self.stripe.view("stripe"),
            self.pings.view("pings"),
            self.inbox.view("inbox"),
        ]
    }
}

/// Collects the reasons a subsystem cannot run as requested.
#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<String>);

impl Problems {
    pub(super) fn take<T>(&mut self, r: std::result::Result<T, String>, fallback: T) -> T {
        r.unwrap_or_else(|e| {
            self.0.push(e);
            fallback
        })
    }

    pub(super) fn require<T>(&mut self, v: Option<T>, key: &str) -> Option<T> {
        if v.is_none() {
            self.0.push(format!("{key} is missing"));
        }
        v
    }

    pub(super) fn reason(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_each_mode_as_its_name() {
        let r = Resolved {
            requested: Requested::Unknown("SENDGRIDD".into()),
            effective: EmailMode::DryRun,
            reason: Some("EMAIL_MODE \"SENDGRIDD\" is not one of DRY_RUN, SENDGRID, SMTP".into()),
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({
                "requested": "SENDGRIDD",
                "effective": "DRY_RUN",
                "reason": "EMAIL_MODE \"SENDGRIDD\" is not one of DRY_RUN, SENDGRID, SMTP",
            })
        );
        assert!(r.fell_back());
        let on = Resolved {
            requested: Requested::Mode(PingMode::On),
            effective: PingMode::On,
            reason: None,
        };
        assert_eq!(
            serde_json::to_value(&on).unwrap(),
            serde_json::json!({"requested": "ON", "effective": "ON", "reason": null})
        );
        assert!(!on.fell_back());
    }

    #[test]
    fn asking_for_the_fallback_is_not_falling_back() {
        let mut p = Problems::default();
        p.0.push("COMPANY_NAME is missing".into());
        let r = Resolved::new(Requested::Mode(EmailMode::DryRun), EmailMode::DryRun, &p);
        assert_eq!(r.reason.as_deref(), Some("COMPANY_NAME is missing"));
        assert!(!r.fell_back());
        let r = Resolved::new(Requested::Mode(EmailMode::Smtp), EmailMode::DryRun, &p);
        assert!(r.fell_back());
        let v = r.view("email");
        assert_eq!(
            (v.name, v.requested, v.effective, v.fell_back),
            ("email", "SMTP", "DRY_RUN", true)
        );
    }
}
