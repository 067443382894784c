//! The stores the moved files' unit tests run on (issue #19): SQLite in
//! memory always, and a fresh PostgreSQL database when the `postgresql`
//! package is installed (else one loud SKIPPED line; under
//! `HOSS_REQUIRE_SYSTEM_TESTS=1` its absence fails the test).
//!
//! The cluster is the integration harness's own (`tests/cli/harness/
//! postgres.rs`, included here: a lib unit test cannot import the harness),
//! started once per test binary and stopped when the process exits. Each
//! call makes a new database on it, migrated by `db::postgres::migrate`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use super::Store;

// The harness's helpers for its own tests go unused here; it reads PATH
// (where the cluster's tools are), the test environment, not a setting.
#[allow(dead_code, clippy::disallowed_methods)]
#[path = "../../tests/cli/harness/postgres.rs"]
mod cluster;

/// The harness's `system_package` (`tests/cli/harness/sandbox.rs`), which
/// the included file calls as `super::system_package`.
fn system_package(package: &str, present: bool) -> bool {
    if present {
        return true;
    }
    #[allow(clippy::disallowed_methods)] // the test environment, not a setting
    let required = std::env::var("HOSS_REQUIRE_SYSTEM_TESTS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "HOSS_REQUIRE_SYSTEM_TESTS=1 but the Debian package {package} is not installed"
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: Debian package {package} is not installed (apt-get install {package}; CI requires it): the db unit tests run on SQLite only"
    );
    false
}

fn the_cluster() -> Option<&'static cluster::Postgres> {
    static CLUSTER: OnceLock<Option<&'static cluster::Postgres>> = OnceLock::new();
    *CLUSTER.get_or_init(|| cluster::Postgres::start().map(cluster::Postgres::stop_at_exit))
}

/// SQLite, then PostgreSQL when there is a cluster; each new and migrated.
pub(crate) fn test_stores() -> Vec<(&'static str, Store)> {
    let mut stores = vec![("sqlite", Store::Sqlite(super::open_in_memory().unwrap()))];
    if let Some(url) = new_database() {
        stores.push(("postgres", connect(&url)));
    }
    stores
}

/// Two connections to one new PostgreSQL database (`None` without a
/// cluster): for what two processes see of each other.
pub(crate) fn two_connections() -> Option<(Store, Store)> {
    let url = new_database()?;
    Some((connect(&url), connect(&url)))
}

/// The URL of a new database on the cluster, if there is one (no schema).
pub(crate) fn new_database() -> Option<String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = the_cluster()?;
    let name = format!("unit_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    Some(server.database(&name))
}

/// A migrated store on the database at `url`.
fn connect(url: &str) -> Store {
    let mut client = super::postgres::connect(url).unwrap_or_else(|e| panic!("connect: {e}"));
    super::postgres::migrate(&mut client).unwrap();
    Store::postgres(client)
}

/// Runs `test` on each of [`test_stores`]; the captured output of a
/// failed test names the store it failed on.
pub(crate) fn on_each_store(test: impl Fn(super::Db<'_>)) {
    for (name, store) in test_stores() {
        eprintln!("on {name}:");
        test(store.db());
    }
}
