//! [`Permits`]: how many exchanges of one kind talk at once, in all and with any one peer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use libp2p::PeerId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// At most `total` exchanges at once, and `per_peer` with any one peer. Cloning shares them.
#[derive(Clone)]
pub struct Permits {
    total: Arc<Semaphore>,
    per_peer: usize,
    peers: Arc<Mutex<HashMap<PeerId, Arc<Semaphore>>>>,
}

/// The permits of one exchange with one peer, to be acquired.
pub struct ToPeer {
    total: Arc<Semaphore>,
    peer: Arc<Semaphore>,
}

/// Held while an exchange talks; given back when dropped.
pub struct Held {
    _peer: OwnedSemaphorePermit,
    _total: OwnedSemaphorePermit,
}

impl Permits {
    /// `total` exchanges at once, `per_peer` with one peer.
    pub fn new(total: usize, per_peer: usize) -> Permits {
        Permits {
            total: Arc::new(Semaphore::new(total)),
            per_peer,
            peers: Arc::default(),
        }
    }

    /// The permits an exchange with `peer` needs. Peers whose permits no exchange holds or
    /// waits for are forgotten meanwhile, so the map holds only peers being talked to.
    pub fn to(&self, peer: PeerId) -> ToPeer {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let per_peer = self.per_peer;
        peers.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < per_peer);
        let peer = peers
            .entry(peer)
            .or_insert_with(|| Arc::new(Semaphore::new(per_peer)))
            .clone();
        ToPeer {
            total: self.total.clone(),
            peer,
        }
    }
}

impl ToPeer {
    /// Waits for the peer's permit, then for one of all (so a burst to one peer does not
    /// hold the permits others wait for); `None` once the permits are closed.
    pub async fn acquire(self) -> Option<Held> {
        let peer = self.peer.acquire_owned().await.ok()?;
        let total = self.total.acquire_owned().await.ok()?;
        Some(Held {
            _peer: peer,
            _total: total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_peer_gets_its_share_and_others_still_get_theirs() {
        let permits = Permits::new(4, 2);
        let (a, b) = (PeerId::random(), PeerId::random());
        let first = permits.to(a).acquire().await.unwrap();
        let _second = permits.to(a).acquire().await.unwrap();
        let third = permits.to(a).acquire();
        tokio::pin!(third);
        assert!(
            futures::poll!(third.as_mut()).is_pending(),
            "a third with one peer waits"
        );
        let _other = permits.to(b).acquire().await.unwrap();
        drop(first);
        assert!(futures::poll!(third.as_mut()).is_ready());
        let held = permits.peers.lock().unwrap().len();
        assert_eq!(held, 2);
        drop(_second);
        drop(_other);
        permits.to(a);
        assert_eq!(
            permits.peers.lock().unwrap().len(),
            1,
            "idle peers are forgotten"
        );
    }
}
