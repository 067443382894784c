//! `hoss sync-inbox`: one read-only pass over what came back (SPEC §13).
//!
//! With `INBOX_MODE=IMAP`: examine the folder, read what arrived since the
//! stored UID (or, first and after a new UIDVALIDITY, the last
//! `INBOX_LOOKBACK_DAYS`), headers in batches, bodies only where
//! classification needs them; attribute, classify, apply once. With email
//! effective SENDGRID: read SendGrid's suppression lists from their cursors.
//! Then the health check, which may pause outreach.

use std::time::Duration;

use log::{error, info, warn};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::app::Ctx;
use crate::commands::feedback::{self, Incoming, Outcome};
use crate::commands::health;
use crate::commands::mail::sender_problem_exit;
use crate::config::{EmailMode, ImapConfig, ImapSecret};
use crate::db::inbox::{self, FolderState};
use crate::domain::inbox::{Classified, Kind, classify, may_be_report};
use crate::domain::lead_csv::is_company_domain;
use crate::domain::sendgrid_events::SUPPRESSION_LISTS;
use crate::error::Result;
use crate::render::Report;
use crate::services::executor;
use crate::services::imap::{Account, ImapError, Session};
use crate::services::sendgrid_pull::{Client, PullError};

/// Most messages one pass reads; the next pass goes on from there.
const MAX_PER_PASS: usize = 500;
const BATCH: usize = 50;
const PULL_PAGE: u32 = 500;
const PULL_MAX_PAGES: u32 = 20;

#[derive(Debug, Default, Serialize)]
pub struct SyncReport {
    pub mode: &'static str,
    pub fetched: u32,
    pub replies: u32,
    pub auto_replies: u32,
    pub bounces_hard: u32,
    pub bounces_soft: u32,
    pub opt_outs: u32,
    pub complaints: u32,
    pub unmatched: u32,
    pub suppressed: u32,
    pub sendgrid_pulled: u32,
    /// Why a source could not be read: `config_error` (exit 78) or
    /// `unreachable` (exit 75).
    pub problem: Option<&'static str>,
}

impl Report for SyncReport {
    fn exit_code(&self) -> i32 {
        sender_problem_exit(self.problem)
    }

    fn human(&self, _terminal: bool) -> String {
        format!(
            "sync-inbox: mode={} fetched={} replies={} auto_replies={} bounces_hard={} bounces_soft={} opt_outs={} complaints={} unmatched={} suppressed={} sendgrid_pulled={}\n",
            self.mode,
            self.fetched,
            self.replies,
            self.auto_replies,
            self.bounces_hard,
            self.bounces_soft,
            self.opt_outs,
            self.complaints,
            self.unmatched,
            self.suppressed,
            self.sendgrid_pulled
        ) + &self
            .problem
            .map(|p| {
                format!("sync-inbox: stopped ({p}); nothing was lost, the next pass goes on\n")
            })
            .unwrap_or_default()
    }
}

impl SyncReport {
    fn count(&mut self, outcome: &Outcome, applied: &feedback::Applied) {
        self.suppressed += applied.suppressed;
        match outcome {
            Outcome::Reply => self.replies += 1,
            Outcome::AutoReply { .. } => self.auto_replies += 1,
            Outcome::HardBounce { .. } => self.bounces_hard += 1,
            Outcome::SoftBounce { .. } | Outcome::Blocked => self.bounces_soft += 1,
            Outcome::OptOut => self.opt_outs += 1,
            Outcome::Complaint => self.complaints += 1,
            Outcome::Unmatched => self.unmatched += 1,
        }
    }

    fn problem(&mut self, account: bool, line: String) {
        if account {
            error!("{line}");
            self.problem = Some("config_error");
        } else {
            warn!("{line}");
            self.problem.get_or_insert("unreachable");
        }
    }
}

pub fn run(ctx: &Ctx) -> Result<SyncReport> {
    let mut report = SyncReport {
        mode: ctx.config.inbox.mode.effective.as_str(),
        ..SyncReport::default()
    };
    if let Some(imap) = &ctx.config.inbox.imap {
        match imap_pass(ctx, imap, &mut report)? {
            Ok(()) => {}
            Err(ImapError::Account(e)) => {
                report.problem(true, format!("[INBOX][CONFIG_ERROR] {e}"))
            }
            Err(ImapError::Unreachable(e)) => {
                report.problem(false, format!("[INBOX][UNREACHABLE] {e}"))
            }
        }
    }
    let email = &ctx.config.email;
    if email.mode.effective == EmailMode::SendGrid
        && let Some(key) = &email.sendgrid_api_key
    {
        let client = Client::new(&email.sendgrid_api_base, key.expose());
        match sendgrid_pull(ctx, &client, &mut report)? {
            Ok(()) => {}
            Err(PullError::Account(e)) => {
                report.problem(true, format!("[EMAIL][CONFIG_ERROR] {e}"))
            }
            Err(PullError::Unreachable(e)) => {
                report.problem(false, format!("[EMAIL][UNREACHABLE] {e}"))
            }
        }
    }
    health::enforce(ctx)?;
    Ok(report)
}

/// The IMAP password: the setting, or the first line the command prints.
fn imap_secret(secret: &ImapSecret, timeout: Duration) -> std::result::Result<String, ImapError> {
    match secret {
        ImapSecret::Password(s) => Ok(s.expose().to_string()),
        ImapSecret::Command(cmd) => {
            let out = executor::shell(cmd, "IMAP_PASSWORD_CMD", &[], "", timeout)
                .map_err(|e| ImapError::Account(format!("IMAP_PASSWORD_CMD: {e}")))?;
            let first = out.lines().next().unwrap_or_default().trim().to_string();
            if first.is_empty() {
                return Err(ImapError::Account(
                    "IMAP_PASSWORD_CMD printed nothing".into(),
                ));
            }
            Ok(first)
        }
    }
}

/// `d-Mon-yyyy`, the date form of IMAP SEARCH.
fn imap_date(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .format("%-d-%b-%Y")
        .to_string()
}

fn imap_pass(
    ctx: &Ctx,
    imap: &ImapConfig,
    report: &mut SyncReport,
) -> Result<std::result::Result<(), ImapError>> {
    let timeout = Duration::from_secs(u64::from(imap.timeout_secs));
    let secret = match imap_secret(&imap.secret, timeout) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let account = Account {
        host: &imap.host,
        port: imap.port,
        tls: imap.tls,
        auth: imap.auth,
        username: &imap.username,
        secret: &secret,
        timeout,
    };
    let mut session = match Session::open(&account) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let result = read_folder(ctx, imap, &mut session, report);
    session.close();
    result
}

fn read_folder(
    ctx: &Ctx,
    imap: &ImapConfig,
    session: &mut Session,
    report: &mut SyncReport,
) -> Result<std::result::Result<(), ImapError>> {
    macro_rules! imap {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            }
        };
    }
    let now = ctx.now();
    let folder = imap!(session.examine(&imap.folder));
    let stored = inbox::folder_state(ctx.db(), &imap.folder)?;
    let last_uid = stored
        .filter(|s| s.uid_validity == folder.uid_validity)
        .map(|s| s.last_uid);
    if stored.is_some() && last_uid.is_none() {
        info!(
            "[INBOX][UIDVALIDITY] folder={:?} changed; reading the last {} days again (nothing is applied twice)",
            imap.folder, ctx.config.inbox.lookback_days
        );
    }
    let since = imap_date(now - i64::from(ctx.config.inbox.lookback_days) * 86_400);
    let mut uids = imap!(session.new_uids(last_uid, &since));
    uids.truncate(MAX_PER_PASS);
    let mut state = FolderState {
        uid_validity: folder.uid_validity,
        last_uid: last_uid.unwrap_or(0),
        last_sync_at: now,
    };
    if uids.is_empty() && last_uid.is_none() {
        // Nothing in the window: start after what is there now.
        state.last_uid = folder.uid_next.unwrap_or(1).saturating_sub(1);
    }
    for batch in uids.chunks(BATCH) {
        let heads = imap!(session.headers(batch));
        let mut need_body = Vec::new();
        for head in &heads {
            let key = source_key(&head.bytes);
            if inbox::seen(ctx.db(), &key)? {
                continue;
            }
            let at = head.internal_date.unwrap_or(now);
            let Ok(c) = classify(&head.bytes, at) else {
                apply(ctx, report, unmatched(now, key, None, String::new()))?;
                continue;
            };
            if attribute(ctx, &c)?.is_some() || may_be_report(&c, &head.bytes) {
                need_body.push(head.uid);
            } else {
                apply(ctx, report, unmatched(now, key, c.from, c.subject))?;
            }
        }
        for body in imap!(session.bodies(&need_body)) {
            let at = body.internal_date.unwrap_or(now);
            let key = match heads.iter().find(|h| h.uid == body.uid) {
                Some(h) => source_key(&h.bytes),
                None => continue,
            };
            let incoming = match classify(&body.bytes, at) {
                Ok(c) => incoming(ctx, now, key, c)?,
                Err(e) => unmatched(now, key, None, e),
            };
            apply(ctx, report, incoming)?;
        }
        report.fetched += heads.len() as u32;
        state.last_uid = state.last_uid.max(batch.iter().copied().max().unwrap_or(0));
        inbox::save_folder_state(ctx.db(), &imap.folder, state)?;
    }
    inbox::save_folder_state(ctx.db(), &imap.folder, state)?;
    Ok(Ok(()))
}

/// A message is remembered by its Message-ID, else by a hash of its headers.
fn source_key(headers: &[u8]) -> String {
    match classify(headers, 0).ok().and_then(|c| c.message_id) {
        Some(id) => format!("imap:{id}"),
        None => {
            let digest = Sha256::digest(headers);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("imap:sha256:{hex}")
        }
    }
}

fn unmatched(at: i64, key: String, from: Option<String>, subject: String) -> Incoming {
    Incoming {
        at,
        source: "imap",
        key,
        outcome: Outcome::Unmatched,
        lead_id: None,
        address: from.clone(),
        from,
        subject,
        detail: None,
    }
}

/// Whether `address` is one of hoss's own: the sender, the Reply-To (plus
/// tokens included), the operator's and the inbox's. Mail from these (the
/// operator's own follow-up, the digest) answers for no lead.
fn is_own_address(ctx: &Ctx, address: &str) -> bool {
    let email = &ctx.config.email;
    let strip_plus = |a: &str| match a.split_once('@') {
        Some((local, domain)) => {
            let local = local.split('+').next().unwrap_or(local);
            format!("{local}@{domain}").to_ascii_lowercase()
        }
        None => a.to_ascii_lowercase(),
    };
    let address = strip_plus(address);
    [
        Some(email.from_email.as_str()),
        Some(email.reply_to.as_str()),
        Some(email.operator_email.as_str()),
        ctx.config.inbox.imap.as_ref().map(|i| i.username.as_str()),
    ]
    .into_iter()
    .flatten()
    .any(|own| strip_plus(own) == address)
}

/// The lead a message answers, in SPEC §13's order: plus token, threading,
/// the lead's own address, its company domain. Mail from hoss's own
/// addresses answers for nobody.
fn attribute(ctx: &Ctx, c: &Classified) -> Result<Option<i64>> {
    if c.from.as_deref().is_some_and(|f| is_own_address(ctx, f)) {
        return Ok(None);
    }
    if ctx.config.inbox.reply_plus_token {
        for to in &c.to {
            let local = to.split('@').next().unwrap_or_default();
            if let Some(token) = local.split_once('+').and_then(|(_, t)| t.strip_prefix('h'))
                && let Some(id) = inbox::lead_by_reply_token(ctx.db(), token)?
            {
                return Ok(Some(id));
            }
        }
    }
    for id in &c.references {
        if let Some(lead) = inbox::lead_by_message_id(ctx.db(), id)? {
            return Ok(Some(lead));
        }
    }
    let Some(from) = &c.from else { return Ok(None) };
    if let Some(id) = inbox::lead_by_email(ctx.db(), from)? {
        return Ok(Some(id));
    }
    let domain = from.rsplit('@').next().unwrap_or_default();
    if !is_company_domain(domain) {
        return Ok(None);
    }
    Ok(inbox::lead_at_domain(ctx.db(), domain)?)
}

/// A classified message, attributed: bounces by the message they quote
/// (else the failed recipient), the rest by [`attribute`].
fn incoming(ctx: &Ctx, now: i64, key: String, c: Classified) -> Result<Incoming> {
    let (lead_id, address, outcome) = match &c.kind {
        Kind::Bounce(b) => {
            let mut lead = None;
            if let Some(id) = &b.original_message_id {
                lead = inbox::lead_by_message_id(ctx.db(), id)?;
            }
            if lead.is_none()
                && let Some(r) = &b.recipient
            {
                lead = inbox::lead_by_email(ctx.db(), r)?;
            }
            let status = b.status.clone();
            let outcome = if b.hard {
                Outcome::HardBounce { status }
            } else {
                Outcome::SoftBounce { status }
            };
            (lead, b.recipient.clone(), outcome)
        }
        kind => {
            let outcome = match kind {
                Kind::Complaint => Outcome::Complaint,
                Kind::AutoReply => Outcome::AutoReply { back_on: c.back_on },
                Kind::OptOut => Outcome::OptOut,
                _ => Outcome::Reply,
            };
            (attribute(ctx, &c)?, c.from.clone(), outcome)
        }
    };
    let detail = match &c.kind {
        Kind::Bounce(b) => b.diagnostic.clone(),
        _ => None,
    };
    Ok(Incoming {
        at: now,
        source: "imap",
        key,
        // Unattributed messages change nothing (SPEC §13).
        outcome: if lead_id.is_some() {
            outcome
        } else {
            Outcome::Unmatched
        },
        lead_id,
        address,
        from: c.from,
        subject: c.subject,
        detail,
    })
}

fn apply(ctx: &Ctx, report: &mut SyncReport, m: Incoming) -> Result<()> {
    if let Some(applied) = feedback::apply(ctx, &m)? {
        report.count(&m.outcome, &applied);
    }
    Ok(())
}

fn sendgrid_pull(
    ctx: &Ctx,
    client: &Client,
    report: &mut SyncReport,
) -> Result<std::result::Result<(), PullError>> {
    let now = ctx.now();
    let first = now - i64::from(ctx.config.inbox.lookback_days) * 86_400;
    for (list, effect) in SUPPRESSION_LISTS {
        let start = inbox::sendgrid_cursor(ctx.db(), list)?.unwrap_or(first);
        let mut newest = start;
        for page in 0..PULL_MAX_PAGES {
            let entries = match client.page(list, start, PULL_PAGE, page * PULL_PAGE) {
                Ok(e) => e,
                Err(e) => return Ok(Err(e)),
            };
            for e in &entries {
                newest = newest.max(e.created);
                let Some(outcome) = Outcome::of_sendgrid(effect) else {
                    continue;
                };
                let m = Incoming {
                    at: now,
                    source: "sendgrid_pull",
                    key: format!("sendgrid:{list}:{}:{}", e.email, e.created),
                    outcome,
                    lead_id: inbox::lead_by_email(ctx.db(), &e.email)?,
                    address: Some(e.email.clone()),
                    from: None,
                    subject: String::new(),
                    detail: e.reason.clone(),
                };
                if let Some(applied) = feedback::apply(ctx, &m)? {
                    report.sendgrid_pulled += 1;
                    report.count(&m.outcome, &applied);
                }
            }
            if (entries.len() as u32) < PULL_PAGE {
                break;
            }
        }
        inbox::set_sendgrid_cursor(ctx.db(), list, newest)?;
    }
    Ok(Ok(()))
}
