//! The demo's second act: a file offered by message and fetched from two members at once,
//! and a live pipe between two members.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use futures::StreamExt;
use weft_proto::api::SendRequest;
use weft_proto::media::{FetchEvent, FetchRequest};

use super::Member;

/// The demo file's size.
const FILE_MIB: usize = 32;

/// Bytes sent through the demo pipe.
const PIPE_MIB: usize = 64;

/// alice sends bob a file; bob fetches it from alice; carol fetches it from alice and bob at
/// once; then bob pipes bytes to carol. Returns the figures for the JSON report.
pub async fn act(
    m: &[Member],
    dir: &Path,
    say: &dyn Fn(String),
) -> anyhow::Result<serde_json::Value> {
    let (alice, bob, carol) = (&m[0], &m[1], &m[2]);
    let path = dir.join("holiday.mp4");
    let mut data = vec![0u8; FILE_MIB << 20];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for word in data.chunks_exact_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        word.copy_from_slice(&state.to_le_bytes());
    }
    std::fs::write(&path, &data)?;
    let shared = alice.client.share(&path.to_string_lossy()).await?;
    let offer = shared.offer;
    alice
        .client
        .send(&SendRequest {
            to: bob.node.peer_id.to_string(),
            text: offer.to_text(),
            wait: true,
            timeout_ms: Some(10_000),
            bench: false,
        })
        .await?;
    say(format!(
        "\nfiles: alice offered bob {} ({FILE_MIB} MiB, {}, {} chunks) by message",
        offer.name, offer.media_type, shared.chunks
    ));
    let from_alice = vec![alice.node.peer_id.to_string()];
    let bob_took = fetch(bob, &offer.blob, from_alice.clone(), &dir.join("bob.mp4")).await?;
    say(format!(
        "  bob fetched it from alice in {:.0} ms, every chunk checked against its BLAKE3 tree",
        bob_took.0
    ));
    let both = vec![alice.node.peer_id.to_string(), bob.node.peer_id.to_string()];
    let carol_took = fetch(carol, &offer.blob, both, &dir.join("carol.mp4")).await?;
    let from: Vec<String> = carol_took
        .1
        .iter()
        .map(|(peer, bytes)| {
            let name = m
                .iter()
                .find(|x| x.node.peer_id.to_string() == *peer)
                .map_or("?", |x| x.name);
            format!("{} MiB from {name}", bytes >> 20)
        })
        .collect();
    say(format!(
        "  carol fetched it from alice and bob at once in {:.0} ms ({})",
        carol_took.0,
        from.join(", ")
    ));
    anyhow::ensure!(
        std::fs::read(dir.join("carol.mp4"))? == data,
        "carol's copy differs"
    );

    let pipe_ms = pipe(bob, carol).await?;
    say(format!(
        "\npipes: bob piped {PIPE_MIB} MiB to carol (`weft pipe` / `weft pipe --accept`) in {pipe_ms:.0} ms, {:.2} Gbit/s, and carol answered",
        (PIPE_MIB << 20) as f64 * 8.0 / (pipe_ms / 1000.0) / 1e9
    ));
    Ok(serde_json::json!({
        "file": { "mib": FILE_MIB, "bob_ms": bob_took.0, "carol_ms": carol_took.0, "carol_from": carol_took.1 },
        "pipe": { "mib": PIPE_MIB, "ms": pipe_ms },
    }))
}

/// Fetches `blob` into `out` on `member` from `from`: milliseconds, and bytes by source.
async fn fetch(
    member: &Member,
    blob: &weft_proto::blob::BlobId,
    from: Vec<String>,
    out: &Path,
) -> anyhow::Result<(f64, std::collections::BTreeMap<String, u64>)> {
    let begun = Instant::now();
    let request = FetchRequest {
        blob: *blob,
        from,
        out: out.to_string_lossy().into_owned(),
    };
    let mut events = member.client.fetch(&request).await?;
    while let Some(event) = events.next().await {
        match event? {
            FetchEvent::Done { from, .. } => {
                return Ok((begun.elapsed().as_secs_f64() * 1000.0, from));
            }
            FetchEvent::Failed { error } => {
                anyhow::bail!("{} could not fetch: {error}", member.name)
            }
            _ => {}
        }
    }
    anyhow::bail!("{}'s fetch ended without an answer", member.name)
}

/// `from` pipes [`PIPE_MIB`] MiB to `to`, which answers "thanks"; milliseconds until the
/// last byte arrived.
async fn pipe(from: &Member, to: &Member) -> anyhow::Result<f64> {
    let accepting = {
        let client = to.client.clone();
        let peer = from.node.peer_id.to_string();
        tokio::spawn(async move { client.pipe(None, Some(&peer)).await })
    };
    let (_, mut sending, _) = from
        .client
        .pipe(Some(&to.node.peer_id.to_string()), None)
        .await?;
    let (_, mut receiving, early) = accepting.await??;
    let begun = Instant::now();
    let reader = std::thread::spawn(move || -> std::io::Result<u64> {
        let mut total = early.len() as u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match receiving.read(&mut buf)? {
                0 => break,
                n => total += n as u64,
            }
        }
        receiving.write_all(b"thanks")?;
        receiving.shutdown(std::net::Shutdown::Write)?;
        Ok(total)
    });
    let block = vec![7u8; 1 << 20];
    let answer = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        for _ in 0..PIPE_MIB {
            sending.write_all(&block)?;
        }
        sending.shutdown(std::net::Shutdown::Write)?;
        let mut answer = Vec::new();
        sending.read_to_end(&mut answer)?;
        Ok(answer)
    })
    .await??;
    let got = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader panicked"))??;
    let took = begun.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(
        got == (PIPE_MIB << 20) as u64,
        "the pipe carried {got} bytes"
    );
    anyhow::ensure!(answer == b"thanks", "no answer through the pipe");
    Ok(took)
}
