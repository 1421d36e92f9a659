//! [`Door`]: who is let in, shared with the tasks that serve streams outside the event loop
//! (blobs, pipes, the relay), so each of them checks the ACL on every request.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use libp2p::PeerId;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::metrics::DecisionLabels;

/// The members of this node's mesh by PeerId. The event loop sets it whenever the ACL
/// changes; everyone else asks [`Door::admits`], or [`Door::check`] to count the decision.
/// Cloning shares it.
#[derive(Clone, Default)]
pub struct Door {
    members: Arc<RwLock<HashSet<PeerId>>>,
    /// Woken whenever the members change.
    changed: Arc<tokio::sync::Notify>,
    decisions: Family<DecisionLabels, Counter>,
}

impl Door {
    /// A door whose [`Door::check`]s count into `decisions`.
    pub fn counting(decisions: Family<DecisionLabels, Counter>) -> Door {
        Door {
            members: Arc::default(),
            changed: Arc::default(),
            decisions,
        }
    }

    /// Whether `peer` may pass `door` (connection, blob, pipe, relay), counted.
    pub fn check(&self, door: &str, peer: &PeerId) -> bool {
        let allowed = self.admits(peer);
        let decision = if allowed { "allow" } else { "deny" };
        self.decisions
            .get_or_create(&DecisionLabels {
                door: door.into(),
                decision: decision.into(),
            })
            .inc();
        allowed
    }

    /// Whether `peer` is a member now. A node in no mesh admits no one.
    pub fn admits(&self, peer: &PeerId) -> bool {
        self.members
            .read()
            .is_ok_and(|members| members.contains(peer))
    }

    /// Whether `peer` is a member, or becomes one within `within` (uncounted).
    pub async fn admits_within(&self, peer: &PeerId, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so a change in between is not missed.
            changed.as_mut().enable();
            if self.admits(peer) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.admits(peer);
            }
        }
    }

    /// Replaces the members.
    pub(crate) fn set(&self, members: impl Iterator<Item = PeerId>) {
        if let Ok(mut current) = self.members.write() {
            current.clear();
            current.extend(members);
        }
        self.changed.notify_waiters();
    }
}
