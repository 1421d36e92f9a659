//! [`Door`]: who is let in, shared with the tasks that serve streams outside the event loop
//! (blobs, pipes, the relay), so each of them checks the ACL on every request.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use libp2p::PeerId;

/// The members of this node's mesh by PeerId. The event loop sets it whenever the ACL
/// changes; everyone else asks [`Door::admits`]. Cloning shares it.
#[derive(Clone, Default)]
pub struct Door(Arc<RwLock<HashSet<PeerId>>>);

impl Door {
    /// Whether `peer` is a member now. A node in no mesh admits no one.
    pub fn admits(&self, peer: &PeerId) -> bool {
        self.0.read().is_ok_and(|members| members.contains(peer))
    }

    /// Replaces the members.
    pub(crate) fn set(&self, members: impl Iterator<Item = PeerId>) {
        if let Ok(mut current) = self.0.write() {
            current.clear();
            current.extend(members);
        }
    }
}
