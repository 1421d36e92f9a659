//! The doors at the connection level, carried out: what [`crate::core::doors`] decides of
//! strangers and removed members, done on the swarm (disconnects, the block list, the doors
//! the tasks beside the loop ask); and this node's own removal.

use std::time::Instant;

use libp2p::{Multiaddr, PeerId};
use weft_proto::acl::OpId;
use weft_proto::api::Removed;

use super::{EventLoop, short};
use crate::core::doors::{Due, Own, Screened, Standing, address_of};
use crate::mesh::membership::{key_of, peer_of};
use crate::store::write::Write;

impl EventLoop {
    /// A connection to `peer` at `remote` is up: the doors say whether it stays, and how.
    pub(super) fn screen(&mut self, peer: PeerId, dialled: bool, remote: &Multiaddr) {
        let standing = if self.admits(&peer) {
            Standing::Member
        } else if self.revocation_of(&peer).is_some() {
            Standing::Removed
        } else {
            Standing::Stranger
        };
        let own = match (&self.mesh, self.removed) {
            (_, Some(_)) => Own::Removed,
            (Some(_), None) => Own::InMesh,
            (None, None) => Own::NoMesh,
        };
        let address = address_of(remote);
        match self
            .doors
            .screen(peer, standing, own, dialled, address, Instant::now())
        {
            Screened::Member | Screened::Stranger => {}
            Screened::Told => self.tell_removed(peer),
            Screened::Refused(refusal) => {
                tracing::info!(peer = %short(&peer), "refused a connection: {}", refusal.why());
                self.rejected.add(refusal.reason());
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    /// Carries out what time did to the doors: strangers whose grace is over are
    /// disconnected (and members that were strangers when they connected: they come back as
    /// members); removed members whose moment to hear of it is over meet the wall.
    pub(super) fn expire_doors(&mut self, now: Instant) {
        let (mesh, removed) = (&self.mesh, self.removed);
        let admits = |p: &PeerId| removed.is_none() && mesh.as_ref().is_some_and(|m| m.admits(p));
        let mut walled = false;
        for due in self.doors.due(now, admits) {
            match due {
                Due::Reconnect(peer) => {
                    tracing::debug!(peer = %short(&peer), "reconnecting a new member");
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
                Due::Stranger(peer) => {
                    self.rejected.add("stranger");
                    tracing::info!(peer = %short(&peer), "disconnected a stranger to the mesh");
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
                Due::Wall(peer) => {
                    self.wall(peer);
                    walled = true;
                }
            }
        }
        if walled {
            self.open_doors();
        }
    }

    /// Cuts off a member that was removed: nothing it asks is answered any more (it is no
    /// member), and after a moment to hear of its removal it is refused at every
    /// connection. Its addresses are forgotten and nothing is sent to it again.
    pub(super) fn cut_off(&mut self, peer: PeerId) {
        tracing::info!(peer = %short(&peer), "a member was removed; cutting it off");
        if let Some(write) = self.addresses.forget(&peer) {
            self.flush.write(write);
        }
        self.peers.forget(&peer);
        self.reject_outbox_to(peer);
        if self.removed.is_some() {
            self.wall(peer);
        } else if self.peers.is_connected(&peer) {
            self.doors.removed(peer, Instant::now());
            self.tell_removed(peer);
        }
    }

    /// `peer`, removed, is connected (the first time since its removal this run: after
    /// that, the wall refuses it at establishment), and the doors let it hear of it: it may
    /// sync for a moment, and is sent only the ops that tell it so.
    fn tell_removed(&mut self, peer: PeerId) {
        tracing::info!(peer = %short(&peer), "telling a removed member of its removal");
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
            let leaving = self.doors.leaving().copied();
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
        self.peers.forget_all();
        let peers: Vec<PeerId> = self.peers.ids().copied().collect();
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
