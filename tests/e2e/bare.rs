//! Bare rust-libp2p peers for tests: they know only what docs/PROTOCOL.md says (the Noise
//! prologue, protocol ids, topic names), nothing of weft's code, so they stand for another
//! implementation, a stranger or a misbehaving member.

use std::time::Duration;

use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Swarm, gossipsub, identity, noise, tcp, yamux};

/// A swarm for `keypair` speaking TCP (Noise with `mesh`'s prologue, Yamux) and QUIC.
pub fn swarm<B: NetworkBehaviour>(
    keypair: identity::Keypair,
    mesh: &str,
    behaviour: impl FnOnce(&identity::Keypair) -> B,
) -> Swarm<B> {
    let prologue = format!("/weft/mesh/{mesh}").into_bytes();
    libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            |key: &identity::Keypair| {
                noise::Config::new(key).map(|noise| noise.with_prologue(prologue.clone()))
            },
            yamux::Config::default,
        )
        .unwrap()
        .with_quic()
        .with_behaviour(behaviour)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// Standard gossipsub with signed messages, as any libp2p implementation has it.
pub fn gossip(key: &identity::Keypair) -> gossipsub::Behaviour {
    gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossipsub::Config::default(),
    )
    .unwrap()
}

/// Drives `swarm` for `time`, handing every event to `each`; stops early when `each` says
/// so and returns whether it did.
pub async fn drive<B: NetworkBehaviour>(
    swarm: &mut Swarm<B>,
    time: Duration,
    mut each: impl FnMut(&mut Swarm<B>, SwarmEvent<B::ToSwarm>) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + time;
    loop {
        match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
            Ok(event) => {
                if each(swarm, event) {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
}
