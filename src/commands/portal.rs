//! `hoss portal-export`: the static customer portal, one page per customer
//! token (the same page `hoss serve` renders live, `render::portal`).

use std::path::{Path, PathBuf};

use log::{info, warn};
use serde::Serialize;

use crate::app::Ctx;
use crate::db::{self, customers, customers::Customer};
use crate::domain::token::is_plausible;
use crate::error::{Error, Result};
use crate::render::{self, Report};

#[derive(Debug, Serialize)]
pub struct ExportReport {
    pub dir: String,
    pub pages: usize,
    pub base_url: Option<String>,
    #[serde(skip)]
    urls: Vec<String>,
}

impl Report for ExportReport {
    fn human(&self, _terminal: bool) -> String {
        let mut s = format!(
            "portal-export: {} customer page(s) in {}\n",
            self.pages, self.dir
        );
        for u in &self.urls {
            s.push_str(u);
            s.push('\n');
        }
        s
    }
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    let message = format!("cannot {what} {}: {e}", path.display());
    match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::NotFound => {
            Error::Config(message)
        }
        _ => Error::Temporary(message),
    }
}

/// Writes the whole portal into a new version directory beside `out`, then
/// points `out` (a symlink) at it in one rename: readers see the old portal
/// or the new one, never half of one and never none. Pages of tokens that
/// no longer exist disappear with the old version.
pub fn export(ctx: &Ctx, out: Option<&Path>) -> Result<ExportReport> {
    let out: PathBuf = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| ctx.config.portal_dir.clone());
    let name = out
        .file_name()
        .ok_or_else(|| Error::Config(format!("portal directory {} has no name", out.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::Config(format!(
            "directory {} does not exist",
            parent.display()
        )));
    }
    let current = current_version(&out, &name)?;
    remove_leftovers(&parent, &name, current.as_deref());
    let made = customers::ensure_tokens(ctx.db())?;
    if made > 0 {
        info!("[PORTAL][TOKENS] generated={made}");
    }
    let pid = std::process::id();
    let stamp = crate::clock::system_nanos();
    let version = format!(".{name}.v-{stamp}-{pid}");
    let dir = parent.join(&version);
    let pages = build(ctx, &dir).inspect_err(|_| remove_tree(&dir))?;
    swap(&parent, &name, &version, &out)?;
    if let Some(previous) = current {
        remove_tree(&parent.join(previous));
    }
    let base = ctx.config.portal_base_url.clone();
    let urls = match &base {
        Some(b) => customers::list(ctx.db(), db::Page::ALL)?
            .rows
            .into_iter()
            .filter_map(|c| {
                c.public_token
                    .filter(|t| is_plausible(t))
                    .map(|t| format!("{b}/{t}/"))
            })
            .collect(),
        None => Vec::new(),
    };
    info!(
        "[PORTAL][EXPORTED] pages={pages} dir={:?}",
        out.display().to_string()
    );
    Ok(ExportReport {
        dir: out.display().to_string(),
        pages,
        base_url: base,
        urls,
    })
}

/// Removes a replaced portal, its page directories spread over the writer
/// threads (thousands of small removals are filesystem-bound too).
fn remove_tree(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    std::thread::scope(|scope| {
        for chunk in entries.chunks(entries.len().div_ceil(WRITERS).max(1)) {
            scope.spawn(move || {
                for path in chunk {
                    let _ = if path.is_dir() {
                        std::fs::remove_dir_all(path)
                    } else {
                        std::fs::remove_file(path)
                    };
                }
            });
        }
    });
    let _ = std::fs::remove_dir_all(dir);
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none())
}

/// The version directory `out` points at now, if any. `out` must be absent,
/// a link made by a previous export, or an empty directory; anything else
/// is refused rather than replaced.
fn current_version(out: &Path, name: &str) -> Result<Option<String>> {
    let refuse = || {
        Error::Config(format!(
            "refusing to replace {}: it was not made by hoss portal-export",
            out.display()
        ))
    };
    match std::fs::symlink_metadata(out) {
        Err(_) => Ok(None),
        Ok(meta) if meta.file_type().is_symlink() => {
            let target = std::fs::read_link(out).map_err(|e| io("read", out, e))?;
            let target = target.to_string_lossy().into_owned();
            if target.starts_with(&format!(".{name}.v-")) && !target.contains('/') {
                Ok(Some(target))
            } else {
                Err(refuse())
            }
        }
        Ok(meta) if meta.is_dir() && is_empty_dir(out) => Ok(None),
        Ok(_) => Err(refuse()),
    }
}

/// Points `out` at the new version in one step: a new symlink renamed over
/// the old one, so readers see the old portal or the new one, never a gap.
/// (Only an empty directory standing at `out` is first moved aside.)
fn swap(parent: &Path, name: &str, version: &str, out: &Path) -> Result<()> {
    let pid = std::process::id();
    let link = parent.join(format!(".{name}.link-{pid}"));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(version, &link).map_err(|e| io("create", &link, e))?;
    if std::fs::symlink_metadata(out).is_ok_and(|m| m.is_dir()) {
        let aside = parent.join(format!(".{name}.old-{pid}"));
        std::fs::rename(out, &aside).map_err(|e| io("move aside", out, e))?;
        remove_tree(&aside);
    }
    std::fs::rename(&link, out).map_err(|e| io("move into place", out, e))
}

/// Versions, links and moved-aside directories of runs whose process is
/// gone (a live export's work is left alone), except the current version.
fn remove_leftovers(parent: &Path, name: &str, current: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        if Some(file.as_str()) == current {
            continue;
        }
        let owner = [".v-", ".link-", ".old-", ".tmp-"]
            .iter()
            .find_map(|kind| file.strip_prefix(&format!(".{name}{kind}")))
            .and_then(|rest| rest.rsplit('-').next());
        if let Some(pid) = owner
            && !Path::new("/proc").join(pid).exists()
        {
            match e.file_type() {
                Ok(t) if t.is_dir() => remove_tree(&e.path()),
                _ => {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// Page files are written by a few threads: creating thousands of small
/// directories and files is filesystem-bound, and ext4 overlaps them well.
const WRITERS: usize = 4;

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| io("write", path, e))
}

fn build(ctx: &Ctx, dir: &Path) -> Result<usize> {
    std::fs::create_dir(dir).map_err(|e| io("create", dir, e))?;
    let not_found = render::portal::not_found()?;
    write_file(&dir.join("404.html"), &not_found)?;
    write_file(&dir.join("index.html"), &not_found)?;
    let (pages_tx, pages_rx) = std::sync::mpsc::sync_channel::<(PathBuf, String)>(64);
    let pages_rx = std::sync::Mutex::new(pages_rx);
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let next = pages_rx
                            .lock()
                            .map_err(|_| Error::Internal("writer lock".into()))?
                            .recv();
                        let Ok((page_dir, html)) = next else {
                            return Ok(());
                        };
                        std::fs::create_dir(&page_dir).map_err(|e| io("create", &page_dir, e))?;
                        write_file(&page_dir.join("index.html"), &html)?;
                    }
                })
            })
            .collect();
        let rendered = render_all(ctx, dir, &pages_tx);
        drop(pages_tx);
        let mut result = rendered;
        for w in writers {
            let written = w
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("a page writer failed".into())));
            if result.is_ok()
                && let Err(e) = written
            {
                result = Err(e);
            }
        }
        ctx.progress.done();
        result
    })
}

/// Renders every customer's page (streaming, 500 customers at a time) and
/// hands it to the writers.
fn render_all(
    ctx: &Ctx,
    dir: &Path,
    pages: &std::sync::mpsc::SyncSender<(PathBuf, String)>,
) -> Result<usize> {
    let mut count = 0;
    let mut after = 0;
    loop {
        let batch = customers::list_after(ctx.db(), after, 500)?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        let (usable, unusable): (Vec<Customer>, Vec<Customer>) = batch
            .into_iter()
            .partition(|c| c.public_token.as_deref().is_some_and(is_plausible));
        for _ in &unusable {
            warn!(
                "[PORTAL][SKIPPED] customer has an unusable token; rotate it with `hoss customer rotate-token`"
            );
        }
        let pages_of_batch =
            render::portal::customer_pages(ctx.db(), &ctx.config, &usable, ctx.now())?;
        for (customer, html) in usable.iter().zip(pages_of_batch) {
            let token = customer.public_token.as_deref().unwrap_or_default();
            if pages.send((dir.join(token), html)).is_err() {
                // A writer failed; its error is reported by the caller.
                return Ok(count);
            }
            count += 1;
            if count % 500 == 0 {
                ctx.progress.note(&format!("portal-export: {count} pages…"));
            }
        }
    }
    Ok(count)
}
