//! The top of `check` and `status`: release mode and global DRY_RUN, where
//! the state and the settings come from, and each subsystem's requested and
//! effective mode.

use crate::config::Subsystems;
use crate::render::table;

pub fn header(release_mode: bool, dry_run: bool) -> String {
    format!(
        "release mode: {}   global DRY_RUN: {}\n",
        if release_mode { "ON" } else { "OFF (sandbox)" },
        if dry_run {
            "TRUE (no network at all)"
        } else {
            "FALSE"
        }
    )
}

/// Where the state and the settings come from.
pub fn sources(store: &str, config_file: Option<&str>) -> String {
    format!(
        "database: {store}   config file: {}\n",
        config_file.unwrap_or("none (environment only)")
    )
}

pub fn subsystem_table(subsystems: &Subsystems, terminal: bool) -> String {
    let rows = subsystems
        .views()
        .iter()
        .map(|v| {
            vec![
                v.name.to_string(),
                v.requested.to_string(),
                v.effective.to_string(),
                v.reason.unwrap_or("-").to_string(),
            ]
        })
        .collect();
    table(
        &["subsystem", "requested", "effective", "reason"],
        rows,
        terminal,
    )
}
