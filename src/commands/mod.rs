//! One file per command: arguments and `&Ctx` in, a report struct out.
//! Orchestration only; SQL is in `db/`, rules in `domain/`, I/O in `services/`.

pub mod attention;
pub mod backup;
pub mod bill;
pub mod check;
pub mod cycle;
pub mod import_legacy;
pub mod invoice;
pub mod lead;
pub mod onboard;
pub mod ops;
pub mod portal;
pub mod preview;
pub mod send_outreach;
pub mod send_test_email;
pub mod serve;
pub mod source_leads;
pub mod status;
pub mod summary;
pub mod suppress;
pub mod task;
pub mod webhook;
