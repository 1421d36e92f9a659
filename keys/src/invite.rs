//! Invite keys: one printable string that lets a newcomer join a mesh.
//!
//! Layout (body version 2; version 1 wrote keys and ids as arrays of integers):
//!
//! ```text
//! "weft1" || base32-lower-nopad( cbor(Invite) || blake3(cbor(Invite))[..4] )
//! Invite     = { body: InviteBody, sig: bytes(64) }
//! InviteBody = { v: 2, mesh: bytes(20), issuer: bytes(32), id: bytes(16), secret: bytes(32),
//!                role: "admin"|"member"|"guest", expires: u64 (Unix seconds), uses: u32,
//!                addrs: [multiaddr string] (at most 8, each at most 256 bytes) }
//! sig        = ed25519 by `issuer` over cbor(InviteBody), context "invite" (see crate::sign)
//! ```
//!
//! The checksum catches typing and copying mistakes before anything else is looked at; the
//! signature proves which key issued it; whether that key may admit anyone is for the mesh's
//! ACL to say. The secret never travels in the clear when the invite is redeemed: the joiner
//! proves it holds it with [`Invite::proof`], a keyed hash over its own PeerId.

use std::fmt;

use serde::{Deserialize, Serialize};
use weft_proto::mesh::{MemberKey, MeshId, Role};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Identity;
use crate::sign::{Context, PublicKey, Signature};

/// The prefix of every invite string (name and format version).
pub const PREFIX: &str = "weft1";

/// Longest invite string accepted.
pub const MAX_INVITE_CHARS: usize = 4096;

/// Most bootstrap addresses an invite carries.
pub const MAX_ADDRS: usize = 8;

/// Longest bootstrap address, in bytes.
pub const MAX_ADDR_BYTES: usize = 256;

/// The signing context of invites.
const CONTEXT: Context = Context::new("invite");

/// The current body version.
pub const VERSION: u8 = 2;

/// Bytes of checksum after the CBOR.
const CHECKSUM_BYTES: usize = 4;

/// An invite's id: names it in `weft invite list` and `weft invite revoke`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InviteId(#[serde(with = "weft_proto::codec::byte_array")] pub [u8; 16]);

impl InviteId {
    /// A fresh random id.
    pub fn generate() -> Result<InviteId, crate::KeyError> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| crate::KeyError::Random(e.to_string()))?;
        Ok(InviteId(id))
    }
}

impl fmt::Display for InviteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for InviteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InviteId({self})")
    }
}

/// The one-time secret of an invite. Zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct InviteSecret(#[serde(with = "weft_proto::codec::byte_array")] pub [u8; 32]);

impl InviteSecret {
    /// A fresh random secret.
    pub fn generate() -> Result<InviteSecret, crate::KeyError> {
        let mut secret = InviteSecret([0u8; 32]);
        getrandom::fill(&mut secret.0).map_err(|e| crate::KeyError::Random(e.to_string()))?;
        Ok(secret)
    }
}

impl fmt::Debug for InviteSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteSecret(..)")
    }
}

/// What an invite says, signed by its issuer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteBody {
    /// Body version, [`VERSION`].
    pub v: u8,
    /// The mesh it admits to.
    pub mesh: MeshId,
    /// The issuing admin's member key.
    pub issuer: MemberKey,
    /// The invite's id.
    pub id: InviteId,
    /// The one-time secret.
    pub secret: InviteSecret,
    /// The role the newcomer gets.
    pub role: Role,
    /// When it stops working, Unix seconds.
    pub expires: u64,
    /// How many times it may be redeemed.
    pub uses: u32,
    /// Where to reach the issuer (multiaddrs with `/p2p/`).
    pub addrs: Vec<String>,
}

/// A signed invite.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// What it says.
    pub body: InviteBody,
    /// The issuer's signature over the body's CBOR.
    #[serde(with = "weft_proto::codec::byte_array")]
    pub sig: [u8; 64],
}

/// Why a string is not a usable invite. Each says what is wrong in one line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum InviteError {
    /// It does not start with `weft1`.
    #[error("not a weft invite (it should start with `{PREFIX}`)")]
    NotAnInvite,
    /// Over [`MAX_INVITE_CHARS`].
    #[error("invite is too long ({0} characters)")]
    TooLong(usize),
    /// A character was changed, added or lost (bad base32 or checksum).
    #[error("invite is damaged (a character was changed, added or lost); copy it again")]
    Damaged,
    /// The contents do not decode.
    #[error("invite is malformed: {0}")]
    Malformed(String),
    /// A version this weft does not read.
    #[error("invite version {0} is not supported; upgrade weft")]
    Version(u8),
    /// The signature does not match the issuer.
    #[error("invite signature is invalid")]
    BadSignature,
    /// Past its expiry.
    #[error("invite expired")]
    Expired,
}

impl Invite {
    /// Signs `body` as `issuer` (whose public key must be `body.issuer`).
    pub fn sign(issuer: &Identity, body: InviteBody) -> Result<Invite, InviteError> {
        let bytes = cbor(&body)?;
        let sig = issuer.sign(CONTEXT, &bytes).to_bytes();
        Ok(Invite { body, sig })
    }

    /// The printable form, `weft1…`.
    pub fn encode(&self) -> Result<String, InviteError> {
        let mut bytes = cbor(self)?;
        let checksum = blake3::hash(&bytes);
        bytes.extend_from_slice(&checksum.as_bytes()[..CHECKSUM_BYTES]);
        let text = data_encoding::BASE32_NOPAD
            .encode(&bytes)
            .to_ascii_lowercase();
        Ok(format!("{PREFIX}{text}"))
    }

    /// Parses and checks an invite string: prefix, size, checksum, version, limits and the
    /// issuer's signature. Expiry is checked separately ([`Invite::check_expiry`]).
    pub fn decode(text: &str) -> Result<Invite, InviteError> {
        let text = text.trim();
        if text.len() > MAX_INVITE_CHARS {
            return Err(InviteError::TooLong(text.len()));
        }
        let rest = text.strip_prefix(PREFIX).ok_or(InviteError::NotAnInvite)?;
        let bytes = data_encoding::BASE32_NOPAD
            .decode(rest.to_ascii_uppercase().as_bytes())
            .map_err(|_| InviteError::Damaged)?;
        if bytes.len() <= CHECKSUM_BYTES {
            return Err(InviteError::Damaged);
        }
        let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
        if blake3::hash(body).as_bytes()[..CHECKSUM_BYTES] != *checksum {
            return Err(InviteError::Damaged);
        }
        let invite: Invite =
            ciborium::from_reader(body).map_err(|e| InviteError::Malformed(e.to_string()))?;
        let b = &invite.body;
        if b.v != VERSION {
            return Err(InviteError::Version(b.v));
        }
        if b.addrs.len() > MAX_ADDRS || b.addrs.iter().any(|a| a.len() > MAX_ADDR_BYTES) {
            return Err(InviteError::Malformed(
                "too many or too long addresses".into(),
            ));
        }
        let issuer = PublicKey::from_member(&b.issuer).map_err(|_| InviteError::BadSignature)?;
        issuer
            .verify(CONTEXT, &cbor(b)?, &Signature::from_bytes(&invite.sig))
            .map_err(|_| InviteError::BadSignature)?;
        Ok(invite)
    }

    /// Fails with [`InviteError::Expired`] once `now` (Unix seconds) is past the expiry.
    pub fn check_expiry(&self, now: u64) -> Result<(), InviteError> {
        if now >= self.body.expires {
            return Err(InviteError::Expired);
        }
        Ok(())
    }

    /// The joiner's proof that it holds this invite's secret, bound to its own PeerId
    /// (`joiner`), so it can neither be replayed by another node nor reveal the secret.
    pub fn proof(&self, joiner: &[u8]) -> [u8; 32] {
        proof(&self.body.secret, joiner)
    }
}

/// The proof for `secret` and `joiner`: BLAKE3 keyed by the secret over
/// `"weft/v1/join-proof" || joiner`.
pub fn proof(secret: &InviteSecret, joiner: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_keyed(&secret.0);
    hasher.update(b"weft/v1/join-proof");
    hasher.update(joiner);
    *hasher.finalize().as_bytes()
}

/// Whether `claimed` is the proof for `secret` and `joiner`, compared in constant time.
pub fn verify_proof(secret: &InviteSecret, joiner: &[u8], claimed: &[u8; 32]) -> bool {
    blake3::Hash::from_bytes(proof(secret, joiner)) == blake3::Hash::from_bytes(*claimed)
}

fn cbor<T: Serialize>(value: &T) -> Result<Vec<u8>, InviteError> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|e| InviteError::Malformed(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn body(issuer: &Identity, secret: [u8; 32], expires: u64, uses: u32) -> InviteBody {
        InviteBody {
            v: VERSION,
            mesh: MeshId::of_founder(&issuer.member_key()),
            issuer: issuer.member_key(),
            id: InviteId([9; 16]),
            secret: InviteSecret(secret),
            role: Role::Member,
            expires,
            uses,
            addrs: vec![
                "/ip4/127.0.0.1/tcp/7420/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
                    .into(),
            ],
        }
    }

    proptest! {
        #[test]
        fn round_trips(seed in any::<[u8; 32]>(), secret in any::<[u8; 32]>(), expires in any::<u64>(), uses in any::<u32>()) {
            let issuer = Identity::from_secret(&seed);
            let invite = Invite::sign(&issuer, body(&issuer, secret, expires, uses)).unwrap();
            let text = invite.encode().unwrap();
            prop_assert!(text.starts_with(PREFIX));
            prop_assert_eq!(Invite::decode(&text).unwrap(), invite);
        }

        #[test]
        fn any_changed_character_is_refused(seed in any::<[u8; 32]>(), at in any::<prop::sample::Index>(), with in "[a-z2-7]") {
            let issuer = Identity::from_secret(&seed);
            let text = Invite::sign(&issuer, body(&issuer, [1; 32], 10, 1)).unwrap().encode().unwrap();
            let i = PREFIX.len() + at.index(text.len() - PREFIX.len());
            let mut garbled = text.clone();
            garbled.replace_range(i..i + 1, &with);
            prop_assume!(garbled != text);
            prop_assert!(Invite::decode(&garbled).is_err());
        }

        #[test]
        fn truncation_is_refused(seed in any::<[u8; 32]>(), keep in any::<prop::sample::Index>()) {
            let issuer = Identity::from_secret(&seed);
            let text = Invite::sign(&issuer, body(&issuer, [1; 32], 10, 1)).unwrap().encode().unwrap();
            let cut = keep.index(text.len() - 1);
            prop_assert!(Invite::decode(&text[..cut]).is_err());
        }

        #[test]
        fn garbage_never_panics(text in "weft1[a-z2-7]{0,300}") {
            let _ = Invite::decode(&text);
        }
    }

    #[test]
    fn a_body_signed_by_another_key_is_refused() {
        let issuer = Identity::from_secret(&[1; 32]);
        let forger = Identity::from_secret(&[2; 32]);
        // The forger signs a body that claims `issuer` issued it.
        let forged = Invite::sign(&forger, body(&issuer, [3; 32], 10, 1)).unwrap();
        assert_eq!(
            Invite::decode(&forged.encode().unwrap()),
            Err(InviteError::BadSignature)
        );
    }

    #[test]
    fn expiry_and_proofs() {
        let issuer = Identity::from_secret(&[1; 32]);
        let invite = Invite::sign(&issuer, body(&issuer, [3; 32], 100, 1)).unwrap();
        assert!(invite.check_expiry(99).is_ok());
        assert_eq!(invite.check_expiry(100), Err(InviteError::Expired));
        let p = invite.proof(b"joiner");
        assert!(verify_proof(&invite.body.secret, b"joiner", &p));
        assert!(!verify_proof(&invite.body.secret, b"someone else", &p));
        assert!(!format!("{:?}", invite.body.secret).contains('3'));
        assert_eq!(Invite::decode("hello"), Err(InviteError::NotAnInvite));
    }
}
