//! Message ids: BLAKE3 hashes of what a message says, who said it and when.
//!
//! A receiver recomputes the id from the fields it received and the authenticated sender,
//! so an id is also an integrity check, and two copies of one message share one id, which
//! is what de-duplication keys on.

/// The 32-byte content hash that names a message. Shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub [u8; 32]);

/// Domain-separation contexts for the hashes behind message ids.
#[derive(Clone, Copy, Debug)]
pub enum IdContext {
    /// A direct message on `/weft/dm/1`.
    Direct,
    /// A message published on a topic.
    Topic,
    /// A benchmark direct message (`weft bench dm`): never stored, so it can never share
    /// an id with one that is.
    BenchDirect,
    /// A benchmark topic message (`weft bench topic`), likewise.
    BenchTopic,
}

impl IdContext {
    fn as_str(self) -> &'static str {
        match self {
            IdContext::Direct => "weft/v1/message-id/direct",
            IdContext::Topic => "weft/v1/message-id/topic",
            IdContext::BenchDirect => "weft/v1/message-id/bench-direct",
            IdContext::BenchTopic => "weft/v1/message-id/bench-topic",
        }
    }
}

impl MessageId {
    /// Hashes `parts` under `context`. Each part is length-prefixed, so no two different
    /// lists of parts hash alike.
    pub fn derive(context: IdContext, parts: &[&[u8]]) -> MessageId {
        let mut hasher = blake3::Hasher::new_derive_key(context.as_str());
        for part in parts {
            hasher.update(&(part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        MessageId(*hasher.finalize().as_bytes())
    }

    /// The first 8 hex digits, for human output.
    pub fn short(&self) -> String {
        self.to_string()[..8].to_string()
    }
}

/// Why a string is not an id of the kind expected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{input}` is not a {what} (expected 64 hex digits)")]
pub struct ParseIdError {
    /// What was expected ("message id", "blob id").
    pub what: &'static str,
    /// What was given.
    pub input: String,
}

/// Gives a 32-byte id newtype its text and wire forms: 64 lowercase hex digits for people
/// and in human-readable formats (JSON), 32 raw bytes in binary ones (CBOR on the wire).
#[macro_export]
macro_rules! hex_id {
    ($name:ident, $what:literal) => {
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                for byte in self.0 {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({})", stringify!($name), &self.to_string()[..8])
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::id::ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let bad = || $crate::id::ParseIdError {
                    what: $what,
                    input: s.to_string(),
                };
                if s.len() != 64 || !s.is_ascii() {
                    return Err(bad());
                }
                let mut out = [0u8; 32];
                for (i, byte) in out.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
                }
                Ok($name(out))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.collect_str(self)
                } else {
                    serializer.serialize_bytes(&self.0)
                }
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                use ::serde::de::Error;
                if deserializer.is_human_readable() {
                    let s = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                    s.parse().map_err(D::Error::custom)
                } else {
                    $crate::codec::byte_array::deserialize(deserializer).map($name)
                }
            }
        }
    };
}

hex_id!(MessageId, "message id");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn hex_round_trip(bytes in any::<[u8; 32]>()) {
            let id = MessageId(bytes);
            prop_assert_eq!(id.to_string().parse::<MessageId>(), Ok(id));
        }

        #[test]
        fn json_and_cbor_round_trip(bytes in any::<[u8; 32]>()) {
            let id = MessageId(bytes);
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<MessageId>(&json).unwrap(), id);
            let cbor = crate::codec::to_cbor(&id).unwrap();
            prop_assert_eq!(crate::codec::from_cbor::<MessageId>(&cbor).unwrap(), id);
        }
    }

    #[test]
    fn parts_are_length_prefixed() {
        let a = MessageId::derive(IdContext::Direct, &[b"ab", b"c"]);
        let b = MessageId::derive(IdContext::Direct, &[b"a", b"bc"]);
        assert_ne!(a, b);
        let c = MessageId::derive(IdContext::Topic, &[b"ab", b"c"]);
        assert_ne!(a, c, "contexts separate the id spaces");
    }

    #[test]
    fn rejects_bad_hex() {
        assert!("zz".parse::<MessageId>().is_err());
        assert!("g".repeat(64).parse::<MessageId>().is_err());
    }
}
