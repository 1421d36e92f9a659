//! [`Addresses`]: where members can be reached, without IO.
//!
//! Only members get an entry, and only from members: a member's own word (its identify
//! listen addresses, or an address this node reached it at) fills most of the entry, and
//! what other members say of it (sync answers) only the little room kept for hearsay, so a
//! lying member cannot push out a member's real addresses. A member's entry goes when it is
//! removed. Every change comes back as the [`Write`] that persists it.

use std::collections::HashMap;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

use crate::store::peers::{KnownAddrs, MAX_ADDRS_PER_PEER};
use crate::store::write::Write;

/// Room for addresses other members vouch for, per member.
pub const MAX_HEARD: usize = 2;

/// Room for a member's own addresses.
pub const MAX_OWN: usize = MAX_ADDRS_PER_PEER - MAX_HEARD;

/// The address book.
#[derive(Clone, Debug, Default)]
pub struct Addresses {
    book: HashMap<PeerId, KnownAddrs>,
}

impl Addresses {
    /// The book as stored, keeping only peers `admits` lets in; the writes that forget the
    /// others (entries of strangers or removed members from an older store).
    pub fn load(
        stored: Vec<(PeerId, KnownAddrs)>,
        admits: impl Fn(&PeerId) -> bool,
    ) -> (Addresses, Vec<Write>) {
        let mut book = HashMap::new();
        let mut forget = Vec::new();
        for (peer, mut known) in stored {
            if admits(&peer) {
                known.own.truncate(MAX_OWN);
                known.heard.truncate(MAX_HEARD);
                book.insert(peer, known);
            } else {
                forget.push(Write::ForgetPeer(peer));
            }
        }
        (Addresses { book }, forget)
    }

    /// Takes `addrs` as `member`'s own, newest first; the write when something changed.
    pub fn own(&mut self, member: PeerId, addrs: &[Multiaddr]) -> Option<Write> {
        let known = self.book.entry(member).or_default();
        let before = known.clone();
        for addr in addrs.iter().rev().map(without_p2p) {
            known.own.retain(|a| *a != addr);
            known.heard.retain(|a| *a != addr);
            known.own.insert(0, addr);
        }
        one_of_each_first(&mut known.own);
        known.own.truncate(MAX_OWN);
        changed(member, &before, known)
    }

    /// Takes `addrs` as what another member says of `member`; the write when something
    /// changed.
    pub fn heard(&mut self, member: PeerId, addrs: &[Multiaddr]) -> Option<Write> {
        let known = self.book.entry(member).or_default();
        let before = known.clone();
        for addr in addrs.iter().map(without_p2p) {
            if !known.own.contains(&addr) && !known.heard.contains(&addr) {
                known.heard.insert(0, addr);
            }
        }
        known.heard.truncate(MAX_HEARD);
        changed(member, &before, known)
    }

    /// Forgets `peer`; the write when it was known.
    pub fn forget(&mut self, peer: &PeerId) -> Option<Write> {
        self.book.remove(peer).map(|_| Write::ForgetPeer(*peer))
    }

    /// Where `peer` can be reached, its own addresses first.
    pub fn of(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.book.get(peer).map(KnownAddrs::all).unwrap_or_default()
    }

    /// Whether the book knows where `peer` is.
    pub fn knows(&self, peer: &PeerId) -> bool {
        self.book.get(peer).is_some_and(|k| !k.all().is_empty())
    }

    /// Every peer in the book.
    pub fn peers(&self) -> impl Iterator<Item = &PeerId> {
        self.book.keys()
    }
}

fn changed(member: PeerId, before: &KnownAddrs, now: &KnownAddrs) -> Option<Write> {
    (before != now).then(|| Write::PutPeer(member, now.clone()))
}

/// Whether `addr` goes through a relay.
pub fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// Whether `addr` is on this machine's loopback.
pub fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

/// Moves the first direct address and the first relayed one of `addrs` to the front (in
/// their order), the rest after them as they were: where a member's own list is cut short,
/// the book keeps a direct address to dial first and a relayed one for when that fails
/// (cut in order, a member holding slots on a few relays would be left with relayed
/// addresses only, and each dial of one connects to that relay as well). What is heard is
/// ordered so before it is taken; once in the book, hearsay is kept newest first, so that
/// a made-up direct address does not stay ahead of what is heard later.
pub fn one_of_each_first(addrs: &mut [Multiaddr]) {
    let direct = addrs.iter().position(|a| !is_relayed(a));
    let relayed = addrs.iter().position(is_relayed);
    let mut firsts: Vec<usize> = [direct, relayed].into_iter().flatten().collect();
    firsts.sort_unstable();
    for (to, from) in firsts.into_iter().enumerate() {
        addrs[to..=from].rotate_right(1);
    }
}

/// `addr` without its final `/p2p/<peer>` (a relayed address keeps its relay's).
pub fn without_p2p(addr: &Multiaddr) -> Multiaddr {
    let mut addr = addr.clone();
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.pop();
    }
    addr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/10.0.0.1/tcp/{port}").parse().unwrap()
    }

    #[test]
    fn hearsay_never_pushes_out_a_members_own_word() {
        let mut book = Addresses::default();
        let bob = PeerId::random();
        let own: Vec<Multiaddr> = (1..=3).map(addr).collect();
        assert!(book.own(bob, &own).is_some());
        for port in 100..200 {
            book.heard(bob, &[addr(port)]);
        }
        let known = book.of(&bob);
        assert_eq!(known.len(), 3 + MAX_HEARD);
        assert_eq!(known[..3], own[..]);
        assert!(book.own(bob, &own).is_none(), "no change, no write");
        // Its own word moves an address out of hearsay.
        book.own(bob, &[addr(199)]);
        assert_eq!(book.of(&bob)[0], addr(199));
        assert_eq!(book.of(&bob).len(), 5);
        assert!(matches!(book.forget(&bob), Some(Write::ForgetPeer(p)) if p == bob));
        assert!(!book.knows(&bob));
    }

    #[test]
    fn a_cut_list_keeps_a_direct_and_a_relayed_address() {
        let relayed = |port: u16| -> Multiaddr {
            let relay = PeerId::random();
            format!("/ip4/10.0.0.9/tcp/{port}/p2p/{relay}/p2p-circuit")
                .parse()
                .unwrap()
        };
        let mut book = Addresses::default();
        let bob = PeerId::random();
        // As identify lists them: the newest relay slots first, more than the book keeps.
        let mut said: Vec<Multiaddr> = (1..=MAX_OWN as u16 + 2).map(relayed).collect();
        said.extend([addr(1), addr(2)]);
        book.own(bob, &said);
        let known = book.of(&bob);
        assert_eq!(known.len(), MAX_OWN);
        assert_eq!(known[..2], [said[0].clone(), addr(1)], "one of each, first");
        let hop = relayed(9);
        // Hearsay is kept as told, newest first: a direct address heard once does not
        // stay ahead of what is heard later.
        let carol = PeerId::random();
        book.heard(carol, &[addr(2)]);
        book.heard(carol, &[hop.clone(), relayed(10)]);
        assert!(book.of(&carol).iter().all(is_relayed));
        let other = relayed(11);
        let mut mixed = vec![hop.clone(), other.clone(), addr(4), addr(5)];
        one_of_each_first(&mut mixed);
        assert_eq!(mixed, [hop, addr(4), other, addr(5)]);
    }

    #[test]
    fn loading_forgets_strangers() {
        let (member, stranger) = (PeerId::random(), PeerId::random());
        let stored = vec![
            (
                member,
                KnownAddrs {
                    own: vec![addr(1)],
                    heard: vec![],
                },
            ),
            (
                stranger,
                KnownAddrs {
                    own: vec![addr(2)],
                    heard: vec![],
                },
            ),
        ];
        let (book, writes) = Addresses::load(stored, |p| *p == member);
        assert!(book.knows(&member) && !book.knows(&stranger));
        assert!(matches!(writes[..], [Write::ForgetPeer(p)] if p == stranger));
    }
}
