//! [`Doors`]: who may stay connected, decided when a connection comes up and as time passes.
//!
//! A member passes. A stranger to the mesh may stay [`STRANGER_GRACE`] to redeem an invite,
//! if there is a slot for it: at most [`MAX_STRANGERS`] at once and
//! [`MAX_STRANGERS_PER_ADDRESS`] from one address, so a stranger rotating keys cannot take
//! the slots joiners need. A node in no mesh keeps only the connections it dialled (to join
//! one); a node removed from its mesh keeps none.
//!
//! A removed member is told of its removal once per run of this node: the first time it is
//! connected after the removal (at once when it was connected then; when it comes back when
//! it was offline), it is "leaving" for [`REMOVAL_LINGER`], may ask `/weft/sync/1` and is
//! answered with the revoking op and its causal past only. Then the wall: the shell puts it
//! on the block list, which refuses it at connection establishment, before any protocol.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

/// How long a stranger to the mesh may stay connected to join.
pub const STRANGER_GRACE: Duration = Duration::from_secs(5);

/// How long a stranger stays after a failed join (for the answer to reach it).
pub const FAILED_JOIN_GRACE: Duration = Duration::from_millis(500);

/// Most strangers connected at once.
pub const MAX_STRANGERS: usize = 32;

/// Most strangers connected at once from one address (an IPv4 address, an IPv6 /64).
pub const MAX_STRANGERS_PER_ADDRESS: usize = 4;

/// How long a connection made as a stranger lasts once the peer is a member: it is closed
/// so that the next one carries the members' protocols (relay, gossip, ...).
pub const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The same for the joiner this node just admitted: it closes the connection itself once
/// it has the whole log; this is the backstop, long enough to page through a long log.
pub const JOINER_RECONNECT_AFTER: Duration = Duration::from_secs(30);

/// How long a request stream (sync, mailbox) from a peer that is no member waits, unread,
/// for the peer's admission to reach this node before it is refused: a newcomer asks the
/// members it meets before its admin's gossip has reached them all.
pub const ADMISSION_WAIT: Duration = Duration::from_secs(5);

/// Most such streams waiting at once (of one protocol), one per peer; more are refused at
/// once.
pub const MAX_WAITING: usize = 8;

/// How long a member that was just removed stays connected, to hear of its removal (the
/// revoking op, by sync) before the wall closes.
pub const REMOVAL_LINGER: Duration = Duration::from_secs(5);

/// What the mesh's ACL says of a peer that connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// An admitted member.
    Member,
    /// A key the mesh removed.
    Removed,
    /// Anyone else.
    Stranger,
}

/// Where this node stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Own {
    /// In a mesh.
    InMesh,
    /// In no mesh (yet).
    NoMesh,
    /// Removed from its mesh.
    Removed,
}

/// What to do with a connection that came up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screened {
    /// A member: nothing.
    Member,
    /// A stranger, on its grace.
    Stranger,
    /// A removed member, to be told: let it sync (it asks back, and hears of its removal).
    Told,
    /// Disconnect it, counting the reason.
    Refused(Refusal),
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// This node was removed from its mesh.
    Removed,
    /// This node is in no mesh, and did not dial.
    NotInMesh,
    /// Every stranger slot (in all, or for its address) is taken.
    StrangerSlots,
}

impl Refusal {
    /// The reason, as counted.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Removed => "removed",
            Refusal::NotInMesh => "not_in_mesh",
            Refusal::StrangerSlots => "stranger_slots",
        }
    }

    /// The reason, as logged.
    pub fn why(&self) -> &'static str {
        match self {
            Refusal::Removed => "this node was removed from its mesh",
            Refusal::NotInMesh => "this node is in no mesh",
            Refusal::StrangerSlots => "too many strangers connected",
        }
    }
}

/// What time did to a door.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// A stranger's grace is over: disconnect it (and count it).
    Stranger(PeerId),
    /// A member that connected as a stranger: disconnect it, so it comes back as a member.
    Reconnect(PeerId),
    /// A removed member's moment is over: the wall.
    Wall(PeerId),
}

/// The strangers and removed members connected now, and until when.
#[derive(Debug, Default)]
pub struct Doors {
    strangers: BTreeMap<PeerId, Stranger>,
    leaving: BTreeMap<PeerId, Instant>,
    /// The removed members refused at establishment (the block list).
    walled: HashSet<PeerId>,
}

#[derive(Debug)]
struct Stranger {
    until: Instant,
    address: Option<IpAddr>,
}

impl Doors {
    /// A connection to `peer`, from `address` (see [`address_of`]), came up: `dialled` when
    /// this node dialled it. A member's connection ends the stranger's grace it had, if any.
    pub fn screen(
        &mut self,
        peer: PeerId,
        standing: Standing,
        own: Own,
        dialled: bool,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Screened {
        match (own, standing) {
            (Own::Removed, _) => return Screened::Refused(Refusal::Removed),
            (_, Standing::Member) => {
                // It came back as a member: its connection as a stranger is not to be closed
                // under the new one (that one's close may come after this one is up).
                self.strangers.remove(&peer);
                return Screened::Member;
            }
            (Own::InMesh, Standing::Removed) => {
                self.leaving.insert(peer, now + REMOVAL_LINGER);
                return Screened::Told;
            }
            (Own::NoMesh, _) if !dialled => return Screened::Refused(Refusal::NotInMesh),
            _ => {}
        }
        let same = self
            .strangers
            .values()
            .filter(|s| address.is_some() && s.address == address)
            .count();
        if self.strangers.len() >= MAX_STRANGERS || same >= MAX_STRANGERS_PER_ADDRESS {
            return Screened::Refused(Refusal::StrangerSlots);
        }
        self.strangers.insert(
            peer,
            Stranger {
                until: now + STRANGER_GRACE,
                address,
            },
        );
        Screened::Stranger
    }

    /// `peer`, a member, was removed while connected: it is told, as [`Screened::Told`].
    pub fn removed(&mut self, peer: PeerId, now: Instant) {
        self.strangers.remove(&peer);
        self.leaving.insert(peer, now + REMOVAL_LINGER);
    }

    /// A join by `peer` failed: its grace ends once the answer had time to leave.
    pub fn join_failed(&mut self, peer: &PeerId, now: Instant) {
        if let Some(stranger) = self.strangers.get_mut(peer) {
            stranger.until = stranger.until.min(now + FAILED_JOIN_GRACE);
        }
    }

    /// `peer`, connected as a stranger, is a member now: its connection closes `after` from
    /// now ([`RECONNECT_AFTER`], or [`JOINER_RECONNECT_AFTER`] for the joiner this node
    /// admitted), so the next one carries the members' protocols.
    pub fn admitted(&mut self, peer: &PeerId, after: Duration, now: Instant) {
        if let Some(stranger) = self.strangers.get_mut(peer) {
            stranger.until = now + after;
        }
    }

    /// `peer` is gone. True when it was still hearing of its removal: the wall closes now.
    pub fn disconnected(&mut self, peer: &PeerId) -> bool {
        self.strangers.remove(peer);
        self.leaving.remove(peer).is_some()
    }

    /// What is due at `now`; `admits` says who is a member by then.
    pub fn due(&mut self, now: Instant, admits: impl Fn(&PeerId) -> bool) -> Vec<Due> {
        let mut due = Vec::new();
        self.strangers.retain(|peer, s| {
            if s.until > now {
                return true;
            }
            due.push(if admits(peer) {
                Due::Reconnect(*peer)
            } else {
                Due::Stranger(*peer)
            });
            false
        });
        self.leaving.retain(|peer, until| {
            if *until > now {
                return true;
            }
            due.push(Due::Wall(*peer));
            false
        });
        due
    }

    /// Whether `peer` is a removed member hearing of its removal.
    pub fn is_leaving(&self, peer: &PeerId) -> bool {
        self.leaving.contains_key(peer)
    }

    /// The removed members hearing of their removal.
    pub fn leaving(&self) -> impl Iterator<Item = &PeerId> {
        self.leaving.keys()
    }

    /// `peer` is refused at connection establishment from now on; false when it was
    /// already.
    pub fn wall(&mut self, peer: PeerId) -> bool {
        self.walled.insert(peer)
    }
}

/// The address a stranger's slots are counted by: its IPv4 address, or its IPv6 /64.
pub fn address_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => {
            let mut octets = ip.octets();
            octets[8..].fill(0);
            Some(IpAddr::V6(octets.into()))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests;
