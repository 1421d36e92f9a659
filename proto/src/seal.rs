//! Sealed messages: what a mailbox member holds for an offline recipient.
//!
//! ```text
//! SealCard      { key: bytes(32), sig: bytes(64) }   a member's X25519 sealing key, signed by
//!                                                     its ed25519 identity (context `seal-key`)
//! SealedMessage { v: 2, from: bytes(32), to: bytes(32), expires: u64, content: Content }
//!                                                     the plaintext inside a sealed box
//! Content       = { "Direct": DirectMessage } | { "Receipts": [bytes(32)] }  <= 256 ids
//! ```
//!
//! The box itself (Noise X, see `weft_keys::seal`) is opaque bytes of at most
//! [`MAX_SEALED_BYTES`]. `from` and `to` are [`MemberKey`]s (ed25519); a card's `key` is a
//! [`SealingKey`] (X25519). The opener attributes the box to `from` only when `from`'s card
//! carries the sealing key the handshake authenticated, so a card claiming another member's
//! sealing key gains its signer nothing.

use serde::{Deserialize, Serialize};

use crate::MessageId;
use crate::codec::{DecodeError, from_cbor, to_cbor};
use crate::dm::DirectMessage;
use crate::mesh::MemberKey;

/// The version of [`SealedMessage`] this build writes and reads.
pub const SEALED_VERSION: u8 = 2;

/// Most message ids one receipt names.
pub const MAX_RECEIPTS: usize = 256;

/// Largest sealed box: a direct message of the largest text, its envelope, and the Noise
/// overhead of its chunks.
pub const MAX_SEALED_BYTES: usize = 80 * 1024;

named_bytes! {
    /// A member's X25519 public key for sealed boxes: what a box is sealed to, and what its
    /// handshake authenticates the sender by. Published in a [`SealCard`]. On the wire a byte
    /// string of 32 bytes (`bytes(32)`), as the bare key was.
    SealingKey
}

/// A member's X25519 key for sealed boxes, signed by its identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealCard {
    /// The X25519 public key.
    pub key: SealingKey,
    /// ed25519 by the member's identity over the key, context `seal-key`.
    #[serde(with = "crate::codec::byte_array")]
    pub sig: [u8; 64],
}

/// What a sealed box carries: a direct message, or the receipt for one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Content {
    /// A direct message for the recipient.
    Direct(DirectMessage),
    /// The recipient of the direct messages with these ids stored them (at most
    /// [`MAX_RECEIPTS`]).
    Receipts(Vec<MessageId>),
}

/// The plaintext of a sealed box: what it carries, whom it is for and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedMessage {
    /// Body version, [`SEALED_VERSION`].
    pub v: u8,
    /// The sender's member key.
    pub from: MemberKey,
    /// The recipient's member key.
    pub to: MemberKey,
    /// When it stops being worth delivering, Unix seconds.
    pub expires: u64,
    /// What it carries.
    pub content: Content,
}

impl SealedMessage {
    /// CBOR bytes to seal.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        to_cbor(self)
    }

    /// Decodes opened bytes, checking the version.
    pub fn decode(bytes: &[u8]) -> Result<SealedMessage, DecodeError> {
        let message: SealedMessage = from_cbor(bytes)?;
        if message.v != SEALED_VERSION {
            return Err(DecodeError::Version(message.v));
        }
        if let Content::Receipts(ids) = &message.content
            && ids.len() > MAX_RECEIPTS
        {
            return Err(DecodeError::Invalid(format!(
                "a receipt names at most {MAX_RECEIPTS} messages"
            )));
        }
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// [`SealedMessage`] as it was laid out before its keys had types: bare byte arrays.
    #[derive(Serialize)]
    struct BareSealedMessage<'a> {
        v: u8,
        #[serde(with = "crate::codec::byte_array")]
        from: [u8; 32],
        #[serde(with = "crate::codec::byte_array")]
        to: [u8; 32],
        expires: u64,
        content: &'a Content,
    }

    /// [`SealCard`] as it was laid out before its key had a type.
    #[derive(Serialize)]
    struct BareSealCard {
        #[serde(with = "crate::codec::byte_array")]
        key: [u8; 32],
        #[serde(with = "crate::codec::byte_array")]
        sig: [u8; 64],
    }

    proptest! {
        #[test]
        fn sealed_message_round_trips(
            to in any::<[u8; 32]>(),
            from in any::<[u8; 32]>(),
            expires in any::<u64>(),
            ts in any::<u64>(),
            text in "\\PC{1,64}",
        ) {
            let message = SealedMessage {
                v: SEALED_VERSION,
                from: MemberKey(from),
                to: MemberKey(to),
                expires,
                content: Content::Direct(DirectMessage::new(&from, &to, ts, text)),
            };
            prop_assert_eq!(SealedMessage::decode(&message.encode().unwrap()).unwrap(), message);
        }

        #[test]
        fn typed_keys_encode_as_the_bare_arrays_did(
            to in any::<[u8; 32]>(),
            from in any::<[u8; 32]>(),
            key in any::<[u8; 32]>(),
            expires in any::<u64>(),
            ids in proptest::collection::vec(any::<[u8; 32]>(), 0..4),
        ) {
            let content = Content::Receipts(ids.into_iter().map(MessageId).collect());
            let message = SealedMessage {
                v: SEALED_VERSION,
                from: MemberKey(from),
                to: MemberKey(to),
                expires,
                content: content.clone(),
            };
            let bare = BareSealedMessage { v: SEALED_VERSION, from, to, expires, content: &content };
            prop_assert_eq!(to_cbor(&message).unwrap(), to_cbor(&bare).unwrap());
            prop_assert_eq!(
                serde_json::to_string(&message).unwrap(),
                serde_json::to_string(&bare).unwrap()
            );
            let card = SealCard { key: SealingKey(key), sig: [7; 64] };
            let bare = BareSealCard { key, sig: [7; 64] };
            prop_assert_eq!(to_cbor(&card).unwrap(), to_cbor(&bare).unwrap());
            prop_assert_eq!(
                serde_json::to_string(&card).unwrap(),
                serde_json::to_string(&bare).unwrap()
            );
        }
    }
}
