//! [`Tally`]: input refused from peers, counted by reason. The event loop and the tasks that
//! serve blobs, pipes and the relay share one, and `weft status` shows it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Counts by reason. Cloning shares the counts.
#[derive(Clone, Default)]
pub struct Tally(Arc<Mutex<BTreeMap<String, u64>>>);

impl Tally {
    /// Counts one more `reason`.
    pub fn add(&self, reason: &str) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(reason.to_string()).or_default() += 1;
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|c| c.clone()).unwrap_or_default()
    }
}
