//! The command tree (clap derive), nothing else.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hoss",
    version,
    about = "Outbound sales and billing, one cron pass at a time",
    after_help = "Exit codes: 0 ok, 2 usage, 65 bad input, 70 internal, 75 try again, 78 configuration."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone, Copy)]
pub struct JsonFlag {
    /// Print one JSON document on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show requested and effective mode of every subsystem (exit 78 in release mode when one fell back)
    Check(JsonFlag),
    /// Show what hoss is doing: modes, limits, the last run of each command
    Status(JsonFlag),
}

impl Command {
    /// The name a run is recorded and locked under.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Check(_) => "check",
            Command::Status(_) => "status",
        }
    }

    /// Passes that change the world take an overlap lock.
    pub fn takes_lock(&self) -> bool {
        false
    }

    pub fn json(&self) -> bool {
        match self {
            Command::Check(f) | Command::Status(f) => f.json,
        }
    }
}
