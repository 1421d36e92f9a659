//! The ACL log's operations, as they travel and are stored.
//!
//! ```text
//! SignedOp = { body: OpBody, sig: bytes(64) }     sig: ed25519 by body.author over cbor(body),
//!                                                 context "acl-op"
//! OpBody   = { v: 3, mesh: bytes(20), author: bytes(32), prev: [bytes(32)], kind: OpKind }
//! OpKind   = { "Found": { name, founder? } } | { "Add": { member, role, name } } | { "Revoke": { member } }
//!          | { "SetRole": { member, role } } | { "TopicPolicy": { topic, publishers } }
//!          | { "RevokeInvite": { invite: bytes(16) } }
//!          | { "ServicePolicy": { service, offer: [Principal], call: [Principal] } }
//!          | { "QueuePolicy": { queue, push: [Principal], work: [Principal] } }
//!          | { "Name": { member, name? } }
//! Principal = { "Role": role } | { "Key": bytes(32) }
//! ```
//!
//! The log is a hash-linked DAG: `prev` names the ops its author had seen (the heads of its
//! log when it signed: sorted ascending, no repeats, 1 to [`MAX_PREV`] ids; empty only for
//! `Found`, the root). An op's id ([`OpId`]) is
//! `BLAKE3-derive-key("weft/v1/acl-op-id", cbor(SignedOp))`. There is no clock: an op's
//! place in the log is its causal past, which no author can forge. The ACL is a
//! deterministic resolution of the DAG (see `weft_node::mesh::acl`), so every node holding
//! the same ops computes the same ACL. Version 2 carried a Lamport time instead of `prev`
//! and is no longer read.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::DecodeError;
use crate::mesh::{MemberKey, MeshId, Role};
use crate::queue::QueueName;
use crate::service::ServiceName;
use crate::topic::TopicName;

/// The op body version this crate writes and reads.
pub const OP_VERSION: u8 = 3;

/// Longest member or mesh name, in bytes.
pub const MAX_MEMBER_NAME_BYTES: usize = 64;

/// Most principals one list of a policy names.
pub const MAX_POLICY_ENTRIES: usize = 64;

/// Most ops one op names as seen.
pub const MAX_PREV: usize = 16;

/// Largest encoded op, on every path (gossip, sync, join, store).
pub const MAX_OP_BYTES: usize = 4096;

named_bytes! {
    /// The id of an op: a hash of its encoding.
    OpId
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// What an op does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpKind {
    /// Founds the mesh; valid only from the key the mesh id derives from, with no `prev`.
    Found {
        /// The mesh's name.
        name: Option<String>,
        /// The founder's own name (absent from ops of earlier versions, which encode as
        /// before without it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        founder: Option<String>,
    },
    /// Admits a member with a role.
    Add {
        /// The member's key.
        member: MemberKey,
        /// Its role.
        role: Role,
        /// A name for it.
        name: Option<String>,
    },
    /// Removes a member (or bars a key), permanently.
    Revoke {
        /// The member's key.
        member: MemberKey,
    },
    /// Changes a member's role.
    SetRole {
        /// The member's key.
        member: MemberKey,
        /// The new role.
        role: Role,
    },
    /// Restricts who may publish on a topic.
    TopicPolicy {
        /// The topic.
        topic: TopicName,
        /// Who may publish (empty: every member and admin).
        publishers: Vec<Principal>,
    },
    /// Kills an invite.
    RevokeInvite {
        /// The invite's id.
        #[serde(with = "crate::codec::byte_array")]
        invite: [u8; 16],
    },
    /// Restricts who may offer and who may call a service.
    ServicePolicy {
        /// The service.
        service: ServiceName,
        /// Who may offer it (empty: every member and admin).
        offer: Vec<Principal>,
        /// Who may call it (empty: everyone in the mesh, guests too).
        call: Vec<Principal>,
    },
    /// Restricts who may push to and who may work a queue.
    QueuePolicy {
        /// The queue.
        queue: QueueName,
        /// Who may push items (empty: everyone in the mesh, guests too).
        push: Vec<Principal>,
        /// Who may work its items (empty: every member and admin).
        work: Vec<Principal>,
    },
    /// Gives a member another name, the one commands take (admins), or takes it away.
    Name {
        /// The member's key.
        member: MemberKey,
        /// Its new name.
        name: Option<String>,
    },
}

impl OpKind {
    /// The member whose admin power this op takes away, if any: a revocation, or a role
    /// change to anything but admin. (Strong remove voids what that member did concurrently.)
    pub fn demotes(&self) -> Option<&MemberKey> {
        match self {
            OpKind::Revoke { member } => Some(member),
            OpKind::SetRole { member, role } if *role != Role::Admin => Some(member),
            _ => None,
        }
    }

    /// The member whose role this op decides, if any.
    pub fn concerns(&self) -> Option<&MemberKey> {
        match self {
            OpKind::Add { member, .. }
            | OpKind::Revoke { member }
            | OpKind::SetRole { member, .. } => Some(member),
            _ => None,
        }
    }
}

/// One entry of a policy: everyone holding a role, or one member.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Principal {
    /// Everyone holding this role.
    Role(Role),
    /// One member, by key.
    Key(MemberKey),
}

/// The signed part of an op.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpBody {
    /// Body version, [`OP_VERSION`].
    pub v: u8,
    /// The mesh.
    pub mesh: MeshId,
    /// The author's key.
    pub author: MemberKey,
    /// The ops its author had seen (the heads of its log), sorted, no repeats.
    pub prev: Vec<OpId>,
    /// What it does.
    pub kind: OpKind,
}

/// An op with its author's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedOp {
    /// The signed part.
    pub body: OpBody,
    /// ed25519 over the body's CBOR, context `acl-op`.
    #[serde(with = "crate::codec::byte_array")]
    pub sig: [u8; 64],
}

impl SignedOp {
    /// The op's id.
    pub fn id(&self) -> OpId {
        let bytes = crate::codec::to_cbor(self).unwrap_or_default();
        OpId(blake3::derive_key("weft/v1/acl-op-id", &bytes))
    }

    /// Decodes an op from a peer, refusing it past [`MAX_OP_BYTES`] before decoding and
    /// checking its shape (version, `prev`, text and list sizes). The signature is checked
    /// by `weft_keys::acl::verify_op`.
    pub fn decode(bytes: &[u8]) -> Result<SignedOp, DecodeError> {
        crate::codec::check_frame_len("ACL op", bytes.len(), MAX_OP_BYTES)?;
        let op: SignedOp = crate::codec::from_cbor(bytes)?;
        op.check_shape()?;
        Ok(op)
    }

    /// Checks what can be checked without the log: version, size, `prev` (sorted, unique,
    /// at most [`MAX_PREV`], empty exactly for `Found`), names and policies within limits.
    pub fn check_shape(&self) -> Result<(), DecodeError> {
        let body = &self.body;
        if body.v != OP_VERSION {
            return Err(DecodeError::Version(body.v));
        }
        let len = crate::codec::to_cbor(self)?.len();
        crate::codec::check_frame_len("ACL op", len, MAX_OP_BYTES)?;
        let invalid = |why: &str| Err(DecodeError::Invalid(why.into()));
        let is_found = matches!(body.kind, OpKind::Found { .. });
        if is_found != body.prev.is_empty() {
            return invalid("only the founding op has no predecessors");
        }
        if body.prev.len() > MAX_PREV {
            return invalid("too many predecessors");
        }
        if body.prev.windows(2).any(|w| w[0] >= w[1]) {
            return invalid("predecessors must be sorted and distinct");
        }
        match &body.kind {
            OpKind::Found { name, founder } => {
                check_name(name.as_deref())?;
                check_name(founder.as_deref())
            }
            OpKind::Add { name, .. } => check_name(name.as_deref()),
            OpKind::Name { name, .. } => check_new_member_name(name.as_deref()),
            OpKind::TopicPolicy { publishers, .. } if publishers.len() > MAX_POLICY_ENTRIES => {
                invalid("too many publishers in a topic policy")
            }
            OpKind::ServicePolicy { offer, call, .. }
                if offer.len().max(call.len()) > MAX_POLICY_ENTRIES =>
            {
                invalid("too many principals in a service policy")
            }
            OpKind::QueuePolicy { push, work, .. }
                if push.len().max(work.len()) > MAX_POLICY_ENTRIES =>
            {
                invalid("too many principals in a queue policy")
            }
            _ => Ok(()),
        }
    }
}

/// Checks a member or mesh name from a peer: at most [`MAX_MEMBER_NAME_BYTES`], not empty,
/// no control characters.
pub fn check_name(name: Option<&str>) -> Result<(), DecodeError> {
    match name {
        Some(n) if n.is_empty() || n.len() > MAX_MEMBER_NAME_BYTES => Err(DecodeError::Invalid(
            format!("a name is 1 to {MAX_MEMBER_NAME_BYTES} bytes"),
        )),
        Some(n) if n.chars().any(char::is_control) => Err(DecodeError::Invalid(
            "a name may not hold control characters".into(),
        )),
        _ => Ok(()),
    }
}

/// Checks a name given to a member now (at `weft init`, an admission, a join): as
/// [`check_name`], and not to be taken for a PeerId, since commands name members by either.
/// (Names in ops already signed are checked by [`check_name`] alone, as they always were.)
pub fn check_new_member_name(name: Option<&str>) -> Result<(), DecodeError> {
    check_name(name)?;
    let invalid = |why: &str| Err(DecodeError::Invalid(why.into()));
    match name {
        Some(n) if n.to_ascii_lowercase().starts_with("12d3koow") => {
            invalid("a name may not look like a PeerId (12D3KooW…)")
        }
        Some(n) if n.chars().any(is_hidden) => {
            invalid("a name may not hold invisible or direction-changing characters")
        }
        Some(n) if n.trim() != n => invalid("a name may not begin or end with a space"),
        _ => Ok(()),
    }
}

/// Whether `c` shows as nothing or changes how the text around it shows: zero-width
/// characters, direction overrides and isolates, the byte-order mark, the soft hyphen (so
/// that two names that look alike, or a name that reorders what follows it, are told).
pub fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(prev: Vec<OpId>, kind: OpKind) -> SignedOp {
        SignedOp {
            body: OpBody {
                v: OP_VERSION,
                mesh: MeshId([1; 20]),
                author: MemberKey([2; 32]),
                prev,
                kind,
            },
            sig: [0; 64],
        }
    }

    #[test]
    fn shape_rules() {
        let found = op(
            vec![],
            OpKind::Found {
                name: None,
                founder: None,
            },
        );
        assert!(found.check_shape().is_ok());
        let revoke = |prev| {
            op(
                prev,
                OpKind::Revoke {
                    member: MemberKey([3; 32]),
                },
            )
        };
        assert!(revoke(vec![OpId([1; 32])]).check_shape().is_ok());
        assert!(
            revoke(vec![]).check_shape().is_err(),
            "only Found is a root"
        );
        assert!(
            op(
                vec![OpId([1; 32])],
                OpKind::Found {
                    name: None,
                    founder: None,
                }
            )
            .check_shape()
            .is_err()
        );
        let unsorted = vec![OpId([2; 32]), OpId([1; 32])];
        assert!(revoke(unsorted).check_shape().is_err());
        assert!(revoke(vec![OpId([1; 32]); 2]).check_shape().is_err());
        let many = (0..=MAX_PREV as u8).map(|i| OpId([i; 32])).collect();
        assert!(revoke(many).check_shape().is_err());
        let named = |name: &str| {
            op(
                vec![OpId([1; 32])],
                OpKind::Add {
                    member: MemberKey([3; 32]),
                    role: Role::Member,
                    name: Some(name.into()),
                },
            )
        };
        assert!(named("bob").check_shape().is_ok());
        assert!(named("bo\u{1b}[2Jb").check_shape().is_err());
        assert!(named(&"x".repeat(65)).check_shape().is_err());
        // A name given now may not pass for a PeerId; one already signed is judged as ever.
        assert!(check_new_member_name(Some("12D3KooWabcdef")).is_err());
        assert!(check_new_member_name(Some("12d3koowAbc")).is_err());
        assert!(check_new_member_name(Some("sam")).is_ok());
        assert!(check_new_member_name(Some("ali\u{200B}ce")).is_err());
        assert!(check_new_member_name(Some("\u{202E}ecila")).is_err());
        assert!(check_new_member_name(Some("alice ")).is_err());
        assert!(named("12D3KooWabcdef").check_shape().is_ok());
        let roles = |n: usize| vec![Principal::Role(Role::Member); n];
        let service = |offer, call| {
            op(
                vec![OpId([1; 32])],
                OpKind::ServicePolicy {
                    service: "resize".parse().unwrap(),
                    offer,
                    call,
                },
            )
        };
        assert!(
            service(roles(MAX_POLICY_ENTRIES), vec![])
                .check_shape()
                .is_ok()
        );
        assert!(
            service(vec![], roles(MAX_POLICY_ENTRIES + 1))
                .check_shape()
                .is_err()
        );
        let queue = op(
            vec![OpId([1; 32])],
            OpKind::QueuePolicy {
                queue: "jobs".parse().unwrap(),
                push: roles(MAX_POLICY_ENTRIES + 1),
                work: vec![],
            },
        );
        assert!(queue.check_shape().is_err());
        let mut old = found.clone();
        old.body.v = 2;
        assert!(matches!(old.check_shape(), Err(DecodeError::Version(2))));
    }

    #[test]
    fn decode_refuses_oversize_before_parsing() {
        let big = vec![0u8; MAX_OP_BYTES + 1];
        assert!(matches!(
            SignedOp::decode(&big),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn ids_are_domain_separated_hashes() {
        let found = op(
            vec![],
            OpKind::Found {
                name: None,
                founder: None,
            },
        );
        let bytes = crate::codec::to_cbor(&found).unwrap();
        assert_ne!(found.id().0, *blake3::hash(&bytes).as_bytes());
        assert_eq!(found.id(), found.clone().id());
    }
}
