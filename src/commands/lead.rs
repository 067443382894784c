//! `hoss lead add|import|list|show|set-status`: the operator's hands on leads.
//! Added and imported leads go through the same normalisation and dedupe as
//! sourced ones.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use log::info;
use serde::Serialize;

use crate::app::Ctx;
use crate::cli::PageArgs;
use crate::commands::records::find_lead;
use crate::db::{self, leads::Inserted, leads::Lead};
use crate::domain::lead_csv::{
    self, Column, CompanyFrom, CsvRow, RowLead, RowProblem, delimiter_name,
};
use crate::domain::leads::{RawLead, normalize};
use crate::domain::status::LeadStatus;
use crate::error::{Error, Result};
use crate::render::list::{List, Row};
use crate::render::{Report, Style, emit, or_dash};

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
    },
    /// Import a CSV with a header row: name,email,company,website,niche (any order)
    Import { file: PathBuf },
    /// List leads by id
    List {
        /// Only leads with this status
        #[arg(long)]
        status: Option<LeadStatus>,
        /// Only leads whose email, name or company contains this text
        #[arg(long)]
        search: Option<String>,
        /// At most this many
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one lead
    Show {
        /// Lead id or e-mail address
        lead: String,
    },
    /// Set a lead's status (`set-status LEAD STATUS`; e.g. `responded` when they
    /// replied, `new` to re-queue), or every lead in one status
    /// (`set-status --where-status S STATUS --yes`)
    SetStatus {
        /// LEAD (id or e-mail address) and STATUS, or only STATUS with --where-status
        #[arg(num_args = 1..=2, value_names = ["LEAD", "STATUS"], required = true)]
        args: Vec<String>,
        /// Every lead now in this status
        #[arg(long)]
        where_status: Option<LeadStatus>,
        /// With --where-status: really change them (without it: only count)
        #[arg(long)]
        yes: bool,
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
    },
    /// Set the lead's own IANA time zone for its send window (`none` clears it)
    SetTimezone {
        /// Lead id or e-mail address
        lead: String,
        /// e.g. America/New_York, Europe/Berlin, or `none`
        timezone: String,
    },
}

impl LeadAction {
    pub fn name(&self) -> &'static str {
        match self {
            LeadAction::Add { .. } => "lead add",
            LeadAction::Import { .. } => "lead import",
            LeadAction::List { .. } => "lead list",
            LeadAction::Show { .. } => "lead show",
            LeadAction::SetStatus { .. } => "lead set-status",
            LeadAction::Edit { .. } => "lead edit",
            LeadAction::SetTimezone { .. } => "lead set-timezone",
        }
    }

    pub fn read_only(&self) -> bool {
        matches!(self, LeadAction::List { .. } | LeadAction::Show { .. })
    }
}

/// Runs one `hoss lead …` action and writes its report.
pub fn run(ctx: &Ctx, action: LeadAction, out: &mut dyn Write, style: Style) -> Result<i32> {
    match action {
        LeadAction::Add {
            email,
            company,
            name,
            website,
            niche,
        } => {
            let raw = RawLead {
                name,
                email: Some(email),
                company: Some(company),
                website,
                niche,
            };
            emit(out, &add(ctx, raw)?, style)
        }
        LeadAction::Import { file } => emit(out, &import(ctx, &file)?, style),
        LeadAction::List {
            status,
            search,
            page,
        } => {
            let leads = list(ctx, status, search.as_deref(), page.into())?;
            emit(out, &leads, style)
        }
        LeadAction::Show { lead } => emit(out, &show(ctx, &lead)?, style),
        LeadAction::SetStatus {
            args,
            where_status,
            yes,
        } => match (where_status, args.as_slice()) {
            (Some(from), [to]) => emit(out, &set_status_where(ctx, from, to, yes)?, style),
            (None, [key, status]) => emit(out, &set_status(ctx, key, status)?, style),
            _ => Err(Error::Usage(
                "use `lead set-status LEAD STATUS` or `lead set-status --where-status S STATUS --yes`".into(),
            )),
        },
        LeadAction::Edit {
            lead,
            name,
            company,
            website,
            niche,
        } => {
            let fields = Edit {
                name,
                company,
                website,
                niche,
            };
            emit(out, &edit(ctx, &lead, fields)?, style)
        }
        LeadAction::SetTimezone { lead, timezone } => {
            emit(out, &set_timezone(ctx, &lead, &timezone)?, style)
        }
    }
}

/// `lead set-timezone`: the send window of this lead follows its own zone.
pub fn set_timezone(ctx: &Ctx, key: &str, name: &str) -> Result<LeadShow> {
    let lead = find_lead(ctx, key)?;
    let zone = match name.trim() {
        "" | "none" | "NONE" => None,
        text => Some(
            crate::domain::schedule::parse_tz(text)
                .map_err(|e| Error::Usage(format!("timezone {e}")))?
                .name()
                .to_string(),
        ),
    };
    ctx.db()
        .immediate(|tx| Ok(db::sequences::set_timezone(tx, lead.id, zone.as_deref())?))?;
    info!(
        "[LEADS][TIMEZONE] lead_id={} timezone={}",
        lead.id,
        zone.as_deref().unwrap_or("none (SEND_TIMEZONE)")
    );
    show(ctx, &lead.id.to_string())
}

impl Row for Lead {
    const HEADER: &'static [&'static str] =
        &["id", "status", "email", "company", "name", "created"];
    const EMPTY: &'static str = "no leads\n";

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.status.to_string(),
            self.email.clone(),
            self.company.clone(),
            or_dash(self.name.as_ref()),
            // The day is enough in a list; `lead show` has the time.
            self.created_at.day(),
        ]
    }
}

pub type LeadList = List<Lead>;

pub fn list(
    ctx: &Ctx,
    status: Option<LeadStatus>,
    search: Option<&str>,
    page: db::Page,
) -> Result<LeadList> {
    let listed = db::leads::list(ctx.db(), status, search, page)?;
    Ok(List::page(listed, page))
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct LeadShow(pub Lead);

impl Report for LeadShow {
    fn human(&self, _terminal: bool) -> String {
        let l = &self.0;
        let role = if l.role {
            " (role account: not emailed unless SEND_TO_ROLE_ACCOUNTS=TRUE)"
        } else {
            ""
        };
        format!(
            "lead {}\n  status:    {}{}\n  email:     {}{role}\n  name:      {}\n  company:   {}\n  domain:    {}\n  website:   {}\n  niche:     {}\n  source:    {}\n  created:   {}\n  contacted: {}\n",
            l.id,
            l.status,
            l.status_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            l.email,
            or_dash(l.name.as_ref()),
            l.company,
            l.domain,
            or_dash(l.website.as_ref()),
            or_dash(l.niche.as_ref()),
            l.source,
            l.created_at,
            or_dash(l.last_contacted_at.as_ref()),
        )
    }
}

pub fn show(ctx: &Ctx, key: &str) -> Result<LeadShow> {
    Ok(LeadShow(find_lead(ctx, key)?))
}

/// The status an operator names, if it may be set by hand (`converted`
/// belongs to `onboard`).
fn settable(word: &str) -> Result<LeadStatus> {
    match word.parse::<LeadStatus>() {
        Ok(status) if status.settable_by_hand() => Ok(status),
        _ => {
            let settable: Vec<&str> = LeadStatus::ALL
                .iter()
                .filter(|s| s.settable_by_hand())
                .map(|s| s.as_str())
                .collect();
            Err(Error::Usage(format!(
                "status {word:?} cannot be set by hand (one of: {})",
                settable.join(", ")
            )))
        }
    }
}

/// One lead to `status` inside the caller's transaction, with what the new
/// status implies: `new` re-queues only a lead never emailed, `unsubscribed`
/// also suppresses the address.
fn apply_status(ctx: &Ctx, tx: db::Db<'_>, lead: &Lead, status: LeadStatus) -> Result<()> {
    let id = lead.id;
    if status == LeadStatus::New {
        db::outbox::release_for_requeue(tx, id)?;
        // The operator vouches for the address: a remembered "no mail
        // route" would otherwise make it invalid again, unasked, for up to
        // 7 days (SPEC §15). DNS is asked again before the next real send.
        db::routes::forget_refusal(tx, crate::domain::address::email_domain(&lead.email))?;
    }
    if status == LeadStatus::Unsubscribed {
        db::suppression::add(
            tx,
            &lead.email,
            "manual",
            Some("lead set unsubscribed"),
            ctx.now(),
        )?;
    }
    db::leads::set_status(tx, id, status, Some("set by operator")).map_err(|e| {
        if db::leads::is_constraint_violation(&e) {
            Error::Data(format!(
                "lead {id} cannot become {status}: another active lead has the same email or company and domain"
            ))
        } else {
            e.into()
        }
    })?;
    // The operator decided: no further step goes out on its own (a lead
    // set back to `contacted` is not restarted either).
    db::sequences::stop(tx, id, &format!("operator set {status}"), ctx.now())?;
    Ok(())
}

pub fn set_status(ctx: &Ctx, key: &str, status: &str) -> Result<LeadShow> {
    let status = settable(status)?;
    let before = find_lead(ctx, key)?;
    let id = before.id;
    ctx.db()
        .immediate(|tx| apply_status(ctx, tx, &before, status))?;
    log::info!(
        "[LEADS][STATUS] lead_id={id} from={} to={status} by=operator",
        before.status
    );
    show(ctx, &id.to_string())
}

/// `lead set-status --where-status FROM TO [--yes]`.
#[derive(Debug, Serialize)]
pub struct BulkStatusReport {
    pub from: LeadStatus,
    pub to: LeadStatus,
    /// Without `--yes` nothing changes: the report says what would.
    pub dry_run: bool,
    pub matched: u64,
    pub changed: u64,
    /// Leads that could not move, with why (the first 20).
    pub skipped: Vec<Skipped>,
    pub skipped_total: u64,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub lead_id: i64,
    pub reason: String,
}

impl Report for BulkStatusReport {
    fn human(&self, _terminal: bool) -> String {
        let mut s = if self.dry_run {
            format!(
                "{} lead(s) are {}; run again with --yes to set them {}\n",
                self.matched, self.from, self.to
            )
        } else {
            format!(
                "{} of {} {} lead(s) set {}\n",
                self.changed, self.matched, self.from, self.to
            )
        };
        for k in &self.skipped {
            s.push_str(&format!("  lead {} skipped: {}\n", k.lead_id, k.reason));
        }
        if self.skipped_total > self.skipped.len() as u64 {
            s.push_str(&format!(
                "  … and {} more skipped\n",
                self.skipped_total - self.skipped.len() as u64
            ));
        }
        s
    }
}

/// Every lead in status `from` to `to`, each by the rules of [`set_status`];
/// one that cannot move is skipped with its reason, the others go on.
pub fn set_status_where(
    ctx: &Ctx,
    from: LeadStatus,
    to: &str,
    yes: bool,
) -> Result<BulkStatusReport> {
    let to = settable(to)?;
    let ids = db::leads::ids_with_status(ctx.db(), from)?;
    let mut report = BulkStatusReport {
        from,
        to,
        dry_run: !yes,
        matched: ids.len() as u64,
        changed: 0,
        skipped: Vec::new(),
        skipped_total: 0,
    };
    if !yes || from == to {
        return Ok(report);
    }
    for chunk in ids.chunks(500) {
        // Counted after the commit: on PostgreSQL the closure may run again.
        let (changed, skipped) = ctx.db().immediate(|tx| {
            let (mut changed, mut skipped) = (0, Vec::new());
            for id in chunk {
                let Some(lead) = db::leads::get(tx, *id)?.filter(|l| l.status == from) else {
                    continue;
                };
                match tx.savepoint(|tx| apply_status(ctx, tx, &lead, to)) {
                    Ok(()) => changed += 1,
                    Err(Error::Data(reason)) => {
                        skipped.push(Skipped {
                            lead_id: *id,
                            reason,
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok((changed, skipped))
        })?;
        report.changed += changed;
        report.skipped_total += skipped.len() as u64;
        let room = 20usize.saturating_sub(report.skipped.len());
        report.skipped.extend(skipped.into_iter().take(room));
    }
    log::info!(
        "[LEADS][STATUS] from={from} to={to} changed={} skipped={} by=operator",
        report.changed,
        report.skipped_total
    );
    Ok(report)
}

/// What `lead edit` may change; `Some("")` clears a field.
#[derive(Debug, Default)]
pub struct Edit {
    pub name: Option<String>,
    pub company: Option<String>,
    pub website: Option<String>,
    pub niche: Option<String>,
}

/// Changes a lead's fields, normalised like a new lead (the company key
/// and domain follow), never its address.
pub fn edit(ctx: &Ctx, key: &str, edit: Edit) -> Result<LeadShow> {
    if edit.name.is_none()
        && edit.company.is_none()
        && edit.website.is_none()
        && edit.niche.is_none()
    {
        return Err(Error::Usage(
            "nothing to change: give --name, --company, --website or --niche".into(),
        ));
    }
    let before = find_lead(ctx, key)?;
    let raw = RawLead {
        name: edit.name.or(before.name),
        email: Some(before.email),
        company: edit.company.or(Some(before.company)),
        website: edit.website.or(before.website),
        niche: edit.niche.or(before.niche),
    };
    let lead = normalize(&raw).map_err(Error::Data)?;
    if lead.company.is_empty() {
        return Err(Error::Data("a lead needs a company name".into()));
    }
    let id = before.id;
    ctx.db().immediate(|tx| {
        db::leads::update_fields(tx, id, &lead).map_err(|e| {
            if db::leads::is_constraint_violation(&e) {
                Error::Data(format!(
                    "lead {id} cannot take company {:?} at {}: another active lead has that company and domain",
                    lead.company, lead.domain
                ))
            } else {
                e.into()
            }
        })?;
        Ok(())
    })?;
    log::info!("[LEADS][EDITED] lead_id={id} by=operator");
    show(ctx, &id.to_string())
}

#[derive(Debug, Serialize)]
pub struct AddReport {
    pub outcome: &'static str,
    pub lead_id: i64,
    pub by: Option<&'static str>,
}

impl Report for AddReport {
    fn human(&self, _terminal: bool) -> String {
        match self.by {
            None => format!("created lead {}\n", self.lead_id),
            Some(by) => format!("not added: lead {} already matches by {by}\n", self.lead_id),
        }
    }
}

pub fn add(ctx: &Ctx, raw: RawLead) -> Result<AddReport> {
    let lead = normalize(&raw).map_err(Error::Data)?;
    let inserted = ctx
        .db()
        .immediate(|tx| Ok(db::leads::insert(tx, &lead, "manual", ctx.now())?))?;
    Ok(match inserted {
        Inserted::Created(id) => {
            log::info!("[LEADS][CREATED] lead_id={id} source=manual");
            AddReport {
                outcome: "created",
                lead_id: id,
                by: None,
            }
        }
        Inserted::Deduped { existing_id, by } => {
            log::info!("[LEADS][DEDUPED] existing_id={existing_id} by={by} source=manual");
            AddReport {
                outcome: "deduped",
                lead_id: existing_id,
                by: Some(by),
            }
        }
    })
}

/// What happened to one CSV row (row 1 is the header).
#[derive(Debug, Serialize)]
pub struct RowOutcome {
    pub row: u64,
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<&'static str>,
    /// Why the row was not imported (every outcome but `created`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Set when the row named no company and hoss read one from the
    /// website's or the email's domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_from: Option<CompanyFrom>,
}

#[derive(Debug, Serialize, Default)]
pub struct ImportReport {
    pub created: u64,
    pub deduped: u64,
    pub invalid: u64,
    pub malformed: u64,
    pub rows: Vec<RowOutcome>,
    /// The separator read from the header line: `,`, `;` or a tab.
    pub delimiter: String,
    /// Every header cell and the hoss field it feeds (`null`: ignored).
    pub columns: Vec<Column>,
}

impl Report for ImportReport {
    fn human(&self, _terminal: bool) -> String {
        let mut s = String::new();
        let mapped: Vec<String> = self
            .columns
            .iter()
            .filter_map(|c| Some(format!("{:?} → {}", c.header, c.field?.as_str())))
            .collect();
        let ignored: Vec<String> = self
            .columns
            .iter()
            .filter(|c| c.field.is_none())
            .map(|c| format!("{:?}", c.header))
            .collect();
        s.push_str(&format!(
            "columns ({} separated): {}\n",
            delimiter_name(self.delimiter.as_bytes().first().copied().unwrap_or(b',')),
            mapped.join(", ")
        ));
        if !ignored.is_empty() {
            s.push_str(&format!("ignored columns: {}\n", ignored.join(", ")));
        }
        for r in &self.rows {
            let detail = match (r.outcome, &r.reason, r.company_from) {
                ("created", _, Some(from)) => format!(
                    "(lead {}; company read from the {} domain)",
                    r.lead_id.unwrap_or_default(),
                    match from {
                        CompanyFrom::Website => "website's",
                        CompanyFrom::Email => "email's",
                    }
                ),
                ("created", _, None) => continue,
                (_, Some(reason), _) => reason.clone(),
                _ => String::new(),
            };
            s.push_str(&format!("row {}: {} {detail}\n", r.row, r.outcome));
        }
        s.push_str(&format!(
            "import: created={} deduped={} invalid={} malformed={}\n",
            self.created, self.deduped, self.invalid, self.malformed
        ));
        s
    }
}

/// Imports a lead CSV: hoss's own `name,email,company,website,niche` or an
/// Apollo/Hunter/LinkedIn-style export, comma, semicolon or tab separated
/// (see [`crate::domain::lead_csv`]; an email column is required). A bad
/// row is reported with its reason and skipped; the rest are imported in one
/// transaction, so an unreadable file imports nothing.
pub fn import(ctx: &Ctx, path: &Path) -> Result<ImportReport> {
    // The whole file is read first: a file that cannot be read imports
    // nothing, and the parser stays free of I/O.
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Data(format!("cannot read {}: {e}", path.display())))?;
    let csv =
        lead_csv::read(&bytes).map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
    let mut report = ImportReport {
        delimiter: char::from(csv.delimiter).to_string(),
        columns: csv.columns.clone(),
        ..ImportReport::default()
    };
    // The rows are read whole first: the transaction may run again on
    // PostgreSQL (a serialization failure), so it works over borrowed rows
    // and hands back their outcomes, counted once it has committed.
    let rows: Vec<CsvRow> = csv.collect();
    let now = ctx.now();
    let outcomes = ctx.db().immediate(|tx| {
        let mut outcomes = Vec::with_capacity(rows.len());
        for CsvRow { row, lead } in &rows {
            let row = *row;
            let outcome = match lead {
                Err(RowProblem::Malformed(reason)) => {
                    RowOutcome::problem(row, "malformed", reason.clone())
                }
                Err(RowProblem::Invalid(reason)) => {
                    RowOutcome::problem(row, "invalid", reason.clone())
                }
                Ok(RowLead {
                    raw,
                    company_from,
                    timezone,
                }) => match normalize(raw) {
                    Err(reason) => RowOutcome::problem(row, "invalid", reason),
                    Ok(lead) => match db::leads::insert(tx, &lead, "import", now)? {
                        Inserted::Created(id) => {
                            if let Some(tz) = timezone {
                                db::sequences::set_timezone(tx, id, Some(tz.as_str()))?;
                            }
                            RowOutcome {
                                row,
                                outcome: "created",
                                lead_id: Some(id),
                                by: None,
                                reason: None,
                                company_from: *company_from,
                            }
                        }
                        Inserted::Deduped { existing_id, by } => RowOutcome {
                            row,
                            outcome: "deduped",
                            lead_id: Some(existing_id),
                            by: Some(by),
                            reason: Some(format!("matches lead {existing_id} by {by}")),
                            company_from: *company_from,
                        },
                    },
                },
            };
            if row.is_multiple_of(1000) {
                ctx.progress.note(&format!("importing: row {row}…"));
            }
            outcomes.push(outcome);
        }
        Ok(outcomes)
    })?;
    for outcome in outcomes {
        match outcome.outcome {
            "created" => report.created += 1,
            "deduped" => report.deduped += 1,
            "invalid" => report.invalid += 1,
            _ => report.malformed += 1,
        }
        report.rows.push(outcome);
    }
    ctx.progress.done();
    log::info!(
        "[LEADS][IMPORT] file={:?} created={} deduped={} invalid={} malformed={}",
        path.display().to_string(),
        report.created,
        report.deduped,
        report.invalid,
        report.malformed
    );
    Ok(report)
}

impl RowOutcome {
    fn problem(row: u64, outcome: &'static str, reason: String) -> RowOutcome {
        RowOutcome {
            row,
            outcome,
            lead_id: None,
            by: None,
            reason: Some(reason),
            company_from: None,
        }
    }
}
