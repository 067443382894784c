//! The command tree (clap derive), nothing else. A command with
//! subcommands has its action enum beside the code that runs it
//! (`commands::lead::LeadAction` and `commands::lead::run`), re-exported here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::domain::status::{CustomerStatus, InvoiceStatus, LeadStatus, TaskStatus};

pub use crate::commands::attention::AttentionAction;
pub use crate::commands::customer::CustomerAction;
pub use crate::commands::email::EmailAction;
pub use crate::commands::inbox::InboxAction;
pub use crate::commands::invoice::InvoiceAction;
pub use crate::commands::lead::LeadAction;
pub use crate::commands::summary::Period;
pub use crate::commands::suppress::SuppressAction;
pub use crate::commands::task::TaskAction;

#[derive(Debug, Parser)]
#[command(
    name = "hoss",
    version,
    about = "Outbound sales and billing, one cron pass at a time",
    after_help = "Exit codes: 0 ok, 2 usage, 65 bad input, 70 internal, 75 try again, 78 configuration."
)]
pub struct Cli {
    /// Print one JSON document on stdout
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether the answer is one JSON document: `--json` anywhere on the
    /// line, and always for `webhook`, whose relay reads its one JSON line.
    pub fn json(&self) -> bool {
        self.json || matches!(self.command, Command::Webhook { .. })
    }
}

/// Which part of a list to show; the same on every list.
#[derive(Debug, Args, Clone, Copy)]
pub struct PageArgs {
    /// At most this many rows (1 or more)
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Skip this many rows first
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
    /// Newest first
    #[arg(long)]
    pub newest: bool,
}

/// A status argument takes exactly the words of its kind (clap lists them
/// in the help and in the error for any other word).
macro_rules! status_values {
    ($($status:ty),+) => {$(
        impl clap::ValueEnum for $status {
            fn value_variants<'a>() -> &'a [Self] {
                <$status>::ALL
            }

            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(self.as_str()))
            }
        }
    )+};
}

status_values!(LeadStatus, CustomerStatus, TaskStatus, InvoiceStatus);

impl From<PageArgs> for crate::db::Page {
    fn from(a: PageArgs) -> Self {
        crate::db::Page {
            limit: a.limit,
            offset: a.offset,
            newest: a.newest,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show requested and effective mode of every subsystem (exit 78 in release mode when one fell back)
    Check {
        /// Check instead whether mail from the From domain will be believed: SPF, DMARC and
        /// DKIM in DNS, the unsubscribe endpoint, the 7-day health (exit 78 in release mode when one fails)
        #[arg(long)]
        deliverability: bool,
    },
    /// Show what hoss is doing: modes, limits, leads, the last run of each command
    Status,
    /// The digest of the last day (or week): leads, emails, invoices, payments, what needs you
    Summary {
        #[arg(long, value_enum, default_value_t = Period::Day)]
        period: Period,
        /// Also send it to OPERATOR_EMAIL (subject "[SUMMARY] …") through the effective mailer
        #[arg(long)]
        email: bool,
    },
    /// The whole autopilot: source-leads, sync-inbox, send-outreach, onboard, ops, bill, portal-export
    Cycle,
    /// One pass of lead sourcing (DUMMY_SEED or SEARCH_API), deduped by the database
    SourceLeads,
    /// Add, import, list, show or re-status leads
    Lead {
        #[command(subcommand)]
        action: LeadAction,
    },
    /// Read what came back (IMAP replies and bounces, SendGrid suppressions), read-only, and apply it once
    SyncInbox,
    /// What came back: replies, auto-replies, bounces, opt-outs, complaints
    Inbox {
        #[command(subcommand)]
        action: InboxAction,
    },
    /// Pause or resume all real outreach
    Email {
        #[command(subcommand)]
        action: EmailAction,
    },
    /// One pass of outreach email within the per-cycle and per-hour limits
    SendOutreach,
    /// Send one test message through the effective mailer (DRY_RUN logs it)
    SendTestEmail {
        #[arg(long)]
        to: String,
    },
    /// Manage the never-send list (unsubscribes, bounces, complaints)
    Suppress {
        #[command(subcommand)]
        action: SuppressAction,
    },
    /// Turn leads that replied (responded, qualified) into customers with onboarding tasks
    Onboard,
    /// Run pending tasks through OPS_EXECUTOR_CMD
    Ops,
    /// Invoice done work, create payment links, reconcile payments
    Bill,
    /// Apply one Stripe webhook: body on stdin, prints one JSON line (exit 0, 65 rejected, 75 retry)
    Webhook {
        /// The Stripe-Signature header value (missing → rejected, one JSON line)
        #[arg(long, default_value = "")]
        signature: String,
    },
    /// Write the static customer portal: one page per customer token (atomic swap)
    PortalExport {
        /// Output directory (default PORTAL_DIR)
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Payments that need you (paid twice, mismatches): list, or acknowledge one
    Attention {
        #[command(subcommand)]
        action: AttentionAction,
    },
    /// Copy the database to a new file, safely while hoss runs
    Backup { file: PathBuf },
    /// Print the whole message a lead would get (headers and body), with no network
    Preview {
        /// Lead id or e-mail address
        lead: String,
        /// The sequence step to show
        #[arg(long, default_value_t = 1)]
        step: u32,
    },
    /// Why the next send-outreach pass would or would not email a lead now, rule by rule (no network)
    Why {
        /// Lead id or e-mail address
        lead: String,
    },
    /// What the next send-outreach pass would send at a time, and what waits on which rule (no network)
    Plan {
        /// The time of the pass (RFC 3339, e.g. 2026-11-25T14:00:00Z); default now
        #[arg(long)]
        at: Option<String>,
    },
    /// Serve portal pages, the Stripe webhook, unsubscribe links and /healthz on HOSS_LISTEN
    Serve,
    /// List, show or add customers; rotate a portal token
    Customer {
        #[command(subcommand)]
        action: CustomerAction,
    },
    /// Import the Python HossAgent database (leads, customers, tasks, invoices), read-only
    ImportLegacy {
        /// The old SQLite file (hossagent.db)
        path: PathBuf,
        /// Report what would be imported without writing anything
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy every row of one store into another (sqlite:PATH or postgres://…), keeping ids; safe to re-run
    MigrateStore {
        /// The store to copy from: sqlite:PATH (must exist) or postgres://USER:PASSWORD@HOST:PORT/DATABASE
        #[arg(long)]
        from: String,
        /// The store to copy into (made or migrated as needed): sqlite:PATH or postgres://…
        #[arg(long)]
        to: String,
    },
    /// Add, finish, fail or list tasks
    Task {
        #[command(subcommand)]
        action: TaskAction,
    },
    /// List, show, void or mark invoices paid; email one, or approve one above STRIPE_MAX_AMOUNT
    Invoice {
        #[command(subcommand)]
        action: InvoiceAction,
    },
}

impl Command {
    /// The name a run is recorded and locked under.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Check {
                deliverability: false,
            } => "check",
            Command::Check {
                deliverability: true,
            } => "check --deliverability",
            Command::Status => "status",
            Command::Summary { email: true, .. } => "summary --email",
            Command::Summary { .. } => "summary",
            Command::Cycle => "cycle",
            Command::SourceLeads => "source-leads",
            Command::Lead { action } => action.name(),
            Command::SyncInbox => "sync-inbox",
            Command::Inbox { action } => action.name(),
            Command::Email { action } => action.name(),
            Command::SendOutreach => "send-outreach",
            Command::SendTestEmail { .. } => "send-test-email",
            Command::Suppress { action } => action.name(),
            Command::Onboard => "onboard",
            Command::Ops => "ops",
            Command::Bill => "bill",
            Command::Webhook { .. } => "webhook",
            Command::PortalExport { .. } => "portal-export",
            Command::Serve => "serve",
            Command::Preview { .. } => "preview",
            Command::Why { .. } => "why",
            Command::Plan { .. } => "plan",
            Command::Backup { .. } => "backup",
            Command::Attention { action } => action.name(),
            Command::ImportLegacy { .. } => "import-legacy",
            Command::MigrateStore { .. } => "migrate-store",
            Command::Customer { action } => action.name(),
            Command::Task { action } => action.name(),
            Command::Invoice { action } => action.name(),
        }
    }

    /// Commands that only look: they are not recorded as runs (their
    /// failures are the asker's, not the pipeline's) and do not repeat the
    /// release banner and fallback lines (`check`, whose subject they are,
    /// still does: see [`Command::quiet`]).
    pub fn read_only(&self) -> bool {
        match self {
            Command::Check { .. }
            | Command::Status
            | Command::Preview { .. }
            | Command::Why { .. }
            | Command::Plan { .. } => true,
            // It writes a new file, never the database: it must not wait on
            // a pass that holds the write lock.
            Command::Backup { .. } => true,
            Command::Summary { email, .. } => !email,
            Command::Lead { action } => action.read_only(),
            Command::Customer { action } => action.read_only(),
            Command::Task { action } => action.read_only(),
            Command::Invoice { action } => action.read_only(),
            Command::Suppress { action } => action.read_only(),
            Command::Attention { action } => action.read_only(),
            Command::Inbox { action } => action.read_only(),
            _ => false,
        }
    }

    /// Whether the start-up notices (release banner, fallbacks) are left
    /// out: for commands that only look, except `check`, whose subject they
    /// are. `[CONFIG]` lines are always said.
    pub fn quiet(&self) -> bool {
        self.read_only() && !matches!(self, Command::Check { .. })
    }

    /// Cycle passes take an overlap lock; a second overlapping run exits 0.
    pub fn takes_lock(&self) -> bool {
        matches!(
            self,
            Command::SourceLeads
                | Command::SyncInbox
                | Command::SendOutreach
                | Command::Onboard
                | Command::Ops
                | Command::Bill
                | Command::PortalExport { .. }
                | Command::ImportLegacy { .. }
        )
    }
}
