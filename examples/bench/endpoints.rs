//! ZeroMQ programs through weft (`bench zmq`): pyzmq REQ→REP and PUB→SUB between two
//! in-process nodes' `--zmq` endpoints, beside the same pyzmq programs connected directly
//! over CURVE on loopback, measured in the same run (`zmq_endpoints.py`; pyzmq from PyPI).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use weft::proto::mesh::Role;
use weft::{Config, Node};
use weft_node::mesh::join::admit;

/// Round trips per REQ/REP row.
const CALLS: usize = 5_000;

/// Messages per PUB/SUB row.
const MESSAGES: usize = 20_000;

/// One row the Python program printed.
struct Row {
    name: String,
    p50: Duration,
    p99: Duration,
    per_sec: f64,
    lost: u64,
}

/// Runs both sides in `dir` and prints each weft row with its ratio to the direct one.
pub async fn run(dir: &Path) -> anyhow::Result<()> {
    println!("ZeroMQ programs through weft and directly (pyzmq, 64 B bodies, loopback)\n");
    let direct = python(&["direct", &CALLS.to_string(), &MESSAGES.to_string()])?;
    let a = start(&dir.join("a"), &["call/echo", "pub"]).await?;
    let b = start(&dir.join("b"), &["offer/echo", "sub"]).await?;
    b.handle.mesh_create(None).await?;
    admit(&b.handle, &a.handle, Role::Member).await?;
    let ipc = |node: &str, path: &str| format!("ipc://{}/zmq/{path}", dir.join(node).display());
    let through = python(&[
        "weft",
        &ipc("a", "call/echo"),
        &ipc("b", "offer/echo"),
        &ipc("a", "pub"),
        &ipc("b", "sub"),
        &CALLS.to_string(),
        &MESSAGES.to_string(),
    ])?;
    println!(
        "  {:<34} {:>9} {:>9} {:>12} {:>8}",
        "", "p50", "p99", "per second", "lost"
    );
    for row in direct.iter().chain(&through) {
        println!(
            "  {:<34} {:>7.3}ms {:>7.3}ms {:>12.0} {:>8}",
            row.name,
            row.p50.as_secs_f64() * 1e3,
            row.p99.as_secs_f64() * 1e3,
            row.per_sec,
            row.lost
        );
    }
    println!("\nthrough weft, as a multiple of direct:");
    for (weft, reference) in through.iter().zip(&direct) {
        let latency = if reference.p50.is_zero() {
            String::new()
        } else {
            format!(
                "p50 {:.1}×  p99 {:.1}×  ",
                ratio(weft.p50, reference.p50),
                ratio(weft.p99, reference.p99)
            )
        };
        println!(
            "  {:<34} {latency}rate {:.2}×",
            weft.name,
            weft.per_sec / reference.per_sec
        );
    }
    a.stop().await?;
    b.stop().await?;
    Ok(())
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// A node on `dir` with ZeroMQ endpoints `zmq`.
async fn start(dir: &Path, zmq: &[&str]) -> anyhow::Result<Node> {
    weft_node::node::init(dir, None)?;
    let mut config = Config::new(dir.to_path_buf(), vec!["/ip4/127.0.0.1/tcp/0".parse()?]);
    config.zmq = zmq
        .iter()
        .map(|s| s.parse().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    Ok(Node::start(config).await?)
}

/// Runs `zmq_endpoints.py ARGS...` with pyzmq and reads its rows.
fn python(args: &[&str]) -> anyhow::Result<Vec<Row>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("contrib/python/run.sh"))
        .args(["zmq", "pyzmq==27.3.0", "zmq"])
        .arg(root.join("examples/bench/zmq_endpoints.py"))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .context("run contrib/python/run.sh (needs python3-venv and PyPI)")?;
    anyhow::ensure!(out.status.success(), "zmq_endpoints.py {} failed", args[0]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let ms = |k: &str| Duration::from_secs_f64(v[k].as_f64().unwrap_or(0.0) / 1000.0);
            Ok(Row {
                name: v["row"].as_str().unwrap_or("?").to_string(),
                p50: ms("p50_ms"),
                p99: ms("p99_ms"),
                per_sec: v["per_sec"].as_f64().unwrap_or(0.0),
                lost: v["lost"].as_u64().unwrap_or(0),
            })
        })
        .collect()
}
