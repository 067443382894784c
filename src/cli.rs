//! The command tree (clap derive), nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hoss",
    version,
    about = "Outbound sales and billing, one cron pass at a time",
    after_help = "Exit codes: 0 ok, 2 usage, 65 bad input, 70 internal, 75 try again, 78 configuration."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
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

impl From<PageArgs> for crate::db::Page {
    fn from(a: PageArgs) -> Self {
        crate::db::Page {
            limit: a.limit,
            offset: a.offset,
            newest: a.newest,
        }
    }
}

#[derive(Debug, Args, Clone, Copy)]
pub struct JsonFlag {
    /// Print one JSON document on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show requested and effective mode of every subsystem (exit 78 in release mode when one fell back)
    Check(JsonFlag),
    /// Show what hoss is doing: modes, limits, leads, the last run of each command
    Status(JsonFlag),
    /// The digest of the last day (or week): leads, emails, invoices, payments, what needs you
    Summary {
        #[arg(long, value_enum, default_value_t = Period::Day)]
        period: Period,
        /// Also send it to OPERATOR_EMAIL (subject "[SUMMARY] …") through the effective mailer
        #[arg(long)]
        email: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// The whole autopilot: source-leads, send-outreach, onboard, ops, bill, portal-export
    Cycle(JsonFlag),
    /// One pass of lead sourcing (DUMMY_SEED or SEARCH_API), deduped by the database
    SourceLeads(JsonFlag),
    /// Add, import, list, show or re-status leads
    Lead {
        #[command(subcommand)]
        action: LeadAction,
    },
    /// One pass of outreach email within the per-cycle and per-hour limits
    SendOutreach(JsonFlag),
    /// Send one test message through the effective mailer (DRY_RUN logs it)
    SendTestEmail {
        #[arg(long)]
        to: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Manage the never-send list (unsubscribes, bounces, complaints)
    Suppress {
        #[command(subcommand)]
        action: SuppressAction,
    },
    /// Turn leads that replied (responded, qualified) into customers with onboarding tasks
    Onboard(JsonFlag),
    /// Run pending tasks through OPS_EXECUTOR_CMD
    Ops(JsonFlag),
    /// Invoice done work, create payment links, reconcile payments
    Bill(JsonFlag),
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
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Payments that need you (paid twice, mismatches): list, or acknowledge one
    Attention {
        #[command(subcommand)]
        action: AttentionAction,
    },
    /// Copy the database to a new file, safely while hoss runs
    Backup {
        file: PathBuf,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Print the whole message a lead would get (headers and body), with no network
    Preview {
        /// Lead id or e-mail address
        lead: String,
        /// The sequence step to show
        #[arg(long, default_value_t = 1)]
        step: u32,
        #[command(flatten)]
        out: JsonFlag,
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
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Add, finish, fail or list tasks
    Task {
        #[command(subcommand)]
        action: TaskAction,
    },
    /// List, show, void or mark invoices paid
    Invoice {
        #[command(subcommand)]
        action: InvoiceAction,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Period {
    Day,
    Week,
}

#[derive(Debug, Subcommand)]
pub enum AttentionAction {
    /// What still needs you, newest first
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Mark one as dealt with: it leaves status warnings and the digest
    Ack {
        /// The id `attention list` shows
        id: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum CustomerAction {
    /// List customers by id (with their portal tokens)
    List {
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show one customer with totals and portal address
    Show {
        id: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Add a customer by hand
    Add {
        #[arg(long)]
        company: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Set a customer's status: `paused` or `churned` stop `ops` running their pending work
    SetStatus {
        id: i64,
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(crate::db::customers::STATUSES))]
        status: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Give a customer a new portal token (the old address stops working)
    RotateToken {
        id: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum TaskAction {
    /// Add a task for a customer, priced in decimal currency units (150.00)
    Add {
        #[arg(long)]
        customer: i64,
        #[arg(long)]
        description: String,
        /// Decimal amount such as 150.00 (no sign, at most two decimals)
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Mark a task done (it will be billed by the next `bill`)
    Done {
        id: i64,
        #[arg(long)]
        summary: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Mark a task failed
    Fail {
        id: i64,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Put a failed task back to pending for the next `ops` pass
    Retry {
        id: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List tasks by id
    List {
        #[arg(long)]
        customer: Option<i64>,
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::db::tasks::STATUSES))]
        status: Option<String>,
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum InvoiceAction {
    /// List invoices by id
    List {
        #[arg(long)]
        customer: Option<i64>,
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::db::invoices::STATUSES))]
        status: Option<String>,
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show one invoice and the tasks it bills
    Show {
        id: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Void a draft or open invoice; its tasks are billed again by the next `bill`
    Void {
        id: i64,
        /// Keep its tasks tied to the void invoice (the work is written off, never billed)
        #[arg(long)]
        write_off: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Record a payment received outside Stripe
    MarkPaid {
        id: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum SuppressAction {
    /// Add an address (its leads become `unsubscribed`)
    Add {
        email: String,
        #[arg(long, default_value = "manual", value_parser = clap::builder::PossibleValuesParser::new(crate::db::suppression::REASONS))]
        reason: String,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Remove an address (its leads keep their status)
    Remove {
        email: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List suppressed addresses, newest first
    List {
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Import addresses: one per line (`#` comments) or a CSV with an email column
    Import {
        file: PathBuf,
        #[arg(long, default_value = "manual", value_parser = clap::builder::PossibleValuesParser::new(crate::db::suppression::REASONS))]
        reason: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum LeadAction {
    /// Add one lead (normalised and deduped like sourced ones)
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        company: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        website: Option<String>,
        #[arg(long)]
        niche: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Import a CSV with a header row: name,email,company,website,niche (any order)
    Import {
        file: PathBuf,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List leads by id
    List {
        /// Only leads with this status
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::db::leads::STATUSES))]
        status: Option<String>,
        /// Only leads whose email, name or company contains this text
        #[arg(long)]
        search: Option<String>,
        /// At most this many
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show one lead
    Show {
        /// Lead id or e-mail address
        lead: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Set a lead's status (`set-status LEAD STATUS`; e.g. `responded` when they
    /// replied, `new` to re-queue), or every lead in one status
    /// (`set-status --where-status S STATUS --yes`)
    SetStatus {
        /// LEAD (id or e-mail address) and STATUS, or only STATUS with --where-status
        #[arg(num_args = 1..=2, value_names = ["LEAD", "STATUS"], required = true)]
        args: Vec<String>,
        /// Every lead now in this status
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::db::leads::STATUSES))]
        where_status: Option<String>,
        /// With --where-status: really change them (without it: only count)
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Change a lead's name, company, website or niche (an empty value clears it)
    Edit {
        /// Lead id or e-mail address
        lead: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        company: Option<String>,
        #[arg(long)]
        website: Option<String>,
        #[arg(long)]
        niche: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
}

impl Command {
    /// The name a run is recorded and locked under.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Check(_) => "check",
            Command::Status(_) => "status",
            Command::Summary { email: true, .. } => "summary --email",
            Command::Summary { .. } => "summary",
            Command::Cycle(_) => "cycle",
            Command::SourceLeads(_) => "source-leads",
            Command::Lead { action } => match action {
                LeadAction::Add { .. } => "lead add",
                LeadAction::Import { .. } => "lead import",
                LeadAction::List { .. } => "lead list",
                LeadAction::Show { .. } => "lead show",
                LeadAction::SetStatus { .. } => "lead set-status",
                LeadAction::Edit { .. } => "lead edit",
            },
            Command::SendOutreach(_) => "send-outreach",
            Command::SendTestEmail { .. } => "send-test-email",
            Command::Suppress { action } => match action {
                SuppressAction::Add { .. } => "suppress add",
                SuppressAction::Remove { .. } => "suppress remove",
                SuppressAction::List { .. } => "suppress list",
                SuppressAction::Import { .. } => "suppress import",
            },
            Command::Onboard(_) => "onboard",
            Command::Ops(_) => "ops",
            Command::Bill(_) => "bill",
            Command::Webhook { .. } => "webhook",
            Command::PortalExport { .. } => "portal-export",
            Command::Serve => "serve",
            Command::Preview { .. } => "preview",
            Command::Backup { .. } => "backup",
            Command::Attention { action } => match action {
                AttentionAction::List { .. } => "attention list",
                AttentionAction::Ack { .. } => "attention ack",
            },
            Command::ImportLegacy { .. } => "import-legacy",
            Command::Customer { action } => match action {
                CustomerAction::List { .. } => "customer list",
                CustomerAction::Show { .. } => "customer show",
                CustomerAction::Add { .. } => "customer add",
                CustomerAction::RotateToken { .. } => "customer rotate-token",
                CustomerAction::SetStatus { .. } => "customer set-status",
            },
            Command::Task { action } => match action {
                TaskAction::Add { .. } => "task add",
                TaskAction::Done { .. } => "task done",
                TaskAction::Fail { .. } => "task fail",
                TaskAction::Retry { .. } => "task retry",
                TaskAction::List { .. } => "task list",
            },
            Command::Invoice { action } => match action {
                InvoiceAction::List { .. } => "invoice list",
                InvoiceAction::Show { .. } => "invoice show",
                InvoiceAction::Void { .. } => "invoice void",
                InvoiceAction::MarkPaid { .. } => "invoice mark-paid",
            },
        }
    }

    /// Commands that only look: they are not recorded as runs (their
    /// failures are the asker's, not the pipeline's) and do not repeat the
    /// release banner and fallback lines (`check`, whose subject they are,
    /// still does).
    pub fn read_only(&self) -> bool {
        match self {
            Command::Check(_) | Command::Status(_) | Command::Preview { .. } => true,
            // It writes a new file, never the database: it must not wait on
            // a pass that holds the write lock.
            Command::Backup { .. } => true,
            Command::Attention { action } => matches!(action, AttentionAction::List { .. }),
            Command::Summary { email, .. } => !email,
            Command::Lead { action } => {
                matches!(action, LeadAction::List { .. } | LeadAction::Show { .. })
            }
            Command::Customer { action } => {
                matches!(
                    action,
                    CustomerAction::List { .. } | CustomerAction::Show { .. }
                )
            }
            Command::Task { action } => matches!(action, TaskAction::List { .. }),
            Command::Invoice { action } => {
                matches!(
                    action,
                    InvoiceAction::List { .. } | InvoiceAction::Show { .. }
                )
            }
            Command::Suppress { action } => matches!(action, SuppressAction::List { .. }),
            _ => false,
        }
    }

    /// Cycle passes take an overlap lock; a second overlapping run exits 0.
    pub fn takes_lock(&self) -> bool {
        matches!(
            self,
            Command::SourceLeads(_)
                | Command::SendOutreach(_)
                | Command::Onboard(_)
                | Command::Ops(_)
                | Command::Bill(_)
                | Command::PortalExport { .. }
                | Command::ImportLegacy { .. }
        )
    }

    pub fn json(&self) -> bool {
        match self {
            Command::Check(f)
            | Command::Status(f)
            | Command::SourceLeads(f)
            | Command::SendOutreach(f)
            | Command::Onboard(f)
            | Command::Ops(f)
            | Command::Bill(f) => f.json,
            Command::Webhook { .. } => true,
            Command::Summary { out, .. } => out.json,
            Command::Cycle(f) => f.json,
            Command::Serve => false,
            Command::Preview { out, .. } => out.json,
            Command::Backup { out, .. } => out.json,
            Command::Attention { action } => match action {
                AttentionAction::List { out } | AttentionAction::Ack { out, .. } => out.json,
            },
            Command::ImportLegacy { out, .. } => out.json,
            Command::PortalExport { json, .. } => json.json,
            Command::Customer { action } => match action {
                CustomerAction::List { out, .. }
                | CustomerAction::Show { out, .. }
                | CustomerAction::Add { out, .. }
                | CustomerAction::RotateToken { out, .. }
                | CustomerAction::SetStatus { out, .. } => out.json,
            },
            Command::Task { action } => match action {
                TaskAction::Add { out, .. }
                | TaskAction::Done { out, .. }
                | TaskAction::Fail { out, .. }
                | TaskAction::Retry { out, .. }
                | TaskAction::List { out, .. } => out.json,
            },
            Command::Invoice { action } => match action {
                InvoiceAction::List { out, .. }
                | InvoiceAction::Show { out, .. }
                | InvoiceAction::Void { out, .. }
                | InvoiceAction::MarkPaid { out, .. } => out.json,
            },
            Command::SendTestEmail { out, .. } => out.json,
            Command::Suppress { action } => match action {
                SuppressAction::Add { out, .. }
                | SuppressAction::Remove { out, .. }
                | SuppressAction::List { out, .. }
                | SuppressAction::Import { out, .. } => out.json,
            },
            Command::Lead { action } => match action {
                LeadAction::Add { out, .. }
                | LeadAction::Import { out, .. }
                | LeadAction::List { out, .. }
                | LeadAction::Show { out, .. }
                | LeadAction::SetStatus { out, .. }
                | LeadAction::Edit { out, .. } => out.json,
            },
        }
    }
}
