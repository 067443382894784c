//! Sequences and sending discipline (SPEC §14): the steps of a sequence
//! (`[[sequence.steps]]` in the config file), the send window and its time
//! zone, blackout dates, the daily cap and its warm-up, and the per-domain
//! caps. Anything unreadable is a problem of the email subsystem: it falls
//! back to DRY_RUN with the reason, never to a default that could send at
//! night or send more.

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::keys::Raw;
use super::resolved::Problems;
use crate::domain::schedule::{self, SendWindow, Warmup};

/// One step of the sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// After the previous step (the first: after the lead is taken up).
    pub delay_days: u32,
    /// Count every day, not only Monday to Friday.
    pub calendar_days: bool,
    /// A subject template; `None`: `Re: ` + the first step's subject (the
    /// first step: the pack's own subjects).
    pub subject: Option<String>,
    /// The template pack; `None`: `BIZDEV_NICHE_TEMPLATE` for the first
    /// step, the built-in `followup` pack after it.
    pub template: Option<String>,
    /// More packs to choose from, per lead, deterministically.
    pub variants: Vec<String>,
}

impl Step {
    /// The pack names this step may use, the template first.
    pub fn packs(&self, first_step_pack: &str) -> Vec<String> {
        let main = self
            .template
            .clone()
            .unwrap_or_else(|| first_step_pack.to_string());
        std::iter::once(main)
            .chain(self.variants.iter().cloned())
            .collect()
    }
}

/// The default sequence: three steps, 0, 3 and 5 business days apart.
pub fn default_steps() -> Vec<Step> {
    [0, 3, 5]
        .into_iter()
        .enumerate()
        .map(|(i, delay_days)| Step {
            delay_days,
            calendar_days: false,
            subject: None,
            template: (i > 0).then(|| "followup".to_string()),
            variants: Vec::new(),
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct SendingConfig {
    pub steps: Vec<Step>,
    pub window: SendWindow,
    /// `SEND_TIMEZONE`: the window's zone for leads without their own.
    pub timezone: Tz,
    pub blackout: Vec<NaiveDate>,
    /// `MAX_EMAILS_PER_DAY`: real sends over any rolling 24 h.
    pub max_per_day: u32,
    /// `None` with `WARMUP=OFF`; the start date `None` means "the day of the
    /// first real send".
    pub warmup: Option<Warmup>,
    pub max_new_per_domain_per_day: u32,
    pub max_active_per_domain: u32,
    /// Every pack a step may use, by name, loaded and checked.
    pub packs: std::collections::BTreeMap<String, crate::domain::templates::Pack>,
}

impl Default for SendingConfig {
    fn default() -> Self {
        SendingConfig {
            steps: default_steps(),
            window: SendWindow::default(),
            timezone: chrono_tz::UTC,
            blackout: Vec::new(),
            max_per_day: 50,
            warmup: Some(Warmup {
                start_date: None,
                start: 10,
                step: 2,
            }),
            max_new_per_domain_per_day: 1,
            max_active_per_domain: 3,
            packs: Default::default(),
        }
    }
}

const MAX_STEPS: usize = 20;

/// Reads `[[sequence.steps]]` (from the config file) and the settings.
pub(super) fn resolve_sending(
    raw: &Raw,
    steps: Option<&toml::Value>,
    p: &mut Problems,
) -> SendingConfig {
    let d = SendingConfig::default();
    let steps = match steps.map(parse_steps) {
        None => d.steps,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            p.0.push(e);
            d.steps
        }
    };
    let window = match raw.get("SEND_WINDOW") {
        None => d.window,
        Some(text) => p.take(text.parse(), d.window),
    };
    let timezone = match raw.get("SEND_TIMEZONE") {
        None => d.timezone,
        Some(name) => p.take(
            schedule::parse_tz(name).map_err(|e| format!("SEND_TIMEZONE {e}")),
            d.timezone,
        ),
    };
    let blackout = p.take(
        schedule::parse_blackout(raw.get("SEND_BLACKOUT_DATES").unwrap_or("")),
        Vec::new(),
    );
    // Unreadable caps are 0 (nothing is sent), never the default.
    let max_per_day = p.take(
        raw.uint("MAX_EMAILS_PER_DAY", d.max_per_day, 0, 1_000_000),
        0,
    );
    let warmup_on = match raw.get("WARMUP") {
        None => true,
        Some(v) => match super::keys::parse_switch(v) {
            Some(on) => on,
            None => {
                p.0.push("WARMUP is not ON or OFF".into());
                true
            }
        },
    };
    let start_date = match raw.get("WARMUP_START_DATE") {
        None => None,
        Some(text) => p.take(
            NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                .map(Some)
                .map_err(|_| format!("WARMUP_START_DATE {text:?} is not a date like 2026-12-01")),
            None,
        ),
    };
    let warmup = warmup_on.then(|| Warmup {
        start_date,
        start: p.take(raw.uint("WARMUP_START", 10, 0, 1_000_000), 0),
        step: p.take(raw.uint("WARMUP_STEP", 2, 0, 1_000_000), 0),
    });
    if let Some(w) = &warmup
        && w.start == 0
        && w.start_date.is_none()
        && matches!(raw.uint("WARMUP_START", 10, 0, 1_000_000), Ok(0))
    {
        // Day 0 is the day of the first real send, which a cap of 0 never
        // lets happen: the ramp would wait for ever.
        p.0.push(
            "WARMUP_START=0 never sends without WARMUP_START_DATE (day 0 is the day of the first real send)"
                .into(),
        );
    }
    SendingConfig {
        steps,
        window,
        timezone,
        blackout,
        max_per_day,
        warmup,
        max_new_per_domain_per_day: p.take(
            raw.uint(
                "MAX_NEW_CONTACTS_PER_DOMAIN_PER_DAY",
                d.max_new_per_domain_per_day,
                0,
                100_000,
            ),
            0,
        ),
        max_active_per_domain: p.take(
            raw.uint("MAX_ACTIVE_PER_DOMAIN", d.max_active_per_domain, 0, 100_000),
            0,
        ),
        packs: Default::default(),
    }
}

fn parse_steps(value: &toml::Value) -> Result<Vec<Step>, String> {
    let items = value
        .as_array()
        .ok_or("sequence.steps must be an array of tables ([[sequence.steps]])")?;
    if items.is_empty() || items.len() > MAX_STEPS {
        return Err(format!("sequence.steps must have 1 to {MAX_STEPS} steps"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let n = i + 1;
            let table = item
                .as_table()
                .ok_or(format!("sequence step {n} is not a table"))?;
            for key in table.keys() {
                if ![
                    "delay_days",
                    "calendar_days",
                    "subject",
                    "template",
                    "variants",
                ]
                .contains(&key.as_str())
                {
                    return Err(format!("sequence step {n}: unknown key {key:?}"));
                }
            }
            let delay_days = match table.get("delay_days") {
                None => 0,
                Some(toml::Value::Integer(d)) if (0..=365).contains(d) => *d as u32,
                Some(_) => {
                    return Err(format!(
                        "sequence step {n}: delay_days must be a whole number from 0 to 365"
                    ));
                }
            };
            let calendar_days = match table.get("calendar_days") {
                None => false,
                Some(toml::Value::Boolean(b)) => *b,
                Some(_) => {
                    return Err(format!(
                        "sequence step {n}: calendar_days must be true or false"
                    ));
                }
            };
            let text = |key: &str| -> Result<Option<String>, String> {
                match table.get(key) {
                    None => Ok(None),
                    Some(toml::Value::String(s)) if s.trim().is_empty() => Ok(None),
                    Some(toml::Value::String(s)) => Ok(Some(s.trim().to_string())),
                    Some(_) => Err(format!("sequence step {n}: {key} must be text")),
                }
            };
            let variants = match table.get("variants") {
                None => Vec::new(),
                Some(toml::Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or(format!(
                        "sequence step {n}: variants must be a list of template pack names"
                    ))?,
                Some(_) => return Err(format!("sequence step {n}: variants must be a list")),
            };
            let subject = text("subject")?;
            if subject.is_some() && i == 0 {
                // Never silently ignored: the first email's subjects are its
                // pack's (a follow-up's default is `Re: ` + that subject).
                return Err(format!(
                    "sequence step {n}: subject is for follow-ups; the first email's subjects come from its template pack"
                ));
            }
            if let Some(source) = &subject {
                // Found by `check`, not by a pass that would fail every lead.
                crate::domain::templates::check_subject(source)
                    .map_err(|e| format!("sequence step {n}: {e}"))?;
            }
            Ok(Step {
                delay_days,
                calendar_days,
                subject,
                // As documented on `Step::template` and as the default
                // sequence does: a follow-up without a pack of its own uses
                // the follow-up words, never the first email's again.
                template: text("template")?.or_else(|| (i > 0).then(|| "followup".to_string())),
                variants,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmailMode;
    use crate::config::testing::cfg;

    fn steps(text: &str) -> Result<Vec<Step>, String> {
        let table: toml::Table = text.parse().unwrap();
        parse_steps(&table["sequence"]["steps"])
    }

    #[test]
    fn defaults_are_three_steps_a_weekday_window_and_a_ramp() {
        let s = cfg(&[]).email.sending;
        assert_eq!(
            s.steps.iter().map(|s| s.delay_days).collect::<Vec<_>>(),
            [0, 3, 5]
        );
        assert_eq!(s.window, "Mon-Fri 08:00-17:00".parse().unwrap());
        assert_eq!(
            (
                s.max_per_day,
                s.max_new_per_domain_per_day,
                s.max_active_per_domain
            ),
            (50, 1, 3)
        );
        assert_eq!(s.warmup.map(|w| (w.start, w.step)), Some((10, 2)));
    }

    #[test]
    fn steps_from_the_file_and_their_mistakes() {
        let s = steps(
            "[[sequence.steps]]\ntemplate = \"saas\"\n[[sequence.steps]]\ndelay_days = 2\ncalendar_days = true\nsubject = \"One more thing\"\nvariants = [\"followup\", \"short\"]\n",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].packs("general"), ["followup", "followup", "short"]);
        assert_eq!(s[0].packs("general"), ["saas"]);
        assert!(s[1].calendar_days);
        for (bad, says) in [
            ("[[sequence.steps]]\ndelay_days = -1\n", "delay_days"),
            ("[[sequence.steps]]\ndelay = 2\n", "unknown key"),
            ("[[sequence.steps]]\nvariants = \"a\"\n", "variants"),
            ("[sequence]\nsteps = []\n", "1 to 20"),
            (
                "[[sequence.steps]]\nsubject = \"Hi\"\n",
                "subject is for follow-ups",
            ),
            (
                "[[sequence.steps]]\n[[sequence.steps]]\nsubject = \"Hi {{ firstname }}\"\n",
                "sequence step 2: subject uses {{ firstname }}",
            ),
            (
                "[[sequence.steps]]\n[[sequence.steps]]\nsubject = \"Hi {{ first_name \"\n",
                "sequence step 2: subject: syntax error",
            ),
        ] {
            assert!(steps(bad).unwrap_err().contains(says), "{bad}");
        }
    }

    #[test]
    fn a_bad_window_zone_or_cap_stops_real_email_with_the_reason() {
        for (key, value) in [
            ("SEND_WINDOW", "weekdays"),
            ("SEND_TIMEZONE", "Mars/Base"),
            ("SEND_BLACKOUT_DATES", "xmas"),
            ("MAX_EMAILS_PER_DAY", "lots"),
            ("WARMUP", "maybe"),
            ("WARMUP_START_DATE", "monday"),
        ] {
            let mut pairs = crate::config::testing::SENDGRID_OK.to_vec();
            pairs.push((key, value));
            let email = cfg(&pairs).email;
            assert_eq!(email.mode.effective, EmailMode::DryRun, "{key}");
            assert!(email.mode.reason.unwrap().contains(key), "{key}");
        }
        let lifted = cfg(&[
            ("SEND_WINDOW", "always"),
            ("WARMUP", "OFF"),
            ("SEND_TIMEZONE", "Europe/Berlin"),
        ])
        .email
        .sending;
        assert_eq!(lifted.window, SendWindow::Always);
        assert_eq!(lifted.warmup, None);
        assert_eq!(lifted.timezone, chrono_tz::Europe::Berlin);
    }
}
