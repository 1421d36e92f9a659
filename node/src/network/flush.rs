//! [`Flush`]: the only code that writes the store's batches. The core decides what a batch
//! holds and what waits for it (`core::commit`); this commits one batch at a time on the
//! blocking pool ([`Store::commit`]: applied to sled, appended to the journal), so the loop
//! never blocks on the disk (sled blocks writers while it flushes, so the loop does not
//! write at all).

use tokio::task::JoinHandle;

use crate::store::write::{Applied, Write};
use crate::store::{Store, StoreError};

/// The store and the batch being applied and flushed, if any.
pub struct Flush {
    store: Store,
    running: Option<JoinHandle<Result<Applied, StoreError>>>,
}

impl Flush {
    /// Flushes into `store`.
    pub fn new(store: Store) -> Flush {
        Flush {
            store,
            running: None,
        }
    }

    /// The store, to read (beside the loop) or to hand to tasks.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Commits `writes` in order, beside the loop. One batch at a time: the core hands out
    /// a batch only when none runs.
    pub fn start(&mut self, writes: Vec<Write>) {
        let store = self.store.clone();
        self.running = Some(tokio::task::spawn_blocking(move || store.commit(&writes)));
    }

    /// Whether a batch runs.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Resolves when the running batch ends, with what applying it found. Pending forever
    /// when none runs (guard the `select!` branch with [`Self::is_running`]).
    pub async fn finished(&mut self) -> Result<Applied, StoreError> {
        let Some(task) = self.running.as_mut() else {
            return std::future::pending().await;
        };
        let result = match task.await {
            Ok(result) => result,
            Err(join) => Err(StoreError::Sled(sled::Error::ReportableBug(
                join.to_string(),
            ))),
        };
        self.running = None;
        result
    }
}
