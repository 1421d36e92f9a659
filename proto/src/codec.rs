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

/// Reads a CBOR byte string (serde `bytes`) as a vector: for types that travel as byte
/// strings rather than serde's default array of integers.
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
    deserializer.deserialize_bytes(BytesVisitor)
}
