//! Write-behind group commit.
//!
//! The event loop queues store changes ([`Write`]) and the things that must wait until those
//! changes are on disk ([`Durable`]). One task at a time, on the blocking pool, applies every
//! queued write in order and then flushes; when it ends, everything that waited for it is
//! released. A burst of N messages costs one or two flushes, not N, and the loop never blocks
//! on the disk (sled blocks writers while it flushes, so the loop does not write at all).
//!
//! Until their batch is applied, queued writes are visible through
//! [`GroupFlush::holds_message`] (for de-duplication) and [`GroupFlush::outbox_entry`] (for
//! sending).

use std::collections::{HashMap, HashSet};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use weft_proto::MessageId;
use weft_proto::api::Event;
use weft_proto::dm::DmAck;

use super::dm_stream::SessionId;
use super::handle::{NodeError, Queued};
use crate::store::outbox::OutboxEntry;
use crate::store::write::Write;
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
        /// The event for local listeners, when the message was new.
        event: Option<Event>,
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
    /// Tell local listeners about a stored topic message.
    Event(Event),
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
type FlushTask = JoinHandle<Result<(), StoreError>>;

/// The group-commit state.
#[derive(Default)]
pub struct GroupFlush {
    writes: Vec<Write>,
    waiting: Vec<Durable>,
    running: Option<(FlushTask, Vec<Durable>, Vec<MessageId>)>,
    /// History ids queued or being applied.
    unapplied_messages: HashSet<MessageId>,
    /// Outbox entries queued or being applied.
    unapplied_outbox: HashMap<MessageId, OutboxEntry>,
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
                    .insert(entry.message.id, entry.clone());
            }
            Write::RemoveOutbox(id) => {
                self.unapplied_outbox.remove(id);
            }
            Write::SetState(..)
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
            | Write::SetRemovedAt(..) => {}
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

    /// The outbox entry for `id` if its write is queued but not yet applied.
    pub fn outbox_entry(&self, id: &MessageId) -> Option<&OutboxEntry> {
        self.unapplied_outbox.get(id)
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
            store.apply(&writes)?;
            store.flush().map(|_| ())
        });
        self.running = Some((task, std::mem::take(&mut self.waiting), ids));
    }

    /// Whether a batch is running.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Resolves when the running batch ends, with its outcome and the items it released.
    /// Pending forever when none runs (guard the `select!` branch with [`Self::is_running`]).
    pub async fn finished(&mut self) -> (Result<(), StoreError>, Vec<Durable>) {
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
