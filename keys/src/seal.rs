//! Sealed boxes: bytes for one member that only it can open, that name and authenticate
//! their sender, and that whoever carries them (a mailbox member) can neither read, alter,
//! truncate nor reorder without the opening failing.
//!
//! A box is a one-way Noise handshake, `Noise_X_25519_ChaChaPoly_BLAKE2s`, from the sender's
//! static X25519 key to the recipient's, with the mesh in the prologue
//! (`/weft/seal/1/<mesh-id>`), followed by transport messages:
//!
//! ```text
//! box   = frame(handshake) frame(transport)*        frame = len: u16 BE, noise message
//! handshake payload = total: u32 BE, first chunk     transport payload = next chunk
//! ```
//!
//! `total` is the plaintext length; an opener refuses a box whose chunks do not add up to
//! it exactly. Each member's sealing key is derived from its identity's secret by a keyed
//! hash (so it is separate from the signing key yet needs no storage of its own) and is
//! published as a [`SealCard`] signed by the identity.

mod dh;

use std::sync::Arc;

use curve25519_dalek::montgomery::MontgomeryPoint;
use weft_proto::mesh::{MemberKey, MeshId};
use weft_proto::seal::{MAX_SEALED_BYTES, SealCard, SealingKey};
use zeroize::Zeroizing;

use crate::Identity;
use crate::sign::{Context, PublicKey, Signature, SignatureError};

const PATTERN: &str = "Noise_X_25519_ChaChaPoly_BLAKE2s";
const CARD: Context = Context::new("seal-key");
const NOISE_MAX: usize = 65_535;
/// The handshake message: ephemeral key, encrypted static key with its tag, payload tag.
const HANDSHAKE_OVERHEAD: usize = 32 + 48 + 16;
const TAG: usize = 16;
/// Plaintext in the handshake message, after the 4-byte total.
const FIRST_CHUNK: usize = NOISE_MAX - HANDSHAKE_OVERHEAD - 4;
const CHUNK: usize = NOISE_MAX - TAG;

/// Why a box could not be made or opened. Opening failures say only what kind of wrong the
/// bytes were, never anything about the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// The box or the plaintext is larger than [`MAX_SEALED_BYTES`].
    #[error("a sealed box is at most {MAX_SEALED_BYTES} bytes")]
    TooLarge,
    /// The framing is broken: truncated, padded, or chunks that do not add up.
    #[error("malformed sealed box: {0}")]
    Malformed(&'static str),
    /// Decryption failed: altered bytes, another recipient, another mesh, or reordered
    /// chunks.
    #[error("sealed box does not open")]
    Tampered,
    /// The Noise machinery refused (a bad key).
    #[error("sealing failed: {0}")]
    Noise(String),
}

/// A member's X25519 key pair for sealed boxes, with the static-static result it computed
/// with each member it sealed to or opened from (so it computes each once). The secret and
/// the results zeroize on drop.
pub struct SealKey {
    statics: Arc<dh::Statics>,
    public: SealingKey,
}

impl SealKey {
    /// The sealing key of `identity`.
    pub fn of(identity: &Identity) -> SealKey {
        let secret = Zeroizing::new(blake3::derive_key(
            "weft/v1/seal-key",
            identity.secret_bytes().as_ref(),
        ));
        let public = MontgomeryPoint::mul_base_clamped(*secret).to_bytes();
        SealKey {
            statics: Arc::new(dh::Statics::new(secret, public)),
            public: SealingKey(public),
        }
    }

    /// The public half.
    pub fn public(&self) -> SealingKey {
        self.public
    }

    /// The card that publishes this key, signed by `identity` (whose key this is).
    pub fn card(&self, identity: &Identity) -> SealCard {
        SealCard {
            key: self.public,
            sig: identity.sign(CARD, &self.public.0).to_bytes(),
        }
    }
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKey({:02x?}..)", &self.public.0[..4])
    }
}

/// Checks that `card` was signed by the member whose key is `owner`.
pub fn verify_card(owner: &MemberKey, card: &SealCard) -> Result<(), SignatureError> {
    PublicKey::from_member(owner)?.verify(CARD, &card.key.0, &Signature::from_bytes(&card.sig))
}

fn prologue(mesh: &MeshId) -> Vec<u8> {
    format!("/weft/seal/1/{mesh}").into_bytes()
}

fn noise(e: snow::Error) -> SealError {
    SealError::Noise(e.to_string())
}

/// A Noise X builder with `key` as the local static key and the mesh's `prologue`, doing
/// its X25519 work through `handshake`; its randomness (the ephemeral key) from `entropy`
/// when given, else from the system.
fn builder<'a>(
    key: &'a SealKey,
    prologue: &'a [u8],
    handshake: &dh::Handshake,
    entropy: Option<[u8; 32]>,
) -> Result<snow::Builder<'a>, SealError> {
    let params = PATTERN.parse().map_err(noise)?;
    let resolver = Resolver {
        handshake: handshake.clone(),
        entropy,
    };
    snow::Builder::with_resolver(params, Box::new(resolver))
        .local_private_key(key.statics.secret())
        .and_then(|b| b.prologue(prologue))
        .map_err(noise)
}

/// Seals `plaintext` from `from` to the sealing key `to`, for `mesh`.
pub fn seal(
    from: &SealKey,
    to: &SealingKey,
    mesh: &MeshId,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    seal_from(from, to, mesh, plaintext, None)
}

/// Seals as [`seal`] does, with the box's ephemeral key drawn from `entropy` instead of
/// the system: the same inputs make the same box. For deterministic simulations. `entropy`
/// must be fresh random bytes for every box: reused, it links the boxes that share it.
pub fn seal_with_entropy(
    from: &SealKey,
    to: &SealingKey,
    mesh: &MeshId,
    plaintext: &[u8],
    entropy: [u8; 32],
) -> Result<Vec<u8>, SealError> {
    seal_from(from, to, mesh, plaintext, Some(entropy))
}

fn seal_from(
    from: &SealKey,
    to: &SealingKey,
    mesh: &MeshId,
    plaintext: &[u8],
    entropy: Option<[u8; 32]>,
) -> Result<Vec<u8>, SealError> {
    if plaintext.len() > MAX_SEALED_BYTES {
        return Err(SealError::TooLarge);
    }
    let prologue = prologue(mesh);
    let work = dh::Handshake::new(from.statics.clone());
    let mut handshake = builder(from, &prologue, &work, entropy)?
        .remote_public_key(&to.0)
        .and_then(|b| b.build_initiator())
        .map_err(noise)?;
    let (first, mut rest) = plaintext.split_at(plaintext.len().min(FIRST_CHUNK));
    let mut payload = Vec::with_capacity(4 + first.len());
    payload.extend_from_slice(&(plaintext.len() as u32).to_be_bytes());
    payload.extend_from_slice(first);
    let mut out = Vec::with_capacity(plaintext.len() + 256);
    // As large as the largest message: a short plaintext's one handshake message, else a
    // whole Noise message.
    let mut buf = Zeroizing::new(vec![
        0u8;
        NOISE_MAX.min(4 + plaintext.len() + HANDSHAKE_OVERHEAD)
    ]);
    let len = handshake.write_message(&payload, &mut buf).map_err(noise)?;
    push_frame(&mut out, &buf[..len]);
    let mut transport = handshake.into_transport_mode().map_err(noise)?;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(CHUNK));
        let len = transport.write_message(chunk, &mut buf).map_err(noise)?;
        push_frame(&mut out, &buf[..len]);
        rest = tail;
    }
    if out.len() > MAX_SEALED_BYTES {
        return Err(SealError::TooLarge);
    }
    work.keep(&to.0);
    Ok(out)
}

/// An opened box: who sealed it (their sealing key, to match against members' cards) and
/// what it says.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened {
    /// The sender's sealing key, authenticated by the handshake.
    pub from: SealingKey,
    /// The plaintext.
    pub plaintext: Vec<u8>,
}

/// Opens `sealed` with `me`'s key, for `mesh`.
pub fn open(me: &SealKey, mesh: &MeshId, sealed: &[u8]) -> Result<Opened, SealError> {
    if sealed.len() > MAX_SEALED_BYTES {
        return Err(SealError::TooLarge);
    }
    let mut frames = Frames(sealed);
    let first = frames.next().ok_or(SealError::Malformed("empty"))??;
    let prologue = prologue(mesh);
    let work = dh::Handshake::new(me.statics.clone());
    let mut handshake = builder(me, &prologue, &work, None)?
        .build_responder()
        .map_err(noise)?;
    // As large as the largest frame (a payload is never longer than its frame), and wiped
    // when done: it held the plaintext.
    let largest = Frames(sealed).filter_map(Result::ok).map(<[u8]>::len).max();
    let mut buf = Zeroizing::new(vec![0u8; largest.unwrap_or(0)]);
    let len = handshake
        .read_message(first, &mut buf)
        .map_err(|_| SealError::Tampered)?;
    if len < 4 {
        return Err(SealError::Malformed("no length"));
    }
    let total = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if total > MAX_SEALED_BYTES {
        return Err(SealError::TooLarge);
    }
    let from = handshake
        .get_remote_static()
        .and_then(|k| k.try_into().ok())
        .map(SealingKey)
        .ok_or(SealError::Malformed("no sender key"))?;
    let mut plaintext = Vec::with_capacity(total);
    plaintext.extend_from_slice(&buf[4..len]);
    let mut transport = handshake.into_transport_mode().map_err(noise)?;
    for frame in frames {
        let frame = frame?;
        if plaintext.len() >= total {
            return Err(SealError::Malformed("trailing chunks"));
        }
        let len = transport
            .read_message(frame, &mut buf)
            .map_err(|_| SealError::Tampered)?;
        plaintext.extend_from_slice(&buf[..len]);
    }
    if plaintext.len() != total {
        return Err(SealError::Malformed("chunks do not add up"));
    }
    work.keep(&from.0);
    Ok(Opened { from, plaintext })
}

/// Snow's default primitives but X25519, which is [`dh`]'s; randomness from the system,
/// or expanded from a seed (BLAKE3's XOF) when given one.
struct Resolver {
    handshake: dh::Handshake,
    entropy: Option<[u8; 32]>,
}

/// Bytes expanded from a seed.
struct Expanded(blake3::OutputReader);

impl snow::types::Random for Expanded {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl snow::resolvers::CryptoResolver for Resolver {
    fn resolve_rng(&self) -> Option<Box<dyn snow::types::Random>> {
        let Some(entropy) = self.entropy else {
            return snow::resolvers::DefaultResolver.resolve_rng();
        };
        let mut hasher = blake3::Hasher::new_derive_key("weft/v1/seal-entropy");
        hasher.update(&entropy);
        Some(Box::new(Expanded(hasher.finalize_xof())))
    }

    fn resolve_dh(&self, choice: &snow::params::DHChoice) -> Option<Box<dyn snow::types::Dh>> {
        matches!(choice, snow::params::DHChoice::Curve25519).then(|| self.handshake.dh())
    }

    fn resolve_hash(
        &self,
        choice: &snow::params::HashChoice,
    ) -> Option<Box<dyn snow::types::Hash>> {
        snow::resolvers::DefaultResolver.resolve_hash(choice)
    }

    fn resolve_cipher(
        &self,
        choice: &snow::params::CipherChoice,
    ) -> Option<Box<dyn snow::types::Cipher>> {
        snow::resolvers::DefaultResolver.resolve_cipher(choice)
    }
}

fn push_frame(out: &mut Vec<u8>, message: &[u8]) {
    // Noise messages are at most 65,535 bytes, so the length fits a u16.
    out.extend_from_slice(&(message.len() as u16).to_be_bytes());
    out.extend_from_slice(message);
}

/// The frames of a box, each a Noise message.
struct Frames<'a>(&'a [u8]);

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8], SealError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        if self.0.len() < 2 {
            self.0 = &[];
            return Some(Err(SealError::Malformed("truncated frame length")));
        }
        let len = u16::from_be_bytes([self.0[0], self.0[1]]) as usize;
        let rest = &self.0[2..];
        if rest.len() < len {
            self.0 = &[];
            return Some(Err(SealError::Malformed("truncated frame")));
        }
        let (frame, tail) = rest.split_at(len);
        self.0 = tail;
        Some(Ok(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys() -> (Identity, SealKey, Identity, SealKey) {
        let alice = Identity::generate().unwrap();
        let bob = Identity::generate().unwrap();
        let (a, b) = (SealKey::of(&alice), SealKey::of(&bob));
        (alice, a, bob, b)
    }

    fn mesh(n: u8) -> MeshId {
        MeshId([n; 20])
    }

    #[test]
    fn cards_verify_only_for_their_owner_and_key() {
        let (alice, a, bob, _) = keys();
        let card = a.card(&alice);
        assert_eq!(card.key, a.public());
        verify_card(&alice.member_key(), &card).unwrap();
        assert!(verify_card(&bob.member_key(), &card).is_err());
        let mut forged = card;
        forged.key.0[0] ^= 1;
        assert!(verify_card(&alice.member_key(), &forged).is_err());
        assert_eq!(SealKey::of(&alice).public(), a.public(), "derived, stable");
    }

    #[test]
    fn a_large_box_spans_chunks_and_stays_in_order() {
        let (_, a, _, b) = keys();
        let text: Vec<u8> = (0..70_000u32).map(|n| n as u8).collect();
        let sealed = seal(&a, &b.public(), &mesh(1), &text).unwrap();
        let opened = open(&b, &mesh(1), &sealed).unwrap();
        assert_eq!(opened.plaintext, text);
        // Truncated after the first chunk: refused, not half-delivered.
        let first = 2 + u16::from_be_bytes([sealed[0], sealed[1]]) as usize;
        assert_eq!(
            open(&b, &mesh(1), &sealed[..first]),
            Err(SealError::Malformed("chunks do not add up"))
        );
    }

    #[test]
    fn a_box_sealed_from_entropy_is_the_same_box_for_the_same_entropy_and_opens() {
        let (_, a, _, b) = keys();
        let sealed = |entropy| seal_with_entropy(&a, &b.public(), &mesh(1), b"hi", entropy);
        let one = sealed([7; 32]).unwrap();
        assert_eq!(one, sealed([7; 32]).unwrap());
        assert_ne!(one, sealed([8; 32]).unwrap(), "another ephemeral key");
        assert_eq!(open(&b, &mesh(1), &one).unwrap().plaintext, b"hi");
        assert_ne!(
            seal(&a, &b.public(), &mesh(1), b"hi").unwrap(),
            seal(&a, &b.public(), &mesh(1), b"hi").unwrap(),
            "the system's randomness otherwise"
        );
    }

    #[test]
    fn kept_static_results_make_the_same_boxes_and_open_them() {
        let (alice, a, bob, b) = keys();
        let (fresh_a, fresh_b) = (SealKey::of(&alice), SealKey::of(&bob));
        for n in 0..3u8 {
            // `a` keeps DH(a, b) from the first box on; a fresh key computes it each time.
            let kept = seal_with_entropy(&a, &b.public(), &mesh(1), b"hi", [n; 32]).unwrap();
            let fresh = SealKey::of(&alice);
            let computed =
                seal_with_entropy(&fresh, &b.public(), &mesh(1), b"hi", [n; 32]).unwrap();
            assert_eq!(kept, computed, "box {n}");
            assert_eq!(open(&b, &mesh(1), &kept).unwrap().plaintext, b"hi");
            assert_eq!(open(&fresh_b, &mesh(1), &kept).unwrap().from, a.public());
        }
        // And the other way, with what b kept from opening.
        let back = seal(&b, &a.public(), &mesh(1), b"ho").unwrap();
        assert_eq!(open(&a, &mesh(1), &back).unwrap().plaintext, b"ho");
        assert_eq!(open(&fresh_a, &mesh(1), &back).unwrap().from, b.public());
    }

    #[test]
    fn a_box_that_does_not_open_keeps_nothing_and_breaks_nothing() {
        let (_, a, _, b) = keys();
        let mut sealed = seal(&a, &b.public(), &mesh(1), b"hi").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(open(&b, &mesh(1), &sealed), Err(SealError::Tampered));
        let good = seal(&a, &b.public(), &mesh(1), b"hi").unwrap();
        assert_eq!(open(&b, &mesh(1), &good).unwrap().plaintext, b"hi");
    }

    #[test]
    fn oversize_is_refused() {
        let (_, a, _, b) = keys();
        let text = vec![0u8; MAX_SEALED_BYTES + 1];
        assert_eq!(
            seal(&a, &b.public(), &mesh(1), &text),
            Err(SealError::TooLarge)
        );
        assert_eq!(open(&b, &mesh(1), &text), Err(SealError::TooLarge));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn opens_for_the_recipient_only_and_names_the_sender(
            text in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let (_, a, _, b) = keys();
            let sealed = seal(&a, &b.public(), &mesh(1), &text).unwrap();
            let opened = open(&b, &mesh(1), &sealed).unwrap();
            prop_assert_eq!(opened.from, a.public());
            prop_assert_eq!(opened.plaintext, text);
            // Not the sender, not another mesh.
            prop_assert!(open(&a, &mesh(1), &sealed).is_err());
            prop_assert!(open(&b, &mesh(2), &sealed).is_err());
        }

        #[test]
        fn any_flipped_bit_or_cut_is_refused(
            text in proptest::collection::vec(any::<u8>(), 1..512),
            at in any::<prop::sample::Index>(),
            bit in 0u8..8,
            cut in any::<prop::sample::Index>(),
        ) {
            let (_, a, _, b) = keys();
            let sealed = seal(&a, &b.public(), &mesh(1), &text).unwrap();
            let mut flipped = sealed.clone();
            flipped[at.index(sealed.len())] ^= 1 << bit;
            prop_assert!(open(&b, &mesh(1), &flipped).is_err());
            let cut = cut.index(sealed.len());
            prop_assert!(open(&b, &mesh(1), &sealed[..cut]).is_err());
        }
    }
}
