//! Wire and API types of weft, with their codecs. Pure: no IO, no async, no libp2p.
//!
//! Every type that crosses a process boundary lives here:
//!
//! - [`limits`]: every size cap, in one place, so the wire documentation and the code agree.
//! - [`id`]: [`MessageId`], the content hash that names a message everywhere.
//! - [`dm`]: the frames of `/weft/dm/1` (a direct message and its acknowledgement).
//! - [`topic`]: topic names, their gossipsub namespace and the topic message payload.
//! - [`codec`]: the length-prefixed CBOR framing shared by every weft protocol.
//! - [`mesh`]: mesh ids and member roles.
//! - [`acl`]: the ACL log's signed operations.
//! - [`join`]: the frames of `/weft/join/1` (redeeming an invite).
//! - [`sync`]: the frames of `/weft/sync/1` (bringing the ACL log up to date).
//! - [`mailbox`]: the frames of `/weft/mailbox/1` (holding sealed boxes for members).
//! - [`pipe`]: the frames that open `/weft/pipe/1` (live byte streams between members).
//! - [`display`]: the cards in which members give their own display names.
//! - [`seal`]: sealing cards and the plaintext of a sealed box a mailbox holds.
//! - [`service`]: the frames of `/weft/service/1` (calls and replies) and providers' records.
//! - [`queue`]: the frames of `/weft/queue/1` (work items pulled by workers from producers).
//! - [`blob`]: blob ids, manifests (the BLAKE3 tree over chunks) and the frames of `/weft/blob/1`.
//! - [`media`]: the local API bodies for blobs (share, fetch, progress) and pipes.
//! - [`operate`]: the local API bodies for operating a node (`weft ping`, `weft doctor`).
//! - [`api`]: the JSON bodies of the local HTTP API and its event stream.

/// Defines a named 32-byte value (a key or an id): a byte string on the wire (serde
/// transparent, so it encodes as the bare array would), ordered, with `short()` (its first
/// 12 hex digits, for logs) and a `Debug` showing them.
macro_rules! named_bytes {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(#[serde(with = "crate::codec::byte_array")] pub [u8; 32]);

        impl $name {
            /// The first 12 hex digits, for logs.
            pub fn short(&self) -> String {
                self.0[..6].iter().map(|b| format!("{b:02x}")).collect()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.short())
            }
        }
    };
}

#[macro_use]
mod name;

pub mod acl;
pub mod api;
pub mod blob;
pub mod codec;
pub mod display;
pub mod dm;
pub mod id;
pub mod join;
pub mod limits;
pub mod mailbox;
pub mod media;
pub mod mesh;
pub mod operate;
pub mod pipe;
pub mod queue;
pub mod seal;
pub mod service;
pub mod sync;
pub mod topic;

pub use codec::DecodeError;
pub use id::MessageId;
