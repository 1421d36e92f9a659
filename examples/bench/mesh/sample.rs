//! What the idle window reads of each node: the CPU time its process used (`/proc`), the
//! bytes it put on and took off the wire (libp2p's bandwidth counters, scraped from its
//! Prometheus metrics), and the machine's load average.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use prometheus_parse::{Scrape, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::nodes::Node;

/// Clock ticks per second of the CPU times in `/proc/PID/stat`. libc, which would ask
/// `sysconf(_SC_CLK_TCK)`, is no dependency of the examples; Linux reports these times in
/// USER_HZ, which is 100 on x86 and arm.
const CLK_TCK: f64 = 100.0;

/// libp2p's bandwidth counter, labelled by `direction` (`Inbound`, `Outbound`) and by
/// protocol stack.
const BANDWIDTH: &str = "libp2p_bandwidth_bytes_total";

/// Longest one scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// One node's counters at one moment.
pub struct Counters {
    at: Instant,
    cpu_secs: f64,
    sent: f64,
    received: f64,
}

/// One node's use of the machine and the wire between two [`Counters`].
pub struct Rates {
    /// CPU time used, as a percentage of one core.
    pub cpu_percent: f64,
    /// Bytes sent per minute.
    pub sent_per_min: f64,
    /// Bytes received per minute.
    pub received_per_min: f64,
}

impl Counters {
    /// Reads `node`'s counters now.
    pub async fn read(node: &Node) -> anyhow::Result<Counters> {
        let at = Instant::now();
        let cpu_secs = cpu_secs(node.pid()).with_context(|| format!("{}'s CPU time", node.name))?;
        let (sent, received) = tokio::time::timeout(SCRAPE_TIMEOUT, bandwidth(node.metrics))
            .await
            .with_context(|| format!("{}'s metrics did not answer", node.name))?
            .with_context(|| format!("scraping {}'s metrics", node.name))?;
        Ok(Counters {
            at,
            cpu_secs,
            sent,
            received,
        })
    }

    /// The rates from `earlier` to these counters.
    pub fn rates_since(&self, earlier: &Counters) -> Rates {
        let secs = self.at.duration_since(earlier.at).as_secs_f64();
        Rates {
            cpu_percent: 100.0 * (self.cpu_secs - earlier.cpu_secs) / secs,
            sent_per_min: 60.0 * (self.sent - earlier.sent) / secs,
            received_per_min: 60.0 * (self.received - earlier.received) / secs,
        }
    }
}

/// The machine's load averages over 1, 5 and 15 minutes.
pub fn load_average() -> anyhow::Result<String> {
    let loadavg = std::fs::read_to_string("/proc/loadavg")?;
    Ok(loadavg
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" "))
}

/// CPU time process `pid` used so far, user and system, all its threads, in seconds.
fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces and parentheses: the fields after its
    // closing parenthesis start with the state (field 3), so utime (14) and stime (15)
    // are the 12th and 13th of them.
    let (_, rest) = stat.rsplit_once(')').context("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |k: usize| -> anyhow::Result<u64> {
        Ok(fields.get(k).context("short /proc stat")?.parse::<u64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) as f64 / CLK_TCK)
}

/// Bytes the node at `metrics` sent and received since it started, over every protocol.
async fn bandwidth(metrics: SocketAddr) -> anyhow::Result<(f64, f64)> {
    let mut stream = tokio::net::TcpStream::connect(metrics).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: weft\r\n\r\n")
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no end to the HTTP head")?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "answered {}",
        head.lines().next().unwrap_or_default()
    );
    let scrape = Scrape::parse(body.lines().map(|line| Ok(line.to_string())))?;
    let total = |direction: &str| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == BANDWIDTH && s.labels.get("direction") == Some(direction))
            .map(|s| match &s.value {
                Value::Counter(v) | Value::Untyped(v) => *v,
                _ => 0.0,
            })
            .sum()
    };
    Ok((total("Outbound"), total("Inbound")))
}
