//! The one place that builds the context (config, database, clock) and
//! dispatches a command: overlap lock, run record, rendering, exit code.

use std::cell::Cell;
use std::io::{IsTerminal, Write};

use log::{debug, log, warn};
use rusqlite::Connection;

use crate::cli::{
    AttentionAction, Cli, Command, CustomerAction, InvoiceAction, LeadAction, Period,
    SuppressAction, TaskAction,
};
use crate::clock::{Clock, FixedClock, SystemClock};
use crate::commands;
use crate::config::Config;
use crate::db::{self, runs};
use crate::domain::leads::RawLead;
use crate::error::{EXIT_OK, Result};
use crate::render::{self, Style};

/// Everything a command needs, built once per process.
pub struct Ctx {
    pub config: Config,
    pub db: Connection,
    pub clock: Box<dyn Clock>,
    /// The `command_run` row of the command being run.
    pub run: Cell<runs::RunId>,
    pub progress: render::Progress,
}

impl Ctx {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A context for another thread: same configuration and run, its own
    /// database connection.
    pub fn worker(&self) -> Result<Ctx> {
        Ok(Ctx {
            config: self.config.clone(),
            db: db::open(&self.config.db_path)?,
            clock: clock_for(&self.config),
            run: self.run.clone(),
            progress: render::Progress { enabled: false },
        })
    }

    /// Writes buffered operator events to the database.
    pub fn flush_log(&self) {
        crate::log::flush(&self.db, self.config.log_max_entries);
    }
}

fn clock_for(config: &Config) -> Box<dyn Clock> {
    match config.now_override {
        Some(t) => Box::new(FixedClock(t)),
        None => Box::new(SystemClock),
    }
}

/// Loads the configuration, opens the database and runs one command.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<i32> {
    if !matches!(cli.command, Command::Webhook { .. }) {
        return run_command(cli, out);
    }
    // `hoss webhook` promises one JSON line whatever happens — a busy or
    // unreadable database, a broken configuration — so whoever relays it to
    // Stripe can answer 500 and Stripe retries.
    match run_command(cli, out) {
        Ok(code) => Ok(code),
        Err(e) => {
            log::error!(
                "[STRIPE][WEBHOOK] outcome=error http_status=500 reason={:?}",
                e.to_string()
            );
            let line =
                commands::webhook::WebhookOutcome::failed(format!("nothing recorded, retry: {e}"));
            render::write_all(out, render::Report::human(&line, false).as_bytes())?;
            Ok(e.exit_code())
        }
    }
}

fn run_command(cli: Cli, out: &mut dyn Write) -> Result<i32> {
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            crate::log::init("info");
            return Err(e);
        }
    };
    crate::log::init(&config.log_filter);
    render::set_fallback_width(config.columns);
    let conn = db::open(&config.db_path)?;
    let command = cli.command;
    let quiet = command.read_only() && !matches!(command, Command::Check(_));
    for notice in &config.notices {
        if !quiet || notice.line.starts_with("[CONFIG]") {
            log!(notice.level, "{}", notice.line);
        }
    }
    let style = Style {
        json: command.json(),
        terminal: std::io::stdout().is_terminal(),
    };
    let ctx = Ctx {
        clock: clock_for(&config),
        config,
        db: conn,
        run: Cell::new(runs::RunId(0)),
        progress: render::Progress {
            enabled: style.terminal && !style.json,
        },
    };
    let (name, lock) = (command.name(), command.takes_lock());
    if command.read_only() {
        let result = dispatch(&ctx, command, out, style);
        ctx.flush_log();
        return result;
    }
    let result = match recorded(&ctx, name, lock, |ctx| dispatch(ctx, command, out, style)) {
        Step::Done(result) => result,
        Step::Busy => {
            // `--json` promises one document even when nothing was done.
            if style.json {
                let busy = serde_json::json!({"command": name, "outcome": "busy"});
                render::write_all(out, format!("{busy}\n").as_bytes())?;
            }
            Ok(EXIT_OK)
        }
    };
    ctx.flush_log();
    result
}

/// How a recorded command ended.
pub enum Step {
    Done(Result<i32>),
    /// Another run holds the command's overlap lock; nothing was done.
    Busy,
}

/// Runs one command under its overlap lock (if it has one) and records the
/// run: start, end, outcome and exit code. `cycle` calls this per step.
pub fn recorded(ctx: &Ctx, name: &str, lock: bool, f: impl FnOnce(&Ctx) -> Result<i32>) -> Step {
    let cap = ctx.config.log_max_entries;
    let _lock = if lock {
        match crate::lock::try_lock(&ctx.config.lock_dir, name) {
            Err(e) => return Step::Done(Err(e)),
            Ok(None) => {
                warn!("[LOCK][BUSY] command={name} another run holds the lock; skipping");
                let record = runs::start(&ctx.db, name, ctx.now(), cap)
                    .and_then(|run| runs::finish(&ctx.db, run, "busy", EXIT_OK, None, ctx.now()));
                if let Err(e) = record {
                    warn!("[RUN][RECORD_FAILED] command={name} error=\"{e}\"");
                }
                return Step::Busy;
            }
            Ok(Some(lock)) => Some(lock),
        }
    } else {
        None
    };
    let run = match runs::start(&ctx.db, name, ctx.now(), cap) {
        Ok(run) => run,
        Err(e) => return Step::Done(Err(e.into())),
    };
    let outer = ctx.run.replace(run);
    let result = f(ctx);
    ctx.run.set(outer);
    let (outcome, code) = match &result {
        Ok(code) if *code == EXIT_OK => ("ok", *code),
        Ok(code) => ("error", *code),
        Err(e) => ("error", e.exit_code()),
    };
    if let Err(e) = runs::finish(&ctx.db, run, outcome, code, None, ctx.now()) {
        warn!("[RUN][RECORD_FAILED] command={name} error=\"{e}\"");
    }
    debug!("[RUN][DONE] command={name} outcome={outcome} exit={code}");
    ctx.flush_log();
    Step::Done(result)
}

fn dispatch(ctx: &Ctx, command: Command, out: &mut dyn Write, style: Style) -> Result<i32> {
    use crate::commands::{customer, invoice, lead, portal, source_leads, suppress, task};
    let code = match command {
        Command::Check(_) => return render::emit(out, &commands::check::run(ctx), style),
        Command::Status(_) => render::emit(out, &commands::status::run(ctx)?, style)?,
        Command::Summary { period, email, .. } => {
            let report = commands::summary::run(ctx, period == Period::Week, email)?;
            return render::emit(out, &report, style);
        }
        // Each step takes its own lock and records its own run inside.
        Command::Cycle(_) => return commands::cycle::run(ctx, out, style),
        Command::SourceLeads(_) => render::emit(out, &source_leads::run(ctx)?, style)?,
        Command::Lead { action } => match action {
            LeadAction::Add {
                email,
                company,
                name,
                website,
                niche,
                ..
            } => {
                let raw = RawLead {
                    name,
                    email: Some(email),
                    company: Some(company),
                    website,
                    niche,
                };
                render::emit(out, &lead::add(ctx, raw)?, style)?
            }
            LeadAction::Import { file, .. } => {
                render::emit(out, &lead::import(ctx, &file)?, style)?
            }
            LeadAction::List {
                status,
                search,
                page,
                ..
            } => render::emit(
                out,
                &lead::list(ctx, status.as_deref(), search.as_deref(), page.into())?,
                style,
            )?,
            LeadAction::Show { lead: key, .. } => {
                render::emit(out, &lead::show(ctx, &key)?, style)?
            }
            LeadAction::SetStatus {
                args,
                where_status,
                yes,
                ..
            } => match (where_status, args.as_slice()) {
                (Some(from), [to]) => {
                    render::emit(out, &lead::set_status_where(ctx, &from, to, yes)?, style)?
                }
                (None, [key, status]) => {
                    render::emit(out, &lead::set_status(ctx, key, status)?, style)?
                }
                _ => {
                    return Err(crate::error::Error::Usage(
                        "use `lead set-status LEAD STATUS` or `lead set-status --where-status S STATUS --yes`".into(),
                    ));
                }
            },
            LeadAction::Edit {
                lead: key,
                name,
                company,
                website,
                niche,
                ..
            } => render::emit(
                out,
                &lead::edit(
                    ctx,
                    &key,
                    lead::Edit {
                        name,
                        company,
                        website,
                        niche,
                    },
                )?,
                style,
            )?,
        },
        Command::SendOutreach(_) => {
            return render::emit(out, &commands::send_outreach::run(ctx)?, style);
        }
        Command::SendTestEmail { to, .. } => {
            return render::emit(out, &commands::send_test_email::run(ctx, &to)?, style);
        }
        Command::Suppress { action } => match action {
            SuppressAction::Add {
                email,
                reason,
                note,
                ..
            } => render::emit(
                out,
                &suppress::add(ctx, &email, &reason, note.as_deref())?,
                style,
            )?,
            SuppressAction::Remove { email, .. } => {
                render::emit(out, &suppress::remove(ctx, &email)?, style)?
            }
            SuppressAction::List { page, .. } => {
                render::emit(out, &suppress::list(ctx, page.into())?, style)?
            }
            SuppressAction::Import { file, reason, .. } => {
                render::emit(out, &suppress::import(ctx, &file, &reason)?, style)?
            }
        },
        Command::Onboard(_) => render::emit(out, &commands::onboard::run(ctx)?, style)?,
        Command::Ops(_) => render::emit(out, &commands::ops::run(ctx)?, style)?,
        Command::Bill(_) => render::emit(out, &commands::bill::run(ctx)?, style)?,
        Command::Webhook { signature } => {
            let outcome = commands::webhook::from_stdin(ctx, &signature);
            render::emit(out, &outcome, style)?;
            return Ok(outcome.exit_code());
        }
        Command::PortalExport { out: dir, .. } => {
            render::emit(out, &portal::export(ctx, dir.as_deref())?, style)?
        }
        Command::Serve => return commands::serve::run(ctx, out),
        Command::Attention { action } => match action {
            AttentionAction::List { .. } => {
                render::emit(out, &commands::attention::list(ctx)?, style)?
            }
            AttentionAction::Ack { id, .. } => {
                render::emit(out, &commands::attention::ack(ctx, &id)?, style)?
            }
        },
        Command::Backup { file, .. } => {
            render::emit(out, &commands::backup::run(ctx, &file)?, style)?
        }
        Command::Preview {
            lead: key, step, ..
        } => render::emit(out, &commands::preview::run(ctx, &key, step)?, style)?,
        Command::ImportLegacy { path, dry_run, .. } => render::emit(
            out,
            &commands::import_legacy::run(ctx, &path, dry_run)?,
            style,
        )?,
        Command::Customer { action } => match action {
            CustomerAction::List { page, .. } => {
                render::emit(out, &customer::list(ctx, page.into())?, style)?
            }
            CustomerAction::Show { id, .. } => render::emit(out, &customer::show(ctx, id)?, style)?,
            CustomerAction::Add {
                company,
                email,
                name,
                ..
            } => render::emit(
                out,
                &customer::add(ctx, &company, &email, name.as_deref())?,
                style,
            )?,
            CustomerAction::SetStatus { id, status, .. } => {
                render::emit(out, &customer::set_status(ctx, id, &status)?, style)?
            }
            CustomerAction::RotateToken { id, .. } => {
                render::emit(out, &customer::rotate_token(ctx, id)?, style)?
            }
        },
        Command::Task { action } => match action {
            TaskAction::Add {
                customer,
                description,
                amount,
                ..
            } => render::emit(
                out,
                &task::add(ctx, customer, &description, &amount)?,
                style,
            )?,
            TaskAction::Done { id, summary, .. } => {
                render::emit(out, &task::done(ctx, id, summary.as_deref())?, style)?
            }
            TaskAction::Fail { id, reason, .. } => {
                render::emit(out, &task::fail(ctx, id, &reason)?, style)?
            }
            TaskAction::Retry { id, .. } => render::emit(out, &task::retry(ctx, id)?, style)?,
            TaskAction::List {
                customer,
                status,
                page,
                ..
            } => render::emit(
                out,
                &task::list(ctx, customer, status.as_deref(), page.into())?,
                style,
            )?,
        },
        Command::Invoice { action } => match action {
            InvoiceAction::List {
                customer,
                status,
                page,
                ..
            } => render::emit(
                out,
                &invoice::list(ctx, customer, status.as_deref(), page.into())?,
                style,
            )?,
            InvoiceAction::Show { id, .. } => render::emit(out, &invoice::show(ctx, id)?, style)?,
            InvoiceAction::Void { id, write_off, .. } => {
                render::emit(out, &invoice::void(ctx, id, write_off)?, style)?
            }
            InvoiceAction::MarkPaid { id, .. } => {
                render::emit(out, &invoice::mark_paid(ctx, id)?, style)?
            }
        },
    };
    Ok(code)
}
