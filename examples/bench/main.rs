//! Loopback benchmark of weft's messaging, printed as figures (docs/BENCHMARKS.md records
//! them). Run it from a release build so the `weft` binary sits beside it:
//!
//! ```sh
//! cargo build --release --locked && cargo run --release --locked --example bench
//! ```
//!
//! Measures, in one run: the durable direct-message round trip (send to the recipient's
//! acknowledgement after its flush) for 64 B and 1 KiB, one at a time and with 64 in flight;
//! the same round trip through the local API (HTTP on the Unix socket); topic fan-out to two
//! subscribers; `weft send` as a whole CLI process; idle RSS and start-to-listening time of a
//! `weft node` process; as the baseline, a bare rust-libp2p request/response round trip on
//! the same transport (TCP + Noise + Yamux); and delivery to members who were away (sealing
//! cost, durable outbox throughput, messages held by a mailbox collected on return, topic
//! catch-up).
//!
//! `bench work` measures services and queues instead, beside ZeroMQ (see `work.rs`);
//! `bench offline` only the delivery to members who were away; `bench zmq` ZeroMQ programs
//! through weft's endpoints beside the same programs talking directly (see `endpoints.rs`);
//! `bench mesh [N]` an idle mesh of N `weft node` processes, then delivery across it (see
//! `mesh.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use libp2p::PeerId;
use tokio::sync::Mutex;
use weft::proto::api::Event;
use weft::proto::mesh::Role;
use weft::{Config, Node, SendRequest};
use weft_node::mesh::join::admit;

mod baseline;
mod endpoints;
mod floor;
mod mesh;
mod offline;
mod work;

const ROUND_TRIPS: usize = 2000;
const IN_FLIGHT: usize = 64;
const TOPIC_MESSAGES: usize = 2000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("weft-bench-").tempdir()?;
    match std::env::args().nth(1).as_deref() {
        Some("work") => return work::run(dir.path()).await,
        Some("offline") => return offline::run(&dir.path().join("offline")).await,
        Some("mesh") => {
            let n = match std::env::args().nth(2) {
                Some(n) => n.parse().context("bench mesh N: N is a number of nodes")?,
                None => 100,
            };
            return mesh::run(dir.path(), n).await;
        }
        Some("zmq") => return endpoints::run(dir.path()).await,
        _ => {}
    }
    println!(
        "weft loopback benchmark ({} round trips per row, TCP + Noise + Yamux)\n",
        ROUND_TRIPS
    );

    let base = baseline::run(ROUND_TRIPS, IN_FLIGHT).await?;
    println!("bare rust-libp2p request/response (same transport, no disk):");
    println!("  {:<28} {}", "1 KiB one at a time", base.serial);
    println!(
        "  {:<28} {}",
        format!("1 KiB, {IN_FLIGHT} in flight"),
        base.parallel
    );

    println!(
        "\nthe floor of a durable round trip (the recipient's flush, and the wire both ways):"
    );
    let sync = floor::fdatasync(&dir.path().join("floor"), ROUND_TRIPS)?;
    let pair = floor::fdatasync_pair(&dir.path().join("floor"), ROUND_TRIPS)?;
    let echo = floor::stream_echo(ROUND_TRIPS).await?;
    println!("  {:<28} {}", "fdatasync 4 KiB", sync);
    println!("  {:<28} {}", "two at once, until both end", pair);
    println!("  {:<28} {}", "64 B echo on an open stream", echo);
    let floor = sync.p50 + echo.p50;
    // Sender and recipient on this one disk: both flushes, then the acknowledgement's way
    // back (the message's way there overlaps the sender's flush).
    let floor_one_disk = pair.p50 + echo.p50 / 2;
    println!(
        "  {:<28} {:.3} ms (both nodes on one disk: {:.3} ms)",
        "sum of the p50s",
        ms(floor),
        ms(floor_one_disk)
    );

    // b founds a mesh; a and c join it by invite (over TCP) and then find each other.
    let a = start(&dir.path().join("a")).await?;
    let b = start(&dir.path().join("b")).await?;
    let c = start(&dir.path().join("c")).await?;
    b.handle.mesh_create(None).await?;
    for newcomer in [&a, &c] {
        admit(&b.handle, &newcomer.handle, Role::Member).await?;
    }
    c.handle.dial(tcp_addr(&a)?).await?;

    println!("\nweft direct message, send to durable acknowledgement (in-process handle):");
    let mut serial_1k = None;
    let mut parallel_1k = None;
    let mut serial_64 = None;
    for size in [64, 1024] {
        let serial = dm_round_trips(&a, b.peer_id, size, 1).await?;
        let parallel = dm_round_trips(&a, b.peer_id, size, IN_FLIGHT).await?;
        if size == 64 {
            serial_64 = Some(serial.p50);
        }
        println!("  {:<28} {}", format!("{size} B one at a time"), serial);
        println!(
            "  {:<28} {}",
            format!("{size} B, {IN_FLIGHT} in flight"),
            parallel
        );
        if size == 1024 {
            serial_1k = Some(serial);
            parallel_1k = Some(parallel);
        }
    }
    let (serial_1k, parallel_1k) = (
        serial_1k.context("1 KiB row")?,
        parallel_1k.context("1 KiB row")?,
    );
    println!(
        "  ratio to bare libp2p (1 KiB): p50 {:.2}x, throughput {:.2}x ({IN_FLIGHT} in flight)",
        serial_1k.p50.as_secs_f64() / base.serial.p50.as_secs_f64(),
        parallel_1k.per_sec / base.parallel.per_sec,
    );

    let serial_64 = serial_64.context("64 B row")?;
    println!(
        "  ratio to the floor (64 B one at a time): p50 {:.2}x ({:.3} ms over it); \
         to the floor on one disk {:.2}x ({:.3} ms over it)",
        serial_64.as_secs_f64() / floor.as_secs_f64(),
        ms(serial_64.saturating_sub(floor)),
        serial_64.as_secs_f64() / floor_one_disk.as_secs_f64(),
        ms(serial_64.saturating_sub(floor_one_disk))
    );

    println!("\nweft direct message through the local API (HTTP over the Unix socket):");
    let api = api_round_trips(&a, b.peer_id, 200).await?;
    println!("  {:<28} {}", "64 B one at a time", api);
    println!(
        "  over the in-process handle: p50 +{:.3} ms",
        ms(api.p50.saturating_sub(serial_64))
    );

    println!("\ntopic fan-out, one publisher, two subscribers:");
    let topic = topic_fanout(&a, &[&b, &c]).await?;
    println!("  {:<28} {}", "publish to delivery", topic);

    println!("\n`weft send` as a whole CLI process (spawn, connect, send, wait for ack, exit):");
    match weft_binary() {
        Some(bin) => {
            let cli = cli_sends(&bin, &a, b.peer_id, 30)?;
            let whole = cli_sends(&bin.with_file_name("weft-node"), &a, b.peer_id, 30)?;
            let empty = empty_processes(30)?;
            println!("  {:<28} {}", "64 B", cli);
            println!("  {:<28} {}", "the same by weft-node", whole);
            println!("  {:<28} {}", "a process that does nothing", empty);
            let floor = empty.p50 + api.p50;
            println!(
                "  ratio to that process plus the DM through the API ({:.3} ms): p50 {:.2}x",
                ms(floor),
                cli.p50.as_secs_f64() / floor.as_secs_f64()
            );
            for name in ["weft", "weft-node"] {
                let size = std::fs::metadata(bin.with_file_name(name))?.len();
                println!(
                    "  {:<28} {:.1} MB",
                    format!("size of {name}"),
                    size as f64 / 1e6
                );
            }
            let (startup, rss) = idle_process(&bin, &dir.path().join("idle"))?;
            println!(
                "\n`weft node` process: start to listening {:.1} ms, idle RSS {:.1} MiB",
                ms(startup),
                rss
            );
        }
        None => println!("  skipped: build the binaries first (cargo build --release --bins)"),
    }

    for node in [a, b, c] {
        node.stop().await?;
    }
    offline::run(&dir.path().join("offline")).await
}

/// Latency percentiles and throughput of one row.
#[derive(Clone, Copy)]
pub struct Figures {
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Messages per second over the row's wall time.
    pub per_sec: f64,
}

impl Figures {
    /// Figures of `samples` taken over `wall`.
    pub fn from(mut samples: Vec<Duration>, wall: Duration) -> Figures {
        samples.sort();
        let at = |p: usize| samples[((samples.len() - 1) * p / 100).min(samples.len() - 1)];
        Figures {
            p50: at(50),
            p99: at(99),
            per_sec: samples.len() as f64 / wall.as_secs_f64(),
        }
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.3} ms  p99 {:.3} ms  {:>8.0} msg/s",
            ms(self.p50),
            ms(self.p99),
            self.per_sec
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn start(dir: &std::path::Path) -> anyhow::Result<Node> {
    weft_node::node::init(dir, None)?;
    let listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    Ok(Node::start(Config::new(dir.to_path_buf(), listen)).await?)
}

fn tcp_addr(node: &Node) -> anyhow::Result<libp2p::Multiaddr> {
    let addr = node.listen_addrs.first().context("no listen address")?;
    Ok(addr
        .clone()
        .with(libp2p::multiaddr::Protocol::P2p(node.peer_id)))
}

/// `ROUND_TRIPS` direct messages of `size` bytes from `from` to `to`, `parallel` at a time,
/// each timed from the send call to its acknowledgement.
async fn dm_round_trips(
    from: &Node,
    to: PeerId,
    size: usize,
    parallel: usize,
) -> anyhow::Result<Figures> {
    let handle = from.handle.clone();
    let text = "x".repeat(size);
    timed(ROUND_TRIPS, parallel, move || {
        let (handle, text) = (handle.clone(), text.clone());
        async move {
            let queued = handle.send(to, text, true).await?;
            queued.delivery.context("no delivery receiver")?.await?;
            Ok(())
        }
    })
    .await
}

/// Runs `total` calls of `op`, `parallel` at a time, timing each.
pub async fn timed<F, Fut>(total: usize, parallel: usize, op: F) -> anyhow::Result<Figures>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let samples = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let start = Instant::now();
    let mut workers = Vec::new();
    for w in 0..parallel {
        let (op, samples) = (op.clone(), samples.clone());
        let count = total / parallel + usize::from(w < total % parallel);
        workers.push(tokio::spawn(async move {
            for _ in 0..count {
                let t = Instant::now();
                op().await?;
                samples.lock().await.push(t.elapsed());
            }
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let wall = start.elapsed();
    let samples = std::mem::take(&mut *samples.lock().await);
    Ok(Figures::from(samples, wall))
}

async fn api_round_trips(from: &Node, to: PeerId, n: usize) -> anyhow::Result<Figures> {
    let client = weft::Client::for_data_dir(from.api_socket.parent().context("socket dir")?);
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let answer = client
            .send(&SendRequest {
                to: to.to_string(),
                text: "x".repeat(64),
                wait: true,
                timeout_ms: Some(10_000),
                bench: false,
            })
            .await?;
        anyhow::ensure!(answer.latency_ms.is_some(), "not acknowledged");
        samples.push(t.elapsed());
    }
    Ok(Figures::from(samples, start.elapsed()))
}

async fn topic_fanout(publisher: &Node, subscribers: &[&Node]) -> anyhow::Result<Figures> {
    let topic: weft::proto::topic::TopicName = "bench".parse()?;
    for node in subscribers {
        node.handle.subscribe(topic.clone(), true).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while publisher.handle.status().await?.peers < subscribers.len()
        || !all_subscribed(publisher, &topic, subscribers.len()).await?
    {
        anyhow::ensure!(Instant::now() < deadline, "subscribers did not show up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut readers = Vec::new();
    for node in subscribers {
        let mut events = node.handle.events();
        readers.push(tokio::spawn(async move {
            let mut arrivals = Vec::with_capacity(TOPIC_MESSAGES);
            while arrivals.len() < TOPIC_MESSAGES {
                match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
                    Ok(Ok(Event::Message(m))) => arrivals.push((m.id, Instant::now())),
                    Ok(Ok(_)) => {}
                    other => anyhow::bail!("subscriber stopped: {other:?}"),
                }
            }
            Ok(arrivals)
        }));
    }
    let mut sent = HashMap::new();
    let start = Instant::now();
    for n in 0..TOPIC_MESSAGES {
        let t = Instant::now();
        let (id, _) = publisher
            .handle
            .publish(topic.clone(), format!("bench {n:06}"))
            .await?;
        sent.insert(id, t);
    }
    let mut samples = Vec::new();
    for r in readers {
        for (id, at) in r.await?? {
            samples.push(at.saturating_duration_since(*sent.get(&id).context("unknown id")?));
        }
    }
    let wall = start.elapsed();
    // Throughput counts messages published per second that reached every subscriber.
    let mut figures = Figures::from(samples, wall);
    figures.per_sec /= subscribers.len() as f64;
    Ok(figures)
}

async fn all_subscribed(
    node: &Node,
    topic: &weft::proto::topic::TopicName,
    n: usize,
) -> anyhow::Result<bool> {
    // Subscribing the publisher too is the simplest way to read the topic's peer count.
    node.handle.subscribe(topic.clone(), true).await?;
    let status = node.handle.status().await?;
    Ok(status
        .topics
        .iter()
        .any(|t| &t.name == topic && t.peers >= n))
}

/// The `weft` binary beside this example (target/release/weft for a release run), when the
/// `weft-node` it hands nodes to is there too.
fn weft_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("weft");
    (bin.exists() && bin.with_file_name("weft-node").exists()).then_some(bin)
}

fn cli_sends(bin: &PathBuf, from: &Node, to: PeerId, n: usize) -> anyhow::Result<Figures> {
    let data_dir = from.api_socket.parent().context("socket dir")?;
    processes(n, || {
        let mut send = Command::new(bin);
        send.arg("--data-dir")
            .arg(data_dir)
            .args(["send", &to.to_string(), &"x".repeat(64)]);
        send
    })
}

/// `n` spawns of `/bin/true`: what any process costs on this machine.
fn empty_processes(n: usize) -> anyhow::Result<Figures> {
    processes(n, || Command::new("/bin/true"))
}

/// Runs `n` of the process `command` makes, one after the other, each timed from its spawn
/// until it exited (successfully, or the run fails).
fn processes(n: usize, command: impl Fn() -> Command) -> anyhow::Result<Figures> {
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let mut process = command();
        let t = Instant::now();
        let status = process.stdout(Stdio::null()).status()?;
        anyhow::ensure!(status.success(), "{process:?} failed");
        samples.push(t.elapsed());
    }
    Ok(Figures::from(samples, start.elapsed()))
}

/// Time from spawning `weft node` to its first line (it listens and serves the API by then),
/// and its resident memory after two idle seconds, in MiB.
fn idle_process(bin: &PathBuf, dir: &std::path::Path) -> anyhow::Result<(Duration, f64)> {
    weft_node::node::init(dir, None)?;
    let t = Instant::now();
    let mut child = Command::new(bin)
        .arg("--data-dir")
        .arg(dir)
        .args(["node", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().context("stdout")?),
        &mut line,
    )?;
    let startup = t.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let rss = rss_mib(child.id())?;
    child.kill()?;
    child.wait()?;
    Ok((startup, rss))
}

/// The resident memory of process `pid`, in MiB.
fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS")?;
    Ok(rss_kib / 1024.0)
}
