//! Whom this node is connected to, and whom it dials again, as bookkeeping without IO: one
//! entry per connected peer however many connections it has (the path shown: where, who
//! dialled, direct or through a relay, round-trip time, clock skew, last sync), and the
//! redial schedule of the members lost or not reached, with backoff ([`Redial`]).
//!
//! A peer is connected from its first connection to the close of its last. A direct
//! connection beside a relayed one (a hole punched, or a dial that got through) shows as the
//! path. A peer that is connected is never due a redial: its schedule ends when it connects,
//! or when it is found connected when due.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::delivery::redial::Redial;

/// The connected peers (of type `P`, reached at addresses of type `A`) and the redials due.
#[derive(Debug)]
pub struct Peers<P, A> {
    connected: BTreeMap<P, Connection<A>>,
    redial: Redial<P>,
}

impl<P: Ord + Clone, A> Default for Peers<P, A> {
    fn default() -> Self {
        Peers {
            connected: BTreeMap::new(),
            redial: Redial::default(),
        }
    }
}

/// How a connection reaches a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path<A> {
    /// The peer's address on it.
    pub addr: A,
    /// Whether this node dialled.
    pub outbound: bool,
    /// Whether it goes through a relay.
    pub relayed: bool,
}

/// What this node knows of a connected peer.
#[derive(Debug, Clone)]
pub struct Connection<A> {
    /// The path shown: the first connection's, or a direct one that came beside it.
    pub path: Path<A>,
    /// When it connected (Unix seconds).
    pub since_unix: u64,
    /// The last round-trip time ping measured.
    pub rtt: Option<Duration>,
    /// Whether it offers circuit relay v2 (as its identify says).
    pub relays: bool,
    /// How far its clock is ahead of this node's (microseconds), as the last sync measured.
    pub skew_us: Option<i64>,
    /// When a sync with it last succeeded.
    pub synced: Option<Instant>,
}

impl<P: Ord + Clone, A> Peers<P, A> {
    /// A connection to `peer` came up over `path`. True when it is its first: the peer is
    /// connected from now on (and no longer redialled).
    pub fn connected(&mut self, peer: P, path: Path<A>, now_unix: u64) -> bool {
        if let Some(c) = self.connected.get_mut(&peer) {
            if c.path.relayed && !path.relayed {
                c.path = path;
            }
            return false;
        }
        self.redial.connected(&peer);
        self.connected.insert(
            peer,
            Connection {
                path,
                since_unix: now_unix,
                rtt: None,
                relays: false,
                skew_us: None,
                synced: None,
            },
        );
        true
    }

    /// The last connection to `peer` closed; it is dialled again when `redial` (a member
    /// whose addresses this node knows), after a backoff. False when it was not connected.
    pub fn disconnected(&mut self, peer: &P, redial: bool, now: Instant) -> bool {
        let was = self.connected.remove(peer).is_some();
        if redial {
            self.redial.lost(peer.clone(), now);
        }
        was
    }

    /// A dial of `peer` failed (or could not start): tried again after a backoff, unless it
    /// is connected after all. How many dials failed in a row, when a redial is scheduled.
    pub fn dial_failed(&mut self, peer: P, now: Instant) -> Option<u32> {
        if self.connected.contains_key(&peer) {
            return None;
        }
        Some(self.redial.lost(peer, now))
    }

    /// Dials `peer` at the next chance it is not connected, unless it is scheduled already
    /// (a member just heard of, one the outbox waits for, or one disconnected to reconnect
    /// under a new mesh).
    pub fn dial_soon(&mut self, peer: P, now: Instant) {
        self.redial.dial_now(peer, now);
    }

    /// Whether a dial of `peer` is scheduled.
    pub fn is_scheduled(&self, peer: &P) -> bool {
        self.redial.is_scheduled(peer)
    }

    /// Whether `peer`'s first dial is scheduled or under way (none failed yet).
    pub fn is_first_dial(&self, peer: &P) -> bool {
        self.redial.is_first_dial(peer)
    }

    /// The dial attempt `peer` is at (see [`Redial::attempt`]).
    pub fn attempt(&self, peer: &P) -> u32 {
        self.redial.attempt(peer)
    }

    /// Stops redialling `peer` (it was removed from the mesh).
    pub fn forget(&mut self, peer: &P) {
        self.redial.forget(peer);
    }

    /// Stops redialling anyone (this node was removed from its mesh).
    pub fn forget_all(&mut self) {
        self.redial.clear();
    }

    /// The peers whose redial is due at `now` and who are not connected; each stays
    /// scheduled (later) until it connects or fails again.
    pub fn due(&mut self, now: Instant) -> Vec<P> {
        let due = self.redial.due(now);
        let (connected, due): (Vec<P>, Vec<P>) = due
            .into_iter()
            .partition(|p| self.connected.contains_key(p));
        for peer in &connected {
            self.redial.connected(peer);
        }
        due
    }

    /// What this node knows of `peer`, when it is connected.
    pub fn get(&self, peer: &P) -> Option<&Connection<A>> {
        self.connected.get(peer)
    }

    /// Whether `peer` is connected.
    pub fn is_connected(&self, peer: &P) -> bool {
        self.connected.contains_key(peer)
    }

    /// Every connected peer, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&P, &Connection<A>)> {
        self.connected.iter()
    }

    /// Every connected peer's id, in order.
    pub fn ids(&self) -> impl Iterator<Item = &P> {
        self.connected.keys()
    }

    /// How many peers are connected.
    pub fn len(&self) -> usize {
        self.connected.len()
    }

    /// Whether no peer is connected.
    pub fn is_empty(&self) -> bool {
        self.connected.is_empty()
    }

    /// Ping measured `rtt` to `peer`.
    pub fn measured(&mut self, peer: &P, rtt: Duration) {
        if let Some(c) = self.connected.get_mut(peer) {
            c.rtt = Some(rtt);
        }
    }

    /// `peer`'s identify says whether it offers circuit relay v2.
    pub fn identified(&mut self, peer: &P, relays: bool) {
        if let Some(c) = self.connected.get_mut(peer) {
            c.relays = relays;
        }
    }

    /// A sync with `peer` succeeded at `now`, measuring its clock's skew when it said its
    /// time.
    pub fn synced(&mut self, peer: &P, skew_us: Option<i64>, now: Instant) {
        if let Some(c) = self.connected.get_mut(peer) {
            c.skew_us = skew_us.or(c.skew_us);
            c.synced = Some(now);
        }
    }
}

#[cfg(test)]
mod tests;
