//! A member connected to a node twice (TCP and QUIC) hears a burst of the node's topic
//! messages in the order they were published: gossipsub shares one send queue among a
//! peer's connections, and the node sends on one of them only. The member is a bare
//! rust-libp2p gossipsub peer, so nothing of weft's own reordering stands in between; it
//! reads its TCP connection slowly, so a burst spread over both connections would arrive
//! out of order, and pings on both often (a connection's gossipsub handler takes from the
//! shared queue only once something wakes it while the queue holds messages).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::{AsyncRead, AsyncWrite, StreamExt};
use libp2p::core::Transport;
use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, gossipsub, noise, ping, tcp, yamux};

use crate::bare;
use crate::support::{PATIENCE, founder, root, wait_for};

/// Messages in the burst.
const BURST: usize = 2000;

#[test]
fn a_burst_reaches_a_member_on_two_connections_in_the_order_it_was_published() {
    let root = root();
    let a = founder(root.path(), "alice");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(a.client().subscribe("news", true)).unwrap();
    let mesh = a.status()["mesh"].as_str().unwrap().to_string();
    let keypair = Keypair::generate_ed25519();
    a.ok(&["members", "add", &keypair.public().to_peer_id().to_string()]);

    let topic = gossipsub::IdentTopic::new(format!("weft/{mesh}/t/news"));
    let alice: PeerId = a.peer_id.parse().unwrap();
    let _runtime = rt.enter();
    let mut swarm = slow_tcp_swarm(keypair, &mesh);
    swarm.behaviour_mut().gossipsub.subscribe(&topic).unwrap();
    for addr in [a.addr(), a.quic_addr()] {
        swarm.dial(addr.parse::<Multiaddr>().unwrap()).unwrap();
    }
    let connected = rt.block_on(bare::drive(&mut swarm, PATIENCE, |swarm, _| {
        swarm.network_info().connection_counters().num_established() == 2
    }));
    assert!(connected, "the member never had two connections to alice");
    // Until alice knows the member follows the topic (the swarm driven meanwhile).
    wait_for("alice to see the member follow news", || {
        rt.block_on(bare::drive(
            &mut swarm,
            Duration::from_millis(50),
            |_, _| false,
        ));
        (a.status()["topics"][0]["peers"] == 1).then_some(())
    });
    assert_eq!(
        swarm.network_info().connection_counters().num_established(),
        2,
        "both connections still up"
    );

    let client = a.client();
    let heard = rt.block_on(async {
        let publish = futures::stream::iter(0..BURST)
            .map(|i| {
                let client = &client;
                async move { client.publish("news", &format!("m {i}")).await.unwrap() }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>();
        let mut heard = Vec::new();
        let listen = bare::drive(&mut swarm, PATIENCE, |_, event| {
            if let SwarmEvent::Behaviour(MemberEvent::Gossipsub(gossipsub::Event::Message {
                message,
                ..
            })) = event
                && message.source == Some(alice)
            {
                heard.push(message.sequence_number.unwrap());
            }
            heard.len() == BURST
        });
        let (_, all) = tokio::join!(publish, listen);
        assert!(all, "heard {} of {BURST} messages", heard.len());
        heard
    });
    let out_of_order = heard.windows(2).filter(|w| w[1] <= w[0]).count();
    assert_eq!(
        out_of_order, 0,
        "messages heard before one published earlier"
    );
}

/// The bare member: standard gossipsub and ping.
#[derive(NetworkBehaviour)]
struct Member {
    gossipsub: gossipsub::Behaviour,
    ping: ping::Behaviour,
}

/// A bare member of `mesh` speaking QUIC, and TCP read [`SLOW_READ`] bytes at a time a
/// millisecond apart.
fn slow_tcp_swarm(keypair: Keypair, mesh: &str) -> Swarm<Member> {
    let prologue = format!("/weft/mesh/{mesh}").into_bytes();
    libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_quic()
        .with_other_transport(|key| {
            let noise = noise::Config::new(key).unwrap().with_prologue(prologue);
            tcp::tokio::Transport::new(tcp::Config::default())
                .map(|stream, _| Slow {
                    inner: stream,
                    pause: None,
                })
                .upgrade(Version::V1)
                .authenticate(noise)
                .multiplex(yamux::Config::default())
        })
        .unwrap()
        .with_behaviour(|key| Member {
            gossipsub: bare::gossip(key),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_millis(5))),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// Bytes [`Slow`] reads at once.
const SLOW_READ: usize = 256;

/// A stream read [`SLOW_READ`] bytes at a time, a millisecond apart.
struct Slow<S> {
    inner: S,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Slow<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(pause) = &mut self.pause {
            ready!(pause.as_mut().poll(cx));
            self.pause = None;
        }
        let n = buf.len().min(SLOW_READ);
        let read = ready!(Pin::new(&mut self.inner).poll_read(cx, &mut buf[..n]));
        self.pause = Some(Box::pin(tokio::time::sleep(Duration::from_millis(1))));
        Poll::Ready(read)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Slow<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
