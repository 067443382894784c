//! Errors and the one table of exit codes (SPEC §10).
//!
//! Every failure that reaches the user goes through [`Error::exit_code`]:
//! 0 ok, 2 usage, 65 bad input data, 70 internal error, 75 temporary failure,
//! 78 configuration error. Fallbacks and throttling are not errors.

use thiserror::Error;

pub const EXIT_OK: i32 = 0;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_DATA: i32 = 65;
pub const EXIT_INTERNAL: i32 = 70;
pub const EXIT_TEMPFAIL: i32 = 75;
pub const EXIT_CONFIG: i32 = 78;

#[derive(Debug, Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    /// The configuration file or the environment is unusable as a whole.
    #[error("configuration error: {0}")]
    Config(String),
    /// Input data (a file, an argument value, a request body) is wrong; the
    /// message says what and where.
    #[error("{0}")]
    Data(String),
    /// Try again later: a busy database, a full disk, a vendor outage.
    #[error("temporary failure: {0}")]
    Temporary(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::Config(_) => EXIT_CONFIG,
            Error::Data(_) => EXIT_DATA,
            Error::Temporary(_) => EXIT_TEMPFAIL,
            Error::Internal(_) => EXIT_INTERNAL,
            Error::Db(e) => e.exit_code(),
        }
    }
}

/// Database failures, classified by what the operator can do about them.
#[derive(Debug, Error)]
pub enum DbError {
    #[error("cannot open database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("database {path} is not a valid hoss database: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {}", postgres_message(.0))]
    Postgres(postgres::Error),
}

/// What the server said (its message and SQLSTATE), or what happened to
/// the connection: `postgres::Error`'s own text is only "db error".
pub(crate) fn postgres_message(e: &postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    }
}

impl DbError {
    pub fn exit_code(&self) -> i32 {
        use rusqlite::ErrorCode as C;
        match self {
            DbError::Open { .. } => EXIT_CONFIG,
            DbError::Corrupt { .. } => EXIT_DATA,
            DbError::Migration(_) => EXIT_INTERNAL,
            DbError::Sqlite(e) => match e.sqlite_error_code() {
                Some(C::DatabaseBusy | C::DatabaseLocked | C::DiskFull | C::SystemIoFailure) => {
                    EXIT_TEMPFAIL
                }
                Some(C::ReadOnly | C::CannotOpen | C::PermissionDenied) => EXIT_CONFIG,
                Some(C::DatabaseCorrupt | C::NotADatabase) => EXIT_DATA,
                _ => EXIT_INTERNAL,
            },
            DbError::Postgres(e) => postgres_exit_code(e),
        }
    }
}

/// A PostgreSQL failure that may pass (the connection is gone — closed, or
/// reset under a statement being sent — or the server is short of
/// something, the transaction lost a race, a lock is taken) is temporary;
/// anything else is hoss's fault.
fn postgres_exit_code(e: &postgres::Error) -> i32 {
    let Some(state) = e.code() else {
        let io = std::error::Error::source(e).is_some_and(|c| c.is::<std::io::Error>());
        return if e.is_closed() || io {
            EXIT_TEMPFAIL
        } else {
            EXIT_INTERNAL
        };
    };
    match state.code() {
        "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03" => EXIT_TEMPFAIL,
        code if code.starts_with("08") || code.starts_with("53") => EXIT_TEMPFAIL,
        _ => EXIT_INTERNAL,
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        match e {
            // A stored value hoss cannot read (a status word outside the
            // schema's list, written around hoss): bad data, not a bug.
            E::FromSqlConversionFailure(column, _, cause) => Error::Data(format!(
                "a stored value in column {column} cannot be read: {cause} (was the database edited by hand?)"
            )),
            E::InvalidColumnType(column, name, kind) => Error::Data(format!(
                "column {column} ({name}) holds {kind}, which hoss cannot read (was the database edited by hand?)"
            )),
            other => Error::Db(DbError::Sqlite(other)),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
