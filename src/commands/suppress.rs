//! `hoss suppress add|remove|list|import`: the never-send list.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Serialize;

use crate::app::Ctx;
use crate::cli::PageArgs;
use crate::db::{suppression, suppression::Entry};
use crate::domain::address::normalize_email;
use crate::error::{Error, Result};
use crate::render::list::{List, Row};
use crate::render::{Report, Style, emit, or_dash};

#[derive(Debug, Subcommand)]
pub enum SuppressAction {
    /// Add an address (its leads become `unsubscribed`)
    Add {
        email: String,
        #[arg(long, default_value = "manual", value_parser = clap::builder::PossibleValuesParser::new(crate::db::suppression::REASONS))]
        reason: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Remove an address (its leads keep their status)
    Remove { email: String },
    /// List suppressed addresses, newest first
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Import addresses: one per line (`#` comments) or a CSV with an email column
    Import {
        file: PathBuf,
        #[arg(long, default_value = "manual", value_parser = clap::builder::PossibleValuesParser::new(crate::db::suppression::REASONS))]
        reason: String,
    },
}

impl SuppressAction {
    pub fn name(&self) -> &'static str {
        match self {
            SuppressAction::Add { .. } => "suppress add",
            SuppressAction::Remove { .. } => "suppress remove",
            SuppressAction::List { .. } => "suppress list",
            SuppressAction::Import { .. } => "suppress import",
        }
    }

    pub fn read_only(&self) -> bool {
        matches!(self, SuppressAction::List { .. })
    }
}

/// Runs one `hoss suppress …` action and writes its report.
pub fn run(ctx: &Ctx, action: SuppressAction, out: &mut dyn Write, style: Style) -> Result<i32> {
    match action {
        SuppressAction::Add {
            email,
            reason,
            note,
        } => emit(out, &add(ctx, &email, &reason, note.as_deref())?, style),
        SuppressAction::Remove { email } => emit(out, &remove(ctx, &email)?, style),
        SuppressAction::List { page } => emit(out, &list(ctx, page.into())?, style),
        SuppressAction::Import { file, reason } => emit(out, &import(ctx, &file, &reason)?, style),
    }
}

fn address(text: &str) -> Result<String> {
    normalize_email(text)
        .ok_or_else(|| Error::Data(format!("{text:?} is not a valid e-mail address")))
}

#[derive(Debug, Serialize)]
pub struct Changed {
    pub email: String,
    pub changed: bool,
    pub leads_unsubscribed: usize,
}

impl Report for Changed {
    fn human(&self, _terminal: bool) -> String {
        match (self.changed, self.leads_unsubscribed) {
            (true, 0) => format!("{}: done\n", self.email),
            (true, n) => format!("{}: done ({n} lead(s) now unsubscribed)\n", self.email),
            (false, _) => format!("{}: nothing to change\n", self.email),
        }
    }
}

pub fn add(ctx: &Ctx, email: &str, reason: &str, note: Option<&str>) -> Result<Changed> {
    let email = address(email)?;
    let (changed, leads) = ctx
        .db()
        .immediate(|tx| Ok(suppression::add(tx, &email, reason, note, ctx.now())?))?;
    log::info!("[SUPPRESS][ADD] email={email} reason={reason} leads_unsubscribed={leads}");
    Ok(Changed {
        email,
        changed: changed || leads > 0,
        leads_unsubscribed: leads,
    })
}

pub fn remove(ctx: &Ctx, email: &str) -> Result<Changed> {
    let email = address(email)?;
    let changed = suppression::remove(ctx.db(), &email)?;
    if changed {
        log::info!("[SUPPRESS][REMOVE] email={email} (leads keep their status)");
    }
    Ok(Changed {
        email,
        changed,
        leads_unsubscribed: 0,
    })
}

impl Row for Entry {
    const HEADER: &'static [&'static str] = &["email", "reason", "since", "note"];
    const EMPTY: &'static str = "suppression list is empty\n";

    fn cells(&self) -> Vec<String> {
        vec![
            self.email.clone(),
            self.reason.clone(),
            self.created_at.to_string(),
            or_dash(self.note.as_ref()),
        ]
    }
}

pub type SuppressList = List<Entry>;

pub fn list(ctx: &Ctx, page: crate::db::Page) -> Result<SuppressList> {
    let listed = suppression::list(ctx.db(), page)?;
    Ok(List::page(listed, page))
}

#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub added: u64,
    pub already: u64,
    pub invalid: Vec<InvalidLine>,
}

#[derive(Debug, Serialize)]
pub struct InvalidLine {
    pub line: u64,
    pub text: String,
}

impl Report for ImportReport {
    fn human(&self, _terminal: bool) -> String {
        let mut s = String::new();
        for i in &self.invalid {
            s.push_str(&format!("line {}: not an address: {:?}\n", i.line, i.text));
        }
        s.push_str(&format!(
            "suppress import: added={} already={} invalid={}\n",
            self.added,
            self.already,
            self.invalid.len()
        ));
        s
    }
}

/// One address per line (`#` comments allowed), or a CSV whose header has
/// an `email` column.
pub fn import(ctx: &Ctx, path: &Path, reason: &str) -> Result<ImportReport> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Data(format!("cannot read {}: {e}", path.display())))?;
    let entries = parse_list(&text)?;
    // Counted inside: on PostgreSQL a retried transaction counts afresh.
    let report = ctx.db().immediate(|tx| {
        let mut report = ImportReport::default();
        for (line, raw) in &entries {
            match normalize_email(raw) {
                None => report.invalid.push(InvalidLine {
                    line: *line,
                    text: raw.chars().take(100).collect(),
                }),
                Some(email) => {
                    let (added, _) =
                        suppression::add(tx, &email, reason, Some("imported"), ctx.now())?;
                    if added {
                        report.added += 1
                    } else {
                        report.already += 1
                    }
                }
            }
        }
        Ok(report)
    })?;
    log::info!(
        "[SUPPRESS][IMPORT] file={:?} added={} already={} invalid={}",
        path.display().to_string(),
        report.added,
        report.already,
        report.invalid.len()
    );
    Ok(report)
}

/// (line number, address text) pairs from either file shape.
fn parse_list(text: &str) -> Result<Vec<(u64, String)>> {
    let text = text.trim_start_matches('\u{feff}');
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let is_csv = first.is_some_and(|l| {
        l.contains(',')
            && l.split(',')
                .any(|h| h.trim().trim_matches('"').eq_ignore_ascii_case("email"))
    });
    if !is_csv {
        return Ok(text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                (
                    i as u64 + 1,
                    l.split('#').next().unwrap_or_default().trim().to_string(),
                )
            })
            .filter(|(_, l)| !l.is_empty())
            .collect());
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let column = reader
        .headers()
        .map_err(|e| Error::Data(format!("cannot read the CSV header: {e}")))?
        .iter()
        .position(|h| h.eq_ignore_ascii_case("email"))
        .ok_or_else(|| Error::Data("the CSV header has no email column".into()))?;
    Ok(reader
        .records()
        .enumerate()
        .map(|(i, r)| {
            let value = r
                .ok()
                .and_then(|r| r.get(column).map(str::to_string))
                .unwrap_or_default();
            (i as u64 + 2, value)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_file_shapes_are_read() {
        let plain = super::parse_list("# bounces\na@b.com\n\n  C@D.com  # note\n").unwrap();
        assert_eq!(
            plain,
            vec![(2, "a@b.com".to_string()), (4, "C@D.com".to_string())]
        );
        let csv = super::parse_list("name,Email\nA,a@b.com\nB,\n").unwrap();
        assert_eq!(csv, vec![(2, "a@b.com".to_string()), (3, String::new())]);
    }
}
