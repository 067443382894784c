//! `hoss why LEAD`: why the next `send-outreach` pass would or would not
//! email a lead now — its status, sequence step, next due time, and every
//! rule of SPEC §14 that holds it back, each with when it lifts. From the
//! database and the configuration alone (`commands::discipline`): no
//! network, nothing written.

use serde::Serialize;

use crate::app::Ctx;
use crate::clock::Timestamp;
use crate::commands::discipline::{Block, PassState, evaluate};
use crate::commands::records::find_lead;
use crate::domain::status::LeadStatus;
use crate::error::Result;
use crate::render::{Report, table};

#[derive(Debug, Serialize)]
pub struct WhyReport {
    pub lead_id: i64,
    pub email: String,
    pub status: LeadStatus,
    /// The step it would be sent next (1 before its first email); for a
    /// sequence that is over, the last step sent.
    pub step: i64,
    /// `active|finished|stopped`, or null before the first email.
    pub sequence: Option<String>,
    pub next_due_at: Option<Timestamp>,
    pub sendable_now: bool,
    pub blocked_by: Vec<Block>,
    /// The time looked at.
    pub at: Timestamp,
}

impl Report for WhyReport {
    fn human(&self, terminal: bool) -> String {
        let mut s = format!(
            "lead {} <{}>: status {}, step {}{}{}\n",
            self.lead_id,
            self.email,
            self.status,
            self.step,
            self.sequence
                .as_ref()
                .map(|q| format!(", sequence {q}"))
                .unwrap_or_default(),
            self.next_due_at
                .map(|t| format!(", next due {t}"))
                .unwrap_or_default(),
        );
        if self.sendable_now {
            s.push_str(&format!(
                "sendable now ({}): no rule holds it back; the next pass emails it when its turn comes within MAX_EMAILS_PER_CYCLE\n",
                self.at
            ));
            return s;
        }
        s.push_str(&format!("not sendable now ({}):\n", self.at));
        let rows = self
            .blocked_by
            .iter()
            .map(|b| {
                vec![
                    b.rule.to_string(),
                    b.detail.clone(),
                    b.until.map_or("-".into(), |t| t.to_string()),
                ]
            })
            .collect();
        s.push_str(&table(&["rule", "detail", "until"], rows, terminal));
        s
    }
}

pub fn run(ctx: &Ctx, key: &str) -> Result<WhyReport> {
    let lead = find_lead(ctx, key)?;
    let at = ctx.now();
    let pass = PassState::read(ctx, at)?;
    let verdict = evaluate(ctx, &pass, &lead)?;
    Ok(WhyReport {
        lead_id: lead.id,
        email: lead.email.clone(),
        status: lead.status,
        step: verdict.step,
        sequence: verdict.sequence.as_ref().map(|s| s.state.clone()),
        next_due_at: verdict.next_due_at().map(Timestamp),
        sendable_now: verdict.blocks.is_empty(),
        blocked_by: verdict.blocks,
        at: Timestamp(at),
    })
}
