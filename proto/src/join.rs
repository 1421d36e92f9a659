//! `/weft/join/1`: redeeming an invite key. One request and one response per stream, each a
//! frame (see [`crate::codec`]).
//!
//! ```text
//! joiner -> issuer   JoinRequest  { v: 2, invite: bytes(16), key: bytes(32), proof: bytes(32),
//!                                   name: string? }                       frame <= 1 KiB
//! issuer -> joiner   JoinResponse = { "Accepted": { ops: [SignedOp] } }
//!                                 | { "Refused": { reason: string } }     frame <= 4 MiB
//! ```
//!
//! `key` is the joiner's ed25519 public key; the issuer checks that it is the key of the
//! authenticated peer. `proof` is `weft_keys::invite::proof(secret, joiner PeerId bytes)`: the
//! secret itself never travels. `Accepted` carries the mesh's whole ACL log, the joiner's own
//! admission included.

use serde::{Deserialize, Serialize};

use crate::acl::SignedOp;

/// The request body version.
pub const JOIN_VERSION: u8 = 2;

/// Largest request frame.
pub const MAX_JOIN_REQUEST_BYTES: usize = 1024;

/// Largest response frame.
pub const MAX_JOIN_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// A joiner's request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// Body version, [`JOIN_VERSION`].
    pub v: u8,
    /// The invite's id.
    #[serde(with = "crate::codec::byte_array")]
    pub invite: [u8; 16],
    /// The joiner's ed25519 public key.
    #[serde(with = "crate::codec::byte_array")]
    pub key: [u8; 32],
    /// Proof of the invite's secret, bound to the joiner's PeerId.
    #[serde(with = "crate::codec::byte_array")]
    pub proof: [u8; 32],
    /// The name the joiner gives itself.
    pub name: Option<String>,
}

/// The issuer's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinResponse {
    /// Admitted: here is the ACL log.
    Accepted {
        /// Every op of the mesh's ACL log.
        ops: Vec<SignedOp>,
    },
    /// Not admitted, and why in one line.
    Refused {
        /// Why.
        reason: String,
    },
}
