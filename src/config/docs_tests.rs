//! The settings the docs name are exactly the ones in [`KNOWN_KEYS`] (and,
//! for the README and replit.md, the environment-only ones): a new setting
//! fails here until the README's settings table, replit.md's "Every setting"
//! and `config/hoss.example.toml` document it.

use std::collections::BTreeSet;

use super::keys::{ENV_ONLY_KEYS, KNOWN_KEYS};

fn read(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The text from the `## heading` line to the next `## `.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no {heading:?}"));
    let rest = &text[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    &rest[..end]
}

/// `SMTP_PORT`, `PRODUCTION`: upper case, digits and `_`.
fn is_name(s: &str) -> bool {
    s.len() > 1
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Every name in backticks.
fn backticked(text: &str) -> BTreeSet<&str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| is_name(s))
        .collect()
}

/// Every `NAME = ` in the file, commented out or not (`# or X_CENTS = 100`
/// included).
fn assigned(text: &str) -> BTreeSet<&str> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        for (at, _) in line.match_indices(" = ") {
            let before = &line[..at];
            let start = before
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            if is_name(&before[start..]) {
                names.insert(&before[start..]);
            }
        }
    }
    names
}

fn assert_documents(doc: &str, documented: BTreeSet<&str>, expected: &[&str]) {
    let expected: BTreeSet<&str> = expected.iter().copied().collect();
    let missing: Vec<_> = expected.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&expected).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "{doc}: settings not documented there: {missing:?}; documented there but not in \
         KNOWN_KEYS (src/config/keys.rs): {unknown:?}"
    );
}

fn env_and_file_keys() -> Vec<&'static str> {
    KNOWN_KEYS.iter().chain(ENV_ONLY_KEYS).copied().collect()
}

#[test]
fn the_readme_settings_table_lists_every_setting() {
    let readme = read("README.md");
    // The first cell of each row of the table names its settings.
    let named = section(&readme, "## Configuration")
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(backticked)
        .collect();
    assert_documents("README.md, the settings table", named, &env_and_file_keys());
}

#[test]
fn replit_md_every_setting_lists_every_setting() {
    let notes = read("replit.md");
    let named = backticked(section(&notes, "## Every setting"));
    assert_documents("replit.md, \"Every setting\"", named, &env_and_file_keys());
}

#[test]
fn the_example_config_shows_every_file_setting() {
    let example = read("config/hoss.example.toml");
    assert_documents("config/hoss.example.toml", assigned(&example), KNOWN_KEYS);
}

#[test]
fn the_readers_find_names_and_only_names() {
    assert_eq!(
        backticked("`A_B` and `STRIPE_*_CENTS`, `x`, `HOSS_DB`"),
        BTreeSet::from(["A_B", "HOSS_DB"])
    );
    assert_eq!(
        assigned("# X_MIN = \"1\"   # or X_MIN_CENTS = 100\ndescription = \"x\"\nY=1"),
        BTreeSet::from(["X_MIN", "X_MIN_CENTS"])
    );
    let text = "# t\n\n## A\none\n## B\ntwo\n";
    assert_eq!(section(text, "## A"), "## A\none");
    assert_eq!(section(text, "## B"), "## B\ntwo\n");
}
