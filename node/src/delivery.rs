//! Delivery logic as plain state machines without IO, driven by the event loop with explicit
//! times so tests can run them with a fake clock.
//!
//! - [`outbox`]: which unacknowledged direct message goes to which peer next, with a cap on
//!   messages in flight per peer and backoff after failures.
//! - [`redial`]: when to dial a known peer again after losing it.
//! - [`clock`]: the hybrid logical clock that stamps messages.
//! - [`marks`]: how far each publisher's run of topic messages is complete, for catch-up.
//! - [`backoff`]: the retry delay schedule shared by both.

pub mod backoff;
pub mod clock;
pub mod marks;
pub mod outbox;
pub mod redial;
