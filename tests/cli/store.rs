//! The PostgreSQL store (issue #19), as far as it is built: its migrations
//! give the same schema as SQLite's (tables, columns, keys, indexes,
//! foreign keys, CHECKs, triggers), apply once when processes start
//! together, and a server that refuses or cannot be reached is told apart
//! (exit 78 or 75), never showing the password.

use hoss::db::{postgres as pg, schema};

use crate::harness::{PG_PASSWORD, Postgres};

#[test]
fn postgres_migrations_give_the_same_schema_as_sqlite() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = hoss::db::open(&dir.path().join("hoss.db")).unwrap();
    // No sslmode: `prefer`, which falls back to plain text on a server
    // without TLS, as this one is.
    let url = server.url().replace("?sslmode=disable", "");
    let mut client = pg::connect(&url).unwrap();
    let version = pg::migrate(&mut client).unwrap();
    assert_eq!(version, pg::latest_version());
    let applied: i32 = sqlite
        .query_row(
            "SELECT MAX(version) FROM refinery_schema_history",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        version, applied,
        "both stores report the same schema version"
    );

    let lite = schema::sqlite(&sqlite).unwrap();
    let post = schema::postgres(&mut client).unwrap();
    assert!(lite.len() >= 20, "{:?}", lite.keys());
    let differences = schema::differences(&lite, &post);
    assert!(
        differences.is_empty(),
        "SQLite (first) and PostgreSQL (second) differ:\n{}",
        differences.join("\n")
    );
    // Again: nothing left to apply.
    assert_eq!(pg::migrate(&mut client).unwrap(), version);
}

#[test]
fn processes_migrating_a_new_postgres_database_together_apply_each_version_once() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let url = server.url();
    let passes: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || pg::migrate(&mut pg::connect(&url).unwrap()).unwrap())
        })
        .collect();
    for pass in passes {
        assert_eq!(pass.join().unwrap(), pg::latest_version());
    }
    let mut client = pg::connect(&url).unwrap();
    let rows: i64 = client
        .query_one("SELECT COUNT(*) FROM refinery_schema_history", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, i64::from(pg::latest_version()));
    let installs: i64 = client
        .query_one("SELECT COUNT(*) FROM install", &[])
        .unwrap()
        .get(0);
    assert_eq!(installs, 1);
}

#[test]
fn a_wrong_postgres_password_is_a_configuration_error_that_hides_it() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let url = server.url().replace(PG_PASSWORD, "not-the-password-31e");
    let err = pg::connect(&url).err().expect("the login is refused");
    assert_eq!(err.exit_code(), 78, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{}", server.port)),
        "{text}"
    );
    assert!(!text.contains("not-the-password-31e"), "{text}");
    // Unreachable is temporary: the same URL once the server is gone.
    let port = server.port;
    drop(server);
    let err = pg::connect(&url).err().expect("nothing listens");
    assert_eq!(err.exit_code(), 75, "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}
