//! [`CurveServerKey`]: the CURVE key pair a node's local ZeroMQ TCP endpoints serve with.
//! It is derived from the node's identity under its own context, so it stays the same across
//! restarts (clients keep the server key they were given) and shares nothing usable with any
//! other key of the node.

use curve25519_dalek::montgomery::MontgomeryPoint;
use zeroize::Zeroizing;

use crate::Identity;

/// The derivation context of the CURVE server key.
const CONTEXT: &str = "weft/v1/zmq-curve-server";

/// A node's CURVE server key pair (X25519, as CurveZMQ uses). The secret zeroizes on drop
/// and never prints.
pub struct CurveServerKey {
    secret: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl CurveServerKey {
    /// The CURVE server key of `identity`.
    pub fn of(identity: &Identity) -> CurveServerKey {
        let secret = Zeroizing::new(blake3::derive_key(
            CONTEXT,
            identity.secret_bytes().as_ref(),
        ));
        let public = MontgomeryPoint::mul_base_clamped(*secret).to_bytes();
        CurveServerKey { secret, public }
    }

    /// The public half, which clients name as the server key.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// The secret half, for libzmq's `ZMQ_CURVE_SECRETKEY`.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl std::fmt::Debug for CurveServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CurveServerKey({:02x?}..)", &self.public[..4])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::SealKey;

    #[test]
    fn the_key_is_stable_and_its_own() {
        let identity = Identity::generate().unwrap();
        let key = CurveServerKey::of(&identity);
        assert_eq!(key.public(), CurveServerKey::of(&identity).public());
        assert_ne!(key.public(), SealKey::of(&identity).public().0);
        let other = Identity::generate().unwrap();
        assert_ne!(key.public(), CurveServerKey::of(&other).public());
        assert!(!format!("{key:?}").contains(&format!("{:02x?}", &key.secret()[..8])));
    }
}
