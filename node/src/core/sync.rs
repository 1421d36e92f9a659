//! The ACL log between members, both ways: ops by gossip as they are made, and
//! `/weft/sync/1` on every new connection between members and every [`RESYNC_EVERY`]
//! (gossip can miss a member); and topic catch-up, which rides the same exchange.
//!
//! Only members are heard. Sync is asked of and answered for members only (and a member
//! just removed, which is sent the ops that tell it so and nothing else); an answer from
//! anyone else is dropped unread. Every op, however it came, passes [`Membership::admit`]:
//! one its author may not issue at that point of the log is dropped and counted (by gossip,
//! rejected, so the sender's score drops).
//!
//! [`RESYNC_EVERY`]: super::RESYNC_EVERY
//! [`Membership::admit`]: crate::mesh::membership::Membership::admit

use std::collections::HashSet;

use libp2p::{Multiaddr, PeerId};
use weft_proto::acl::{OpId, SignedOp};
use weft_proto::display::NameCard;
use weft_proto::mesh::MemberKey;
use weft_proto::seal::SealCard;
use weft_proto::sync::{
    Logged, MAX_FOLLOWED_TOPICS, MAX_SYNC_OPS, MAX_SYNC_PEERS, PeerAddrs, SyncRequest, SyncResponse,
};

use super::asks::Purpose;
use super::io::{Ask, AskedId, Now, Output, Response, Synced, Verdict};
use super::{Core, acl_sync, short};
use crate::mesh::log::{Admitted, Refused};
use crate::mesh::membership::key_of;

impl Core {
    /// Syncs again with a few connected members (at random, [`keep::SYNC_ROUND`] of them):
    /// what one lacks reaches it from some member within a few rounds, and the cost of a
    /// round does not grow with the mesh.
    ///
    /// None with a member in `closing`.
    ///
    /// [`keep::SYNC_ROUND`]: super::keep::SYNC_ROUND
    pub(super) fn resync(&mut self, closing: &[PeerId]) {
        let members: Vec<PeerId> = self
            .peers
            .ids()
            .filter(|p| self.admits(p) && !closing.contains(p))
            .copied()
            .collect();
        for peer in self.keep.sync_round(members) {
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
        let Some(mesh) = self.mesh.get() else {
            return;
        };
        if self.asks.is_syncing(&peer) {
            return;
        }
        let told = if member {
            acl_sync::Told {
                card: Some(self.me.card),
                topics: self.topics.marks(),
                name: mesh.name_card(&self.me.key).cloned().map(Box::new),
                directory: self.directory.mark(&peer),
            }
        } else {
            acl_sync::Told::default()
        };
        let request = acl_sync::request(mesh.log(), after, told);
        let id = self.asks.ask(Purpose::Sync { peer, after });
        self.out.push_back(Output::Ask {
            id,
            peer,
            ask: Ask::Sync(Box::new(request)),
        });
    }

    /// Answers `peer`'s sync request. A member gets the ops it lacks, where the other
    /// members are, and the topic messages it missed (read from the topic log by the
    /// shell); a member just removed gets the ops only (they tell it it was removed); anyone
    /// else gets nothing.
    pub(super) fn answer_sync(
        &mut self,
        asked: AskedId,
        peer: PeerId,
        request: SyncRequest,
        now: Now,
    ) {
        let (response, wanted) = self.sync_answer(peer, request, now);
        self.out.push_back(if wanted.is_empty() {
            Output::Answer {
                id: asked,
                response: Response::Sync(response),
            }
        } else {
            Output::AnswerSync {
                id: asked,
                response,
                wanted,
            }
        });
    }

    /// The answer to `peer`'s sync request, less the topic messages: the runs of them it
    /// lacks.
    fn sync_answer(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        now: Now,
    ) -> (SyncResponse, Vec<super::topics::Wanted>) {
        let member = self.admits(&peer);
        // A member just removed is sent the op that removed it and its past, nothing after.
        let removal = (!member && self.doors.is_leaving(&peer))
            .then(|| self.mesh.revocation_of(&peer))
            .flatten();
        let (Some(mesh), true) = (self.mesh.get(), member || removal.is_some()) else {
            self.count("sync", "sync");
            let reason = "not a member of this node's mesh".into();
            return (SyncResponse::Refused { reason }, Vec::new());
        };
        let answer = match acl_sync::answer(mesh.log(), removal.as_ref(), &request) {
            Ok(answer) => answer,
            Err(refusal) => {
                if refusal == acl_sync::Refusal::OtherMesh {
                    self.count("sync", "sync");
                }
                let reason = refusal.to_string();
                return (SyncResponse::Refused { reason }, Vec::new());
            }
        };
        let (ops, more) = (answer.ops, answer.more);
        if answer.ask_back {
            self.start_sync(peer);
        }
        if !member {
            let response = SyncResponse::Ops {
                ops,
                peers: Vec::new(),
                messages: Vec::new(),
                more,
                now_us: now.unix_us,
                links: Vec::new(),
                directory: None,
            };
            return (response, Vec::new());
        }
        self.learn_cards(&peer, request.card, request.name.map(|n| *n), now);
        let followed = request.topics.iter().map(|marks| marks.topic.clone());
        self.followers.said(peer, followed);
        let directory = self.member_addresses();
        let (peers, directory) =
            (self.directory).changes(directory, &peer, request.directory, MAX_SYNC_PEERS);
        let response = SyncResponse::Ops {
            ops,
            peers,
            messages: Vec::new(),
            more,
            now_us: now.unix_us,
            links: self.own_links(),
            directory: Some(directory),
        };
        (response, self.topics.wanted(&request.topics))
    }

    /// Where the members are (this node too), as far as this node knows, with their cards
    /// (sealing keys and display names): the whole directory, by member.
    fn member_addresses(&self) -> Vec<(PeerId, PeerAddrs)> {
        let Some(mesh) = self.mesh.get() else {
            return Vec::new();
        };
        let mut members: Vec<(&PeerId, &MemberKey)> = mesh.peers().collect();
        members.sort();
        members
            .into_iter()
            .filter_map(|(p, key)| {
                let (addrs, card) = if *p == self.me.peer {
                    let addrs = self.me.listen_addrs.iter().map(|a| a.to_string()).collect();
                    (addrs, Some(self.me.card))
                } else {
                    let addrs: Vec<String> = self
                        .mesh
                        .addresses()
                        .of(p)
                        .iter()
                        .map(|a| a.to_string())
                        .collect();
                    (addrs, mesh.card(key))
                };
                let topics = if *p == self.me.peer {
                    let mut mine: Vec<_> = self.topics.followed().cloned().collect();
                    mine.sort();
                    mine.truncate(MAX_FOLLOWED_TOPICS);
                    mine
                } else {
                    self.followers.said_by(p)
                };
                let entry = PeerAddrs {
                    peer: p.to_bytes(),
                    addrs,
                    card,
                    name: mesh.name_card(key).cloned(),
                    topics,
                };
                (!entry.addrs.is_empty()).then_some((*p, entry))
            })
            .collect()
    }

    /// Takes a sync answer from `peer`: only from a member (anything else is dropped
    /// unread). Asks for the next page when the answer said there is more.
    pub(super) fn on_synced(
        &mut self,
        peer: PeerId,
        after: Option<OpId>,
        result: Result<Synced, String>,
        now: Now,
    ) {
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
            self.count("sync", "sync_answer");
            tracing::debug!(peer = %short(&peer), "dropped a sync answer from a non-member");
            return;
        }
        self.peers.synced(&peer, synced.skew_us, now.at);
        let next = acl_sync::next_page(&synced.ops, after, synced.more, synced.messages.len());
        let new = self.take_ops(&peer, synced.ops, now);
        if new > 0 {
            tracing::info!(peer = %short(&peer), new, "ACL log synced");
        }
        // The ops may have removed it, or this node.
        if !self.admits(&peer) {
            return;
        }
        let took_all = self.meet_members(synced.peers, now);
        if let Some(mark) = synced.directory.filter(|_| took_all) {
            self.directory.reached(peer, mark, now.at);
        }
        self.heard_links(peer, synced.links, now);
        self.take_logged(peer, synced.messages, now);
        if let Some(after) = next {
            self.sync_with(peer, after);
        }
    }

    /// Admits ops `from` sent by sync, parents first; returns how many were new. Refused
    /// ones are counted and dropped.
    fn take_ops(&mut self, from: &PeerId, mut ops: Vec<SignedOp>, now: Now) -> usize {
        ops.truncate(MAX_SYNC_OPS);
        let Some(mesh) = self.mesh.get_mut() else {
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
            self.commit.write(crate::store::write::Write::PutOp(
                (first + n) as u32,
                Box::new(op),
            ));
        }
        self.take_changes(changes, now);
        new
    }

    /// Remembers where other members say members are (as hearsay: it never pushes out a
    /// member's own word) and learns their cards (each checked against its member's key),
    /// so members find each other without being told addresses; the standing members are
    /// drawn from them. False when an entry was left (about someone this node does not
    /// admit, perhaps not yet): the answerer's mark is then not kept.
    fn meet_members(&mut self, peers: Vec<PeerAddrs>, now: Now) -> bool {
        let mut seen = HashSet::new();
        let mut took_all = peers.len() <= MAX_SYNC_PEERS;
        for entry in peers.into_iter().take(MAX_SYNC_PEERS) {
            let Ok(peer) = PeerId::from_bytes(&entry.peer) else {
                continue;
            };
            if peer != self.me.peer && !self.admits(&peer) {
                // Perhaps a member whose admission has not reached this node yet: the
                // answerer must send it again.
                took_all = false;
            }
            if peer == self.me.peer || !self.admits(&peer) || !seen.insert(peer) {
                continue;
            }
            self.followers.heard(peer, entry.topics);
            self.learn_cards(&peer, entry.card, entry.name, now);
            let addrs: Vec<Multiaddr> = entry.addrs.iter().filter_map(|a| a.parse().ok()).collect();
            self.remember_heard(peer, &addrs);
        }
        self.top_up(now);
        took_all
    }

    /// Takes what member `peer`'s cards say, as a sync told them: its sealing key and its
    /// display name (each checked against its key).
    fn learn_cards(
        &mut self,
        peer: &PeerId,
        card: Option<SealCard>,
        name: Option<NameCard>,
        now: Now,
    ) {
        let Some(member) = key_of(peer) else {
            return;
        };
        if let Some(card) = card {
            self.learn_card(member, card);
        }
        if let Some(name) = name {
            self.learn_name(member, name, now);
        }
    }

    /// Decides a gossiped ACL op from `via` (a member: gossip is the members' protocol):
    /// forwarded when new and its author may issue it; rejected (the sender's score drops)
    /// when forged or not allowed; ignored when known, or when its parents are missing
    /// (then `via`, which has them, is synced with).
    pub(super) fn accept_acl_gossip(&mut self, via: &PeerId, data: &[u8], now: Now) -> Verdict {
        let op = match SignedOp::decode(data) {
            Ok(op) => op,
            Err(e) => {
                self.reject("acl_op", via, e.reason(), &e);
                return Verdict::Reject;
            }
        };
        let Some(mesh) = self.mesh.get_mut() else {
            return Verdict::Ignore;
        };
        match mesh.admit(op.clone()) {
            Ok((Admitted::New, changes)) => {
                self.stored_admitted(op);
                self.take_changes(changes, now);
                Verdict::Accept
            }
            Ok((Admitted::Known, _)) => Verdict::Ignore,
            Err(Refused::MissingParents(_)) => {
                self.start_sync(*via);
                Verdict::Ignore
            }
            // Not the sender's fault: it may not have heard of the removal yet, or the
            // log is full here.
            Err(refused @ (Refused::Removed | Refused::Full)) => {
                self.reject("acl_op", via, refused.reason(), &refused);
                Verdict::Ignore
            }
            Err(refused) => {
                self.reject("acl_op", via, refused.reason(), &refused);
                Verdict::Reject
            }
        }
    }

    /// Takes the messages a sync brought from `peer`: each is checked as if it came from its
    /// publisher.
    fn take_logged(&mut self, peer: PeerId, messages: Vec<Logged>, now: Now) {
        let handed_on: Vec<Logged> = self.topics.handed_on(messages).collect();
        let mut taken = 0;
        for logged in handed_on {
            let Some(publisher) = crate::mesh::membership::peer_of(&logged.publisher) else {
                continue;
            };
            if let super::gossip::Taken::Stored = self.take_topic(publisher, logged.message, now) {
                taken += 1;
            }
        }
        if taken > 0 {
            tracing::info!(peer = %short(&peer), taken, "took topic messages from a catch-up");
        }
    }
}
