//! The shape of a migrated schema, read back from either store, so the two
//! can be compared (issue #19: "both schemas expose the same tables,
//! columns and constraints"). What is compared is what hoss relies on:
//! tables; per table its columns in order (name, a coarse type class,
//! NOT NULL, whether it has a default), its keys (primary and UNIQUE
//! constraints, as column lists), its named indexes (unique or not,
//! columns, partial or not), its foreign keys (with ON DELETE), how many
//! CHECKs it has and the words they allow, and its triggers by name.
//! Index predicates and CHECK expressions are compared coarsely (present;
//! the quoted words they name): the two dialects print them differently.

use std::collections::{BTreeMap, BTreeSet};

/// A whole schema: table name → its shape. Refinery's own history table
/// is left out.
pub type Schema = BTreeMap<String, Table>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<Column>,
    /// Primary key and UNIQUE constraints, each as its column list.
    pub keys: BTreeSet<Vec<String>>,
    /// Indexes made by `CREATE INDEX`, by name.
    pub indexes: BTreeMap<String, Index>,
    pub foreign_keys: BTreeSet<ForeignKey>,
    pub checks: usize,
    /// Every quoted word in the table's CHECKs (`'active'`, `'%_@_%'`).
    pub check_words: BTreeSet<String>,
    pub triggers: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// `integer`, `text`, or the declared type when it is neither.
    pub class: String,
    pub not_null: bool,
    /// Not compared for key columns: SQLite's `INTEGER PRIMARY KEY` numbers
    /// rows by itself, PostgreSQL's needs an identity or none.
    pub has_default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub unique: bool,
    /// Column names; `<expr>` for an expression.
    pub columns: Vec<String>,
    pub partial: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub table: String,
    pub to: Vec<String>,
    pub on_delete: String,
}

/// Every way `b` differs from `a`, one line each (empty: the same).
pub fn differences(a: &Schema, b: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for name in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
        let (Some(x), Some(y)) = (a.get(name), b.get(name)) else {
            let side = if a.contains_key(name) {
                "first"
            } else {
                "second"
            };
            out.push(format!("table {name}: only in the {side} schema"));
            continue;
        };
        let mut say = |line: String| out.push(format!("table {name}: {line}"));
        for i in 0..x.columns.len().max(y.columns.len()) {
            let (l, r) = (x.columns.get(i), y.columns.get(i));
            if l != r {
                say(format!("column {}: {l:?} / {r:?}", i + 1));
            }
        }
        let debug = |v: &dyn std::fmt::Debug| format!("{v:?}");
        one_sided(&x.keys, &y.keys, "key", debug, &mut say);
        let named = |m: &BTreeMap<String, Index>| -> BTreeSet<String> {
            m.iter().map(|(n, i)| format!("{n} {i:?}")).collect()
        };
        one_sided(
            &named(&x.indexes),
            &named(&y.indexes),
            "index",
            debug,
            &mut say,
        );
        one_sided(
            &x.foreign_keys,
            &y.foreign_keys,
            "foreign key",
            debug,
            &mut say,
        );
        if x.checks != y.checks {
            say(format!("CHECKs: {} / {}", x.checks, y.checks));
        }
        one_sided(
            &x.check_words,
            &y.check_words,
            "CHECK word",
            debug,
            &mut say,
        );
        one_sided(&x.triggers, &y.triggers, "trigger", debug, &mut say);
    }
    out
}

/// `what X only in the first|second schema` for each item of one set only.
fn one_sided<T: Ord + std::fmt::Debug>(
    a: &BTreeSet<T>,
    b: &BTreeSet<T>,
    what: &str,
    show: impl Fn(&dyn std::fmt::Debug) -> String,
    say: &mut impl FnMut(String),
) {
    for (set, other, side) in [(a, b, "first"), (b, a, "second")] {
        for item in set.difference(other) {
            say(format!("{what} {} only in the {side} schema", show(item)));
        }
    }
}

fn class(declared: &str) -> String {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") {
        "integer".into()
    } else if t.contains("text") || t.contains("char") {
        "text".into()
    } else {
        t
    }
}

/// The quoted words of `sql` (`'it''s'` is one word, `it's`).
fn quoted_words(sql: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut word = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                } else {
                    break;
                }
            }
            word.push(c);
        }
        words.push(word);
    }
    words
}

/// The CHECK expressions of a `CREATE TABLE` statement as SQLite keeps it
/// (comments included): each `CHECK (…)` outside comments and quotes, with
/// its parentheses balanced.
fn sqlite_checks(sql: &str) -> Vec<String> {
    // Comments out first; quotes are copied whole so `--` in a word stays.
    let mut code = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                code.push(c);
                for c in chars.by_ref() {
                    code.push(c);
                    if c == '\'' {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                chars.by_ref().find(|c| *c == '\n');
                code.push('\n');
            }
            _ => code.push(c),
        }
    }
    let word = |c: Option<&char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_');
    let mut checks = Vec::new();
    let (mut i, mut in_quote, mut open, mut depth) = (0, false, None, 0);
    while i < code.len() {
        let c = code[i];
        if c == '\'' {
            in_quote = !in_quote;
        } else if in_quote {
        } else if let Some(start) = open {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        checks.push(code[start..=i].iter().collect());
                        open = None;
                    }
                }
                _ => {}
            }
        } else if code[i..]
            .iter()
            .take(5)
            .collect::<String>()
            .eq_ignore_ascii_case("check")
            && !word(i.checked_sub(1).and_then(|j| code.get(j)))
            && !word(code.get(i + 5))
        {
            // The expression starts at the next parenthesis.
            if let Some(p) = code[i + 5..].iter().position(|c| *c == '(') {
                i += 5 + p;
                open = Some(i);
                depth = 1;
            }
        }
        i += 1;
    }
    checks
}

/// The schema of a SQLite database.
pub fn sqlite(conn: &rusqlite::Connection) -> rusqlite::Result<Schema> {
    let tables: Vec<(String, String)> = conn
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'
             AND name NOT LIKE 'sqlite_%' AND name <> 'refinery_schema_history'",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut schema = Schema::new();
    for (name, sql) in tables {
        let mut t = Table::default();
        let mut pk: Vec<(i64, String)> = Vec::new();
        let mut stmt = conn.prepare(
            "SELECT name, type, \"notnull\", dflt_value IS NOT NULL, pk
             FROM pragma_table_info(?1) ORDER BY cid",
        )?;
        let mut rows = stmt.query([&name])?;
        while let Some(r) = rows.next()? {
            let (column, declared, not_null, has_default, key): (String, String, bool, bool, i64) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
            if key > 0 {
                pk.push((key, column.clone()));
            }
            t.columns.push(Column {
                name: column,
                class: class(&declared),
                // A key column is never NULL in hoss's rows (SQLite would
                // let a TEXT key be NULL; PostgreSQL never does).
                not_null: not_null || key > 0,
                has_default: has_default && key == 0,
            });
        }
        pk.sort();
        if !pk.is_empty() {
            t.keys.insert(pk.into_iter().map(|(_, c)| c).collect());
        }
        let indexes: Vec<(String, bool, String, bool)> = conn
            .prepare("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1)")?
            .query_map([&name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for (index, unique, origin, partial) in indexes {
            let columns: Vec<String> = conn
                .prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?
                .query_map([&index], |r| {
                    Ok(r.get::<_, Option<String>>(0)?
                        .unwrap_or_else(|| "<expr>".into()))
                })?
                .collect::<rusqlite::Result<_>>()?;
            if origin == "c" {
                t.indexes.insert(
                    index,
                    Index {
                        unique,
                        columns,
                        partial,
                    },
                );
            } else {
                t.keys.insert(columns);
            }
        }
        let mut fks: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        let mut stmt = conn.prepare(
            "SELECT id, \"table\", \"from\", \"to\", on_delete
             FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
        )?;
        let mut rows = stmt.query([&name])?;
        while let Some(r) = rows.next()? {
            let fk = fks.entry(r.get(0)?).or_insert_with(|| ForeignKey {
                columns: Vec::new(),
                table: String::new(),
                to: Vec::new(),
                on_delete: String::new(),
            });
            fk.table = r.get(1)?;
            fk.columns.push(r.get(2)?);
            fk.to.push(r.get(3)?);
            fk.on_delete = r.get(4)?;
        }
        t.foreign_keys = fks.into_values().collect();
        let checks = sqlite_checks(&sql);
        t.checks = checks.len();
        t.check_words = checks.iter().flat_map(|c| quoted_words(c)).collect();
        t.triggers = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1")?
            .query_map([&name], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        schema.insert(name, t);
    }
    Ok(schema)
}

/// The schema of a PostgreSQL database (its current schema, `public`).
pub fn postgres(client: &mut postgres::Client) -> Result<Schema, postgres::Error> {
    let mut schema = Schema::new();
    for row in client.query(
        "SELECT c.relname FROM pg_class c
         WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
           AND c.relname <> 'refinery_schema_history'",
        &[],
    )? {
        schema.insert(row.get(0), Table::default());
    }
    for r in client.query(
        "SELECT t.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                a.atthasdef OR a.attidentity <> '',
                EXISTS (SELECT 1 FROM pg_constraint k
                        WHERE k.conrelid = t.oid AND k.contype = 'p' AND a.attnum = ANY (k.conkey))
         FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid
         WHERE t.relnamespace = current_schema()::regnamespace AND t.relkind = 'r'
           AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY t.relname, a.attnum",
        &[],
    )? {
        let table: String = r.get(0);
        let key: bool = r.get(5);
        if let Some(t) = schema.get_mut(&table) {
            t.columns.push(Column {
                name: r.get(1),
                class: class(r.get(2)),
                not_null: r.get(3),
                has_default: r.get::<_, bool>(4) && !key,
            });
        }
    }
    for r in client.query(
        "SELECT t.relname, i.relname, ix.indisunique, ix.indpred IS NOT NULL,
                EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = ix.indexrelid),
                ARRAY(SELECT CASE WHEN ix.indkey[k - 1] = 0 THEN '<expr>'
                                  ELSE pg_get_indexdef(ix.indexrelid, k, true) END
                      FROM generate_series(1, ix.indnatts::int) k ORDER BY k)
         FROM pg_index ix
         JOIN pg_class i ON i.oid = ix.indexrelid
         JOIN pg_class t ON t.oid = ix.indrelid
         WHERE t.relnamespace = current_schema()::regnamespace",
        &[],
    )? {
        let Some(t) = schema.get_mut(r.get::<_, &str>(0)) else {
            continue;
        };
        let columns: Vec<String> = r.get(5);
        if r.get(4) {
            t.keys.insert(columns);
        } else {
            t.indexes.insert(
                r.get(1),
                Index {
                    unique: r.get(2),
                    columns,
                    partial: r.get(3),
                },
            );
        }
    }
    for r in client.query(
        "SELECT t.relname, k.contype::text, pg_get_constraintdef(k.oid), f.relname,
                ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, o)
                      JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.o),
                ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(n, o)
                      JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.o),
                k.confdeltype::text
         FROM pg_constraint k
         JOIN pg_class t ON t.oid = k.conrelid
         LEFT JOIN pg_class f ON f.oid = k.confrelid
         WHERE t.relnamespace = current_schema()::regnamespace AND k.contype IN ('c', 'f')",
        &[],
    )? {
        let Some(t) = schema.get_mut(r.get::<_, &str>(0)) else {
            continue;
        };
        if r.get::<_, &str>(1) == "c" {
            t.checks += 1;
            t.check_words.extend(quoted_words(r.get(2)));
        } else {
            let on_delete = match r.get::<_, &str>(6) {
                "c" => "CASCADE",
                "n" => "SET NULL",
                "d" => "SET DEFAULT",
                "r" => "RESTRICT",
                _ => "NO ACTION",
            };
            t.foreign_keys.insert(ForeignKey {
                columns: r.get(4),
                table: r.get(3),
                to: r.get(5),
                on_delete: on_delete.into(),
            });
        }
    }
    for r in client.query(
        "SELECT t.relname, g.tgname FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid
         WHERE NOT g.tgisinternal AND t.relnamespace = current_schema()::regnamespace",
        &[],
    )? {
        if let Some(t) = schema.get_mut(r.get::<_, &str>(0)) {
            t.triggers.insert(r.get(1));
        }
    }
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_expressions_are_found_outside_comments_and_quotes() {
        let sql = "CREATE TABLE t (
            a TEXT CHECK (a IN ('x', 'y')), -- a comment that says CHECK ('no')
            b TEXT DEFAULT 'CHECK (z)',
            c INTEGER CHECK ((c > 0) = (a IS NOT NULL)),
            CHECK (b <> 'it''s')
        )";
        let checks = sqlite_checks(sql);
        assert_eq!(checks.len(), 3, "{checks:?}");
        let words: BTreeSet<String> = checks.iter().flat_map(|c| quoted_words(c)).collect();
        assert_eq!(
            words,
            ["x", "y", "it's"].into_iter().map(String::from).collect()
        );
    }

    #[test]
    fn the_comparison_sees_a_lost_index_trigger_check_word_and_column() {
        let whole = sqlite(&crate::db::open_in_memory().unwrap()).unwrap();
        assert!(whole.contains_key("lead") && whole.contains_key("send_ledger"));
        assert_eq!(differences(&whole, &whole), Vec::<String>::new());
        for (broken, names) in [
            ("DROP INDEX lead_email_uq", "lead_email_uq"),
            ("DROP TRIGGER send_tally_update", "send_tally_update"),
            ("ALTER TABLE lead DROP COLUMN not_before", "not_before"),
            ("DROP TABLE search_page", "search_page"),
        ] {
            let conn = crate::db::open_in_memory().unwrap();
            conn.execute_batch(broken).unwrap();
            let found = differences(&whole, &sqlite(&conn).unwrap()).join("\n");
            assert!(found.contains(names), "{broken}: {found}");
        }
        // A CHECK that allows one word fewer.
        let mut fewer = whole.clone();
        fewer
            .get_mut("customer")
            .unwrap()
            .check_words
            .remove("paused");
        assert_eq!(
            differences(&whole, &fewer),
            ["table customer: CHECK word \"paused\" only in the first schema"]
        );
    }

    #[test]
    fn every_table_with_a_status_has_its_words_read_from_its_check() {
        let schema = sqlite(&crate::db::open_in_memory().unwrap()).unwrap();
        let lead = &schema["lead"];
        assert!(lead.check_words.contains("replied"), "{lead:?}");
        assert!(lead.check_words.contains("%_@_%"), "{lead:?}");
        let ledger = &schema["send_ledger"];
        assert!(ledger.check_words.contains("receipt"), "{ledger:?}");
        assert!(ledger.triggers.contains("send_step_tally_unsent"));
        assert!(ledger.keys.contains(&vec!["id".to_string()]));
    }
}
