//! The one place that builds the context (config, database, clock) and
//! dispatches a command: overlap lock, run record, rendering, exit code.

use std::cell::Cell;
use std::io::{IsTerminal, Write};

use log::{debug, log, warn};
use rusqlite::Connection;

use crate::cli::{Cli, Command};
use crate::clock::{Clock, FixedClock, SystemClock};
use crate::commands;
use crate::config::Config;
use crate::db::{self, runs};
use crate::error::{EXIT_OK, Result};
use crate::render::{self, Style};
use crate::services::mailer::{self, Mailer, MailerFactory};

/// Everything a command needs, built once per process.
pub struct Ctx {
    pub config: Config,
    /// The database, on either store; queries take [`Ctx::db`].
    pub store: db::Store,
    pub clock: Box<dyn Clock>,
    /// Every command that sends mail gets its mailer here ([`Ctx::mailer`]).
    pub mailers: MailerFactory,
    /// The `command_run` row of the command being run.
    pub run: Cell<runs::RunId>,
    pub progress: render::Progress,
}

impl Ctx {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The query handle on the database, for code on the two-store query
    /// layer.
    pub fn db(&self) -> db::Db<'_> {
        self.store.db()
    }

    /// The rusqlite connection, for what only SQLite does (its own backup);
    /// on PostgreSQL an error naming the calling file, never a panic.
    #[track_caller]
    pub fn sqlite(&self) -> db::StoreResult<&Connection> {
        self.db().sqlite_only(std::panic::Location::caller().file())
    }

    /// A mailer for the effective email mode.
    pub fn mailer(&self) -> Box<dyn Mailer> {
        (self.mailers)(&self.config.email)
    }

    /// A new connection when this context's own no longer answers (a
    /// long command's connection dropped by an idle timeout or a server
    /// restart); `None` when it still answers or no new one opens.
    pub fn fresh_store(&self) -> Option<db::Store> {
        if self.store.answers() {
            return None;
        }
        db::open(&self.config).ok()
    }

    /// A context for another thread: same configuration and run, its own
    /// database connection.
    pub fn worker(&self) -> Result<Ctx> {
        Ok(Ctx {
            config: self.config.clone(),
            store: db::open(&self.config)?,
            clock: clock_for(&self.config),
            mailers: self.mailers.clone(),
            run: self.run.clone(),
            progress: render::Progress { enabled: false },
        })
    }

    /// A context for an in-process test: an in-memory database with the
    /// real migrations, a pinned clock and the given mailers.
    #[cfg(test)]
    pub(crate) fn for_test(config: Config, now: i64, mailers: MailerFactory) -> Ctx {
        Ctx {
            config,
            store: db::Store::Sqlite(db::open_in_memory().expect("an in-memory database")),
            clock: Box::new(FixedClock(now)),
            mailers,
            run: Cell::new(runs::RunId(0)),
            progress: render::Progress { enabled: false },
        }
    }

    /// Writes the buffered log lines to the event log; `false` if that
    /// failed (they stay buffered).
    pub fn flush_log(&self) -> bool {
        crate::log::flush(self.db(), self.config.log_max_entries)
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
    let webhook = matches!(cli.command, Command::Webhook { .. });
    match run_command(cli, out) {
        Err(e) if webhook => commands::webhook::failed_before_start(&e, out),
        result => result,
    }
}

fn run_command(cli: Cli, out: &mut dyn Write) -> Result<i32> {
    // `serve` runs until stopped and prints one line to say where: it has
    // no JSON document to give (the global flag must not promise one).
    if cli.json && matches!(cli.command, Command::Serve) {
        return Err(crate::error::Error::Usage(
            "`hoss serve` prints no JSON; run it without --json".into(),
        ));
    }
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            crate::log::init("info");
            return Err(e);
        }
    };
    crate::log::init(&config.log_filter);
    render::set_fallback_width(config.columns);
    // `migrate-store` names both of its stores and opens neither the
    // process's store nor DATABASE_URL's: it runs before either is looked at.
    if let Command::MigrateStore { from, to } = &cli.command {
        let style = Style {
            json: cli.json(),
            terminal: std::io::stdout().is_terminal(),
        };
        return render::emit(out, &commands::migrate_store::run(from, to)?, style);
    }
    // A pass in a Replit deployment with a local file writes what the next
    // run will not find (the send ledger: someone emailed twice): warned
    // each time, and refused in release mode. `status` and `check` say so
    // in their own reports.
    if let Some(why) = config
        .ephemeral_store()
        .filter(|_| !cli.command.read_only())
    {
        if config.release_mode {
            return Err(crate::error::Error::Config(why));
        }
        log::warn!("[CONFIG][EPHEMERAL_STORE] {why}");
    }
    let store = db::open(&config)?;
    let json = cli.json();
    let command = cli.command;
    let quiet = command.quiet();
    for notice in &config.notices {
        if !quiet || notice.line.starts_with("[CONFIG]") {
            log!(notice.level, "{}", notice.line);
        }
    }
    let style = Style {
        json,
        terminal: std::io::stdout().is_terminal(),
    };
    let ctx = Ctx {
        clock: clock_for(&config),
        mailers: mailer::real(),
        config,
        store,
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
        match crate::lock::try_lock(ctx.db(), &ctx.config.lock_dir, name) {
            Err(e) => return Step::Done(Err(e)),
            Ok(None) => {
                warn!("[LOCK][BUSY] command={name} another run holds the lock; skipping");
                let record = runs::start(ctx.db(), name, ctx.now(), cap)
                    .and_then(|run| runs::finish(ctx.db(), run, "busy", EXIT_OK, None, ctx.now()));
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
    let run = match runs::start(ctx.db(), name, ctx.now(), cap) {
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
    let finish = |db: db::Db<'_>| runs::finish(db, run, outcome, code, None, ctx.now());
    // If the command's own connection died while it ran (`serve`), the run
    // is recorded, and the log written, on a new one.
    let fresh = match finish(ctx.db()) {
        Ok(()) => None,
        Err(e) => {
            let fresh = ctx.fresh_store();
            if let Err(e) = fresh.as_ref().map_or(Err(e), |store| finish(store.db())) {
                warn!("[RUN][RECORD_FAILED] command={name} error=\"{e}\"");
            }
            fresh
        }
    };
    debug!("[RUN][DONE] command={name} outcome={outcome} exit={code}");
    match &fresh {
        Some(store) => crate::log::flush(store.db(), cap),
        None => ctx.flush_log(),
    };
    Step::Done(result)
}

/// Runs the command and writes its report; the report's exit code is the
/// process's.
fn dispatch(ctx: &Ctx, command: Command, out: &mut dyn Write, style: Style) -> Result<i32> {
    use crate::commands::*;
    use crate::render::emit;
    match command {
        Command::Check {
            deliverability: false,
        } => emit(out, &check::run(ctx), style),
        Command::Check {
            deliverability: true,
        } => emit(out, &deliverability::run(ctx)?, style),
        Command::Status => emit(out, &status::run(ctx)?, style),
        Command::Summary { period, email } => emit(out, &summary::run(ctx, period, email)?, style),
        // Each step takes its own lock and records its own run inside.
        Command::Cycle => emit(out, &cycle::run(ctx)?, style),
        Command::SourceLeads => emit(out, &source_leads::run(ctx)?, style),
        Command::Lead { action } => lead::run(ctx, action, out, style),
        Command::SyncInbox => emit(out, &sync_inbox::run(ctx)?, style),
        Command::Inbox { action } => inbox::run(ctx, action, out, style),
        Command::Email { action } => email::run(ctx, action, out, style),
        Command::SendOutreach => emit(out, &send_outreach::run(ctx)?, style),
        Command::SendTestEmail { to } => emit(out, &send_test_email::run(ctx, &to)?, style),
        Command::Suppress { action } => suppress::run(ctx, action, out, style),
        Command::Onboard => emit(out, &onboard::run(ctx)?, style),
        Command::Ops => emit(out, &ops::run(ctx)?, style),
        Command::Bill => emit(out, &bill::run(ctx)?, style),
        Command::Webhook { signature } => emit(out, &webhook::from_stdin(ctx, &signature), style),
        Command::PortalExport { out: dir } => {
            emit(out, &portal::export(ctx, dir.as_deref())?, style)
        }
        Command::Serve => serve::run(ctx, out),
        Command::Attention { action } => attention::run(ctx, action, out, style),
        Command::Backup { file } => emit(out, &backup::run(ctx, &file)?, style),
        Command::Preview { lead, step } => emit(out, &preview::run(ctx, &lead, step)?, style),
        Command::Why { lead } => emit(out, &why::run(ctx, &lead)?, style),
        Command::Plan { at } => emit(out, &plan::run(ctx, at.as_deref())?, style),
        Command::ImportLegacy { path, dry_run } => {
            emit(out, &import_legacy::run(ctx, &path, dry_run)?, style)
        }
        Command::Customer { action } => customer::run(ctx, action, out, style),
        Command::Task { action } => task::run(ctx, action, out, style),
        Command::Invoice { action } => invoice::run(ctx, action, out, style),
        Command::MigrateStore { .. } => Err(crate::error::Error::Internal(
            "migrate-store runs before the store opens".into(),
        )),
    }
}
