//! Services and queues on loopback (`bench work`), beside their references measured in the
//! same run: bare rust-libp2p request/response on the same transport, and ZeroMQ over
//! CURVE (REQ/REP, DEALER/ROUTER, PUSH/PULL; pyzmq from PyPI, installed by `zmq.sh`).
//!
//! Rows: a 1 KiB service call one at a time and with 64 in flight, through the in-process
//! handle and through the local API client, and as a whole `weft call` process; queue
//! push-to-acknowledgement throughput; and failover: how long after a provider is SIGKILLed
//! or SIGSTOPped the calls it held are all answered by another.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::Mutex;
use weft::proto::api::CreateInviteRequest;
use weft::proto::mesh::Role;
use weft::{Client, Node, OfferOptions, WorkOptions};
use weft_node::core::io::CallEnd;
use weft_node::mesh::join::admit;

use crate::{Figures, IN_FLIGHT, ROUND_TRIPS, baseline, start, timed, weft_binary};

/// Items pushed for the queue row.
const ITEMS: usize = 20_000;

/// Items the ZeroMQ PUSH/PULL row sends.
const ZMQ_ITEMS: usize = 50_000;

/// Runs every row in `dir`.
pub async fn run(dir: &Path) -> anyhow::Result<()> {
    println!("weft services and queues on loopback ({ROUND_TRIPS} calls per row, 1 KiB)\n");
    let base = baseline::run(ROUND_TRIPS, IN_FLIGHT).await?;
    println!("references measured now:");
    println!(
        "  {:<44} {}",
        "bare libp2p request/response, one at a time", base.serial
    );
    println!(
        "  {:<44} {}",
        format!("bare libp2p request/response, {IN_FLIGHT} in flight"),
        base.parallel
    );
    let zmq = zeromq()?;
    for (row, figures) in &zmq {
        println!("  {row:<44} {figures}");
    }

    let a = start(&dir.join("a")).await?;
    let b = start(&dir.join("b")).await?;
    a.handle.mesh_create(None).await?;
    admit(&a.handle, &b.handle, Role::Member).await?;
    let provider = client_of(&b)?;
    let options = OfferOptions {
        concurrency: Some(IN_FLIGHT as u32),
        ..OfferOptions::default()
    };
    tokio::spawn(async move {
        let _ = provider
            .offer("echo", options, |body| async move { Ok(body) })
            .await;
    });
    wait_healthy(&a, 1).await?;

    println!("\nweft service call, 1 KiB echo served by a program through the local API:");
    let handle_serial = calls_by_handle(&a, 1).await?;
    let handle_parallel = calls_by_handle(&a, IN_FLIGHT).await?;
    let client = client_of(&a)?;
    let client_serial = calls_by_client(&client, 1).await?;
    let client_parallel = calls_by_client(&client, IN_FLIGHT).await?;
    println!(
        "  {:<44} {}",
        "in-process handle, one at a time", handle_serial
    );
    println!(
        "  {:<44} {}",
        format!("in-process handle, {IN_FLIGHT} in flight"),
        handle_parallel
    );
    println!(
        "  {:<44} {}",
        "API client (Unix socket), one at a time", client_serial
    );
    println!(
        "  {:<44} {}",
        format!("API client (Unix socket), {IN_FLIGHT} in flight"),
        client_parallel
    );
    if let Some(bin) = weft_binary() {
        let cli = cli_calls(&bin, &a, 30)?;
        println!("  {:<44} {}", "`weft call` as a whole process", cli);
    }
    if let Some((_, req_rep)) = zmq.first() {
        println!(
            "  ratios: p50 {:.2}x ZeroMQ REQ/REP over CURVE; {IN_FLIGHT} in flight {:.2}x bare libp2p throughput",
            handle_serial.p50.as_secs_f64() / req_rep.p50.as_secs_f64(),
            handle_parallel.per_sec / base.parallel.per_sec,
        );
    }

    println!("\nweft queue, 1 KiB items pushed at one node and worked at another:");
    let queue = queue_rows(&a, &b).await?;
    let first = queue.first.as_secs_f64() * 1e3;
    println!(
        "  {:<44} {first:>8.1} ms",
        "first item, its worker not yet knowing the producer"
    );
    println!(
        "  {:<44} {}",
        format!("durable push, {IN_FLIGHT} at once"),
        queue.push
    );
    println!(
        "  {:<44} {:>8.0} items/s",
        "push to acknowledgement (durable both ends)", queue.acked
    );
    if let Some((_, push_pull)) = zmq.get(2) {
        println!(
            "  ratio: {:.3}x ZeroMQ PUSH/PULL over CURVE (which keeps nothing and confirms nothing)",
            queue.acked / push_pull.per_sec
        );
    }
    for node in [a, b] {
        node.stop().await?;
    }

    match weft_binary() {
        Some(bin) => failover(&bin, &dir.join("failover")).await,
        None => {
            println!(
                "\nfailover: skipped (build the binaries first: cargo build --release --bins)"
            );
            Ok(())
        }
    }
}

fn client_of(node: &Node) -> anyhow::Result<Client> {
    Ok(Client::for_data_dir(
        node.api_socket.parent().context("socket dir")?,
    ))
}

/// Waits until `node` sees `n` healthy providers of `echo`.
async fn wait_healthy(node: &Node, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let healthy = node
            .handle
            .services()
            .await?
            .iter()
            .filter(|s| s.name.as_str() == "echo")
            .flat_map(|s| &s.providers)
            .filter(|p| p.healthy)
            .count();
        if healthy >= n {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "providers did not show up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn calls_by_handle(node: &Node, parallel: usize) -> anyhow::Result<Figures> {
    let handle = node.handle.clone();
    timed(ROUND_TRIPS, parallel, move || {
        let handle = handle.clone();
        async move {
            let end = handle
                .call("echo".parse()?, vec![b'x'; 1024], Duration::from_secs(10))
                .await?;
            anyhow::ensure!(matches!(end, CallEnd::Replied(_)), "{end:?}");
            Ok(())
        }
    })
    .await
}

async fn calls_by_client(client: &Client, parallel: usize) -> anyhow::Result<Figures> {
    let client = client.clone();
    timed(ROUND_TRIPS, parallel, move || {
        let client = client.clone();
        async move {
            client.call("echo", vec![b'x'; 1024], 10_000).await?;
            Ok(())
        }
    })
    .await
}

fn cli_calls(bin: &Path, from: &Node, n: usize) -> anyhow::Result<Figures> {
    let data_dir = from.api_socket.parent().context("socket dir")?;
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let status = Command::new(bin)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["call", "echo", &"x".repeat(1024)])
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "weft call failed");
        samples.push(t.elapsed());
    }
    Ok(Figures::from(samples, start.elapsed()))
}

/// What the queue rows measured.
struct QueueFigures {
    /// From a first push, when no worker knew this producer yet, to its acknowledgement.
    first: Duration,
    /// Durable pushes, [`IN_FLIGHT`] at once.
    push: Figures,
    /// Items acknowledged per second, from the first push to the last acknowledgement,
    /// once the worker pulls from the producer.
    acked: f64,
}

/// A program works `jobs` at `worker` while [`ITEMS`] are pushed at `producer`, once the
/// worker pulls from it (a first item finds it).
async fn queue_rows(producer: &Node, worker: &Node) -> anyhow::Result<QueueFigures> {
    let options = WorkOptions {
        concurrency: Some(IN_FLIGHT as u32),
        prefetch: Some(IN_FLIGHT as u32),
        max_deliver: None,
    };
    let working = client_of(worker)?;
    tokio::spawn(async move {
        let _ = working.work("jobs", options, |_| async { Ok(()) }).await;
    });
    let start = Instant::now();
    producer
        .handle
        .push("jobs".parse()?, b"first".to_vec(), None)
        .await?;
    acknowledged(producer, 1).await?;
    let first = start.elapsed();
    let handle = producer.handle.clone();
    let start = Instant::now();
    let push = timed(ITEMS, IN_FLIGHT, move || {
        let handle = handle.clone();
        async move {
            handle.push("jobs".parse()?, vec![b'x'; 1024], None).await?;
            Ok(())
        }
    })
    .await?;
    acknowledged(producer, 1 + ITEMS as u64).await?;
    let acked = ITEMS as f64 / start.elapsed().as_secs_f64();
    Ok(QueueFigures { first, push, acked })
}

/// Waits (bounded) until `producer` has `n` items of `jobs` acknowledged.
async fn acknowledged(producer: &Node, n: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = producer.handle.queue_status("jobs".parse()?).await?;
        if status.done >= n {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "items not acknowledged: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The ZeroMQ rows, or none (with why) when Python or PyPI is not there.
fn zeromq() -> anyhow::Result<Vec<(String, Figures)>> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/bench/zmq.sh");
    let out = Command::new("sh")
        .arg(&script)
        .args([
            ROUND_TRIPS.to_string(),
            IN_FLIGHT.to_string(),
            ZMQ_ITEMS.to_string(),
        ])
        .stderr(Stdio::inherit())
        .output();
    let out = match out {
        Ok(out) if out.status.success() => out,
        other => {
            println!(
                "  ZeroMQ rows skipped: {} did not run ({other:?})",
                script.display()
            );
            return Ok(Vec::new());
        }
    };
    let mut rows = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let ms = |k: &str| Duration::from_secs_f64(v[k].as_f64().unwrap_or(0.0) / 1000.0);
        let figures = Figures {
            p50: ms("p50_ms"),
            p99: ms("p99_ms"),
            per_sec: v["per_sec"].as_f64().unwrap_or(0.0),
        };
        rows.push((v["row"].as_str().unwrap_or("?").to_string(), figures));
    }
    Ok(rows)
}

/// A `weft` process; killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.id().to_string()])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A provider: a `weft node` process in `caller`'s mesh and its `weft service offer echo`.
async fn provider(bin: &Path, dir: &Path, caller: &Node) -> anyhow::Result<(Proc, Proc)> {
    let weft = |args: &[&str]| {
        let mut command = Command::new(bin);
        command
            .arg("--data-dir")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };
    anyhow::ensure!(weft(&["init"]).status()?.success(), "weft init failed");
    let node = Proc(weft(&["node", "--listen", "/ip4/127.0.0.1/tcp/0"]).spawn()?);
    let invite = caller
        .handle
        .invite_create(CreateInviteRequest {
            role: Role::Member,
            ttl_secs: 600,
            uses: 1,
            note: None,
        })
        .await?
        .key
        .context("an invite key")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !weft(&["join", &invite]).status()?.success() {
        anyhow::ensure!(Instant::now() < deadline, "the provider could not join");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let offer = Proc(
        weft(&[
            "service",
            "offer",
            "echo",
            "--concurrency",
            "64",
            "--",
            "cat",
        ])
        .spawn()?,
    );
    Ok((node, offer))
}

/// Two provider processes; one is sent `signal` while 16 callers keep calls in flight: how
/// long after the signal every call that was in flight was answered (the worst), and how
/// many calls were in flight then.
async fn failover(bin: &Path, dir: &Path) -> anyhow::Result<()> {
    println!("\nfailover, two provider processes, 16 calls in flight (each `cat`):");
    for signal in ["-KILL", "-STOP"] {
        let caller = start(&dir.join(format!("caller{signal}"))).await?;
        caller.handle.mesh_create(None).await?;
        let (victim, _victim_offer) =
            provider(bin, &dir.join(format!("p1{signal}")), &caller).await?;
        let _other = provider(bin, &dir.join(format!("p2{signal}")), &caller).await?;
        wait_healthy(&caller, 2).await?;
        let calls: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
        let stop = Instant::now() + Duration::from_secs(5);
        let mut loops = Vec::new();
        for _ in 0..16 {
            let (handle, calls) = (caller.handle.clone(), calls.clone());
            loops.push(tokio::spawn(async move {
                while Instant::now() < stop {
                    let t = Instant::now();
                    let end = handle
                        .call("echo".parse()?, b"x".to_vec(), Duration::from_secs(10))
                        .await?;
                    anyhow::ensure!(matches!(end, CallEnd::Replied(_)), "{end:?}");
                    calls.lock().await.push((t, Instant::now()));
                }
                anyhow::Ok(())
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let at = Instant::now();
        Command::new("kill")
            .args([signal, &victim.0.id().to_string()])
            .status()?;
        for l in loops {
            l.await??;
        }
        let calls = calls.lock().await;
        let held: Vec<Duration> = calls
            .iter()
            .filter(|(t, end)| *t < at && *end > at)
            .map(|(_, end)| end.saturating_duration_since(at))
            .collect();
        let worst = held.iter().max().copied().unwrap_or_default();
        println!(
            "  after SIG{:<5} every call in flight answered within {:>7.1} ms ({} calls in flight; {} calls in all)",
            &signal[1..],
            worst.as_secs_f64() * 1000.0,
            held.len(),
            calls.len()
        );
        drop(calls);
        caller.stop().await?;
    }
    Ok(())
}
