//! [`Tasks`]: the tasks the event loop starts for one exchange each (a join, a sync, a
//! mailbox exchange), owned by the loop: each runs in a span naming what it serves, and all
//! that are still running are aborted when the loop is dropped.

use std::future::Future;

use tokio::task::JoinSet;
use tracing::Instrument;

/// The loop's tasks.
#[derive(Default)]
pub struct Tasks {
    set: JoinSet<()>,
}

impl Tasks {
    /// Runs `task` in the span `what`.
    pub fn spawn(&mut self, what: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.set
            .spawn(task.instrument(tracing::debug_span!("task", what)));
        self.reap();
    }

    /// Forgets the tasks that ended.
    pub fn reap(&mut self) {
        while self.set.try_join_next().is_some() {}
    }
}
