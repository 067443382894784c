//! Copying one store into another, row for row (`hoss migrate-store`,
//! issue #19): a SQLite file into PostgreSQL, back, or between two of a
//! kind. Every application table (refinery's history table is each store's
//! own), every column as it is stored: ids, tokens, timestamps, money.
//!
//! * **Order and groups.** Data tables go parents first (the foreign keys
//!   of the schema, read from the source), each table in its own
//!   transaction on the target (all of it or none). Then one last group
//!   makes the *kept* tables equal to the source's: the rows a new database
//!   seeds itself (`install`: the identity in every Stripe idempotency key;
//!   `hoss_state`) and the counting tables the triggers keep
//!   (`lead_status_count`, `invoice_status_total`, `tally_hour`,
//!   `tally_second`, `sequence_due_count`), and moves PostgreSQL's identity sequences past the
//!   copied ids.
//! * **Triggers.** Inserting a lead, a send, a sequence or an invoice fires the counting
//!   triggers on the target, as any insert does; no trigger is disabled
//!   (PostgreSQL's `session_replication_role` needs a superuser). The
//!   counting tables are then overwritten with the source's rows, so
//!   nothing is counted twice and the history the source kept (tallies of
//!   pruned ledger rows) comes along. Only inserts run, with each row's
//!   final values, so no `BEFORE UPDATE` rule (a paid invoice is final, a
//!   billed task stays billed) is ever asked.
//! * **Idempotence and conflicts.** A row whose primary key the target
//!   already holds with the same values is skipped (`already`). The target
//!   may hold nothing else: a row under the same key with other values, or
//!   a row the source does not have, means the target has a life of its
//!   own, and the copy is refused before anything is written (the counting
//!   tables would be wrong for it, and whose row wins is the operator's
//!   call, not hoss's). So a copy interrupted half-way is finished by
//!   running it again, and a finished one copies nothing the second time.
//! * **Sequences.** PostgreSQL's identities are `setval` to the largest
//!   copied id (never backwards); SQLite numbers a new row after the
//!   largest id itself (and moves `sqlite_sequence` itself on an explicit
//!   id; the schema has no AUTOINCREMENT table).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use log::debug;
use serde::Serialize;

use crate::config::database_label;
use crate::db::{self, Db, Store, StoreError, StoreResult, Value, params, schema};
use crate::error::{DbError, Error, Result};

/// Tables the triggers keep counting other tables' rows: overwritten with
/// the source's after the rows they count are in.
pub const COUNTING: [&str; 5] = [
    "lead_status_count",
    "invoice_status_total",
    "tally_hour",
    "tally_second",
    "sequence_due_count",
];

/// Tables a new database seeds itself (its own random `install_id`, the
/// first invoice to announce): the source's values win.
pub const SEEDED: [&str; 2] = ["install", "hoss_state"];

/// One end of a copy, as given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Endpoint {
    /// `sqlite:PATH` (also `sqlite://PATH`), `postgres://…` or
    /// `postgresql://…`; `flag` names the argument in the error.
    pub fn parse(text: &str, flag: &str) -> Result<Endpoint> {
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(Error::Usage(format!("{flag} sqlite: needs a file path")));
            }
            return Ok(Endpoint::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Endpoint::Postgres(text.to_owned()));
        }
        Err(Error::Usage(format!(
            "{flag} takes sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE, not {}",
            if text.contains("://") {
                database_label(text)
            } else {
                format!("{text:?}")
            }
        )))
    }

    /// The store as shown: the SQLite file's full path, or the server and
    /// database without user or password.
    pub fn label(&self) -> String {
        match self {
            Endpoint::Sqlite(path) => format!("sqlite:{}", full_path(path).display()),
            Endpoint::Postgres(url) => database_label(url),
        }
    }
}

/// The absolute path of a file that may not exist yet (its folder must).
fn full_path(path: &std::path::Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = parent.map_or_else(|| PathBuf::from("."), PathBuf::from);
    match (std::fs::canonicalize(&dir), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// An opened, migrated end of a copy.
pub struct Side {
    pub store: Store,
    pub schema: schema::Schema,
    pub label: String,
}

/// Opens an end as hoss opens its store (SQLite: `open_sqlite`;
/// PostgreSQL: connect and migrate under the advisory lock), so both are
/// at the newest schema. A source file that does not exist is refused, not
/// made. `flag` replaces `DATABASE_URL` in connection errors.
pub fn open(end: &Endpoint, source: bool, flag: &str) -> Result<Side> {
    let label = end.label();
    match end {
        Endpoint::Sqlite(path) => {
            if source && !path.is_file() {
                return Err(Error::Data(format!(
                    "{flag} {label}: no such file (migrate-store never makes the store it copies from)"
                )));
            }
            let conn = db::open_sqlite(path)?;
            let schema = schema::sqlite(&conn).map_err(StoreError::from)?;
            Ok(Side {
                store: Store::Sqlite(conn),
                schema,
                label,
            })
        }
        Endpoint::Postgres(url) => {
            let named = |e: Error| match e {
                Error::Config(m) => Error::Config(m.replace("DATABASE_URL", flag)),
                Error::Temporary(m) => Error::Temporary(m.replace("DATABASE_URL", flag)),
                other => other,
            };
            let mut client = db::postgres::connect(url).map_err(named)?;
            db::postgres::migrate(&mut client)?;
            let schema =
                schema::postgres(&mut client).map_err(|e| Error::Db(DbError::Postgres(e)))?;
            Ok(Side {
                store: Store::postgres(client),
                schema,
                label,
            })
        }
    }
}

/// What a copy did to one table.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TableCount {
    pub table: String,
    /// Rows written: new rows, and for the kept tables rows whose values
    /// changed to the source's.
    pub copied: u64,
    /// Rows the target held already, with the same values.
    pub already: u64,
    /// Kept tables only: target rows the source does not have, removed.
    pub removed: u64,
}

/// The data tables parents first (by the schema's foreign keys, then by
/// name), then the seeded and the counting tables.
pub fn order(schema: &schema::Schema) -> Vec<String> {
    let kept = |t: &str| COUNTING.contains(&t) || SEEDED.contains(&t);
    let mut waiting: BTreeMap<&str, BTreeSet<&str>> = schema
        .iter()
        .filter(|(name, _)| !kept(name))
        .map(|(name, t)| {
            let parents = t
                .foreign_keys
                .iter()
                .map(|fk| fk.table.as_str())
                .filter(|p| p != name && schema.contains_key(*p))
                .collect();
            (name.as_str(), parents)
        })
        .collect();
    let mut out: Vec<String> = Vec::new();
    while !waiting.is_empty() {
        let ready: Vec<&str> = waiting
            .iter()
            .filter(|(_, parents)| parents.iter().all(|p| !waiting.contains_key(p)))
            .map(|(name, _)| *name)
            .collect();
        // A cycle (none in hoss's schema) would stall: take the rest by name.
        let ready = if ready.is_empty() {
            waiting.keys().copied().collect()
        } else {
            ready
        };
        for name in ready {
            waiting.remove(name);
            out.push(name.to_owned());
        }
    }
    out.extend(
        SEEDED
            .iter()
            .chain(COUNTING.iter())
            .filter(|t| schema.contains_key(**t))
            .map(|t| (*t).to_owned()),
    );
    out
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One table's shape as the copy needs it.
struct Shape {
    name: String,
    columns: Vec<String>,
    /// Positions of the primary key's columns in `columns` (all columns
    /// for a table without one).
    key: Vec<usize>,
}

impl Shape {
    fn read(db: Db<'_>, schema: &schema::Schema, name: &str) -> StoreResult<Shape> {
        let columns: Vec<String> = schema[name]
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let sql = db.pick(
            "SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk",
            "SELECT a.attname::text FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
             WHERE i.indrelid = CAST(CAST(?1 AS text) AS regclass) AND i.indisprimary
             ORDER BY array_position(CAST(i.indkey AS int2[]), a.attnum)",
        );
        let pk: Vec<String> = db.query_all(sql, params![name], |r| r.get(0))?;
        let key = if pk.is_empty() {
            (0..columns.len()).collect()
        } else {
            pk.iter()
                .filter_map(|k| columns.iter().position(|c| c == k))
                .collect()
        };
        Ok(Shape {
            name: name.to_owned(),
            columns,
            key,
        })
    }

    fn rows(&self, db: Db<'_>) -> StoreResult<Vec<Vec<Value>>> {
        let list: Vec<String> = self.columns.iter().map(|c| quoted(c)).collect();
        let order: Vec<String> = self.key.iter().map(|&i| quoted(&self.columns[i])).collect();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            list.join(", "),
            quoted(&self.name),
            order.join(", ")
        );
        let n = self.columns.len();
        db.query_all(&sql, params![], |r| {
            (0..n).map(|i| r.get::<Value>(i)).collect()
        })
    }

    /// The row's primary key as text: values compared exactly, by kind.
    fn key_of(&self, row: &[Value]) -> String {
        let parts: Vec<String> = self.key.iter().map(|&i| format!("{:?}", row[i])).collect();
        parts.join("\u{1f}")
    }

    /// The row's primary key as the operator reads it: `id = 7`.
    fn show_key(&self, row: &[Value]) -> String {
        let parts: Vec<String> = self
            .key
            .iter()
            .map(|&i| {
                let value = match &row[i] {
                    Value::Null => "NULL".to_owned(),
                    Value::Int(n) => n.to_string(),
                    Value::Real(f) => f.to_string(),
                    Value::Text(t) => format!("'{t}'"),
                };
                format!("{} = {value}", self.columns[i])
            })
            .collect();
        parts.join(", ")
    }

    /// Inserts `rows`, many per statement. On PostgreSQL the table's own
    /// triggers are off meanwhile (inside this transaction, which holds
    /// the table's lock until it ends, so no other writer goes uncounted):
    /// they only count rows into the counting tables, which the copy
    /// overwrites with the source's afterwards; per row, a million ledger
    /// rows in one transaction updated the same tally rows a million times.
    /// A role that may not switch them off copies with them on.
    fn insert_all(&self, db: Db<'_>, rows: &[&[Value]]) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let table = quoted(&self.name);
        let quiet = db.is_postgres()
            && db
                .savepoint(|db| {
                    Ok(db.execute_batch(&format!("ALTER TABLE {table} DISABLE TRIGGER USER"))?)
                })
                .is_ok();
        let list: Vec<String> = self.columns.iter().map(|c| quoted(c)).collect();
        // Far below either store's limit on parameters per statement.
        let per_statement = (30_000 / list.len()).clamp(1, 500);
        for chunk in rows.chunks(per_statement) {
            let args: Vec<Value> = chunk.iter().flat_map(|row| row.iter().cloned()).collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES {}",
                list.join(", "),
                db::values_list(chunk.len(), list.len())
            );
            db.execute(&sql, &args)?;
        }
        if quiet {
            db.execute_batch(&format!("ALTER TABLE {table} ENABLE TRIGGER USER"))?;
        }
        Ok(())
    }

    fn insert(&self, db: Db<'_>, row: &[Value]) -> StoreResult<()> {
        let list: Vec<String> = self.columns.iter().map(|c| quoted(c)).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            quoted(&self.name),
            list.join(", "),
            db::values_list(1, list.len())
        );
        db.execute(&sql, row)?;
        Ok(())
    }

    fn delete(&self, db: Db<'_>, row: &[Value]) -> StoreResult<()> {
        let clause: Vec<String> = self
            .key
            .iter()
            .enumerate()
            .map(|(n, &i)| format!("{} = ?{}", quoted(&self.columns[i]), n + 1))
            .collect();
        let sql = format!(
            "DELETE FROM {} WHERE {}",
            quoted(&self.name),
            clause.join(" AND ")
        );
        let key: Vec<Value> = self.key.iter().map(|&i| row[i].clone()).collect();
        db.execute(&sql, &key)?;
        Ok(())
    }
}

/// How the source's rows of a table meet the target's.
struct Plan<'s> {
    new: Vec<&'s [Value]>,
    already: u64,
    /// Keys the target holds with other values.
    different: Vec<String>,
    /// The same keys as the operator reads them (`7`, `'a@b.io'`).
    shown: Vec<String>,
    /// Target rows the source does not have.
    extra: Vec<Vec<Value>>,
}

fn plan<'s>(shape: &Shape, source: &'s [Vec<Value>], target: Vec<Vec<Value>>) -> Plan<'s> {
    let mut held: HashMap<String, Vec<Value>> = target
        .into_iter()
        .map(|row| (shape.key_of(&row), row))
        .collect();
    let mut plan = Plan {
        new: Vec::new(),
        already: 0,
        different: Vec::new(),
        shown: Vec::new(),
        extra: Vec::new(),
    };
    for row in source {
        let key = shape.key_of(row);
        match held.remove(&key) {
            None => plan.new.push(row),
            Some(theirs) if theirs == *row => plan.already += 1,
            Some(_) => {
                plan.different.push(key);
                plan.shown.push(shape.show_key(row));
            }
        }
    }
    plan.extra = held.into_values().collect();
    plan
}

fn kept(table: &str) -> bool {
    COUNTING.contains(&table) || SEEDED.contains(&table)
}

/// Why the target cannot take a data table's rows, if it cannot.
fn refusal(shape: &Shape, plan: &Plan<'_>) -> Option<String> {
    if !plan.different.is_empty() {
        let shown: Vec<&str> = plan.shown.iter().take(3).map(String::as_str).collect();
        return Some(format!(
            "table {}: {} rows under the same key hold other values in the target ({})",
            shape.name,
            plan.different.len(),
            shown.join("; ")
        ));
    }
    if !plan.extra.is_empty() {
        return Some(format!(
            "table {}: the target holds {} rows the source does not have",
            shape.name,
            plan.extra.len()
        ));
    }
    None
}

/// Copies every table of `source` into `target` (both open and migrated,
/// with the same schema). Each finished group's counts are pushed to
/// `done` as it commits, so a caller that gets an error can say which
/// tables were copied; the group that failed was rolled back whole.
pub fn copy(source: &Side, target: &Side, done: &mut Vec<TableCount>) -> Result<()> {
    let differences = schema::differences(&source.schema, &target.schema);
    if !differences.is_empty() {
        return Err(Error::Data(format!(
            "the two stores' schemas differ, nothing was copied:\n{}",
            differences.join("\n")
        )));
    }
    let (from, to) = (source.store.db(), target.store.db());
    // One snapshot of the source for the whole copy.
    from.execute_batch(from.pick("BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))?;
    let result = copy_tables(source, target, from, to, done);
    let _ = from.execute_batch("COMMIT");
    result
}

fn copy_tables(
    source: &Side,
    target: &Side,
    from: Db<'_>,
    to: Db<'_>,
    done: &mut Vec<TableCount>,
) -> Result<()> {
    let tables = order(&source.schema);
    let shapes = tables
        .iter()
        .map(|t| Shape::read(from, &source.schema, t))
        .collect::<StoreResult<Vec<_>>>()?;
    // Before anything is written: does the target hold anything of its own?
    let mut refused = Vec::new();
    for shape in shapes.iter().filter(|s| !kept(&s.name)) {
        let mine = shape.rows(from)?;
        let plan = plan(shape, &mine, shape.rows(to)?);
        refused.extend(refusal(shape, &plan));
    }
    if !refused.is_empty() {
        return Err(Error::Data(format!(
            "{} is not empty and not an earlier copy of {}; nothing was copied (copy into a new database, or remove what is there):\n{}",
            target.label,
            source.label,
            refused.join("\n")
        )));
    }
    for shape in shapes.iter().filter(|s| !kept(&s.name)) {
        let rows = shape.rows(from)?;
        let count = to.immediate(|tx| {
            let plan = plan(shape, &rows, shape.rows(tx)?);
            if let Some(why) = refusal(shape, &plan) {
                return Err(Error::Data(format!(
                    "{why} (written meanwhile?); table rolled back"
                )));
            }
            shape.insert_all(tx, &plan.new)?;
            Ok(TableCount {
                table: shape.name.clone(),
                copied: plan.new.len() as u64,
                already: plan.already,
                removed: 0,
            })
        })?;
        debug!(
            "[MIGRATE][TABLE] table={} copied={} already={}",
            count.table, count.copied, count.already
        );
        done.push(count);
    }
    // The last group: the kept tables become the source's, and the
    // sequences move past the copied ids.
    let kept_shapes: Vec<&Shape> = shapes.iter().filter(|s| kept(&s.name)).collect();
    let sources = kept_shapes
        .iter()
        .map(|s| s.rows(from))
        .collect::<StoreResult<Vec<_>>>()?;
    let counts = to.immediate(|tx| {
        let mut counts = Vec::new();
        for (shape, rows) in kept_shapes.iter().zip(&sources) {
            let plan = plan(shape, rows, shape.rows(tx)?);
            let mut count = TableCount {
                table: shape.name.clone(),
                already: plan.already,
                ..TableCount::default()
            };
            for row in &plan.extra {
                shape.delete(tx, row)?;
                count.removed += 1;
            }
            let different: HashSet<&String> = plan.different.iter().collect();
            let changed: Vec<&[Value]> = rows
                .iter()
                .filter(|r| different.contains(&shape.key_of(r)))
                .map(Vec::as_slice)
                .collect();
            for row in changed.iter().chain(plan.new.iter()) {
                shape.delete(tx, row)?;
                shape.insert(tx, row)?;
                count.copied += 1;
            }
            counts.push(count);
        }
        move_sequences(tx)?;
        Ok(counts)
    })?;
    done.extend(counts);
    Ok(())
}

/// PostgreSQL: every identity sequence past the largest id its table holds
/// (never backwards), so the next insert takes a new id. SQLite needs
/// nothing: a new row's id follows the largest.
fn move_sequences(db: Db<'_>) -> StoreResult<()> {
    if !db.is_postgres() {
        return Ok(());
    }
    let identities: Vec<(String, String)> = db.query_all(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (table, column) in identities {
        let max: Option<i64> = db.query_row(
            &format!("SELECT MAX({}) FROM {}", quoted(&column), quoted(&table)),
            params![],
            |r| r.get(0),
        )?;
        let Some(max) = max else { continue };
        let next: i64 = db.query_row(
            "SELECT setval(s.r, GREATEST(?3, COALESCE(pg_sequence_last_value(s.r), 0)))
             FROM (SELECT CAST(pg_get_serial_sequence(?1, ?2) AS regclass) AS r) s",
            params![quoted(&table), column, max],
            |r| r.get(0),
        )?;
        debug!("[MIGRATE][SEQUENCE] table={table} last={next}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_show_no_password() {
        assert_eq!(
            Endpoint::parse("sqlite:/tmp/h.db", "--from").unwrap(),
            Endpoint::Sqlite("/tmp/h.db".into())
        );
        assert_eq!(
            Endpoint::parse("sqlite:///tmp/h.db", "--from").unwrap(),
            Endpoint::Sqlite("/tmp/h.db".into())
        );
        let url = "postgresql://u:s3cret@db.example.com:5432/hoss?sslmode=require";
        let end = Endpoint::parse(url, "--to").unwrap();
        assert_eq!(end.label(), "postgresql://db.example.com:5432/hoss");
        for bad in ["hoss.db", "mysql://u:s3cret@h/d", "sqlite:"] {
            let err = Endpoint::parse(bad, "--to").unwrap_err();
            assert_eq!(err.exit_code(), crate::error::EXIT_USAGE, "{bad}: {err}");
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
    }

    fn side(conn: rusqlite::Connection, label: &str) -> Side {
        Side {
            schema: schema::sqlite(&conn).unwrap(),
            store: Store::Sqlite(conn),
            label: label.into(),
        }
    }

    #[test]
    fn a_copy_is_whole_idempotent_and_refuses_a_different_row() {
        let source = side(db::open_in_memory().unwrap(), "a");
        let target = side(db::open_in_memory().unwrap(), "b");
        let (from, to) = (source.store.db(), target.store.db());
        from.execute_batch(
            "INSERT INTO customer (id, company, contact_email, public_token, created_at)
                 VALUES (4, 'Acme', 'pay@acme.io', 'tok-aaaaaaaaaaaaaaaaaaaaaa', 10);
             INSERT INTO lead (id, email, source, created_at, customer_id)
                 VALUES (9, 'a@acme.io', 'manual', 7200, 4);
             INSERT INTO invoice (id, customer_id, amount_cents, currency, status, created_at, paid_at, paid_via)
                 VALUES (3, 4, 500, 'usd', 'paid', 20, 30, 'manual');",
        )
        .unwrap();
        let mut done = Vec::new();
        copy(&source, &target, &mut done).unwrap();
        let of = |done: &[TableCount], t: &str| {
            let c = done.iter().find(|c| c.table == t).unwrap();
            (c.copied, c.already)
        };
        assert_eq!(of(&done, "lead"), (1, 0));
        assert_eq!(of(&done, "invoice"), (1, 0));
        assert_eq!(of(&done, "install"), (1, 0), "the source's identity wins");
        let read =
            |db: Db<'_>, sql: &str| -> i64 { db.query_row(sql, params![], |r| r.get(0)).unwrap() };
        for sql in [
            "SELECT n FROM lead_status_count WHERE status = 'new'",
            "SELECT n FROM invoice_status_total WHERE status = 'paid'",
            "SELECT n FROM tally_hour WHERE metric = 'lead'",
        ] {
            assert_eq!(read(to, sql), 1, "{sql}: counted once");
        }
        let mut again = Vec::new();
        copy(&source, &target, &mut again).unwrap();
        assert!(
            again.iter().all(|c| c.copied == 0 && c.removed == 0),
            "{again:?}"
        );

        to.execute("UPDATE lead SET name = 'Other' WHERE id = 9", params![])
            .unwrap();
        from.execute(
            "INSERT INTO suppression (email, reason, created_at) VALUES ('x@y.io', 'manual', 1)",
            params![],
        )
        .unwrap();
        let err = copy(&source, &target, &mut Vec::new()).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_DATA, "{err}");
        assert!(
            err.to_string().contains(
                "table lead: 1 rows under the same key hold other values in the target (id = 9)"
            ),
            "{err}"
        );
        assert_eq!(
            read(to, "SELECT COUNT(*) FROM suppression"),
            0,
            "nothing written"
        );
    }

    #[test]
    fn parents_come_before_children_and_the_kept_tables_last() {
        let conn = db::open_in_memory().unwrap();
        let schema = schema::sqlite(&conn).unwrap();
        let order = order(&schema);
        assert_eq!(order.len(), schema.len(), "{order:?}");
        let at = |t: &str| order.iter().position(|x| x == t).unwrap();
        for (name, table) in &schema {
            for fk in &table.foreign_keys {
                if !kept(name) && fk.table != *name {
                    assert!(at(&fk.table) < at(name), "{} before {name}", fk.table);
                }
            }
        }
        let tail: Vec<&str> = order[order.len() - 7..]
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(
            tail,
            [
                "install",
                "hoss_state",
                "lead_status_count",
                "invoice_status_total",
                "tally_hour",
                "tally_second",
                "sequence_due_count"
            ]
        );
    }
}
