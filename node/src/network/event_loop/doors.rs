//! The doors at the connection level: strangers (who may only redeem an invite, for a few
//! seconds, a few per address), removed members (refused at connection establishment by
//! the block list, after one moment to hear of their removal), and this node's own removal.
//!
//! A removed member is told of its removal once per run of this node: the first time it
//! is connected after the removal (at once when it was connected then; when it comes back
//! when it was offline), it is a "leaving" peer for [`REMOVAL_LINGER`], which may ask
//! `/weft/sync/1` and is answered with the revoking op and its causal past only. Then, and
//! from then on, the wall: refused at establishment, before any protocol.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use weft_proto::acl::OpId;
use weft_proto::api::Removed;

use super::{EventLoop, short};
use crate::mesh::membership::{key_of, peer_of};
use crate::store::write::Write;

/// How long a stranger to the mesh may stay connected to join.
const STRANGER_GRACE: Duration = Duration::from_secs(5);

/// How long a stranger stays after a failed join (for the answer to reach it).
const FAILED_JOIN_GRACE: Duration = Duration::from_millis(500);

/// Most strangers connected at once.
const MAX_STRANGERS: usize = 32;

/// Most strangers connected at once from one address (an IPv4 address, an IPv6 /64), so a
/// stranger rotating keys cannot take the slots joiners need.
const MAX_STRANGERS_PER_ADDRESS: usize = 4;

/// How long a connection made as a stranger lasts once the peer is a member: it is closed
/// so that the next one carries the members' protocols (relay, gossip, ...).
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The same for the joiner this node just admitted: it closes the connection itself once
/// it has the whole log; this is the backstop, long enough to page through a long log.
pub(super) const JOINER_RECONNECT_AFTER: Duration = Duration::from_secs(30);

/// How long a member that was just removed stays connected, to hear of its removal (the
/// revoking op, by gossip or by sync) before the wall closes.
const REMOVAL_LINGER: Duration = Duration::from_secs(2);

/// A connected stranger.
pub(super) struct Stranger {
    until: Instant,
    address: Option<IpAddr>,
}

impl EventLoop {
    /// A connection to `peer` at `remote` is up. A member passes. A stranger has
    /// [`STRANGER_GRACE`] to join, if there is a slot for it. A node in no mesh keeps only
    /// the connections it dialled (to join one); a removed node keeps none.
    pub(super) fn screen(&mut self, peer: PeerId, dialled: bool, remote: &Multiaddr) {
        if self.admits(&peer) {
            return;
        }
        let refuse = |this: &mut EventLoop, reason: &str, why: &str| {
            tracing::info!(peer = %short(&peer), "refused a connection: {why}");
            this.rejected.add(reason);
            let _ = this.swarm.disconnect_peer_id(peer);
        };
        if self.removed.is_some() {
            return refuse(self, "removed", "this node was removed from its mesh");
        }
        if self.revocation_of(&peer).is_some() {
            return self.tell_removed(peer);
        }
        if self.mesh.is_none() && !dialled {
            return refuse(self, "not_in_mesh", "this node is in no mesh");
        }
        let address = ip_of(remote);
        let same = self
            .strangers
            .values()
            .filter(|s| address.is_some() && s.address == address)
            .count();
        if self.strangers.len() >= MAX_STRANGERS || same >= MAX_STRANGERS_PER_ADDRESS {
            return refuse(self, "stranger_slots", "too many strangers connected");
        }
        self.strangers.insert(
            peer,
            Stranger {
                until: Instant::now() + STRANGER_GRACE,
                address,
            },
        );
    }

    /// A join by `peer` failed: its grace ends once the answer had time to leave.
    pub(super) fn end_grace_soon(&mut self, peer: &PeerId) {
        if let Some(stranger) = self.strangers.get_mut(peer) {
            stranger.until = stranger.until.min(Instant::now() + FAILED_JOIN_GRACE);
        }
    }

    /// `peer`, connected as a stranger, is a member now: its connection closes soon, so the
    /// next one carries the members' protocols.
    pub(super) fn reconnect_as_member(&mut self, peer: &PeerId) {
        self.reconnect_after(peer, RECONNECT_AFTER);
    }

    /// `peer`'s connection made as a stranger closes `after` from now.
    pub(super) fn reconnect_after(&mut self, peer: &PeerId, after: Duration) {
        if let Some(stranger) = self.strangers.get_mut(peer) {
            stranger.until = Instant::now() + after;
        }
    }

    /// Disconnects strangers whose time is up (and members that were strangers when they
    /// connected: they come back as members); closes the wall on removed members whose
    /// moment to hear of it is over.
    pub(super) fn expire_doors(&mut self, now: Instant) {
        let due: Vec<PeerId> = self
            .strangers
            .iter()
            .filter(|(_, s)| s.until <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            self.strangers.remove(&peer);
            if self.admits(&peer) {
                tracing::debug!(peer = %short(&peer), "reconnecting a new member");
            } else {
                self.rejected.add("stranger");
                tracing::info!(peer = %short(&peer), "disconnected a stranger to the mesh");
            }
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let walled: Vec<PeerId> = self
            .leaving
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in &walled {
            self.leaving.remove(peer);
            self.wall(*peer);
        }
        if !walled.is_empty() {
            self.open_doors();
        }
    }

    /// Cuts off a member that was removed: nothing it asks is answered any more (it is no
    /// member), and after [`REMOVAL_LINGER`] (time to hear of its removal) it is refused at
    /// every connection. Its addresses are forgotten and nothing is sent to it again.
    pub(super) fn cut_off(&mut self, peer: PeerId) {
        tracing::info!(peer = %short(&peer), "a member was removed; cutting it off");
        if let Some(write) = self.addresses.forget(&peer) {
            self.flush.write(write);
        }
        self.redial.forget(&peer);
        self.reject_outbox_to(peer);
        if self.removed.is_some() {
            self.wall(peer);
        } else if self.peers.contains_key(&peer) {
            self.tell_removed(peer);
        }
    }

    /// `peer`, removed, is connected (the first time since its removal this run: after
    /// that, the wall refuses it at establishment). It is told of its removal: for
    /// [`REMOVAL_LINGER`] it may sync, and is sent only the ops that tell it so.
    fn tell_removed(&mut self, peer: PeerId) {
        tracing::info!(peer = %short(&peer), "telling a removed member of its removal");
        self.leaving.insert(peer, Instant::now() + REMOVAL_LINGER);
        self.open_doors();
        // Asking it makes it ask back, and the answer carries its removal.
        self.start_sync(peer);
    }

    /// The op that removed `peer` from the mesh, when one did.
    pub(super) fn revocation_of(&self, peer: &PeerId) -> Option<OpId> {
        let key = key_of(peer)?;
        Some(self.mesh.as_ref()?.acl().revocation(&key)?.op)
    }

    /// Refuses `peer` at connection establishment from now on, and closes its connections.
    pub(super) fn wall(&mut self, peer: PeerId) {
        let blocked = &mut self.swarm.behaviour_mut().blocked;
        if !blocked.blocked_peers().contains(&peer) {
            blocked.block_peer(peer);
            self.rejected.add("revoked");
        }
    }

    /// Tells the doors who is in now: the members for the tasks beside the loop, and the
    /// members just removed for sync, to hear of it. (The block list holds the removed
    /// members told so: see [`Self::wall`].)
    pub(super) fn open_doors(&mut self) {
        let Some(mesh) = self.mesh.as_ref() else {
            self.door.set(std::iter::empty());
            self.sync_door.set(std::iter::empty());
            return;
        };
        if self.removed.is_some() {
            self.door.set(std::iter::empty());
            self.sync_door.set(std::iter::empty());
        } else {
            self.door.set(mesh.peers().map(|(p, _)| *p));
            let leaving = self.leaving.keys().copied();
            self.sync_door
                .set(mesh.peers().map(|(p, _)| *p).chain(leaving));
        }
    }

    /// This node was removed from its mesh: it says so, stops dialling, and drops every
    /// connection. It keeps its data; `weft status` and `weft doctor` say who removed it.
    pub(super) fn on_removed(&mut self) {
        if self.removed.is_some() {
            return;
        }
        let at = crate::delivery::clock::wall_us() / 1_000_000;
        self.removed = Some(at);
        self.flush.write(Write::SetRemovedAt(at));
        let by = self.removal().map(|r| r.by).unwrap_or_default();
        tracing::warn!(%by, "this node was removed from its mesh; it no longer connects to it");
        self.open_doors();
        self.redial.clear();
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }
}

impl EventLoop {
    /// The error a command that needs the mesh gets once this node was removed from it.
    pub(super) fn removed_error(&self) -> Option<crate::network::NodeError> {
        let removal = self.removal()?;
        Some(crate::network::NodeError::Forbidden(format!(
            "this node was removed from its mesh by {}; it no longer sends or receives there",
            removal.by
        )))
    }

    /// Who removed this node from its mesh and when it learnt so, once it was.
    pub(super) fn removal(&self) -> Option<Removed> {
        let at = self.removed?;
        let by = self
            .mesh
            .as_ref()
            .and_then(|m| m.acl().revocation(&self.identity.public().to_bytes()))
            .and_then(|r| peer_of(&r.by))
            .map(|p| p.to_string())
            .unwrap_or_default();
        Some(Removed { by, at })
    }
}

/// The address a stranger's slots are counted by: its IPv4 address, or its IPv6 /64.
fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
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

/// The strangers connected now, by peer.
pub(super) type Strangers = HashMap<PeerId, Stranger>;
