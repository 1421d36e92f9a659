//! `/weft/sync/1`: bringing a member's copy of the ACL log up to date. One request and one
//! response per stream, each a frame (see [`crate::codec`]). Both sides of a new connection
//! between members ask; a node answers members of its own mesh only.
//!
//! ```text
//! asker -> answerer    SyncRequest  { v: 2, mesh: bytes(20), have: [bytes(32)], card: SealCard? }
//!                                                                               <= 4 MiB
//! answerer -> asker    SyncResponse = { "Ops": { ops: [SignedOp], peers: [PeerAddrs] } }
//!                                   | { "Refused": { reason: string } }         <= 4 MiB
//! PeerAddrs = { peer: bytes (PeerId), addrs: [multiaddr string], card: SealCard? }
//!                                                                  at most 8 addrs each
//! ```
//!
//! `peers` lists where the answerer knows other members to be reachable, and their sealing
//! keys, so a newcomer finds every member, and can seal messages to it, without being told.
//! `card` in the request is the asker's own sealing key (see [`crate::seal`]); every card is
//! verified against its member's key before it is stored.
//!
//! `have` lists the ids (BLAKE3 of the CBOR) of the ops the asker holds; the answer holds
//! every op the answerer has that is not among them. Each op is verified by the asker before
//! it is stored.

use serde::{Deserialize, Serialize};

use crate::acl::SignedOp;
use crate::mesh::MeshId;
use crate::seal::SealCard;

/// The request body version.
pub const SYNC_VERSION: u8 = 2;

/// Largest frame either way.
pub const MAX_SYNC_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// An asker's request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Body version, [`SYNC_VERSION`].
    pub v: u8,
    /// The mesh.
    pub mesh: MeshId,
    /// Ids of the ops the asker holds.
    #[serde(with = "crate::codec::byte_arrays")]
    pub have: Vec<[u8; 32]>,
    /// The asker's sealing-key card.
    pub card: Option<SealCard>,
}

/// Where one member can be reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerAddrs {
    /// The member's PeerId, as bytes.
    #[serde(with = "crate::codec::byte_vec")]
    pub peer: Vec<u8>,
    /// Its multiaddrs, without `/p2p/`.
    pub addrs: Vec<String>,
    /// Its sealing-key card, when the answerer has it.
    pub card: Option<SealCard>,
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// The ops the asker lacks, and where other members can be reached.
    Ops {
        /// Those ops.
        ops: Vec<SignedOp>,
        /// Addresses of other members the answerer knows.
        #[serde(default)]
        peers: Vec<PeerAddrs>,
    },
    /// No answer, and why.
    Refused {
        /// Why.
        reason: String,
    },
}
