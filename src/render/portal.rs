//! Portal and public pages as HTML (askama templates in `templates/`,
//! auto-escaped: every dynamic value is HTML-escaped).

use askama::Template;

use crate::domain::portal::Page;
use crate::error::{Error, Result};

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalHtml<'a> {
    page: &'a Page,
    /// The operator's company (`COMPANY_NAME`), at the top of every page.
    brand: &'a str,
}

/// Says nothing about anyone: no brand either.
#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundHtml {
    brand: &'static str,
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribeHtml<'a> {
    email: &'a str,
    done: bool,
    brand: &'a str,
}

fn rendered(r: askama::Result<String>) -> Result<String> {
    r.map_err(|e| Error::Internal(format!("cannot render a page: {e}")))
}

pub fn portal(page: &Page, brand: &str) -> Result<String> {
    rendered(PortalHtml { page, brand }.render())
}

pub fn not_found() -> Result<String> {
    rendered(NotFoundHtml { brand: "" }.render())
}

pub fn unsubscribe(email: &str, done: bool, brand: &str) -> Result<String> {
    rendered(UnsubscribeHtml { email, done, brand }.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::portal::{InvoiceFact, TaskFact, page};

    #[test]
    fn every_dynamic_value_is_escaped() {
        let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>";
        let p = page(
            evil,
            &[InvoiceFact {
                created_at: 0,
                status: "open".into(),
                amount_cents: 100,
                currency: "usd".into(),
                payment_url: Some("javascript:alert(1)".into()),
            }],
            &[TaskFact {
                description: evil.into(),
                status: "done".into(),
                at: 0,
            }],
            true,
            "usd",
        );
        let html = portal(&p, evil).unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("<img"),
            "{html}"
        );
        assert!(
            html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("javascript:"));
        assert!(!html.contains("PAY NOW"));
    }
}
