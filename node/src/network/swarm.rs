//! Transports and listening: TCP (Noise XX + Yamux), QUIC (TLS 1.3) and relayed circuits
//! (Noise XX + Yamux inside the circuit), all authenticating the peer's ed25519 key, so the
//! PeerId is the identity on every connection, end to end through relays.

use std::collections::HashSet;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, Swarm, tcp, yamux};

use super::NodeError;
use super::behaviour::{Behaviour, Offer};
use super::mesh_noise::{MeshNoise, Prologue};
use super::tally::Tally;
use crate::mesh::door::Door;

/// Connections to members are long-lived; they are closed by peers leaving, not idleness.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// How often a QUIC connection says it is alive when it has nothing else to say.
const QUIC_KEEP_ALIVE: Duration = Duration::from_secs(1);

/// How long a QUIC connection lasts without a word from its peer, in milliseconds.
const QUIC_IDLE_TIMEOUT_MS: u32 = 5_000;

/// How long a connection may take to be set up (dial or handshake): a member that cannot
/// be reached is known as such within it, and a `weft send` to it says so (the library's
/// default is 10 s).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// How long listeners may take to report their addresses at start-up.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the Swarm for `keypair`; TCP and relayed connections carry `prologue` in their
/// Noise handshake; the relay serves the members `door` admits, as `offer` says; refusals
/// are counted in `tally`.
pub fn build(
    keypair: Keypair,
    prologue: Prologue,
    door: &Door,
    tally: &Tally,
    offer: Offer,
    registry: &mut prometheus_client::registry::Registry,
) -> Result<Swarm<Behaviour>, NodeError> {
    let relayed = prologue.clone();
    let transport = |e: &dyn std::fmt::Display| NodeError::Transport(e.to_string());
    Ok(libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            |key: &Keypair| MeshNoise::new(key, prologue.clone()),
            yamux::Config::default,
        )
        .map_err(|e| transport(&e))?
        .with_quic_config(|mut c| {
            // A peer gone without a word (killed, unplugged) is noticed within seconds, not
            // the library's 10 s: its streams would go into nothing until then.
            c.keep_alive_interval = QUIC_KEEP_ALIVE;
            c.max_idle_timeout = QUIC_IDLE_TIMEOUT_MS;
            c
        })
        .with_dns()
        .map_err(|e| transport(&e))?
        .with_relay_client(
            |key: &Keypair| MeshNoise::new(key, relayed.clone()),
            yamux::Config::default,
        )
        .map_err(|e| transport(&e))?
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key, relay_client| {
            Behaviour::new(key, relay_client, door, tally, offer)
                .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
        })
        .map_err(|e| transport(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .with_connection_timeout(CONNECTION_TIMEOUT)
        .build())
}

/// Starts listening on `addrs` and waits until each listener reports an address. When
/// `fallback` is set (the addresses are the defaults, not the user's), a port already in use
/// is replaced by an ephemeral one with a warning instead of failing.
pub async fn listen(
    swarm: &mut Swarm<Behaviour>,
    addrs: &[Multiaddr],
    fallback: bool,
) -> Result<Vec<Multiaddr>, NodeError> {
    let mut waiting = HashSet::new();
    for addr in addrs {
        let id = match swarm.listen_on(addr.clone()) {
            Ok(id) => id,
            Err(e) if fallback => {
                let ephemeral = with_port_zero(addr);
                tracing::warn!(%addr, error = %e, "default port busy; listening on an ephemeral port");
                swarm
                    .listen_on(ephemeral.clone())
                    .map_err(|e| NodeError::Listen(ephemeral.to_string(), e.to_string()))?
            }
            Err(e) => return Err(NodeError::Listen(addr.to_string(), e.to_string())),
        };
        waiting.insert(id);
    }
    let mut bound = Vec::new();
    let deadline = tokio::time::sleep(LISTEN_TIMEOUT);
    tokio::pin!(deadline);
    while !waiting.is_empty() {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { listener_id, address } => {
                    waiting.remove(&listener_id);
                    bound.push(address);
                }
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(NodeError::Listen("listener".into(), error.to_string()));
                }
                SwarmEvent::ListenerClosed { reason: Err(error), .. } => {
                    return Err(NodeError::Listen("listener".into(), error.to_string()));
                }
                _ => {}
            },
            _ = &mut deadline => {
                return Err(NodeError::Listen("listener".into(), "no address reported within 5 s".into()));
            }
        }
    }
    // A listener on every interface reports one address per interface: take those it has
    // reported already, so that the node says every address it listens on.
    while let Some(Some(event)) = swarm.next().now_or_never() {
        if let SwarmEvent::NewListenAddr { address, .. } = event {
            bound.push(address);
        }
    }
    Ok(bound)
}

fn with_port_zero(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .map(|p| match p {
            Protocol::Tcp(_) => Protocol::Tcp(0),
            Protocol::Udp(_) => Protocol::Udp(0),
            other => other,
        })
        .collect()
}
