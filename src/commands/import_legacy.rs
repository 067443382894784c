//! `hoss import-legacy PATH [--dry-run]`: brings the Python HossAgent's
//! SQLite data across. Leads go through hoss's normalisation and dedupe;
//! customers keep their portal tokens, invoices their payment links (`sent`
//! becomes `open`); done work of customers with invoices is marked billed.
//!
//! Two transactions — leads, then customers with their tasks and invoices —
//! so a crash leaves each group all there or not at all. Old ids are kept
//! (`legacy_id`), so a second run imports nothing. `--dry-run` does all of
//! it and rolls back.

use std::collections::BTreeMap;
use std::path::Path;

use log::info;
use serde::Serialize;

use crate::app::Ctx;
use crate::db::legacy::{self, InvoiceRow, OldRow, TaskRow};
use crate::db::{self, customers, leads::Inserted};
use crate::domain::address::normalize_email;
use crate::domain::leads::{RawLead, clean_text, normalize};
use crate::domain::legacy as rules;
use crate::domain::status::{InvoiceStatus, LeadStatus, TaskStatus};
use crate::domain::token::{is_plausible, new_token};
use crate::error::{Error, Result};
use crate::money::Cents;
use crate::render::Report;

/// Longest list of reasons kept per table in the report.
const MAX_REASONS: usize = 200;

#[derive(Debug, Default, Serialize)]
pub struct TableReport {
    pub read: u64,
    pub imported: u64,
    pub deduped: u64,
    pub skipped: u64,
    /// Why rows were skipped, and what was changed on the way in.
    pub reasons: Vec<String>,
}

impl TableReport {
    fn note(&mut self, id: Option<i64>, text: impl Into<String>) {
        if self.reasons.len() < MAX_REASONS {
            let who = id.map_or("row".to_string(), |i| format!("id {i}"));
            self.reasons.push(format!("{who}: {}", text.into()));
        }
    }

    fn skip(&mut self, id: Option<i64>, reason: impl Into<String>) {
        self.skipped += 1;
        self.note(id, format!("skipped: {}", reason.into()));
    }
}

#[derive(Debug, Serialize)]
pub struct ImportReport {
    pub dry_run: bool,
    pub tables: BTreeMap<&'static str, TableReport>,
}

impl Report for ImportReport {
    fn human(&self, _terminal: bool) -> String {
        let mut s = format!(
            "import-legacy{}\n",
            if self.dry_run {
                " (dry run: nothing written)"
            } else {
                ""
            }
        );
        for (name, t) in &self.tables {
            s.push_str(&format!(
                "{name:<9} read {:>6}  imported {:>6}  deduped {:>6}  skipped {:>6}\n",
                t.read, t.imported, t.deduped, t.skipped
            ));
            for r in &t.reasons {
                s.push_str(&format!("    {r}\n"));
            }
        }
        s
    }
}

pub fn run(ctx: &Ctx, path: &Path, dry_run: bool) -> Result<ImportReport> {
    ctx.config.stripe.invoice_currency()?;
    let old = legacy::open_read_only(path)?;
    legacy::check_is_legacy(&old, path)?;
    let read = |table| {
        legacy::rows(&old, table)
            .map_err(|e| Error::Data(format!("{}: table {table}: {e}", path.display())))
    };
    let (old_leads, old_customers, old_tasks, old_invoices) = (
        read("lead")?,
        read("customer")?,
        read("task")?,
        read("invoice")?,
    );
    let mut tables = BTreeMap::new();

    // One transaction per group, kept (or, for a dry run, rolled back).
    // On PostgreSQL a transaction may run again: each starts its reports
    // afresh.
    let group = |f: &mut dyn FnMut(db::Db<'_>) -> Result<()>| -> Result<()> {
        if dry_run {
            ctx.db().rehearse(f)
        } else {
            ctx.db().immediate(f)
        }
    };

    let mut lead_report = TableReport::default();
    group(&mut |tx| {
        lead_report = TableReport::default();
        import_leads(ctx, tx, &old_leads, &mut lead_report)
    })?;
    tables.insert("lead", lead_report);

    let (mut c, mut t, mut i) = Default::default();
    group(&mut |tx| {
        (c, t, i) = Default::default();
        let map = import_customers(ctx, tx, &old_customers, &mut c)?;
        let new_tasks = import_tasks(ctx, tx, &old_tasks, &map, &mut t)?;
        import_invoices(ctx, tx, &old_invoices, &map, &mut i)?;
        let billed = legacy::mark_old_work_billed(tx, &new_tasks)?;
        if billed > 0 {
            t.note(
                None,
                format!("{billed} done task(s) marked billed by the old invoice made after them"),
            );
        }
        Ok(())
    })?;
    tables.insert("customer", c);
    tables.insert("task", t);
    tables.insert("invoice", i);

    let report = ImportReport { dry_run, tables };
    let summary: Vec<String> = report
        .tables
        .iter()
        .map(|(n, t)| format!("{n}={}/{}/{}/{}", t.read, t.imported, t.deduped, t.skipped))
        .collect();
    info!(
        "[IMPORT][LEGACY] file={:?} dry_run={dry_run} read/imported/deduped/skipped: {}",
        path.display().to_string(),
        summary.join(" ")
    );
    Ok(report)
}

fn import_leads(
    ctx: &Ctx,
    tx: db::Db<'_>,
    rows: &[OldRow],
    report: &mut TableReport,
) -> Result<()> {
    for row in rows {
        report.read += 1;
        let id = row.int("id");
        if let Some(old_id) = id
            && legacy::lead_imported(tx, old_id)?
        {
            report.deduped += 1;
            continue;
        }
        let raw = RawLead {
            name: row.text("name"),
            email: row.text("email"),
            company: row.text("company"),
            website: row.text("website"),
            niche: row.text("niche"),
        };
        let lead = match normalize(&raw) {
            Ok(l) => l,
            Err(reason) => {
                report.skip(id, reason);
                continue;
            }
        };
        let (status, note) = rules::lead_status(row.text("status").as_deref());
        if let Some(n) = note {
            report.note(id, n);
        }
        let source = row
            .text("source")
            .and_then(|s| clean_text(Some(&s)))
            .unwrap_or_else(|| "legacy".into());
        let created_at =
            rules::timestamp(row.text("created_at").as_deref()).unwrap_or_else(|| ctx.now());
        let contacted = rules::timestamp(row.text("last_contacted_at").as_deref());
        if status == LeadStatus::Unsubscribed {
            // They asked the old app to stop: hoss never emails them either.
            db::suppression::add(
                tx,
                &lead.email,
                "unsubscribe",
                Some("imported from HossAgent"),
                ctx.now(),
            )?;
        }
        match db::leads::insert_as(tx, &lead, &source, status, created_at, contacted, id)? {
            Inserted::Created(_) => report.imported += 1,
            Inserted::Deduped { existing_id, by } => {
                report.deduped += 1;
                report.note(id, format!("deduped: matches lead {existing_id} by {by}"));
            }
        }
    }
    Ok(())
}

/// Imports customers; returns old id → hoss id for their tasks and invoices.
fn import_customers(
    ctx: &Ctx,
    tx: db::Db<'_>,
    rows: &[OldRow],
    report: &mut TableReport,
) -> Result<BTreeMap<i64, i64>> {
    let mut map = BTreeMap::new();
    for row in rows {
        report.read += 1;
        let Some(old_id) = row.int("id") else {
            report.skip(None, "no id");
            continue;
        };
        if let Some(existing) = legacy::customer_by_legacy(tx, old_id)? {
            report.deduped += 1;
            map.insert(old_id, existing);
            continue;
        }
        let Some(email) = row.text("contact_email").and_then(|e| normalize_email(&e)) else {
            report.skip(Some(old_id), "no valid contact_email (never invented)");
            continue;
        };
        if let Some(existing) = customers::by_email(tx, &email)? {
            legacy::adopt_customer(tx, existing.id, old_id)?;
            report.deduped += 1;
            report.note(
                Some(old_id),
                format!("deduped: same email as customer {}", existing.id),
            );
            map.insert(old_id, existing.id);
            continue;
        }
        let token = match row.text("public_token").map(|t| t.trim().to_string()) {
            Some(t) if is_plausible(&t) && !legacy::token_taken(tx, &t)? => t,
            Some(_) => {
                report.note(Some(old_id), "portal token unusable or taken; a new one was generated (the old link stops working)");
                new_token().map_err(Error::Internal)?
            }
            None => {
                report.note(Some(old_id), "no portal token; a new one was generated");
                new_token().map_err(Error::Internal)?
            }
        };
        let company = row
            .text("company")
            .and_then(|c| clean_text(Some(&c)))
            .unwrap_or_else(|| email.clone());
        let status = rules::customer_status(row.text("status").as_deref());
        let created_at =
            rules::timestamp(row.text("created_at").as_deref()).unwrap_or_else(|| ctx.now());
        let id = legacy::insert_customer(tx, old_id, &company, &email, status, &token, created_at)?;
        report.imported += 1;
        map.insert(old_id, id);
    }
    Ok(map)
}

/// The parts every old task and invoice row needs.
struct Owned {
    old_id: i64,
    customer_id: i64,
    amount_cents: Cents,
}

/// Reads a task's or invoice's id, hoss customer and amount; `None` when the
/// row was imported before (deduped) or cannot be (skipped, with the reason).
fn owned(
    tx: db::Db<'_>,
    row: &OldRow,
    customers: &BTreeMap<i64, i64>,
    report: &mut TableReport,
    imported: fn(db::Db<'_>, i64) -> db::StoreResult<bool>,
    amount_column: &str,
    currency: &str,
) -> Result<Option<Owned>> {
    report.read += 1;
    let Some(old_id) = row.int("id") else {
        report.skip(None, "no id");
        return Ok(None);
    };
    if imported(tx, old_id)? {
        report.deduped += 1;
        return Ok(None);
    }
    let Some(&customer_id) = row.int("customer_id").and_then(|c| customers.get(&c)) else {
        report.skip(
            Some(old_id),
            match row.int("customer_id") {
                Some(id) => format!("its customer {id} was not imported"),
                None => "it names no customer".to_string(),
            },
        );
        return Ok(None);
    };
    match rules::amount(row.int(amount_column), amount_column, currency) {
        Ok(amount_cents) => Ok(Some(Owned {
            old_id,
            customer_id,
            amount_cents,
        })),
        Err(e) => {
            report.skip(Some(old_id), e);
            Ok(None)
        }
    }
}

fn import_tasks(
    ctx: &Ctx,
    tx: db::Db<'_>,
    rows: &[OldRow],
    customers: &BTreeMap<i64, i64>,
    report: &mut TableReport,
) -> Result<Vec<i64>> {
    let mut inserted = Vec::new();
    for row in rows {
        let Some(Owned {
            old_id,
            customer_id,
            amount_cents,
        }) = owned(
            tx,
            row,
            customers,
            report,
            legacy::task_imported,
            "reward_cents",
            &ctx.config.stripe.currency,
        )?
        else {
            continue;
        };
        let (status, note) = match rules::task_status(row.text("status").as_deref()) {
            Ok(s) => s,
            Err(e) => {
                report.skip(Some(old_id), e);
                continue;
            }
        };
        if let Some(n) = note {
            report.note(Some(old_id), n);
        }
        let description = row
            .text("description")
            .and_then(|d| clean_text(Some(&d)))
            .unwrap_or_else(|| "(no description)".into());
        let summary = row.text("result_summary");
        let created_at =
            rules::timestamp(row.text("created_at").as_deref()).unwrap_or_else(|| ctx.now());
        let completed_at = rules::timestamp(row.text("completed_at").as_deref()).or_else(|| {
            matches!(status, TaskStatus::Done | TaskStatus::Failed).then_some(created_at)
        });
        let id = legacy::insert_task(
            tx,
            &TaskRow {
                legacy_id: old_id,
                customer_id,
                description: &description,
                status,
                amount_cents,
                cost_cents: row.int("cost_cents").filter(|c| *c >= 0).map(Cents),
                result_summary: summary.as_deref(),
                created_at,
                completed_at: completed_at.filter(|_| status != TaskStatus::Pending),
            },
        )?;
        inserted.push(id);
        report.imported += 1;
    }
    Ok(inserted)
}

fn import_invoices(
    ctx: &Ctx,
    tx: db::Db<'_>,
    rows: &[OldRow],
    customers: &BTreeMap<i64, i64>,
    report: &mut TableReport,
) -> Result<()> {
    for row in rows {
        let Some(Owned {
            old_id,
            customer_id,
            amount_cents,
        }) = owned(
            tx,
            row,
            customers,
            report,
            legacy::invoice_imported,
            "amount_cents",
            &ctx.config.stripe.currency,
        )?
        else {
            continue;
        };
        let status = match rules::invoice_status(row.text("status").as_deref()) {
            Ok(s) => s,
            Err(e) => {
                report.skip(Some(old_id), e);
                continue;
            }
        };
        let created_at =
            rules::timestamp(row.text("created_at").as_deref()).unwrap_or_else(|| ctx.now());
        let paid_at = (status == InvoiceStatus::Paid)
            .then(|| rules::timestamp(row.text("paid_at").as_deref()).unwrap_or(created_at));
        let payment_url = row.text("payment_url").map(|u| u.trim().to_string());
        let link_id = row
            .text("stripe_payment_id")
            .map(|l| l.trim().to_string())
            .filter(|l| {
                l.starts_with("plink_") && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
        if link_id.is_some()
            && db::invoices::by_link(tx, link_id.as_deref().unwrap_or_default())?.is_some()
        {
            report.skip(
                Some(old_id),
                "its payment link already belongs to another invoice",
            );
            continue;
        }
        legacy::insert_invoice(
            tx,
            &InvoiceRow {
                legacy_id: old_id,
                customer_id,
                amount_cents,
                currency: &ctx.config.stripe.currency,
                status,
                payment_url: payment_url.as_deref(),
                link_id: link_id.as_deref(),
                created_at,
                paid_at,
            },
        )?;
        report.imported += 1;
    }
    Ok(())
}
