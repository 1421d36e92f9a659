//! Reach: relaying for members (circuit relay v2 server), holding slots on members' relays
//! (the client side) so members who cannot dial this node reach it through them, direct
//! connection upgrades (DCUtR) and reachability (AutoNAT). These are libp2p's own machinery;
//! who is a member and who is connected the core says.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, dcutr, relay};
use weft_proto::api::{RelayLimitsInfo, RelayStatus};

use super::EventLoop;
use crate::config::RelayLimits;
use crate::core::short;
use crate::mesh::addresses::is_loopback;
pub(super) use crate::mesh::addresses::is_relayed;

/// Most relays this node holds a slot on at once.
pub(super) const MAX_RELAYS: usize = 2;

/// How long after a refused or lost slot the same relay is asked again.
const RELAY_RETRY: Duration = Duration::from_secs(30);

/// What the loop knows about relaying, both ways.
#[derive(Default)]
pub(super) struct Reach {
    /// The limits this node relays within, when it relays.
    serving: Option<RelayLimits>,
    /// Members holding a reservation here.
    reservations: HashSet<PeerId>,
    /// Circuits relayed through here, by (source, destination).
    circuits: HashMap<(PeerId, PeerId), usize>,
    /// The relays this node listens through, and whether the slot is confirmed.
    relays: HashMap<PeerId, (ListenerId, bool)>,
    /// Relays whose slot was refused or lost, and when to ask again.
    retry: HashMap<PeerId, Instant>,
    /// Whether peers can dial this node, as AutoNAT last found.
    nat: Option<libp2p::autonat::NatStatus>,
    /// Members whose gossip told this node no topic.
    pub(super) deaf: super::deaf::Deaf,
    /// When each member's connection last answered a ping.
    pub(super) liveness: super::liveness::Liveness,
}

impl Reach {
    /// Relaying within `serving`, when set; no slots held yet.
    pub(super) fn new(serving: Option<RelayLimits>) -> Reach {
        Reach {
            serving,
            ..Default::default()
        }
    }

    /// Relaying as [`RelayStatus`] shows it.
    pub(super) fn status(&self) -> RelayStatus {
        let mut reserved_on: Vec<String> = self
            .relays
            .iter()
            .filter(|(_, (_, confirmed))| *confirmed)
            .map(|(peer, _)| peer.to_string())
            .collect();
        reserved_on.sort();
        RelayStatus {
            serving: self.serving.map(|l| RelayLimitsInfo {
                max_reservations: l.max_reservations,
                max_circuits: l.max_circuits,
                max_circuits_per_peer: l.max_circuits_per_peer,
                max_circuit_secs: l.max_circuit_duration.as_secs(),
                max_circuit_bytes: l.max_circuit_bytes,
            }),
            reservations: self.reservations.len(),
            circuits: self.circuits.values().sum(),
            reserved_on,
            reachability: match &self.nat {
                Some(libp2p::autonat::NatStatus::Public(addr)) => format!("public at {addr}"),
                Some(libp2p::autonat::NatStatus::Private) => "private".into(),
                _ => "unknown".into(),
            },
        }
    }
}

impl EventLoop {
    /// Takes relay slots while this node has fewer than [`MAX_RELAYS`]: on connected
    /// members that relay and that this node dialled, so that members who cannot dial this
    /// node directly reach it through them. Called when a member identifies itself and on
    /// the tick (membership may come after the identify).
    pub(super) fn take_relay_slots(&mut self) {
        if self.reach.relays.len() >= MAX_RELAYS {
            return;
        }
        let now = Instant::now();
        self.reach.retry.retain(|_, at| *at > now);
        let candidates: Vec<(PeerId, Multiaddr)> = self
            .core
            .peers()
            .iter()
            .filter(|(peer, c)| c.relays && !self.reach.relays.contains_key(peer))
            .filter(|(peer, _)| !self.reach.retry.contains_key(peer))
            .filter_map(|(peer, _)| Some((*peer, self.relay_addr(peer)?)))
            .filter(|(peer, _)| self.core.admits(peer))
            .collect();
        for (peer, addr) in candidates {
            if self.reach.relays.len() >= MAX_RELAYS {
                return;
            }
            let circuit = addr.with(Protocol::P2p(peer)).with(Protocol::P2pCircuit);
            match self.swarm.listen_on(circuit) {
                Ok(listener) => {
                    tracing::info!(relay = %short(&peer), "asking for a relay slot");
                    self.reach.relays.insert(peer, (listener, false));
                    self.also_over_quic(peer);
                }
                Err(e) => {
                    tracing::warn!(relay = %short(&peer), error = %e, "cannot listen through relay")
                }
            }
        }
    }

    /// Connects to `relay` over QUIC too, when it is reached over TCP only: the relay then
    /// tells this node the address its QUIC socket has from outside (through a NAT), and
    /// that is the address hole punching can use. (A TCP connection's outside port is a
    /// fresh one per connection, useless for punching; QUIC dials from its listening socket.)
    fn also_over_quic(&mut self, relay: PeerId) {
        let over_quic = |a: &Multiaddr| a.iter().any(|p| matches!(p, Protocol::QuicV1));
        if self
            .core
            .peers()
            .get(&relay)
            .is_none_or(|c| over_quic(&c.path.addr))
        {
            return;
        }
        let quic: Vec<Multiaddr> = self
            .core
            .addresses_of(&relay)
            .into_iter()
            .filter(|a| over_quic(a) && !is_relayed(a))
            .collect();
        if quic.is_empty() {
            return;
        }
        let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(relay)
            .addresses(quic)
            .condition(libp2p::swarm::dial_opts::PeerCondition::Always)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(relay = %short(&relay), error = %e, "no QUIC connection to the relay");
        }
    }

    /// Where `relay` is connected: the reservation rides that connection (the address only
    /// names it). Relayed connections do not carry reservations.
    fn relay_addr(&self, relay: &PeerId) -> Option<Multiaddr> {
        let connected = &self.core.peers().get(relay)?.path;
        if connected.relayed {
            return None;
        }
        Some(
            connected
                .addr
                .iter()
                .filter(|p| !matches!(p, Protocol::P2p(_)))
                .collect(),
        )
    }

    /// A listener closed: when it was a relay slot, the slot is gone (another relay may be
    /// taken when one identifies itself).
    pub(super) fn on_listener_closed(&mut self, listener: ListenerId, reason: Option<String>) {
        let gone: Vec<PeerId> = self
            .reach
            .relays
            .iter()
            .filter(|(_, (id, _))| *id == listener)
            .map(|(peer, _)| *peer)
            .collect();
        for relay in gone {
            tracing::info!(relay = %short(&relay), reason = reason.as_deref().unwrap_or("closed"), "relay slot closed");
            self.reach.relays.remove(&relay);
            self.reach.retry.insert(relay, Instant::now() + RELAY_RETRY);
        }
    }

    /// A new listen address of this node: when it relays and the address is not loopback,
    /// it is offered to members as one they reach it at (see [`relay_addresses`]).
    pub(super) fn on_listen_addr(&mut self, addr: &Multiaddr) {
        if self.reach.serving.is_some() && !is_relayed(addr) && !is_loopback(addr) {
            self.swarm.add_external_address(addr.clone());
        }
    }

    pub(super) fn on_relay_client(&mut self, event: relay::client::Event) {
        match event {
            relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                renewal,
                ..
            } => {
                if let Some((_, confirmed)) = self.reach.relays.get_mut(&relay_peer_id) {
                    *confirmed = true;
                }
                if !renewal {
                    tracing::info!(relay = %short(&relay_peer_id), "holding a relay slot; members can reach this node through it");
                }
            }
            relay::client::Event::OutboundCircuitEstablished { relay_peer_id, .. } => {
                tracing::debug!(relay = %short(&relay_peer_id), "circuit opened through relay");
            }
            relay::client::Event::InboundCircuitEstablished { src_peer_id, .. } => {
                tracing::debug!(peer = %short(&src_peer_id), "a member reached this node through a relay");
            }
        }
    }

    pub(super) fn on_relay_server(&mut self, event: relay::Event) {
        use relay::Event::*;
        match event {
            ReservationReqAccepted { src_peer_id, .. } => {
                self.reach.reservations.insert(src_peer_id);
            }
            ReservationReqDenied {
                src_peer_id,
                status,
            } => {
                self.refuse_relay(&src_peer_id, "reservation", status);
            }
            ReservationClosed { src_peer_id } | ReservationTimedOut { src_peer_id } => {
                self.reach.reservations.remove(&src_peer_id);
            }
            CircuitReqAccepted {
                src_peer_id,
                dst_peer_id,
            } => {
                tracing::info!(from = %short(&src_peer_id), to = %short(&dst_peer_id), "relaying a circuit");
                *self
                    .reach
                    .circuits
                    .entry((src_peer_id, dst_peer_id))
                    .or_default() += 1;
            }
            CircuitReqDenied {
                src_peer_id,
                status,
                ..
            } => self.refuse_relay(&src_peer_id, "circuit", status),
            CircuitClosed {
                src_peer_id,
                dst_peer_id,
                ..
            } => {
                let key = (src_peer_id, dst_peer_id);
                if let Some(n) = self.reach.circuits.get_mut(&key) {
                    *n -= 1;
                    if *n == 0 {
                        self.reach.circuits.remove(&key);
                    }
                }
            }
            _ => {}
        }
    }

    /// Counts and logs a refused relay request, saying what actually happened: a stranger,
    /// a cap hit, or a circuit to a member that holds no slot here.
    fn refuse_relay(&mut self, peer: &PeerId, what: &str, status: relay::StatusCode) {
        let (reason, why) = match status {
            _ if !self.core.admits(peer) => (
                format!("relay_{what}_not_member"),
                "not a member of this mesh",
            ),
            relay::StatusCode::NoReservation => (
                format!("relay_{what}_no_slot"),
                "the member it asked to reach holds no slot on this relay (the address it dialled is an old relayed one)",
            ),
            relay::StatusCode::ConnectionFailed => (
                format!("relay_{what}_unreachable"),
                "the member it asked to reach could not be reached from here",
            ),
            _ => (
                format!("relay_{what}_limit"),
                "a relay limit is reached (see `weft status`)",
            ),
        };
        self.shared.tally.add_kind("relay", &reason);
        tracing::warn!(peer = %short(peer), reason = %reason, "refused input from peer: relay {what} refused ({status:?}): {why}");
    }

    pub(super) fn on_autonat(&mut self, event: libp2p::autonat::Event) {
        if let libp2p::autonat::Event::StatusChanged { new, .. } = event {
            tracing::info!(reachability = ?new, "reachability changed (AutoNAT)");
            self.reach.nat = Some(new);
        }
    }

    pub(super) fn on_dcutr(&mut self, event: dcutr::Event) {
        let peer = short(&event.remote_peer_id);
        match event.result {
            Ok(_) => tracing::info!(%peer, "hole punched: direct connection through NAT"),
            Err(e) => {
                tracing::info!(%peer, error = %e, "hole punching failed; staying relayed")
            }
        }
    }
}

/// The addresses a relay listening on `listen` offers in its reservations (members reach
/// it, and the members holding slots on it, there): its non-loopback addresses, or its
/// loopback ones when it has nothing else (a mesh on one machine).
pub(super) fn relay_addresses(listen: &[Multiaddr]) -> Vec<Multiaddr> {
    let (loopback, outside): (Vec<&Multiaddr>, Vec<&Multiaddr>) = listen
        .iter()
        .filter(|a| !is_relayed(a))
        .partition(|a| is_loopback(a));
    let chosen = if outside.is_empty() {
        loopback
    } else {
        outside
    };
    chosen.into_iter().cloned().collect()
}
