//! `hoss task add|done|fail|retry|list`: the work a customer is billed for.

use std::io::Write;

use clap::Subcommand;
use serde::Serialize;

use crate::app::Ctx;
use crate::cli::PageArgs;
use crate::db::{customers, tasks, tasks::Task};
use crate::domain::status::TaskStatus;
use crate::error::{Error, Result};
use crate::money::{self, Cents, format_amount};
use crate::render::list::{self, List, Row};
use crate::render::{Report, Style, emit, or_dash};

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
    },
    /// Mark a task done (it will be billed by the next `bill`)
    Done {
        id: i64,
        #[arg(long)]
        summary: Option<String>,
    },
    /// Mark a task failed
    Fail {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Put a failed task back to pending for the next `ops` pass
    Retry { id: i64 },
    /// List tasks by id
    List {
        #[arg(long)]
        customer: Option<i64>,
        #[arg(long)]
        status: Option<TaskStatus>,
        #[command(flatten)]
        page: PageArgs,
    },
}

impl TaskAction {
    pub fn name(&self) -> &'static str {
        match self {
            TaskAction::Add { .. } => "task add",
            TaskAction::Done { .. } => "task done",
            TaskAction::Fail { .. } => "task fail",
            TaskAction::Retry { .. } => "task retry",
            TaskAction::List { .. } => "task list",
        }
    }

    pub fn read_only(&self) -> bool {
        matches!(self, TaskAction::List { .. })
    }
}

/// Runs one `hoss task …` action and writes its report.
pub fn run(ctx: &Ctx, action: TaskAction, out: &mut dyn Write, style: Style) -> Result<i32> {
    match action {
        TaskAction::Add {
            customer,
            description,
            amount,
        } => emit(out, &add(ctx, customer, &description, &amount)?, style),
        TaskAction::Done { id, summary } => emit(out, &done(ctx, id, summary.as_deref())?, style),
        TaskAction::Fail { id, reason } => emit(out, &fail(ctx, id, &reason)?, style),
        TaskAction::Retry { id } => emit(out, &retry(ctx, id)?, style),
        TaskAction::List {
            customer,
            status,
            page,
        } => emit(out, &list(ctx, customer, status, page.into())?, style),
    }
}

/// A task as `task …` lists and shows it: the row (its JSON is the
/// contract's, SPEC §12) and the currency its amount is shown in (the
/// configured one).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct TaskLine {
    pub task: Task,
    #[serde(skip)]
    pub currency: String,
}

impl Row for TaskLine {
    const HEADER: &'static [&'static str] = &[
        "id",
        "customer",
        "status",
        "amount",
        "invoice",
        "description",
        "result",
    ];
    const EMPTY: &'static str = "no tasks\n";

    fn cells(&self) -> Vec<String> {
        let t = &self.task;
        vec![
            t.id.to_string(),
            t.customer_id.to_string(),
            t.status.to_string(),
            t.amount_cents.in_currency(&self.currency),
            or_dash(t.invoice_id),
            t.description.clone(),
            or_dash(t.result_summary.as_ref().or(t.error.as_ref())),
        ]
    }
}

pub type TaskList = List<TaskLine>;

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct TaskShow(pub TaskLine);

impl Report for TaskShow {
    fn human(&self, terminal: bool) -> String {
        list::rows(std::slice::from_ref(&self.0), terminal)
    }
}

fn shown(ctx: &Ctx, id: i64) -> Result<TaskShow> {
    let task =
        tasks::get(ctx.db(), id)?.ok_or_else(|| Error::Data(format!("there is no task {id}")))?;
    Ok(TaskShow(line(ctx, task)))
}

fn line(ctx: &Ctx, task: Task) -> TaskLine {
    TaskLine {
        task,
        currency: ctx.config.stripe.currency.clone(),
    }
}

pub fn add(ctx: &Ctx, customer_id: i64, description: &str, amount: &str) -> Result<TaskShow> {
    // Work is billed in the configured currency, so its amount is read in
    // that currency's decimals (`1500` is ¥1500, `1.250` is 1.250 KWD).
    // (An unusable STRIPE_DEFAULT_CURRENCY is refused by `bill`; here it
    // reads as two decimals.)
    let currency = ctx.config.stripe.currency.as_str();
    let amount =
        Cents::parse_in(amount, currency).map_err(|e| Error::Data(format!("--amount {e}")))?;
    if let Some(problem) = money::stripe_amount_problem(amount, currency) {
        return Err(Error::Data(format!("--amount {problem}")));
    }
    let description = crate::domain::leads::clean_text(Some(description))
        .ok_or_else(|| Error::Data("--description is empty".into()))?;
    if customers::get(ctx.db(), customer_id)?.is_none() {
        return Err(Error::Data(format!("there is no customer {customer_id}")));
    }
    let id = ctx.db().immediate(|tx| {
        Ok(tasks::insert(
            tx,
            customer_id,
            &description,
            amount,
            currency,
            ctx.now(),
        )?)
    })?;
    log::info!(
        "[TASK][ADDED] task_id={id} customer_id={customer_id} amount={}",
        format_amount(amount, currency)
    );
    shown(ctx, id)
}

pub fn done(ctx: &Ctx, id: i64, summary: Option<&str>) -> Result<TaskShow> {
    let before = shown(ctx, id)?;
    if before.0.task.status == TaskStatus::Done {
        return Ok(before);
    }
    if !tasks::complete(ctx.db(), id, summary, None, ctx.now())? {
        return Err(Error::Data(format!(
            "task {id} is {} and cannot be marked done",
            before.0.task.status
        )));
    }
    log::info!("[TASK][DONE] task_id={id}");
    shown(ctx, id)
}

pub fn fail(ctx: &Ctx, id: i64, reason: &str) -> Result<TaskShow> {
    let before = shown(ctx, id)?;
    if !tasks::fail(ctx.db(), id, reason, ctx.now())? {
        return Err(Error::Data(format!(
            "task {id} is {} and cannot be marked failed",
            before.0.task.status
        )));
    }
    log::info!("[TASK][FAILED] task_id={id} reason={reason:?}");
    shown(ctx, id)
}

pub fn retry(ctx: &Ctx, id: i64) -> Result<TaskShow> {
    let before = shown(ctx, id)?;
    if !tasks::retry(ctx.db(), id)? {
        return Err(Error::Data(format!(
            "task {id} is {}; only a failed task can be retried",
            before.0.task.status
        )));
    }
    log::info!("[TASK][RETRY] task_id={id} (pending again; the next ops pass runs it)");
    shown(ctx, id)
}

pub fn list(
    ctx: &Ctx,
    customer: Option<i64>,
    status: Option<TaskStatus>,
    page: crate::db::Page,
) -> Result<TaskList> {
    let listed = tasks::list(ctx.db(), customer, status, page)?;
    Ok(List::page(listed.map(|t| line(ctx, t)), page))
}
