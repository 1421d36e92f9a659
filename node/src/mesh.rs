//! Membership: the signed ACL log and what it says (who is in, with which role, who may
//! publish where).
//!
//! - [`log`]: [`log::Log`], the op DAG and the door every op passes to get in.
//! - [`acl`]: [`acl::Acl`], the log's deterministic resolution (causal authority,
//!   seniority, demotions voiding concurrent ops).
//! - [`addresses`]: [`addresses::Addresses`], where members can be reached (members only).
//! - [`display_names`]: [`display_names::DisplayNames`], what members call themselves.
//! - [`bits`]: the bit sets that hold each op's causal past.
//! - [`membership`]: [`membership::Membership`], this node's mesh without IO: log, members,
//!   cards, issued invites, redemption.
//! - [`door`]: who is a member, shared with the tasks beside the event loop.
//! - [`join`]: how a node in no mesh becomes a member.

pub mod acl;
pub mod addresses;
pub mod bits;
pub mod display_names;
pub mod door;
pub mod invite_reach;
pub mod join;
pub mod log;
pub mod membership;
