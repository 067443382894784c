//! Lists (`lead list`, `task list`, `invoice list`, `customer list`,
//! `suppress list`, `attention list`): one renderer for all. A list's JSON
//! is the array of its rows; on a terminal or a pipe it is one table, or
//! what an empty list says.

use std::io::Write;

use serde::Serialize;

use crate::db::{Listed, Page};
use crate::render::{Report, table};

/// One row of a list: its JSON shape (`Serialize`) and its table cells.
pub trait Row: Serialize {
    /// The column names, in the order of [`Row::cells`].
    const HEADER: &'static [&'static str];
    /// What an empty list says.
    const EMPTY: &'static str;
    /// A line under a table that has rows (what to do with them).
    const FOOTER: &'static str = "";

    fn cells(&self) -> Vec<String>;
}

/// A list report.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct List<T>(pub Vec<T>);

impl<T: Row> List<T> {
    /// A page of rows; a page that leaves rows out says so on stderr.
    pub fn page(listed: Listed<T>, page: Page) -> List<T> {
        note_more(&listed, page);
        List(listed.rows)
    }
}

impl<T: Row> Report for List<T> {
    fn human(&self, terminal: bool) -> String {
        if self.0.is_empty() {
            return T::EMPTY.into();
        }
        rows(&self.0, terminal) + T::FOOTER
    }
}

/// Rows as a table (a `show` prints its one row so, above its details).
pub fn rows<T: Row>(rows: &[T], terminal: bool) -> String {
    table(T::HEADER, rows.iter().map(Row::cells).collect(), terminal)
}

/// Tells the operator (on stderr, never in the answer) that a list was cut:
/// `showing 100 of 130; --offset 100 for more`.
fn note_more<T>(listed: &Listed<T>, page: Page) {
    let Some(total) = listed.total else {
        return;
    };
    let shown = listed.rows.len() as u64;
    let line = if shown == 0 {
        format!("nothing at --offset {}: there are {total}", page.offset)
    } else {
        let first = page.offset + 1;
        let last = page.offset + shown;
        format!(
            "showing {first}–{last} of {total}{}; --offset {last} for more",
            if page.newest { ", newest first" } else { "" }
        )
    };
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::{List, Row};
    use crate::render::Report;

    #[derive(Serialize)]
    struct Fruit {
        id: i64,
        name: &'static str,
    }

    impl Row for Fruit {
        const HEADER: &'static [&'static str] = &["id", "name"];
        const EMPTY: &'static str = "no fruit\n";
        const FOOTER: &'static str = "eat one\n";

        fn cells(&self) -> Vec<String> {
            vec![self.id.to_string(), self.name.to_string()]
        }
    }

    #[test]
    fn a_list_is_a_table_or_its_empty_line_and_its_json_is_the_rows() {
        assert_eq!(List::<Fruit>(vec![]).human(false), "no fruit\n");
        let list = List(vec![Fruit { id: 1, name: "fig" }]);
        assert_eq!(list.human(false), "id  name\n1   fig\neat one\n");
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"[{"id":1,"name":"fig"}]"#
        );
    }
}
