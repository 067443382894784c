// refinery embeds migrations at compile time; without this a new .sql file
// would not trigger a rebuild.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
