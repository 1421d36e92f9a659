//! The baselines: raw TCP on loopback, and the same bytes on one stream between two bare
//! rust-libp2p swarms (TCP + Noise + Yamux, or QUIC) with no weft code in between, in one
//! process and in two (as two `weft node`s are).

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{AsyncWriteExt, StreamExt};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, StreamProtocol, Swarm, noise, tcp, yamux};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt as _, BufReader};
use tokio::process::Command;
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
    let (addr, mut incoming) = serve(transport).await?;
    let reader = tokio::spawn(async move {
        let (_, stream) = incoming
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("no stream"))?;
        read_all(stream.compat(), bytes).await
    });
    let begun = send(addr, bytes, transport).await?;
    Ok(reader.await?? - begun)
}

/// The same between two processes, as two `weft node`s are: the receiving swarm runs in a
/// child, this program again with `bare-sink` (see [`sink`]).
pub async fn libp2p_stream_procs(bytes: u64, transport: Transport) -> anyhow::Result<Duration> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["bare-sink", transport.name()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let addr: Multiaddr = lines.next_line().await?.context("no address")?.parse()?;
    let begun = send(addr, bytes, transport).await?;
    anyhow::ensure!(
        lines.next_line().await?.as_deref() == Some("done"),
        "the sink ended before the last byte"
    );
    let took = begun.elapsed();
    child.wait().await?;
    Ok(took)
}

/// The child of [`libp2p_stream_procs`]: prints its address, reads one stream to its end,
/// then prints `done`.
pub async fn sink(transport: &str) -> anyhow::Result<()> {
    let transport = match transport {
        "TCP" => Transport::Tcp,
        "QUIC" => Transport::Quic,
        other => anyhow::bail!("bare-sink: no transport {other}"),
    };
    let (addr, mut incoming) = serve(transport).await?;
    println!("{addr}");
    let (_, stream) = incoming.next().await.context("no stream")?;
    read_all(stream.compat(), u64::MAX).await?;
    println!("done");
    Ok(())
}

/// A bare swarm listening on loopback, run in the background: its address (with its peer
/// id) and its incoming streams.
async fn serve(
    transport: Transport,
) -> anyhow::Result<(Multiaddr, libp2p_stream::IncomingStreams)> {
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
    let addr = addr.with(libp2p::multiaddr::Protocol::P2p(*server.local_peer_id()));
    let incoming = server.behaviour().new_control().accept(PROTOCOL)?;
    tokio::spawn(async move {
        loop {
            server.select_next_some().await;
        }
    });
    Ok((addr, incoming))
}

/// Dials `addr` from a new bare swarm and writes `bytes` on one stream, then closes it;
/// when the first byte was written.
async fn send(addr: Multiaddr, bytes: u64, transport: Transport) -> anyhow::Result<Instant> {
    let Some(libp2p::multiaddr::Protocol::P2p(server_id)) = addr.iter().last() else {
        anyhow::bail!("{addr} names no peer");
    };
    let mut client = swarm(transport)?;
    let mut control = client.behaviour().new_control();
    client.dial(addr)?;
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
    Ok(begun)
}
