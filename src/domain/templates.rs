//! Outreach template packs (`config/templates/*.toml`, built into the
//! binary) and their rendering. A template may only use the known
//! placeholders; a lead that lacks a value a template needs gets an error,
//! never a message with `{first_name}` left in it — except the first name
//! itself, which many leads lack: it reads [`NO_FIRST_NAME`] ("Hi there,").

use serde::Deserialize;

/// The packs selectable with `BIZDEV_NICHE_TEMPLATE`.
pub const PACKS: &[(&str, &str)] = &[
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
];

pub const PLACEHOLDERS: &[&str] = &["first_name", "company", "niche", "offer", "sender_name"];

/// What `{first_name}` reads when a lead has no usable first name.
pub const NO_FIRST_NAME: &str = "there";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pack {
    pub subjects: Vec<String>,
    pub bodies: Vec<String>,
}

pub fn pack_names() -> Vec<&'static str> {
    PACKS.iter().map(|(n, _)| *n).collect()
}

/// Loads and checks a pack by name.
pub fn pack(name: &str) -> Result<Pack, String> {
    let (_, text) = PACKS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .ok_or_else(|| format!("no template pack named {name:?}"))?;
    let pack: Pack = toml::from_str(text).map_err(|e| format!("template pack {name}: {e}"))?;
    if pack.subjects.is_empty() || pack.bodies.is_empty() {
        return Err(format!("template pack {name} needs subjects and bodies"));
    }
    for t in pack.subjects.iter().chain(&pack.bodies) {
        for p in placeholders(t)? {
            if !PLACEHOLDERS.contains(&p) {
                return Err(format!(
                    "template pack {name} uses unknown placeholder {{{p}}}"
                ));
            }
        }
    }
    Ok(pack)
}

/// The placeholder names in a template, or an error for an unclosed `{`.
fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("template has an unclosed {")?;
        out.push(&after[..close]);
        rest = &after[close + 1..];
    }
    Ok(out)
}

/// Values for one message; `None` means "this lead has none".
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub first_name: Option<String>,
    pub company: Option<String>,
    pub niche: Option<String>,
    pub offer: Option<String>,
    pub sender_name: Option<String>,
}

impl Values {
    fn get(&self, name: &str) -> Result<&str, String> {
        let v = match name {
            "first_name" => &self.first_name,
            "company" => &self.company,
            "niche" => &self.niche,
            "offer" => &self.offer,
            "sender_name" => &self.sender_name,
            _ => return Err(format!("unknown placeholder {{{name}}}")),
        };
        match v.as_deref().filter(|v| !v.trim().is_empty()) {
            Some(v) => Ok(v),
            None if name == "first_name" => Ok(NO_FIRST_NAME),
            None => Err(format!("no value for {{{name}}}")),
        }
    }
}

/// Fills every placeholder or fails.
pub fn render(template: &str, values: &Values) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("template has an unclosed {")?;
        out.push_str(values.get(&after[..close])?);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
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

    #[test]
    fn every_pack_loads_and_uses_only_known_placeholders() {
        for name in pack_names() {
            let p = pack(name).unwrap_or_else(|e| panic!("{e}"));
            assert!(p.subjects.len() >= 2 && p.bodies.len() >= 2, "{name}");
        }
        assert!(pack("nope").is_err());
        assert!(pack("GENERAL").is_ok());
    }

    #[test]
    fn rendering_fills_or_fails() {
        let v = Values {
            first_name: Some("Jane".into()),
            company: Some("Acme".into()),
            ..Values::default()
        };
        assert_eq!(
            render("Hi {first_name} at {company}", &v).unwrap(),
            "Hi Jane at Acme"
        );
        assert_eq!(render("{offer}", &v).unwrap_err(), "no value for {offer}");
        assert_eq!(
            render("{last_name}", &v).unwrap_err(),
            "unknown placeholder {last_name}"
        );
        assert!(render("Hi {first_name", &v).is_err());
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
