//! A member on a relayed connection sends DCUtR `CONNECT` after `CONNECT`, each naming
//! addresses it chose: the node dials within its budget of hole punches per member, and
//! never to more addresses at once than the budget allows. The member is a bare
//! rust-libp2p peer with a relay client that speaks DCUtR's wire (its protobuf) by hand;
//! the address it names is a TCP listener of the test's, which counts the node's dials.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol, noise, ping, relay, tcp, yamux};
use tokio::sync::mpsc;

use crate::support::{TestNode, founder, member, member_ids, root, wait_for};

const DCUTR: StreamProtocol = StreamProtocol::new("/libp2p/dcutr");

/// DCUtR's message types.
const CONNECT: u64 = 100;
const SYNC: u64 = 300;

/// The `CONNECT`s the member sends on one relayed connection: more than the 12 hole
/// punches a minute the node allows one member.
const FLOOD: usize = 20;

/// The most addresses the node dials for one punch.
const MAX_ADDRESSES: usize = 20;

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
    // b relays for members; the hostile member takes a slot there, and t dials it through b.
    let b = founder(root.path(), "b");
    let t = member(root.path(), &b, "t");
    let mesh = b.status()["mesh"].as_str().unwrap().to_string();
    let hostile = Keypair::generate_ed25519();
    let hostile_id = hostile.public().to_peer_id();
    b.ok(&["members", "add", &hostile_id.to_string()]);
    wait_for("b and t know the hostile member", || {
        [&b, &t]
            .iter()
            .all(|n| member_ids(n).contains(&hostile_id.to_string()))
            .then_some(())
    });

    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let dialled = Arc::new(AtomicUsize::new(0));
    let sink = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = sink.local_addr().unwrap().port();
    let sink_addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    let counted = dialled.clone();
    rt.spawn(async move {
        while let Ok((connection, _)) = sink.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(connection);
        }
    });
    let relay: Multiaddr = b.addr().parse().unwrap();
    let (mut control, mut connected) = rt.block_on(listen_through(hostile, &mesh, relay.clone()));
    let circuit = relay
        .with(Protocol::P2pCircuit)
        .with(Protocol::P2p(hostile_id));
    t.ok(&["dial", &circuit.to_string()]);
    let target: PeerId = t.peer_id.parse().unwrap();
    let reached = rt.block_on(tokio::time::timeout(Duration::from_secs(30), async {
        while connected.recv().await != Some(target) {}
    }));
    assert!(
        reached.is_ok(),
        "t's relayed connection never reached the hostile member"
    );

    // More addresses at once than a hole punch may take, and a name to look up: refused,
    // nothing dialled.
    let mut many = vec![sink_addr.clone()];
    many.extend((1..=MAX_ADDRESSES).map(|i| {
        format!("/ip4/127.0.0.{}/tcp/9", i + 1)
            .parse::<Multiaddr>()
            .unwrap()
    }));
    let named: Multiaddr = format!("/dns4/localhost/tcp/{port}").parse().unwrap();
    for (n, addrs) in [many, vec![named]].iter().enumerate() {
        rt.block_on(punch(&mut control, target, addrs)).unwrap();
        let refused = wait_for("t dialled or refused the punch", || {
            let refused = rejected(&t, "punch_addresses");
            (refused + dialled.load(Ordering::SeqCst) > n).then_some(refused)
        });
        assert_eq!(dialled.load(Ordering::SeqCst), 0, "dialled {addrs:?}");
        assert_eq!(refused, n + 1);
    }

    // A flood of punches: the rest of the budget dialled, the others dropped and counted.
    for n in 0..FLOOD {
        let sent = rt.block_on(punch(
            &mut control,
            target,
            std::slice::from_ref(&sink_addr),
        ));
        assert!(sent.is_ok(), "punch {n}: {sent:?}");
    }
    let dropped = wait_for("t dialled or dropped every punch", || {
        let dropped = rejected(&t, "punch_over_budget");
        (dropped + dialled.load(Ordering::SeqCst) >= FLOOD).then_some(dropped)
    });
    let dialled = dialled.load(Ordering::SeqCst);
    println!("punch_flood: of {FLOOD} punches t dialled {dialled} and dropped {dropped}");
    // 12 handshakes a minute: two went to the refused punches above.
    assert_eq!(
        (dialled, dropped),
        (10, 10),
        "a member's punches past the budget are dropped, and only those"
    );
    // t still serves its members.
    let sent = b.ok(&["send", &t.peer_id, "still there?"]);
    assert!(sent.contains("delivered"), "{sent}");
}

/// How many of `reason` `node` refused.
fn rejected(node: &TestNode, reason: &str) -> usize {
    node.status()["rejected"][reason].as_u64().unwrap_or(0) as usize
}

/// Starts the hostile member's swarm: it connects to `relay`, takes a slot there and
/// stays reachable through it; returns its streams' control once it holds the slot, and
/// the peers that connect to it from then on.
async fn listen_through(
    keypair: Keypair,
    mesh: &str,
    relay: Multiaddr,
) -> (libp2p_stream::Control, mpsc::Receiver<PeerId>) {
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
    let control = swarm.behaviour().stream.new_control();
    swarm.listen_on(relay.with(Protocol::P2pCircuit)).unwrap();
    let reserved = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(HostileEvent::Relay(
                    relay::client::Event::ReservationReqAccepted { .. },
                )) => return,
                SwarmEvent::ListenerClosed { reason, .. } => panic!("no slot: {reason:?}"),
                _ => {}
            }
        }
    })
    .await;
    assert!(
        reserved.is_ok(),
        "the relay gave the hostile member no slot"
    );
    let (tell, connected) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::ConnectionEstablished { peer_id, .. } =
                swarm.select_next_some().await
            {
                let _ = tell.try_send(peer_id);
            }
        }
    });
    (control, connected)
}

/// One DCUtR exchange as the side that accepted the relayed connection: sends `CONNECT`
/// naming `addrs`, reads the node's `CONNECT`, sends `SYNC`, and waits until the node is
/// done with it.
async fn punch(
    control: &mut libp2p_stream::Control,
    target: PeerId,
    addrs: &[Multiaddr],
) -> std::io::Result<()> {
    let mut stream = control
        .open_stream(target, DCUTR)
        .await
        .map_err(std::io::Error::other)?;
    write_message(&mut stream, CONNECT, addrs).await?;
    let theirs = read_message(&mut stream).await?;
    expect_type(&theirs, CONNECT)?;
    write_message(&mut stream, SYNC, &[]).await?;
    // The node drops the stream once its side of the exchange has ended: only then may the
    // next one come (DCUtR takes one handshake at a time on a connection).
    let mut rest = Vec::new();
    (&mut stream).take(4096).read_to_end(&mut rest).await?;
    Ok(())
}

/// Writes a length-prefixed DCUtR message of type `kind` naming `addrs`.
async fn write_message(stream: &mut Stream, kind: u64, addrs: &[Multiaddr]) -> std::io::Result<()> {
    let mut message = vec![0x08];
    put_varint(&mut message, kind);
    for addr in addrs {
        let bytes = addr.to_vec();
        message.push(0x12);
        put_varint(&mut message, bytes.len() as u64);
        message.extend_from_slice(&bytes);
    }
    let mut framed = Vec::new();
    put_varint(&mut framed, message.len() as u64);
    framed.extend_from_slice(&message);
    stream.write_all(&framed).await?;
    stream.flush().await
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
