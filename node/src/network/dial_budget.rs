//! [`DialBudget`]: how many dials, and to how many addresses, the standard protocols may
//! make towards one peer in a minute.
//!
//! Some of those dials go where a peer says: DCUtR dials the addresses a member sends in its
//! `CONNECT` (up to a 4 KiB message of them), and a member can send one on every relayed
//! connection it opens, again and again. Unbounded, that lets a member make this node
//! connect to any address it likes, as often as it likes. Honest use stays well inside the
//! budget: DCUtR tries three times per relayed connection, with the handful of addresses a
//! node has, and AutoNAT's dial-backs come a few a minute.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// The window the budget counts over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Dials to one peer per [`WINDOW`].
pub const DIALS: usize = 12;

/// Addresses dialled for one peer per [`WINDOW`] (a dial tries all of its addresses).
pub const ADDRESSES: usize = 96;

/// Why a dial was refused.
#[derive(Debug, thiserror::Error)]
#[error("past the budget of dials to this peer")]
pub struct OverBudget;

/// The dials of the last [`WINDOW`], per peer: when, and to how many addresses.
#[derive(Debug, Default)]
pub struct DialBudget {
    spent: HashMap<PeerId, VecDeque<(Instant, usize)>>,
}

impl DialBudget {
    /// Whether a dial of `peer` at `addresses` addresses fits the budget at `now`; counts
    /// it if so.
    pub fn allow(&mut self, peer: PeerId, addresses: usize, now: Instant) -> bool {
        self.spent.retain(|_, dials| {
            while dials
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) >= WINDOW)
            {
                dials.pop_front();
            }
            !dials.is_empty()
        });
        let addresses = addresses.max(1);
        let dials = self.spent.entry(peer).or_default();
        let spent: usize = dials.iter().map(|(_, n)| n).sum();
        if dials.len() >= DIALS || spent + addresses > ADDRESSES {
            return false;
        }
        dials.push_back((now, addresses));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_its_dials_and_addresses_per_window_and_others_are_not_charged() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let start = Instant::now();
        let mut budget = DialBudget::default();
        for _ in 0..DIALS {
            assert!(budget.allow(a, 2, start));
        }
        assert!(!budget.allow(a, 1, start), "past the dials");
        assert!(budget.allow(b, 1, start), "another peer's budget");
        assert!(budget.allow(a, 1, start + WINDOW), "a new window");

        let mut budget = DialBudget::default();
        assert!(budget.allow(a, ADDRESSES - 1, start));
        assert!(!budget.allow(a, 2, start), "past the addresses");
        assert!(budget.allow(a, 1, start));
        assert!(!budget.allow(b, ADDRESSES + 1, start), "too many at once");
        assert!(
            budget.allow(b, 0, start),
            "a dial of no address still counts as one"
        );
    }

    #[test]
    fn peers_whose_dials_are_past_the_window_are_forgotten() {
        let start = Instant::now();
        let mut budget = DialBudget::default();
        for _ in 0..100 {
            budget.allow(PeerId::random(), 1, start);
        }
        budget.allow(PeerId::random(), 1, start + WINDOW);
        assert_eq!(budget.spent.len(), 1);
    }
}
