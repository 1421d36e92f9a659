//! The handle's queue commands: push, look at a queue and its dead letters, retry one, and
//! work a queue from a local program.

use tokio::sync::{mpsc, oneshot};
use weft_proto::queue::{DeadLetter, ItemId, Lease, Pushed, QueueName, QueueStatus};

use super::{Command, NodeError, NodeHandle};
use crate::core::io::{RunId, WorkerId};
use crate::core::queues::working::WorkOpts;

/// A queue command for the event loop.
#[derive(Debug)]
pub(crate) enum QueueCommand {
    Push {
        queue: QueueName,
        body: Vec<u8>,
        key: Option<String>,
        reply: oneshot::Sender<Result<Pushed, NodeError>>,
    },
    Status {
        queue: QueueName,
        reply: oneshot::Sender<QueueStatus>,
    },
    All {
        reply: oneshot::Sender<Vec<QueueStatus>>,
    },
    Dead {
        queue: QueueName,
        reply: oneshot::Sender<Vec<DeadLetter>>,
    },
    Retry {
        queue: QueueName,
        id: ItemId,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    Work {
        queue: QueueName,
        opts: WorkOpts,
        reply: oneshot::Sender<Result<Working, NodeError>>,
    },
    Worked {
        run: RunId,
        result: Result<(), String>,
    },
    StopWork {
        worker: WorkerId,
    },
}

/// A queue worked from this node: its items come on `items`; each run's end is told with
/// [`NodeHandle::worked`]. Dropping `items` stops the work.
#[derive(Debug)]
pub struct Working {
    /// The worker's id, to stop it.
    pub worker: WorkerId,
    /// The items to run.
    pub items: mpsc::Receiver<WorkItem>,
}

/// An item for a local worker to run.
#[derive(Debug)]
pub struct WorkItem {
    /// The run, for its end.
    pub run: RunId,
    /// The item's delivery.
    pub lease: Lease,
    /// The item.
    pub body: Vec<u8>,
}

impl NodeHandle {
    /// Pushes `body` to `queue`, held on this node's disk until a worker acknowledges it
    /// (returns once it is on disk); with `key`, an item with that key is pushed once.
    pub async fn push(
        &self,
        queue: QueueName,
        body: Vec<u8>,
        key: Option<String>,
    ) -> Result<Pushed, NodeError> {
        self.queue(|reply| QueueCommand::Push {
            queue,
            body,
            key,
            reply,
        })
        .await?
    }

    /// `queue` at this node.
    pub async fn queue_status(&self, queue: QueueName) -> Result<QueueStatus, NodeError> {
        self.queue(|reply| QueueCommand::Status { queue, reply })
            .await
    }

    /// Every queue this node holds items of or works.
    pub async fn queues(&self) -> Result<Vec<QueueStatus>, NodeError> {
        self.queue(|reply| QueueCommand::All { reply }).await
    }

    /// The dead letters of `queue` held at this node.
    pub async fn dead_letters(&self, queue: QueueName) -> Result<Vec<DeadLetter>, NodeError> {
        self.queue(|reply| QueueCommand::Dead { queue, reply })
            .await
    }

    /// Sends dead letter `id` of `queue` back to the workers.
    pub async fn retry(&self, queue: QueueName, id: ItemId) -> Result<(), NodeError> {
        self.queue(|reply| QueueCommand::Retry { queue, id, reply })
            .await?
    }

    /// Works `queue` from this node with `opts`: the items arrive on the returned
    /// [`Working`].
    pub async fn work(&self, queue: QueueName, opts: WorkOpts) -> Result<Working, NodeError> {
        self.queue(|reply| QueueCommand::Work { queue, opts, reply })
            .await?
    }

    /// A local worker's run `run` ended: done (`Ok`) or failed with why.
    pub async fn worked(&self, run: RunId, result: Result<(), String>) -> Result<(), NodeError> {
        self.tell(Command::Queue(QueueCommand::Worked { run, result }))
            .await
    }

    /// Stops local worker `worker`; what it held goes back to its producers.
    pub async fn stop_work(&self, worker: WorkerId) -> Result<(), NodeError> {
        self.tell(Command::Queue(QueueCommand::StopWork { worker }))
            .await
    }

    async fn queue<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> QueueCommand,
    ) -> Result<T, NodeError> {
        self.ask(|reply| Command::Queue(make(reply))).await
    }
}
