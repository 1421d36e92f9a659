//! The physical floor of a durable direct message, measured in the same run: the disk's
//! `fdatasync` of 4 KiB (in the directory the nodes keep their databases in) and one echo
//! of 64 bytes on a libp2p stream that is already open (TCP + Noise + Yamux, no disk). A
//! durable round trip needs at least one of each: the recipient's flush, and the message
//! there and its acknowledgement back.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, StreamProtocol, Swarm};

use crate::Figures;

const ECHO: StreamProtocol = StreamProtocol::new("/bench/stream-echo/1");

/// `n` writes of 4 KiB at the start of a file in `dir`, each followed by `fdatasync`.
pub fn fdatasync(dir: &Path, n: usize) -> anyhow::Result<Figures> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("fdatasync.bench");
    let mut file = std::fs::File::create(&path)?;
    file.write_all(&[0u8; 4096])?;
    file.sync_all()?;
    let block = [0x5au8; 4096];
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        file.write_all_at(&block, 0)?;
        file.sync_data()?;
        samples.push(t.elapsed());
    }
    let wall = start.elapsed();
    std::fs::remove_file(&path)?;
    Ok(Figures::from(samples, wall))
}

fn swarm() -> anyhow::Result<Swarm<libp2p_stream::Behaviour>> {
    crate::baseline::swarm_with(|_| libp2p_stream::Behaviour::new())
}

/// `n` round trips of 64 bytes, one at a time, on one stream opened before the first.
pub async fn stream_echo(n: usize) -> anyhow::Result<Figures> {
    let mut server = swarm()?;
    let mut incoming = server.behaviour().new_control().accept(ECHO)?;
    server.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    let addr: Multiaddr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
            break address;
        }
    };
    let server_id = *server.local_peer_id();
    let serving = tokio::spawn(async move {
        loop {
            server.select_next_some().await;
        }
    });
    let echoing = tokio::spawn(async move {
        while let Some((_, mut stream)) = incoming.next().await {
            let mut buf = [0u8; 64];
            while stream.read_exact(&mut buf).await.is_ok() {
                if stream.write_all(&buf).await.is_err() || stream.flush().await.is_err() {
                    break;
                }
            }
        }
    });
    let mut client = swarm()?;
    let mut control = client.behaviour().new_control();
    client.dial(addr.with(libp2p::multiaddr::Protocol::P2p(server_id)))?;
    let driving = tokio::spawn(async move {
        loop {
            client.select_next_some().await;
        }
    });
    let mut stream = control.open_stream(server_id, ECHO).await?;
    let mut buf = [7u8; 64];
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        stream.write_all(&buf).await?;
        stream.flush().await?;
        stream.read_exact(&mut buf).await?;
        samples.push(t.elapsed());
    }
    let wall = start.elapsed();
    for task in [serving, echoing, driving] {
        task.abort();
    }
    Ok(Figures::from(samples, wall))
}
