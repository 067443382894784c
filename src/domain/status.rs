//! The statuses of leads, customers, tasks and invoices (SPEC §5–6; the
//! migrations' CHECKs list the same words). Each is an enum written and read
//! as the lowercase word the database stores and the JSON shows; how the
//! database stores them is in `db/columns.rs`, how the CLI takes them in
//! `cli.rs`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A word that is not one of the statuses of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStatus {
    /// `lead`, `customer`, `task` or `invoice`.
    pub kind: &'static str,
    pub value: String,
    pub valid: &'static [&'static str],
}

impl fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a known {} status (one of: {})",
            self.value,
            self.kind,
            self.valid.join(", ")
        )
    }
}

impl std::error::Error for UnknownStatus {}

/// One enum per kind of status: its variants and their words, in the order
/// the migrations list them (lists of valid values follow that order).
macro_rules! statuses {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The words of [`Self::ALL`], in the same order.
            pub const NAMES: &'static [&'static str] = &[$($word),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownStatus;

            fn from_str(s: &str) -> Result<Self, UnknownStatus> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownStatus {
                        kind: $kind,
                        value: s.to_string(),
                        valid: $name::NAMES,
                    })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?
                    .parse()
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}

statuses! {
    /// Where a lead is in the outreach pipeline (SPEC §5). `invalid` leads
    /// are kept but ignored by dedupe; `replied` is set only by reply
    /// detection (SPEC §13) and never converted by `onboard`.
    LeadStatus, "lead" {
        New = "new",
        Contacted = "contacted",
        Replied = "replied",
        Responded = "responded",
        Qualified = "qualified",
        Converted = "converted",
        EmailFailed = "email_failed",
        Unsubscribed = "unsubscribed",
        Dead = "dead",
        Invalid = "invalid",
    }
}

statuses! {
    /// `active` customers get their pending work run by `ops`; `paused` and
    /// `churned` ones do not (done work is still billed).
    CustomerStatus, "customer" {
        Active = "active",
        Paused = "paused",
        Churned = "churned",
    }
}

statuses! {
    /// A task's progress; only `done` work is billed, once.
    TaskStatus, "task" {
        Pending = "pending",
        Running = "running",
        Done = "done",
        Failed = "failed",
    }
}

statuses! {
    /// An invoice's state: `draft` until its payment link exists, `open`
    /// for payment, then `paid` (final) or `void`.
    InvoiceStatus, "invoice" {
        Draft = "draft",
        Open = "open",
        Paid = "paid",
        Void = "void",
    }
}

impl LeadStatus {
    /// Whether an operator may set it by hand (`converted` belongs to
    /// `onboard`, `replied` to reply detection).
    pub fn settable_by_hand(self) -> bool {
        !matches!(self, LeadStatus::Converted | LeadStatus::Replied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_follow_the_migrations() {
        for s in LeadStatus::ALL {
            assert_eq!(s.as_str().parse::<LeadStatus>(), Ok(*s));
            assert_eq!(s.to_string(), s.as_str());
        }
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>(), Ok(*s));
        }
        for s in InvoiceStatus::ALL {
            assert_eq!(s.as_str().parse::<InvoiceStatus>(), Ok(*s));
        }
        for s in CustomerStatus::ALL {
            assert_eq!(s.as_str().parse::<CustomerStatus>(), Ok(*s));
        }
        assert_eq!(LeadStatus::EmailFailed.as_str(), "email_failed");
        assert_eq!(
            TaskStatus::NAMES,
            ["pending", "running", "done", "failed"].as_slice()
        );
        assert_eq!(
            InvoiceStatus::NAMES,
            ["draft", "open", "paid", "void"].as_slice()
        );
        assert_eq!(
            CustomerStatus::NAMES,
            ["active", "paused", "churned"].as_slice()
        );
        assert_eq!(
            LeadStatus::NAMES,
            [
                "new",
                "contacted",
                "replied",
                "responded",
                "qualified",
                "converted",
                "email_failed",
                "unsubscribed",
                "dead",
                "invalid"
            ]
            .as_slice()
        );
    }

    #[test]
    fn an_unknown_word_names_the_valid_ones() {
        let err = "Paid".parse::<InvoiceStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#""Paid" is not a known invoice status (one of: draft, open, paid, void)"#
        );
        assert!("".parse::<LeadStatus>().is_err());
        assert!("open".parse::<TaskStatus>().is_err());
    }

    #[test]
    fn json_is_the_lowercase_word() {
        assert_eq!(
            serde_json::to_string(&LeadStatus::EmailFailed).unwrap(),
            r#""email_failed""#
        );
        assert_eq!(
            serde_json::from_str::<CustomerStatus>(r#""churned""#).unwrap(),
            CustomerStatus::Churned
        );
        let err = serde_json::from_str::<TaskStatus>(r#""finished""#).unwrap_err();
        assert!(err.to_string().contains("one of: pending"), "{err}");
    }

    #[test]
    fn display_pads_like_a_string() {
        assert_eq!(format!("{:<6}|", TaskStatus::Done), "done  |");
    }

    #[test]
    fn only_converted_is_not_set_by_hand() {
        let settable: Vec<_> = LeadStatus::ALL
            .iter()
            .filter(|s| s.settable_by_hand())
            .collect();
        assert_eq!(settable.len(), LeadStatus::ALL.len() - 2);
        assert!(!LeadStatus::Converted.settable_by_hand());
        assert!(!LeadStatus::Replied.settable_by_hand());
    }
}
