//! Template packs as settings name them: `BIZDEV_NICHE_TEMPLATE` picks a
//! pack, read from `TEMPLATES_DIR` at run time or built in.

use std::path::{Path, PathBuf};

use super::keys::{Raw, quote_value};
use crate::domain::templates::{self, Pack};

const DEFAULT_TEMPLATES_DIR: &str = "config/templates";
const TEMPLATES_DIR_PREFIX: &str = "TEMPLATES_DIR ";

/// The pack name, the folder and the pack (or why it cannot be used).
pub(super) fn resolve_pack(raw: &Raw) -> (String, PathBuf, std::result::Result<Pack, String>) {
    let niche_template = raw
        .string("BIZDEV_NICHE_TEMPLATE", "general")
        .to_ascii_lowercase();
    let templates_dir = PathBuf::from(raw.string("TEMPLATES_DIR", DEFAULT_TEMPLATES_DIR));
    // A TEMPLATES_DIR the operator named (other than the default, which is
    // optional) but that is not there (a typo, a
    // deploy that forgot it) must not quietly swap their packs for the
    // built-in text: email falls back and `check` names it.
    let named = raw
        .get("TEMPLATES_DIR")
        .is_some_and(|d| Path::new(d) != Path::new(DEFAULT_TEMPLATES_DIR));
    let pack = if named && !templates_dir.is_dir() {
        Err(format!(
            "{TEMPLATES_DIR_PREFIX}{} is not a folder; its packs would be replaced by the built-in ones",
            quote_value(&templates_dir.display().to_string())
        ))
    } else {
        load_pack(&niche_template, &templates_dir)
    };
    (niche_template, templates_dir, pack)
}

/// The pack called `name`: `TEMPLATES_DIR/<name>.toml` when that file
/// exists (read now, at run time), else the built-in one; checked either way.
pub fn load_pack(name: &str, dir: &Path) -> std::result::Result<Pack, String> {
    let file = dir.join(format!("{name}.toml"));
    if file.is_file() {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        return templates::parse(name, &file.display().to_string(), &text);
    }
    match templates::builtin(name) {
        Some(_) => templates::builtin_pack(name),
        None => Err(format!(
            "no template pack named {} (built in: {}; or add {})",
            quote_value(name),
            templates::BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
            file.display()
        )),
    }
}

/// The reason a pack cannot be used, named after the setting to fix.
pub fn pack_problem(e: &str) -> String {
    if e.starts_with(TEMPLATES_DIR_PREFIX) {
        e.to_string()
    } else {
        format!("BIZDEV_NICHE_TEMPLATE: {e}")
    }
}

/// Every pack file in `TEMPLATES_DIR`, checked (for `hoss check`).
pub fn template_dir_problems(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|f| {
            let name = f.file_stem()?.to_string_lossy().to_lowercase();
            // The customer's invoice mail is not an outreach pack.
            if f.file_name()? == crate::domain::invoice_mail::FILE_NAME {
                let text = std::fs::read_to_string(f)
                    .map_err(|e| format!("cannot read {}: {e}", f.display()));
                return text
                    .and_then(|t| {
                        crate::domain::invoice_mail::MailPack::parse(&f.display().to_string(), &t)
                    })
                    .err();
            }
            load_pack(&name, dir).err()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmailMode;

    #[test]
    fn the_invoice_mail_file_is_checked_as_invoice_mail_not_as_a_pack() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(crate::domain::invoice_mail::FILE_NAME);
        std::fs::write(&file, crate::domain::invoice_mail::BUILTIN).unwrap();
        assert_eq!(template_dir_problems(dir.path()), Vec::<String>::new());
        std::fs::write(
            &file,
            crate::domain::invoice_mail::BUILTIN.replace("{{ due_date }}", "{{ due_dat }}"),
        )
        .unwrap();
        let problems = template_dir_problems(dir.path());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("due_dat"), "{problems:?}");
        // The repository's own folder passes as it is.
        let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
        assert_eq!(template_dir_problems(&own), Vec::<String>::new());
    }
    use crate::config::testing::cfg;

    #[test]
    fn a_missing_pack_names_the_setting_to_fix() {
        let c = cfg(&[("BIZDEV_NICHE_TEMPLATE", "nosuch")]);
        let reason = c.email.mode.reason.unwrap_or_default();
        assert!(
            reason.starts_with("BIZDEV_NICHE_TEMPLATE: no template pack named \"nosuch\""),
            "{reason}"
        );
        assert_eq!(c.email.mode.effective, EmailMode::DryRun);
    }

    #[test]
    fn only_a_named_templates_dir_must_exist() {
        let c = cfg(&[("TEMPLATES_DIR", "config/templates")]);
        assert_eq!(c.email.mode.reason, None);
        let c = cfg(&[("TEMPLATES_DIR", "/nonexistent/hoss-packs")]);
        let reason = c.email.mode.reason.unwrap_or_default();
        assert!(
            reason.starts_with("TEMPLATES_DIR \"/nonexistent/hoss-packs\" is not a folder"),
            "{reason}"
        );
        assert_eq!(pack_problem(&reason), reason);
    }
}
