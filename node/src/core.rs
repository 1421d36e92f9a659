//! The node's decisions without IO: plain state machines fed what happened, with an explicit
//! `now`, that say what to do. No tokio, no swarm, no sled, no clock reads: the event loop
//! (the shell) translates libp2p events into their inputs and their answers into swarm
//! calls and store writes, and tests drive them with a fake clock.
//!
//! - [`collect`]: a recipient collecting its boxes from mailboxes, page by page.
//! - [`doors`]: who may stay connected: strangers for their grace, members just removed for
//!   the moment they need to hear of it, and when the wall closes.
//! - [`holding`]: the boxes a mailbox holds for others: which, for whom, until when.
//! - [`quota`]: what a mailbox holds for others, per recipient and per depositor.

pub mod collect;
pub mod doors;
pub mod holding;
pub mod quota;
