//! A node's identity: one ed25519 keypair. The libp2p keypair and the PeerId are derived
//! from it by the node.

use std::fmt;

use ed25519_dalek::SigningKey;
use weft_proto::mesh::MemberKey;
use zeroize::Zeroizing;

use crate::sign::{Context, PublicKey, Signature, signed_bytes};

/// A node's ed25519 keypair. The secret half zeroizes when dropped and is never printed:
/// `Debug` shows only the public key.
pub struct Identity {
    key: SigningKey,
}

/// Why a key could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The operating system's random source failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    /// Stored key bytes have the wrong length.
    #[error("stored secret key is {0} bytes; expected 32")]
    Length(usize),
}

impl Identity {
    /// A fresh identity from the operating system's random source.
    pub fn generate() -> Result<Identity, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Identity::from_secret(&seed))
    }

    /// The identity whose 32-byte secret is `secret`.
    pub fn from_secret(secret: &[u8; 32]) -> Identity {
        Identity {
            key: SigningKey::from_bytes(secret),
        }
    }

    /// The identity stored as `bytes` (a 32-byte secret).
    pub fn from_secret_slice(bytes: &[u8]) -> Result<Identity, KeyError> {
        let secret: Zeroizing<[u8; 32]> = Zeroizing::new(
            bytes
                .try_into()
                .map_err(|_| KeyError::Length(bytes.len()))?,
        );
        Ok(Identity::from_secret(&secret))
    }

    /// The 32-byte secret, for storing (0600) or deriving the libp2p keypair. Zeroizes
    /// when dropped.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    /// The public half as the key that names this identity's member in a mesh.
    pub fn member_key(&self) -> MemberKey {
        self.public().member_key()
    }

    /// Signs `message` under `context`.
    pub fn sign(&self, context: Context, message: &[u8]) -> Signature {
        use ed25519_dalek::Signer;
        Signature(self.key.sign(&signed_bytes(context, message)))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity(public: {:?}, secret: ..)", self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let id = Identity::from_secret(&[7u8; 32]);
        let shown = format!("{id:?}");
        let secret_hex: String = id
            .secret_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!shown.contains(&secret_hex));
        assert!(shown.contains("secret: .."));
    }

    #[test]
    fn secret_round_trips() {
        let id = Identity::generate().unwrap();
        let back = Identity::from_secret_slice(id.secret_bytes().as_ref()).unwrap();
        assert_eq!(id.public(), back.public());
        assert!(Identity::from_secret_slice(&[1, 2, 3]).is_err());
    }
}
