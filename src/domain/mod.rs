//! Pure rules: no I/O, no clock, no database. Everything here takes its
//! inputs (including `now`) as arguments and is unit-tested in place.

pub mod address;
pub mod compose;
pub mod delivery;
pub mod dkim;
pub mod inbox;
pub mod invoice_mail;
pub mod lead_csv;
pub mod leads;
pub mod legacy;
pub mod portal;
pub mod schedule;
pub mod sendgrid_events;
pub mod status;
pub mod templates;
pub mod token;
pub mod webhook;
