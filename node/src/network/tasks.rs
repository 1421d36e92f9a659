//! [`Tasks`]: every task the event loop starts (stream servers, sessions, joins, syncs,
//! mailbox exchanges), owned by the loop. Each runs in a span naming what it serves; all are
//! cancelled when the loop's [`Tasks`] is dropped, and those that finish something a peer
//! relies on (receipts, releases, deposits) are also joined when the node stops.
//!
//! [`Spawner`] is the cloneable side, for tasks that start tasks (an acceptor, one per
//! stream) and for closures that run after a flush.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// The loop's tasks; dropping it cancels every one still running.
pub struct Tasks {
    spawner: Spawner,
}

impl Default for Tasks {
    fn default() -> Tasks {
        Tasks {
            spawner: Spawner {
                joined: TaskTracker::new(),
                stop: CancellationToken::new(),
            },
        }
    }
}

impl Tasks {
    /// A handle that starts tasks owned by this set.
    pub fn spawner(&self) -> Spawner {
        self.spawner.clone()
    }

    /// Runs `task` in the span `what`, until it ends or the set is dropped.
    pub fn spawn(&self, what: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.spawner.spawn(what, task);
    }

    /// Resolves once every joined task has ended, including any they start meanwhile.
    pub fn joined(&self) -> impl Future<Output = ()> + 'static {
        let joined = self.spawner.joined.clone();
        joined.close();
        async move { joined.wait().await }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.spawner.stop.cancel();
    }
}

/// Starts tasks owned by a [`Tasks`].
#[derive(Clone)]
pub struct Spawner {
    /// Tasks a stopping node waits for.
    joined: TaskTracker,
    /// Cancelled when the owning [`Tasks`] is dropped.
    stop: CancellationToken,
}

impl Spawner {
    /// Runs `task` in the span `what`, until it ends or the owner is dropped.
    pub fn spawn(&self, what: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(self.owned(what, task));
    }

    /// Like [`Spawner::spawn`], and a stopping node waits for it: counted from this call on,
    /// so a task started just before the node stops is not missed.
    pub fn spawn_joined(
        &self,
        what: &'static str,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        self.joined.spawn(self.owned(what, task));
    }

    fn owned(
        &self,
        what: &'static str,
        task: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let stop = self.stop.clone();
        async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = task => {}
            }
        }
        .instrument(tracing::debug_span!("task", what))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn dropping_the_set_cancels_its_tasks() {
        let tasks = Tasks::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tasks.spawn("forever", async move {
            let _tx = tx;
            std::future::pending::<()>().await;
        });
        drop(tasks);
        // The sender is dropped with the cancelled task.
        assert!(rx.await.is_err());
    }

    #[tokio::test]
    async fn joined_waits_for_a_task_started_just_before() {
        let tasks = Tasks::default();
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        tasks.spawner().spawn_joined("late", async move {
            tokio::task::yield_now().await;
            flag.store(true, Ordering::SeqCst);
        });
        tasks.joined().await;
        assert!(done.load(Ordering::SeqCst));
    }
}
