//! A member that sends garbage or oversized frames on `/weft/dm/1` is dropped and counted;
//! the node keeps serving everyone else. The member is a bare rust-libp2p swarm that knows
//! only what docs/PROTOCOL.md says: the Noise prologue and the protocol id.

use std::io;
use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, Codec, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, StreamProtocol, identity};

use crate::support::{founder, member, root, wait_for};

/// Writes whatever bytes it is given as a `/weft/dm/1` request.
#[derive(Clone, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_some(io).await
    }
    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_some(io).await
    }
    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&req).await?;
        io.close().await
    }
    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&res).await
    }
}

/// Whatever the other side sends, up to 1 KiB, until it closes.
async fn read_some<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io.take(1024).read_to_end(&mut buf).await?;
    Ok(buf)
}

/// Connects a bare libp2p peer with `keypair`, a member of `mesh`, to `addr` and sends
/// `frames` on `/weft/dm/1`, one connection each.
async fn attack(keypair: identity::Keypair, mesh: &str, addr: Multiaddr, frames: Vec<Vec<u8>>) {
    let mut swarm = crate::bare::swarm(keypair, mesh, |_| {
        request_response::Behaviour::<RawCodec>::new(
            [(StreamProtocol::new("/weft/dm/1"), ProtocolSupport::Full)],
            request_response::Config::default(),
        )
    });
    let target = match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(p)) => p,
        _ => panic!("address without /p2p"),
    };
    for frame in frames {
        swarm.dial(addr.clone()).unwrap();
        let sent = tokio::time::timeout(Duration::from_secs(20), async {
            let mut frame = Some(frame);
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { .. } => {
                        if let Some(f) = frame.take() {
                            swarm.behaviour_mut().send_request(&target, f);
                        }
                    }
                    // The node answered or, as it should, hung up on us.
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. })
                    | SwarmEvent::Behaviour(request_response::Event::Message { .. })
                        if frame.is_none() && !swarm.is_connected(&target) =>
                    {
                        return;
                    }
                    SwarmEvent::ConnectionClosed {
                        num_established: 0, ..
                    } if frame.is_none() => {
                        return;
                    }
                    _ => {}
                }
            }
        })
        .await;
        assert!(sent.is_ok(), "the node neither answered nor hung up");
    }
}

#[test]
fn garbage_and_oversize_frames_are_dropped_and_counted() {
    let root = root();
    let a = founder(root.path(), "a");
    let mesh = a.status()["mesh"].as_str().unwrap().to_string();
    let hostile = identity::Keypair::generate_ed25519();
    a.ok(&["members", "add", &hostile.public().to_peer_id().to_string()]);

    let mut oversize = (1_000_000u32).to_be_bytes().to_vec();
    oversize.extend_from_slice(&[0u8; 64]);
    let mut garbage = 9u32.to_be_bytes().to_vec();
    garbage.extend_from_slice(b"\xffgarbage!");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let frames = vec![garbage, oversize];
    rt.block_on(attack(hostile, &mesh, a.addr().parse().unwrap(), frames));

    let rejected = wait_for("both frames to be counted", || {
        let r = a.status()["rejected"].clone();
        (r["malformed"] == 1 && r["oversize"] == 1).then_some(r)
    });
    assert_eq!(rejected["malformed"], 1);
    assert!(a.log().contains("refused input from peer"), "logged");

    // a still serves an honest member.
    let b = member(root.path(), &a, "b");
    let out = b.ok(&["send", &a.peer_id, "still there?"]);
    assert!(out.starts_with("delivered"), "{out}");
}
