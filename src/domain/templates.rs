//! Outreach template packs and their rendering.
//!
//! A pack is a TOML file with `subjects = [...]` and `bodies = [...]`, each
//! a [minijinja] template (Jinja syntax: `{{ company }}`,
//! `{{ first_name | default("there") }}`, `{% if niche %}…{% endif %}`).
//! Built-in packs live in `config/templates/` and are compiled in; a file of
//! the same name in `TEMPLATES_DIR` overrides one, or adds a new pack.
//! Undefined is strict: a template that uses a value the lead lacks fails
//! rather than sending a blank, and then the next variant is tried (so a
//! lead without a first name gets a subject that does not use it).
//!
//! Pure: the config layer reads the files and hands the text here.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde::Deserialize;

/// The built-in packs selectable with `BIZDEV_NICHE_TEMPLATE`.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "general",
        include_str!("../../config/templates/general.toml"),
    ),
    ("agency", include_str!("../../config/templates/agency.toml")),
    ("saas", include_str!("../../config/templates/saas.toml")),
    (
        "consulting",
        include_str!("../../config/templates/consulting.toml"),
    ),
    ("revops", include_str!("../../config/templates/revops.toml")),
    (
        "followup",
        include_str!("../../config/templates/followup.toml"),
    ),
];

/// Every variable a template may use.
pub const VARIABLES: &[&str] = &[
    "first_name",
    "company",
    "company_full",
    "niche",
    "offer",
    "sender_name",
    "sender_company",
    "footer",
];

/// Longest subject, in characters (RFC 5322's recommended line length).
const SUBJECT_WIDTH: usize = 78;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    subjects: Vec<String>,
    bodies: Vec<String>,
}

/// A checked pack: every template compiles, uses known variables only, every
/// body places the footer, every sample subject fits one line of 78.
#[derive(Debug, Clone)]
pub struct Pack {
    pub name: String,
    /// `built-in` or the file it came from.
    pub origin: String,
    pub subjects: Vec<String>,
    pub bodies: Vec<String>,
}

/// The built-in text of a pack, if there is one by that name.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, text)| *text)
}

/// A built-in pack, checked.
pub fn builtin_pack(name: &str) -> Result<Pack, String> {
    let text = builtin(name).ok_or_else(|| format!("no built-in template pack named {name:?}"))?;
    parse(name, "built-in", text)
}

/// Parses and checks a pack's text; the error names the pack and what to fix.
pub fn parse(name: &str, origin: &str, text: &str) -> Result<Pack, String> {
    let file: PackFile =
        toml::from_str(text).map_err(|e| format!("template pack {name} ({origin}): {e}"))?;
    let pack = Pack {
        name: name.to_string(),
        origin: origin.to_string(),
        subjects: file.subjects,
        bodies: file.bodies,
    };
    check(&pack).map_err(|e| format!("template pack {name} ({origin}): {e}"))?;
    Ok(pack)
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    // Plain text: nothing is HTML-escaped.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

fn check(pack: &Pack) -> Result<(), String> {
    if pack.subjects.is_empty() || pack.bodies.is_empty() {
        return Err("needs at least one subject and one body".into());
    }
    let env = environment();
    let sample = Values::sample();
    for (kind, list) in [("subject", &pack.subjects), ("body", &pack.bodies)] {
        for (i, source) in list.iter().enumerate() {
            check_template(&env, &sample, kind, &format!("{kind} {}", i + 1), source)?;
        }
    }
    Ok(())
}

/// Checks one subject template on its own (a sequence step's `subject`):
/// it compiles, uses known variables only, and fits one line of 78 with
/// sample values.
pub fn check_subject(source: &str) -> Result<(), String> {
    check_template(
        &environment(),
        &Values::sample(),
        "subject",
        "subject",
        source,
    )
}

/// `kind` is `subject` or `body`; `label` names the template in errors.
fn check_template(
    env: &Environment<'static>,
    sample: &Values,
    kind: &str,
    label: &str,
    source: &str,
) -> Result<(), String> {
    let template = env
        .template_from_str(source)
        .map_err(|e| format!("{label}: {}", describe(&e)))?;
    let used = template.undeclared_variables(false);
    if let Some(unknown) = used.iter().find(|v| !VARIABLES.contains(&v.as_str())) {
        return Err(format!(
            "{label} uses {{{{ {unknown} }}}}, which hoss does not know (known: {})",
            VARIABLES.join(", ")
        ));
    }
    if kind == "body" && !used.contains("footer") {
        return Err(format!(
            "{label} does not place {{{{ footer }}}} (sender, postal address and the opt-out line the law requires)"
        ));
    }
    if kind == "subject" {
        if used.contains("footer") {
            return Err(format!("{label} uses {{{{ footer }}}}"));
        }
        let text = render(source, sample)?;
        if text.contains('\n') || text.chars().count() > SUBJECT_WIDTH {
            return Err(format!(
                "{label} is longer than {SUBJECT_WIDTH} characters or more than one line with sample values: {text:?}"
            ));
        }
    }
    Ok(())
}

fn describe(e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => format!("{} (line {line})", e.kind()),
        None => e.kind().to_string(),
    }
    .replace("<string>", "template")
        + &e.detail().map(|d| format!(": {d}")).unwrap_or_default()
}

/// Values for one message; `None` means "this lead has none" (the template
/// sees it undefined).
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub first_name: Option<String>,
    pub company: Option<String>,
    pub company_full: Option<String>,
    pub niche: Option<String>,
    pub offer: Option<String>,
    pub sender_name: Option<String>,
    pub sender_company: Option<String>,
    pub footer: Option<String>,
}

impl Values {
    /// Plausible values of every variable, to check a pack with.
    pub fn sample() -> Values {
        let s = |v: &str| Some(v.to_string());
        Values {
            first_name: s("Alexandra"),
            company: s("Northwind Dental Partners"),
            company_full: s("Northwind Dental Partners, LLC"),
            niche: s("dental clinics"),
            offer: s("autonomous business operations"),
            sender_name: s("Sam Carter"),
            sender_company: s("Carter Consulting"),
            footer: s("-- \nSam Carter\nCarter Consulting\n1 Main St\n"),
        }
    }

    fn context(&self) -> BTreeMap<&'static str, String> {
        [
            ("first_name", &self.first_name),
            ("company", &self.company),
            ("company_full", &self.company_full),
            ("niche", &self.niche),
            ("offer", &self.offer),
            ("sender_name", &self.sender_name),
            ("sender_company", &self.sender_company),
            ("footer", &self.footer),
        ]
        .into_iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (k, v.to_string()))
        })
        .collect()
    }
}

/// Renders one template, or says why not (a value the lead lacks, a syntax
/// error).
pub fn render(template: &str, values: &Values) -> Result<String, String> {
    environment()
        .render_str(template, values.context())
        .map_err(|e| describe(&e))
}

/// Renders one template with any serialisable values (a `None` is none to
/// the template), or says why not.
pub fn render_serialized(template: &str, values: &impl serde::Serialize) -> Result<String, String> {
    environment()
        .render_str(template, minijinja::value::Serde(values))
        .map_err(|e| describe(&e))
}

/// The first of `templates`, starting at `start` and going round, that
/// renders for these values; the first error when none does.
pub fn render_first(templates: &[String], start: usize, values: &Values) -> Result<String, String> {
    let n = templates.len();
    let mut first_error = None;
    for i in 0..n {
        match render(&templates[(start + i) % n], values) {
            Ok(text) => return Ok(text),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| "no templates".into()))
}

const HONORIFICS: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam",
];

/// The first name to greet someone by, from a contact name as vendors give
/// it: `"Dr. JANE doe"` → `Jane`, `"Doe, Jane"` → `Jane`,
/// `"jean-luc picard"` → `Jean-Luc`. `None` when no name can be trusted
/// (initials, addresses, digits).
pub fn first_name(contact: &str) -> Option<String> {
    let contact = contact.trim();
    let given_part = match contact.split_once(',') {
        Some((_, given)) if !given.trim().is_empty() => given,
        _ => contact,
    };
    let word = given_part
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| c == '.' || c == ','))
        .find(|w| !w.is_empty() && !HONORIFICS.contains(&w.to_lowercase().as_str()))?;
    let plausible = word.chars().count() >= 2
        && word
            .chars()
            .all(|c| c.is_alphabetic() || c == '-' || c == '\'')
        && word.chars().any(char::is_alphabetic);
    if !plausible {
        return None;
    }
    Some(
        word.split('-')
            .map(capitalize)
            .collect::<Vec<_>>()
            .join("-"),
    )
}

/// `jANE` → `Jane`, but `McKenzie` and `O'Neil` keep their inner capitals
/// when the name was written in mixed case already.
fn capitalize(part: &str) -> String {
    let mixed = part.chars().any(char::is_uppercase) && part.chars().any(char::is_lowercase);
    let mut chars = part.chars();
    match chars.next() {
        None => String::new(),
        Some(first) if mixed => first.to_uppercase().chain(chars).collect(),
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_builtin() -> Vec<Pack> {
        BUILTIN
            .iter()
            .map(|(name, text)| parse(name, "built-in", text).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    #[test]
    fn every_builtin_pack_passes_its_own_checks() {
        for p in all_builtin() {
            assert!(p.subjects.len() >= 2 && p.bodies.len() >= 2, "{}", p.name);
        }
        assert!(builtin("nope").is_none());
        assert!(builtin("GENERAL").is_some());
    }

    #[test]
    fn packs_with_unknown_variables_no_footer_or_long_subjects_are_refused() {
        let bad = |subjects: &str, bodies: &str| {
            parse(
                "t",
                "test",
                &format!("subjects = [{subjects}]\nbodies = [{bodies}]\n"),
            )
            .unwrap_err()
        };
        let body = r#""Hi {{ first_name | default('there') }}\n{{ footer }}""#;
        assert!(bad(r#""About {{ last_name }}""#, body).contains("{{ last_name }}"));
        assert!(bad(r#""About {{ company }}""#, r#""Hi""#).contains("footer"));
        let long = format!("\"{}{{{{ company }}}}\"", "word ".repeat(12));
        assert!(
            bad(&long, body).contains("longer than 78"),
            "{}",
            bad(&long, body)
        );
        assert!(bad(r#""{% if %}""#, body).contains("subject 1"));
        assert!(bad("", body).contains("at least one"));
        let typo = parse("t", "test", "subject = []\nbodies = []\n").unwrap_err();
        assert!(typo.contains("subject"), "{typo}");
        assert!(
            parse(
                "t",
                "test",
                &format!("subjects = [\"About {{{{ company }}}}\"]\nbodies = [{body}]\n")
            )
            .is_ok()
        );
    }

    #[test]
    fn rendering_is_strict_and_defaults_are_explicit() {
        let v = Values {
            first_name: Some("Jane".into()),
            company: Some("Acme".into()),
            ..Values::default()
        };
        assert_eq!(
            render("Hi {{ first_name }} at {{ company }}", &v).unwrap(),
            "Hi Jane at Acme"
        );
        assert!(render("{{ offer }}", &v).unwrap_err().contains("undefined"));
        let none = Values::default();
        assert_eq!(
            render("Hi {{ first_name | default('there') }},", &none).unwrap(),
            "Hi there,"
        );
        assert_eq!(render("{% if niche %}x{% endif %}y", &none).unwrap(), "y");
        // Values are text, never markup: nothing is escaped.
        let html = Values {
            company: Some("A&B <Co>".into()),
            ..Values::default()
        };
        assert_eq!(render("{{ company }}", &html).unwrap(), "A&B <Co>");
    }

    #[test]
    fn the_first_variant_that_renders_is_used() {
        let subjects = vec![
            "{{ first_name }}, an idea".to_string(),
            "An idea for {{ company }}".to_string(),
        ];
        let nameless = Values {
            company: Some("Acme".into()),
            ..Values::default()
        };
        assert_eq!(
            render_first(&subjects, 0, &nameless).unwrap(),
            "An idea for Acme"
        );
        let named = Values {
            first_name: Some("Jo".into()),
            ..nameless.clone()
        };
        assert_eq!(render_first(&subjects, 0, &named).unwrap(), "Jo, an idea");
        assert!(render_first(&subjects[..1], 0, &nameless).is_err());
    }

    #[test]
    fn first_names_are_derived_properly() {
        for (contact, expected) in [
            ("Jane Doe", Some("Jane")),
            ("  JANE DOE ", Some("Jane")),
            ("dr. jane doe", Some("Jane")),
            ("Doe, Jane", Some("Jane")),
            ("jean-luc picard", Some("Jean-Luc")),
            ("McKenzie Smith", Some("McKenzie")),
            ("Tomás Ruiz", Some("Tomás")),
            ("J. Doe", None),
            ("J.", None),
            ("jane@acme.com", None),
            ("R2D2", None),
            ("", None),
            ("Mr.", None),
        ] {
            assert_eq!(first_name(contact).as_deref(), expected, "{contact:?}");
        }
    }
}
