//! Whom this node keeps connected, so that its idle cost does not grow with the mesh: a few
//! standing members drawn at random (gossip needs only its mesh degree, anti-entropy a few
//! peers per round), everyone else on demand (a direct message, a call or a transfer
//! dials its member), and, when more members than the cap are connected, the surplus that
//! has been idle for a while closed. Standing members are this node's own picks: members
//! connecting to it do not take their place (so a few members that all connect to it
//! cannot be all it hears), and they are never closed as surplus. A standing member that
//! goes (a member over its cap closed the connection, or it left) is replaced by a new
//! pick, so members many picked shed links to members with room; it counts as unreachable
//! until the first redial would have come, and is not dialled then unless something wants
//! it.
//!
//! As bookkeeping without IO: the core asks how many members to dial, which, whom to sync
//! with this round, and which connections to close; the core's `connections` glue carries
//! it out.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::rng::Rng;

/// The fewest connections a node may be told to keep.
pub const MIN_CAP: usize = 4;

/// How long a connection must go unused before it may be closed as surplus.
pub const IDLE: Duration = Duration::from_secs(60);

/// How many connected members each anti-entropy round syncs with.
pub const SYNC_ROUND: usize = 3;

/// The connections kept, to peers of type `P`.
#[derive(Debug)]
pub struct Keep<P> {
    cap: usize,
    standing: usize,
    /// The standing members picked: connected, or being dialled.
    picked: BTreeSet<P>,
    /// When each connected peer was last used (or connected).
    used: BTreeMap<P, Instant>,
    /// Standing members lost and not picked again: scheduled as a redial would be (so
    /// they count as unreachable until the first backoff ends), but not dialled then
    /// unless something wants them.
    lost: BTreeSet<P>,
    rng: Rng,
}

impl<P: Ord + Clone> Keep<P> {
    /// Keeping at most `cap` connections when idle (at least [`MIN_CAP`]), a quarter of
    /// them standing; chance drawn from `seed`.
    pub fn new(cap: usize, seed: u64) -> Keep<P> {
        let cap = cap.max(MIN_CAP);
        Keep {
            cap,
            standing: cap / 4,
            picked: BTreeSet::new(),
            used: BTreeMap::new(),
            lost: BTreeSet::new(),
            rng: Rng::new(seed),
        }
    }

    /// The most connections kept while idle.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// How many members this node dials by itself and keeps dialling when they go.
    pub fn standing(&self) -> usize {
        self.standing
    }

    /// `peer` connected, or something went to or came from it, at `now`.
    pub fn used(&mut self, peer: P, now: Instant) {
        self.used.insert(peer, now);
    }

    /// `peer`'s last connection closed.
    pub fn gone(&mut self, peer: &P) {
        self.used.remove(peer);
    }

    /// How many more standing members to pick.
    pub fn wanted(&self) -> usize {
        self.standing.saturating_sub(self.picked.len())
    }

    /// Picks up to [`Keep::wanted`] of `candidates` at random as standing members (to dial).
    pub fn pick_standing(&mut self, candidates: Vec<P>) -> Vec<P> {
        let picked = self.pick(candidates, self.wanted());
        self.picked.extend(picked.iter().cloned());
        picked
    }

    /// Whether `peer` is a standing member (kept while connected).
    pub fn is_standing(&self, peer: &P) -> bool {
        self.picked.contains(peer)
    }

    /// `peer` is no standing member any more (its dial failed, or it left the mesh):
    /// another is picked in its place.
    pub fn unpick(&mut self, peer: &P) {
        self.picked.remove(peer);
        self.lost.remove(peer);
    }

    /// Standing member `peer` went: another is picked in its place, and it is marked lost
    /// (see [`Keep::take_lost`]).
    pub fn lose(&mut self, peer: P) {
        self.picked.remove(&peer);
        self.lost.insert(peer);
    }

    /// Forgets every lost member (this node was removed from its mesh).
    pub fn forget_lost(&mut self) {
        self.lost.clear();
    }

    /// Whether `peer` was a standing member lost since (and forgets it): when its redial
    /// comes due, it is dialled only if something else wants it.
    pub fn take_lost(&mut self, peer: &P) -> bool {
        self.lost.remove(peer)
    }

    /// Up to `n` of `candidates`, drawn at random.
    pub fn pick(&mut self, mut candidates: Vec<P>, n: usize) -> Vec<P> {
        let n = n.min(candidates.len());
        for i in 0..n {
            let j = self.rng.range(i as u64, candidates.len() as u64 - 1) as usize;
            candidates.swap(i, j);
        }
        candidates.truncate(n);
        candidates
    }

    /// The connected members to sync with this round: [`SYNC_ROUND`] of them at random.
    pub fn sync_round(&mut self, connected: Vec<P>) -> Vec<P> {
        self.pick(connected, SYNC_ROUND)
    }

    /// Which of the `connected` members to close at `now`: none while at most the cap are
    /// connected; else as many as are over it, among those unused for [`IDLE`] that are
    /// not standing and that `busy` does not hold, the longest unused first.
    pub fn surplus(&self, connected: &[P], now: Instant, busy: impl Fn(&P) -> bool) -> Vec<P> {
        let over = connected.len().saturating_sub(self.cap);
        if over == 0 {
            return Vec::new();
        }
        let mut idle: Vec<(Instant, &P)> = connected
            .iter()
            .filter(|p| !self.picked.contains(p))
            .filter_map(|p| self.used.get(p).map(|at| (*at, p)))
            .filter(|(at, p)| now.saturating_duration_since(*at) >= IDLE && !busy(p))
            .collect();
        idle.sort();
        idle.into_iter()
            .take(over)
            .map(|(_, p)| p.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests;
