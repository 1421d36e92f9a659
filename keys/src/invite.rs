//! Invite keys: one short printable string that lets a newcomer join a mesh.
//!
//! An invite carries only what the joiner needs: which mesh, whom to reach and where, and the
//! secret. What it admits to (role, expiry, uses) stays with the issuer's record of it and is
//! checked at redemption, so none of it has to travel or be signed.
//!
//! Layout (version 2; version 1, `weft1…`, carried a signed CBOR body and is refused):
//!
//! ```text
//! "WEFT2" || base32-upper-nopad( body || blake3(body)[..4] )
//! body  = mesh (20) || issuer (32, ed25519 public key) || secret (32) || reach{0..4}
//! reach = tag (1) || host || tcp port (2, BE, when tag & 0x10) || quic port (2, BE, when tag & 0x20)
//! tag & 0x03: 0 = IPv4 (4 bytes), 1 = IPv6 (16 bytes), 2 = DNS name (length (1) || bytes)
//! ```
//!
//! Upper-case base32 is in the QR code's alphanumeric alphabet, so `--qr` draws a small code;
//! whitespace inside a key (as copied from a narrow terminal) and lower case are accepted.
//! The checksum catches typing and copying mistakes before anything else is looked at. The
//! invite's id, which names it in `weft invite list`, is derived from the secret. The secret
//! never travels in the clear when the invite is redeemed: the joiner proves it holds it with
//! [`Invite::proof`], a keyed hash over its own PeerId.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use weft_proto::mesh::{MemberKey, MeshId};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The prefix of every invite string (name and format version).
pub const PREFIX: &str = "WEFT2";

/// The prefix of version 1 invites, which this weft no longer reads.
const OLD_PREFIX: &str = "WEFT1";

/// Longest invite string accepted (whitespace aside).
pub const MAX_INVITE_CHARS: usize = 1024;

/// Most places an invite names to reach its issuer.
pub const MAX_REACH: usize = 4;

/// Longest DNS name in an invite, in bytes.
pub const MAX_DNS_BYTES: usize = 253;

/// Bytes of checksum after the body.
const CHECKSUM_BYTES: usize = 4;

/// Bytes before the first reach: mesh, issuer, secret.
const FIXED_BYTES: usize = 20 + 32 + 32;

const HOST_IP4: u8 = 0;
const HOST_IP6: u8 = 1;
const HOST_DNS: u8 = 2;
const HOST_MASK: u8 = 0x03;
const TCP: u8 = 0x10;
const QUIC: u8 = 0x20;

/// An invite's id: names it in `weft invite list` and `weft invite revoke`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InviteId(#[serde(with = "weft_proto::codec::byte_array")] pub [u8; 16]);

impl InviteId {
    /// The id of the invite whose secret is `secret`.
    pub fn of(secret: &InviteSecret) -> InviteId {
        let hash = blake3::derive_key("weft/v2/invite-id", &secret.0);
        let mut id = [0u8; 16];
        id.copy_from_slice(&hash[..16]);
        InviteId(id)
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

/// The host part of a place to reach the issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// An IP address.
    Ip(IpAddr),
    /// A DNS name (at most [`MAX_DNS_BYTES`]).
    Dns(String),
}

/// A place to reach the issuer: a host and the ports of the transports it listens on there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reach {
    /// Where.
    pub host: Host,
    /// Its TCP port, if it listens on TCP there.
    pub tcp: Option<u16>,
    /// Its QUIC (v1, over UDP) port, if it listens on QUIC there.
    pub quic: Option<u16>,
}

/// What an invite carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    /// The mesh it admits to.
    pub mesh: MeshId,
    /// The issuing admin's member key (its PeerId follows from it).
    pub issuer: MemberKey,
    /// The one-time secret.
    pub secret: InviteSecret,
    /// Where to reach the issuer, most useful first (at most [`MAX_REACH`]).
    pub reach: Vec<Reach>,
}

/// Why a string is not a usable invite. Each says what is wrong in one line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum InviteError {
    /// It does not start with `WEFT2`.
    #[error("not a weft invite (it should start with `{PREFIX}`)")]
    NotAnInvite,
    /// A version 1 invite (`weft1…`).
    #[error("this invite is in the format of an older weft (weft1…); ask its issuer for a new one")]
    Old,
    /// Over [`MAX_INVITE_CHARS`].
    #[error("invite is too long ({0} characters)")]
    TooLong(usize),
    /// A character was changed, added or lost (bad base32 or checksum).
    #[error("invite is damaged (a character was changed, added or lost); copy it again")]
    Damaged,
    /// The contents do not decode.
    #[error("invite is malformed: {0}")]
    Malformed(&'static str),
    /// More places to reach than an invite carries, or a DNS name too long to carry.
    #[error(
        "an invite carries at most {MAX_REACH} places, DNS names of at most {MAX_DNS_BYTES} bytes"
    )]
    TooMuch,
}

impl Invite {
    /// The invite's id, derived from its secret.
    pub fn id(&self) -> InviteId {
        InviteId::of(&self.secret)
    }

    /// The printable form, `WEFT2…`.
    pub fn encode(&self) -> Result<String, InviteError> {
        let mut bytes = Vec::with_capacity(FIXED_BYTES + CHECKSUM_BYTES + 16 * self.reach.len());
        bytes.extend_from_slice(&self.mesh.0);
        bytes.extend_from_slice(&self.issuer.0);
        bytes.extend_from_slice(&self.secret.0);
        if self.reach.len() > MAX_REACH {
            return Err(InviteError::TooMuch);
        }
        for reach in &self.reach {
            put_reach(&mut bytes, reach)?;
        }
        let checksum = blake3::hash(&bytes);
        bytes.extend_from_slice(&checksum.as_bytes()[..CHECKSUM_BYTES]);
        let text = format!("{PREFIX}{}", data_encoding::BASE32_NOPAD.encode(&bytes));
        bytes.zeroize();
        Ok(text)
    }

    /// Parses and checks an invite string: prefix, size, checksum and layout. Whitespace
    /// anywhere in it is ignored, and case does not matter.
    pub fn decode(text: &str) -> Result<Invite, InviteError> {
        // It holds the secret: wiped when dropped, like the decoded bytes.
        let text: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(
            text.chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        if text.len() > MAX_INVITE_CHARS {
            return Err(InviteError::TooLong(text.len()));
        }
        if text.starts_with(OLD_PREFIX) {
            return Err(InviteError::Old);
        }
        let rest = text.strip_prefix(PREFIX).ok_or(InviteError::NotAnInvite)?;
        let mut bytes = data_encoding::BASE32_NOPAD
            .decode(rest.as_bytes())
            .map_err(|_| InviteError::Damaged)?;
        let invite = parse(&bytes);
        bytes.zeroize();
        invite
    }

    /// The joiner's proof that it holds this invite's secret, bound to its own PeerId
    /// (`joiner`), so it can neither be replayed by another node nor reveal the secret.
    pub fn proof(&self, joiner: &[u8]) -> [u8; 32] {
        proof(&self.secret, joiner)
    }
}

/// Checks the checksum and reads the body.
fn parse(bytes: &[u8]) -> Result<Invite, InviteError> {
    if bytes.len() < FIXED_BYTES + CHECKSUM_BYTES {
        return Err(InviteError::Damaged);
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
    if blake3::hash(body).as_bytes()[..CHECKSUM_BYTES] != *checksum {
        return Err(InviteError::Damaged);
    }
    let mut r = Reader(body);
    let mesh = MeshId(r.array()?);
    let issuer = MemberKey(r.array()?);
    let secret = InviteSecret(r.array()?);
    let mut reach = Vec::new();
    while !r.0.is_empty() {
        if reach.len() == MAX_REACH {
            return Err(InviteError::TooMuch);
        }
        reach.push(read_reach(&mut r)?);
    }
    Ok(Invite {
        mesh,
        issuer,
        secret,
        reach,
    })
}

fn put_reach(out: &mut Vec<u8>, reach: &Reach) -> Result<(), InviteError> {
    let ports = reach.tcp.map_or(0, |_| TCP) | reach.quic.map_or(0, |_| QUIC);
    match &reach.host {
        Host::Ip(IpAddr::V4(ip)) => {
            out.push(HOST_IP4 | ports);
            out.extend_from_slice(&ip.octets());
        }
        Host::Ip(IpAddr::V6(ip)) => {
            out.push(HOST_IP6 | ports);
            out.extend_from_slice(&ip.octets());
        }
        Host::Dns(name) => {
            let len = u8::try_from(name.len())
                .ok()
                .filter(|&n| usize::from(n) <= MAX_DNS_BYTES)
                .ok_or(InviteError::TooMuch)?;
            out.push(HOST_DNS | ports);
            out.push(len);
            out.extend_from_slice(name.as_bytes());
        }
    }
    for port in [reach.tcp, reach.quic].into_iter().flatten() {
        out.extend_from_slice(&port.to_be_bytes());
    }
    Ok(())
}

fn read_reach(r: &mut Reader<'_>) -> Result<Reach, InviteError> {
    let [tag] = r.array()?;
    if tag & !(HOST_MASK | TCP | QUIC) != 0 {
        return Err(InviteError::Malformed("unknown kind of address"));
    }
    let host = match tag & HOST_MASK {
        HOST_IP4 => Host::Ip(IpAddr::V4(Ipv4Addr::from(r.array::<4>()?))),
        HOST_IP6 => Host::Ip(IpAddr::V6(Ipv6Addr::from(r.array::<16>()?))),
        HOST_DNS => {
            let [len] = r.array()?;
            if usize::from(len) > MAX_DNS_BYTES {
                return Err(InviteError::TooMuch);
            }
            let name = r.take(usize::from(len))?;
            let name = std::str::from_utf8(name)
                .ok()
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()))
                .ok_or(InviteError::Malformed("a DNS name that is not one"))?;
            Host::Dns(name.to_owned())
        }
        _ => return Err(InviteError::Malformed("unknown kind of host")),
    };
    let mut port = |flag: u8| -> Result<Option<u16>, InviteError> {
        Ok(match tag & flag {
            0 => None,
            _ => Some(u16::from_be_bytes(r.array()?)),
        })
    };
    let (tcp, quic) = (port(TCP)?, port(QUIC)?);
    if tcp.is_none() && quic.is_none() {
        return Err(InviteError::Malformed("an address with no transport"));
    }
    Ok(Reach { host, tcp, quic })
}

/// Reads fixed-size fields off the front of a byte string.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], InviteError> {
        if self.0.len() < n {
            return Err(InviteError::Malformed("it ends early"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], InviteError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An invite as a node on two interfaces issues it.
    fn invite(seed: [u8; 32], secret: [u8; 32]) -> Invite {
        let issuer = crate::Identity::from_secret(&seed).member_key();
        Invite {
            mesh: MeshId::of_founder(&issuer),
            issuer,
            secret: InviteSecret(secret),
            reach: vec![
                Reach {
                    host: Host::Ip("192.168.1.20".parse().unwrap()),
                    tcp: Some(7420),
                    quic: Some(7420),
                },
                Reach {
                    host: Host::Ip("10.8.0.3".parse().unwrap()),
                    tcp: Some(7420),
                    quic: Some(7421),
                },
            ],
        }
    }

    fn any_reach() -> impl Strategy<Value = Reach> {
        let host = prop_oneof![
            any::<[u8; 4]>().prop_map(|b| Host::Ip(IpAddr::from(b))),
            any::<[u8; 16]>().prop_map(|b| Host::Ip(IpAddr::from(b))),
            "[a-z0-9.-]{1,40}".prop_map(Host::Dns),
        ];
        (host, any::<Option<u16>>(), any::<Option<u16>>())
            .prop_filter("a transport", |(_, t, q)| t.is_some() || q.is_some())
            .prop_map(|(host, tcp, quic)| Reach { host, tcp, quic })
    }

    proptest! {
        #[test]
        fn round_trips(seed in any::<[u8; 32]>(), secret in any::<[u8; 32]>(), reach in prop::collection::vec(any_reach(), 0..=MAX_REACH)) {
            let invite = Invite { reach, ..invite(seed, secret) };
            let text = invite.encode().unwrap();
            prop_assert!(text.starts_with(PREFIX));
            prop_assert_eq!(Invite::decode(&text).unwrap(), invite);
        }

        #[test]
        fn any_changed_character_is_refused(seed in any::<[u8; 32]>(), at in any::<prop::sample::Index>(), with in "[A-Z2-7]") {
            let text = invite(seed, [1; 32]).encode().unwrap();
            let i = PREFIX.len() + at.index(text.len() - PREFIX.len());
            let mut garbled = text.clone();
            garbled.replace_range(i..i + 1, &with);
            prop_assume!(garbled != text);
            prop_assert!(Invite::decode(&garbled).is_err());
        }

        #[test]
        fn truncation_is_refused(seed in any::<[u8; 32]>(), keep in any::<prop::sample::Index>()) {
            let text = invite(seed, [1; 32]).encode().unwrap();
            let cut = keep.index(text.len() - 1);
            prop_assert!(Invite::decode(&text[..cut]).is_err());
        }

        #[test]
        fn whitespace_and_case_do_not_matter(seed in any::<[u8; 32]>(), width in 8usize..80) {
            let original = invite(seed, [1; 32]);
            let text = original.encode().unwrap();
            // As copied out of a narrow terminal: broken into lines, indented, lower case.
            let wrapped: Vec<String> = text
                .as_bytes()
                .chunks(width)
                .map(|line| format!("  {}\r\n", String::from_utf8_lossy(line).to_lowercase()))
                .collect();
            prop_assert_eq!(Invite::decode(&wrapped.concat()).unwrap(), original);
        }

        #[test]
        fn garbage_never_panics(text in "WEFT2[A-Z2-7]{0,300}") {
            let _ = Invite::decode(&text);
        }
    }

    #[test]
    fn a_fresh_invite_with_two_addresses_is_short_and_draws_small() {
        let text = invite([1; 32], [3; 32]).encode().unwrap();
        assert!(text.len() <= 200, "{} characters: {text}", text.len());
        // Every character is in the QR code's alphanumeric alphabet.
        assert!(
            text.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "{text}"
        );
    }

    #[test]
    fn an_old_invite_is_refused_with_what_to_do() {
        let old = "weft1vmfwgzloobzxg5lomfzgk3tdmvzxg5dpobzxe2lomvzg63dp";
        assert_eq!(Invite::decode(old), Err(InviteError::Old));
        assert!(
            InviteError::Old
                .to_string()
                .contains("ask its issuer for a new one")
        );
        assert_eq!(Invite::decode("hello"), Err(InviteError::NotAnInvite));
    }

    #[test]
    fn ids_follow_from_secrets_and_proofs_from_joiners() {
        let invite = invite([1; 32], [3; 32]);
        assert_eq!(invite.id(), InviteId::of(&InviteSecret([3; 32])));
        assert_ne!(invite.id(), InviteId::of(&InviteSecret([4; 32])));
        let p = invite.proof(b"joiner");
        assert!(verify_proof(&invite.secret, b"joiner", &p));
        assert!(!verify_proof(&invite.secret, b"someone else", &p));
        assert!(!format!("{:?}", invite.secret).contains('3'));
    }

    #[test]
    fn more_places_than_an_invite_carries_are_refused() {
        let mut many = invite([1; 32], [3; 32]);
        many.reach = vec![many.reach[0].clone(); MAX_REACH + 1];
        assert_eq!(many.encode(), Err(InviteError::TooMuch));
    }
}
