//! The ACL log's operations, as they travel and are stored.
//!
//! ```text
//! SignedOp = { body: OpBody, sig: bytes(64) }        sig: ed25519 by body.author over
//!                                                    cbor(body), context "acl-op"
//! OpBody   = { v: 2, mesh: bytes(20), lamport: u64, author: bytes(32), kind: OpKind }
//! OpKind   = { "Found": { name } } | { "Add": { member, role, name } } | { "Revoke": { member } }
//!          | { "SetRole": { member, role } } | { "TopicPolicy": { topic, publishers } }
//!          | { "RevokeInvite": { invite: bytes(16) } }
//! ```
//!
//! An op's id is the BLAKE3 hash of its CBOR. The ACL is a deterministic fold of the set of
//! ops (see `weft_node::mesh::acl`), so every node holding the same set computes the same ACL.

use serde::{Deserialize, Serialize};

use crate::mesh::{MeshId, Role};
use crate::topic::TopicName;

/// The op body version this crate writes.
pub const OP_VERSION: u8 = 2;

/// Longest member name, in bytes.
pub const MAX_MEMBER_NAME_BYTES: usize = 64;

/// Most publishers one topic policy lists.
pub const MAX_POLICY_PUBLISHERS: usize = 64;

/// What an op does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpKind {
    /// Founds the mesh; valid only from the key the mesh id derives from.
    Found {
        /// The mesh's name.
        name: Option<String>,
    },
    /// Admits a member with a role.
    Add {
        /// The member's ed25519 public key.
        #[serde(with = "crate::codec::byte_array")]
        member: [u8; 32],
        /// Its role.
        role: Role,
        /// A name for it.
        name: Option<String>,
    },
    /// Removes a member, permanently.
    Revoke {
        /// The member's key.
        #[serde(with = "crate::codec::byte_array")]
        member: [u8; 32],
    },
    /// Changes a member's role.
    SetRole {
        /// The member's key.
        #[serde(with = "crate::codec::byte_array")]
        member: [u8; 32],
        /// The new role.
        role: Role,
    },
    /// Restricts who may publish on a topic.
    TopicPolicy {
        /// The topic.
        topic: TopicName,
        /// Who may publish (empty: every member and admin).
        publishers: Vec<Publisher>,
    },
    /// Kills an invite.
    RevokeInvite {
        /// The invite's id.
        #[serde(with = "crate::codec::byte_array")]
        invite: [u8; 16],
    },
}

/// One entry of a topic policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Publisher {
    /// Everyone holding this role.
    Role(Role),
    /// One member, by key.
    Key(#[serde(with = "crate::codec::byte_array")] [u8; 32]),
}

/// The signed part of an op.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpBody {
    /// Body version, [`OP_VERSION`].
    pub v: u8,
    /// The mesh.
    pub mesh: MeshId,
    /// The author's Lamport time: above every op it had seen.
    pub lamport: u64,
    /// The author's ed25519 public key.
    #[serde(with = "crate::codec::byte_array")]
    pub author: [u8; 32],
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
    /// The op's id: BLAKE3 of its CBOR.
    pub fn id(&self) -> [u8; 32] {
        let bytes = crate::codec::to_cbor(self).unwrap_or_default();
        *blake3::hash(&bytes).as_bytes()
    }
}
