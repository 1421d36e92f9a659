//! [`Commit`]: group commit, as bookkeeping without IO. The core queues store changes
//! ([`Write`]) and what must wait until they are on disk ([`Durable`]); the shell takes
//! everything queued as one [`Commit::batch`] when no batch runs, applies it and flushes it
//! beside the loop, and says when it ended ([`Commit::flushed`]): only then is what waited
//! released. A burst of N messages costs one or two flushes, not N, and nothing is
//! acknowledged, to a peer or to a local caller, before it is on disk.
//!
//! Until their batch is applied, queued writes are visible here: whether history is about
//! to hold a message ([`Commit::holds_message`], for de-duplication) and the bytes of an
//! outbox message not yet in the outbox ([`Commit::outgoing`], for sending).

use std::collections::{HashMap, HashSet};

use weft_proto::MessageId;
use weft_proto::api::Message;
use weft_proto::dm::{DirectMessage, DmAck};

use libp2p::PeerId;

use super::collect::Step;
use super::io::{Output, SessionId, Ticket};
use crate::store::outbox::Outgoing;
use crate::store::write::Write;

/// Something released once the writes queued before it are on disk.
#[derive(Debug)]
pub enum Durable {
    /// Answer a peer's direct message; local listeners hear of it when the writer found it
    /// new (else the answer says `Duplicate`).
    Ack {
        /// The inbound session the answer goes to.
        session: SessionId,
        /// The answer.
        ack: DmAck,
        /// The message, when it went to history.
        received: Option<Box<Message>>,
    },
    /// Local listeners hear of a message that went to history, when the writer found it
    /// new.
    Received(Box<Message>),
    /// Local listeners hear of `publisher`'s topic message `seq` on `topic`, which went to
    /// history, when the writer found it new: in the publisher's order
    /// ([`super::in_order`]).
    Published {
        /// The message.
        message: Box<Message>,
        /// Its topic.
        topic: weft_proto::topic::TopicName,
        /// Its publisher's key.
        publisher: weft_proto::mesh::MemberKey,
        /// Its number in the publisher's run.
        seq: u64,
    },
    /// A local caller's answer may go.
    Release(Ticket),
    /// Carry this out (an answer to a peer, an exchange to start).
    Then(Box<Output>),
    /// A step of collecting from `mailbox` ended as `step` (its boxes' contents are on
    /// disk, or there were none).
    Collected {
        /// The mailbox.
        mailbox: PeerId,
        /// How the step ended.
        step: Step,
    },
}

impl Durable {
    /// Carry `output` out once the writes before it are on disk.
    pub fn then(output: Output) -> Durable {
        Durable::Then(Box::new(output))
    }
}

/// The writes queued, the batch running, and what waits for each.
#[derive(Debug, Default)]
pub struct Commit {
    writes: Vec<Write>,
    waiting: Vec<Durable>,
    /// What waits for the running batch, and the message ids its writes carry.
    running: Option<(Vec<Durable>, Vec<MessageId>)>,
    /// History inserts queued or running.
    unapplied_messages: HashSet<MessageId>,
    /// Outbox entries queued or running.
    unapplied_outbox: HashMap<MessageId, DirectMessage>,
    tickets: u64,
}

impl Commit {
    /// Queues a change for the next batch.
    pub fn write(&mut self, write: Write) {
        match &write {
            Write::InsertHistory(m) => {
                self.unapplied_messages.insert(m.id);
            }
            Write::PutOutbox(entry) => {
                self.unapplied_outbox
                    .insert(entry.message.id, entry.message.clone());
            }
            Write::RemoveOutbox(id) => {
                self.unapplied_outbox.remove(id);
            }
            _ => {}
        }
        self.writes.push(write);
    }

    /// Holds `item` until every write queued so far is on disk.
    pub fn after(&mut self, item: Durable) {
        self.waiting.push(item);
    }

    /// A ticket for a local caller's answer, released once every write queued so far is
    /// on disk (see [`Output::Released`]).
    pub fn ticket(&mut self) -> Ticket {
        self.tickets += 1;
        let ticket = Ticket(self.tickets);
        self.after(Durable::Release(ticket));
        ticket
    }

    /// Whether a history insert of `id` is queued or running, not yet applied.
    pub fn holds_message(&self, id: &MessageId) -> bool {
        self.unapplied_messages.contains(id)
    }

    /// Outbox message `id` for the wire: itself while its write is not applied yet, else
    /// its id, to be read from disk by whoever sends it.
    pub fn outgoing(&self, id: MessageId) -> Outgoing {
        match self.unapplied_outbox.get(&id) {
            Some(message) => Outgoing::Here(message.clone()),
            None => Outgoing::Stored(id),
        }
    }

    /// The next batch to apply and flush: everything queued, when no batch runs and
    /// anything is queued (writes, or only answers waiting for the last batch's flush).
    pub fn batch(&mut self) -> Option<Vec<Write>> {
        if self.running.is_some() || (self.writes.is_empty() && self.waiting.is_empty()) {
            return None;
        }
        let writes = std::mem::take(&mut self.writes);
        let ids = writes
            .iter()
            .filter_map(|w| match w {
                Write::InsertHistory(m) => Some(m.id),
                Write::PutOutbox(e) => Some(e.message.id),
                _ => None,
            })
            .collect();
        self.running = Some((std::mem::take(&mut self.waiting), ids));
        Some(writes)
    }

    /// Whether a batch runs.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The running batch ended (applied and flushed, or failed for good: either way the
    /// store is the truth for its writes from now on); what waited for it.
    pub fn flushed(&mut self) -> Vec<Durable> {
        let Some((waiting, ids)) = self.running.take() else {
            return Vec::new();
        };
        for id in ids {
            self.unapplied_messages.remove(&id);
            self.unapplied_outbox.remove(&id);
        }
        waiting
    }

    /// Whether nothing is queued or running.
    pub fn is_idle(&self) -> bool {
        self.running.is_none() && self.writes.is_empty() && self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use weft_proto::api::{Direction, Kind};

    use super::*;

    fn message(n: u8) -> Box<Message> {
        Box::new(Message {
            id: MessageId([n; 32]),
            kind: Kind::Direct,
            direction: Direction::In,
            from: String::new(),
            to: None,
            topic: None,
            ts: 1,
            text: "x".into(),
            state: None,
        })
    }

    #[test]
    fn what_waits_is_released_only_with_the_batch_that_carried_the_writes_before_it() {
        let mut commit = Commit::default();
        commit.write(Write::InsertHistory(message(1)));
        let first = commit.ticket();
        let batch = commit.batch().expect("a batch");
        assert_eq!(batch.len(), 1);
        assert!(
            commit.holds_message(&MessageId([1; 32])),
            "running, not applied"
        );
        // Queued while the first runs: it waits for the second batch.
        commit.write(Write::InsertHistory(message(2)));
        let second = commit.ticket();
        assert!(commit.batch().is_none(), "one batch at a time");
        let released: Vec<_> = commit.flushed().into_iter().collect();
        assert!(matches!(released[..], [Durable::Release(t)] if t == first));
        assert!(!commit.holds_message(&MessageId([1; 32])));
        assert!(commit.holds_message(&MessageId([2; 32])));
        assert_eq!(commit.batch().map(|b| b.len()), Some(1));
        assert!(matches!(commit.flushed()[..], [Durable::Release(t)] if t == second));
        assert!(commit.is_idle());
    }
}
