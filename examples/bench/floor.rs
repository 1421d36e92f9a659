//! The physical floor of a durable direct message, measured in the same run: the disk's
//! `fdatasync` of 4 KiB (in the directory the nodes keep their databases in) and one echo
//! of 64 bytes on a libp2p stream that is already open (TCP + Noise + Yamux, no disk). A
//! durable round trip needs at least one of each: the recipient's flush, and the message
//! there and its acknowledgement back. When sender and recipient share a disk, as in the
//! bench, the sender's flush of the message runs at the same moment as the recipient's
//! and the disk takes them one after the other: the floor on one disk is a pair of
//! flushes, with the acknowledgement's way back after them (the message's way there
//! overlaps the sender's flush).

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

/// `n` pairs of 4 KiB writes, each followed by `fdatasync`, on two files in `dir` from two
/// threads started at once: a sender's flush and its recipient's on one disk, as when both
/// nodes run on this machine. Each pair is timed from the first write to the end of the
/// later flush (the disk takes them one after the other).
pub fn fdatasync_pair(dir: &Path, n: usize) -> anyhow::Result<Figures> {
    std::fs::create_dir_all(dir)?;
    let (mine, theirs) = (dir.join("mine.bench"), dir.join("theirs.bench"));
    let start_together = std::sync::Arc::new(std::sync::Barrier::new(2));
    let (their_times, times) = std::sync::mpsc::sync_channel(1);
    let other = {
        let (path, start_together) = (theirs.clone(), start_together.clone());
        std::thread::spawn(move || -> std::io::Result<()> {
            let file = std::fs::File::create(&path)?;
            for _ in 0..n {
                start_together.wait();
                let t = Instant::now();
                file.write_all_at(&[0xa5u8; 4096], 0)?;
                file.sync_data()?;
                let _ = their_times.send((t, Instant::now()));
            }
            Ok(())
        })
    };
    let file = std::fs::File::create(&mine)?;
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        start_together.wait();
        let t = Instant::now();
        file.write_all_at(&[0x5au8; 4096], 0)?;
        file.sync_data()?;
        let done = Instant::now();
        let (their_start, their_done) = times.recv()?;
        samples.push(done.max(their_done) - t.min(their_start));
    }
    let wall = start.elapsed();
    other
        .join()
        .map_err(|_| anyhow::anyhow!("the other flush panicked"))??;
    std::fs::remove_file(&mine)?;
    std::fs::remove_file(&theirs)?;
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
