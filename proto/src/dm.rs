//! The frames of `/weft/dm/1`: a direct message and its acknowledgement.
//!
//! Each request and each response is one frame (see [`crate::codec`]) whose body is a CBOR map:
//!
//! ```text
//! DirectMessage { v: 1, id: bytes(32), ts: u64, text: string, ?bench: true }
//!                                                                  request,  <= MAX_DM_FRAME_BYTES
//! DmAck         { v: 1, id: bytes(32), outcome: Outcome }          response
//! Outcome       = "Stored" | "Duplicate" | { "Rejected": { reason: string } }
//! ```
//!
//! `id` is `MessageId::derive(Direct, [sender peer id bytes, recipient peer id bytes,
//! ts as u64 BE, text])`; the receiver recomputes it from the authenticated sender and refuses
//! a mismatch. A benchmark message (`weft bench dm`, `bench: true`) takes its id under the
//! `BenchDirect` context instead: its recipient acknowledges it after its next flush but
//! stores nothing, and only when it takes benchmark messages from the sender. `ts` is the sender's hybrid logical clock in microseconds since the Unix epoch.
//! The receiver answers only after the message is flushed to disk, so `Stored` and
//! `Duplicate` both mean "durably held".

use serde::{Deserialize, Serialize};

use crate::codec::{DecodeError, from_cbor, to_cbor};
use crate::id::{IdContext, MessageId};
use crate::limits::{MAX_ACK_FRAME_BYTES, MAX_DM_FRAME_BYTES, MAX_TEXT_BYTES};

/// The version of `/weft/dm/1` bodies this crate writes and reads.
pub const DM_VERSION: u8 = 1;

/// A direct message, as it travels from sender to recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectMessage {
    /// Body version, [`DM_VERSION`].
    pub v: u8,
    /// Content hash of sender, recipient, `ts` and `text`.
    pub id: MessageId,
    /// Sender's hybrid logical clock, microseconds since the Unix epoch.
    pub ts: u64,
    /// The message, UTF-8, at most [`MAX_TEXT_BYTES`].
    pub text: String,
    /// A benchmark message, never stored (absent on the wire when false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bench: bool,
}

impl DirectMessage {
    /// Builds a message from `from` to `to` (peer id bytes) and computes its id.
    pub fn new(from: &[u8], to: &[u8], ts: u64, text: String) -> DirectMessage {
        Self::build(from, to, ts, text, false)
    }

    /// Builds a benchmark message (see the module docs) and computes its id.
    pub fn bench(from: &[u8], to: &[u8], ts: u64, text: String) -> DirectMessage {
        Self::build(from, to, ts, text, true)
    }

    fn build(from: &[u8], to: &[u8], ts: u64, text: String, bench: bool) -> DirectMessage {
        let id = Self::id_for(from, to, ts, &text, bench);
        DirectMessage {
            v: DM_VERSION,
            id,
            ts,
            text,
            bench,
        }
    }

    /// The id a message with these fields must carry.
    pub fn id_for(from: &[u8], to: &[u8], ts: u64, text: &str, bench: bool) -> MessageId {
        let context = if bench {
            IdContext::BenchDirect
        } else {
            IdContext::Direct
        };
        MessageId::derive(context, &[from, to, &ts.to_be_bytes(), text.as_bytes()])
    }

    /// Checks version, size and that the id matches the content and the authenticated
    /// sender `from` and recipient `to`.
    pub fn validate(&self, from: &[u8], to: &[u8]) -> Result<(), DecodeError> {
        if self.v != DM_VERSION {
            return Err(DecodeError::Version(self.v));
        }
        check_text(&self.text)?;
        if Self::id_for(from, to, self.ts, &self.text, self.bench) != self.id {
            return Err(DecodeError::Invalid(
                "message id does not match its content".into(),
            ));
        }
        Ok(())
    }

    /// Encodes the CBOR body.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        to_cbor(self)
    }

    /// Decodes a CBOR body, refusing one over [`MAX_DM_FRAME_BYTES`].
    pub fn decode(bytes: &[u8]) -> Result<DirectMessage, DecodeError> {
        crate::codec::check_frame_len("direct message", bytes.len(), MAX_DM_FRAME_BYTES)?;
        from_cbor(bytes)
    }
}

/// The recipient's answer to a [`DirectMessage`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmAck {
    /// Body version, [`DM_VERSION`].
    pub v: u8,
    /// The id of the message this answers.
    pub id: MessageId,
    /// What the recipient did with it.
    pub outcome: AckOutcome,
}

/// What a recipient did with a direct message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AckOutcome {
    /// Newly stored and flushed to disk.
    Stored,
    /// Already held (an earlier copy was stored); nothing changed.
    Duplicate,
    /// Refused; the sender must not retry it unchanged.
    Rejected {
        /// Why, in one line.
        reason: String,
    },
}

impl DmAck {
    /// An acknowledgement of `id` with `outcome`.
    pub fn new(id: MessageId, outcome: AckOutcome) -> DmAck {
        DmAck {
            v: DM_VERSION,
            id,
            outcome,
        }
    }

    /// Encodes the CBOR body.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        to_cbor(self)
    }

    /// Decodes a CBOR body.
    pub fn decode(bytes: &[u8]) -> Result<DmAck, DecodeError> {
        crate::codec::check_frame_len("acknowledgement", bytes.len(), MAX_ACK_FRAME_BYTES)?;
        let ack: DmAck = from_cbor(bytes)?;
        if ack.v != DM_VERSION {
            return Err(DecodeError::Version(ack.v));
        }
        Ok(ack)
    }
}

/// Checks a message text against the rules shared by direct and topic messages.
pub fn check_text(text: &str) -> Result<(), DecodeError> {
    if text.is_empty() {
        return Err(DecodeError::Invalid("empty message".into()));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(DecodeError::TooLarge {
            what: "message",
            len: text.len(),
            max: MAX_TEXT_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        ".{1,200}"
    }

    proptest! {
        #[test]
        fn message_round_trips(from in any::<[u8; 38]>(), to in any::<[u8; 38]>(), ts in any::<u64>(), text in text()) {
            let m = DirectMessage::new(&from, &to, ts, text);
            let back = DirectMessage::decode(&m.encode().unwrap()).unwrap();
            prop_assert!(back.validate(&from, &to).is_ok());
            prop_assert_eq!(back, m);
        }

        #[test]
        fn ack_round_trips(id in any::<[u8; 32]>(), reason in ".{0,50}", pick in 0u8..3) {
            let outcome = match pick {
                0 => AckOutcome::Stored,
                1 => AckOutcome::Duplicate,
                _ => AckOutcome::Rejected { reason },
            };
            let ack = DmAck::new(MessageId(id), outcome);
            prop_assert_eq!(DmAck::decode(&ack.encode().unwrap()).unwrap(), ack);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = DirectMessage::decode(&bytes);
            let _ = DmAck::decode(&bytes);
        }

        #[test]
        fn forged_sender_is_refused(ts in any::<u64>(), text in text()) {
            let m = DirectMessage::new(b"alice", b"bob", ts, text);
            prop_assert!(m.validate(b"mallory", b"bob").is_err());
            prop_assert!(m.validate(b"alice", b"carol").is_err());
        }

        #[test]
        fn a_bench_flag_cannot_be_set_or_cleared_on_the_way(ts in any::<u64>(), text in text()) {
            let mut m = DirectMessage::new(b"alice", b"bob", ts, text.clone());
            m.bench = true;
            prop_assert!(m.validate(b"alice", b"bob").is_err());
            let mut b = DirectMessage::bench(b"alice", b"bob", ts, text);
            prop_assert!(b.validate(b"alice", b"bob").is_ok());
            prop_assert_ne!(b.id, m.id);
            b.bench = false;
            prop_assert!(b.validate(b"alice", b"bob").is_err());
        }
    }

    #[test]
    fn oversize_text_is_refused_not_truncated() {
        let m = DirectMessage::new(b"a", b"b", 1, "x".repeat(MAX_TEXT_BYTES + 1));
        assert!(matches!(
            m.validate(b"a", b"b"),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
