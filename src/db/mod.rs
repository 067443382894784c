//! All SQL lives under `db/`: opening with the right pragmas, the embedded
//! migrations, a transaction helper, and one file per table group.

mod columns;
pub mod copy;
pub mod customers;
pub mod digest;
pub mod discipline;
pub mod events;
pub mod inbox;
pub mod invoice_mail;
pub mod invoices;
pub mod leads;
pub mod legacy;
pub mod outbox;
pub mod postgres;
pub mod routes;
pub mod runs;
pub mod schema;
pub mod sequences;
mod store;
pub mod suppression;
pub mod tasks;
#[cfg(test)]
pub(crate) mod test_stores;
#[cfg(test)]
pub(crate) use test_stores::on_each_store;

pub(crate) use store::params;
pub use store::{
    Column, Db, Postgres, Row, Store, StoreError, StoreResult, ToValue, Value, WRITE_LOCK,
    postgres_text,
};

use std::path::Path;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{DbError, Error, Result};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Opens the store the configuration names: the PostgreSQL database of
/// `DATABASE_URL` when it is set (connected, and migrated under an advisory
/// lock), else the SQLite file `HOSS_DB` (see [`open_sqlite`]).
pub fn open(config: &crate::config::Config) -> Result<Store> {
    match &config.database_url {
        Some(url) => {
            let mut client = postgres::connect(url.expose())?;
            postgres::migrate(&mut client)?;
            Ok(Store::postgres(client))
        }
        None => open_sqlite(&config.db_path).map(Store::Sqlite),
    }
}

/// Opens (creating if needed) the database file, sets the pragmas and
/// brings the schema up to date.
pub fn open_sqlite(path: &Path) -> Result<Connection> {
    let shown = path.display().to_string();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(DbError::Open {
            path: shown,
            reason: format!("directory {} does not exist", dir.display()),
        }
        .into());
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(&shown, e))?;
    configure(&conn).map_err(|e| classify(&shown, e))?;
    migrate(conn, Some(path)).map_err(|e| match e {
        Error::Db(DbError::Sqlite(inner)) => classify(&shown, inner),
        other => other,
    })
}

/// An in-memory database with the real migrations, for unit tests.
pub fn open_in_memory() -> Result<Connection> {
    let conn = Connection::open_in_memory()?;
    configure(&conn)?;
    migrate(conn, None)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // The first statement that reads the file: a corrupt file fails here.
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    // Statement journals (an INSERT whose trigger also writes needs one)
    // stay in memory: on disk they cost a dozen pwrite calls per row.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA synchronous = FULL;
         PRAGMA temp_store = MEMORY;",
    )
}

fn classify(path: &str, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    let reason = e.to_string();
    match e.sqlite_error_code() {
        Some(C::NotADatabase | C::DatabaseCorrupt) => DbError::Corrupt {
            path: path.into(),
            reason,
        }
        .into(),
        Some(C::CannotOpen | C::PermissionDenied | C::ReadOnly) => DbError::Open {
            path: path.into(),
            reason: format!("{reason} (is the file or its directory read-only?)"),
        }
        .into(),
        _ => e.into(),
    }
}

/// The newest schema version this hoss knows, on both stores. A constant,
/// not asked of refinery: every command checks it, and building refinery's
/// list of migrations costs a millisecond (a test keeps the two equal).
pub const SCHEMA_VERSION: i32 = 17;

/// Refuses a database whose schema is newer than this hoss: an older hoss
/// must not write it.
fn refuse_newer(applied: i32) -> Result<()> {
    if applied > SCHEMA_VERSION {
        return Err(DbError::Migration(format!(
            "the database has schema version {applied}, newer than this hoss ({SCHEMA_VERSION}); upgrade hoss"
        ))
        .into());
    }
    Ok(())
}

fn applied_version(conn: &Connection) -> rusqlite::Result<i32> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'refinery_schema_history')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM refinery_schema_history",
        [],
        |r| r.get(0),
    )
}

/// Applies pending migrations. Processes starting together on a new file
/// would race inside refinery, so the slow path holds an OS lock on a file
/// beside the database (it guards the schema, not a command).
fn migrate(mut conn: Connection, path: Option<&Path>) -> Result<Connection> {
    let applied = applied_version(&conn)?;
    if applied == SCHEMA_VERSION {
        return Ok(conn);
    }
    refuse_newer(applied)?;
    let _guard = match path {
        Some(p) => {
            let mut name = p.file_name().unwrap_or_default().to_os_string();
            name.push(".migrate-lock");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(p.with_file_name(name))
                .map_err(|e| Error::Temporary(format!("cannot lock for migration: {e}")))?;
            file.lock()
                .map_err(|e| Error::Temporary(format!("cannot lock for migration: {e}")))?;
            Some(file)
        }
        None => None,
    };
    // A migration that rebuilds a table (SQLite cannot alter a CHECK) must
    // not fire the ON DELETE actions of the rows it moves: foreign keys are
    // off while migrations run, and checked whole before they come back on.
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let ran = embedded::migrations::runner()
        .run(&mut conn)
        .map_err(|e| DbError::Migration(e.to_string()));
    let dangling: i64 =
        conn.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })?;
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    ran?;
    if dangling > 0 {
        return Err(DbError::Migration(format!(
            "{dangling} rows reference missing rows after migrating"
        ))
        .into());
    }
    Ok(conn)
}

/// A consistent copy of the whole database in a new file, taken from one
/// read snapshot while other processes keep writing.
pub fn backup_into(conn: &Connection, file: &Path) -> rusqlite::Result<()> {
    conn.execute("VACUUM INTO ?1", [file.to_string_lossy()])?;
    Ok(())
}

/// Runs `f` in one `BEGIN IMMEDIATE` transaction: the write lock is taken up
/// front, so check-then-write sequences cannot interleave across processes.
pub fn immediate<T>(conn: &Connection, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let value = f(&tx)?;
    tx.commit()?;
    Ok(value)
}

/// A status (or any word) as a filter value for [`where_equal`].
pub(crate) fn word(status: impl std::fmt::Display) -> rusqlite::types::Value {
    rusqlite::types::Value::Text(status.to_string())
}

/// `WHERE a = ?1 AND b = ?2` over the filters that are set (or nothing),
/// with their values. Leaving unset filters out of the SQL keeps indexes
/// usable (`?1 IS NULL OR a = ?1` would scan the table).
pub(crate) fn where_equal(
    filters: &[(&str, Option<rusqlite::types::Value>)],
) -> (String, Vec<rusqlite::types::Value>) {
    let set: Vec<_> = filters
        .iter()
        .filter_map(|(c, v)| v.clone().map(|v| (*c, v)))
        .collect();
    if set.is_empty() {
        return (String::new(), Vec::new());
    }
    let sql = set
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{c} = ?{}", i + 1))
        .collect::<Vec<_>>()
        .join(" AND ");
    (
        format!("WHERE {sql}"),
        set.into_iter().map(|(_, v)| v).collect(),
    )
}

/// Which slice of a list an operator asked for: at most `limit` rows after
/// skipping `offset`, oldest first or (`newest`) newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub offset: u64,
    pub newest: bool,
}

impl Page {
    /// Every row, oldest first (for exports and pages, not operator lists).
    pub const ALL: Page = Page {
        limit: u32::MAX,
        offset: 0,
        newest: false,
    };
}

/// A page of rows, and how many rows match in all when some were left out
/// (`None`: the page holds everything from `offset` on).
#[derive(Debug, Clone)]
pub struct Listed<T> {
    pub rows: Vec<T>,
    pub total: Option<i64>,
}

impl<T> Listed<T> {
    /// The same page with each row made into something else.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Listed<U> {
        Listed {
            rows: self.rows.into_iter().map(f).collect(),
            total: self.total,
        }
    }
}

/// One page of `SELECT columns FROM … WHERE …` ordered by `order` (columns,
/// ascending; `newest` turns each around). Reads one row more than the page
/// to know whether rows were left out, and counts them only then.
pub(crate) fn page<T>(
    db: Db<'_>,
    columns: &str,
    from_where: &str,
    args: Vec<Value>,
    order: &[&str],
    page: Page,
    row: impl FnMut(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Listed<T>> {
    let order = order
        .iter()
        .map(|c| {
            if page.newest {
                format!("{c} DESC")
            } else {
                c.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut bound = args.clone();
    bound.push(Value::Int(i64::from(page.limit).saturating_add(1)));
    bound.push(Value::Int(i64::try_from(page.offset).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT {columns} {from_where} ORDER BY {order} LIMIT ?{} OFFSET ?{}",
        bound.len() - 1,
        bound.len()
    );
    let mut rows: Vec<T> = db.query_all(&sql, &bound, row)?;
    let cut = rows.len() > page.limit as usize;
    rows.truncate(page.limit as usize);
    let total = if cut || (rows.is_empty() && page.offset > 0) {
        Some(
            db.query_row(&format!("SELECT COUNT(*) {from_where}"), &args, |r| {
                r.get(0)
            })?,
        )
    } else {
        None
    };
    Ok(Listed { rows, total })
}

/// The `VALUES` list of a multi-row insert: `rows` tuples of `width`
/// numbered parameters, `(?1, ?2), (?3, ?4)` for 2 × 2.
pub(crate) fn values_list(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=width).map(|c| format!("?{}", r * width + c)).collect();
            format!("({})", marks.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Keeps the newest `cap` rows of a table with an integer `id`.
pub(crate) fn cap(db: Db<'_>, table: &str, cap: u32) -> StoreResult<()> {
    db.execute(
        &format!("DELETE FROM {table} WHERE id <= (SELECT MAX(id) FROM {table}) - ?1"),
        params![cap],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_values_list_numbers_its_parameters_row_by_row() {
        assert_eq!(values_list(2, 3), "(?1, ?2, ?3), (?4, ?5, ?6)");
        assert_eq!(values_list(1, 1), "(?1)");
        assert_eq!(values_list(0, 4), "");
    }

    #[test]
    fn every_lead_status_is_one_the_schema_accepts() {
        let conn = open_in_memory().unwrap();
        for (i, s) in crate::domain::status::LeadStatus::ALL.iter().enumerate() {
            conn.execute(
                "INSERT INTO lead (email, company, source, status, created_at) VALUES (?1, 'C', 't', ?2, 1)",
                rusqlite::params![format!("l{i}@x.example"), s],
            )
            .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        let counts = leads::count_by_status(Db::sqlite(&conn)).unwrap();
        assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    }

    #[test]
    fn v9_keeps_the_warm_up_of_a_sender_that_sent_before_sequences() {
        let mut conn = Connection::open_in_memory().unwrap();
        configure(&conn).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        embedded::migrations::runner()
            .set_target(refinery::Target::Version(8))
            .run(&mut conn)
            .unwrap();
        // 2026-11-20 and 2026-11-25 (UTC).
        conn.execute_batch(
            "INSERT INTO lead (email, company, source, status, created_at, last_contacted_at)
                 VALUES ('a@x.example', 'X', 'test', 'contacted', 1, 1795132800);
             INSERT INTO send_ledger (at, hour_start, kind, lead_id, recipient, mode, outcome)
                 VALUES (1795564800, 0, 'outreach', 1, 'a@x.example', 'SMTP', 'sent');",
        )
        .unwrap();
        let conn = migrate(conn, None).unwrap();
        assert_eq!(
            sequences::state_value(Db::sqlite(&conn), "first_real_send_day")
                .unwrap()
                .as_deref(),
            Some("2026-11-20")
        );
        // A new database has no day 0 until its first real send.
        let fresh = open_in_memory().unwrap();
        assert_eq!(
            sequences::state_value(Db::sqlite(&fresh), "first_real_send_day").unwrap(),
            None
        );
    }

    #[test]
    fn the_lead_rebuild_of_v8_keeps_every_row_reference_and_count() {
        let mut conn = Connection::open_in_memory().unwrap();
        configure(&conn).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        embedded::migrations::runner()
            .set_target(refinery::Target::Version(7))
            .run(&mut conn)
            .unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        conn.execute_batch(
            "INSERT INTO lead (email, company, source, status, created_at, unsubscribe_token)
                 VALUES ('a@x.example', 'X', 'test', 'contacted', 1, 'tok-a'),
                        ('b@y.example', 'Y', 'test', 'new', 2, NULL);
             INSERT INTO send_ledger (at, hour_start, kind, lead_id, recipient, mode, outcome)
                 VALUES (5, 0, 'outreach', 1, 'a@x.example', 'SMTP', 'sent');",
        )
        .unwrap();
        let conn = migrate(conn, None).unwrap();
        let ledger_lead: Option<i64> = conn
            .query_row("SELECT lead_id FROM send_ledger", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ledger_lead, Some(1), "ON DELETE SET NULL must not fire");
        let token: String = conn
            .query_row("SELECT unsubscribe_token FROM lead WHERE id = 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(token, "tok-a");
        conn.execute("UPDATE lead SET status = 'replied' WHERE id = 1", [])
            .unwrap();
        let counts = leads::count_by_status(Db::sqlite(&conn)).unwrap();
        assert_eq!(
            (counts["replied"], counts["contacted"], counts["new"]),
            (1, 0, 1)
        );
        let dup = conn.execute(
            "INSERT INTO lead (email, company, source, created_at) VALUES ('b@y.example', 'Z', 't', 3)",
            [],
        );
        assert!(dup.is_err(), "the dedupe index came back");
        let fk: bool = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert!(fk, "foreign keys are on again after migrating");
    }

    #[test]
    fn the_ledger_rebuild_of_v12_keeps_rows_indexes_triggers_and_tallies() {
        let mut conn = Connection::open_in_memory().unwrap();
        configure(&conn).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        embedded::migrations::runner()
            .set_target(refinery::Target::Version(11))
            .run(&mut conn)
            .unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        let objects = |conn: &Connection| -> Vec<String> {
            conn.prepare(
                "SELECT type || ' ' || name FROM sqlite_master
                 WHERE tbl_name = 'send_ledger' AND type IN ('index', 'trigger') AND sql IS NOT NULL
                 ORDER BY 1",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
        };
        let before = objects(&conn);
        conn.execute_batch(
            "INSERT INTO lead (email, company, source, status, created_at)
                 VALUES ('a@x.example', 'X', 'test', 'contacted', 1);
             INSERT INTO send_ledger (at, hour_start, kind, lead_id, step, recipient, mode, outcome, message_id, variant)
                 VALUES (7205, 7200, 'outreach', 1, 2, 'a@x.example', 'SMTP', 'sent', 'm@x', 'general');",
        )
        .unwrap();
        let conn = migrate(conn, None).unwrap();
        let after = objects(&conn);
        for o in &before {
            assert!(after.contains(o), "{o} is lost by the rebuild: {after:?}");
        }
        let row: (i64, i64, String, String, Option<i64>) = conn
            .query_row(
                "SELECT lead_id, step, message_id, variant, invoice_id FROM send_ledger",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(row, (1, 2, "m@x".into(), "general".into(), None));
        // The tally triggers still count: the row's 'outreach:sent' moves
        // to 'outreach:uncertain'.
        conn.execute("UPDATE send_ledger SET outcome = 'uncertain'", [])
            .unwrap();
        let tally = |key: &str| -> i64 {
            conn.query_row(
                "SELECT COALESCE(SUM(n), 0) FROM tally_hour WHERE metric = 'send' AND key = ?1",
                [key],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(
            (tally("outreach:sent"), tally("outreach:uncertain")),
            (0, 1)
        );
        // The customer's mail must name its invoice, and nothing else may.
        let bad = conn.execute(
            "INSERT INTO send_ledger (at, hour_start, kind, recipient, mode, outcome)
             VALUES (1, 0, 'invoice', 'c@x.example', 'SMTP', 'sent')",
            [],
        );
        assert!(bad.is_err());
    }

    #[test]
    fn migrations_apply_and_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(open_sqlite(&path).unwrap());
        let conn = open_sqlite(&path).unwrap();
        assert_eq!(applied_version(&conn).unwrap(), SCHEMA_VERSION);
        let fk: i32 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn status_columns_reject_unknown_values() {
        let conn = open_in_memory().unwrap();
        let err = conn
            .execute(
                "INSERT INTO lead (email, source, status, created_at) VALUES ('a@b.test', 'x', 'bogus', 0)",
                [],
            )
            .unwrap_err();
        assert!(err.to_string().contains("CHECK"), "{err}");
    }

    #[test]
    fn a_paid_invoice_never_goes_back() {
        let conn = open_in_memory().unwrap();
        conn.execute_batch(
            "INSERT INTO customer (id, company, contact_email, created_at) VALUES (1, 'C', 'c@c.test', 0);
             INSERT INTO invoice (id, customer_id, amount_cents, currency, status, created_at, paid_at)
             VALUES (1, 1, 100, 'usd', 'paid', 0, 5);",
        )
        .unwrap();
        let err = conn.execute(
            "UPDATE invoice SET status = 'open', paid_at = NULL WHERE id = 1",
            [],
        );
        assert!(err.is_err());
    }

    #[test]
    fn missing_directory_is_a_clear_config_error() {
        let err = open_sqlite(Path::new("/nonexistent-hoss-dir/x.db")).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_CONFIG);
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn a_corrupt_file_is_bad_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.db");
        std::fs::write(&path, vec![b'x'; 8192]).unwrap();
        let err = open_sqlite(&path).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_DATA, "{err}");
    }
}
