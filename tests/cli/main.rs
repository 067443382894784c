//! One integration binary: every test runs the real `hoss` binary against a
//! real store (a SQLite file, or PostgreSQL with `HOSS_TEST_STORE=postgres`)
//! and local stand-ins. No test reaches the internet.
#![allow(clippy::disallowed_methods, reason = "tests drive hoss from outside")]

#[macro_use]
mod harness;
/// Addresses worth sending to: checks at lead creation, role accounts, the MX check over real DNS (dnsmasq).
mod addresses;
/// Customers, tasks, invoices, payment links, webhooks and reconciliation against a fake Stripe.
mod billing;
/// SIGKILLed and concurrent passes never email twice, bill twice or lose a payment.
mod campaign;
/// DKIM-signed SMTP mail checked by an independent verifier (dkimpy), and `check --deliverability` over real DNS.
mod deliverability;
/// Outbound email via a fake SendGrid and real SMTP: limits, at-most-once, failures, suppression.
mod email;
/// Read-only, full or corrupt storage fails cleanly; no secret reaches any output, log or file.
mod faults;
/// The safety contract: modes and fallbacks, release mode, config, exit codes, runs and the log.
mod foundation;
/// Invoices reach the customer: notices, reminders, receipts at most once, and the operator's approval.
mod getting_paid;
/// Shared by all: a sandbox per test running the real binary, and stand-ins for the outside world.
/// What comes back: replies and bounces over real IMAP (Dovecot), SendGrid events and pulls, the health pause.
mod inbox;
/// Lead sourcing from a fake search API and CSV files: normalising, dedupe, paging, lead commands.
mod leads;
/// `import-legacy`: old HossAgent files import once, bad rows explained, old work never rebilled.
mod legacy;
/// `migrate-store`: a store moves to PostgreSQL and back row for row, idempotently; refusals and their exit codes.
mod migrate_store;
/// The operator's view: summary, status, cycle and pings, the digest email, lists, scripts, docs.
mod operator;
/// The customer portal: pages match the database, escaping, PAY NOW, atomic export, a real browser.
mod portal;
/// Sequences and sending discipline: threaded follow-ups, windows and zones, warm-up, caps.
mod sequences;
/// `hoss serve` idle, under slow clients, and out of file descriptors.
mod serve;
/// The PostgreSQL store (issue #19): a throwaway cluster, the same schema as SQLite's, connection failures.
mod store;
/// `why` and `plan`: every SPEC §14 rule named with when it lifts; the plan is what the next pass sends.
mod why;
