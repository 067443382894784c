//! The integration harness: the built `hoss` binary run as a real process in
//! a temp directory with an explicit environment (never the caller's), plus
//! local servers that stand in for the outside world.
#![allow(dead_code)] // not every test binary module uses every helper

mod sandbox;
mod served;
mod servers;

pub use sandbox::{BIN, Output, Sandbox, system_package};
pub use served::Served;
pub use servers::{
    DropServer, FakeServer, Recorded, SmtpMode, SmtpServer, StripeStub, Trap, closed_addr,
    stripe_signature, stripe_signature_now, unix_now, wait_until,
};
