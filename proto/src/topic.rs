//! Topics: names, their gossipsub namespace, and the payload of a topic message.
//!
//! A topic `T` travels on the gossipsub topic `weft/<namespace>/t/<T>`. The payload of each
//! gossipsub message is a CBOR map (no length prefix; gossipsub frames it):
//!
//! ```text
//! TopicMessage { v: 2, topic: string, seq: u64, ts: u64, text: string, sig: bytes(64),
//!                ?bench: true }                                   <= MAX_TOPIC_PAYLOAD_BYTES
//! ```
//!
//! `seq` counts the publisher's messages on the topic from 1, so a receiver sees gaps and
//! asks for exactly what it misses. `sig` is the publisher's ed25519 signature (context
//! `topic-message`, see `weft_keys::topic`) over [`TopicMessage::signed_bytes`], which binds
//! the mesh: a member can hand on another member's message (catch-up after a partition) and
//! the receiver still knows who wrote it. Gossipsub signs every message too (StrictSign).
//! The message id is `MessageId::derive(Topic, [source peer id bytes, topic, ts as u64 BE,
//! text])`.
//!
//! A benchmark message (`weft bench topic`, `bench: true`) travels the same gossip but is
//! never stored, logged for catch-up or handed on in a sync answer; its `seq` counts the
//! publisher's benchmark messages on the topic since it started, its signature covers the
//! flag, and its id is taken under the `BenchTopic` context.

use serde::{Deserialize, Serialize};

use crate::codec::{DecodeError, check_frame_len, from_cbor, to_cbor};
use crate::dm::check_text;
use crate::id::{IdContext, MessageId};
use crate::limits::MAX_TOPIC_PAYLOAD_BYTES;
use crate::mesh::MeshId;

/// The version of topic message payloads this crate writes and reads.
pub const TOPIC_VERSION: u8 = 2;

name_type! {
    /// A valid topic name: 1 to 64 bytes of ASCII letters, digits, `-`, `_`, `.`.
    TopicName, ParseTopicError, "topic"
}

impl TopicName {
    /// The gossipsub topic string under `namespace`.
    pub fn gossip_topic(&self, namespace: &str) -> String {
        format!("weft/{namespace}/t/{}", self.0)
    }

    /// The gossipsub topic string of this topic's benchmark messages under `namespace`:
    /// their own, so that only nodes that know them subscribe to it and hear them.
    pub fn bench_gossip_topic(&self, namespace: &str) -> String {
        format!("weft/{namespace}/b/{}", self.0)
    }

    /// The topic name inside a gossipsub topic string of `namespace`, and whether that is
    /// the topic's benchmark gossip topic, if it is either.
    pub fn from_gossip_topic(namespace: &str, gossip: &str) -> Option<(TopicName, bool)> {
        let rest = gossip.strip_prefix(&format!("weft/{namespace}/"))?;
        let (bench, name) = match rest.split_at_checked(2)? {
            ("t/", name) => (false, name),
            ("b/", name) => (true, name),
            _ => return None,
        };
        Some((name.parse().ok()?, bench))
    }
}

/// A message published on a topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMessage {
    /// Payload version, [`TOPIC_VERSION`].
    pub v: u8,
    /// The topic; must match the gossipsub topic it arrived on.
    pub topic: TopicName,
    /// The publisher's count of its messages on this topic, from 1.
    pub seq: u64,
    /// Publisher's hybrid logical clock, microseconds since the Unix epoch.
    pub ts: u64,
    /// The message, UTF-8, at most [`crate::limits::MAX_TEXT_BYTES`].
    pub text: String,
    /// The publisher's signature over [`TopicMessage::signed_bytes`].
    #[serde(with = "crate::codec::byte_array")]
    pub sig: [u8; 64],
    /// A benchmark message, never stored (absent on the wire when false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bench: bool,
}

impl TopicMessage {
    /// A new, not yet signed, topic message.
    pub fn new(topic: TopicName, seq: u64, ts: u64, text: String) -> TopicMessage {
        TopicMessage {
            v: TOPIC_VERSION,
            topic,
            seq,
            ts,
            text,
            sig: [0; 64],
            bench: false,
        }
    }

    /// A new, not yet signed, benchmark message (see the module docs).
    pub fn bench(topic: TopicName, seq: u64, ts: u64, text: String) -> TopicMessage {
        TopicMessage {
            bench: true,
            ..TopicMessage::new(topic, seq, ts, text)
        }
    }

    /// What the publisher signs: the mesh and every field but the signature, as CBOR (the
    /// bench flag only when set, so other messages sign as they always did).
    pub fn signed_bytes(&self, mesh: &MeshId) -> Result<Vec<u8>, DecodeError> {
        let fields = (mesh, self.v, &self.topic, self.seq, self.ts, &self.text);
        if self.bench {
            to_cbor(&(fields, "bench"))
        } else {
            to_cbor(&fields)
        }
    }

    /// The id of this message as published by `source` (peer id bytes).
    pub fn id(&self, source: &[u8]) -> MessageId {
        let context = if self.bench {
            IdContext::BenchTopic
        } else {
            IdContext::Topic
        };
        MessageId::derive(
            context,
            &[
                source,
                self.topic.as_str().as_bytes(),
                &self.ts.to_be_bytes(),
                self.text.as_bytes(),
            ],
        )
    }

    /// Encodes the CBOR payload.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        to_cbor(self)
    }

    /// Decodes and checks a payload: size, version, text rules.
    pub fn decode(bytes: &[u8]) -> Result<TopicMessage, DecodeError> {
        check_frame_len("topic message", bytes.len(), MAX_TOPIC_PAYLOAD_BYTES)?;
        let m: TopicMessage = from_cbor(bytes)?;
        m.check()?;
        Ok(m)
    }

    /// Checks a message however it came (gossip, or handed on by catch-up): version, text
    /// rules and size, sequence numbers from 1.
    pub fn check(&self) -> Result<(), DecodeError> {
        if self.v != TOPIC_VERSION {
            return Err(DecodeError::Version(self.v));
        }
        check_text(&self.text)?;
        if self.seq == 0 {
            return Err(DecodeError::Invalid(
                "topic sequence numbers start at 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn payload_round_trips(name in "[a-z0-9._-]{1,64}", seq in 1..u64::MAX, ts in any::<u64>(), text in ".{1,200}") {
            let m = TopicMessage::new(name.parse().unwrap(), seq, ts, text);
            prop_assert_eq!(TopicMessage::decode(&m.encode().unwrap()).unwrap(), m);
        }

        #[test]
        fn gossip_topic_round_trips(name in "[A-Za-z0-9._-]{1,64}", ns in "[a-z0-9]{1,16}") {
            let t: TopicName = name.parse().unwrap();
            prop_assert_eq!(TopicName::from_gossip_topic(&ns, &t.gossip_topic(&ns)), Some((t.clone(), false)));
            prop_assert_eq!(TopicName::from_gossip_topic(&ns, &t.bench_gossip_topic(&ns)), Some((t, true)));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = TopicMessage::decode(&bytes);
        }
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "a/b", "with space", &"x".repeat(65), "ünïcode"] {
            assert!(bad.parse::<TopicName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_depend_on_source() {
        let m = TopicMessage::new("chat".parse().unwrap(), 1, 7, "hi".into());
        assert_ne!(m.id(b"alice"), m.id(b"bob"));
        let zero = TopicMessage::new("chat".parse().unwrap(), 0, 7, "hi".into());
        assert!(TopicMessage::decode(&zero.encode().unwrap()).is_err());
    }
}
