//! X25519 for sealed boxes, remembering this member's static-static results.
//!
//! In `Noise_X` the `ss` token is `DH(s, rs)`: the same for every box between the same two
//! members, and a third of the X25519 work of sealing one (half of opening one). A
//! [`SealKey`](super::SealKey) keeps each such result, by the other member's sealing key,
//! once a box to or from that member was sealed or opened whole; it is then read, not
//! computed. The static key's public half is not recomputed either. Every result is the
//! one snow's own X25519 gives, so boxes are the same bytes as without any of this.
//!
//! Only results whose other side was authenticated are kept: the `DH(s, re)` of an opener,
//! with the sender's one-time key, is never worth keeping, and a box that fails to open
//! leaves nothing behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use curve25519_dalek::montgomery::MontgomeryPoint;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The most static-static results one key keeps (64 bytes each); past it, one is dropped
/// for each new one.
const MAX_REMEMBERED: usize = 4096;

/// A shared secret on the heap (moving it, in a vector or a map, moves only the pointer,
/// so no copy is left behind unwiped), and zeroized when dropped.
type Secret = Box<Zeroizing<[u8; 32]>>;

/// A shared secret, by the public key it was computed with.
type Shared = ([u8; 32], Secret);

/// What one box's static key computed, shared by the box's DH objects and its sealer or
/// opener.
type Computed = Arc<Mutex<Vec<Shared>>>;

/// A member's static X25519 key and the static-static results it has kept.
pub(super) struct Statics {
    secret: Zeroizing<[u8; 32]>,
    public: [u8; 32],
    shared: Mutex<HashMap<[u8; 32], Secret>>,
}

impl Statics {
    /// The key pair `secret`/`public`, with nothing kept yet.
    pub(super) fn new(secret: Zeroizing<[u8; 32]>, public: [u8; 32]) -> Statics {
        Statics {
            secret,
            public,
            shared: Mutex::new(HashMap::new()),
        }
    }

    /// The secret half.
    pub(super) fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    fn get(&self, remote: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
        self.shared
            .lock()
            .ok()?
            .get(remote)
            .map(|s| Zeroizing::new(***s))
    }

    fn keep(&self, remote: [u8; 32], shared: Secret) {
        let Ok(mut kept) = self.shared.lock() else {
            return;
        };
        if kept.len() >= MAX_REMEMBERED && !kept.contains_key(&remote) {
            let any = kept.keys().next().copied();
            if let Some(any) = any {
                kept.remove(&any);
            }
        }
        kept.insert(remote, shared);
    }
}

/// One box's X25519 work: what the static key computed, to be kept once the other side is
/// known ([`Handshake::keep`]). Clones share it.
#[derive(Clone)]
pub(super) struct Handshake {
    statics: Arc<Statics>,
    computed: Computed,
}

impl Handshake {
    /// The work of one box with `statics`.
    pub(super) fn new(statics: Arc<Statics>) -> Handshake {
        Handshake {
            statics,
            computed: Arc::default(),
        }
    }

    /// A snow DH object for this box.
    pub(super) fn dh(&self) -> Box<dyn snow::types::Dh> {
        Box::new(Dh {
            statics: self.statics.clone(),
            computed: self.computed.clone(),
            private: Zeroizing::new([0; 32]),
            public: [0; 32],
            is_static: false,
        })
    }

    /// The box authenticated `remote` as the other side's static key: keep the result the
    /// static key computed with it.
    pub(super) fn keep(&self, remote: &[u8; 32]) {
        let Ok(mut computed) = self.computed.lock() else {
            return;
        };
        if let Some(at) = computed.iter().position(|(key, _)| key == remote) {
            let (key, shared) = computed.swap_remove(at);
            self.statics.keep(key, shared);
        }
    }
}

/// snow's X25519, reading what [`Statics`] kept.
struct Dh {
    statics: Arc<Statics>,
    computed: Computed,
    private: Zeroizing<[u8; 32]>,
    public: [u8; 32],
    /// Whether `private` is the static key's.
    is_static: bool,
}

impl snow::types::Dh for Dh {
    fn name(&self) -> &'static str {
        "25519"
    }

    fn pub_len(&self) -> usize {
        32
    }

    fn priv_len(&self) -> usize {
        32
    }

    fn set(&mut self, private: &[u8]) {
        let mut bytes = Zeroizing::new([0u8; 32]);
        let n = private.len().min(32);
        bytes[..n].copy_from_slice(&private[..n]);
        self.is_static = bool::from(bytes.ct_eq(self.statics.secret()));
        self.public = if self.is_static {
            self.statics.public
        } else {
            MontgomeryPoint::mul_base_clamped(*bytes).to_bytes()
        };
        self.private = bytes;
    }

    fn generate(&mut self, rng: &mut dyn snow::types::Random) -> Result<(), snow::Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.try_fill_bytes(bytes.as_mut())?;
        self.public = MontgomeryPoint::mul_base_clamped(*bytes).to_bytes();
        self.private = bytes;
        self.is_static = false;
        Ok(())
    }

    fn pubkey(&self) -> &[u8] {
        &self.public
    }

    fn privkey(&self) -> &[u8] {
        self.private.as_ref()
    }

    fn dh(&self, public: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        let remote: [u8; 32] = public
            .get(..32)
            .and_then(|p| p.try_into().ok())
            .ok_or(snow::Error::Dh)?;
        let kept = self.is_static.then(|| self.statics.get(&remote)).flatten();
        let shared = match kept {
            Some(shared) => shared,
            None => {
                let shared = Zeroizing::new(
                    MontgomeryPoint(remote)
                        .mul_clamped(*self.private)
                        .to_bytes(),
                );
                if self.is_static {
                    if let Ok(mut computed) = self.computed.lock() {
                        computed.push((remote, Box::new(shared.clone())));
                    }
                }
                shared
            }
        };
        out.get_mut(..32)
            .ok_or(snow::Error::Dh)?
            .copy_from_slice(shared.as_ref());
        Ok(())
    }
}
