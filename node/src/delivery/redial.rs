//! When to dial a known peer again. A peer enters when its last connection closes or a dial
//! fails, and leaves when a connection is established. Delays follow [`super::backoff`].

use std::collections::BTreeMap;
use std::time::Instant;

use super::backoff;

/// Redial schedule for peers of type `P`.
#[derive(Debug)]
pub struct Redial<P> {
    due: BTreeMap<P, (Instant, u32)>,
}

impl<P: Ord + Clone> Default for Redial<P> {
    fn default() -> Self {
        Redial {
            due: BTreeMap::new(),
        }
    }
}

impl<P: Ord + Clone> Redial<P> {
    /// A connection to `peer` is up: stop redialling it.
    pub fn connected(&mut self, peer: &P) {
        self.due.remove(peer);
    }

    /// Stop redialling `peer` for good (it was removed from the mesh).
    pub fn forget(&mut self, peer: &P) {
        self.due.remove(peer);
    }

    /// Stop redialling anyone (this node was removed from its mesh).
    pub fn clear(&mut self) {
        self.due.clear();
    }

    /// `peer` was lost or a dial failed: schedule the next attempt after the next backoff.
    /// Returns how many attempts failed in a row.
    pub fn lost(&mut self, peer: P, now: Instant) -> u32 {
        let attempt = self.due.get(&peer).map_or(1, |(_, a)| a + 1);
        self.due
            .insert(peer, (now + backoff::delay(attempt), attempt));
        attempt
    }

    /// Schedule a first dial of `peer` right away (at start-up).
    pub fn dial_now(&mut self, peer: P, now: Instant) {
        self.due.entry(peer).or_insert((now, 0));
    }

    /// Whether `peer` is scheduled (a first dial, or again after a backoff).
    pub fn is_scheduled(&self, peer: &P) -> bool {
        self.due.contains_key(peer)
    }

    /// Whether `peer`'s first dial is scheduled or under way (none failed yet).
    pub fn is_first_dial(&self, peer: &P) -> bool {
        matches!(self.due.get(peer), Some((_, 0)))
    }

    /// The attempt `peer` is at: 0 for a first dial, 1 after its connection was lost or
    /// its first dial failed, more after more failures; 0 when it is not scheduled.
    pub fn attempt(&self, peer: &P) -> u32 {
        self.due.get(peer).map_or(0, |(_, attempt)| *attempt)
    }

    /// Peers whose dial is due at `now`. Each stays scheduled (at a later time) until
    /// [`Redial::connected`] or another [`Redial::lost`].
    pub fn due(&mut self, now: Instant) -> Vec<P> {
        let mut out = Vec::new();
        for (peer, (at, attempt)) in self.due.iter_mut() {
            if *at <= now {
                out.push(peer.clone());
                // Guard against a dial that neither connects nor reports failure.
                *at = now + backoff::delay(*attempt + 1);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backs_off_until_connected() {
        let t0 = Instant::now();
        let mut r = Redial::default();
        r.dial_now("a", t0);
        assert_eq!(r.due(t0), vec!["a"]);
        r.lost("a", t0);
        assert!(r.due(t0).is_empty());
        assert_eq!(r.due(t0 + backoff::BASE), vec!["a"]);
        r.lost("a", t0);
        assert!(
            r.due(t0 + backoff::BASE).is_empty(),
            "second failure waits longer"
        );
        assert_eq!(r.due(t0 + backoff::BASE * 2), vec!["a"]);
        r.connected(&"a");
        assert!(r.due(t0 + Duration::from_secs(3600)).is_empty());
    }
}
