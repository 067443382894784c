//! The outside world, each part behind a small trait with a real
//! implementation: HTTP (the client, and the small server front of
//! `hoss serve`), lead providers, mailers and Stripe.
//! Nothing here is constructed for a subsystem whose effective mode is
//! DRY_RUN, so simulation cannot open a connection.

pub mod dns;
pub mod executor;
pub mod http;
pub mod http_server;
pub mod imap;
pub mod leads;
pub mod mailer;
pub mod ping;
pub mod sendgrid_pull;
pub mod stripe;
