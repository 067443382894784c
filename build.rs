// refinery embeds migrations at compile time; without this a new .sql file
// would not trigger a rebuild. SQLite's live in migrations/, their
// PostgreSQL twins in migrations-postgres/ (outside migrations/: refinery
// walks a folder's subfolders too).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations-postgres");
}
