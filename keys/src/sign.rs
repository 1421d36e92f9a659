//! Signatures with domain separation.
//!
//! What is signed is never the caller's bytes alone but
//! `"weft/v1/" || context || 0x00 || message`, so a signature made for one purpose (say, an
//! ACL operation) can never be replayed as another (say, an invite). Verification is strict
//! (`verify_strict`: no small-order keys, canonical encodings only).

use std::fmt;

use weft_proto::mesh::MemberKey;

/// A domain-separation context: a short ASCII label naming what a signature is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context(&'static str);

impl Context {
    /// A context labelled `label` (ASCII, no NUL).
    pub const fn new(label: &'static str) -> Context {
        Context(label)
    }
}

/// An ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub(crate) ed25519_dalek::VerifyingKey);

/// An ed25519 signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature(pub(crate) ed25519_dalek::Signature);

/// Why a signature or key was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// The bytes are not a valid public key.
    #[error("not a valid ed25519 public key")]
    BadKey,
    /// The signature does not verify for this key, context and message.
    #[error("signature does not verify")]
    BadSignature,
}

impl PublicKey {
    /// The 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Parses a 32-byte encoding.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, SignatureError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| SignatureError::BadKey)
    }

    /// This key as a member key.
    pub fn member_key(&self) -> MemberKey {
        MemberKey(self.to_bytes())
    }

    /// Parses a member key (refused when its bytes are not a valid ed25519 point).
    pub fn from_member(key: &MemberKey) -> Result<PublicKey, SignatureError> {
        PublicKey::from_bytes(&key.0)
    }

    /// Checks `signature` over `message` under `context`, strictly.
    pub fn verify(
        &self,
        context: Context,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        self.0
            .verify_strict(&signed_bytes(context, message), &signature.0)
            .map_err(|_| SignatureError::BadSignature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(")?;
        for byte in &self.to_bytes()[..6] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "..)")
    }
}

impl Signature {
    /// The 64-byte encoding.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0.to_bytes()
    }

    /// Parses a 64-byte encoding.
    pub fn from_bytes(bytes: &[u8; 64]) -> Signature {
        Signature(ed25519_dalek::Signature::from_bytes(bytes))
    }
}

pub(crate) fn signed_bytes(context: Context, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + context.0.len() + 1 + message.len());
    out.extend_from_slice(b"weft/v1/");
    out.extend_from_slice(context.0.as_bytes());
    out.push(0);
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;
    use proptest::prelude::*;

    const A: Context = Context::new("test-a");
    const B: Context = Context::new("test-b");

    proptest! {
        #[test]
        fn signatures_verify_only_in_their_context(seed in any::<[u8; 32]>(), msg in proptest::collection::vec(any::<u8>(), 0..64)) {
            let id = Identity::from_secret(&seed);
            let sig = id.sign(A, &msg);
            prop_assert!(id.public().verify(A, &msg, &sig).is_ok());
            prop_assert_eq!(id.public().verify(B, &msg, &sig), Err(SignatureError::BadSignature));
        }

        #[test]
        fn any_flipped_bit_is_refused(seed in any::<[u8; 32]>(), msg in proptest::collection::vec(any::<u8>(), 1..64), bit in any::<prop::sample::Index>()) {
            let id = Identity::from_secret(&seed);
            let sig = id.sign(A, &msg);
            let mut forged = msg.clone();
            let i = bit.index(forged.len() * 8);
            forged[i / 8] ^= 1 << (i % 8);
            prop_assert!(id.public().verify(A, &forged, &sig).is_err());
            let mut sig_bytes = sig.to_bytes();
            let j = bit.index(512);
            sig_bytes[j / 8] ^= 1 << (j % 8);
            prop_assert!(id.public().verify(A, &msg, &Signature::from_bytes(&sig_bytes)).is_err());
        }

        #[test]
        fn public_keys_round_trip(seed in any::<[u8; 32]>()) {
            let public = Identity::from_secret(&seed).public();
            prop_assert_eq!(PublicKey::from_bytes(&public.to_bytes()).unwrap(), public);
        }
    }
}
