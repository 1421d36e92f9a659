//! The node's decisions without IO: plain state machines fed what happened, with an explicit
//! `now`, that say what to do. No tokio, no swarm, no sled, no clock reads: the event loop
//! (the shell) translates libp2p events into their inputs and their answers into swarm
//! calls and store writes, and tests drive them with a fake clock.
//!
//! - [`acl_sync`]: the ACL log between members: what a sync asks, what its answer holds.
//! - [`collect`]: a recipient collecting its boxes from mailboxes, page by page.
//! - [`delivery`]: direct messages from queued to settled: what goes on the wire next, who
//!   stopped acknowledging, what expired, what waits for a mailbox.
//! - [`doors`]: who may stay connected: strangers for their grace, members just removed for
//!   the moment they need to hear of it, and when the wall closes.
//! - [`holding`]: the boxes a mailbox holds for others: which, for whom, until when.
//! - [`peers`]: who is connected, over which path, and whom to dial again when.
//! - [`quota`]: what a mailbox holds for others, per recipient and per depositor.
//! - [`topics`]: the topics followed: which messages are taken, how far each publisher's
//!   run is held, what a catch-up asks and what its answer holds.
//!
//! In the unit tests, `sim` runs many nodes' membership and topics deterministically from a
//! seed over an in-memory network with loss, reordering, partitions and a fake clock.

pub mod acl_sync;
pub mod collect;
pub mod delivery;
pub mod doors;
pub mod holding;
pub mod peers;
pub mod quota;
#[cfg(test)]
pub mod sim;
pub mod topics;
