//! Group commit. Writes go to sled at once (in memory); what must not be acknowledged before
//! it is on disk waits here as a [`Durable`]. One flush runs at a time, off the event loop;
//! everything that waited when it started is released when it ends, so a burst of N writes
//! costs one or two fsyncs, not N.

use libp2p::request_response::ResponseChannel;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use weft_proto::MessageId;
use weft_proto::api::Event;
use weft_proto::dm::DmAck;

use super::handle::{NodeError, Queued};
use crate::store::{Store, StoreError};

/// Something to release once the writes before it are on disk.
#[derive(Debug)]
pub enum Durable {
    /// Answer a peer's direct message, then tell local listeners about it.
    Ack {
        /// Where the answer goes.
        channel: ResponseChannel<DmAck>,
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
}

/// A flush running on the blocking pool.
type FlushTask = JoinHandle<Result<usize, StoreError>>;

/// The group-commit state.
#[derive(Default)]
pub struct GroupFlush {
    waiting: Vec<Durable>,
    running: Option<(FlushTask, Vec<Durable>)>,
}

impl GroupFlush {
    /// Holds `item` until the next flush completes.
    pub fn push(&mut self, item: Durable) {
        self.waiting.push(item);
    }

    /// Starts a flush if none runs and something waits.
    pub fn start(&mut self, store: &Store) {
        if self.running.is_some() || self.waiting.is_empty() {
            return;
        }
        let store = store.clone();
        let task = tokio::task::spawn_blocking(move || store.flush());
        self.running = Some((task, std::mem::take(&mut self.waiting)));
    }

    /// Whether a flush is running.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Resolves when the running flush ends, with its outcome and the items it released.
    /// Pending forever when none runs (guard the `select!` branch with [`Self::is_running`]).
    pub async fn finished(&mut self) -> (Result<(), StoreError>, Vec<Durable>) {
        let Some((task, _)) = self.running.as_mut() else {
            return std::future::pending().await;
        };
        let result = match task.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(join) => Err(StoreError::Sled(sled::Error::ReportableBug(
                join.to_string(),
            ))),
        };
        let items = self
            .running
            .take()
            .map(|(_, items)| items)
            .unwrap_or_default();
        (result, items)
    }
}
