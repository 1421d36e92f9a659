//! libp2p's events, as the core's inputs: connections, dials, listen addresses, identify,
//! ping, gossip and mDNS; relaying, hole punching and AutoNAT go to `reach`. Every event
//! feeds the libp2p metrics first.

use libp2p::swarm::SwarmEvent;
use libp2p::{gossipsub, identify, mdns, ping};

use super::EventLoop;
use crate::core::io::{Gossip, Input};
use crate::core::peers::Path;
use crate::core::short;
use crate::network::behaviour::{BehaviourEvent, MembersEvent};

impl EventLoop {
    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.record(&event);
        if let SwarmEvent::ConnectionClosed { connection_id, .. } = &event {
            self.reach.liveness.forget(connection_id);
        }
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                self.local.dialled(connection_id, Ok(peer_id));
                let path = Path {
                    addr: endpoint.get_remote_address().clone(),
                    outbound: endpoint.is_dialer(),
                    relayed: endpoint.is_relayed(),
                };
                self.input(Input::Connected {
                    peer: peer_id,
                    path,
                });
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } => {
                let cause = cause.map(|c| c.to_string());
                tracing::info!(peer = %short(&peer_id), cause = cause.as_deref().unwrap_or("closed"), "disconnected");
                self.reach.deaf.forget(&peer_id);
                self.input(Input::Disconnected { peer: peer_id });
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                self.local.dialled(connection_id, Err(one_line(&error)));
                // A dial beside a connection that stands (hole punching, a duplicate) is no
                // news to the core: the member is reachable, and is not to be replaced.
                if let Some(peer) = peer_id.filter(|p| !self.swarm.is_connected(p)) {
                    tracing::debug!(peer = %short(&peer), error = %one_line(&error), "dial failed");
                    self.input(Input::DialFailed { peer });
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
                    self.shared.tally.add_kind("connection", "revoked");
                    tracing::info!(from = %send_back_addr, "refused a removed member's connection");
                } else {
                    // A connection cap was hit: say so and count it.
                    self.shared.tally.add_kind("connection", "connection_limit");
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
                self.input(Input::Listening(address));
            }
            // The relay client confirms this node's relayed addresses as external; a relay
            // would then hand them out in its own reservations (a circuit through a
            // circuit). They travel as listen addresses instead.
            SwarmEvent::ExternalAddrConfirmed { address } if super::reach::is_relayed(&address) => {
                self.swarm.remove_external_address(&address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.swarm.remove_external_address(&address);
                self.input(Input::NotListening(address));
            }
            SwarmEvent::Behaviour(BehaviourEvent::Members(MembersEvent::Identify(
                identify::Event::Received { peer_id, info, .. },
            ))) => {
                let relays = info.protocols.contains(&libp2p::relay::HOP_PROTOCOL_NAME);
                self.reach.deaf.identified(peer_id, &info.agent_version);
                self.input(Input::Identified {
                    peer: peer_id,
                    addrs: info.listen_addrs,
                    relays,
                });
                self.take_relay_slots();
            }
            SwarmEvent::Behaviour(BehaviourEvent::Members(MembersEvent::Ping(ping::Event {
                peer,
                connection,
                result: Ok(rtt),
            }))) => {
                let now = std::time::Instant::now();
                self.reach.liveness.answered(connection, peer, now);
                self.input(Input::Measured { peer, rtt });
            }
            SwarmEvent::Behaviour(BehaviourEvent::Members(MembersEvent::Ping(ping::Event {
                connection,
                result: Err(ping::Failure::Unsupported),
                ..
            }))) => self.reach.liveness.forget(&connection),
            SwarmEvent::Behaviour(BehaviourEvent::Members(event)) => self.on_members_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                self.input(Input::Discovered(found));
            }
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

    /// Feeds the libp2p metrics: the swarm's events and those of the standard behaviours.
    fn record(&self, event: &SwarmEvent<BehaviourEvent>) {
        use libp2p::metrics::Recorder;
        let metrics = &self.shared.metrics.libp2p;
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
            MembersEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => self.input(Input::Gossip(Gossip {
                id: message_id.0,
                via: propagation_source,
                source: message.source,
                topic: message.topic.into_string(),
                data: message.data,
            })),
            MembersEvent::Gossipsub(gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            }) => {
                let dropped = failed_messages.priority + failed_messages.non_priority;
                self.shared.metrics.gossip_dropped.inc_by(dropped as u64);
                // Once a minute per member: gossipsub says so at every heartbeat.
                let now = std::time::Instant::now();
                self.slow_said
                    .retain(|_, said| now < *said + SLOW_SAID_EVERY);
                if let std::collections::hash_map::Entry::Vacant(said) =
                    self.slow_said.entry(peer_id)
                {
                    said.insert(now);
                    tracing::warn!(
                        peer = %short(&peer_id),
                        dropped,
                        "gossip to a member fell behind; messages it was not sent in time reach it by catch-up"
                    );
                }
            }
            MembersEvent::Relay(event) => self.on_relay_server(event),
            MembersEvent::RelayClient(event) => self.on_relay_client(event),
            MembersEvent::Dcutr(event) => self.on_dcutr(event),
            MembersEvent::Autonat(event) => self.on_autonat(event),
            // Handled with the swarm's events (they touch the connection table).
            MembersEvent::Gossipsub(_) | MembersEvent::Identify(_) | MembersEvent::Ping(_) => {}
        }
    }
}

/// How often a member that gossip falls behind for is said to, at most.
const SLOW_SAID_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

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
