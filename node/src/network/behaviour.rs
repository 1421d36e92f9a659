//! The composed behaviour. In order (the swarm asks them in this order, and the first
//! refusal wins): the block list (removed keys, once told so, are refused when a
//! connection is established, before any protocol is negotiated), connection limits, the
//! raw streams that carry weft's own protocols (each of which checks the ACL itself), and,
//! for members only ([`Gated`]), the standard protocols: identify, ping, gossipsub, circuit
//! relay v2 (server and client), DCUtR and AutoNAT. A stranger's connection speaks nothing but weft's stream
//! protocols, and of those only `/weft/join/1` answers it. mDNS, which has no connections of
//! its own, comes last.

use libp2p::allow_block_list::{self, BlockedPeers};
use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{autonat, connection_limits, dcutr, gossipsub, identify, mdns, ping, relay};
use weft_proto::limits::MAX_TOPIC_PAYLOAD_BYTES;

use super::gated::Gated;
use super::one_lane::OneLane;
use super::punch::Punch;
use super::tally::Tally;
use crate::config::RelayLimits;
use crate::mesh::door::Door;
/// Identify's protocol version string: which application protocol family this node speaks.
pub const IDENTIFY_PROTOCOL: &str = "/weft/1.0.0";

/// How a weft node's identify agent version starts (the crate's version follows).
pub const AGENT: &str = "weft/";

/// How long AutoNAT's server counts probes a member asked for (3 per member and 30 in all
/// within it).
const AUTONAT_THROTTLE: std::time::Duration = std::time::Duration::from_secs(60);

/// Most unacknowledged direct messages on the wire to one peer; the rest wait in the outbox.
pub const MAX_DM_IN_FLIGHT: usize = 64;

/// Gossipsub's own envelope (signature, key, seqno, topic) on top of our payload.
const GOSSIP_ENVELOPE_BYTES: usize = 2048;

/// How long gossipsub keeps a message for a member whose connection is slow before it
/// gives up on it (gossipsub's defaults are 5 s to publish, 1 s to forward). A burst of a
/// thousand messages can take longer than that to drain on a loaded machine; a message
/// given up on leaves a gap that only catch-up fills, seconds later, and listeners wait
/// on it or hear the run out of order. [`GOSSIP_QUEUE`] still bounds what is held.
const GOSSIP_PUBLISH_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);
const GOSSIP_FORWARD_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Most gossip messages queued for one member (gossipsub's default is 5,000): twice a burst
/// of a thousand. Each is a copy of up to 66 KiB, so a member that stops reading its gossip
/// pins at most about 135 MiB until its connection closes (gossipsub gives up on a queued
/// message only when the member reads again); past the cap, what is not queued reaches it
/// by catch-up.
const GOSSIP_QUEUE: usize = 2048;

/// Connection caps. A hit cap refuses the connection (the swarm logs it as denied); the
/// figures leave room for a mesh of a few hundred members.
const MAX_PENDING_INCOMING: u32 = 64;
const MAX_ESTABLISHED: u32 = 512;
const MAX_ESTABLISHED_PER_PEER: u32 = 4;

/// The behaviour of a weft node.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Removed keys told of their removal: refused at connection establishment, both ways.
    pub blocked: allow_block_list::Behaviour<BlockedPeers>,
    /// Caps on pending and established connections.
    pub limits: connection_limits::Behaviour,
    /// Raw streams for weft's protocols (dm, join, sync, mailbox, blob, pipe).
    pub stream: libp2p_stream::Behaviour,
    /// The standard protocols, on members' connections only.
    pub members: Gated<Members>,
    /// Finding members on the local network (only when listening on every interface, and
    /// not with `--mdns off`).
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}

/// The standard protocols a node speaks with members.
#[derive(NetworkBehaviour)]
pub struct Members {
    /// Standard identify: learns peers' listen addresses and protocols.
    pub identify: identify::Behaviour,
    /// Standard ping: liveness and round-trip times.
    pub ping: ping::Behaviour,
    /// Standard gossipsub: topics. Signed messages, validated by the application; sent to
    /// each member on one connection, so they arrive in order.
    pub gossipsub: OneLane<gossipsub::Behaviour>,
    /// Circuit relay v2, serving members only (off with `--relay off`).
    pub relay: Toggle<relay::Behaviour>,
    /// Circuit relay v2 client: reservations on relays, relayed connections.
    pub relay_client: relay::client::Behaviour,
    /// Direct connection upgrade through relay (hole punching), held to a budget per
    /// member.
    pub dcutr: Punch<dcutr::Behaviour>,
    /// AutoNAT: whether members can dial this node back (reachability). Only members probe
    /// and answer, so only members confirm an external address.
    pub autonat: autonat::Behaviour,
}

/// What a node offers its network beyond messaging.
#[derive(Clone, Copy, Debug)]
pub struct Offer {
    /// Relay limits; `None` when this node does not relay.
    pub relay: Option<RelayLimits>,
    /// Whether to find members on the local network by mDNS (it multicasts on every
    /// interface, so the node turns it on only when it listens on every interface).
    pub mdns: bool,
}

impl Behaviour {
    /// Builds the behaviour for `key`: relaying for the members `door` admits, within
    /// `offer`'s limits; refusals are counted in `tally`.
    pub fn new(
        key: &Keypair,
        relay_client: relay::client::Behaviour,
        door: &Door,
        tally: &Tally,
        offer: Offer,
    ) -> Result<Behaviour, String> {
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                .with_agent_version(format!("{AGENT}{}", env!("CARGO_PKG_VERSION")))
                // A relayed address appears after the first identify; members must hear of
                // it to reach this node through the relay.
                .with_push_listen_addr_updates(true),
        );
        let gossip_config = gossipsub::ConfigBuilder::default()
            .validation_mode(gossipsub::ValidationMode::Strict)
            .validate_messages()
            .max_transmit_size(MAX_TOPIC_PAYLOAD_BYTES + GOSSIP_ENVELOPE_BYTES)
            .publish_queue_duration(GOSSIP_PUBLISH_PATIENCE)
            .forward_queue_duration(GOSSIP_FORWARD_PATIENCE)
            .connection_handler_queue_len(GOSSIP_QUEUE)
            .message_id_fn(|m: &gossipsub::Message| {
                // Content-addressed: a re-published copy has the same id and is dropped by
                // gossipsub's duplicate cache; the history index catches later replays.
                let mut hasher = blake3::Hasher::new_derive_key("weft/v1/gossip-id");
                if let Some(source) = &m.source {
                    hasher.update(&source.to_bytes());
                }
                hasher.update(m.topic.as_str().as_bytes());
                hasher.update(&m.data);
                gossipsub::MessageId::from(&hasher.finalize().as_bytes()[..20])
            })
            .build()
            .map_err(|e| e.to_string())?;
        let mut gossipsub = gossipsub::Behaviour::new(
            gossipsub::MessageAuthenticity::Signed(key.clone()),
            gossip_config,
        )?;
        // Strangers never reach gossipsub (it runs on members' connections only); scoring
        // punishes members whose messages fail validation. No penalty for many peers behind
        // one address: members behind one NAT are normal here.
        let params = gossipsub::PeerScoreParams {
            ip_colocation_factor_weight: 0.0,
            ..Default::default()
        };
        gossipsub.with_peer_score(params, gossipsub::PeerScoreThresholds::default())?;
        let limits = connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
                .with_max_established(Some(MAX_ESTABLISHED))
                .with_max_established_per_peer(Some(MAX_ESTABLISHED_PER_PEER)),
        );
        let members = Members {
            identify,
            ping: ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(super::event_loop::liveness::LIVENESS_INTERVAL)
                    .with_timeout(super::event_loop::liveness::SILENCE),
            ),
            gossipsub: OneLane::new(gossipsub),
            relay: offer
                .relay
                .map(|limits| relay_server(key, door, limits))
                .into(),
            relay_client,
            dcutr: Punch::new(
                dcutr::Behaviour::new(key.public().to_peer_id()),
                tally.clone(),
            ),
            autonat: autonat::Behaviour::new(
                key.public().to_peer_id(),
                autonat::Config {
                    boot_delay: std::time::Duration::from_secs(5),
                    retry_interval: std::time::Duration::from_secs(30),
                    throttle_clients_period: AUTONAT_THROTTLE,
                    // Members on one LAN or one machine reach each other at private
                    // addresses; those count.
                    only_global_ips: false,
                    ..Default::default()
                },
            ),
        };
        Ok(Behaviour {
            blocked: allow_block_list::Behaviour::default(),
            limits,
            stream: libp2p_stream::Behaviour::new(),
            members: Gated::new(members, door.clone()),
            mdns: match offer.mdns {
                true => Some(
                    mdns::tokio::Behaviour::new(mdns::Config::default(), key.public().to_peer_id())
                        .map_err(|e| format!("mDNS: {e}"))?,
                ),
                false => None,
            }
            .into(),
        })
    }

    /// Gossipsub.
    pub fn gossipsub(&self) -> &gossipsub::Behaviour {
        self.members.inner().gossipsub.inner()
    }

    /// Gossipsub, to change.
    pub fn gossipsub_mut(&mut self) -> &mut gossipsub::Behaviour {
        self.members.inner_mut().gossipsub.inner_mut()
    }
}

/// A relay server for members only: a stranger's reservation or circuit is refused (the
/// door is asked on every request), and the limits are sized for traffic, not only for the
/// library's introductions (128 KiB, 2 minutes per circuit).
fn relay_server(key: &Keypair, door: &Door, limits: RelayLimits) -> relay::Behaviour {
    let members = |door: &Door| {
        let door = door.clone();
        move |peer: libp2p::PeerId, _: &libp2p::Multiaddr, _| door.check("relay", &peer)
    };
    let mut config = relay::Config {
        max_reservations: limits.max_reservations,
        max_circuits: limits.max_circuits,
        max_circuits_per_peer: limits.max_circuits_per_peer,
        max_circuit_duration: limits.max_circuit_duration,
        max_circuit_bytes: limits.max_circuit_bytes,
        ..Default::default()
    };
    config
        .reservation_rate_limiters
        .push(Box::new(members(door)));
    config
        .circuit_src_rate_limiters
        .push(Box::new(members(door)));
    let mut server = relay::Behaviour::new(key.public().to_peer_id(), config);
    // Serve whether or not this node has confirmed an external address: the operator chose
    // to relay, and members inside one network relay for each other too.
    server.set_status(Some(relay::Status::Enable));
    server
}
