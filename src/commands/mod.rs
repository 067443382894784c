//! One file per command: arguments and `&Ctx` in, a report struct out.
//! Orchestration only; SQL is in `db/`, rules in `domain/`, I/O in `services/`.
//! A command never imports another command (except `cycle`, whose steps are
//! the passes); what several share is in the modules at the end.

pub mod addresses;
pub mod attention;
pub mod backup;
pub mod bill;
pub mod check;
pub mod customer;
pub mod cycle;
pub mod deliverability;
pub mod import_legacy;
pub mod invoice;
pub mod invoice_mail;
pub mod lead;
pub mod migrate_store;
pub mod onboard;
pub mod ops;
pub mod plan;
pub mod portal;
pub mod preview;
pub mod send_outreach;
pub mod send_test_email;
pub mod serve;
pub mod source_leads;
pub mod status;
pub mod summary;
pub mod suppress;
pub mod sync_inbox;
pub mod task;
pub mod webhook;
pub mod why;

// Shared by several commands; no command of their own.
pub mod discipline;
pub mod email;
pub mod feedback;
pub mod health;
pub mod inbox;
pub mod mail;
pub mod payments;
pub mod problems;
pub mod records;
