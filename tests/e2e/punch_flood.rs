//! A member that answers DCUtR's `CONNECT` with addresses of its choosing, on one relayed
//! connection after another, makes a node dial them only within the node's budget of dials
//! per member. The member is a bare rust-libp2p peer with a relay client that speaks DCUtR's
//! wire (its protobuf, docs/PROTOCOL.md's "standard protocols") by hand; the address it
//! gives is a TCP listener of the test's, which counts the connections the node makes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol, noise, ping, relay, tcp, yamux};
use tokio::sync::Notify;

use crate::support::{TestNode, founder, member, member_ids, root, wait_for};

const DCUTR: StreamProtocol = StreamProtocol::new("/libp2p/dcutr");

/// DCUtR's message types.
const CONNECT: u64 = 100;
const SYNC: u64 = 300;

/// Relayed connections the hostile member opens one after another. The node's DCUtR tries
/// three times on each, so this asks for 18 dials: more than the node's budget of 12 a
/// minute for one member.
const ROUNDS: usize = 6;

/// How often a round looks whether the target has made or refused its dials.
const POLL: Duration = Duration::from_millis(20);

/// What the hostile member speaks: a relay client, ping (so the node does not take it for
/// dead) and raw streams.
#[derive(NetworkBehaviour)]
struct Hostile {
    relay: relay::client::Behaviour,
    ping: ping::Behaviour,
    stream: libp2p_stream::Behaviour,
}

#[test]
fn a_member_cannot_make_a_node_dial_where_it_says_past_a_budget() {
    let root = root();
    // b relays for members; t joined through b, so it dialled b and takes a slot there.
    let b = founder(root.path(), "b");
    let t = member(root.path(), &b, "t");
    let mesh = b.status()["mesh"].as_str().unwrap().to_string();
    let hostile = Keypair::generate_ed25519();
    let hostile_id = hostile.public().to_peer_id();
    b.ok(&["members", "add", &hostile_id.to_string()]);
    wait_for(
        "t holds a slot on b's relay and knows the hostile member",
        || {
            let reserved = t.status()["relay"]["reserved_on"]
                .as_array()?
                .iter()
                .any(|p| p == b.peer_id.as_str());
            (reserved && member_ids(&t).contains(&hostile_id.to_string())).then_some(())
        },
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let dialled = Arc::new(AtomicUsize::new(0));
    let answered = rt.block_on(async {
        let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = sink.local_addr().unwrap().port();
        let counted = dialled.clone();
        tokio::spawn(async move {
            while let Ok((connection, _)) = sink.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(connection);
            }
        });
        let relay: Multiaddr = b.addr().parse().unwrap();
        let target: PeerId = t.peer_id.parse().unwrap();
        let sink = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
        let resolved = || refused(&t) + dialled.load(Ordering::SeqCst);
        flood(hostile, &mesh, relay, target, sink, &resolved).await
    });
    let (dialled, refused) = (dialled.load(Ordering::SeqCst), refused(&t));
    println!(
        "punch_flood: {answered} CONNECTs answered; the node dialled the sink {dialled} times \
         and refused {refused} dials"
    );
    assert!(
        dialled <= 12,
        "a member made the node dial where it said {dialled} times in a minute"
    );
    assert!(
        dialled + refused >= 3 * ROUNDS,
        "every dial asked for was made or refused"
    );
    // t still serves its members.
    let sent = b.ok(&["send", &t.peer_id, "still there?"]);
    assert!(sent.contains("delivered"), "{sent}");
}

/// The dials `node` refused as past their budget.
fn refused(node: &TestNode) -> usize {
    node.status()["rejected"]["dial_over_budget"]
        .as_u64()
        .unwrap_or(0) as usize
}

/// Opens [`ROUNDS`] relayed connections to `target` through `relay`, one after another, and
/// answers every DCUtR `CONNECT` the target sends on them with `sink`; how many it answered.
/// A round ends once the target has made or refused (`resolved` counts both) the dial each
/// answer asks for: closed sooner, the connection would take the last one with it.
async fn flood(
    keypair: Keypair,
    mesh: &str,
    relay: Multiaddr,
    target: PeerId,
    sink: Multiaddr,
    resolved: &dyn Fn() -> usize,
) -> usize {
    let prologue = format!("/weft/mesh/{mesh}").into_bytes();
    let relayed = prologue.clone();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            |key: &Keypair| noise::Config::new(key).map(|n| n.with_prologue(prologue.clone())),
            yamux::Config::default,
        )
        .unwrap()
        .with_relay_client(
            |key: &Keypair| noise::Config::new(key).map(|n| n.with_prologue(relayed.clone())),
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_, relay| Hostile {
            relay,
            ping: ping::Behaviour::default(),
            stream: libp2p_stream::Behaviour::new(),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let mut incoming = swarm
        .behaviour()
        .stream
        .new_control()
        .accept(DCUTR)
        .unwrap();
    let answered = Arc::new(AtomicUsize::new(0));
    let heard = Arc::new(Notify::new());
    {
        let (answered, heard) = (answered.clone(), heard.clone());
        tokio::spawn(async move {
            while let Some((_, stream)) = incoming.next().await {
                let (answered, heard, sink) = (answered.clone(), heard.clone(), sink.clone());
                tokio::spawn(async move {
                    if answer(stream, &sink).await.is_ok() {
                        answered.fetch_add(1, Ordering::SeqCst);
                        heard.notify_one();
                    }
                });
            }
        });
    }
    let circuit = relay.with(Protocol::P2pCircuit).with(Protocol::P2p(target));
    for round in 1..=ROUNDS {
        swarm.dial(circuit.clone()).unwrap();
        let asked = tokio::time::timeout(Duration::from_secs(30), async {
            while answered.load(Ordering::SeqCst) < 3 * round || resolved() < 3 * round {
                tokio::select! {
                    event = swarm.select_next_some() => {
                        if let SwarmEvent::OutgoingConnectionError { error, .. } = event {
                            panic!("round {round}: no relayed connection: {error}");
                        }
                    }
                    _ = heard.notified() => {}
                    // The target's dials are heard of by polling.
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        })
        .await;
        assert!(
            asked.is_ok(),
            "round {round}: the node asked {} times, and made or refused {} dials",
            answered.load(Ordering::SeqCst),
            resolved()
        );
        let _ = swarm.disconnect_peer_id(target);
        let closed = tokio::time::timeout(Duration::from_secs(30), async {
            while swarm.is_connected(&target) {
                swarm.select_next_some().await;
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "round {round}: the relayed connection stayed"
        );
    }
    answered.load(Ordering::SeqCst)
}

/// One DCUtR exchange as the dialing side of the relayed connection: reads the node's
/// `CONNECT`, answers with `sink` as this peer's address, reads its `SYNC`.
async fn answer(mut stream: Stream, sink: &Multiaddr) -> std::io::Result<()> {
    let theirs = read_message(&mut stream).await?;
    expect_type(&theirs, CONNECT)?;
    let mut ours = vec![0x08];
    put_varint(&mut ours, CONNECT);
    ours.push(0x12);
    let addr = sink.to_vec();
    put_varint(&mut ours, addr.len() as u64);
    ours.extend_from_slice(&addr);
    let mut framed = Vec::new();
    put_varint(&mut framed, ours.len() as u64);
    framed.extend_from_slice(&ours);
    stream.write_all(&framed).await?;
    stream.flush().await?;
    let sync = read_message(&mut stream).await?;
    expect_type(&sync, SYNC)
}

/// One length-prefixed protobuf message, up to DCUtR's 4 KiB.
async fn read_message(stream: &mut Stream) -> std::io::Result<Vec<u8>> {
    let mut len = 0u64;
    for shift in (0..28).step_by(7) {
        let mut byte = [0u8];
        stream.read_exact(&mut byte).await?;
        len |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    if len > 4096 {
        return Err(std::io::Error::other("oversized DCUtR message"));
    }
    let mut body = vec![0u8; len as usize];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// Fails unless `message` starts with field 1 (`type`) set to `kind`.
fn expect_type(message: &[u8], kind: u64) -> std::io::Result<()> {
    let mut want = vec![0x08];
    put_varint(&mut want, kind);
    if message.starts_with(&want) {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "expected DCUtR type {kind}: {message:02x?}"
        )))
    }
}

/// Appends `value` as a protobuf varint.
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}
