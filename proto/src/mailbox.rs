//! `/weft/mailbox/1`: handing sealed boxes to a member that holds them, and collecting one's
//! own. One request and one response per stream, each a frame (see [`crate::codec`]).
//!
//! ```text
//! asker -> node   MailboxRequest  { v: 2, op: Op }                             <= 320 KiB
//! Op = { "Deposit": { boxes: [Boxed] } }                  <= 64 boxes, 256 KiB of them
//!    | { "Fetch": { max_bytes: u32 } }
//!    | { "Release": { ids: [bytes(32)] } }                                     <= 256 ids
//! node -> asker   MailboxResponse = { "Deposited": { outcomes: [Outcome] } }
//!                                 | { "Items": { items: [Held], more: bool } }
//!                                 | { "Released": { count: u32 } }
//!                                 | { "Refused": { reason: string } }         <= 4.1 MiB
//! Boxed   = { to: bytes(32), expires: u64, sealed: bytes }
//! Outcome = { "Held": { id: bytes(32) } } | { "Refused": { reason: string } }
//! Held    = { id: bytes(32), sealed: bytes }
//! ```
//!
//! - `Deposit` asks the node to hold each box (`sealed`, a box from `weft_keys::seal`, at
//!   most [`crate::seal::MAX_SEALED_BYTES`]) for the member whose [`MemberKey`] is `to`,
//!   until `expires` (Unix seconds); at most [`MAX_DEPOSIT_BOXES`] boxes and
//!   [`MAX_DEPOSIT_BYTES`] of them in one request, so a burst of messages for an absent
//!   member costs one exchange and one flush per batch, not per message. A node holds boxes
//!   for itself from any member, and for others only when its role is mailbox, within its
//!   quota per recipient. `Deposited` comes only once every box held is on disk, with one
//!   outcome per box in order: `Held` (its `id` is BLAKE3 of the box) or why not.
//! - `Fetch` returns boxes held for the asker (the authenticated peer), oldest first, at most
//!   `max_bytes` of them (capped at [`MAX_FETCH_BYTES`]) and at most [`MAX_RELEASE_IDS`]
//!   (so one release can name them all); `more` says whether others wait.
//! - `Release` drops the asker's boxes by id once the asker stored what they carried.

use serde::{Deserialize, Serialize};

use crate::mesh::MemberKey;
use crate::seal::MAX_SEALED_BYTES;

/// The body version.
pub const MAILBOX_VERSION: u8 = 2;

/// Most boxes one deposit carries.
pub const MAX_DEPOSIT_BOXES: usize = 64;

/// Most bytes of boxes one deposit carries: 64 boxes of short messages, or three of the
/// largest; small, since a mailbox holds every request it serves in memory until the boxes
/// are on disk.
pub const MAX_DEPOSIT_BYTES: usize = 256 * 1024;

/// Largest request frame: a deposit of the most bytes of boxes, with room for their
/// envelopes.
pub const MAX_MAILBOX_REQUEST_BYTES: usize = MAX_DEPOSIT_BYTES + 64 * 1024;

const _: () = assert!(MAX_SEALED_BYTES <= MAX_DEPOSIT_BYTES);

/// Most bytes of boxes one fetch returns.
pub const MAX_FETCH_BYTES: usize = 4 * 1024 * 1024;

/// Largest response frame.
pub const MAX_MAILBOX_RESPONSE_BYTES: usize = MAX_FETCH_BYTES + 64 * 1024;

/// Most ids one release names.
pub const MAX_RELEASE_IDS: usize = 256;

/// A request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxRequest {
    /// Body version, [`MAILBOX_VERSION`].
    pub v: u8,
    /// What is asked.
    pub op: Op,
}

/// What a request asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Hold boxes for members.
    Deposit {
        /// The boxes, at most [`MAX_DEPOSIT_BOXES`] and [`MAX_DEPOSIT_BYTES`] of them.
        boxes: Vec<Boxed>,
    },
    /// Hand over boxes held for the asker.
    Fetch {
        /// Most bytes of boxes wanted.
        max_bytes: u32,
    },
    /// Drop the asker's boxes with these ids.
    Release {
        /// Their ids.
        #[serde(with = "crate::codec::byte_arrays")]
        ids: Vec<[u8; 32]>,
    },
}

/// A box to hold for a member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boxed {
    /// The recipient's member key.
    pub to: MemberKey,
    /// When the box may be dropped, Unix seconds.
    pub expires: u64,
    /// The box.
    #[serde(with = "crate::codec::byte_vec")]
    pub sealed: Vec<u8>,
}

/// What became of one deposited box.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// It is on disk.
    Held {
        /// Its id.
        #[serde(with = "crate::codec::byte_array")]
        id: [u8; 32],
    },
    /// It is not held, and why in one line (a full quota, an expired box, ...).
    Refused {
        /// Why.
        reason: String,
    },
}

/// One held box.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// BLAKE3 of the box.
    #[serde(with = "crate::codec::byte_array")]
    pub id: [u8; 32],
    /// The box.
    #[serde(with = "crate::codec::byte_vec")]
    pub sealed: Vec<u8>,
}

/// An answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MailboxResponse {
    /// What became of each box of a deposit, in order.
    Deposited {
        /// One outcome per box.
        outcomes: Vec<Outcome>,
    },
    /// Boxes for the asker.
    Items {
        /// The boxes, oldest first.
        items: Vec<Held>,
        /// Whether more wait.
        more: bool,
    },
    /// How many boxes were dropped.
    Released {
        /// That many.
        count: u32,
    },
    /// Not done, and why in one line (a full quota, not a mailbox, not a member, ...).
    Refused {
        /// Why.
        reason: String,
    },
}

/// The id of a box: BLAKE3 of its bytes.
pub fn box_id(sealed: &[u8]) -> [u8; 32] {
    *blake3::hash(sealed).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{from_cbor, to_cbor};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn requests_and_responses_round_trip(
            to in any::<[u8; 32]>(),
            expires in any::<u64>(),
            sealed in proptest::collection::vec(any::<u8>(), 0..256),
            ids in proptest::collection::vec(any::<[u8; 32]>(), 0..4),
            more in any::<bool>(),
        ) {
            for op in [
                Op::Deposit { boxes: vec![Boxed { to: MemberKey(to), expires, sealed: sealed.clone() }] },
                Op::Fetch { max_bytes: 1024 },
                Op::Release { ids: ids.clone() },
            ] {
                let request = MailboxRequest { v: MAILBOX_VERSION, op };
                let back: MailboxRequest = from_cbor(&to_cbor(&request).unwrap()).unwrap();
                prop_assert_eq!(back, request);
            }
            for response in [
                MailboxResponse::Deposited {
                    outcomes: vec![
                        Outcome::Held { id: box_id(&sealed) },
                        Outcome::Refused { reason: "full".into() },
                    ],
                },
                MailboxResponse::Items {
                    items: vec![Held { id: box_id(&sealed), sealed: sealed.clone() }],
                    more,
                },
                MailboxResponse::Released { count: 3 },
                MailboxResponse::Refused { reason: "full".into() },
            ] {
                let back: MailboxResponse = from_cbor(&to_cbor(&response).unwrap()).unwrap();
                prop_assert_eq!(back, response);
            }
        }
    }
}
