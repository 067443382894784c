//! The readable text of a message, and what its author wrote above the quote.

use mailparse::ParsedMail;

/// The first `text/plain` part, else the first `text/html` part with its
/// tags dropped, else nothing. Undecodable parts are skipped.
pub fn plain_body(mail: &ParsedMail) -> String {
    let mut html = None;
    for part in mail.parts() {
        let mime = part.ctype.mimetype.to_ascii_lowercase();
        if part.get_content_disposition().disposition == mailparse::DispositionType::Attachment {
            continue;
        }
        if mime == "text/plain" {
            if let Ok(text) = part.get_body() {
                return text;
            }
        } else if mime == "text/html" && html.is_none() {
            html = part.get_body().ok();
        }
    }
    html.map(|h| strip_tags(&h)).unwrap_or_default()
}

/// The text of an HTML body: tags dropped (block ends become line breaks),
/// and what is never shown — `<head>`, `<style>`, `<script>`, `<title>`,
/// comments — dropped whole, so CSS never counts as the author's lines.
fn strip_tags(html: &str) -> String {
    const HIDDEN: [&str; 4] = ["style", "script", "head", "title"];
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut hidden: Option<&str> = None;
    while let Some(lt) = rest.find('<') {
        if hidden.is_none() {
            out.push_str(&rest[..lt]);
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let name = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(until) = hidden {
            if closing && name == until {
                hidden = None;
            }
            continue;
        }
        if !closing
            && !tag.ends_with('/')
            && let Some(h) = HIDDEN.iter().find(|h| **h == name)
        {
            hidden = Some(h);
            continue;
        }
        if ["br", "p", "div", "blockquote", "tr", "li"]
            .iter()
            .any(|t| name.starts_with(t))
        {
            out.push('\n');
        }
    }
    if hidden.is_none() {
        out.push_str(rest);
    }
    out.replace("&nbsp;", " ").replace("&amp;", "&")
}

/// At most five non-empty lines the author wrote, above any quoted text or
/// reply separator (hoss's own footer quoted below never counts).
pub fn own_lines(body: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    for line in body.lines() {
        let t = line.trim();
        if is_separator(t) {
            break;
        }
        if !t.is_empty() {
            lines.push(t);
            if lines.len() == 5 {
                break;
            }
        }
    }
    lines
}

fn is_separator(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    line.starts_with('>')
        || line == "--"
        || line == "-- "
        || line.starts_with("-----")
        || line.starts_with("_____")
        || (lower.starts_with("on ") && lower.ends_with("wrote:"))
        || (lower.starts_with("am ") && lower.ends_with("schrieb:"))
        || (lower.starts_with("le ") && lower.ends_with("écrit :"))
        || lower.starts_with("from: ")
        || lower.starts_with("sent from my ")
}

/// Phrases that ask hoss to stop writing (English at least, SPEC §13).
const STOP_PHRASES: &[&str] = &[
    "unsubscribe",
    "remove me",
    "stop emailing",
    "stop sending",
    "stop contacting",
    "take me off",
    "not interested in more emails",
    "opt out",
    "opt me out",
    "do not contact",
    "do not email",
    "don't email",
    "don't contact",
    "abmelden",
    "désabonner",
];

/// Whether the author's own first lines ask to stop.
pub fn asks_to_stop(body: &str) -> bool {
    own_lines(body).iter().any(|line| {
        let lower = line.to_lowercase();
        STOP_PHRASES.iter().any(|p| lower.contains(p))
    })
}

/// Whether a Subject asks to stop (a List-Unsubscribe `mailto:` request
/// carries `subject=unsubscribe`; some people write it there too).
pub fn subject_asks_to_stop(subject: &str) -> bool {
    let lower = subject.to_lowercase();
    STOP_PHRASES.iter().any(|p| lower.contains(p))
}

/// Everything in `text` that looks like `local@domain.tld`, lower-cased.
pub fn emails_in(text: &str) -> Vec<String> {
    let is_part = |c: char| c.is_ascii_alphanumeric() || "._%+-@".contains(c);
    text.split(|c: char| !is_part(c))
        .map(|w| w.trim_matches(|c| c == '.' || c == '-'))
        .filter(|w| {
            w.split_once('@').is_some_and(|(l, d)| {
                !l.is_empty() && d.contains('.') && !d.contains('@') && !d.starts_with('.')
            })
        })
        .map(str::to_ascii_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_lines_stop_at_the_quote_and_count_five() {
        let body = "a\n\nb\nc\nd\ne\nf unsubscribe";
        assert_eq!(own_lines(body), vec!["a", "b", "c", "d", "e"]);
        assert!(!asks_to_stop(body), "the sixth line does not count");
        assert!(!asks_to_stop(
            "Thanks!\n\nOn Mon, X wrote:\n> to unsubscribe click"
        ));
        assert!(!asks_to_stop("Yes.\n-- \nunsubscribe: https://x"));
        assert!(asks_to_stop("Bitte abmelden"));
    }

    #[test]
    fn html_only_replies_are_read() {
        let raw = b"From: a@x.example\r\nContent-Type: text/html\r\n\r\n<div>Please <b>remove me</b></div><blockquote>hello</blockquote>";
        let mail = mailparse::parse_mail(raw).unwrap();
        assert!(asks_to_stop(&plain_body(&mail)));
    }

    #[test]
    fn styles_and_comments_of_an_html_reply_are_not_its_words() {
        let raw = b"From: a@x.example\r\nContent-Type: text/html\r\n\r\n<html><head><title>Re</title><style type=\"text/css\">\nbody { margin: 0 }\np > span { color: red }\n.a { x: y }\n.b { x: y }\n.c { x: y }\n</style></head><body><!-- a > b\nc\nd\ne\nf --><div>Please remove me from your list.</div></body></html>";
        let mail = mailparse::parse_mail(raw).unwrap();
        let body = plain_body(&mail);
        assert_eq!(own_lines(&body), vec!["Please remove me from your list."]);
        assert!(asks_to_stop(&body));
    }

    #[test]
    fn emails_are_found_in_prose() {
        assert_eq!(
            emails_in("Delivery to <Ann@Acme.example> failed; see postmaster@x.example."),
            vec!["ann@acme.example", "postmaster@x.example"]
        );
        assert!(emails_in("no @ here, nor a@b").is_empty());
    }
}
