//! The libp2p side of a node: one [`EventLoop`] task owns the Swarm; everything else talks
//! to it through a cloneable [`NodeHandle`].
//!
//! - [`behaviour`]: the composed behaviour (limits, identify, ping, gossipsub, streams).
//! - [`dm_stream`]: `/weft/dm/1`, pipelined on one long-lived stream per peer.
//! - [`exchange`]: one request and one response per stream (join, sync and mailbox use it).
//! - [`gated`]: [`gated::Gated`], a behaviour on members' connections only.
//! - [`punch`]: [`punch::Punch`], hole punching (DCUtR) held to a budget per member.
//! - [`one_lane`]: [`one_lane::OneLane`], gossipsub sending to a peer on one connection.
//! - [`frame`]: the length-prefixed frames all of weft's stream protocols use.
//! - [`join`]: `/weft/join/1`, redeeming an invite key.
//! - [`sync`]: `/weft/sync/1`, bringing a member's ACL log up to date, and sharing members'
//!   addresses and sealing keys.
//! - [`mailbox`]: `/weft/mailbox/1`, sealed boxes held for members who are offline.
//! - [`service_stream`]: `/weft/service/1`, calls and replies pipelined on one stream per
//!   caller and provider.
//! - [`mesh_noise`]: Noise with the mesh id in the handshake prologue.
//! - [`permits`]: [`permits::Permits`], how many exchanges talk at once, in all and per peer.
//! - [`machine`]: how loaded this machine is (CPU, memory), for providers' load.
//! - [`swarm`]: transports (TCP + Noise + Yamux, QUIC) and listening.
//! - [`handle`]: [`NodeHandle`], the commands it sends, and [`NodeError`].
//! - [`event_loop`]: [`EventLoop`], the shell around the core: it turns commands and
//!   swarm events into the core's inputs and carries out its outputs.
//! - [`tasks`]: [`tasks::Tasks`], the loop's owned tasks.
//! - [`flush`]: [`flush::Flush`], which applies and flushes the core's batches of writes.

// `#[derive(NetworkBehaviour)]` generates a public event enum it cannot document.
#[allow(missing_docs)]
pub mod behaviour;
pub mod dm_stream;
pub mod event_loop;
pub mod exchange;
pub mod flush;
pub mod frame;
pub mod gated;
pub mod handle;
pub mod join;
pub mod machine;
pub mod mailbox;
pub mod mesh_noise;
pub mod one_lane;
pub mod permits;
pub mod punch;
pub mod queue_stream;
pub mod service_stream;
pub mod session_stream;
pub mod swarm;
pub mod sync;
pub mod tally;
pub mod tasks;

pub use event_loop::EventLoop;
pub use handle::{NodeError, NodeHandle};

/// The gossipsub topic that carries `topic` in `mesh` (`weft/<mesh-id>/t/<topic>`).
pub fn gossip_topic(
    mesh: weft_proto::mesh::MeshId,
    topic: &weft_proto::topic::TopicName,
) -> libp2p::gossipsub::IdentTopic {
    libp2p::gossipsub::IdentTopic::new(topic.gossip_topic(&mesh.to_string()))
}
