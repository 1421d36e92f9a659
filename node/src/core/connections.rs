//! Connections and dials, the doors carried out (strangers, members just removed, the
//! wall), and this node's own removal: what [`super::doors`] and [`super::peers`] decide,
//! turned into outputs.

use std::collections::{BTreeMap, BTreeSet};

use libp2p::{Multiaddr, PeerId};
use weft_proto::api::{Event, Removed};
use weft_proto::mesh::Role;
use weft_proto::topic::TopicName;

use super::doors::{Due, Screened, address_of};
use super::io::{Now, Output};
use super::peers::Path;
use super::{Core, short};
use crate::mesh::addresses::{MAX_HEARD, is_relayed, one_of_each_first};
use crate::mesh::membership::peer_of;
use crate::network::NodeError;
use crate::store::write::Write;

/// Failed dials in a row after which a member nothing waits for is no longer redialled
/// (about a minute and a half of backoff); it may be picked again later.
pub const GIVE_UP_AFTER: u32 = 8;

/// The dial attempt from which a member's relayed addresses are dialled too: after a
/// first dial, or a redial after a lost connection, of its direct addresses failed.
pub const RELAYED_FROM_ATTEMPT: u32 = 2;

/// Most addresses taken from one identify message.
const MAX_IDENTIFY_ADDRS: usize = 8;

/// How long a member deaf to this node's gossip gets no credit from its workers once
/// reported: past the event loop's next report of it (two checks 5 s apart).
const DRAIN: std::time::Duration = std::time::Duration::from_secs(15);

impl Core {
    /// A connection to `peer` came up: the first one makes it connected, has the doors
    /// screen it, syncs with it and collects from it when it is a mailbox.
    pub(super) fn on_connected(&mut self, peer: PeerId, path: Path<Multiaddr>, now: Now) {
        if path.outbound && !path.relayed {
            // Where this node reached it: a member's own word.
            self.remember_own(peer, std::slice::from_ref(&path.addr));
        }
        let (dialled, remote) = (path.outbound, path.addr.clone());
        if !self.peers.connected(peer, path, now.secs()) {
            return;
        }
        tracing::info!(peer = %short(&peer), addr = %remote, "connected");
        self.keep.used(peer, now.at);
        self.keep.take_lost(&peer);
        self.delivery.connected(&peer);
        self.screen(peer, dialled, &remote, now);
        self.start_sync(peer);
        self.fetch_from(peer);
        self.out.push_back(Output::Event(Event::PeerConnected {
            peer_id: peer.to_string(),
        }));
    }

    /// The last connection to `peer` closed: a mailbox is dialled again, after a backoff
    /// (messages waiting for a member dial it too); a stranger never is. A standing
    /// member's place goes to a new pick at random (which may be the same member in a
    /// small mesh): a member over its cap closes idle connections others dialled, and
    /// redialled it would close it again a minute later, every minute, so its standing
    /// links go where there is room. Until its first redial would have come it counts as
    /// unreachable (it may have failed); it is dialled then only if something wants it
    /// ([`Core::dial_due`]).
    pub(super) fn on_disconnected(&mut self, peer: PeerId, now: Now) {
        self.keep.gone(&peer);
        self.queues_peer_gone(&peer);
        let known = self.admits(&peer) && self.mesh.addresses().knows(&peer);
        let standing = self.keep.is_standing(&peer);
        let redial = known && (standing || self.is_mailbox(&peer));
        if standing && known {
            self.keep.lose(peer);
        } else {
            self.keep.unpick(&peer);
        }
        self.followers.unpick(&peer);
        self.peers.disconnected(&peer, redial, now.at);
        self.mailbox.disconnected(&peer);
        if self.doors.disconnected(&peer) {
            // Gone before its moment was up: the wall closes now.
            self.wall(peer);
            self.open_doors();
        }
        self.asks.disconnected(&peer);
        self.delivery.disconnected(&peer);
        self.on_service_lost(peer, now);
        self.out.push_back(Output::Event(Event::PeerDisconnected {
            peer_id: peer.to_string(),
        }));
    }

    /// Whether `peer` is a mailbox: mailboxes stay connected (deposits and collections go
    /// to those connected), on top of the standing members.
    fn is_mailbox(&self, peer: &PeerId) -> bool {
        self.mesh.role_of(peer) == Some(Role::Mailbox)
    }

    /// Dials the mailboxes this node knows where to find that are not connected (at start
    /// and every resync round: a mesh has a few).
    pub(super) fn keep_mailboxes(&mut self, now: Now) {
        if self.mesh.removed().is_some() {
            return;
        }
        let mailboxes: Vec<PeerId> = (self.mesh.addresses().peers())
            .filter(|p| **p != self.me.peer && self.is_mailbox(p))
            .filter(|p| !self.peers.is_connected(p) && !self.peers.is_scheduled(p))
            .copied()
            .collect();
        for peer in mailboxes {
            self.dial_soon(peer, now);
        }
    }

    /// Picks standing members at random while fewer than the standing ones are picked:
    /// among the members this node knows where to find, or is connected to, that are not
    /// being redialled after a failure. Those not connected are dialled. Then the same for
    /// the followers of each topic this node follows.
    pub(super) fn top_up(&mut self, now: Now) {
        if self.mesh.removed().is_some() {
            return;
        }
        if self.keep.wanted() > 0 {
            let (peers, me) = (&self.peers, self.me.peer);
            let known = self
                .mesh
                .addresses()
                .peers()
                .filter(|p| !peers.is_scheduled(p));
            let connected = peers.ids().filter(|p| !self.mesh.addresses().knows(p));
            let candidates: Vec<PeerId> = known
                .chain(connected)
                .filter(|p| **p != me && self.admits(p) && !self.keep.is_standing(p))
                .copied()
                .collect();
            for peer in self.keep.pick_standing(candidates) {
                self.dial_unless_connected(peer, now);
            }
        }
        self.follow_topics_through(now);
    }

    /// For each topic this node follows, picks followers of it at random (among those it is
    /// connected to or knows where to find and is not redialling) while fewer than
    /// [`super::followers::TOPIC_LINKS`] are picked, and dials those not connected: gossip
    /// and catch-up run only between connected followers, so a topic few members follow
    /// would otherwise not reach them.
    fn follow_topics_through(&mut self, now: Now) {
        let followed: BTreeSet<&TopicName> = self.topics.followed().collect();
        self.followers.keep_topics(&followed);
        let topics: Vec<TopicName> = followed.into_iter().cloned().collect();
        for topic in topics {
            let wanted = self.followers.wanted(&topic);
            if wanted == 0 {
                continue;
            }
            let candidates: Vec<PeerId> = (self.followers.of_topic(&topic))
                .filter(|p| **p != self.me.peer && self.admits(p))
                .filter(|p| !self.followers.carries(&topic, p))
                .filter(|p| {
                    self.peers.is_connected(p)
                        || (self.mesh.addresses().knows(p) && !self.peers.is_scheduled(p))
                })
                .copied()
                .collect();
            let picked = self.keep.pick(candidates, wanted);
            self.followers.pick(&topic, &picked);
            for peer in picked {
                self.dial_unless_connected(peer, now);
            }
        }
    }

    /// Dials the members whose (re)dial is due, but a standing member lost since only if
    /// something wants it now: picked again, a mailbox, a message or a call waiting for it,
    /// or a follower picked to carry a topic. One nothing wants is forgotten, so it counts
    /// as reachable again (dialled on demand).
    pub(super) fn dial_due(&mut self, now: Now) {
        for peer in self.peers.due(now.at) {
            let wanted = self.keep.is_standing(&peer) || self.needs(&peer);
            if self.keep.take_lost(&peer) && !wanted {
                self.peers.forget(&peer);
                continue;
            }
            self.dial_known(peer);
        }
    }

    /// Whether something needs `peer` connected besides a standing pick: it is a mailbox,
    /// a message to it is not settled, a call to it is under way, or it is a follower
    /// picked to carry one of this node's topics.
    fn needs(&self, peer: &PeerId) -> bool {
        self.is_mailbox(peer)
            || self.delivery.holds_for(peer)
            || self.services.calling(peer)
            || self.works_with(peer)
            || self.followers.is_picked(peer)
    }

    /// Dials `peer` at the next tick unless it is connected.
    fn dial_unless_connected(&mut self, peer: PeerId, now: Now) {
        if !self.peers.is_connected(&peer) {
            self.dial_soon(peer, now);
        }
    }

    /// Dials `peer` at the next tick (or when its backoff ends): wanted again, a standing
    /// member lost before is dialled then after all.
    pub(super) fn dial_soon(&mut self, peer: PeerId, now: Now) {
        self.keep.take_lost(&peer);
        self.peers.dial_soon(peer, now.at);
    }

    /// A dial of `peer` failed `failed` times in a row: a standing member is replaced by
    /// another pick (it is still redialled, after a backoff), and a member nothing waits
    /// for (no message to it, not a mailbox) is no longer redialled after
    /// [`GIVE_UP_AFTER`] failures, so members that cannot be reached cost little.
    pub(super) fn dial_failed(&mut self, peer: PeerId, failed: u32) {
        self.keep.unpick(&peer);
        self.followers.unpick(&peer);
        if failed >= GIVE_UP_AFTER && !self.delivery.holds_for(&peer) && !self.is_mailbox(&peer) {
            self.peers.forget(&peer);
        }
    }

    /// Closes the connections to members over the cap that have gone unused for a while:
    /// none to a standing member, a mailbox or a follower that carries one of this node's
    /// topics, or that carries a message not settled or a call under way. A mailbox closes
    /// none (its members come to it). Returns the members it closes.
    pub(super) fn trim(&mut self, now: Now) -> Vec<PeerId> {
        if self.is_mailbox(&self.me.peer) {
            return Vec::new();
        }
        let members: Vec<PeerId> = (self.peers.ids())
            .filter(|p| self.admits(p))
            .copied()
            .collect();
        let surplus = self.keep.surplus(&members, now.at, |p| self.needs(p));
        for peer in &surplus {
            tracing::debug!(peer = %short(peer), "closing an idle connection over the cap");
            self.out.push_back(Output::Disconnect(*peer));
        }
        surplus
    }

    /// Member `peer` is deaf to this node's gossip ([`Input::Deaf`]): it is disconnected,
    /// both ends dial again, and the items its workers hold here wait for them meanwhile.
    /// While this node runs items of it, it takes no more and waits (the event loop says
    /// again while it stays deaf): the member, as their producer, could not tell a
    /// reconnect from this node gone.
    pub(super) fn on_deaf(&mut self, peer: PeerId, now: Now) {
        if self.queues_drain(&peer, now.at + DRAIN) {
            tracing::info!(peer = %short(&peer), "gossip with a member told this node none of its topics; it reconnects it once the items it runs from it end");
            return;
        }
        tracing::warn!(peer = %short(&peer), "gossip with a member told this node none of its topics (it kept an old connection across this node's restart): reconnecting");
        self.keep_workers_leases(&peer);
        self.out.push_back(Output::Disconnect(peer));
    }

    /// Dials `peer` on demand before something goes to it (a call, a work frame), unless
    /// it is connected or a dial of it is scheduled already.
    pub(super) fn reach(&mut self, peer: PeerId) {
        // Wanted: a standing member lost a moment ago is dialled when its backoff ends.
        self.keep.take_lost(&peer);
        let removed = self.mesh.removed().is_some();
        if !removed && !self.peers.is_connected(&peer) && !self.peers.is_scheduled(&peer) {
            self.dial_known(peer);
        }
    }

    /// Dials a remembered member at its remembered addresses (none once this node was
    /// removed). Its direct addresses only, when it has any, until a dial of them failed
    /// after a lost connection ([`RELAYED_FROM_ATTEMPT`]): libp2p dials every address at
    /// once, and each relayed one connects this node to that relay too, a connection
    /// nothing needs when the member is reachable directly.
    pub(super) fn dial_known(&mut self, peer: PeerId) {
        if self.mesh.removed().is_some() {
            return;
        }
        let mut addrs = self.mesh.addresses().of(&peer);
        let direct = addrs.iter().any(|a| !is_relayed(a));
        if direct && self.peers.attempt(&peer) < RELAYED_FROM_ATTEMPT {
            addrs.retain(|a| !is_relayed(a));
        }
        self.out.push_back(Output::Dial { peer, addrs });
    }

    /// Remembers the listen addresses a member announced (identify runs with members
    /// only), so either side can redial after a restart even when the connection was
    /// inbound. Relayed ones are kept: they are how members who cannot reach `peer`
    /// directly reach it through a relay.
    pub(super) fn on_identified(&mut self, peer: PeerId, mut addrs: Vec<Multiaddr>) {
        one_of_each_first(&mut addrs);
        addrs.truncate(MAX_IDENTIFY_ADDRS);
        self.remember_own(peer, &addrs);
    }

    /// Takes `addrs` as where member `peer` says it is (or where this node reached it); a
    /// stranger's word is never kept.
    pub(super) fn remember_own(&mut self, peer: PeerId, addrs: &[Multiaddr]) {
        if !self.admits(&peer) {
            return;
        }
        if let Some(write) = self.mesh.addresses_mut().own(peer, addrs) {
            self.commit.write(write);
            self.tell_addresses(peer);
        }
    }

    /// Takes `addrs` as what someone else says of member `peer` (hearsay: it never pushes
    /// out a member's own word).
    pub(super) fn remember_heard(&mut self, peer: PeerId, addrs: &[Multiaddr]) {
        // One of each kind first: a member known only by hearsay (most of a large mesh)
        // would otherwise often be known by its circuits only.
        let mut addrs = addrs.to_vec();
        one_of_each_first(&mut addrs);
        addrs.truncate(MAX_HEARD);
        if let Some(write) = self.mesh.addresses_mut().heard(peer, &addrs) {
            self.commit.write(write);
            self.tell_addresses(peer);
        }
    }

    /// Tells the swarm where `peer` is, as far as this node knows (when that changed, and at
    /// start).
    pub(super) fn tell_addresses(&mut self, peer: PeerId) {
        let addrs = self.mesh.addresses().of(&peer);
        if !addrs.is_empty() {
            self.out.push_back(Output::Addresses { peer, addrs });
        }
    }

    /// Members found on the local network are remembered, and dialled while fewer than the
    /// standing ones are connected; anyone else is ignored. Anyone on the network can
    /// announce a member's PeerId: hearsay, not its word.
    pub(super) fn on_discovered(&mut self, found: Vec<(PeerId, Multiaddr)>, now: Now) {
        let mut members: BTreeMap<PeerId, Vec<Multiaddr>> = BTreeMap::new();
        for (peer, addr) in found {
            if peer != self.me.peer && self.admits(&peer) && !self.peers.is_connected(&peer) {
                members.entry(peer).or_default().push(addr);
            }
        }
        for (peer, addrs) in members {
            tracing::info!(peer = %short(&peer), "found a member on the local network");
            self.remember_heard(peer, &addrs);
        }
        self.top_up(now);
    }

    /// A connection to `peer` at `remote` is up: the doors say whether it stays, and how.
    fn screen(&mut self, peer: PeerId, dialled: bool, remote: &Multiaddr, now: Now) {
        let standing = self.mesh.standing(&peer);
        let own = self.mesh.own();
        match self
            .doors
            .screen(peer, standing, own, dialled, address_of(remote), now.at)
        {
            Screened::Member | Screened::Stranger => {}
            Screened::Told => self.tell_removed(peer),
            Screened::Refused(refusal) => {
                tracing::info!(peer = %short(&peer), "refused a connection: {}", refusal.why());
                self.count("connection", refusal.reason());
                self.out.push_back(Output::Disconnect(peer));
            }
        }
    }

    /// Carries out what time did to the doors: strangers whose grace is over are
    /// disconnected (and members that were strangers when they connected: they come back as
    /// members); removed members whose moment to hear of it is over meet the wall.
    pub(super) fn expire_doors(&mut self, now: Now) {
        let mesh = &self.mesh;
        let due = self.doors.due(now.at, |p| mesh.admits(p));
        let mut walled = false;
        for due in due {
            match due {
                Due::Reconnect(peer) => {
                    tracing::debug!(peer = %short(&peer), "reconnecting a new member");
                    self.keep_workers_leases(&peer);
                    self.out.push_back(Output::Disconnect(peer));
                }
                Due::Stranger(peer) => {
                    self.count("connection", "stranger");
                    tracing::info!(peer = %short(&peer), "disconnected a stranger to the mesh");
                    self.out.push_back(Output::Disconnect(peer));
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
    pub(super) fn cut_off(&mut self, peer: PeerId, now: Now) {
        tracing::info!(peer = %short(&peer), "a member was removed; cutting it off");
        if let Some(write) = self.mesh.addresses_mut().forget(&peer) {
            self.commit.write(write);
        }
        self.peers.forget(&peer);
        self.keep.unpick(&peer);
        self.followers.forget(&peer);
        self.directory.forget(&peer);
        self.services.catalogue.forget(&peer);
        self.reject_outbox_to(peer, now);
        if self.mesh.removed().is_some() {
            self.wall(peer);
        } else if self.peers.is_connected(&peer) {
            self.doors.removed(peer, now.at);
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

    /// Refuses `peer` at connection establishment from now on, and closes its connections.
    pub(super) fn wall(&mut self, peer: PeerId) {
        if self.doors.wall(peer) {
            self.count("connection", "revoked");
            self.out.push_back(Output::Wall(peer));
        }
    }

    /// Tells the doors beside the loop who is in now: the members, and for sync also the
    /// members just removed, to hear of it. (The wall holds the removed members told so.)
    pub(super) fn open_doors(&mut self) {
        let (members, leaving) = self.mesh.doors(self.doors.leaving().copied());
        self.out.push_back(Output::Doors { members, leaving });
    }

    /// This node was removed from its mesh: it says so, stops dialling, and drops every
    /// connection. It keeps its data; `weft status` and `weft doctor` say who removed it.
    pub(super) fn on_removed(&mut self, now: Now) {
        if !self.mesh.set_removed(now.secs()) {
            return;
        }
        self.commit.write(Write::SetRemovedAt(now.secs()));
        let by = self.removal().map(|r| r.by).unwrap_or_default();
        tracing::warn!(%by, "this node was removed from its mesh; it no longer connects to it");
        self.open_doors();
        self.peers.forget_all();
        self.keep.forget_lost();
        let peers: Vec<PeerId> = self.peers.ids().copied().collect();
        for peer in peers {
            self.out.push_back(Output::Disconnect(peer));
        }
    }

    /// The error a command that needs the mesh gets once this node was removed from it.
    pub(super) fn removed_error(&self) -> Option<NodeError> {
        let removal = self.removal()?;
        Some(NodeError::Forbidden(format!(
            "this node was removed from its mesh by {}; it no longer sends or receives there",
            removal.by
        )))
    }

    /// Who removed this node from its mesh and when it learnt so, once it was.
    pub fn removal(&self) -> Option<Removed> {
        let at = self.mesh.removed()?;
        let by = self
            .mesh
            .get()
            .and_then(|m| m.acl().revocation(&self.me.key))
            .and_then(|r| peer_of(&r.by))
            .map(|p| p.to_string())
            .unwrap_or_default();
        Some(Removed { by, at })
    }
}

/// Whether something may go to `peer` now: it is connected, or this node knows where to
/// find it and no dial of it is failing (it is then dialled on demand, see [`Core::reach`]).
pub(super) fn reachable(
    peers: &super::peers::Peers<PeerId, Multiaddr>,
    addresses: &crate::mesh::addresses::Addresses,
    peer: &PeerId,
) -> bool {
    peers.is_connected(peer) || (addresses.knows(peer) && !peers.is_scheduled(peer))
}
