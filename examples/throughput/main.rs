//! Loopback throughput of weft's media (docs/BENCHMARKS.md records the figures): blob
//! transfer and pipe throughput between two real `weft node` processes over TCP and over
//! QUIC, beside raw TCP and a bare rust-libp2p stream on the same machine, in one process
//! and in two (as ratios), and the nodes' peak RSS during a 4 GiB blob transfer. Run it
//! from a release build, so the `weft` binary sits beside it:
//!
//! ```sh
//! cargo build --release --locked --bins --example throughput && ./target/release/examples/throughput
//! ```
//!
//! `WEFT_BENCH_GIB` sets the size of the throughput runs (default 1) and `WEFT_BENCH_BIG_GIB`
//! the size of the RSS run (default 4; it needs about three times that in free disk).

mod bare;
mod procs;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use procs::{Pair, Transport};

/// Bytes per GiB.
const GIB: u64 = 1 << 30;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("bare-sink") {
        let transport = args.next().unwrap_or_default();
        return tokio::runtime::Runtime::new()?.block_on(bare::sink(&transport));
    }
    let gib: u64 = env_or("WEFT_BENCH_GIB", 1);
    let big_gib: u64 = env_or("WEFT_BENCH_BIG_GIB", 4);
    let bytes = gib * GIB;
    let dir = tempfile::Builder::new().prefix("weft-tput-").tempdir()?;
    println!("weft loopback throughput, {gib} GiB per run, Gbit/s (higher is better)\n");

    let rt = tokio::runtime::Runtime::new()?;
    let raw = rt.block_on(bare::raw_tcp(bytes))?;
    let bare_tcp = rt.block_on(bare::libp2p_stream(bytes, Transport::Tcp))?;
    let bare_quic = rt.block_on(bare::libp2p_stream(bytes, Transport::Quic))?;
    let procs_tcp = rt.block_on(bare::libp2p_stream_procs(bytes, Transport::Tcp))?;
    let procs_quic = rt.block_on(bare::libp2p_stream_procs(bytes, Transport::Quic))?;
    println!(
        "{:<44} {:>7.2}",
        "raw TCP (tokio, 256 KiB writes)",
        gbits(bytes, raw)
    );
    println!(
        "{:<44} {:>7.2}",
        "bare rust-libp2p stream, TCP+Noise+Yamux",
        gbits(bytes, bare_tcp)
    );
    println!(
        "{:<44} {:>7.2}",
        "bare rust-libp2p stream, QUIC",
        gbits(bytes, bare_quic)
    );
    println!(
        "{:<44} {:>7.2}",
        "the same, two processes, TCP",
        gbits(bytes, procs_tcp)
    );
    println!(
        "{:<44} {:>7.2}",
        "the same, two processes, QUIC",
        gbits(bytes, procs_quic)
    );
    println!();

    let src = dir.path().join("blob.bin");
    println!(
        "{:<30} {:>8} {:>8} {:>10} {:>10} {:>12}",
        "weft", "Gbit/s", "end2end", "x raw TCP", "x bare", "x bare procs"
    );
    let references = [
        (Transport::Tcp, bare_tcp, procs_tcp),
        (Transport::Quic, bare_quic, procs_quic),
    ];
    for (transport, bare, procs) in references {
        let pair = Pair::start(&dir.path().join(transport.name()), transport)?;
        // The blob lives in the sender's store; the file it came from is not needed.
        write_data(&src, bytes)?;
        let blob = pair.share(&src)?;
        std::fs::remove_file(&src)?;
        let out = dir.path().join(format!("fetched-{}", transport.name()));
        let (transfer, whole) = pair.fetch(&blob, &out)?;
        std::fs::remove_file(&out)?;
        println!(
            "{:<30} {:>8.2} {:>8.2} {:>10.2} {:>10.2} {:>12.2}",
            format!("blob fetch, {}", transport.name()),
            gbits(bytes, transfer),
            gbits(bytes, whole),
            raw.as_secs_f64() / transfer.as_secs_f64(),
            bare.as_secs_f64() / transfer.as_secs_f64(),
            procs.as_secs_f64() / transfer.as_secs_f64(),
        );
        let piped = pair.pipe(bytes)?;
        println!(
            "{:<30} {:>8.2} {:>8} {:>10.2} {:>10.2} {:>12.2}",
            format!("pipe, {}", transport.name()),
            gbits(bytes, piped),
            "-",
            raw.as_secs_f64() / piped.as_secs_f64(),
            bare.as_secs_f64() / piped.as_secs_f64(),
            procs.as_secs_f64() / piped.as_secs_f64(),
        );
        pair.stop();
    }
    println!("\n(end2end: the whole `weft fetch`, including writing and syncing the output file)");

    // Peak RSS of both nodes while a large blob moves: memory must not grow with the file.
    let big = dir.path().join("big.bin");
    write_data(&big, big_gib * GIB)?;
    let pair = Pair::start(&dir.path().join("rss"), Transport::Tcp)?;
    let blob = pair.share(&big)?;
    std::fs::remove_file(&big)?;
    let out = dir.path().join("big-fetched");
    let (transfer, _) = pair.fetch(&blob, &out)?;
    std::fs::remove_file(&out)?;
    let (sender, receiver) = pair.peak_rss_kib()?;
    println!(
        "\npeak RSS during a {big_gib} GiB blob transfer ({:.2} Gbit/s): sender {} MiB, receiver {} MiB",
        gbits(big_gib * GIB, transfer),
        sender / 1024,
        receiver / 1024
    );
    pair.stop();
    Ok(())
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Gigabits per second for `bytes` in `took`.
pub fn gbits(bytes: u64, took: Duration) -> f64 {
    bytes as f64 * 8.0 / took.as_secs_f64() / 1e9
}

/// Writes `bytes` of incompressible, deterministic data to `path`.
fn write_data(path: &Path, bytes: u64) -> anyhow::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut block = vec![0u8; 1 << 20];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..bytes / block.len() as u64 {
        fill(&mut block, &mut state);
        file.write_all(&block)?;
    }
    file.flush()?;
    Ok(())
}

/// Fills `block` from an xorshift generator.
pub fn fill(block: &mut [u8], state: &mut u64) {
    for word in block.chunks_exact_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        word.copy_from_slice(&state.to_le_bytes());
    }
}

/// Reads `source` to its end; how many bytes came and when the last one did.
pub fn drain(mut source: impl Read) -> std::io::Result<(u64, Instant)> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        match source.read(&mut buf)? {
            0 => return Ok((total, Instant::now())),
            n => total += n as u64,
        }
    }
}
