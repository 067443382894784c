//! What became of one send, as every mailer reports it and the send ledger
//! records it. The classes are SPEC §4.4's; `services::mailer` explains how
//! each provider's answer maps to them.

use crate::config::EmailMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    Permanent,
    Transient,
    Uncertain,
    Account,
    Unreachable,
}

impl Delivery {
    /// A failure of the sender, not of the lead: the pass stops, the lead
    /// stays queued and its slot is released.
    pub fn is_senders(self) -> bool {
        matches!(self, Delivery::Account | Delivery::Unreachable)
    }
}

/// The one result shape of every mailer: `{success, mode, error}` plus the
/// provider's message id where given, and the failure class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    pub success: bool,
    pub mode: EmailMode,
    pub error: Option<String>,
    pub message_id: Option<String>,
    pub delivery: Delivery,
}

impl SendResult {
    pub fn sent(mode: EmailMode, message_id: Option<String>) -> SendResult {
        SendResult {
            success: true,
            mode,
            error: None,
            message_id,
            delivery: Delivery::Sent,
        }
    }

    pub fn failed(mode: EmailMode, delivery: Delivery, error: String) -> SendResult {
        SendResult {
            success: false,
            mode,
            error: Some(error),
            message_id: None,
            delivery,
        }
    }
}
