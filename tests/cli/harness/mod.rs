//! The integration harness: the built `hoss` binary run as a real process in
//! a temp directory with an explicit environment (never the caller's), plus
//! local servers that stand in for the outside world. Test modules import
//! everything from `crate::harness`; the files are:
//!
//! - `sandbox`: the per-test sandbox (temp dir, env, running hoss, its
//!   SQLite file, JSON answers, common fixtures) and the system-package rule;
//! - `dovecot`: a real IMAP server (Dovecot) on a loopback port;
//! - `dnsmasq`: a real DNS server (dnsmasq) on a loopback port, answering
//!   for the test zone from the records a test gives;
//! - `postgres`: a throwaway PostgreSQL cluster (`initdb` + `pg_ctl`) on a
//!   loopback port, a `hoss` role with a password and its database;
//! - `pgbouncer`: PgBouncer in session mode in front of such a cluster;
//! - `served`: `hoss serve` on an ephemeral port, spoken to over HTTP;
//! - `servers`: the stand-ins (SendGrid, search API or healthcheck via
//!   `FakeServer`, Stripe, SMTP, a hanging-up peer, a trap), Stripe's
//!   webhook signature, and waiting for a stand-in.
#![allow(dead_code)] // not every test binary module uses every helper

mod dnsmasq;
mod dovecot;
mod pgbouncer;
mod postgres;
#[macro_use]
mod sandbox;
mod served;
mod servers;

pub use dnsmasq::{DNS_ZONE, DnsZone};
pub use dovecot::{Dovecot, IMAP_PASSWORD, IMAP_USER};
pub use pgbouncer::PgBouncer;
pub use postgres::{PG_PASSWORD, PG_USER, Postgres, installed as postgres_installed};
pub use sandbox::{BIN, Output, Sandbox, on_postgres, system_package};
pub use served::Served;
pub use servers::{
    DropServer, FakeServer, Received, Recorded, SmtpMode, SmtpServer, StripeStub, Trap,
    closed_addr, sendgrid_answer, stripe_signature, stripe_signature_now, unix_now, wait_until,
};
