//! Output for people and machines: tables on a terminal, plain aligned text
//! when piped, one JSON document with `--json`. Writes that hit a closed pipe
//! (`hoss status | head`) are not errors.

pub mod list;
pub mod modes;
pub mod portal;

use std::io::{self, Write};

use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets};
use serde::Serialize;

use crate::error::{Error, Result};

/// Columns of a terminal that does not say how wide it is.
const DEFAULT_WIDTH: u16 = 100;
static FALLBACK_WIDTH: std::sync::OnceLock<u16> = std::sync::OnceLock::new();

/// The width to assume when a terminal reports none (`COLUMNS`, from the
/// configuration); set once at start.
pub fn set_fallback_width(columns: Option<u16>) {
    let _ = FALLBACK_WIDTH.set(columns.filter(|c| *c >= 20).unwrap_or(DEFAULT_WIDTH));
}

/// How the answer is shown.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub json: bool,
    pub terminal: bool,
}

/// A command's answer: a human rendering; JSON comes from `Serialize`.
pub trait Report: Serialize {
    fn human(&self, terminal: bool) -> String;

    /// The process exit code this answer stands for (SPEC §10).
    fn exit_code(&self) -> i32 {
        crate::error::EXIT_OK
    }
}

/// Writes the report to `out` in the requested style; returns its exit code.
pub fn emit<R: Report>(out: &mut dyn Write, report: &R, style: Style) -> Result<i32> {
    let text = if style.json {
        let mut s = serde_json::to_string(report)
            .map_err(|e| Error::Internal(format!("cannot encode report: {e}")))?;
        s.push('\n');
        s
    } else {
        report.human(style.terminal)
    };
    write_all(out, text.as_bytes())?;
    Ok(report.exit_code())
}

/// Writes and flushes; a reader that went away is fine.
pub fn write_all(out: &mut dyn Write, bytes: &[u8]) -> Result<()> {
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::Temporary(format!("cannot write output: {e}"))),
    }
}

/// A table: box-drawn on a terminal (fitted to its width), plain aligned
/// columns otherwise. No colour is ever used, so `NO_COLOR` holds trivially.
///
/// A terminal that reports no width (a pty without a size: `script`, some
/// CI, `docker exec -t`) gets the configured `COLUMNS`, else 100, instead
/// of one character per column. Addresses are never broken across lines.
pub fn table(header: &[&str], rows: Vec<Vec<String>>, terminal: bool) -> String {
    let mut t = Table::new();
    let mut hide_dates = false;
    if terminal {
        let width = t
            .width()
            .filter(|w| *w >= 20)
            .unwrap_or_else(|| FALLBACK_WIDTH.get().copied().unwrap_or(DEFAULT_WIDTH));
        // The narrowest the table can be drawn: whole columns at their
        // widest, the others at ten characters (or less when they are
        // narrower), three for each border and padding.
        let widest = |i: usize| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        };
        let narrowest = |with_dates: bool| {
            1 + header
                .iter()
                .enumerate()
                .filter(|(_, h)| with_dates || !dated(h))
                .map(|(i, h)| {
                    3 + if whole(h) {
                        widest(i)
                    } else {
                        widest(i).min(10)
                    }
                })
                .sum::<usize>()
        };
        if narrowest(false) > usize::from(width) {
            return records(header, &rows);
        }
        hide_dates = narrowest(true) > usize::from(width);
        t.load_style(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(width);
    } else {
        t.load_style(presets::NOTHING).force_no_tty();
    }
    t.set_header(header.to_vec());
    for row in rows {
        t.add_row(row);
    }
    // Ids, statuses and addresses are never broken; names and companies
    // keep room for a word or two and wrap between words; when even that
    // does not fit, the date columns go (`show` has them).
    for (i, name) in header.iter().enumerate() {
        let constraint = if whole(name) {
            ColumnConstraint::ContentWidth
        } else if dated(name) && hide_dates {
            ColumnConstraint::Hidden
        } else if matches!(
            *name,
            "name" | "company" | "subject" | "description" | "error"
        ) {
            ColumnConstraint::LowerBoundary(comfy_table::Width::Fixed(10))
        } else {
            continue;
        };
        if let Some(column) = t.column_mut(i) {
            column.set_constraint(constraint);
        }
    }
    let mut s = t.to_string();
    if !terminal {
        // NOTHING leaves a leading space column; keep lines tidy.
        s = s
            .lines()
            .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
            .collect::<Vec<_>>()
            .join("\n");
    }
    s.push('\n');
    s
}

/// Columns whose values are never broken across lines.
fn whole(name: &str) -> bool {
    matches!(
        name,
        "id" | "status" | "email" | "to" | "contact_email" | "kind" | "mode" | "outcome" | "lead"
    )
}

/// Columns that give way first on a narrow terminal.
fn dated(name: &str) -> bool {
    matches!(name, "created" | "at")
}

/// A table too wide for the terminal, as one block of `field  value` lines
/// per row: every address and word whole, at any width.
fn records(header: &[&str], rows: &[Vec<String>]) -> String {
    let label = header.iter().map(|h| h.chars().count()).max().unwrap_or(0);
    rows.iter()
        .map(|row| {
            header
                .iter()
                .zip(row)
                .map(|(h, v)| format!("{h:>label$}  {v}\n"))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Progress for people watching a terminal: one rewritten stderr line.
/// Disabled under cron (stdout not a terminal) and with `--json`.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub enabled: bool,
}

impl Progress {
    pub fn note(&self, text: &str) {
        if self.enabled {
            let mut err = io::stderr().lock();
            let _ = write!(err, "\r{text:<72}");
            let _ = err.flush();
        }
    }

    pub fn done(&self) {
        if self.enabled {
            let _ = write!(io::stderr().lock(), "\r{:<72}\r", "");
        }
    }
}

/// `-` for nothing.
pub fn or_dash(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}
