//! `/weft/join/1`: redeeming an invite key. One request and one response per stream, each a
//! frame (see [`crate::codec`]).
//!
//! ```text
//! joiner -> issuer   JoinRequest  { v: 3, invite: bytes(16), key: bytes(32), proof: bytes(32),
//!                                   name: string? }                       frame <= 1 KiB
//! issuer -> joiner   JoinResponse = { "Accepted": { ops: [SignedOp], more: bool } }
//!                                 | { "Refused": { reason: Refusal } }    frame <= 2 MiB
//! ```
//!
//! `key` is the joiner's [`MemberKey`] (its ed25519 public key); the issuer checks that it is
//! the key of the authenticated peer. `proof` is `weft_keys::invite::proof(secret, joiner PeerId bytes)`: the
//! secret itself never travels. `Accepted` carries the joiner's admission and its causal past,
//! parents first, at most [`MAX_JOIN_OPS_BYTES`] of ops; `more` says the log goes on, and the
//! joiner (a member now) fetches the rest with `/weft/sync/1` from the issuer before it
//! adopts the log. A refusal is one of a few typed reasons, never internal error text.

use serde::{Deserialize, Serialize};

use crate::acl::SignedOp;
use crate::mesh::MemberKey;

/// The request body version.
pub const JOIN_VERSION: u8 = 3;

/// Largest request frame.
pub const MAX_JOIN_REQUEST_BYTES: usize = 1024;

/// Largest response frame.
pub const MAX_JOIN_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// Most bytes of ops one answer carries.
pub const MAX_JOIN_OPS_BYTES: usize = 1024 * 1024;

/// A joiner's request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// Body version, [`JOIN_VERSION`].
    pub v: u8,
    /// The invite's id.
    #[serde(with = "crate::codec::byte_array")]
    pub invite: [u8; 16],
    /// The joiner's member key.
    pub key: MemberKey,
    /// Proof of the invite's secret, bound to the joiner's PeerId.
    #[serde(with = "crate::codec::byte_array")]
    pub proof: [u8; 32],
    /// The name the joiner gives itself.
    pub name: Option<String>,
}

/// The issuer's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinResponse {
    /// Admitted: here is the ACL log, or its first part.
    Accepted {
        /// The joiner's admission and its causal past, parents first.
        ops: Vec<SignedOp>,
        /// Whether the log has more ops than these (fetch them by sync).
        #[serde(default)]
        more: bool,
    },
    /// Not admitted, and why.
    Refused {
        /// Why.
        reason: Refusal,
    },
}

/// Why an issuer did not admit a joiner: what the joiner is told, and all it is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Refusal {
    /// The request could not be read, or names a version the issuer does not speak.
    #[error("the request was malformed or of another version")]
    Malformed,
    /// The issuer is in no mesh, or in another mesh than the invite's.
    #[error("the node is not in this invite's mesh")]
    WrongMesh,
    /// The issuer did not issue this invite.
    #[error("unknown invite (it was not issued by this node)")]
    UnknownInvite,
    /// The key in the request is not the connection's.
    #[error("the key does not match the connection's peer")]
    WrongKey,
    /// The invite's issuer is no longer an admin.
    #[error("the invite's issuer is not an admin of this mesh")]
    IssuerNotAdmin,
    /// The invite was revoked.
    #[error("this invite was revoked")]
    Revoked,
    /// The invite expired.
    #[error("this invite expired")]
    Expired,
    /// Every use of the invite was spent.
    #[error("this invite is used up")]
    UsedUp,
    /// The proof does not match the invite's secret.
    #[error("wrong proof: the joiner does not hold this invite's secret")]
    WrongProof,
    /// The joiner's key was removed from the mesh.
    #[error("this key was removed from the mesh")]
    Removed,
    /// The name the joiner gave is not acceptable.
    #[error("the name must be 1-64 bytes of printable text")]
    BadName,
    /// The mesh's ACL log is full.
    #[error("the mesh's ACL log is full")]
    LogFull,
    /// The issuer could not store the admission; try again later.
    #[error("the issuer could not store the admission; try again")]
    Unavailable,
}
