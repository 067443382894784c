//! Reading a lead CSV as operators actually have them: hoss's own
//! `name,email,company,website,niche`, and the exports of Apollo, Hunter,
//! LinkedIn and spreadsheets (`First Name`, `Company Name`, `Email Address`,
//! semicolons where the spreadsheet's locale uses a decimal comma).
//!
//! Pure: the command reads the file and hands the bytes over; this module
//! maps the header, splits the rows and says, per row, what lead it holds
//! or why it holds none. It never invents an email. A row without a company
//! name takes one from its website's or email's domain (`acme-widgets.com`
//! → "Acme Widgets"), never from a free-mail domain: a lead without a
//! company cannot be addressed by any template, so such a row is refused
//! with the reason rather than imported to sit unsendable.

use serde::Serialize;

use super::address::{email_domain, normalize_email};
use super::leads::{RawLead, clean_text, domain_of_website};

/// The hoss field a CSV column feeds. `FirstName` and `LastName` are joined
/// into the name when the row has no whole name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    FirstName,
    LastName,
    Email,
    Company,
    Website,
    Niche,
    Timezone,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Email => "email",
            Field::Company => "company",
            Field::Website => "website",
            Field::Niche => "niche",
            Field::Timezone => "timezone",
        }
    }
}

/// Header names per field, folded (see [`fold_header`]), in order of
/// preference: when a file has two columns for one field, a row takes the
/// first of them that has a value. `url` is deliberately absent: in
/// LinkedIn's exports it is the person's profile, not the company's site.
const ALIASES: &[(Field, &[&str])] = &[
    (
        Field::Name,
        &["name", "fullname", "contactname", "contact", "personname"],
    ),
    (Field::FirstName, &["firstname", "givenname"]),
    (Field::LastName, &["lastname", "surname", "familyname"]),
    (
        Field::Email,
        &[
            "email",
            "emailaddress",
            "workemail",
            "workemailaddress",
            "businessemail",
        ],
    ),
    (
        Field::Company,
        &[
            "company",
            "companyname",
            "organization",
            "organizationname",
            "organisation",
            "organisationname",
            "companyorganization",
            "account",
            "accountname",
        ],
    ),
    (
        Field::Website,
        &[
            "website",
            "companywebsite",
            "websiteurl",
            "websitedomain",
            "companyurl",
            "domain",
            "domainname",
            "companydomain",
        ],
    ),
    (Field::Niche, &["niche", "industry"]),
    (Field::Timezone, &["timezone", "tz", "timezonename"]),
];

/// A header cell folded for matching: case, spaces and punctuation do not
/// count (`"E-Mail Address"`, `"email_address"` → `emailaddress`).
pub fn fold_header(header: &str) -> String {
    header
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The field a header names, if any.
pub fn field_of(header: &str) -> Option<Field> {
    let folded = fold_header(header);
    ALIASES
        .iter()
        .find(|(_, names)| names.contains(&folded.as_str()))
        .map(|(field, _)| *field)
}

/// One header cell and the field it was mapped to (`None`: ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub header: String,
    pub field: Option<Field>,
}

/// The separator of a file, read from its header line: whichever of `,`
/// `;` and tab occurs most outside quotes (a comma when none does).
pub fn detect_delimiter(bytes: &[u8]) -> u8 {
    let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for b in line {
        if *b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|(d, _)| d == b) {
            c.1 += 1;
        }
    }
    // max_by_key keeps the last of equals; reversed, ties go to the comma.
    counts
        .iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map_or(b',', |(d, _)| *d)
}

/// Where a row's company name came from when it had none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyFrom {
    Website,
    Email,
}

/// A row that holds a lead (still to be normalised and deduped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowLead {
    pub raw: RawLead,
    pub company_from: Option<CompanyFrom>,
    /// The lead's IANA time zone (column `timezone`), checked.
    pub timezone: Option<String>,
}

/// Why a row holds no lead: `Malformed` when it is not a well-formed row of
/// this file, `Invalid` when it is but cannot become a lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowProblem {
    Malformed(String),
    Invalid(String),
}

/// One data row; `row` counts records from 1 for the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    pub row: u64,
    pub lead: Result<RowLead, RowProblem>,
}

/// A lead CSV with its header understood, yielding its rows in order.
pub struct LeadCsv<'a> {
    pub delimiter: u8,
    pub columns: Vec<Column>,
    /// Per field, the column indexes that feed it, in order of preference.
    sources: Vec<(Field, Vec<usize>)>,
    records: csv::StringRecordsIntoIter<&'a [u8]>,
    next_row: u64,
}

/// Reads the header of a lead CSV. An error (no header, no email column)
/// says what is wrong and which columns hoss understands.
pub fn read(bytes: &[u8]) -> Result<LeadCsv<'_>, String> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let (skipped, bytes) = skip_preamble(bytes);
    let delimiter = detect_delimiter(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let columns: Vec<Column> = header
        .iter()
        .map(|h| Column {
            header: h.clone(),
            field: field_of(h),
        })
        .collect();
    let mut sources = Vec::new();
    for (field, names) in ALIASES {
        let mut indexes = Vec::new();
        for name in *names {
            indexes.extend(
                header
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| fold_header(h) == *name)
                    .map(|(i, _)| i),
            );
        }
        if !indexes.is_empty() {
            sources.push((*field, indexes));
        }
    }
    if !sources.iter().any(|(f, _)| *f == Field::Email) {
        let shown: Vec<&str> = header.iter().map(String::as_str).take(12).collect();
        return Err(format!(
            "the header row must name an email column (email, email_address, work_email, e-mail, …; \
             hoss also reads name, first_name, last_name, full_name, company, company_name, \
             organization, website, company_website, domain, niche, industry); the header read \
             with {} as separator is: {}",
            delimiter_name(delimiter),
            shown.join(" | ")
        ));
    }
    Ok(LeadCsv {
        delimiter,
        columns,
        sources,
        records: reader.into_records(),
        next_row: 2 + skipped,
    })
}

/// Lines before the header that exports put there (LinkedIn's
/// `Connections.csv` opens with a `Notes:` paragraph and a blank line):
/// when the first line names no email column but one of the next few does,
/// the file starts there. Returns how many lines were skipped, so row
/// numbers still count the file's lines.
fn skip_preamble(bytes: &[u8]) -> (u64, &[u8]) {
    const LOOK_AHEAD: usize = 10;
    let names_email = |line: &[u8]| {
        let delimiter = detect_delimiter(line);
        csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(line)
            .records()
            .next()
            .and_then(Result::ok)
            .is_some_and(|r| r.iter().any(|h| field_of(h) == Some(Field::Email)))
    };
    let mut start = 0;
    for skipped in 0..LOOK_AHEAD {
        let rest = &bytes[start..];
        let end = rest.iter().position(|b| *b == b'\n');
        let line = &rest[..end.unwrap_or(rest.len())];
        if names_email(line) {
            return if skipped == 0 {
                (0, bytes)
            } else {
                (skipped as u64, rest)
            };
        }
        match end {
            Some(e) => start += e + 1,
            None => break,
        }
    }
    (0, bytes)
}

/// How a separator is written in a report.
pub fn delimiter_name(delimiter: u8) -> &'static str {
    match delimiter {
        b';' => "\";\"",
        b'\t' => "tab",
        _ => "\",\"",
    }
}

impl LeadCsv<'_> {
    fn value(&self, record: &csv::StringRecord, field: Field) -> Option<String> {
        let (_, indexes) = self.sources.iter().find(|(f, _)| *f == field)?;
        indexes
            .iter()
            .filter_map(|i| record.get(*i))
            .map(str::trim)
            .find(|v| !v.is_empty())
            .map(str::to_string)
    }

    fn lead(&self, record: &csv::StringRecord) -> Result<RowLead, RowProblem> {
        if record.iter().all(|v| v.trim().is_empty()) {
            return Err(RowProblem::Invalid("the row is empty".into()));
        }
        let name = self.value(record, Field::Name).or_else(|| {
            let parts: Vec<String> = [Field::FirstName, Field::LastName]
                .into_iter()
                .filter_map(|f| self.value(record, f))
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        });
        let raw = RawLead {
            name,
            email: self.value(record, Field::Email),
            company: self.value(record, Field::Company),
            website: self.value(record, Field::Website),
            niche: self.value(record, Field::Niche),
        };
        let timezone = match self.value(record, Field::Timezone) {
            None => None,
            Some(tz) => Some(
                crate::domain::schedule::parse_tz(&tz)
                    .map(|z| z.name().to_string())
                    .map_err(|e| RowProblem::Invalid(format!("timezone {e}")))?,
            ),
        };
        if clean_text(raw.company.as_deref()).is_some() {
            return Ok(RowLead {
                raw,
                company_from: None,
                timezone,
            });
        }
        // Without a usable email the row is invalid for that reason, which
        // normalisation states; nothing is derived from a bad address.
        let Some(email) = raw.email.as_deref().and_then(normalize_email) else {
            return Ok(RowLead {
                raw,
                company_from: None,
                timezone,
            });
        };
        let (company, from) =
            company_for(raw.website.as_deref(), &email).map_err(RowProblem::Invalid)?;
        Ok(RowLead {
            raw: RawLead {
                company: Some(company),
                ..raw
            },
            company_from: Some(from),
            timezone,
        })
    }
}

impl Iterator for LeadCsv<'_> {
    type Item = CsvRow;

    fn next(&mut self) -> Option<CsvRow> {
        let record = self.records.next()?;
        let row = self.next_row;
        self.next_row += 1;
        let lead = match record {
            Err(e) => Err(RowProblem::Malformed(e.to_string())),
            Ok(r) if r.len() != self.columns.len() => Err(RowProblem::Malformed(format!(
                "{} fields where the header has {} (separator {})",
                r.len(),
                self.columns.len(),
                delimiter_name(self.delimiter)
            ))),
            Ok(r) => self.lead(&r),
        };
        Some(CsvRow { row, lead })
    }
}

/// Mailbox providers anyone can sign up to: their domain says nothing about
/// the company. Matched exactly.
const FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "passport.com",
    "yahoo.com",
    "ymail.com",
    "rocketmail.com",
    "aol.com",
    "aim.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "protonmail.ch",
    "pm.me",
    "tutanota.com",
    "tuta.io",
    "fastmail.com",
    "fastmail.fm",
    "hey.com",
    "zoho.com",
    "zohomail.com",
    "mail.com",
    "email.com",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "web.de",
    "t-online.de",
    "freenet.de",
    "yandex.com",
    "yandex.ru",
    "ya.ru",
    "mail.ru",
    "inbox.ru",
    "bk.ru",
    "list.ru",
    "rambler.ru",
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "naver.com",
    "hanmail.net",
    "daum.net",
    "rediffmail.com",
    "libero.it",
    "virgilio.it",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "laposte.net",
    "sfr.fr",
    "btinternet.com",
    "sky.com",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "bellsouth.net",
    "cox.net",
    "charter.net",
    "earthlink.net",
    "juno.com",
    "seznam.cz",
    "wp.pl",
    "o2.pl",
    "interia.pl",
    "onet.pl",
    "bigpond.com",
    "shaw.ca",
    "rogers.com",
    "uol.com.br",
    "bol.com.br",
    "terra.com.br",
];

/// Free-mail brands with a domain in many countries (`yahoo.co.uk`,
/// `hotmail.fr`, `outlook.de`): matched on the name before the suffix.
const FREE_MAIL_BRANDS: &[&str] = &[
    "gmail",
    "googlemail",
    "yahoo",
    "ymail",
    "hotmail",
    "outlook",
    "live",
    "windowslive",
    "aol",
    "gmx",
    "yandex",
    "icloud",
    "protonmail",
];

/// Sites that are not a company's own: a "website" there names no company.
const NOT_A_COMPANY_SITE: &[&str] = &[
    "linkedin.com",
    "facebook.com",
    "fb.com",
    "instagram.com",
    "twitter.com",
    "x.com",
    "youtube.com",
    "tiktok.com",
    "github.com",
    "medium.com",
    "google.com",
    "sites.google.com",
    "business.site",
    "wixsite.com",
    "wordpress.com",
    "blogspot.com",
    "squarespace.com",
    "godaddysites.com",
    "carrd.co",
    "linktr.ee",
    "yelp.com",
];

/// Second-level labels under a country code that are part of the suffix
/// (`acme.co.uk`, `acme.com.au`), not the company's name.
const SECOND_LEVEL: &[&str] = &[
    "co", "com", "org", "net", "ltd", "plc", "ac", "gov", "edu", "or", "ne", "gen", "biz",
];

/// The label that names the organisation: `shop.acme-widgets.co.uk` →
/// `acme-widgets`. `None` for a bare suffix.
fn name_label(domain: &str) -> Option<&str> {
    let labels: Vec<&str> = domain.split('.').collect();
    let n = labels.len();
    if n < 2 {
        return None;
    }
    let tld = labels[n - 1];
    if n >= 3 && tld.len() == 2 && SECOND_LEVEL.contains(&labels[n - 2]) {
        return Some(labels[n - 3]);
    }
    Some(labels[n - 2])
}

/// Whether `domain` (lower case, without `www.`) belongs to a mailbox
/// provider rather than to the person's company.
pub fn is_free_mail(domain: &str) -> bool {
    FREE_MAIL_DOMAINS.contains(&domain)
        || domain
            .split_once('.')
            .is_some_and(|(label, suffix)| FREE_MAIL_BRANDS.contains(&label) && is_suffix(suffix))
}

/// `com`, `net`, `org`, a country code, or `co.`/`com.` + a country code:
/// what can follow a brand in its own domain.
fn is_suffix(suffix: &str) -> bool {
    let country = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_lowercase());
    match suffix.split_once('.') {
        None => matches!(suffix, "com" | "net" | "org") || country(suffix),
        Some((second, tld)) => matches!(second, "co" | "com") && country(tld),
    }
}

/// Whether `domain` names one company: not empty, not a mailbox provider
/// and not a platform a business only has a page on (facebook.com,
/// google.com, linktr.ee, …). Only such a domain may tie a message to a
/// lead's colleagues or hold them (SPEC §13).
pub fn is_company_domain(domain: &str) -> bool {
    !domain.is_empty() && !hosted_elsewhere(domain)
}

fn hosted_elsewhere(domain: &str) -> bool {
    is_free_mail(domain)
        || NOT_A_COMPANY_SITE
            .iter()
            .any(|site| domain == *site || domain.ends_with(&format!(".{site}")))
}

/// A company name read from a domain: `acme-widgets.com` → "Acme Widgets".
/// `None` for a free-mail or hosting domain, or a name that cannot be read
/// (an internationalised `xn--` label).
pub fn company_from_domain(domain: &str) -> Option<String> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.strip_prefix("www.").unwrap_or(&domain);
    if hosted_elsewhere(domain) {
        return None;
    }
    let label = name_label(domain)?;
    if label.starts_with("xn--") {
        return None;
    }
    let words: Vec<String> = label
        .split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// The company of a row that named none: from its website, else from its
/// (valid, normalised) email's domain. The error says why neither will do.
fn company_for(website: Option<&str>, email: &str) -> Result<(String, CompanyFrom), String> {
    if let Some(company) = website
        .and_then(domain_of_website)
        .and_then(|d| company_from_domain(&d))
    {
        return Ok((company, CompanyFrom::Website));
    }
    let domain = email_domain(email);
    if let Some(company) = company_from_domain(domain) {
        return Ok((company, CompanyFrom::Email));
    }
    Err(if is_free_mail(domain) {
        format!(
            "no company name, and {domain} is a free-mail domain that names no company \
             (add a company or website column)"
        )
    } else {
        format!("no company name, and none can be read from the domain {domain}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<CsvRow> {
        read(text.as_bytes()).unwrap().collect()
    }

    fn lead(row: &CsvRow) -> &RawLead {
        &row.lead.as_ref().unwrap().raw
    }

    #[test]
    fn headers_match_whatever_their_case_spacing_and_punctuation() {
        for (header, field) in [
            ("email", Some(Field::Email)),
            ("Email Address", Some(Field::Email)),
            ("E-Mail", Some(Field::Email)),
            ("work_email", Some(Field::Email)),
            ("First Name", Some(Field::FirstName)),
            ("last_name", Some(Field::LastName)),
            ("Full Name", Some(Field::Name)),
            ("Company Name", Some(Field::Company)),
            ("organization_name", Some(Field::Company)),
            ("Organization", Some(Field::Company)),
            ("Company Website", Some(Field::Website)),
            ("domain", Some(Field::Website)),
            ("Industry", Some(Field::Niche)),
            ("\u{feff}Name", Some(Field::Name)),
            ("URL", None),
            ("Email Status", None),
            ("Title", None),
        ] {
            assert_eq!(field_of(header), field, "{header}");
        }
    }

    #[test]
    fn hoss_own_columns_read_as_before() {
        let r = rows("name,email,company,website,niche\nAnn,ann@beta.io,Beta,beta.io,saas\n");
        assert_eq!(
            lead(&r[0]),
            &RawLead {
                name: Some("Ann".into()),
                email: Some("ann@beta.io".into()),
                company: Some("Beta".into()),
                website: Some("beta.io".into()),
                niche: Some("saas".into()),
            }
        );
        assert_eq!(r[0].row, 2);
        assert_eq!(r[0].lead.as_ref().unwrap().company_from, None);
    }

    #[test]
    fn an_apollo_export_joins_first_and_last_name() {
        let csv = "First Name,Last Name,Title,Company Name,Email,Email Status,Website,Industry\n\
                   Ann,Lee,CEO,Acme Dental,ann@acmedental.com,Verified,http://www.acmedental.com,Health\n\
                   ,Chen,,Beta,bo@beta.io,,,\n";
        let parsed = read(csv.as_bytes()).unwrap();
        let mapped: Vec<(&str, Option<Field>)> = parsed
            .columns
            .iter()
            .map(|c| (c.header.as_str(), c.field))
            .collect();
        assert_eq!(mapped[0], ("First Name", Some(Field::FirstName)));
        assert_eq!(mapped[2], ("Title", None));
        assert_eq!(mapped[5], ("Email Status", None));
        let r: Vec<CsvRow> = parsed.collect();
        let ann = lead(&r[0]);
        assert_eq!(ann.name.as_deref(), Some("Ann Lee"));
        assert_eq!(ann.company.as_deref(), Some("Acme Dental"));
        assert_eq!(ann.website.as_deref(), Some("http://www.acmedental.com"));
        assert_eq!(ann.niche.as_deref(), Some("Health"));
        assert_eq!(lead(&r[1]).name.as_deref(), Some("Chen"));
    }

    #[test]
    fn a_whole_name_wins_over_its_parts_and_the_first_filled_column_wins() {
        let csv = "first_name,full_name,last_name,email,work_email\n\
                   Ann,Ann B. Lee,Lee,,ann@acme.com\n\
                   Bo,,Chen,bo@acme.com,b.chen@acme.com\n";
        let r = rows(csv);
        assert_eq!(lead(&r[0]).name.as_deref(), Some("Ann B. Lee"));
        assert_eq!(lead(&r[0]).email.as_deref(), Some("ann@acme.com"));
        assert_eq!(lead(&r[1]).name.as_deref(), Some("Bo Chen"));
        assert_eq!(lead(&r[1]).email.as_deref(), Some("bo@acme.com"));
    }

    #[test]
    fn a_linkedin_notes_preamble_before_the_header_is_skipped() {
        let text = "Notes:\n\"When exporting your connection data, you may notice that some of the email addresses are missing.\"\n\nFirst Name,Last Name,URL,Email Address,Company,Position,Connected On\nGil,Stone,https://www.linkedin.com/in/gil,gil@iota-co.com,Iota,CEO,01 Jan 2024\n";
        let rows = rows(text);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].row, 5, "row numbers count the file's lines");
        assert_eq!(lead(&rows[0]).email.as_deref(), Some("gil@iota-co.com"));
        assert!(read(b"Notes:\nnothing here\n").is_err());
    }

    #[test]
    fn semicolon_and_tab_files_are_recognised_from_the_header() {
        assert_eq!(detect_delimiter(b"name;email;company\nA,B;c@d.com;E"), b';');
        assert_eq!(detect_delimiter(b"name\temail\n"), b'\t');
        assert_eq!(detect_delimiter(b"email\n"), b',');
        assert_eq!(detect_delimiter(b"\"a;b\",email\n"), b',');
        assert_eq!(detect_delimiter(b""), b',');
        let r =
            rows("Name;E-Mail;Firma;Company\r\n\"Müller, Jan\";jan@muller.de;x;Müller GmbH\r\n");
        let jan = lead(&r[0]);
        assert_eq!(jan.name.as_deref(), Some("Müller, Jan"));
        assert_eq!(jan.email.as_deref(), Some("jan@muller.de"));
        assert_eq!(jan.company.as_deref(), Some("Müller GmbH"));
    }

    #[test]
    fn a_header_without_an_email_column_is_refused_with_what_was_read() {
        let err = read(b"Name,Company\nA,B\n").err().unwrap();
        assert!(err.contains("email column"), "{err}");
        assert!(err.contains("Name | Company"), "{err}");
        let err = read(b"Name;Company;Mail Adresse\n").err().unwrap();
        assert!(err.contains("\";\""), "{err}");
    }

    #[test]
    fn short_rows_are_malformed_and_empty_rows_invalid() {
        let r = rows("name,email,company\nA,a@a.com\n,,\nB,b@b.com,B\n");
        assert!(matches!(&r[0].lead, Err(RowProblem::Malformed(m)) if m.contains("2 fields")));
        assert_eq!(
            r[1].lead,
            Err(RowProblem::Invalid("the row is empty".into()))
        );
        assert_eq!(r[2].row, 4);
        assert!(r[2].lead.is_ok());
    }

    #[test]
    fn a_missing_company_comes_from_the_website_else_the_email() {
        let r = rows(
            "email,website,company\n\
             jo@acme-widgets.com,,\n\
             jo@gmail.com,https://www.brightpath.co.uk/about,\n\
             jo@gmail.com,linkedin.com/company/x,\n\
             jo@northwind.io,linkedin.com/in/jo,\n\
             not-an-email,,\n",
        );
        let got = |i: usize| {
            let l = r[i].lead.as_ref().unwrap();
            (l.raw.company.clone().unwrap(), l.company_from.unwrap())
        };
        assert_eq!(got(0), ("Acme Widgets".into(), CompanyFrom::Email));
        assert_eq!(got(1), ("Brightpath".into(), CompanyFrom::Website));
        assert!(
            matches!(&r[2].lead, Err(RowProblem::Invalid(m)) if m.contains("gmail.com is a free-mail domain")),
            "{:?}",
            r[2]
        );
        assert_eq!(got(3), ("Northwind".into(), CompanyFrom::Email));
        // A bad address is left for normalisation to refuse, nothing derived.
        let bad = r[4].lead.as_ref().unwrap();
        assert_eq!((bad.raw.company.as_deref(), bad.company_from), (None, None));
    }

    #[test]
    fn company_names_read_from_domains() {
        for (domain, company) in [
            ("acme-widgets.com", Some("Acme Widgets")),
            ("www.acme.com", Some("Acme")),
            ("mail.acme.io", Some("Acme")),
            ("acme.co.uk", Some("Acme")),
            ("shop.acme.com.au", Some("Acme")),
            ("3m.com", Some("3m")),
            ("gmail.com", None),
            ("outlook.com", None),
            ("yahoo.com", None),
            ("yahoo.co.uk", None),
            ("hotmail.fr", None),
            ("web.de", None),
            ("linkedin.com", None),
            ("acme.wixsite.com", None),
            ("xn--mller-kva.de", None),
        ] {
            assert_eq!(company_from_domain(domain).as_deref(), company, "{domain}");
        }
    }

    #[test]
    fn free_mail_brands_match_only_their_own_domains() {
        for (domain, free) in [
            ("gmail.com", true),
            ("yahoo.co.jp", true),
            ("outlook.de", true),
            ("live.co.uk", true),
            ("liveperson.com", false),
            ("live.acme.com", false),
            ("outlookgroup.com", false),
            ("acme.com", false),
        ] {
            assert_eq!(is_free_mail(domain), free, "{domain}");
        }
    }

    #[test]
    fn only_a_company_domain_ties_colleagues_together() {
        for (domain, company) in [
            ("acme-dental.com", true),
            ("shop.acme.co.uk", true),
            ("gmail.com", false),
            ("facebook.com", false),
            ("maps.google.com", false),
            ("linktr.ee", false),
            ("", false),
        ] {
            assert_eq!(is_company_domain(domain), company, "{domain}");
        }
    }
}
