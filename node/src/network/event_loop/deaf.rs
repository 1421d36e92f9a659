//! Gossip that went deaf to a member: rust-libp2p's gossipsub tells a peer its subscriptions
//! once, on the first connection to it. A member that restarts (same PeerId) and reconnects
//! before its peers noticed the old connection die (over QUIC nothing tells them) is, to
//! them, on another connection of a peer they know: they never tell it their topics again,
//! so it cannot publish to them, and nothing in gossipsub heals that
//! (libp2p/rust-libp2p#5097). The restarted side sees it: a peer that speaks gossipsub yet
//! is subscribed to nothing, where every weft node follows its mesh's ACL topic. Such a
//! peer (one that identified as a weft node: another implementation may follow no topic),
//! found so at two checks in a row, is disconnected; both ends dial again, and once the old
//! connection is gone the new one is a first one, on which topics are told. The core
//! decides the disconnect, so that what the member's workers hold here waits for them.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use libp2p::PeerId;

use super::EventLoop;
use crate::core::io::Input;
use crate::network::behaviour::AGENT;

/// How often connected peers' subscriptions are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Peers found deaf at the last check, and the connected peers that said they are weft
/// nodes: only of those is it known that they follow a topic (another implementation may
/// speak gossipsub and follow none).
#[derive(Debug, Default)]
pub(super) struct Deaf {
    suspects: HashSet<PeerId>,
    weft: HashSet<PeerId>,
    next: Option<Instant>,
}

impl Deaf {
    /// `peer` identified itself with `agent` (identify's agent version).
    pub(super) fn identified(&mut self, peer: PeerId, agent: &str) {
        if agent.starts_with(AGENT) {
            self.weft.insert(peer);
        }
    }

    /// The last connection to `peer` closed.
    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.weft.remove(peer);
        self.suspects.remove(peer);
    }
}

impl EventLoop {
    /// Tells the core of the peers that speak gossipsub but have told this node no topic at
    /// two checks in a row (it disconnects them).
    pub(super) fn reconnect_deaf(&mut self, now: Instant) {
        let deaf = &mut self.reach.deaf;
        if deaf.next.is_some_and(|at| now < at) {
            return;
        }
        deaf.next = Some(now + CHECK_EVERY);
        let gossip = self.swarm.behaviour().gossipsub();
        // The library does not export its peer kinds; their labels say which speak
        // gossipsub ("Gossipsub v1.1", ...), as against "Not Supported" and "Floodsub" (the
        // kind before any stream was negotiated).
        let speaking: HashSet<PeerId> = gossip
            .peer_protocol()
            .filter(|(_, kind)| kind.as_static_ref().starts_with("Gossipsub"))
            .map(|(peer, _)| *peer)
            .collect();
        let silent: HashSet<PeerId> = gossip
            .all_peers()
            .filter(|(peer, topics)| {
                topics.is_empty() && speaking.contains(peer) && deaf.weft.contains(peer)
            })
            .map(|(peer, _)| *peer)
            .collect();
        // Silent at this check and the last: reported (and suspected afresh from here).
        let (again, first): (HashSet<PeerId>, HashSet<PeerId>) =
            silent.into_iter().partition(|p| deaf.suspects.contains(p));
        deaf.suspects = first;
        for peer in again {
            self.input(Input::Deaf { peer });
        }
    }
}
