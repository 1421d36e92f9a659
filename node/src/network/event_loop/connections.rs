//! Dials, connections, listen addresses, identify and ping.

use std::time::Instant;

use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, identify, ping};
use tokio::sync::oneshot;
use weft_proto::api::Event;

use super::{EventLoop, short};
use crate::core::peers::Path;
use crate::network::NodeError;
use crate::network::behaviour::{BehaviourEvent, MembersEvent};

/// Most addresses taken from one identify message.
const MAX_IDENTIFY_ADDRS: usize = 8;

impl EventLoop {
    /// Dials `addr` for a local caller, who hears back once connected or failed.
    pub(super) fn dial(
        &mut self,
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, NodeError>>,
    ) {
        let peer = match addr.iter().last() {
            Some(Protocol::P2p(peer)) => Some(peer),
            _ => None,
        };
        if peer == Some(self.local) {
            let _ = reply.send(Err(NodeError::Invalid(format!(
                "{addr} is this node itself"
            ))));
            return;
        }
        if let Some(peer) = peer.filter(|p| self.peers.is_connected(p)) {
            let _ = reply.send(Ok(peer));
            return;
        }
        let opts = match peer {
            Some(peer) => DialOpts::peer_id(peer)
                .addresses(vec![addr.clone()])
                .condition(PeerCondition::Always)
                .build(),
            None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
        };
        let connection = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dials.insert(connection, (addr, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(NodeError::Dial {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                }));
            }
        }
    }

    /// Dials a remembered peer at its remembered addresses (redial after loss).
    pub(super) fn dial_known(&mut self, peer: PeerId) {
        let addrs = self.addresses.of(&peer);
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(peer = %short(&peer), error = %e, "redial not started");
            self.peers.dial_failed(peer, Instant::now());
        }
    }

    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.record(&event);
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => self.on_connected(peer_id, connection_id, &endpoint),
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } => self.on_disconnected(peer_id, cause.map(|c| c.to_string())),
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                if let Some((addr, reply)) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(NodeError::Dial {
                        addr: addr.to_string(),
                        reason: one_line(&error),
                    }));
                }
                if let Some(peer) = peer_id
                    && self.peers.dial_failed(peer, Instant::now())
                {
                    tracing::debug!(peer = %short(&peer), error = %one_line(&error), "dial failed");
                }
            }
            SwarmEvent::IncomingConnectionError {
                error: libp2p::swarm::ListenError::Denied { cause },
                send_back_addr,
                ..
            } => {
                if cause
                    .downcast_ref::<libp2p::allow_block_list::Blocked>()
                    .is_some()
                {
                    // The wall: a removed member, refused before any protocol.
                    self.rejected.add("revoked");
                    tracing::info!(from = %send_back_addr, "refused a removed member's connection");
                } else {
                    // A connection cap was hit: say so and count it.
                    self.rejected.add("connection_limit");
                    tracing::warn!(from = %send_back_addr, %cause, "incoming connection refused");
                }
            }
            SwarmEvent::IncomingConnectionError {
                error,
                send_back_addr,
                ..
            } => {
                tracing::debug!(from = %send_back_addr, error = %one_line(&error), "incoming connection failed");
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.on_listen_addr(&address);
                if !self.listen_addrs.contains(&address) {
                    self.listen_addrs.push(address);
                }
            }
            // The relay client confirms this node's relayed addresses as external; a relay
            // would then hand them out in its own reservations (a circuit through a
            // circuit). They travel as listen addresses instead.
            SwarmEvent::ExternalAddrConfirmed { address } if super::reach::is_relayed(&address) => {
                self.swarm.remove_external_address(&address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.swarm.remove_external_address(&address);
                self.listen_addrs.retain(|a| a != &address);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Members(MembersEvent::Identify(
                identify::Event::Received { peer_id, info, .. },
            ))) => {
                let relays = info.protocols.contains(&libp2p::relay::HOP_PROTOCOL_NAME);
                self.peers.identified(&peer_id, relays);
                self.on_identified(peer_id, info.listen_addrs);
                self.take_relay_slots();
            }
            SwarmEvent::Behaviour(BehaviourEvent::Members(MembersEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            }))) => {
                self.peers.measured(&peer, rtt);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Members(event)) => self.on_members_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(event)) => self.on_mdns(event),
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => self.on_listener_closed(listener_id, reason.err().map(|e| e.to_string())),
            SwarmEvent::ListenerError { listener_id, error } => {
                self.on_listener_closed(listener_id, Some(error.to_string()))
            }
            _ => {}
        }
    }

    fn on_connected(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        endpoint: &libp2p::core::ConnectedPoint,
    ) {
        if let Some((_, reply)) = self.dials.remove(&connection) {
            let _ = reply.send(Ok(peer));
        }
        if endpoint.is_dialer() && !endpoint.is_relayed() {
            // Where this node reached it: a member's own word.
            self.remember_own(peer, &[endpoint.get_remote_address().clone()]);
        }
        let path = Path {
            addr: endpoint.get_remote_address().clone(),
            outbound: endpoint.is_dialer(),
            relayed: endpoint.is_relayed(),
        };
        let now_unix = crate::delivery::clock::wall_us() / 1_000_000;
        if !self.peers.connected(peer, path, now_unix) {
            return;
        }
        tracing::info!(peer = %short(&peer), addr = %endpoint.get_remote_address(), "connected");
        self.deliveries.connected(&peer);
        self.screen(peer, endpoint.is_dialer(), endpoint.get_remote_address());
        self.start_sync(peer);
        self.fetch_from(peer);
        let _ = self.events.send(Event::PeerConnected {
            peer_id: peer.to_string(),
        });
    }

    fn on_disconnected(&mut self, peer: PeerId, cause: Option<String>) {
        tracing::info!(peer = %short(&peer), cause = cause.as_deref().unwrap_or("closed"), "disconnected");
        // Members only: a stranger's connection is never dialled again.
        let redial = self.admits(&peer) && self.addresses.knows(&peer);
        self.peers.disconnected(&peer, redial, Instant::now());
        self.mailboxes.collecting.forget(&peer);
        if self.doors.disconnected(&peer) {
            // Gone before its moment was up: the wall closes now.
            self.wall(peer);
            self.open_doors();
        }
        self.syncing.remove(&peer);
        self.deliveries.disconnected(&peer);
        let _ = self.events.send(Event::PeerDisconnected {
            peer_id: peer.to_string(),
        });
    }

    /// Feeds the libp2p metrics: the swarm's events and those of the standard behaviours.
    fn record(&self, event: &SwarmEvent<BehaviourEvent>) {
        use libp2p::metrics::Recorder;
        let metrics = &self.metrics.libp2p;
        metrics.record(event);
        let SwarmEvent::Behaviour(BehaviourEvent::Members(event)) = event else {
            return;
        };
        match event {
            MembersEvent::Identify(e) => metrics.record(e),
            MembersEvent::Ping(e) => metrics.record(e),
            MembersEvent::Gossipsub(e) => metrics.record(e),
            MembersEvent::Relay(e) => metrics.record(e),
            MembersEvent::Dcutr(e) => metrics.record(e),
            _ => {}
        }
    }

    /// The standard protocols' events (members' connections only).
    fn on_members_event(&mut self, event: MembersEvent) {
        match event {
            MembersEvent::Gossipsub(event) => self.on_gossip_event(event),
            MembersEvent::Relay(event) => self.on_relay_server(event),
            MembersEvent::RelayClient(event) => self.on_relay_client(event),
            MembersEvent::Dcutr(event) => self.on_dcutr(event),
            MembersEvent::Autonat(event) => self.on_autonat(event),
            // Handled with the swarm's events (they touch the connection table).
            MembersEvent::Identify(_) | MembersEvent::Ping(_) => {}
        }
    }

    /// Remembers the listen addresses a member announced (identify runs with members
    /// only), so either side can redial after a restart even when the connection was
    /// inbound.
    fn on_identified(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        // Relayed addresses are kept: they are how members who cannot reach `peer` directly
        // reach it through a relay.
        let addrs: Vec<Multiaddr> = addrs.into_iter().take(MAX_IDENTIFY_ADDRS).collect();
        self.remember_own(peer, &addrs);
    }

    /// Takes `addrs` as where member `peer` says it is (or where this node reached it);
    /// a stranger's word is never kept.
    pub(super) fn remember_own(&mut self, peer: PeerId, addrs: &[Multiaddr]) {
        if !self.admits(&peer) {
            return;
        }
        if let Some(write) = self.addresses.own(peer, addrs) {
            self.flush.write(write);
        }
        for addr in self.addresses.of(&peer) {
            self.swarm.add_peer_address(peer, addr);
        }
    }
}

/// An error and its causes on one line.
fn one_line(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out.replace('\n', " ")
}
