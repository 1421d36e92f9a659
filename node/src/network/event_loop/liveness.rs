//! Dead links: a TCP connection whose other end vanished without a word (unplugged, a NAT
//! that forgot the mapping, a peer frozen) looks open for the minutes TCP takes to give
//! up, and the member shows as connected, with its last RTT, all that time. Every member's
//! connection is pinged every [`LIVENESS_INTERVAL`]; one that answered before and has not
//! answered for [`SILENCE`] is taken for dead and closed, so the member shows as
//! disconnected and is dialled again. (libp2p's ping handler reports only the second
//! failure in a row, and its next try waits on a stream that cannot open: about 25 s.)
//! A peer that does not speak ping is never judged by it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::swarm::ConnectionId;

use super::EventLoop;
use crate::core::short;

/// How often each member's connection is pinged.
pub const LIVENESS_INTERVAL: Duration = Duration::from_secs(2);

/// How long a connection that answered pings before may go without answering one.
pub const SILENCE: Duration = Duration::from_secs(10);

/// When each pinged connection last answered.
#[derive(Debug, Default)]
pub(super) struct Liveness {
    heard: HashMap<ConnectionId, (PeerId, Instant)>,
}

impl Liveness {
    /// A ping on `connection` to `peer` was answered at `now`.
    pub(super) fn answered(&mut self, connection: ConnectionId, peer: PeerId, now: Instant) {
        self.heard.insert(connection, (peer, now));
    }

    /// `connection` closed, or its peer does not speak ping: no longer judged.
    pub(super) fn forget(&mut self, connection: &ConnectionId) {
        self.heard.remove(connection);
    }

    /// The connections silent for [`SILENCE`] at `now`, each with how long it was silent;
    /// they are forgotten (each is reported once).
    fn silent(&mut self, now: Instant) -> Vec<(ConnectionId, PeerId, Duration)> {
        let silent: Vec<_> = self
            .heard
            .iter()
            .map(|(c, (p, at))| (*c, *p, now.saturating_duration_since(*at)))
            .filter(|(_, _, quiet)| *quiet >= SILENCE)
            .collect();
        for (connection, _, _) in &silent {
            self.heard.remove(connection);
        }
        silent
    }
}

impl EventLoop {
    /// Closes the connections that stopped answering pings.
    pub(super) fn close_dead_links(&mut self, now: Instant) {
        for (connection, peer, quiet) in self.reach.liveness.silent(now) {
            tracing::info!(
                peer = %short(&peer),
                "link is dead (no answer to a ping for {}s); closing it",
                quiet.as_secs()
            );
            self.swarm.close_connection(connection);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_that_stops_answering_is_reported_once() {
        let mut liveness = Liveness::default();
        let (t0, peer) = (Instant::now(), PeerId::random());
        let (quiet, chatty) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
        );
        liveness.answered(quiet, peer, t0);
        liveness.answered(chatty, peer, t0);
        liveness.answered(chatty, peer, t0 + SILENCE);
        assert!(liveness.silent(t0 + SILENCE / 2).is_empty());
        let dead = liveness.silent(t0 + SILENCE);
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].0, quiet);
        assert!(liveness.silent(t0 + SILENCE * 3 / 2).is_empty(), "once");
        liveness.forget(&chatty);
        assert!(liveness.silent(t0 + SILENCE * 3).is_empty(), "forgotten");
    }
}
