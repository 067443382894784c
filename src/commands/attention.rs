//! `hoss attention list|ack ID`: payments that need the operator (paid
//! twice, amounts that did not match, sessions from outside hoss). They
//! stay in `status` warnings and the digest until acknowledged here.

use std::io::Write;

use clap::Subcommand;
use log::info;
use serde::Serialize;

use crate::app::Ctx;
use crate::db::{invoices, invoices::Attention};
use crate::error::{Error, Result};
use crate::render::list::{List, Row};
use crate::render::{Report, Style, emit, or_dash};

#[derive(Debug, Subcommand)]
pub enum AttentionAction {
    /// What still needs you, newest first
    List,
    /// Mark one as dealt with: it leaves status warnings and the digest
    Ack {
        /// The id `attention list` shows
        id: String,
    },
}

impl AttentionAction {
    pub fn name(&self) -> &'static str {
        match self {
            AttentionAction::List => "attention list",
            AttentionAction::Ack { .. } => "attention ack",
        }
    }

    pub fn read_only(&self) -> bool {
        matches!(self, AttentionAction::List)
    }
}

/// Runs one `hoss attention …` action and writes its report.
pub fn run(ctx: &Ctx, action: AttentionAction, out: &mut dyn Write, style: Style) -> Result<i32> {
    match action {
        AttentionAction::List => emit(out, &list(ctx)?, style),
        AttentionAction::Ack { id } => emit(out, &ack(ctx, &id)?, style),
    }
}

impl Row for Attention {
    const HEADER: &'static [&'static str] = &["id", "at", "invoice", "reason"];
    const EMPTY: &'static str = "nothing needs you\n";
    const FOOTER: &'static str =
        "acknowledge one with `hoss attention ack ID` once it is dealt with\n";

    fn cells(&self) -> Vec<String> {
        vec![
            self.event_id.clone(),
            self.at.to_string(),
            or_dash(self.invoice_id.as_ref()),
            self.reason.clone(),
        ]
    }
}

pub type AttentionList = List<Attention>;

pub fn list(ctx: &Ctx) -> Result<AttentionList> {
    Ok(List(invoices::attention_open(ctx.db())?))
}

#[derive(Debug, Serialize)]
pub struct Acknowledged {
    pub id: String,
    pub acknowledged: bool,
}

impl Report for Acknowledged {
    fn human(&self, _terminal: bool) -> String {
        format!("{} acknowledged\n", self.id)
    }
}

pub fn ack(ctx: &Ctx, id: &str) -> Result<Acknowledged> {
    if !ctx
        .db()
        .immediate(|tx| Ok(invoices::acknowledge(tx, id)?))?
    {
        return Err(Error::Data(format!(
            "nothing needs attention under {id:?} (see `hoss attention list`)"
        )));
    }
    info!("[ATTENTION][ACK] id={id} by=operator");
    Ok(Acknowledged {
        id: id.to_string(),
        acknowledged: true,
    })
}
