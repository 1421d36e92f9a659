//! CBOR (RFC 8949) bodies and the frame that carries them on weft's stream protocols.
//!
//! Frame layout, identical on every `/weft/...` stream protocol:
//!
//! ```text
//! +----------------------+---------------------------+
//! | length: u32, BE      | body: `length` bytes CBOR |
//! +----------------------+---------------------------+
//! ```
//!
//! A receiver reads the length first and refuses the frame before reading its body when the
//! length exceeds that protocol's cap.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why bytes from a peer or a caller could not be decoded. Each variant names a reason that
/// is logged and counted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame or body is larger than the cap for its kind.
    #[error("{what} is {len} bytes; the limit is {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size in bytes.
        len: usize,
        /// The cap in bytes.
        max: usize,
    },
    /// The body is not valid CBOR for the expected type.
    #[error("malformed body: {0}")]
    Malformed(String),
    /// The body names a version this node does not speak.
    #[error("unsupported version {0}")]
    Version(u8),
    /// The body decoded but breaks a rule of its type (bad id, empty text, ...).
    #[error("invalid: {0}")]
    Invalid(String),
}

impl DecodeError {
    /// A short, stable label for metrics and counters.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "oversize",
            DecodeError::Malformed(_) => "malformed",
            DecodeError::Version(_) => "version",
            DecodeError::Invalid(_) => "invalid",
        }
    }
}

/// Encodes `value` as CBOR.
pub fn to_cbor<T: Serialize>(value: &T) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(128);
    ciborium::into_writer(value, &mut out).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    Ok(out)
}

/// Decodes CBOR bytes as `T`.
pub fn from_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    ciborium::from_reader(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// Checks a frame length header against `max` before anything is read.
pub fn check_frame_len(what: &'static str, len: usize, max: usize) -> Result<(), DecodeError> {
    if len > max {
        return Err(DecodeError::TooLarge { what, len, max });
    }
    Ok(())
}

/// Prefixes `body` with its length as a u32, big-endian.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Reads a CBOR byte string (serde `bytes`) as a vector.
pub fn deserialize_byte_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<u8>, D::Error> {
    struct BytesVisitor;
    impl serde::de::Visitor<'_> for BytesVisitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a byte string")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
    }
    // `byte_buf`, not `bytes`: ciborium borrows `bytes` from a 4 KiB scratch buffer and
    // refuses longer strings, while `byte_buf` reads any length into a vector.
    deserializer.deserialize_byte_buf(BytesVisitor)
}

/// `#[serde(with = "weft_proto::codec::byte_array")]`: a `[u8; N]` (key, id, signature) as
/// one CBOR byte string of exactly N bytes, not serde's default array of integers.
pub mod byte_array {
    use serde::{Deserializer, Serializer};

    /// Writes the array as a byte string.
    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    /// Reads a byte string of exactly N bytes.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        super::deserialize_byte_string(deserializer)?
            .try_into()
            .map_err(|v: Vec<u8>| {
                serde::de::Error::invalid_length(v.len(), &format!("{N} bytes").as_str())
            })
    }
}

/// `#[serde(with = "weft_proto::codec::byte_arrays")]`: a list of `[u8; N]` as a CBOR array
/// of byte strings.
pub mod byte_arrays {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Item<const N: usize>(#[serde(with = "super::byte_array")] [u8; N]);

    /// Writes the list.
    pub fn serialize<S: Serializer, const N: usize>(
        list: &[[u8; N]],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(list.len()))?;
        for bytes in list {
            seq.serialize_element(&Item(*bytes))?;
        }
        seq.end()
    }

    /// Reads the list.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<Vec<[u8; N]>, D::Error> {
        let items = Vec::<Item<N>>::deserialize(deserializer)?;
        Ok(items.into_iter().map(|Item(bytes)| bytes).collect())
    }
}

/// `#[serde(with = "weft_proto::codec::byte_vec")]`: a `Vec<u8>` as one CBOR byte string.
pub mod byte_vec {
    use serde::{Deserializer, Serializer};

    /// Writes the bytes as a byte string.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    /// Reads a byte string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        super::deserialize_byte_string(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{OP_VERSION, OpBody, OpId, OpKind, Principal, SignedOp};
    use crate::display::NameCard;
    use crate::join::{JOIN_VERSION, JoinRequest};
    use crate::mesh::{MemberKey, MeshId, Role};
    use crate::seal::{SealCard, SealingKey};
    use crate::sync::{
        DirectoryMark, Logged, Mark, PeerAddrs, SYNC_VERSION, SyncRequest, TopicMarks,
    };
    use crate::topic::{TopicMessage, TopicName};
    use ciborium::Value;
    use proptest::prelude::*;

    /// The CBOR value of `field` in the map `value` encodes to.
    fn field<T: Serialize>(value: &T, field: &str) -> Value {
        let value: Value = from_cbor(&to_cbor(value).unwrap()).unwrap();
        let map = value.into_map().unwrap();
        map.into_iter()
            .find(|(k, _)| k.as_text() == Some(field))
            .map(|(_, v)| v)
            .unwrap()
    }

    fn op(author: [u8; 32], member: [u8; 32], prev: [u8; 32], sig: [u8; 64]) -> SignedOp {
        let author = MemberKey(author);
        SignedOp {
            body: OpBody {
                v: OP_VERSION,
                mesh: MeshId::of_founder(&author),
                author,
                prev: vec![OpId(prev)],
                kind: OpKind::TopicPolicy {
                    topic: "news".parse().unwrap(),
                    publishers: vec![
                        Principal::Key(MemberKey(member)),
                        Principal::Role(Role::Admin),
                    ],
                },
            },
            sig,
        }
    }

    /// [`OpBody`] as it was laid out before member keys had a type: bare byte arrays. The
    /// kinds are mirrored in their original order, so names and indices both match.
    #[derive(Serialize)]
    struct BareOpBody {
        v: u8,
        mesh: MeshId,
        #[serde(with = "byte_array")]
        author: [u8; 32],
        prev: Vec<OpId>,
        kind: BareOpKind,
    }

    #[derive(Serialize)]
    enum BareOpKind {
        Found {
            name: Option<String>,
        },
        Add {
            #[serde(with = "byte_array")]
            member: [u8; 32],
            role: Role,
            name: Option<String>,
        },
        Revoke {
            #[serde(with = "byte_array")]
            member: [u8; 32],
        },
        SetRole {
            #[serde(with = "byte_array")]
            member: [u8; 32],
            role: Role,
        },
        TopicPolicy {
            topic: TopicName,
            publishers: Vec<BarePrincipal>,
        },
        RevokeInvite {
            #[serde(with = "byte_array")]
            invite: [u8; 16],
        },
    }

    #[derive(Serialize)]
    enum BarePrincipal {
        Role(Role),
        Key(#[serde(with = "byte_array")] [u8; 32]),
    }

    /// [`Mark`] and [`Logged`] as they were laid out before member keys had a type.
    #[derive(Serialize)]
    struct BareLogged<'a> {
        #[serde(with = "byte_array")]
        publisher: [u8; 32],
        message: &'a TopicMessage,
    }

    /// Each kind of op in its typed and its bare form, naming `member` and `name` where it
    /// has them.
    fn kinds(member: [u8; 32], name: Option<String>) -> Vec<(OpKind, BareOpKind)> {
        let topic: TopicName = "news".parse().unwrap();
        vec![
            (
                OpKind::Found {
                    name: name.clone(),
                    founder: None,
                },
                BareOpKind::Found { name: name.clone() },
            ),
            (
                OpKind::Add {
                    member: MemberKey(member),
                    role: Role::Mailbox,
                    name: name.clone(),
                },
                BareOpKind::Add {
                    member,
                    role: Role::Mailbox,
                    name,
                },
            ),
            (
                OpKind::Revoke {
                    member: MemberKey(member),
                },
                BareOpKind::Revoke { member },
            ),
            (
                OpKind::SetRole {
                    member: MemberKey(member),
                    role: Role::Guest,
                },
                BareOpKind::SetRole {
                    member,
                    role: Role::Guest,
                },
            ),
            (
                OpKind::TopicPolicy {
                    topic: topic.clone(),
                    publishers: vec![
                        Principal::Key(MemberKey(member)),
                        Principal::Role(Role::Admin),
                    ],
                },
                BareOpKind::TopicPolicy {
                    topic,
                    publishers: vec![BarePrincipal::Key(member), BarePrincipal::Role(Role::Admin)],
                },
            ),
            (
                OpKind::RevokeInvite { invite: [3; 16] },
                BareOpKind::RevokeInvite { invite: [3; 16] },
            ),
        ]
    }

    proptest! {
        #[test]
        fn join_sync_and_op_bodies_round_trip(
            key in any::<[u8; 32]>(),
            invite in any::<[u8; 16]>(),
            heads in proptest::collection::vec(any::<[u8; 32]>(), 0..8),
            peer in proptest::collection::vec(any::<u8>(), 0..64),
            next in any::<u64>(),
            sig in proptest::collection::vec(any::<u8>(), 64),
        ) {
            let join = JoinRequest { v: JOIN_VERSION, invite, key: MemberKey(key), proof: key, name: None };
            prop_assert_eq!(from_cbor::<JoinRequest>(&to_cbor(&join).unwrap()).unwrap(), join);
            let sync = SyncRequest {
                v: SYNC_VERSION,
                mesh: MeshId::of_founder(&MemberKey(key)),
                heads: heads.iter().copied().map(OpId).collect(),
                known: heads.iter().copied().map(OpId).collect(),
                after: heads.first().copied().map(OpId),
                card: Some(SealCard { key: SealingKey(key), sig: [9; 64] }),
                topics: vec![TopicMarks {
                    topic: "news".parse().unwrap(),
                    marks: vec![Mark { publisher: MemberKey(key), next }],
                }],
                name: Some(Box::new(NameCard { name: Some("Bobby".into()), at: next, sig: [8; 64] })),
                directory: Some(DirectoryMark { run: next, upto: next / 2 }),
            };
            prop_assert_eq!(from_cbor::<SyncRequest>(&to_cbor(&sync).unwrap()).unwrap(), sync);
            let addrs = PeerAddrs { peer, addrs: vec!["/ip4/127.0.0.1/tcp/1".into()], card: None, name: None, topics: vec!["news".parse().unwrap()] };
            prop_assert_eq!(from_cbor::<PeerAddrs>(&to_cbor(&addrs).unwrap()).unwrap(), addrs);
            let op = op(key, key, key, sig.try_into().unwrap());
            prop_assert_eq!(from_cbor::<SignedOp>(&to_cbor(&op).unwrap()).unwrap(), op);
        }
    }

    proptest! {
        /// Ops are signed over their body's CBOR and stored as CBOR: giving keys a type must
        /// not move a byte, in CBOR or in JSON.
        #[test]
        fn typed_member_keys_encode_as_the_bare_arrays_did(
            author in any::<[u8; 32]>(),
            member in any::<[u8; 32]>(),
            prev in any::<[u8; 32]>(),
            name in proptest::option::of("[a-z]{1,12}"),
            next in any::<u64>(),
        ) {
            for (kind, bare_kind) in kinds(member, name.clone()) {
                let body = OpBody {
                    v: OP_VERSION,
                    mesh: MeshId::of_founder(&MemberKey(author)),
                    author: MemberKey(author),
                    prev: vec![OpId(prev)],
                    kind,
                };
                let bare = BareOpBody {
                    v: OP_VERSION,
                    mesh: body.mesh,
                    author,
                    prev: vec![OpId(prev)],
                    kind: bare_kind,
                };
                prop_assert_eq!(to_cbor(&body).unwrap(), to_cbor(&bare).unwrap());
                prop_assert_eq!(
                    serde_json::to_string(&body).unwrap(),
                    serde_json::to_string(&bare).unwrap()
                );
            }
            let join = JoinRequest { v: JOIN_VERSION, invite: [1; 16], key: MemberKey(member), proof: prev, name };
            prop_assert_eq!(field(&join, "key"), Value::Bytes(member.to_vec()));
            let mark = Mark { publisher: MemberKey(member), next };
            prop_assert_eq!(field(&mark, "publisher"), Value::Bytes(member.to_vec()));
            let message = TopicMessage::new("news".parse().unwrap(), next, 5, "hi".into());
            let logged = Logged { publisher: MemberKey(member), message: message.clone() };
            let bare = BareLogged { publisher: member, message: &message };
            prop_assert_eq!(to_cbor(&logged).unwrap(), to_cbor(&bare).unwrap());
        }
    }

    #[test]
    fn binary_fields_are_byte_strings_of_their_length() {
        let join = JoinRequest {
            v: JOIN_VERSION,
            invite: [1; 16],
            key: MemberKey([2; 32]),
            proof: [3; 32],
            name: None,
        };
        assert_eq!(field(&join, "invite"), Value::Bytes(vec![1; 16]));
        assert_eq!(field(&join, "key"), Value::Bytes(vec![2; 32]));
        let sync = SyncRequest {
            v: SYNC_VERSION,
            mesh: MeshId([4; 20]),
            heads: vec![OpId([5; 32])],
            known: vec![],
            after: Some(OpId([6; 32])),
            card: None,
            topics: vec![],
            name: None,
            directory: None,
        };
        assert_eq!(field(&sync, "after"), Value::Bytes(vec![6; 32]));
        assert_eq!(field(&sync, "mesh"), Value::Bytes(vec![4; 20]));
        assert_eq!(
            field(&sync, "heads"),
            Value::Array(vec![Value::Bytes(vec![5; 32])])
        );
        assert_eq!(
            field(&op([6; 32], [7; 32], [1; 32], [8; 64]), "sig"),
            Value::Bytes(vec![8; 64])
        );

        // One byte short, or the same bytes as an array of integers: refused.
        let short = Value::Map(vec![
            (Value::Text("v".into()), Value::Integer(JOIN_VERSION.into())),
            (Value::Text("invite".into()), Value::Bytes(vec![1; 16])),
            (Value::Text("key".into()), Value::Bytes(vec![2; 31])),
            (Value::Text("proof".into()), Value::Bytes(vec![3; 32])),
        ]);
        assert!(from_cbor::<JoinRequest>(&to_cbor(&short).unwrap()).is_err());
        let ints = Value::Map(vec![
            (Value::Text("v".into()), Value::Integer(JOIN_VERSION.into())),
            (Value::Text("invite".into()), Value::Bytes(vec![1; 16])),
            (
                Value::Text("key".into()),
                Value::Array(vec![Value::Integer(2.into()); 32]),
            ),
            (Value::Text("proof".into()), Value::Bytes(vec![3; 32])),
        ]);
        assert!(from_cbor::<JoinRequest>(&to_cbor(&ints).unwrap()).is_err());
    }
}
