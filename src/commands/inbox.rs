//! `hoss inbox list`: what came back, newest first — replies, auto-replies,
//! bounces, opt-outs, complaints and unmatched mail, each with what hoss did.

use std::io::Write;

use clap::{Subcommand, ValueEnum};

use crate::app::Ctx;
use crate::cli::PageArgs;
use crate::db::inbox::{self, Received};
use crate::error::Result;
use crate::render::list::{List, Row};
use crate::render::{Style, emit, or_dash};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum InboxKind {
    Reply,
    AutoReply,
    Bounce,
    OptOut,
    Complaint,
    Unmatched,
}

impl InboxKind {
    fn as_str(self) -> &'static str {
        match self {
            InboxKind::Reply => "reply",
            InboxKind::AutoReply => "auto_reply",
            InboxKind::Bounce => "bounce",
            InboxKind::OptOut => "opt_out",
            InboxKind::Complaint => "complaint",
            InboxKind::Unmatched => "unmatched",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum InboxAction {
    /// What came back, newest first, with the action hoss took
    List {
        #[arg(long, value_enum)]
        kind: Option<InboxKind>,
        #[command(flatten)]
        page: PageArgs,
    },
}

impl InboxAction {
    pub fn name(&self) -> &'static str {
        "inbox list"
    }

    pub fn read_only(&self) -> bool {
        true
    }
}

pub fn run(ctx: &Ctx, action: InboxAction, out: &mut dyn Write, style: Style) -> Result<i32> {
    match action {
        InboxAction::List { kind, page } => {
            let listed = inbox::list(ctx.db(), kind.map(InboxKind::as_str), page.into())?;
            emit(out, &List::page(listed, page.into()), style)
        }
    }
}

impl Row for Received {
    const HEADER: &'static [&'static str] = &["at", "kind", "lead", "from", "subject", "action"];
    const EMPTY: &'static str = "nothing came back yet\n";

    /// Whatever a sender wrote is shown escaped: a Subject can carry any
    /// character (RFC 2047), terminal escape codes and line breaks included.
    fn cells(&self) -> Vec<String> {
        use crate::log::one_line;
        vec![
            self.at.to_string(),
            self.kind.clone(),
            or_dash(self.lead_id.as_ref()),
            one_line(&or_dash(self.from.as_ref())),
            one_line(&self.subject.chars().take(60).collect::<String>()),
            one_line(&self.action),
        ]
    }
}
