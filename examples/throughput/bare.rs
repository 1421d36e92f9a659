//! The baselines: raw TCP on loopback, and the same bytes on one stream between two bare
//! rust-libp2p swarms (TCP + Noise + Yamux, or QUIC) with no weft code in between.

use std::time::{Duration, Instant};

use futures::{AsyncWriteExt, StreamExt};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, StreamProtocol, Swarm, noise, tcp, yamux};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt as _};
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::procs::Transport;

const PROTOCOL: StreamProtocol = StreamProtocol::new("/bench/stream/1");

/// Bytes per write.
const WRITE: usize = 256 * 1024;

/// Moves `bytes` over one loopback TCP connection; the time to the last byte read.
pub async fn raw_tcp(bytes: u64) -> anyhow::Result<Duration> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let reader = tokio::spawn(async move {
        let (socket, _) = listener.accept().await?;
        read_all(socket, bytes).await
    });
    let mut socket = tokio::net::TcpStream::connect(addr).await?;
    socket.set_nodelay(true)?;
    let block = vec![7u8; WRITE];
    let begun = Instant::now();
    for _ in 0..bytes / WRITE as u64 {
        socket.write_all(&block).await?;
    }
    socket.shutdown().await?;
    Ok(reader.await?? - begun)
}

/// Reads `bytes` (or to the end) from `source`; when the last byte came.
async fn read_all(mut source: impl AsyncRead + Unpin, bytes: u64) -> anyhow::Result<Instant> {
    let mut buf = vec![0u8; WRITE];
    let mut total = 0u64;
    while total < bytes {
        match source.read(&mut buf).await? {
            0 => break,
            n => total += n as u64,
        }
    }
    Ok(Instant::now())
}

fn swarm(transport: Transport) -> anyhow::Result<Swarm<libp2p_stream::Behaviour>> {
    let builder = libp2p::SwarmBuilder::with_new_identity().with_tokio();
    let swarm = match transport {
        Transport::Tcp => builder
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )?
            .with_behaviour(|_| libp2p_stream::Behaviour::new())?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build(),
        Transport::Quic => builder
            .with_quic()
            .with_behaviour(|_| libp2p_stream::Behaviour::new())?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build(),
    };
    Ok(swarm)
}

/// Moves `bytes` on one libp2p stream between two bare swarms on `transport`; the time to
/// the last byte read.
pub async fn libp2p_stream(bytes: u64, transport: Transport) -> anyhow::Result<Duration> {
    let mut server = swarm(transport)?;
    let listen: Multiaddr = match transport {
        Transport::Tcp => "/ip4/127.0.0.1/tcp/0".parse()?,
        Transport::Quic => "/ip4/127.0.0.1/udp/0/quic-v1".parse()?,
    };
    server.listen_on(listen)?;
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
            break address;
        }
    };
    let server_id = *server.local_peer_id();
    let mut incoming = server.behaviour().new_control().accept(PROTOCOL)?;
    tokio::spawn(async move {
        loop {
            server.select_next_some().await;
        }
    });
    let reader = tokio::spawn(async move {
        let (_, stream) = incoming
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("no stream"))?;
        read_all(stream.compat(), bytes).await
    });

    let mut client = swarm(transport)?;
    let mut control = client.behaviour().new_control();
    client.dial(addr.with(libp2p::multiaddr::Protocol::P2p(server_id)))?;
    tokio::spawn(async move {
        loop {
            client.select_next_some().await;
        }
    });
    let mut stream = control.open_stream(server_id, PROTOCOL).await?;
    let block = vec![7u8; WRITE];
    let begun = Instant::now();
    for _ in 0..bytes / WRITE as u64 {
        stream.write_all(&block).await?;
    }
    stream.close().await?;
    Ok(reader.await?? - begun)
}
