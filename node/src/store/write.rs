//! [`Write`]: one change to the store, queued by the event loop and applied, in order and in
//! batches, by the flush task just before it flushes. The event loop never writes to these
//! trees itself: sled blocks writers while a flush runs, and a loop blocked behind every
//! flush would serialise all traffic behind the disk.
//!
//! The writer is also where a message is found new or known: [`Applied`] names the history
//! inserts that found their message already stored, so the loop never reads history to tell.

use std::collections::HashSet;

use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use weft_proto::MessageId;
use weft_proto::acl::SignedOp;
use weft_proto::api::{DeliveryState, Message};
use weft_proto::mesh::{MemberKey, MeshId};
use weft_proto::queue::ItemId;

use weft_proto::display::NameCard;
use weft_proto::seal::SealCard;
use weft_proto::topic::{TopicMessage, TopicName};

use super::mailbox::HeldBox;
use super::mesh::InviteRecord;
use super::outbox::OutboxEntry;
use super::peers::KnownAddrs;
use super::queues::{DoneItem, StoredItem};
use super::{Store, StoreError};

/// One queued change. Serialized only into the store's [`super::journal`], which reads back
/// what this build wrote: a variant's fields may change with the journal's version.
///
/// After a crash the journal's batches are applied again over a database that may hold any
/// prefix of them, so applying a write must leave the same store whether it was applied
/// before or not, once the writes after it are applied too: puts, removes, and inserts
/// that skip what is there. A counter kept by adding would break that.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Write {
    /// Add an unacknowledged direct message to the outbox.
    PutOutbox(OutboxEntry),
    /// Drop an acknowledged message from the outbox.
    RemoveOutbox(MessageId),
    /// Mark an outbox message held by a mailbox.
    MarkHeld(MessageId),
    /// Store a message in history unless its id is already there.
    InsertHistory(Box<Message>),
    /// Record where delivery of a sent message stands.
    SetState(MessageId, DeliveryState),
    /// Remember a member's verified sealing-key card.
    PutCard(MemberKey, SealCard),
    /// Store a member's verified display-name card.
    PutNameCard(MemberKey, Box<NameCard>),
    /// Hold a sealed box for a member (recipient key, arrival, box id, the box).
    HoldBox(MemberKey, u64, [u8; 32], Box<HeldBox>),
    /// Drop a member's held box (recipient key, box id).
    ReleaseBox(MemberKey, [u8; 32]),
    /// Log a topic message of a publisher (its key) for catch-up.
    LogTopic(MemberKey, Box<TopicMessage>),
    /// Drop history and logged topic messages older than this (microseconds since the Unix
    /// epoch).
    PruneBefore(u64),
    /// Record the mesh this node belongs to.
    SetMesh(MeshId),
    /// Store admitted ACL op number `seq`.
    PutOp(u32, Box<SignedOp>),
    /// Store an invite this node issued (or its remaining uses).
    PutInvite([u8; 16], InviteRecord),
    /// Remember where a member can be reached (the whole list, replacing the old one).
    PutPeer(#[serde(with = "peer_bytes")] PeerId, KnownAddrs),
    /// Forget a peer's addresses.
    ForgetPeer(#[serde(with = "peer_bytes")] PeerId),
    /// Record when this node learnt it was removed from its mesh (Unix seconds).
    SetRemovedAt(u64),
    /// Follow a topic (re-joined on start).
    Follow(TopicName),
    /// Stop following a topic.
    Unfollow(TopicName),
    /// Hold a pushed work item and its bytes.
    PushItem(ItemId, Box<StoredItem>, Vec<u8>),
    /// Rewrite what is known of a held work item.
    SetItem(ItemId, Box<StoredItem>),
    /// A held work item was acknowledged.
    FinishItem(ItemId, DoneItem),
    /// Forget an acknowledged work item.
    ForgetDone(ItemId),
}

/// What applying a batch found.
#[derive(Debug, Default)]
pub struct Applied {
    /// Messages whose history insert found them stored already.
    pub known: HashSet<MessageId>,
}

impl Store {
    /// Applies `writes` in order. Not durable until [`Store::flush`].
    pub fn apply(&self, writes: &[Write]) -> Result<Applied, StoreError> {
        let mut applied = Applied::default();
        for write in writes {
            match write {
                Write::PutOutbox(entry) => self.outbox.put(entry)?,
                Write::RemoveOutbox(id) => self.outbox.remove(id)?,
                Write::MarkHeld(id) => self.outbox.mark_held(id)?,
                Write::InsertHistory(message) => {
                    if !self.history.insert_if_new(message)? {
                        applied.known.insert(message.id);
                    }
                }
                Write::SetState(id, state) => self.history.set_state(id, *state)?,
                Write::PutCard(member, card) => self.mesh.put_card(member, card)?,
                Write::PutNameCard(member, card) => self.mesh.put_name_card(member, card)?,
                Write::HoldBox(to, at, id, held) => self.mailbox.hold(to, *at, id, held)?,
                Write::ReleaseBox(to, id) => self.mailbox.release(to, id)?,
                Write::LogTopic(publisher, message) => self.topics_log.add(publisher, message)?,
                Write::SetMesh(id) => {
                    self.mesh.set_id(*id)?;
                }
                Write::PutOp(seq, op) => self.mesh.put_op(*seq, op)?,
                Write::PutInvite(id, record) => self.mesh.put_invite(id, record)?,
                Write::PutPeer(peer, addrs) => self.peers.put(peer, addrs)?,
                Write::ForgetPeer(peer) => self.peers.forget(peer)?,
                Write::SetRemovedAt(at) => self.mesh.set_removed_at(*at)?,
                Write::Follow(topic) => {
                    self.topics.add(topic)?;
                }
                Write::Unfollow(topic) => {
                    self.topics.remove(topic)?;
                }
                Write::PushItem(id, item, body) => self.queues.push(id, item, body)?,
                Write::SetItem(id, item) => self.queues.set(id, item)?,
                Write::FinishItem(id, done) => self.queues.finish(id, done)?,
                Write::ForgetDone(id) => self.queues.forget_done(id)?,
                Write::PruneBefore(cutoff) => {
                    let messages = self.history.prune_before(*cutoff)?;
                    let logged = self.topics_log.prune_before(*cutoff)?;
                    if messages + logged > 0 {
                        tracing::info!(messages, logged, "pruned history past its retention");
                    }
                }
            }
        }
        Ok(applied)
    }
}

/// A [`PeerId`] in the journal: its bytes, as a byte string.
mod peer_bytes {
    use libp2p::PeerId;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(peer: &PeerId, s: S) -> Result<S::Ok, S::Error> {
        weft_proto::codec::byte_vec::serialize(&peer.to_bytes(), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PeerId, D::Error> {
        let bytes = weft_proto::codec::byte_vec::deserialize(d)?;
        PeerId::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}
