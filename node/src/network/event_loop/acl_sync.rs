//! The ACL log between members: ops by gossip as they are made, and `/weft/sync/1` on every
//! new connection between members and every [`RESYNC_EVERY`] (gossip can miss a member).
//!
//! Only members are heard. Sync is asked of and answered for members only (and a member
//! just removed, which is sent the ops that tell it so and nothing else); an answer from
//! anyone else is dropped unread. Every op, however it came, passes [`Membership::admit`]:
//! one its author may not issue at that point of the log is dropped and counted (by gossip,
//! rejected, so the sender's score drops).
//!
//! [`Membership::admit`]: crate::mesh::membership::Membership::admit

use std::collections::HashSet;
use std::time::{Duration, Instant};

use libp2p::gossipsub::MessageAcceptance;
use libp2p::{Multiaddr, PeerId};
use weft_proto::acl::{OpId, SignedOp};
use weft_proto::sync::{MAX_SYNC_OPS, PeerAddrs, SyncRequest, SyncResponse};

use super::{EventLoop, catch_up, short};
use crate::core;
use crate::delivery::clock::wall_us;
use crate::mesh::addresses::MAX_HEARD;
use crate::mesh::log::{Admitted, Refused};
use crate::mesh::membership::key_of;
use crate::network::exchange::Asked;
use crate::network::sync;
use crate::store::write::Write;

/// How often connected members are synced with again.
pub(super) const RESYNC_EVERY: Duration = Duration::from_secs(10);

/// Most members' addresses in one sync answer.
const MAX_SYNC_PEERS: usize = 256;

impl EventLoop {
    /// Syncs again with every connected member not being synced with already.
    pub(super) fn resync(&mut self, now: Instant) {
        if now < self.next_resync {
            return;
        }
        self.next_resync = now + RESYNC_EVERY;
        let members: Vec<PeerId> = self
            .peers
            .ids()
            .filter(|p| self.admits(p))
            .copied()
            .collect();
        for peer in members {
            self.start_sync(peer);
        }
    }

    /// Asks `peer` for what this node lacks, when it is a member (or was just removed and
    /// may hold ops this node lacks) and no sync with it is under way. The request tells a
    /// member which topics this node follows and how far; anyone else, nothing but the log's
    /// summary.
    pub(super) fn start_sync(&mut self, peer: PeerId) {
        self.sync_with(peer, None);
    }

    /// Asks `peer` (as [`Self::start_sync`]) for what this node lacks, after op `after` when
    /// paging a capped answer.
    fn sync_with(&mut self, peer: PeerId, after: Option<OpId>) {
        let member = self.admits(&peer);
        if !member && !self.doors.is_leaving(&peer) {
            return;
        }
        if self.mesh.is_none() || self.syncing.contains_key(&peer) {
            return;
        }
        self.syncing.insert(peer, after);
        let (card, topics) = if member {
            (
                Some(self.mailboxes.card(&self.identity)),
                self.topics.marks(),
            )
        } else {
            (None, Vec::new())
        };
        let Some(mesh) = &self.mesh else {
            return;
        };
        let request = core::acl_sync::request(mesh.log(), after, card, topics);
        let (control, results) = (self.control.clone(), self.synced_tx.clone());
        self.tasks.spawn("sync", async move {
            let result = sync::request(control, peer, request).await;
            let _ = results.send((peer, result)).await;
        });
    }

    /// Answers `peer`'s sync request. A member gets the ops it lacks, where the other
    /// members are, and the topic messages it missed; a member just removed gets the ops
    /// only (they tell it it was removed); anyone else gets nothing.
    ///
    /// The topic messages are read from the store beside the loop; the answer goes once they
    /// are.
    pub(super) fn answer_sync(&mut self, asked: Asked<SyncRequest, SyncResponse>) {
        let Asked {
            peer,
            request,
            reply,
        } = asked;
        let (mut response, wanted) = self.sync_answer(peer, request);
        if wanted.is_empty() {
            let _ = reply.send(response);
            return;
        }
        let log = self.store.topics_log.clone();
        self.tasks.spawn("sync answer", async move {
            let read = tokio::task::spawn_blocking(move || catch_up::read_logged(&log, &wanted));
            let (logged, more_logged) = read.await.unwrap_or_default();
            if let SyncResponse::Ops { messages, more, .. } = &mut response {
                *messages = logged;
                *more |= more_logged;
            }
            let _ = reply.send(response);
        });
    }

    /// The answer to `peer`'s sync request, less the topic messages: the runs of them it
    /// lacks.
    fn sync_answer(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
    ) -> (SyncResponse, Vec<core::topics::Wanted>) {
        let member = self.admits(&peer);
        // A member just removed is sent the op that removed it and its past, nothing after.
        let removal = (!member && self.doors.is_leaving(&peer))
            .then(|| self.revocation_of(&peer))
            .flatten();
        let (Some(mesh), true) = (self.mesh.as_ref(), member || removal.is_some()) else {
            self.rejected.add("sync");
            let reason = "not a member of this node's mesh".into();
            return (SyncResponse::Refused { reason }, Vec::new());
        };
        let answer = match core::acl_sync::answer(mesh.log(), removal.as_ref(), &request) {
            Ok(answer) => answer,
            Err(refusal) => {
                if refusal == core::acl_sync::Refusal::OtherMesh {
                    self.rejected.add("sync");
                }
                let reason = refusal.to_string();
                return (SyncResponse::Refused { reason }, Vec::new());
            }
        };
        let (ops, more_ops) = (answer.ops, answer.more);
        if answer.ask_back {
            self.start_sync(peer);
        }
        if !member {
            let response = SyncResponse::Ops {
                ops,
                peers: Vec::new(),
                messages: Vec::new(),
                more: more_ops,
                now_us: wall_us(),
            };
            return (response, Vec::new());
        }
        if let (Some(card), Some(key)) = (request.card, key_of(&peer)) {
            self.learn_card(key, card);
        }
        let response = SyncResponse::Ops {
            ops,
            peers: self.member_addresses(&peer),
            messages: Vec::new(),
            more: more_ops,
            now_us: wall_us(),
        };
        (response, self.topics.wanted(&request.topics))
    }

    /// Where the members but `asker` are, as far as this node knows, with their cards.
    fn member_addresses(&self, asker: &PeerId) -> Vec<PeerAddrs> {
        let Some(mesh) = &self.mesh else {
            return Vec::new();
        };
        mesh.peers()
            .filter(|(p, _)| *p != asker)
            .filter_map(|(p, key)| {
                let (addrs, card) = if *p == self.local {
                    let addrs = self.listen_addrs.iter().map(|a| a.to_string()).collect();
                    (addrs, Some(self.mailboxes.card(&self.identity)))
                } else {
                    let addrs: Vec<String> =
                        self.addresses.of(p).iter().map(|a| a.to_string()).collect();
                    (addrs, mesh.card(key))
                };
                (!addrs.is_empty()).then(|| PeerAddrs {
                    peer: p.to_bytes(),
                    addrs,
                    card,
                })
            })
            .take(MAX_SYNC_PEERS)
            .collect()
    }

    /// Takes a sync answer from `peer`: only from a member (anything else is dropped
    /// unread). Asks for the next page when the answer said there is more.
    pub(super) fn on_synced(&mut self, peer: PeerId, result: Result<sync::Synced, String>) {
        let after = self.syncing.remove(&peer).flatten();
        let synced = match result {
            Ok(synced) => synced,
            Err(reason) => {
                tracing::debug!(peer = %short(&peer), %reason, "no ACL sync");
                return;
            }
        };
        if self.doors.is_leaving(&peer) {
            // Asked only so that it asks back (and hears of its removal).
            return;
        }
        if !self.admits(&peer) {
            self.rejected.add("sync_answer");
            tracing::debug!(peer = %short(&peer), "dropped a sync answer from a non-member");
            return;
        }
        self.peers.synced(&peer, synced.skew_us, Instant::now());
        let next =
            core::acl_sync::next_page(&synced.ops, after, synced.more, synced.messages.len());
        let new = self.take_ops(&peer, synced.ops);
        if new > 0 {
            tracing::info!(peer = %short(&peer), new, "ACL log synced");
        }
        // The ops may have removed it, or this node.
        if !self.admits(&peer) {
            return;
        }
        self.meet_members(synced.peers);
        self.take_logged(peer, synced.messages);
        if let Some(after) = next {
            self.sync_with(peer, after);
        }
    }

    /// Admits ops `from` sent by sync, parents first; returns how many were new. Refused
    /// ones are counted and dropped.
    fn take_ops(&mut self, from: &PeerId, mut ops: Vec<SignedOp>) -> usize {
        ops.truncate(MAX_SYNC_OPS);
        let Some(mesh) = self.mesh.as_mut() else {
            return 0;
        };
        let (batch, changes) = mesh.admit_all(ops);
        let first = mesh.log().len() - batch.new.len();
        for refused in &batch.refused {
            self.reject("acl_op", from, refused.reason(), refused);
        }
        // The batch's ops are the last the log admitted, in order: their places in it.
        let new = batch.new.len();
        for (n, op) in batch.new.into_iter().enumerate() {
            self.flush
                .write(Write::PutOp((first + n) as u32, Box::new(op)));
        }
        self.take_changes(changes);
        new
    }

    /// Admits `op` into the log; when new, stores it and carries what changed to the doors.
    fn admit_op(&mut self, op: SignedOp) -> Result<Admitted, Refused> {
        let mesh = self.mesh.as_mut().ok_or(Refused::OtherMesh)?;
        let (admitted, changes) = mesh.admit(op.clone())?;
        if admitted == Admitted::New {
            self.stored_admitted(op);
            self.take_changes(changes);
        }
        Ok(admitted)
    }

    /// Remembers where other members say members are (as hearsay: it never pushes out a
    /// member's own word), learns their cards, and dials those this node is not connected
    /// to, so members find each other without being told addresses.
    fn meet_members(&mut self, peers: Vec<PeerAddrs>) {
        let now = Instant::now();
        let mut seen = HashSet::new();
        for entry in peers.into_iter().take(MAX_SYNC_PEERS) {
            let Ok(peer) = PeerId::from_bytes(&entry.peer) else {
                continue;
            };
            if peer == self.local || !self.admits(&peer) || !seen.insert(peer) {
                continue;
            }
            if let (Some(card), Some(member)) = (entry.card, key_of(&peer)) {
                self.learn_card(member, card);
            }
            let addrs: Vec<Multiaddr> = entry
                .addrs
                .iter()
                .filter_map(|a| a.parse().ok())
                .take(MAX_HEARD)
                .collect();
            if let Some(write) = self.addresses.heard(peer, &addrs) {
                self.flush.write(write);
            }
            for addr in self.addresses.of(&peer) {
                self.swarm.add_peer_address(peer, addr);
            }
            if !self.peers.is_connected(&peer) {
                self.peers.dial_soon(peer, now);
            }
        }
    }

    /// Decides a gossiped ACL op from `via` (a member: gossip is the members' protocol):
    /// forwarded when new and its author may issue it; rejected (the sender's score drops)
    /// when forged or not allowed; ignored when known, or when its parents are missing
    /// (then `via`, which has them, is synced with).
    pub(super) fn accept_acl_gossip(&mut self, via: &PeerId, data: &[u8]) -> MessageAcceptance {
        let op = match SignedOp::decode(data) {
            Ok(op) => op,
            Err(e) => {
                self.reject("acl_op", via, e.reason(), &e);
                return MessageAcceptance::Reject;
            }
        };
        match self.admit_op(op) {
            Ok(Admitted::New) => MessageAcceptance::Accept,
            Ok(Admitted::Known) => MessageAcceptance::Ignore,
            // Not the sender's fault: it may not have heard of the removal yet.
            Err(Refused::Removed) => {
                self.reject("acl_op", via, Refused::Removed.reason(), &Refused::Removed);
                MessageAcceptance::Ignore
            }
            Err(Refused::MissingParents(_)) => {
                self.start_sync(*via);
                MessageAcceptance::Ignore
            }
            Err(Refused::Full) => {
                self.reject("acl_op", via, Refused::Full.reason(), &Refused::Full);
                MessageAcceptance::Ignore
            }
            Err(refused) => {
                self.reject("acl_op", via, refused.reason(), &refused);
                MessageAcceptance::Reject
            }
        }
    }
}
