//! One file per command: arguments and `&Ctx` in, a report struct out.
//! Orchestration only; SQL is in `db/`, rules in `domain/`, I/O in `services/`.

pub mod check;
pub mod lead;
pub mod send_outreach;
pub mod send_test_email;
pub mod source_leads;
pub mod status;
pub mod suppress;
