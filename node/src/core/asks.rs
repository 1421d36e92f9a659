//! [`Asks`]: this node's requests to peers under way (`/weft/sync/1` and `/weft/mailbox/1`),
//! each with what it is for, so that its answer, or its failure, is taken as meant. At most
//! one sync per peer runs at a time.

use std::collections::HashMap;

use libp2p::PeerId;
use weft_proto::MessageId;
use weft_proto::acl::OpId;
use weft_proto::mesh::MemberKey;

use super::io::AskId;

/// What a request is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Syncing with `peer`, paging on after op `after`.
    Sync {
        /// The peer.
        peer: PeerId,
        /// Where the page starts.
        after: Option<OpId>,
    },
    /// Depositing outbox messages with `mailbox`: each message and its recipient, in the
    /// order of the boxes.
    Deposit {
        /// The mailbox.
        mailbox: PeerId,
        /// The messages and their recipients.
        items: Vec<(MessageId, PeerId)>,
    },
    /// Fetching a page of this node's boxes from `mailbox`.
    Fetch {
        /// The mailbox.
        mailbox: PeerId,
    },
    /// Releasing a page fetched from `mailbox`; `more` when the mailbox holds more.
    Release {
        /// The mailbox.
        mailbox: PeerId,
        /// Whether to fetch on once released.
        more: bool,
    },
    /// Handing a sender its receipts (directly, or through a mailbox).
    Receipt,
    /// Handing `peer` a box held for it: the box goes once it is held there.
    Forward {
        /// The recipient.
        peer: PeerId,
        /// Its key.
        to: MemberKey,
        /// The box.
        id: [u8; 32],
    },
}

/// The requests under way.
#[derive(Debug, Default)]
pub struct Asks {
    last: u64,
    pending: HashMap<AskId, Purpose>,
    syncing: HashMap<PeerId, AskId>,
}

impl Asks {
    /// A new request for `purpose`.
    pub fn ask(&mut self, purpose: Purpose) -> AskId {
        self.last += 1;
        let id = AskId(self.last);
        if let Purpose::Sync { peer, .. } = &purpose {
            self.syncing.insert(*peer, id);
        }
        self.pending.insert(id, purpose);
        id
    }

    /// Request `id` ended (answered, failed or timed out): what it was for, unless it is
    /// unknown (answered twice).
    pub fn answered(&mut self, id: AskId) -> Option<Purpose> {
        let purpose = self.pending.remove(&id)?;
        if let Purpose::Sync { peer, .. } = &purpose
            && self.syncing.get(peer) == Some(&id)
        {
            self.syncing.remove(peer);
        }
        Some(purpose)
    }

    /// Whether a sync with `peer` is under way.
    pub fn is_syncing(&self, peer: &PeerId) -> bool {
        self.syncing.contains_key(peer)
    }

    /// `peer` is gone: the next connection starts a sync of its own, whatever becomes of
    /// the one under way (its answer is still taken).
    pub fn disconnected(&mut self, peer: &PeerId) {
        self.syncing.remove(peer);
    }

    /// How many requests are under way.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no request is under way.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_ended_after_its_peer_came_back_does_not_end_the_new_one() {
        let mut asks = Asks::default();
        let peer = PeerId::random();
        let first = asks.ask(Purpose::Sync { peer, after: None });
        assert!(asks.is_syncing(&peer));
        asks.disconnected(&peer);
        assert!(!asks.is_syncing(&peer));
        let second = asks.ask(Purpose::Sync { peer, after: None });
        // The first one's answer arrives late: the second is still under way.
        assert!(asks.answered(first).is_some());
        assert!(asks.is_syncing(&peer));
        assert!(asks.answered(second).is_some());
        assert!(!asks.is_syncing(&peer));
        assert!(asks.answered(second).is_none(), "answered once");
        assert!(asks.is_empty());
    }
}
