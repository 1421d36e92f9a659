//! [`Tally`]: input refused from peers, counted by reason for `weft status` and by kind and
//! reason for Prometheus (`weft_messages_rejected_total`). The event loop and the tasks that
//! serve blobs, pipes and the relay share one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::metrics::RejectLabels;

/// Counts by reason. Cloning shares the counts.
#[derive(Clone, Default)]
pub struct Tally {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    metric: Family<RejectLabels, Counter>,
}

impl Tally {
    /// A tally that also counts into `metric`.
    pub fn new(metric: Family<RejectLabels, Counter>) -> Tally {
        Tally {
            counts: Arc::default(),
            metric,
        }
    }

    /// Counts one more `reason`, its kind told by its name (`blob_…`, `relay_…`, ...).
    pub fn add(&self, reason: &str) {
        self.add_kind(kind_of(reason), reason);
    }

    /// Counts one more `reason` refused in input of `kind`.
    pub fn add_kind(&self, kind: &str, reason: &str) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(reason.to_string()).or_default() += 1;
        }
        self.metric
            .get_or_create(&RejectLabels {
                kind: kind.into(),
                reason: reason.into(),
            })
            .inc();
    }

    /// The counts so far.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// What a refusal's reason says was refused.
fn kind_of(reason: &str) -> &'static str {
    match reason.split('_').next().unwrap_or(reason) {
        "blob" => "blob",
        "pipe" => "pipe",
        "ping" => "ping",
        "relay" => "relay",
        "acl" => "acl",
        "punch" => "punch",
        "sync" => "sync",
        "join" => "join",
        "storage" => "storage",
        _ => "connection",
    }
}
