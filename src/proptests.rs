//! Property tests for every parser that sees outside input: no input makes
//! hoss panic, and each answer is either a value or a clear error.
//! (Run with the unit tests; `PROPTEST_CASES` raises the count.)

use proptest::prelude::*;

use crate::domain::{compose, leads, templates, webhook};
use crate::money::Cents;

proptest! {
    #[test]
    fn money_parsing_never_panics_and_round_trips(text in "\\PC{0,24}") {
        if let Ok(c) = Cents::parse(&text) {
            prop_assert!(c.0 >= 0);
            prop_assert_eq!(Cents::parse(&c.to_string()), Ok(c));
        }
    }

    #[test]
    fn valid_amounts_parse_exactly(units in 0i64..10_000_000, cents in 0i64..100) {
        let text = format!("{units}.{cents:02}");
        prop_assert_eq!(Cents::parse(&text), Ok(Cents(units * 100 + cents)));
    }

    #[test]
    fn stripe_signature_headers_never_panic(header in "\\PC{0,200}", body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = webhook::verify_signature(&header, &body, "whsec_x", 1_000, 300);
    }

    #[test]
    fn only_the_right_signature_verifies(body in proptest::collection::vec(any::<u8>(), 0..300), t in 0i64..2_000_000_000, skew in -300i64..=300) {
        let header = webhook::sign("whsec_secret", t, &body);
        prop_assert!(webhook::verify_signature(&header, &body, "whsec_secret", t + skew, 300).is_ok());
        prop_assert!(webhook::verify_signature(&header, &body, "whsec_other", t, 300).is_err());
        let mut tampered = body.clone();
        tampered.push(b'!');
        prop_assert!(webhook::verify_signature(&header, &tampered, "whsec_secret", t, 300).is_err());
    }

    #[test]
    fn event_json_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = webhook::parse_event(&body);
    }

    #[test]
    fn event_like_json_never_panics(id in "\\PC{0,20}", kind in "\\PC{0,40}", amount in any::<i64>(), status in "\\PC{0,10}") {
        let body = serde_json::json!({"id": format!("evt_{id}"), "type": kind, "data": {"object": {
            "id": "cs", "payment_status": status, "amount_total": amount, "metadata": {"invoice_id": id}}}});
        let _ = webhook::parse_event(body.to_string().as_bytes());
    }

    #[test]
    fn search_api_bodies_never_panic(body in "\\PC{0,400}") {
        let _ = leads::parse_search_results(&body);
    }

    #[test]
    fn normalised_leads_are_clean(email in "\\PC{0,60}", company in "\\PC{0,60}", website in "\\PC{0,60}", name in "\\PC{0,60}") {
        let raw = leads::RawLead { email: Some(email), company: Some(company), website: Some(website), name: Some(name), niche: None };
        if let Ok(l) = leads::normalize(&raw) {
            prop_assert!(!l.email.chars().any(char::is_control) && l.email == l.email.trim().to_lowercase());
            prop_assert!(!l.company.chars().any(char::is_control));
            prop_assert!(l.name.iter().all(|n| !n.chars().any(char::is_control)));
        }
    }

    #[test]
    fn templates_render_or_fail_cleanly(template in "\\PC{0,120}", value in "\\PC{0,40}") {
        let values = templates::Values { first_name: Some(value.clone()), company: Some(value), ..Default::default() };
        let rendered = templates::render(&template, &values);
        if !template.contains('{') && !template.contains('#') {
            prop_assert_eq!(rendered, Ok(template));
        }
    }

    #[test]
    fn composed_headers_never_carry_line_breaks(name in "\\PC{0,80}", company in "\\PC{0,80}", niche in "\\PC{0,40}") {
        let pack = templates::builtin_pack("general").unwrap();
        let sender = compose::Sender {
            from_name: "Hoss".into(), from_email: "a@hoss.test".into(), reply_to: "r@hoss.test".into(),
            sender_name: "Sam".into(), company_name: "Sam Co".into(), postal_address: Some("1 Main St".into()), public_base_url: None,
        };
        let lead = compose::LeadFields { id: 3, email: "x@y.com", name: Some(&name), company: &company, niche: Some(&niche) };
        if let Ok(m) = compose::outreach(&pack, &lead, "ops", "agencies", &sender, "tok") {
            prop_assert!(!m.subject.contains('\r') && !m.subject.contains('\n'));
            prop_assert!(m.subject.chars().count() <= compose::WIDTH);
            for line in m.body.lines() {
                prop_assert!(line.chars().count() <= compose::MAX_URL_LINE);
            }
        }
    }

    #[test]
    fn any_config_value_resolves_without_panic_or_raised_limits(key in proptest::sample::select(crate::config::KNOWN_KEYS), value in "\\PC{0,40}") {
        let c = crate::config::Config::from_values([(key.to_string(), value.clone())].into());
        prop_assert!(c.email.max_per_hour <= 100_000 && c.email.max_per_cycle <= 10_000);
        // An unreadable limit never comes out larger than its default: it is 0.
        if key == "MAX_EMAILS_PER_HOUR" && c.email.mode.reason.is_some() {
            prop_assert_eq!(c.email.max_per_hour, 0);
        }
        if key == "MAX_EMAILS_PER_HOUR" && c.email.mode.reason.is_none() {
            let expected = if value.trim().is_empty() { 50 } else { value.trim().parse::<u32>().unwrap_or(u32::MAX) };
            prop_assert_eq!(c.email.max_per_hour, expected);
        }
    }
}
