//! Membership: the signed ACL log and what it says (who is in, with which role, who may
//! publish where). Admission and enforcement build on [`acl::Acl`]; [`join`] is how a node
//! in no mesh becomes a member.

pub mod acl;
pub mod door;
pub mod join;
