//! The query layer on two stores (issue #19, docs/POSTGRES.md): a
//! [`Store`] owns the connection chosen at open (a SQLite file or a
//! PostgreSQL server) and lends a [`Db`], the handle every query function
//! takes. `Db` is small and `Copy` (a reference to the store), so a
//! transaction hands the same kind of handle to its closure, and code not
//! yet moved to `Db` can still lend its rusqlite connection
//! ([`Db::sqlite`]) to code that has moved.
//!
//! The SQL text is SQLite's. On PostgreSQL it is rewritten once per
//! statement ([`postgres_text`]: `?N`→`$N`, `INDEXED BY` dropped,
//! `LIKE`→`ILIKE`) and the prepared statement is cached; where the rewrite
//! is not enough a query picks its twin text with [`Db::pick`].
//!
//! Values cross as [`Value`]s (bound with [`params!`](crate::db::params));
//! on PostgreSQL each is bound as the type the server inferred for its
//! `$N`, so an integer meets a BIGINT, an INTEGER or a text parameter
//! alike. Columns are read with [`Row::get`] into any [`Column`] type: on
//! SQLite through rusqlite's own conversions (the same values and errors as
//! before), on PostgreSQL through a [`Value`].

use std::cell::RefCell;
use std::collections::HashMap;

use postgres::types::{Format, IsNull, Kind, ToSql, Type, to_sql_checked};
use rusqlite::{Connection, TransactionBehavior};

use crate::clock::Timestamp;
use crate::error::{DbError, Error};
use crate::money::Cents;

/// The advisory lock [`Db::immediate`] takes on PostgreSQL for the length
/// of a transaction: it serialises writers as SQLite's `BEGIN IMMEDIATE`
/// does. Any number will do as long as nothing else uses it ("hoss").
pub const WRITE_LOCK: i64 = 0x686f_7373;

/// The class of the advisory locks [`Db::keyed`] takes on PostgreSQL, one
/// per key ("hosK"); the overlap locks of `lock.rs` use another.
const KEY_LOCK_CLASS: i32 = 0x686f_734b;

/// How many times [`Db::immediate`] runs its closure on PostgreSQL when the
/// server aborts the transaction as a serialization failure or a deadlock.
const ATTEMPTS: usize = 3;

/// A failure of the query layer, on either store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
    /// A stored value that is not what the reading code expects.
    #[error("a stored value in column {column} cannot be read: {reason}")]
    Value { column: usize, reason: String },
    /// A value that cannot be bound as the parameter the server expects.
    #[error("parameter {index} cannot be bound: {reason}")]
    Bind { index: usize, reason: String },
    /// `query_row` found no row (SQLite says so with its own error).
    #[error("query returned no rows")]
    NoRows,
    /// What only SQLite does was asked of PostgreSQL.
    #[error("{0} works on a SQLite store only")]
    SqliteOnly(&'static str),
}

pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// A serialization failure or deadlock on PostgreSQL: the transaction may
/// be run again.
fn retryable(e: &Error) -> bool {
    match e {
        Error::Db(DbError::Postgres(e)) => {
            matches!(e.code().map(|c| c.code()), Some("40001" | "40P01"))
        }
        _ => false,
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            // Exactly what a rusqlite error became before the store moved.
            StoreError::Sqlite(e) => e.into(),
            StoreError::Postgres(e) => Error::Db(DbError::Postgres(e)),
            StoreError::Value { .. } => {
                Error::Data(format!("{e} (was the database edited by hand?)"))
            }
            StoreError::Bind { .. } | StoreError::NoRows | StoreError::SqliteOnly(_) => {
                Error::Internal(e.to_string())
            }
        }
    }
}

/// A value as it goes into a statement or comes out of a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Real(f64),
}

/// Something that can be bound to a statement parameter.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

macro_rules! int_value {
    ($($t:ty),+) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(i64::from(*self))
            }
        }
    )+};
}

int_value!(i64, i32, u32, bool);

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

impl ToValue for Timestamp {
    fn to_value(&self) -> Value {
        Value::Int(self.0)
    }
}

impl ToValue for Cents {
    fn to_value(&self) -> Value {
        Value::Int(self.0)
    }
}

/// `params![a, b, c]`: the statement parameters `?1`, `?2`, `?3`, each
/// taken by reference like rusqlite's macro of the same name.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::db::ToValue::to_value(&$value)),*] as &[$crate::db::Value]
    };
}
pub(crate) use params;

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(n) => ValueRef::Integer(*n),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Real(f) => ValueRef::Real(*f),
        }))
    }
}

/// A type a column can be read into. SQLite reads it with rusqlite's own
/// conversion; PostgreSQL reads a [`Value`] and converts that.
pub trait Column: rusqlite::types::FromSql + Sized {
    fn from_value(value: Value) -> Result<Self, String>;
}

fn wrong(value: &Value, wanted: &str) -> String {
    format!("{value:?} is not {wanted}")
}

impl Column for i64 {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Int(n) => Ok(n),
            other => Err(wrong(&other, "an integer")),
        }
    }
}

impl Column for i32 {
    fn from_value(value: Value) -> Result<Self, String> {
        let n = i64::from_value(value)?;
        i32::try_from(n).map_err(|_| format!("{n} is out of range"))
    }
}

impl Column for u32 {
    fn from_value(value: Value) -> Result<Self, String> {
        let n = i64::from_value(value)?;
        u32::try_from(n).map_err(|_| format!("{n} is out of range"))
    }
}

impl Column for bool {
    /// As rusqlite reads it: any integer but 0 is true.
    fn from_value(value: Value) -> Result<Self, String> {
        i64::from_value(value).map(|n| n != 0)
    }
}

impl Column for f64 {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Real(f) => Ok(f),
            Value::Int(n) => Ok(n as f64),
            other => Err(wrong(&other, "a number")),
        }
    }
}

impl Column for String {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Text(s) => Ok(s),
            other => Err(wrong(&other, "text")),
        }
    }
}

impl<T: Column> Column for Option<T> {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl Column for Timestamp {
    fn from_value(value: Value) -> Result<Self, String> {
        i64::from_value(value).map(Timestamp)
    }
}

impl Column for Cents {
    fn from_value(value: Value) -> Result<Self, String> {
        i64::from_value(value).map(Cents)
    }
}

/// Any column as it is stored, for code that copies rows without knowing
/// their types (`hoss migrate-store`). A BLOB is refused: hoss stores none,
/// and PostgreSQL's side has no such column.
impl rusqlite::types::FromSql for Value {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        use rusqlite::types::{FromSqlError, ValueRef};
        match value {
            ValueRef::Null => Ok(Value::Null),
            ValueRef::Integer(n) => Ok(Value::Int(n)),
            ValueRef::Real(f) => Ok(Value::Real(f)),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(|s| Value::Text(s.to_owned()))
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            ValueRef::Blob(_) => Err(FromSqlError::InvalidType),
        }
    }
}

impl Column for Value {
    fn from_value(value: Value) -> Result<Self, String> {
        Ok(value)
    }
}

/// One row of a result, from either store.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r postgres::Row),
}

impl Row<'_> {
    /// Column `index` (from 0) as a `T`.
    pub fn get<T: Column>(&self, index: usize) -> StoreResult<T> {
        match self {
            Row::Sqlite(r) => Ok(r.get(index)?),
            Row::Postgres(r) => {
                T::from_value(postgres_value(r, index)?).map_err(|reason| StoreError::Value {
                    column: index,
                    reason,
                })
            }
        }
    }
}

fn postgres_value(row: &postgres::Row, index: usize) -> StoreResult<Value> {
    let Some(column) = row.columns().get(index) else {
        return Err(StoreError::Value {
            column: index,
            reason: "no such column".into(),
        });
    };
    let ty = column.type_();
    let value = if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(index)?.map(Value::Int)
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(index)?
            .map(|n| Value::Int(n.into()))
    } else if *ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(index)?
            .map(|n| Value::Int(n.into()))
    } else if *ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(index)?
            .map(|b| Value::Int(b.into()))
    } else if *ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(index)?.map(Value::Real)
    } else if *ty == Type::FLOAT4 {
        row.try_get::<_, Option<f32>>(index)?
            .map(|f| Value::Real(f.into()))
    } else if [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME].contains(ty) {
        row.try_get::<_, Option<String>>(index)?.map(Value::Text)
    } else {
        return Err(StoreError::Value {
            column: index,
            reason: format!("a {ty} column (the PostgreSQL text should cast it to bigint or text)"),
        });
    };
    Ok(value.unwrap_or(Value::Null))
}

/// A value as text (or NULL), read by the server as its parameter's type
/// reads a literal (libpq's way): the same on a statement's first,
/// unprepared run and on its prepared ones.
#[derive(Debug)]
struct AsText(Option<String>);

impl AsText {
    fn of(value: &Value) -> AsText {
        AsText(match value {
            Value::Null => None,
            Value::Int(n) => Some(n.to_string()),
            Value::Text(s) => Some(s.clone()),
            // Display writes the shortest text that reads back as `f`.
            Value::Real(f) => Some(f.to_string()),
        })
    }
}

impl ToSql for AsText {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            None => Ok(IsNull::Yes),
            Some(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// SQLite's SQL text as PostgreSQL's: `?N` (and a bare `?`, numbered as
/// SQLite numbers it) becomes `$N`, `INDEXED BY name` goes (PostgreSQL's
/// planner picks the index) and `LIKE` becomes `ILIKE` (SQLite's `LIKE` is
/// case-insensitive for ASCII). Quoted strings, quoted names and comments
/// are left as they are.
pub fn postgres_text(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut highest = 0u32;
    let mut i = 0;
    let word_at = |i: usize| bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_';
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' | b'"' => {
                let end = sql[i + 1..]
                    .find(c as char)
                    .map_or(sql.len(), |n| i + 2 + n);
                out.push_str(&sql[i..end]);
                i = end;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                let end = sql[i..].find('\n').map_or(sql.len(), |n| i + n);
                out.push_str(&sql[i..end]);
                i = end;
            }
            b'?' => {
                let digits = sql[i + 1..].bytes().take_while(u8::is_ascii_digit).count();
                let n = if digits == 0 {
                    highest + 1
                } else {
                    sql[i + 1..i + 1 + digits].parse().unwrap_or(u32::MAX)
                };
                highest = highest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
                i += 1 + digits;
            }
            _ if word_at(i) => {
                let end = (i..bytes.len())
                    .find(|&j| !word_at(j))
                    .unwrap_or(bytes.len());
                let word = &sql[i..end];
                if word.eq_ignore_ascii_case("LIKE") {
                    out.push_str("ILIKE");
                    i = end;
                } else if word.eq_ignore_ascii_case("INDEXED") {
                    // `INDEXED BY name`: skip all three words and the space
                    // before them.
                    let rest = &sql[end..];
                    let after_by = rest.trim_start();
                    if after_by.len() >= 2 && after_by[..2].eq_ignore_ascii_case("BY") {
                        let name = after_by[2..].trim_start();
                        let name_len = name
                            .bytes()
                            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                            .count();
                        while out.ends_with(' ') {
                            out.pop();
                        }
                        i = sql.len() - name.len() + name_len;
                    } else {
                        out.push_str(word);
                        i = end;
                    }
                } else {
                    out.push_str(word);
                    i = end;
                }
            }
            _ => {
                let ch = sql[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

/// A PostgreSQL connection and the statements it has run, by SQLite text:
/// `None` once run (unprepared), then prepared.
pub struct Postgres {
    client: RefCell<postgres::Client>,
    statements: RefCell<HashMap<String, Option<postgres::Statement>>>,
}

/// The connection chosen at open; lends the [`Db`] handle.
pub enum Store {
    Sqlite(Connection),
    // Boxed: the client and its statement cache are three times the size
    // of a rusqlite connection.
    Postgres(Box<Postgres>),
}

impl Store {
    /// A store on a connected (and migrated) PostgreSQL client.
    pub fn postgres(client: postgres::Client) -> Store {
        Store::Postgres(Box::new(Postgres {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
        }))
    }

    /// The handle queries take.
    pub fn db(&self) -> Db<'_> {
        match self {
            Store::Sqlite(conn) => Db::Sqlite(conn),
            Store::Postgres(pg) => Db::Postgres(pg),
        }
    }

    /// Whether the connection still answers: on PostgreSQL, not closed
    /// (the server ended it, or it dropped) and not stuck in a failed
    /// transaction (one round trip to ask).
    pub fn answers(&self) -> bool {
        match self {
            Store::Sqlite(_) => true,
            Store::Postgres(pg) => {
                let mut client = pg.client.borrow_mut();
                !client.is_closed() && client.simple_query("SELECT 1").is_ok()
            }
        }
    }
}

/// The handle every query function takes: a store, or a transaction on
/// it (the same handle inside [`Db::immediate`]).
#[derive(Clone, Copy)]
pub enum Db<'a> {
    Sqlite(&'a Connection),
    Postgres(&'a Postgres),
}

impl<'a> Db<'a> {
    /// A rusqlite connection (or transaction) as a handle.
    pub fn sqlite(conn: &'a Connection) -> Db<'a> {
        Db::Sqlite(conn)
    }

    /// The rusqlite connection under this handle, for what only SQLite
    /// does (`what` names it); on PostgreSQL an error.
    pub fn sqlite_only(self, what: &'static str) -> StoreResult<&'a Connection> {
        match self {
            Db::Sqlite(conn) => Ok(conn),
            Db::Postgres(_) => Err(StoreError::SqliteOnly(what)),
        }
    }

    pub fn is_postgres(self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    /// For a loop of lookups by key (`plan`'s walk of its candidates): on
    /// PostgreSQL each statement run again from now on in this session is
    /// planned once, not at each run (PostgreSQL plans a prepared
    /// statement's first five runs for their values). It holds for the rest
    /// of the session, so every statement after it gets one plan for all
    /// its values, ranges included: call it where the lookups dominate what
    /// is left (`send-outreach`, whose tally ranges measured slower with
    /// one plan, does not). SQLite: nothing to do.
    pub fn plan_lookups_once(self) -> StoreResult<()> {
        match self {
            Db::Sqlite(_) => Ok(()),
            Db::Postgres(_) => self.execute_batch("SET plan_cache_mode = force_generic_plan"),
        }
    }

    /// Takes the session-level advisory lock (`class`, hash of `name`) on
    /// PostgreSQL if nobody holds it; whether it was taken.
    pub fn try_advisory_lock(self, class: i32, name: &str) -> StoreResult<bool> {
        self.query_row(
            "SELECT pg_try_advisory_lock(?1, hashtext(?2))",
            params![class, name],
            |r| r.get(0),
        )
    }

    /// Lets go of a lock [`Db::try_advisory_lock`] took.
    pub fn advisory_unlock(self, class: i32, name: &str) -> StoreResult<()> {
        self.query_row(
            "SELECT pg_advisory_unlock(?1, hashtext(?2))",
            params![class, name],
            |r| r.get::<bool>(0),
        )?;
        Ok(())
    }

    /// Runs `f` inside a savepoint of the current transaction: an error
    /// from `f` undoes only what `f` wrote (on PostgreSQL it also ends the
    /// failed state an error leaves), and is returned.
    pub fn savepoint<T>(
        self,
        f: impl FnOnce(Db<'_>) -> crate::error::Result<T>,
    ) -> crate::error::Result<T> {
        self.execute_batch("SAVEPOINT hoss_step")?;
        match f(self) {
            Ok(value) => {
                self.execute_batch("RELEASE hoss_step")?;
                Ok(value)
            }
            Err(e) => {
                self.execute_batch("ROLLBACK TO hoss_step; RELEASE hoss_step")?;
                Err(e)
            }
        }
    }

    /// The SQLite text or its PostgreSQL twin, for the few statements the
    /// rewrite of [`postgres_text`] cannot carry over.
    pub fn pick(self, sqlite: &'a str, postgres: &'a str) -> &'a str {
        match self {
            Db::Sqlite(_) => sqlite,
            Db::Postgres(_) => postgres,
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute(self, sql: &str, args: &[Value]) -> StoreResult<usize> {
        match self {
            Db::Sqlite(conn) => Ok(conn
                .prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(args))?),
            Db::Postgres(pg) => {
                let n = pg.run(
                    sql,
                    args,
                    |client, sql, params| client.execute(sql, params),
                    |client, sql, params| client.execute_typed(sql, params),
                )?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    /// Runs an `INSERT` of one row into a table with an `id` column; the
    /// new row's id (`last_insert_rowid()`, `RETURNING id`).
    pub fn insert_id(self, sql: &str, args: &[Value]) -> StoreResult<i64> {
        match self {
            Db::Sqlite(conn) => {
                conn.prepare_cached(sql)?
                    .execute(rusqlite::params_from_iter(args))?;
                Ok(conn.last_insert_rowid())
            }
            Db::Postgres(_) => self.query_row(&format!("{sql} RETURNING id"), args, |r| r.get(0)),
        }
    }

    /// The first row of a query (an error when there is none).
    pub fn query_row<T>(
        self,
        sql: &str,
        args: &[Value],
        f: impl FnOnce(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        match self {
            Db::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql)?;
                let mut rows = statement.query(rusqlite::params_from_iter(args))?;
                match rows.next()? {
                    Some(r) => f(&Row::Sqlite(r)),
                    None => Err(rusqlite::Error::QueryReturnedNoRows.into()),
                }
            }
            Db::Postgres(_) => self.query_opt(sql, args, f)?.ok_or(StoreError::NoRows),
        }
    }

    /// The first row of a query, if there is one.
    pub fn query_opt<T>(
        self,
        sql: &str,
        args: &[Value],
        f: impl FnOnce(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        match self {
            Db::Sqlite(_) => match self.query_row(sql, args, f) {
                Err(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
                other => other.map(Some),
            },
            Db::Postgres(pg) => {
                // postgres's own query_opt refuses a second row; SQLite
                // (and this API) takes the first.
                let rows = pg.query(sql, args)?;
                rows.first().map(|r| f(&Row::Postgres(r))).transpose()
            }
        }
    }

    /// Every row of a query, each made into a `T`.
    pub fn query_all<T>(
        self,
        sql: &str,
        args: &[Value],
        mut f: impl FnMut(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        match self {
            Db::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql)?;
                let mut rows = statement.query(rusqlite::params_from_iter(args))?;
                let mut all = Vec::new();
                while let Some(r) = rows.next()? {
                    all.push(f(&Row::Sqlite(r))?);
                }
                Ok(all)
            }
            Db::Postgres(pg) => {
                // Read whole before converting: no borrow of the client
                // outlives this call, so `f` may query too.
                let rows = pg.query(sql, args)?;
                rows.iter().map(|r| f(&Row::Postgres(r))).collect()
            }
        }
    }

    /// Runs statements without parameters, separated by `;`.
    pub fn execute_batch(self, sql: &str) -> StoreResult<()> {
        match self {
            Db::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Db::Postgres(pg) => Ok(pg.client.borrow_mut().batch_execute(&postgres_text(sql))?),
        }
    }

    /// Runs `f` in one transaction that takes the write lock up front, so
    /// check-then-write sequences cannot interleave across processes:
    /// `BEGIN IMMEDIATE` on SQLite, an advisory lock held to the end of
    /// the transaction on PostgreSQL. An error from `f` rolls it all back.
    /// On PostgreSQL a serialization failure or deadlock runs `f` again (at
    /// most three times in all), so `f` must not act outside the database.
    pub fn immediate<T>(
        self,
        f: impl FnMut(Db<'_>) -> crate::error::Result<T>,
    ) -> crate::error::Result<T> {
        self.transaction(Lock::Exclusive, true, f)
    }

    /// [`Db::immediate`] for a write that touches only what `keys` name
    /// (an event id, a session, a payment link): on PostgreSQL it runs
    /// beside other keyed writes that share none of its keys, so their
    /// commits reach the disk together, and apart from every
    /// [`Db::immediate`] one. On SQLite it is [`Db::immediate`].
    pub fn keyed<T>(
        self,
        keys: &[&str],
        f: impl FnMut(Db<'_>) -> crate::error::Result<T>,
    ) -> crate::error::Result<T> {
        self.transaction(Lock::Keyed(keys), true, f)
    }

    /// [`Db::immediate`] that rolls back even when `f` succeeds: a dry run
    /// that sees its own writes and keeps none.
    pub fn rehearse<T>(
        self,
        f: impl FnMut(Db<'_>) -> crate::error::Result<T>,
    ) -> crate::error::Result<T> {
        self.transaction(Lock::Exclusive, false, f)
    }

    fn transaction<T>(
        self,
        lock: Lock<'_>,
        keep: bool,
        mut f: impl FnMut(Db<'_>) -> crate::error::Result<T>,
    ) -> crate::error::Result<T> {
        match self {
            Db::Sqlite(conn) => {
                let tx =
                    rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
                let value = f(Db::Sqlite(&tx))?;
                if keep {
                    tx.commit()?;
                }
                Ok(value)
            }
            Db::Postgres(pg) => {
                let mut attempt = 1;
                loop {
                    match pg.transaction(self, &lock, keep, &mut f) {
                        Err(e) if attempt < ATTEMPTS && retryable(&e) => attempt += 1,
                        other => return other,
                    }
                }
            }
        }
    }
}

/// What a PostgreSQL transaction locks before it starts.
enum Lock<'k> {
    /// The write lock, alone: every other writer waits.
    Exclusive,
    /// The write lock shared, and one lock per key, taken in one order so
    /// two keyed writes cannot wait on each other.
    Keyed(&'k [&'k str]),
}

impl Lock<'_> {
    /// The text that begins the transaction and takes the locks. Keys go
    /// in as numbers (a hash), never as text.
    fn begin(&self) -> String {
        match self {
            Lock::Exclusive => format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"),
            Lock::Keyed(keys) => {
                let mut hashes: Vec<i32> = keys.iter().map(|k| key_hash(k)).collect();
                hashes.sort_unstable();
                hashes.dedup();
                let mut text = format!("BEGIN; SELECT pg_advisory_xact_lock_shared({WRITE_LOCK})");
                for h in hashes {
                    text.push_str(&format!(", pg_advisory_xact_lock({KEY_LOCK_CLASS}, {h})"));
                }
                text
            }
        }
    }
}

/// A key's lock number: 32-bit FNV-1a, the same in every hoss process and
/// version (two keys that share a number only wait for each other).
fn key_hash(key: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    i32::from_ne_bytes(h.to_ne_bytes())
}

impl Postgres {
    fn query(&self, sql: &str, args: &[Value]) -> StoreResult<Vec<postgres::Row>> {
        self.run(
            sql,
            args,
            |client, statement, params| client.query(statement, params),
            |client, text, params| client.query_typed(text, params),
        )
    }

    /// Runs `sql` with `args`. The first time a connection runs a statement
    /// it goes unprepared, in one round trip: a command that runs each
    /// statement once waits for half the round trips. A statement run again
    /// is prepared, and then only bound. Either way the arguments go as
    /// text ([`AsText`]), so a value the server takes on a first run it
    /// takes on every later one.
    fn run<T>(
        &self,
        sql: &str,
        args: &[Value],
        prepared: impl FnOnce(
            &mut postgres::Client,
            &postgres::Statement,
            &[&(dyn ToSql + Sync)],
        ) -> Result<T, postgres::Error>,
        unprepared: impl FnOnce(
            &mut postgres::Client,
            &str,
            &[(&(dyn ToSql + Sync), Type)],
        ) -> Result<T, postgres::Error>,
    ) -> StoreResult<T> {
        let texts: Vec<AsText> = args.iter().map(AsText::of).collect();
        let seen = self.statements.borrow().get(sql).cloned();
        let statement = match seen {
            Some(Some(statement)) => statement,
            Some(None) => {
                let statement = self.client.borrow_mut().prepare(&postgres_text(sql))?;
                self.statements
                    .borrow_mut()
                    .insert(sql.to_owned(), Some(statement.clone()));
                statement
            }
            None => {
                self.statements.borrow_mut().insert(sql.to_owned(), None);
                let unspecified = Type::new("unspecified".into(), 0, Kind::Pseudo, String::new());
                let params: Vec<(&(dyn ToSql + Sync), Type)> = texts
                    .iter()
                    .map(|t| (t as &(dyn ToSql + Sync), unspecified.clone()))
                    .collect();
                return Ok(unprepared(
                    &mut self.client.borrow_mut(),
                    &postgres_text(sql),
                    &params,
                )?);
            }
        };
        if statement.params().len() != args.len() {
            return Err(StoreError::Bind {
                index: args.len(),
                reason: format!(
                    "{} values for {} parameters",
                    args.len(),
                    statement.params().len()
                ),
            });
        }
        let params: Vec<&(dyn ToSql + Sync)> =
            texts.iter().map(|t| t as &(dyn ToSql + Sync)).collect();
        Ok(prepared(
            &mut self.client.borrow_mut(),
            &statement,
            &params,
        )?)
    }

    fn transaction<T>(
        &self,
        db: Db<'_>,
        lock: &Lock<'_>,
        keep: bool,
        f: &mut impl FnMut(Db<'_>) -> crate::error::Result<T>,
    ) -> crate::error::Result<T> {
        // BEGIN and the locks in one round trip.
        let locked = self.client.borrow_mut().batch_execute(&lock.begin());
        let done = match locked {
            // A lock wait that timed out aborted the transaction: end it,
            // or every later statement on this connection would fail.
            Err(e) => Err(StoreError::from(e).into()),
            Ok(()) => f(db),
        };
        match done {
            Ok(value) => {
                self.client
                    .borrow_mut()
                    .batch_execute(if keep { "COMMIT" } else { "ROLLBACK" })
                    .map_err(StoreError::from)?;
                Ok(value)
            }
            Err(e) => {
                // The error that ended the transaction is the one to report;
                // a failed ROLLBACK (connection gone) ends in the same place.
                let _ = self.client.borrow_mut().batch_execute("ROLLBACK");
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::LeadStatus;

    #[test]
    fn a_write_lock_wait_that_times_out_leaves_the_connection_usable() {
        let Some((holder, waiter)) = crate::db::test_stores::two_connections() else {
            return;
        };
        let (holder, waiter) = (holder.db(), waiter.db());
        holder
            .execute_batch(&format!("SELECT pg_advisory_lock({WRITE_LOCK})"))
            .unwrap();
        waiter.execute_batch("SET lock_timeout = '200ms'").unwrap();
        let insert = "INSERT INTO suppression (email, reason, created_at) VALUES (?1, 'manual', 0)";
        let timed_out = waiter
            .immediate(|tx| Ok(tx.execute(insert, params!["a@b.com"])?))
            .unwrap_err();
        assert_eq!(
            timed_out.exit_code(),
            crate::error::EXIT_TEMPFAIL,
            "{timed_out}"
        );
        assert!(timed_out.to_string().contains("55P03"), "{timed_out}");
        // Not left inside the aborted transaction: the next statements run.
        let n: i64 = waiter
            .query_row("SELECT COUNT(*) FROM suppression", params![], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        holder
            .execute_batch(&format!("SELECT pg_advisory_unlock({WRITE_LOCK})"))
            .unwrap();
        waiter
            .immediate(|tx| Ok(tx.execute(insert, params!["a@b.com"])?))
            .unwrap();
    }

    #[test]
    fn keyed_writes_wait_only_for_their_keys_and_for_immediate_ones() {
        let Some((holder, other)) = crate::db::test_stores::two_connections() else {
            return;
        };
        let (holder, other) = (holder.db(), other.db());
        other.execute_batch("SET lock_timeout = '200ms'").unwrap();
        let insert = "INSERT INTO suppression (email, reason, created_at) VALUES (?1, 'manual', 0)";
        let waits = |e: crate::error::Error| {
            assert!(e.to_string().contains("55P03"), "{e}");
        };
        // While one keyed write holds "event:1", another key goes ahead,
        // the same key and an immediate write wait (and time out here).
        holder
            .keyed(&["event:1", "link:a"], |_| {
                other.keyed(&["event:2"], |tx| {
                    Ok(tx.execute(insert, params!["two@b.com"])?)
                })?;
                other.keyed(&[], |tx| Ok(tx.execute(insert, params!["none@b.com"])?))?;
                waits(
                    other
                        .keyed(&["link:a", "event:3"], |tx| {
                            Ok(tx.execute(insert, params!["a@b.com"])?)
                        })
                        .unwrap_err(),
                );
                waits(
                    other
                        .immediate(|tx| Ok(tx.execute(insert, params!["imm@b.com"])?))
                        .unwrap_err(),
                );
                Ok(())
            })
            .unwrap();
        // And while an immediate write runs, keyed ones wait.
        holder
            .immediate(|_| {
                waits(
                    other
                        .keyed(&["event:9"], |tx| {
                            Ok(tx.execute(insert, params!["nine@b.com"])?)
                        })
                        .unwrap_err(),
                );
                Ok(())
            })
            .unwrap();
        let emails = other
            .query_all(
                "SELECT email FROM suppression ORDER BY email",
                params![],
                |r| r.get::<String>(0),
            )
            .unwrap();
        assert_eq!(emails, ["none@b.com", "two@b.com"]);
    }

    #[test]
    fn a_statement_reads_and_writes_the_same_unprepared_and_prepared() {
        let Some((store, _)) = crate::db::test_stores::two_connections() else {
            return;
        };
        let db = store.db();
        db.execute_batch(
            "CREATE TEMP TABLE t (i BIGINT, s TEXT, n BIGINT, f DOUBLE PRECISION, small INTEGER)",
        )
        .unwrap();
        let rows: Vec<Vec<Value>> = vec![
            vec![
                Value::Int(i64::MIN),
                Value::Text("it's \\ \"quoted\" — ünïcode\n".into()),
                Value::Null,
                Value::Real(0.1),
                Value::Int(-7),
            ],
            vec![
                Value::Int(i64::MAX),
                Value::Text(String::new()),
                Value::Int(0),
                Value::Real(-2.5e300),
                Value::Int(i64::from(i32::MAX)),
            ],
            vec![
                Value::Int(0),
                Value::Text("$1 ?2 '".into()),
                Value::Int(42),
                Value::Real(1e-7),
                Value::Null,
            ],
        ];
        // The first run of a text goes unprepared, the next ones prepared:
        // the same either way.
        let insert = "INSERT INTO t (i, s, n, f, small) VALUES (?1, ?2, ?3, ?4, ?5)";
        for row in &rows {
            assert_eq!(db.execute(insert, row).unwrap(), 1);
        }
        let select =
            "SELECT i, s, n, f, small FROM t WHERE small IS NULL OR small <> ?1 ORDER BY i";
        for _ in 0..3 {
            let read = db
                .query_all(select, params![1_000], |r| {
                    (0..5)
                        .map(|i| r.get::<Value>(i))
                        .collect::<StoreResult<Vec<_>>>()
                })
                .unwrap();
            let mut sorted = rows.clone();
            sorted.sort_by_key(|r| match r[0] {
                Value::Int(n) => n,
                _ => 0,
            });
            assert_eq!(read, sorted);
        }
        // A value the column cannot hold is refused on both paths.
        let small = "UPDATE t SET small = ?1 WHERE i = 0";
        for _ in 0..2 {
            assert!(db.execute(small, params![i64::MAX]).is_err());
        }
        // A value the column takes on the first run it takes on the later
        // ones: "42" as a number, in both.
        let number = "UPDATE t SET n = ?1 WHERE i = 0";
        for _ in 0..3 {
            assert_eq!(db.execute(number, params!["42"]).unwrap(), 1);
        }
        let n: i64 = db
            .query_row("SELECT n FROM t WHERE i = 0", params![], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 42);
    }

    #[test]
    fn a_key_locks_the_same_number_in_every_process() {
        // The lock numbers are part of the contract between hoss processes
        // (and versions) that share a database: FNV-1a, not a seeded hash.
        assert_eq!(key_hash(""), 0x811c_9dc5_u32 as i32);
        assert_eq!(key_hash("a"), 0xe40c_292c_u32 as i32);
        assert_ne!(key_hash("event:1"), key_hash("event:2"));
        assert!(
            Lock::Keyed(&["b", "a", "a"])
                .begin()
                .ends_with(&format!(
                    "pg_advisory_xact_lock_shared({WRITE_LOCK}), pg_advisory_xact_lock({KEY_LOCK_CLASS}, {}), pg_advisory_xact_lock({KEY_LOCK_CLASS}, {})",
                    key_hash("a").min(key_hash("b")),
                    key_hash("a").max(key_hash("b"))
                ))
        );
    }

    #[test]
    fn placeholders_become_numbered_dollars_outside_quotes() {
        assert_eq!(
            postgres_text("SELECT a FROM t WHERE b = ?1 AND c = ?12 OR d = '?3' -- ?4\n AND e = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = $12 OR d = '?3' -- ?4\n AND e = $13"
        );
        assert_eq!(postgres_text("VALUES (?, ?, ?)"), "VALUES ($1, $2, $3)");
        assert_eq!(
            postgres_text(r#"SELECT "odd?1" FROM t WHERE x = ?1"#),
            r#"SELECT "odd?1" FROM t WHERE x = $1"#
        );
    }

    #[test]
    fn indexed_by_goes_and_like_ignores_case() {
        assert_eq!(
            postgres_text(
                "SELECT COUNT(*) FROM invoice INDEXED BY invoice_unpaid_due\n  WHERE due_at < ?1"
            ),
            "SELECT COUNT(*) FROM invoice\n  WHERE due_at < $1"
        );
        assert_eq!(
            postgres_text("SELECT 1 FROM lead l indexed by lead_due WHERE l.x = 1"),
            "SELECT 1 FROM lead l WHERE l.x = 1"
        );
        assert_eq!(
            postgres_text("WHERE company LIKE ?1 AND note NOT like 'LIKE' AND likely = 1"),
            "WHERE company ILIKE $1 AND note NOT ILIKE 'LIKE' AND likely = 1"
        );
        // Text that needs no rewrite comes back as it was, non-ASCII too.
        let plain = "SELECT 'ü', \"INDEXED\" FROM t";
        assert_eq!(postgres_text(plain), plain);
    }

    fn store() -> Store {
        Store::Sqlite(crate::db::open_in_memory().unwrap())
    }

    #[test]
    fn values_round_trip_through_sqlite() {
        let store = store();
        let db = store.db();
        let row = db
            .query_row(
                "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, typeof(?1) || typeof(?4) || typeof(?5)",
                params![
                    7_i64,
                    "text",
                    None::<&str>,
                    true,
                    LeadStatus::EmailFailed,
                    Timestamp(5),
                    Cents(-15)
                ],
                |r| {
                    Ok((
                        r.get::<i64>(0)?,
                        r.get::<String>(1)?,
                        r.get::<Option<String>>(2)?,
                        r.get::<bool>(3)?,
                        r.get::<LeadStatus>(4)?,
                        r.get::<Timestamp>(5)?,
                        r.get::<Cents>(6)?,
                        r.get::<String>(7)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(
            row,
            (
                7,
                "text".into(),
                None,
                true,
                LeadStatus::EmailFailed,
                Timestamp(5),
                Cents(-15),
                "integerintegertext".into()
            )
        );
    }

    #[test]
    fn a_wrong_stored_value_is_bad_data_as_before() {
        let store = store();
        let err = store
            .db()
            .query_row("SELECT 'archived'", params![], |r| {
                r.get::<crate::domain::status::InvoiceStatus>(0)
            })
            .unwrap_err();
        let err = Error::from(err);
        assert_eq!(err.exit_code(), crate::error::EXIT_DATA, "{err}");
        assert!(
            err.to_string().contains("is not a known invoice status"),
            "{err}"
        );
    }

    #[test]
    fn rows_one_or_none_or_all_and_the_new_id() {
        let store = store();
        let db = store.db();
        let insert =
            "INSERT INTO event_log (at, level, tag, message) VALUES (?1, 'INFO', '[T]', ?2)";
        assert_eq!(db.insert_id(insert, params![1, "a"]).unwrap(), 1);
        assert_eq!(db.insert_id(insert, params![2, "b"]).unwrap(), 2);
        let message = "SELECT message FROM event_log WHERE at = ?1";
        assert_eq!(
            db.query_opt(message, params![2], |r| r.get::<String>(0))
                .unwrap(),
            Some("b".into())
        );
        assert_eq!(
            db.query_opt(message, params![3], |r| r.get::<String>(0))
                .unwrap(),
            None
        );
        assert!(matches!(
            db.query_row(message, params![3], |r| r.get::<String>(0)),
            Err(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
        ));
        let all = db
            .query_all(
                "SELECT message FROM event_log ORDER BY id DESC",
                params![],
                |r| r.get::<String>(0),
            )
            .unwrap();
        assert_eq!(all, ["b", "a"]);
        assert_eq!(
            db.execute("DELETE FROM event_log WHERE at < ?1", params![5])
                .unwrap(),
            2
        );
        db.execute_batch("DELETE FROM event_log; DELETE FROM event_log;")
            .unwrap();
    }

    #[test]
    fn lookups_planned_once_answer_as_before() {
        crate::db::on_each_store(|db| {
            db.execute_batch(
                "INSERT INTO suppression (email, reason, created_at) VALUES
                   ('a@x.com', 'manual', 1), ('b@x.com', 'bounce', 2)",
            )
            .unwrap();
            db.plan_lookups_once().unwrap();
            if db.is_postgres() {
                let mode: String = db
                    .query_row(
                        "SELECT current_setting('plan_cache_mode')",
                        params![],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(mode, "force_generic_plan");
            }
            // Run past PostgreSQL's five planned-per-value runs.
            for _ in 0..7 {
                for (email, reason) in [
                    ("a@x.com", Some("manual")),
                    ("b@x.com", Some("bounce")),
                    ("c@x.com", None),
                ] {
                    let found: Option<String> = db
                        .query_opt(
                            "SELECT reason FROM suppression WHERE email = ?1",
                            params![email],
                            |r| r.get(0),
                        )
                        .unwrap();
                    assert_eq!(found.as_deref(), reason);
                }
            }
        });
    }

    #[test]
    fn immediate_commits_what_succeeds_and_rolls_back_what_fails() {
        let store = store();
        let db = store.db();
        let count = || {
            db.query_row("SELECT COUNT(*) FROM suppression", params![], |r| {
                r.get::<i64>(0)
            })
            .unwrap()
        };
        let insert = "INSERT INTO suppression (email, reason, created_at) VALUES (?1, 'manual', 0)";
        db.immediate(|tx| Ok(tx.execute(insert, params!["a@x.example"])?))
            .unwrap();
        assert_eq!(count(), 1);
        let failed: crate::error::Result<()> = db.immediate(|tx| {
            tx.execute(insert, params!["b@x.example"])?;
            Err(Error::Data("stop".into()))
        });
        assert!(failed.is_err());
        assert_eq!(count(), 1, "the failed transaction left nothing");
        // A handle lent from a rusqlite connection works the same.
        let conn = crate::db::open_in_memory().unwrap();
        Db::sqlite(&conn)
            .immediate(|tx| Ok(tx.execute(insert, params!["c@x.example"])?))
            .unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM suppression", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn any_column_reads_back_as_the_value_it_holds() {
        let store = store();
        let row = store
            .db()
            .query_row(
                "SELECT ?1, ?2, ?3, ?4",
                params![7_i64, "text", None::<i64>, 1.5],
                |r| {
                    (0..4)
                        .map(|i| r.get::<Value>(i))
                        .collect::<StoreResult<Vec<_>>>()
                },
            )
            .unwrap();
        assert_eq!(
            row,
            [
                Value::Int(7),
                Value::Text("text".into()),
                Value::Null,
                Value::Real(1.5)
            ]
        );
        let blob = store
            .db()
            .query_row("SELECT x'00'", params![], |r| r.get::<Value>(0));
        assert!(blob.is_err(), "{blob:?}");
    }

    #[test]
    fn picks_the_text_of_its_store() {
        let store = store();
        assert_eq!(store.db().pick("a", "b"), "a");
        assert!(!store.db().is_postgres());
    }
}
