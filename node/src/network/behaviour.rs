//! The composed behaviour: connection limits, standard identify, ping and gossipsub, and the
//! raw streams that carry `/weft/dm/1`.

use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{connection_limits, gossipsub, identify, ping};
use weft_proto::limits::MAX_TOPIC_PAYLOAD_BYTES;

/// Identify's protocol version string: which application protocol family this node speaks.
pub const IDENTIFY_PROTOCOL: &str = "/weft/1.0.0";

/// The application score of a stranger to the mesh. Weighted (x10) it is -60: below the
/// publish threshold (-50), so nothing is published or forwarded to it, but above the
/// graylist (-80), so its subscriptions are still heard and need no repeating once it is
/// admitted.
pub const STRANGER_SCORE: f64 = -6.0;

/// Most unacknowledged direct messages on the wire to one peer; the rest wait in the outbox.
pub const MAX_DM_IN_FLIGHT: usize = 64;

/// Gossipsub's own envelope (signature, key, seqno, topic) on top of our payload.
const GOSSIP_ENVELOPE_BYTES: usize = 2048;

/// Connection caps. A hit cap refuses the connection (the swarm logs it as denied); the
/// figures leave room for a mesh of a few hundred members.
const MAX_PENDING_INCOMING: u32 = 64;
const MAX_ESTABLISHED: u32 = 512;
const MAX_ESTABLISHED_PER_PEER: u32 = 4;

/// The behaviour of a weft node.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Caps on pending and established connections.
    pub limits: connection_limits::Behaviour,
    /// Standard identify: learns peers' listen addresses and protocols.
    pub identify: identify::Behaviour,
    /// Standard ping: liveness and round-trip times.
    pub ping: ping::Behaviour,
    /// Standard gossipsub: topics. Signed messages, validated by the application.
    pub gossipsub: gossipsub::Behaviour,
    /// Raw streams for `/weft/dm/1` (see `network::dm_stream`).
    pub stream: libp2p_stream::Behaviour,
}

impl Behaviour {
    /// Builds the behaviour for `key`.
    pub fn new(key: &Keypair) -> Result<Behaviour, String> {
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                .with_agent_version(format!("weft/{}", env!("CARGO_PKG_VERSION"))),
        );
        let gossip_config = gossipsub::ConfigBuilder::default()
            .validation_mode(gossipsub::ValidationMode::Strict)
            .validate_messages()
            .max_transmit_size(MAX_TOPIC_PAYLOAD_BYTES + GOSSIP_ENVELOPE_BYTES)
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
        // Peer scoring is how strangers to the mesh are kept out of gossip: the event loop
        // gives them a low application score (STRANGER_SCORE) the moment they connect, and
        // blacklists them, so nothing is sent to them and nothing from them is taken. No
        // penalty for many peers behind one address: members behind one NAT are normal here.
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
        Ok(Behaviour {
            limits,
            identify,
            ping: ping::Behaviour::default(),
            gossipsub,
            stream: libp2p_stream::Behaviour::new(),
        })
    }
}
