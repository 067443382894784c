//! One integration binary: every test runs the real `hoss` binary against a
//! real SQLite file and local stand-ins. No test reaches the internet.
#![allow(clippy::disallowed_methods, reason = "tests drive hoss from outside")]

mod billing;
mod campaign;
mod email;
mod faults;
mod foundation;
mod harness;
mod leads;
mod legacy;
mod operator;
mod portal;
/// `hoss serve` idle, under slow clients, and out of file descriptors.
mod serve;
