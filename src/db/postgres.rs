//! The PostgreSQL store (issue #19), being built beside SQLite: connecting
//! (TLS through rustls, the URL's `sslmode` honoured) and the schema, whose
//! migrations are the twins of SQLite's, one for one, in
//! `migrations-postgres/` so both stores report the same schema version.
//!
//! `db::open` connects here when `DATABASE_URL` is set; the queries speak
//! both dialects through `db::Db` (`src/db/store.rs`).

use std::sync::Arc;
use std::time::Duration;

use postgres::Client;
use postgres::error::SqlState;

use super::SCHEMA_VERSION;
use crate::config::database_label;
use crate::error::{DbError, Error, Result, postgres_message};

mod embedded {
    refinery::embed_migrations!("migrations-postgres");
}

/// Taken (for the session) while migrations run, so processes starting
/// together on a new database do not race inside refinery: PostgreSQL's
/// twin of SQLite's lock file beside the database. The number is "hossmig"
/// in ASCII; it only has to differ from other advisory locks.
const MIGRATION_LOCK: i64 = 0x0068_6f73_736d_6967;

/// Connects to the server `url` names (`postgres://user:password@host:port/db`,
/// `?sslmode=disable|prefer|require`). An unreachable server is temporary
/// (exit 75) and named by host, never with the password; a login the server
/// refuses, or a URL that cannot be used, is a configuration error (78).
pub fn connect(url: &str) -> Result<Client> {
    let shown = database_label(url);
    let mut config: postgres::Config = url.parse().map_err(|e| {
        Error::Config(format!(
            "DATABASE_URL ({shown}) is not a PostgreSQL URL hoss can use: {e}"
        ))
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    let mut client = config
        .connect(tls())
        .map_err(|e| classify_connect(&shown, &e))?;
    // A lock held elsewhere (a stuck writer) fails a wait after 10 s, as
    // SQLite's busy timeout does, instead of hanging the pass: exit 75.
    // No parallel workers: hoss's statements read a few index pages, and
    // starting workers for one (the planner does, past its cost threshold,
    // for a sum over a large tally table) costs milliseconds.
    client
        .batch_execute("SET lock_timeout = '10s'; SET max_parallel_workers_per_gather = 0")
        .map_err(|e| classify_connect(&shown, &e))?;
    Ok(client)
}

/// TLS for `sslmode=prefer|require`: rustls (ring) and the webpki roots,
/// as the IMAP client does; no openssl.
fn tls() -> tokio_postgres_rustls::MakeRustlsConnect {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

fn classify_connect(shown: &str, e: &postgres::Error) -> Error {
    match e.code() {
        Some(c)
            if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            Error::Config(format!(
                "PostgreSQL at {shown} refused the login: wrong user or password in DATABASE_URL"
            ))
        }
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => Error::Config(format!(
            "PostgreSQL at {shown} has no such database: {}",
            e.as_db_error().map_or("", |d| d.message())
        )),
        Some(c) if *c == SqlState::TOO_MANY_CONNECTIONS || *c == SqlState::CANNOT_CONNECT_NOW => {
            Error::Temporary(format!(
                "PostgreSQL at {shown} is busy: {}",
                postgres_message(e)
            ))
        }
        // A pooler (PgBouncer) answers for the server with SQLSTATE class 08,
        // whatever went wrong: only its message tells a login it refused
        // (a setting to fix) from a server it cannot reach (a wait).
        Some(c) if c.code().starts_with("08") => {
            let said = postgres_message(e);
            // "does not exist": the server's own refusal of a database or
            // role, passed on by the pooler.
            let refused = [
                "authentication failed",
                "no such user",
                "no such database",
                "does not exist",
            ]
            .iter()
            .any(|m| said.contains(m));
            if refused {
                Error::Config(format!("PostgreSQL at {shown} refused the login: {said}"))
            } else {
                Error::Temporary(format!("cannot reach PostgreSQL at {shown}: {said}"))
            }
        }
        Some(_) => Error::Config(format!(
            "PostgreSQL at {shown} refused the connection: {}",
            postgres_message(e)
        )),
        // A certificate the public roots do not vouch for will not change by
        // waiting: a setting to fix (libpq's `require` would not check it).
        None if cause_chain(e).contains("certificate") => Error::Config(format!(
            "PostgreSQL at {shown} presented a TLS certificate hoss does not trust (it checks the server's certificate against the public roots, whatever sslmode says): {}",
            cause_chain(e)
        )),
        // No answer from the server: refused, timed out, dropped, or TLS
        // that could not be set up. The error's text names no credentials.
        None => Error::Temporary(format!(
            "cannot reach PostgreSQL at {shown}: {}",
            cause_chain(e)
        )),
    }
}

/// An error and its causes, as one line ("error connecting to server:
/// Connection refused").
fn cause_chain(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// Brings the schema up to date under an advisory lock, and returns the
/// version it is at. Each migration runs in its own transaction: a
/// connection dropped mid-way leaves the last whole version applied.
pub fn migrate(client: &mut Client) -> Result<i32> {
    // Up to date (every command's case): nothing to lock or write, so a
    // role that may only read and write rows can run hoss.
    let applied = applied_version(client)?;
    if applied == SCHEMA_VERSION {
        return Ok(applied);
    }
    super::refuse_newer(applied)?;
    let failed = |e: postgres::Error| Error::Db(DbError::Migration(e.to_string()));
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| {
            if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
                // Another process has been migrating for longer than the
                // lock timeout: try again later.
                Error::Temporary(
                    "another hoss is still bringing the PostgreSQL schema up to date; try again shortly"
                        .into(),
                )
            } else {
                Error::Db(DbError::Postgres(e))
            }
        })?;
    let ran = embedded::migrations::runner().run(client).map_err(|e| {
        let cause = std::error::Error::source(&e)
            .and_then(|c| c.downcast_ref::<postgres::Error>())
            .and_then(|c| c.as_db_error())
            .map(|d| format!(": {} (SQLSTATE {})", d.message(), d.code().code()))
            .unwrap_or_default();
        Error::Db(DbError::Migration(format!("{e}{cause}")))
    });
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    ran?;
    unlocked.map_err(failed)?;
    applied_version(client)
}

/// The schema version the database is at (0: none applied); one round
/// trip, as every command asks it.
pub fn applied_version(client: &mut Client) -> Result<i32> {
    let asked =
        client.simple_query("SELECT COALESCE(MAX(version), 0) FROM refinery_schema_history");
    let messages = match asked {
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => return Ok(0),
        other => other.map_err(|e| Error::Db(DbError::Migration(e.to_string())))?,
    };
    let version = messages.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(row) => row.get(0),
        _ => None,
    });
    version.and_then(|v| v.parse().ok()).ok_or_else(|| {
        Error::Db(DbError::Migration(format!(
            "unreadable schema version {version:?}"
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_longer_than_the_lock_timeout_for_another_migration_is_temporary() {
        let Some(url) = crate::db::test_stores::new_database() else {
            return;
        };
        let mut migrating = connect(&url).unwrap();
        migrating
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .unwrap();
        let mut waiting = connect(&url).unwrap();
        waiting.batch_execute("SET lock_timeout = '200ms'").unwrap();
        let err = migrate(&mut waiting).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_TEMPFAIL, "{err}");
        migrating
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .unwrap();
        assert_eq!(migrate(&mut waiting).unwrap(), SCHEMA_VERSION);
        // Up to date: nothing is locked or written again.
        migrating
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .unwrap();
        assert_eq!(migrate(&mut waiting).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_schema_newer_than_this_hoss_is_refused() {
        let Some(url) = crate::db::test_stores::new_database() else {
            return;
        };
        let mut client = connect(&url).unwrap();
        assert_eq!(applied_version(&mut client).unwrap(), 0);
        assert_eq!(migrate(&mut client).unwrap(), SCHEMA_VERSION);
        client
            .batch_execute(&format!(
                "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
                 VALUES ({}, 'from_the_future', '', '0')",
                SCHEMA_VERSION + 1
            ))
            .unwrap();
        let err = migrate(&mut client).unwrap_err().to_string();
        assert!(err.contains("newer than this hoss"), "{err}");
    }

    #[test]
    fn both_stores_know_the_same_schema_version_and_it_is_the_newest_migration() {
        let newest = |migrations: Vec<refinery::Migration>| {
            migrations.iter().map(|m| m.version()).max().unwrap_or(0)
        };
        assert_eq!(
            newest(embedded::migrations::runner().get_migrations().to_vec()),
            SCHEMA_VERSION
        );
        assert_eq!(
            newest(
                super::super::embedded::migrations::runner()
                    .get_migrations()
                    .to_vec()
            ),
            SCHEMA_VERSION
        );
    }

    #[test]
    fn an_unreachable_server_is_temporary_and_named_without_its_password() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("postgres://hoss:pw-never-shown@127.0.0.1:{port}/hoss?sslmode=disable");
        let err = connect(&url).err().expect("nothing listens there");
        assert_eq!(err.exit_code(), crate::error::EXIT_TEMPFAIL, "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(!text.contains("pw-never-shown"), "{text}");
    }

    #[test]
    fn a_url_that_is_not_postgres_is_a_configuration_error() {
        let err = connect("postgres://hoss:pw-never-shown@127.0.0.1:1/hoss?sslmode=sometimes")
            .err()
            .unwrap();
        assert_eq!(err.exit_code(), crate::error::EXIT_CONFIG, "{err}");
        assert!(!err.to_string().contains("pw-never-shown"), "{err}");
    }
}
