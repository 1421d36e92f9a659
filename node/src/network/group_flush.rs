//! Write-behind group commit.
//!
//! The event loop queues store changes ([`Write`]) and the things that must wait until those
//! changes are on disk ([`Durable`]). One task at a time, on the blocking pool, applies every
//! queued write in order and then flushes; when it ends, everything that waited for it is
//! released. A burst of N messages costs one or two flushes, not N, and the loop never blocks
//! on the disk (sled blocks writers while it flushes, so the loop does not write at all).
//!
//! Until their batch is applied, queued writes are visible through
//! [`GroupFlush::holds_message`] (for de-duplication) and [`GroupFlush::queued_message`] (for
//! sending).

use std::collections::{HashMap, HashSet};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use weft_proto::MessageId;
use weft_proto::api::Message;
use weft_proto::dm::{DirectMessage, DmAck};

use super::dm_stream::SessionId;
use super::handle::{NodeError, Queued};
use crate::store::outbox::Outgoing;
use crate::store::write::{Applied, Write};
use crate::store::{Store, StoreError};

/// Something to release once the writes before it are on disk.
#[derive(Debug)]
pub enum Durable {
    /// Answer a peer's direct message, then tell local listeners about it.
    Ack {
        /// The inbound session the answer goes to.
        session: SessionId,
        /// The answer.
        ack: DmAck,
        /// The message, when it went to history: unless the writer found it there already
        /// (then the answer says `Duplicate`), local listeners hear of it.
        received: Option<Box<Message>>,
    },
    /// Tell a local caller its direct message is queued.
    Queued {
        /// The caller.
        reply: oneshot::Sender<Result<Queued, NodeError>>,
        /// What to tell it.
        queued: Queued,
    },
    /// Tell a local caller its topic message is published.
    Published {
        /// The caller.
        reply: oneshot::Sender<Result<(MessageId, usize), NodeError>>,
        /// The message id and subscriber count.
        result: (MessageId, usize),
    },
    /// Tell local listeners about a message that went to history, unless the writer found
    /// it there already.
    Received(Box<Message>),
    /// Run this once the writes before it are on disk (`true`) or failed to get there.
    Then(Then),
}

/// Work that waits for a flush: it hears whether the flush succeeded.
pub struct Then(pub Box<dyn FnOnce(bool) + Send>);

impl std::fmt::Debug for Then {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Then(..)")
    }
}

/// A batch being applied and flushed on the blocking pool.
type FlushTask = JoinHandle<Result<Applied, StoreError>>;

/// The group-commit state.
#[derive(Default)]
pub struct GroupFlush {
    writes: Vec<Write>,
    waiting: Vec<Durable>,
    running: Option<(FlushTask, Vec<Durable>, Vec<MessageId>)>,
    /// History ids queued or being applied.
    unapplied_messages: HashSet<MessageId>,
    /// Outbox entries queued or being applied.
    unapplied_outbox: HashMap<MessageId, DirectMessage>,
}

impl GroupFlush {
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
            Write::SetState(..)
            | Write::MarkHeld(..)
            | Write::PutCard(..)
            | Write::HoldBox(..)
            | Write::ReleaseBox(..)
            | Write::LogTopic(..)
            | Write::PruneBefore(..)
            | Write::SetMesh(..)
            | Write::PutOp(..)
            | Write::PutInvite(..)
            | Write::PutPeer(..)
            | Write::ForgetPeer(..)
            | Write::SetRemovedAt(..)
            | Write::Follow(..)
            | Write::Unfollow(..) => {}
        }
        self.writes.push(write);
    }

    /// Holds `item` until every write queued so far is on disk.
    pub fn push(&mut self, item: Durable) {
        self.waiting.push(item);
    }

    /// Whether a history insert of `id` is queued but not yet applied.
    pub fn holds_message(&self, id: &MessageId) -> bool {
        self.unapplied_messages.contains(id)
    }

    /// Outbox message `id` if its write is queued but not yet applied.
    pub fn queued_message(&self, id: &MessageId) -> Option<&DirectMessage> {
        self.unapplied_outbox.get(id)
    }

    /// Outbox message `id` for the wire: itself while its write is queued, else its id, to
    /// be read from disk by whoever sends it.
    pub fn outgoing(&self, id: MessageId) -> Outgoing {
        match self.queued_message(&id) {
            Some(message) => Outgoing::Here(message.clone()),
            None => Outgoing::Stored(id),
        }
    }

    /// Starts applying and flushing if no batch runs and anything is queued.
    pub fn start(&mut self, store: &Store) {
        if self.running.is_some() || (self.writes.is_empty() && self.waiting.is_empty()) {
            return;
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
        let store = store.clone();
        let task = tokio::task::spawn_blocking(move || {
            let applied = store.apply(&writes)?;
            store.flush()?;
            Ok(applied)
        });
        self.running = Some((task, std::mem::take(&mut self.waiting), ids));
    }

    /// Whether a batch is running.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Resolves when the running batch ends, with its outcome and the items it released.
    /// Pending forever when none runs (guard the `select!` branch with [`Self::is_running`]).
    pub async fn finished(&mut self) -> (Result<Applied, StoreError>, Vec<Durable>) {
        let Some((task, _, _)) = self.running.as_mut() else {
            return std::future::pending().await;
        };
        let result = match task.await {
            Ok(result) => result,
            Err(join) => Err(StoreError::Sled(sled::Error::ReportableBug(
                join.to_string(),
            ))),
        };
        let Some((_, items, ids)) = self.running.take() else {
            return (result, Vec::new());
        };
        for id in ids {
            // Applied (or failed for good): from now on the store is the truth.
            self.unapplied_messages.remove(&id);
            self.unapplied_outbox.remove(&id);
        }
        (result, items)
    }
}
