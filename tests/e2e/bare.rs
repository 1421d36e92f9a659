//! Bare rust-libp2p peers for tests: they know only what docs/PROTOCOL.md says (the Noise
//! prologue, protocol ids, topic names), nothing of weft's code, so they stand for another
//! implementation, a stranger or a misbehaving member.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, Stream, Swarm, gossipsub, identity, noise, tcp, yamux};

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

/// A bare rust-libp2p peer of `mesh` with raw streams, connected to `addr`, its swarm driven
/// in the background.
pub async fn bare_peer(
    keypair: identity::Keypair,
    mesh: &str,
    addr: &str,
) -> libp2p_stream::Control {
    let mut swarm = crate::bare::swarm(keypair, mesh, |_| libp2p_stream::Behaviour::new());
    let control = swarm.behaviour().new_control();
    swarm.dial(addr.parse::<Multiaddr>().unwrap()).unwrap();
    tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    control
}

/// Reads one frame (`u32` BE length, then the body).
pub async fn read_frame(stream: &mut Stream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// Writes one frame and flushes.
pub async fn write_frame(stream: &mut Stream, body: &[u8]) -> std::io::Result<()> {
    stream.write_all(&(body.len() as u32).to_be_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}
