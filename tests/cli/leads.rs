//! Lead sourcing against a local search-API stand-in (SPEC §5), dedupe
//! enforced by the database, and the operator's `lead` commands.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::harness::{FakeServer, Sandbox, Trap};

#[derive(Debug, Deserialize)]
struct SourceJson {
    provider: String,
    result: String,
    fetched: i64,
    created: i64,
    deduped: i64,
    invalid: i64,
    page: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct LeadJson {
    id: i64,
    name: Option<String>,
    email: String,
    company: String,
    domain: String,
    website: Option<String>,
    niche: Option<String>,
    source: String,
    status: String,
    created_at: String,
    last_contacted_at: Option<String>,
}

fn search_sandbox(server: &FakeServer) -> Sandbox {
    Sandbox::new()
        .with("LEAD_SOURCE_PROVIDER", "SEARCH_API")
        .with("LEAD_SEARCH_API_URL", &format!("{}/v1/search", server.url))
        .with("LEAD_SEARCH_API_KEY", "search-key-123")
        .with("LEAD_NICHE", "dental clinics")
        .with("LEAD_GEOGRAPHY", "Ohio")
}

fn serve_json(body: Value) -> FakeServer {
    FakeServer::answering(200, body.to_string())
}

fn leads(sb: &Sandbox) -> Vec<LeadJson> {
    sb.json(&["lead", "list", "--limit", "100000", "--json"])
}

#[test]
fn search_api_list_shape_creates_normalised_leads() {
    let server = serve_json(json!([
        {"company_name": "Acme Dental", "contact_name": "Ann Lee", "email": " Ann@AcmeDental.com ",
         "website": "https://www.AcmeDental.com/about", "niche": "dental"},
        {"company": "Bright Smiles", "contact": "Bo Chen", "email": "bo@brightsmiles.io",
         "url": "brightsmiles.io", "industry": "dentistry"}
    ]));
    let sb = search_sandbox(&server);
    let report: SourceJson = sb.json(&["source-leads", "--json"]);
    assert_eq!(
        (report.provider.as_str(), report.result.as_str()),
        ("SEARCH_API", "OK")
    );
    assert_eq!(
        (
            report.fetched,
            report.created,
            report.deduped,
            report.invalid
        ),
        (2, 2, 0, 0)
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "GET");
    assert!(r.url.starts_with("/v1/search?"), "{}", r.url);
    assert!(
        r.url.contains("query=dental+clinics+in+Ohio")
            || r.url.contains("query=dental%20clinics%20in%20Ohio"),
        "{}",
        r.url
    );
    assert!(r.url.contains("limit=10"), "{}", r.url);
    assert_eq!(r.header("Authorization"), Some("Bearer search-key-123"));

    let all = leads(&sb);
    assert_eq!(all.len(), 2);
    let ann = &all[0];
    assert_eq!(ann.email, "ann@acmedental.com");
    assert_eq!(ann.domain, "acmedental.com");
    assert_eq!(ann.name.as_deref(), Some("Ann Lee"));
    assert_eq!(ann.company, "Acme Dental");
    assert_eq!(
        ann.website.as_deref(),
        Some("https://www.AcmeDental.com/about")
    );
    assert_eq!(ann.niche.as_deref(), Some("dental"));
    assert_eq!(
        (ann.source.as_str(), ann.status.as_str()),
        ("SEARCH_API", "new")
    );
    assert!(ann.created_at.ends_with('Z') && ann.last_contacted_at.is_none());
    assert_eq!(all[1].niche.as_deref(), Some("dentistry"));
    assert_eq!(all[1].domain, "brightsmiles.io");
}

#[test]
fn search_api_results_object_shape_is_accepted() {
    let server = serve_json(json!({"results": [
        {"company": "Acme", "email": "a@acme.com"},
        {"company": "Beta", "email": "b@beta.com"},
        {"company": "Gamma", "email": "c@gamma.com"}
    ]}));
    let report: SourceJson = search_sandbox(&server).json(&["source-leads", "--json"]);
    assert_eq!((report.result.as_str(), report.created), ("OK", 3));
}

#[test]
fn duplicates_are_skipped_by_email_and_by_company_and_domain() {
    let sb = Sandbox::new();
    let add = |email: &str, company: &str, website: &str| {
        sb.run(&[
            "lead",
            "add",
            "--email",
            email,
            "--company",
            company,
            "--website",
            website,
            "--json",
        ])
    };
    assert_eq!(add("jane@acme.com", "Acme", "acme.com").code, 0);
    let server = serve_json(json!([
        {"company": "Other Co", "email": "  JANE@Acme.com"},                         // email, case + space
        {"company": "ACME, Inc.", "email": "bob@acme.com", "website": "https://www.Acme.com/about"}, // company+domain
        {"company": "Fresh", "email": "new@fresh.com"},
        {"company": "Fresh", "email": "new@fresh.com"}                                // inside one response
    ]));
    let sb = search_sandbox(&server).share_store_with(&sb);
    let out = sb.run(&["source-leads", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: SourceJson = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!((report.created, report.deduped, report.invalid), (1, 3, 0));
    let deduped = out.log_lines("[LEADS][DEDUPED]");
    assert_eq!(deduped.len(), 3, "{}", out.stderr);
    assert!(
        deduped[0].contains("existing_id=1 by=email"),
        "{}",
        deduped[0]
    );
    assert!(
        deduped[1].contains("existing_id=1 by=company_domain"),
        "{}",
        deduped[1]
    );
    // The second lead's id (PostgreSQL's ids may skip those the deduped
    // inserts drew).
    let fresh = leads(&sb)
        .into_iter()
        .find(|l| l.email == "new@fresh.com")
        .unwrap();
    assert!(
        deduped[2].contains(&format!("existing_id={} by=email", fresh.id)),
        "{}",
        deduped[2]
    );
    assert_eq!(leads(&sb).len(), 2);
}

#[test]
fn records_without_usable_email_are_counted_invalid_never_invented() {
    let server = serve_json(json!([
        {"company": "No Email"},
        {"company": "Bad", "email": "not-an-email"},
        {"email": 42},
        "a string, not an object",
        {"company": "Good", "email": "ok@good.com"}
    ]));
    let sb = search_sandbox(&server);
    let report: SourceJson = sb.json(&["source-leads", "--json"]);
    assert_eq!((report.fetched, report.created, report.invalid), (5, 1, 4));
    assert_eq!(leads(&sb)[0].email, "ok@good.com");
}

#[test]
fn api_failures_are_logged_and_create_nothing() {
    let huge = format!("[{}]", vec![r#"{"email":"x@y.com"}"#; 800_000].join(","));
    let cases: Vec<(&str, u16, String, &str)> = vec![
        (
            "401",
            401,
            r#"{"error":"bad key search-key-123"}"#.into(),
            "status=401",
        ),
        ("500", 500, "oops".into(), "status=500"),
        (
            "html",
            200,
            "<html><body>Login</body></html>".into(),
            "not JSON",
        ),
        (
            "truncated",
            200,
            r#"[{"email": "a@b.com", "comp"#.into(),
            "not JSON",
        ),
        ("shape", 200, r#"{"data": []}"#.into(), "no results list"),
        ("20MB", 200, huge, "larger than"),
    ];
    for (name, status, body, expect) in cases {
        let server = FakeServer::answering(status, body);
        let sb = search_sandbox(&server);
        let out = sb.run(&["source-leads", "--json"]);
        assert_eq!(out.code, 0, "{name}: {out:?}");
        let report: SourceJson = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            (report.result.as_str(), report.created),
            ("API_ERROR", 0),
            "{name}"
        );
        let lines = out.log_lines("[LEADS][API_ERROR]");
        assert_eq!(lines.len(), 1, "{name}: {}", out.stderr);
        assert!(lines[0].contains(expect), "{name}: {}", lines[0]);
        assert!(
            !out.stderr.contains("search-key-123"),
            "{name}: the key leaked"
        );
        assert!(leads(&sb).is_empty(), "{name}");
    }
}

#[test]
fn a_slow_api_times_out_and_can_fall_back_to_dummy_seed() {
    let server = FakeServer::start(|_| {
        std::thread::sleep(Duration::from_secs(13));
        (200, "[]".into())
    });
    let sb = search_sandbox(&server)
        .with("LEAD_SOURCE_FALLBACK", "DUMMY_SEED")
        .with("MAX_NEW_LEADS_PER_CYCLE", "4");
    let out = sb.run(&["source-leads", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: SourceJson = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (
            report.provider.as_str(),
            report.result.as_str(),
            report.created
        ),
        ("DUMMY_SEED", "FALLBACK", 4)
    );
    assert_eq!(
        out.log_lines("[LEADS][API_ERROR] status=none").len(),
        1,
        "{}",
        out.stderr
    );
    assert!(leads(&sb).iter().all(|l| l.domain.ends_with(".example")));
}

#[test]
fn missing_credentials_log_no_creds_and_touch_nothing() {
    let trap = Trap::start();
    let mut sb = Sandbox::new().with("LEAD_SOURCE_PROVIDER", "SEARCH_API");
    trap.arm(&mut sb);
    let out = sb.run(&["source-leads", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: SourceJson = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (
            report.provider.as_str(),
            report.result.as_str(),
            report.created
        ),
        ("NONE", "NO_CREDS", 0)
    );
    assert_eq!(
        out.log_lines("[LEADS][NO_CREDS]").len(),
        1,
        "{}",
        out.stderr
    );

    let sb = sb
        .with("LEAD_SOURCE_FALLBACK", "DUMMY_SEED")
        .with("MAX_NEW_LEADS_PER_CYCLE", "3");
    let report: SourceJson = sb.json(&["source-leads", "--json"]);
    assert_eq!(
        (
            report.provider.as_str(),
            report.result.as_str(),
            report.created
        ),
        ("DUMMY_SEED", "FALLBACK", 3)
    );

    // Global DRY_RUN with complete credentials: nothing reaches the network.
    let sb = sb.with("LEAD_SEARCH_API_KEY", "k").with("DRY_RUN", "TRUE");
    let report: SourceJson = sb.json(&["source-leads", "--json"]);
    assert_eq!(report.provider, "DUMMY_SEED");
    assert_eq!(trap.connections(), 0);
}

#[test]
fn max_new_leads_per_cycle_caps_created_not_fetched() {
    let records: Vec<Value> = (0..30)
        .map(|i| json!({"company": format!("C{i}"), "email": format!("p{i}@c{i}.com")}))
        .collect();
    let server = serve_json(Value::Array(records));
    let sb = search_sandbox(&server).with("MAX_NEW_LEADS_PER_CYCLE", "5");
    let report: SourceJson = sb.json(&["source-leads", "--json"]);
    assert_eq!((report.fetched, report.created), (30, 5));
    assert!(server.requests()[0].url.contains("limit=5"));
    let report: SourceJson = sb.json(&["source-leads", "--json"]);
    assert_eq!((report.created, report.deduped), (5, 5));
    assert_eq!(leads(&sb).len(), 10);
    // A page the cap stopped part-way is asked for again, not skipped.
    assert_eq!(
        pages_asked(&server),
        [Some("1".to_string()), Some("1".to_string())]
    );
}

#[test]
fn dummy_seed_keeps_producing_new_reserved_leads() {
    let sb = Sandbox::new().with("MAX_NEW_LEADS_PER_CYCLE", "200");
    for _ in 0..5 {
        let report: SourceJson = sb.json(&["source-leads", "--json"]);
        assert_eq!(
            (report.provider.as_str(), report.created),
            ("DUMMY_SEED", 200)
        );
    }
    let all = leads(&sb);
    assert_eq!(all.len(), 1000);
    assert!(
        all.iter()
            .all(|l| l.domain.ends_with(".example") && l.email.ends_with(".example"))
    );
    let companies: HashSet<&str> = all.iter().map(|l| l.company.as_str()).collect();
    assert!(companies.len() > 500, "only {} companies", companies.len());
}

#[test]
fn eight_concurrent_passes_create_each_lead_exactly_once() {
    let records: Vec<Value> = (0..40)
        .map(|i| json!({"company": format!("Co {i}"), "email": format!("x{i}@co{i}.com")}))
        .collect();
    let server = serve_json(Value::Array(records));
    let sb = search_sandbox(&server).with("MAX_NEW_LEADS_PER_CYCLE", "100");
    let mut created = 0;
    for out in sb.run_concurrently(&["source-leads", "--json"], 8) {
        assert_eq!(out.code, 0, "{}", out.stderr);
        created += serde_json::from_str::<SourceJson>(&out.stdout)
            .unwrap()
            .created;
    }
    assert_eq!(created, 40);
    let all = leads(&sb);
    assert_eq!(all.len(), 40);
    let emails: HashSet<&str> = all.iter().map(|l| l.email.as_str()).collect();
    assert_eq!(emails.len(), 40);
}

#[test]
fn an_overlapping_run_of_the_same_pass_is_busy_and_exits_0() {
    let sb = Sandbox::new();
    let held = sb.hold_lock("source-leads");
    let out = sb.run(&["source-leads"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.log_lines("[LOCK][BUSY] command=source-leads").len(),
        1,
        "{}",
        out.stderr
    );
    assert!(leads(&sb).is_empty());
    drop(held);
    assert_eq!(
        sb.json::<SourceJson>(&["source-leads", "--json"]).created,
        10
    );
}

#[test]
fn an_invalid_lead_does_not_block_a_new_lead_with_the_same_email() {
    let sb = Sandbox::new();
    let add = || {
        sb.json::<Value>(&[
            "lead",
            "add",
            "--email",
            "jo@acme.com",
            "--company",
            "Acme",
            "--json",
        ])
    };
    assert_eq!(add()["outcome"], "created");
    assert_eq!(add()["outcome"], "deduped");
    let shown: LeadJson = sb.json(&["lead", "set-status", "1", "invalid", "--json"]);
    assert_eq!(shown.status, "invalid");
    let again = add();
    // A new lead, with an id of its own (PostgreSQL's ids may skip the one
    // the deduped insert drew).
    assert_eq!(again["outcome"], "created");
    assert!(again["lead_id"].as_i64().unwrap() > 1, "{again}");
    // Reviving the old one would duplicate the active lead: refused, nothing changes.
    let out = sb.run(&["lead", "set-status", "1", "new"]);
    assert_eq!(out.code, 65, "{out:?}");
    assert!(out.stderr.contains("another active lead"), "{}", out.stderr);
    let one: LeadJson = sb.json(&["lead", "show", "1", "--json"]);
    assert_eq!((one.id, one.status.as_str()), (1, "invalid"));
}

#[test]
fn lead_commands_reject_bad_input_clearly() {
    let sb = Sandbox::new();
    let out = sb.run(&["lead", "add", "--email", "nope", "--company", "X"]);
    assert_eq!(out.code, 65);
    assert!(
        out.stderr.contains("email is not a valid address"),
        "{}",
        out.stderr
    );
    assert_eq!(sb.run(&["lead", "show", "99"]).code, 65);
    assert_eq!(sb.run(&["lead", "set-status", "1", "converted"]).code, 2);
    assert_eq!(sb.run(&["lead", "list", "--status", "bogus"]).code, 2);
    assert_eq!(sb.run(&["lead", "import", "missing.csv"]).code, 65);
}

#[test]
fn csv_import_reports_every_row_and_skips_bad_ones() {
    let sb = Sandbox::new();
    sb.run(&[
        "lead",
        "add",
        "--email",
        "old@acme.com",
        "--company",
        "Acme",
        "--website",
        "acme.com",
    ]);
    let csv = "\u{feff}Website,email,Company,extra,name\n\
               https://beta.io,ann@beta.io,Beta,x,Ann\n\
               ,OLD@acme.com,Whatever,,\n\
               www.acme.com/team,bo@acme.com,\"ACME, Inc.\",,Bo\n\
               ,not-an-email,Gamma,,\n\
               too,few\n\
               \"https://delta.dev\",dee@delta.dev,\"Delta \"\"D\"\" Labs\",,\"Dee, Jr.\"\n";
    std::fs::write(sb.path("leads.csv"), csv).unwrap();
    let report: Value = sb.json(&["lead", "import", "leads.csv", "--json"]);
    assert_eq!(
        (
            report["created"].as_i64(),
            report["deduped"].as_i64(),
            report["invalid"].as_i64(),
            report["malformed"].as_i64()
        ),
        (Some(2), Some(2), Some(1), Some(1)),
        "{report}"
    );
    let rows = report["rows"].as_array().unwrap();
    let outcome = |row: i64| {
        rows.iter().find(|r| r["row"] == row).unwrap()["outcome"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(outcome(2), "created");
    assert_eq!(outcome(3), "deduped");
    assert_eq!(
        rows.iter().find(|r| r["row"] == 4).unwrap()["by"],
        "company_domain"
    );
    assert_eq!(outcome(5), "invalid");
    assert_eq!(outcome(6), "malformed");
    assert_eq!(outcome(7), "created");
    let all = leads(&sb);
    let dee = all.iter().find(|l| l.email == "dee@delta.dev").unwrap();
    assert_eq!(
        (
            dee.company.as_str(),
            dee.name.as_deref(),
            dee.source.as_str()
        ),
        ("Delta \"D\" Labs", Some("Dee, Jr."), "import")
    );

    std::fs::write(sb.path("noemail.csv"), "name,company\nA,B\n").unwrap();
    let out = sb.run(&["lead", "import", "noemail.csv"]);
    assert_eq!(out.code, 65);
    assert!(out.stderr.contains("email column"), "{}", out.stderr);
}

/// The `rows` entry of an import report for one CSV row.
fn row_of(report: &Value, row: i64) -> &Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["row"] == row)
        .unwrap_or_else(|| panic!("no row {row} in {report}"))
}

fn column_fields(report: &Value) -> Vec<(String, Option<String>)> {
    report["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["header"].as_str().unwrap().to_string(),
                c["field"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn csv_import_reads_apollo_and_linkedin_exports_by_their_headers() {
    let sb = Sandbox::new();
    // Apollo: split names, "Company", an "Email Status" that is not an email.
    let apollo = "First Name,Last Name,Title,Company,Email,Email Status,Website,Industry,Person Linkedin Url\n\
                  Ann,Lee,Owner,Acme Dental,Ann@AcmeDental.com,Verified,http://www.acmedental.com,Health Care,https://linkedin.com/in/ann\n\
                  Bo,,CTO,Bright Smiles,bo@brightsmiles.io,Guessed,,,\n";
    std::fs::write(sb.path("apollo.csv"), apollo).unwrap();
    let report: Value = sb.json(&["lead", "import", "apollo.csv", "--json"]);
    assert_eq!(report["created"], 2, "{report}");
    assert_eq!(report["delimiter"], ",");
    let fields = column_fields(&report);
    let field = |h: &str| {
        fields
            .iter()
            .find(|(header, _)| header == h)
            .unwrap_or_else(|| panic!("{h} not reported: {fields:?}"))
            .1
            .clone()
    };
    assert_eq!(field("First Name").as_deref(), Some("first_name"));
    assert_eq!(field("Last Name").as_deref(), Some("last_name"));
    assert_eq!(field("Company").as_deref(), Some("company"));
    assert_eq!(field("Email").as_deref(), Some("email"));
    assert_eq!(field("Website").as_deref(), Some("website"));
    assert_eq!(field("Industry").as_deref(), Some("niche"));
    assert_eq!(field("Email Status"), None);
    assert_eq!(field("Title"), None);
    assert_eq!(field("Person Linkedin Url"), None);

    // LinkedIn (connections export) and Hunter-style names, other spellings.
    let linkedin = "First Name,Last Name,URL,Email Address,Organization Name,Position\n\
                    Cy,Diaz,https://www.linkedin.com/in/cy,cy@gammaworks.com,Gamma Works,Founder\n";
    std::fs::write(sb.path("linkedin.csv"), linkedin).unwrap();
    let report: Value = sb.json(&["lead", "import", "linkedin.csv", "--json"]);
    assert_eq!(report["created"], 1, "{report}");
    let hunter = "full_name,e-mail,company_name,company_website,INDUSTRY\n\
                  Dee Ng,dee@deltalabs.dev,Delta Labs,https://deltalabs.dev,software\n";
    std::fs::write(sb.path("hunter.csv"), hunter).unwrap();
    let report: Value = sb.json(&["lead", "import", "hunter.csv", "--json"]);
    assert_eq!(report["created"], 1, "{report}");

    let all = leads(&sb);
    let by_email = |e: &str| all.iter().find(|l| l.email == e).unwrap();
    let ann = by_email("ann@acmedental.com");
    assert_eq!(
        (
            ann.name.as_deref(),
            ann.company.as_str(),
            ann.domain.as_str(),
            ann.niche.as_deref()
        ),
        (
            Some("Ann Lee"),
            "Acme Dental",
            "acmedental.com",
            Some("Health Care")
        )
    );
    assert_eq!(by_email("bo@brightsmiles.io").name.as_deref(), Some("Bo"));
    let cy = by_email("cy@gammaworks.com");
    // The profile URL is not the company's website.
    assert_eq!(
        (
            cy.name.as_deref(),
            cy.company.as_str(),
            cy.website.as_deref(),
            cy.domain.as_str()
        ),
        (Some("Cy Diaz"), "Gamma Works", None, "gammaworks.com")
    );
    let dee = by_email("dee@deltalabs.dev");
    assert_eq!(
        (
            dee.name.as_deref(),
            dee.company.as_str(),
            dee.website.as_deref(),
            dee.niche.as_deref()
        ),
        (
            Some("Dee Ng"),
            "Delta Labs",
            Some("https://deltalabs.dev"),
            Some("software")
        )
    );
}

#[test]
fn csv_import_reads_a_semicolon_separated_spreadsheet_export() {
    let sb = Sandbox::new();
    // What a spreadsheet with a decimal comma saves: semicolons, CRLF, a BOM,
    // commas inside unquoted values.
    let csv = "\u{feff}Full Name;Email Address;Company Name;Website;Niche\r\n\
               Müller, Jan;jan@mueller-technik.de;Müller Technik GmbH, Berlin;https://mueller-technik.de;Engineering\r\n\
               Eva Roth;eva@roth.ch;\"Roth; Söhne AG\";roth.ch;\r\n\
               broken;row\r\n";
    std::fs::write(sb.path("export.csv"), csv).unwrap();
    let out = sb.run(&["lead", "import", "export.csv", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (report["created"].as_i64(), report["malformed"].as_i64()),
        (Some(2), Some(1)),
        "{report}"
    );
    assert_eq!(report["delimiter"], ";");
    assert_eq!(
        column_fields(&report)[0],
        ("Full Name".to_string(), Some("name".to_string()))
    );
    let broken = row_of(&report, 4);
    assert_eq!(broken["outcome"], "malformed");
    assert!(
        broken["reason"]
            .as_str()
            .unwrap()
            .contains("2 fields where the header has 5"),
        "{broken}"
    );
    let all = leads(&sb);
    let jan = all
        .iter()
        .find(|l| l.email == "jan@mueller-technik.de")
        .unwrap();
    assert_eq!(
        (
            jan.name.as_deref(),
            jan.company.as_str(),
            jan.niche.as_deref()
        ),
        (
            Some("Müller, Jan"),
            "Müller Technik GmbH, Berlin",
            Some("Engineering")
        )
    );
    let eva = all.iter().find(|l| l.email == "eva@roth.ch").unwrap();
    assert_eq!(eva.company, "Roth; Söhne AG");
    // The human report names the separator and the mapping.
    std::fs::write(
        sb.path("again.csv"),
        "Email Address;Company Name;Phone\nzed@zeta.io;Zeta;+1 555\n",
    )
    .unwrap();
    let out = sb.run(&["lead", "import", "again.csv"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("\";\" separated")
            && out.stdout.contains("\"Email Address\" → email")
            && out.stdout.contains("ignored columns: \"Phone\""),
        "{}",
        out.stdout
    );
}

#[test]
fn csv_rows_without_a_company_take_it_from_the_domain_but_never_from_free_mail() {
    let sb = Sandbox::new();
    let csv = "Email,First Name,Company Name,Website\n\
               jo@acme-widgets.com,Jo,,\n\
               sam@gmail.com,Sam,,\n\
               kim@outlook.com,Kim,,https://www.brightpath.co.uk/about\n\
               lee@yahoo.com,Lee,Lee Plumbing,\n\
               max@hotmail.com,Max,,linkedin.com/in/max\n\
               ,Nobody,,nocompany.com\n";
    std::fs::write(sb.path("leads.csv"), csv).unwrap();
    let report: Value = sb.json(&["lead", "import", "leads.csv", "--json"]);
    assert_eq!(
        (report["created"].as_i64(), report["invalid"].as_i64()),
        (Some(3), Some(3)),
        "{report}"
    );
    assert_eq!(row_of(&report, 2)["company_from"], "email");
    assert_eq!(row_of(&report, 4)["company_from"], "website");
    assert!(row_of(&report, 5).get("company_from").is_none());
    for (row, domain) in [(3, "gmail.com"), (6, "hotmail.com")] {
        let r = row_of(&report, row);
        assert_eq!(r["outcome"], "invalid", "{r}");
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason.contains("no company name")
                && reason.contains(&format!("{domain} is a free-mail domain")),
            "{reason}"
        );
    }
    // No email: refused for that, and no address is made up from the website.
    assert_eq!(row_of(&report, 7)["reason"], "email is missing");

    let all = leads(&sb);
    assert_eq!(all.len(), 3, "{all:?}");
    let company = |e: &str| {
        all.iter()
            .find(|l| l.email == e)
            .map(|l| l.company.as_str())
    };
    assert_eq!(company("jo@acme-widgets.com"), Some("Acme Widgets"));
    assert_eq!(company("kim@outlook.com"), Some("Brightpath"));
    assert_eq!(company("lee@yahoo.com"), Some("Lee Plumbing"));
    assert_eq!(company("sam@gmail.com"), None);
    // The derived company is one an outreach message can be written for.
    let preview: Value = sb.json(&["preview", "jo@acme-widgets.com", "--json"]);
    assert!(
        preview["subject"]
            .as_str()
            .unwrap()
            .contains("Acme Widgets"),
        "{preview}"
    );

    // Importing the same file again dedupes every lead and says why.
    let again: Value = sb.json(&["lead", "import", "leads.csv", "--json"]);
    assert_eq!(again["deduped"], 3, "{again}");
    assert_eq!(row_of(&again, 2)["reason"], "matches lead 1 by email");
}

#[test]
fn a_csv_without_an_email_column_is_refused_naming_what_was_read() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.path("export.csv"),
        "Vorname;Nachname;Firma\nJan;Müller;X\n",
    )
    .unwrap();
    let out = sb.run(&["lead", "import", "export.csv"]);
    assert_eq!(out.code, 65, "{out:?}");
    assert!(
        out.stderr.contains("email column") && out.stderr.contains("Vorname | Nachname | Firma"),
        "{}",
        out.stderr
    );
    assert!(leads(&sb).is_empty());
}

/// The value of query parameter `name` in a recorded request URL.
fn param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    url.split_once('?')?.1.split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
    })
}

/// A search API with two pages of results per niche and nothing after: page
/// N of niche "x" holds `pN-i@x.com`.
fn paged_server() -> FakeServer {
    FakeServer::start(|req| {
        let page: u32 = param(&req.url, "page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let niche = param(&req.url, "query")
            .unwrap_or_default()
            .split(['+', '%'])
            .next()
            .unwrap_or_default()
            .to_string();
        let records: Vec<Value> = if page <= 2 {
            (0..3)
                .map(|i| json!({"company": format!("{niche} {page} {i}"), "email": format!("p{page}-{i}@{niche}.com")}))
                .collect()
        } else {
            Vec::new()
        };
        (200, Value::Array(records).to_string())
    })
}

fn pages_asked(server: &FakeServer) -> Vec<Option<String>> {
    server
        .requests()
        .iter()
        .map(|r| param(&r.url, "page").map(str::to_string))
        .collect()
}

#[test]
fn search_pages_advance_each_pass_and_start_over_after_an_empty_page() {
    let server = paged_server();
    let sb = search_sandbox(&server);
    let pass = || sb.run(&["source-leads", "--json"]);
    let report = |out: &crate::harness::Output| -> SourceJson {
        assert_eq!(out.code, 0, "{out:?}");
        serde_json::from_str(&out.stdout).unwrap()
    };
    let first = report(&pass());
    assert_eq!((first.page, first.fetched, first.created), (Some(1), 3, 3));
    let second = report(&pass());
    assert_eq!(
        (second.page, second.created, second.deduped),
        (Some(2), 3, 0)
    );
    let out = pass();
    let empty = report(&out);
    assert_eq!(
        (empty.page, empty.result.as_str(), empty.fetched),
        (Some(3), "OK", 0)
    );
    assert_eq!(
        out.log_lines("[LEADS][PAGES_DONE]").len(),
        1,
        "{}",
        out.stderr
    );
    let again = report(&pass());
    assert_eq!((again.page, again.created, again.deduped), (Some(1), 0, 3));
    assert_eq!(
        pages_asked(&server),
        ["1", "2", "3", "1"].map(|p| Some(p.to_string()))
    );
    let emails: HashSet<String> = leads(&sb).into_iter().map(|l| l.email).collect();
    assert_eq!(emails.len(), 6);
    assert!(emails.contains("p2-0@dental.com"), "{emails:?}");
}

#[test]
fn each_search_query_keeps_its_own_page() {
    let server = paged_server();
    let dental = search_sandbox(&server);
    let legal = search_sandbox(&server)
        .with("LEAD_NICHE", "legal firms")
        .share_store_with(&dental);
    let page = |sb: &Sandbox| sb.json::<SourceJson>(&["source-leads", "--json"]).page;
    assert_eq!(page(&dental), Some(1));
    assert_eq!(page(&dental), Some(2));
    assert_eq!(page(&legal), Some(1));
    assert_eq!(page(&legal), Some(2));
    assert_eq!(page(&dental), Some(3));
    // Geography and sizes are part of the query too.
    let ohio_small = search_sandbox(&server)
        .with("LEAD_MAX_COMPANY_SIZE", "50")
        .share_store_with(&dental);
    assert_eq!(page(&ohio_small), Some(1));
    assert_eq!(page(&dental), Some(1));
    let asked: Vec<(String, String)> = server
        .requests()
        .iter()
        .map(|r| {
            (
                param(&r.url, "query").unwrap().to_string(),
                param(&r.url, "page").unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        asked[2].0.starts_with("legal") && asked[2].1 == "1",
        "{asked:?}"
    );
    assert!(asked[5].0.contains("50") && asked[5].1 == "1", "{asked:?}");
}

#[test]
fn a_failed_search_request_does_not_advance_the_page() {
    let failing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fail = failing.clone();
    let server = FakeServer::start(move |req| {
        if fail.load(std::sync::atomic::Ordering::SeqCst) {
            return (500, "upstream down".into());
        }
        let page = param(&req.url, "page").unwrap_or("1").to_string();
        (
            200,
            json!([{"company": format!("Co {page}"), "email": format!("x@co{page}.com")}])
                .to_string(),
        )
    });
    let sb = search_sandbox(&server);
    assert_eq!(
        sb.json::<SourceJson>(&["source-leads", "--json"]).page,
        Some(1)
    );
    failing.store(true, std::sync::atomic::Ordering::SeqCst);
    for _ in 0..2 {
        let failed: SourceJson = sb.json(&["source-leads", "--json"]);
        assert_eq!((failed.result.as_str(), failed.page), ("API_ERROR", None));
    }
    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    let report: SourceJson = sb.json(&["source-leads", "--json"]);
    assert_eq!((report.page, report.created), (Some(2), 1));
    assert_eq!(
        pages_asked(&server),
        ["1", "2", "2", "2"].map(|p| Some(p.to_string()))
    );
}

#[test]
fn the_page_parameter_can_be_renamed_or_turned_off() {
    let server = paged_server();
    let sb = search_sandbox(&server).with("LEAD_SEARCH_PAGE_PARAM", "page_number");
    assert_eq!(
        sb.json::<SourceJson>(&["source-leads", "--json"]).page,
        Some(1)
    );
    assert_eq!(
        sb.json::<SourceJson>(&["source-leads", "--json"]).page,
        Some(2)
    );
    let urls: Vec<String> = server.requests().into_iter().map(|r| r.url).collect();
    assert_eq!(param(&urls[1], "page_number"), Some("2"), "{urls:?}");
    assert_eq!(param(&urls[1], "page"), None, "{urls:?}");

    let off = search_sandbox(&server).with("LEAD_SEARCH_PAGE_PARAM", "NONE");
    assert_eq!(
        off.json::<SourceJson>(&["source-leads", "--json"]).page,
        None
    );
    let last = server.requests().pop().unwrap();
    assert_eq!(
        (param(&last.url, "page"), param(&last.url, "page_number")),
        (None, None)
    );

    // A mistyped name is a configuration problem, not a request.
    let before = server.requests().len();
    let bad = search_sandbox(&server).with("LEAD_SEARCH_PAGE_PARAM", "page=2");
    let out = bad.run(&["source-leads", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: SourceJson = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (report.provider.as_str(), report.result.as_str()),
        ("NONE", "NO_CREDS")
    );
    assert!(
        out.log_lines("[LEADS][NO_CREDS]")[0].contains("LEAD_SEARCH_PAGE_PARAM"),
        "{}",
        out.stderr
    );
    assert_eq!(server.requests().len(), before);
}

#[test]
fn invalid_records_are_logged_with_a_reason_but_cannot_flood_the_log() {
    let mut records: Vec<Value> = (0..40)
        .map(|i| json!({"company": format!("Bad {i}"), "email": format!("not an email {i}")}))
        .collect();
    records.push(json!({"company": "No Email"}));
    records.push(json!({"company": "Good", "email": "ok@good.com"}));
    let server = serve_json(Value::Array(records));
    let sb = search_sandbox(&server).with("MAX_NEW_LEADS_PER_CYCLE", "100");
    let out = sb.run(&["source-leads", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: SourceJson = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!((report.invalid, report.created), (41, 1));
    let reasons = out.log_lines("[LEADS][INVALID] reason=");
    assert!(
        (1..=5).contains(&reasons.len()),
        "{} reason lines: {}",
        reasons.len(),
        out.stderr
    );
    assert!(
        reasons
            .iter()
            .all(|l| l.contains(" INFO ") && l.contains("email is not a valid address")),
        "{reasons:?}"
    );
    assert!(
        !out.stderr.contains("not an email"),
        "a record's text reached the log"
    );
    let count = out.log_lines("[LEADS][INVALID] count=41");
    assert_eq!(count.len(), 1, "{}", out.stderr);
    assert_eq!(out.log_lines("[LEADS][INVALID]").len(), reasons.len() + 1);
}

#[test]
fn status_shows_the_leads_panel() {
    let server = serve_json(
        json!([{"company": "A", "email": "a@alpha-co.com"}, {"company": "A", "email": "a@alpha-co.com"}]),
    );
    let sb = search_sandbox(&server);
    sb.run(&["source-leads"]);
    let status: Value = sb.json(&["status", "--json"]);
    let panel = &status["leads"];
    assert_eq!(panel["provider"], "SEARCH_API");
    let run = &panel["last_run"];
    assert_eq!(
        (
            run["result"].as_str(),
            run["created"].as_i64(),
            run["deduped"].as_i64()
        ),
        (Some("OK"), Some(1), Some(1))
    );
    assert!(run["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(panel["by_status"]["new"], 1);
    assert_eq!(panel["by_status"]["contacted"], 0);
    let text = sb.run(&["status"]).stdout;
    assert!(
        text.contains("leads: provider SEARCH_API") && text.contains("created 1, deduped 1"),
        "{text}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(24))]

    /// Whatever bytes a CSV file holds, `lead import` imports what it can and
    /// reports the rest (exit 0), or refuses the header (exit 65): never a panic.
    #[test]
    fn any_csv_file_is_imported_or_refused_cleanly(
        header in proptest::sample::select(vec!["email", "name,email,company", "company,EMAIL,website,x", "nope"]),
        rows in proptest::collection::vec("\\PC{0,60}", 0..12),
        junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
    ) {
        let sb = Sandbox::new();
        let mut bytes = format!("{header}\n{}\n", rows.join("\n")).into_bytes();
        bytes.extend(junk);
        std::fs::write(sb.path("f.csv"), &bytes).unwrap();
        let out = sb.run(&["lead", "import", "f.csv", "--json"]);
        proptest::prop_assert!(out.code == 0 || out.code == 65, "{out:?}");
        proptest::prop_assert!(!out.stderr.contains("panicked"));
        if out.code == 0 {
            let report: Value = serde_json::from_str(&out.stdout).unwrap();
            let counted = ["created", "deduped", "invalid", "malformed"].iter().map(|k| report[k].as_i64().unwrap()).sum::<i64>();
            proptest::prop_assert_eq!(counted as usize, report["rows"].as_array().unwrap().len());
        }
    }
}

#[test]
fn a_refused_search_key_is_a_status_warning_and_a_digest_line_until_it_works() {
    for (fallback, status) in [("NONE", 401u16), ("DUMMY_SEED", 403)] {
        let works = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let now = works.clone();
        let server = FakeServer::start(move |_| {
            if now.load(std::sync::atomic::Ordering::SeqCst) {
                (200, "[]".into())
            } else {
                (status, r#"{"error":"revoked"}"#.into())
            }
        });
        let sb = search_sandbox(&server).with("LEAD_SOURCE_FALLBACK", fallback);
        let out = sb.run(&["source-leads"]);
        assert_eq!(out.code, 0, "{out:?}");
        let line = out.log_lines("[LEADS][API_ERROR]");
        assert!(
            line[0].contains("ERROR") && line[0].contains("LEAD_SEARCH_API_KEY"),
            "{line:?}"
        );
        let held = |v: &Value, key: &str| {
            v[key]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().starts_with("lead search failed"))
        };
        let st: Value = sb.json(&["status", "--json"]);
        assert!(held(&st, "warnings"), "{fallback}: {}", st["warnings"]);
        let digest: Value = sb.json(&["summary", "--json"]);
        assert!(held(&digest, "attention"), "{fallback}: {digest}");
        works.store(true, std::sync::atomic::Ordering::SeqCst);
        sb.run(&["source-leads"]);
        let st: Value = sb.json(&["status", "--json"]);
        assert!(!held(&st, "warnings"), "{fallback}: {}", st["warnings"]);
    }
}

/// LinkedIn's own connections export opens with a `Notes:` paragraph and a
/// blank line before its header; it imports like any other export.
#[test]
fn csv_import_reads_linkedin_connections_export_with_its_notes_preamble() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.path("Connections.csv"),
        "Notes:\n\"When exporting your connection data, you may notice that some of the email addresses are missing. You will only see email addresses for connections who have allowed their connections to see or download their email address using this setting https://www.linkedin.com/psettings/privacy/email.\"\n\nFirst Name,Last Name,URL,Email Address,Company,Position,Connected On\nGil,Stone,https://www.linkedin.com/in/gil,gil@iota-co.com,Iota,CEO,01 Jan 2024\nFay,Ng,https://www.linkedin.com/in/fay,,Epsilon,CEO,02 Jan 2024\n",
    )
    .unwrap();
    let out = sb.run(&["lead", "import", "Connections.csv", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["invalid"], 1, "{report}");
    assert_eq!(
        report["rows"][1]["row"], 6,
        "rows count the file's lines: {report}"
    );
}
