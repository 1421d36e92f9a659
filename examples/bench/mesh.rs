//! An idle mesh of N real `weft node` processes on one machine (`bench mesh [N]`, default
//! 100), on 127.0.0.1 only (TCP, mDNS off):
//!
//! ```sh
//! cargo build --release --locked && ./target/release/examples/bench mesh 100
//! ```
//!
//! Node 0 founds the mesh and issues one invite of N-1 uses, which the others redeem a few
//! at a time; the bench waits until every node lists all N members. After the mesh settled,
//! it measures a minute of idleness: CPU and resident memory per node, connections per
//! node (and how many are inbound, relayed, or younger than the minute), bytes on the wire
//! per node per minute (libp2p's bandwidth counters, scraped from each node's `--metrics`)
//! and the machine's load average. Then delivery: five publishers spread over the mesh
//! publish ten messages each on a topic every node follows, timed until all fifty are in
//! every node's history; and twenty direct messages between seeded random pairs, each
//! timed to its recipient's acknowledgement.
//!
//! Each node logs to `node.log` in its data dir under the bench's temporary directory,
//! which is removed at exit: a node that fails is quoted in the error.
//!
//! Five minutes in all for 100 nodes, most of it the two minutes' settling and the idle
//! minute.

mod nodes;
mod poll;
mod sample;
mod tcp;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use weft::proto::api::{CreateInviteRequest, DeliveryState, PeerInfo};
use weft::proto::mesh::Role;
use weft::{InboxQuery, SendRequest};

use crate::{ms, rss_mib, weft_binary};
use nodes::{Node, Nodes};
use poll::{last_of, late, until_all};
use sample::Counters;

/// Most nodes: the founder and the most redemptions one invite allows (1000).
const MAX_NODES: usize = 1001;

/// Joins redeemed at once: the founder lets at most four strangers from one address stay
/// connected to join, and every joiner here comes from 127.0.0.1.
const JOIN_PARALLEL: usize = 3;

/// Tries per joiner (a try refused for want of a stranger slot is made again).
const JOIN_ATTEMPTS: usize = 3;

/// Longest one try to join may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest every node may take, after the last join, to list all N members.
const MEMBERSHIP_DEADLINE: Duration = Duration::from_secs(300);

/// Time left to the mesh, once formed and following the topic, before the idle window:
/// two minutes, so that the window measures the steady state rather than each pair's first
/// sync (which carries the whole member directory once) and the gossip mesh forming.
const SETTLE: Duration = Duration::from_secs(120);

/// The idle window measured.
const IDLE_WINDOW: Duration = Duration::from_secs(60);

/// The topic every node follows.
const TOPIC: &str = "bench";

/// Nodes publishing on the topic, spread evenly over the mesh.
const PUBLISHERS: usize = 5;

/// Messages each publisher publishes.
const PER_PUBLISHER: usize = 10;

/// Longest the topic messages may take to reach every node after the last publish.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(60);

/// Direct messages sent, each between a random pair.
const DM_PAIRS: usize = 20;

/// How long each direct message waits for its acknowledgement.
const DM_TIMEOUT: Duration = Duration::from_secs(10);

/// Seed of the direct messages' pairs.
const DM_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// Runs every phase with `n` nodes whose data dirs go under `dir`, printing a line or so
/// per phase; the nodes are stopped however it ends.
pub async fn run(dir: &Path, n: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        (2..=MAX_NODES).contains(&n),
        "bench mesh N: N is 2 to {MAX_NODES} nodes (asked for {n})"
    );
    anyhow::ensure!(
        !cfg!(debug_assertions),
        "bench mesh measures release builds: cargo build --release --locked && ./target/release/examples/bench mesh {n}"
    );
    let bin = weft_binary()
        .context("no weft binary beside the bench: run `cargo build --release --locked` first")?;
    println!("weft idle mesh: {n} `weft node` processes on 127.0.0.1 (TCP, mDNS off)\n");

    let t = Instant::now();
    let mut nodes = Nodes::start(&bin, &dir.join("mesh"), n).await?;
    println!(
        "start       {n} nodes serving their API after {:.1} s",
        t.elapsed().as_secs_f64()
    );
    admit_all(&nodes).await?;
    wait_for_membership(&nodes).await?;
    for node in nodes.iter() {
        node.client
            .subscribe(TOPIC, true)
            .await
            .with_context(|| format!("{} following `{TOPIC}`", node.name))?;
    }
    println!(
        "topic       all {n} nodes follow `{TOPIC}`; letting the mesh settle {} s",
        SETTLE.as_secs()
    );
    tokio::time::sleep(SETTLE).await;
    idle(&nodes).await?;
    delivery(&nodes).await?;
    direct_messages(&nodes).await?;

    let t = Instant::now();
    let killed = nodes.stop();
    println!(
        "stop        {n} nodes stopped in {:.1} s ({killed} needed SIGKILL)",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Node 0 founds the mesh and issues one invite of N-1 uses; the others redeem it,
/// [`JOIN_PARALLEL`] at a time.
async fn admit_all(nodes: &[Node]) -> anyhow::Result<()> {
    let t = Instant::now();
    let founder = &nodes[0];
    founder
        .client
        .mesh_create(Some("bench".into()))
        .await
        .context("founding the mesh")?;
    let invite = founder
        .client
        .invite_create(&CreateInviteRequest {
            role: Role::Member,
            ttl_secs: 3600,
            uses: u32::try_from(nodes.len() - 1)?,
            note: None,
        })
        .await
        .context("issuing the invite")?;
    let key = invite.key.context("the new invite carries its key")?;
    futures::stream::iter(&nodes[1..])
        .map(|node| join(node, &key))
        .buffer_unordered(JOIN_PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    println!(
        "admission   {} joined by one invite, {JOIN_PARALLEL} at a time, in {:.1} s",
        nodes.len() - 1,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Redeems `key` at `node`, trying again when a try fails or hangs.
async fn join(node: &Node, key: &str) -> anyhow::Result<()> {
    let mut last = String::new();
    for _ in 0..JOIN_ATTEMPTS {
        match tokio::time::timeout(JOIN_TIMEOUT, node.client.join(key)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = format!("no answer within {JOIN_TIMEOUT:?}"),
        }
        // A try that timed out may have finished since.
        if node.client.mesh().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    anyhow::bail!("{} could not join: {last}; {}", node.name, node.log_tail())
}

/// Waits until every node lists all N members.
async fn wait_for_membership(nodes: &[Node]) -> anyhow::Result<()> {
    let n = nodes.len();
    let start = Instant::now();
    let listed = until_all(nodes, MEMBERSHIP_DEADLINE, |node| async move {
        node.client.members().await.is_ok_and(|m| m.len() >= n)
    })
    .await;
    let Some(took) = last_of(&listed, start) else {
        let short = late(nodes, &listed);
        let node = short.first().context("a late node")?;
        let has = node.client.members().await.map_or(0, |m| m.len());
        anyhow::bail!(
            "{} of {n} nodes did not list all {n} members within {MEMBERSHIP_DEADLINE:?} ({} lists {has}); {}",
            short.len(),
            node.name,
            node.log_tail()
        );
    };
    println!(
        "membership  all {n} nodes list all {n} members {:.1} s after the last join",
        took.as_secs_f64()
    );
    Ok(())
}

/// A minute of idleness: CPU, memory, connections and bytes per node, and the load.
async fn idle(nodes: &[Node]) -> anyhow::Result<()> {
    let mut before = Vec::with_capacity(nodes.len());
    for node in nodes {
        before.push(Counters::read(node).await?);
    }
    tokio::time::sleep(IDLE_WINDOW).await;
    let load = sample::load_average()?;
    let (mut cpu, mut rss, mut sent, mut received) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut links = Links::default();
    for (node, earlier) in nodes.iter().zip(&before) {
        let rates = Counters::read(node).await?.rates_since(earlier);
        cpu.push(rates.cpu_percent);
        sent.push(rates.sent_per_min);
        received.push(rates.received_per_min);
        rss.push(rss_mib(node.pid())?);
        let peers = node.client.peers().await;
        links.count(&peers.with_context(|| format!("{}'s peers", node.name))?);
        links.tcp.push(tcp::tcp_connections(node.pid())? as f64);
    }
    println!(
        "idle        {} s; load average at its end {load}",
        IDLE_WINDOW.as_secs()
    );
    row("CPU % per node", &cpu);
    row("RSS MiB per node", &rss);
    links.print();
    row("bytes sent per node/min", &sent);
    row("bytes received per node/min", &received);
    Ok(())
}

/// Members connected per node, and how many of them are inbound, relayed, or younger than
/// the idle window (connections that churn: closed and dialled again); and TCP connections.
#[derive(Default)]
struct Links {
    all: Vec<f64>,
    inbound: Vec<f64>,
    relayed: Vec<f64>,
    young: Vec<f64>,
    /// TCP connections (a member may have more than one).
    tcp: Vec<f64>,
}

impl Links {
    /// Counts one node's `peers`.
    fn count(&mut self, peers: &[PeerInfo]) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let with = |f: &dyn Fn(&PeerInfo) -> bool| peers.iter().filter(|p| f(p)).count() as f64;
        self.all.push(peers.len() as f64);
        self.inbound.push(with(&|p| p.direction == "inbound"));
        self.relayed.push(with(&|p| p.path == "relayed"));
        self.young.push(with(&|p| {
            now.saturating_sub(p.connected_since) < IDLE_WINDOW.as_secs()
        }));
    }

    /// Prints a row for each.
    fn print(&self) {
        row("connections per node", &self.all);
        row("  of them inbound", &self.inbound);
        row("  of them relayed", &self.relayed);
        row("  of them under a minute old", &self.young);
        row("TCP connections per node", &self.tcp);
    }
}

/// Prints the mean and the largest of `values`.
fn row(what: &str, values: &[f64]) {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    println!("  {what:<28} mean {mean:>12.2}  max {max:>12.2}");
}

/// Topic messages from publishers spread over the mesh, until every node holds them all.
async fn delivery(nodes: &[Node]) -> anyhow::Result<()> {
    let (n, total) = (nodes.len(), PUBLISHERS * PER_PUBLISHER);
    let query = InboxQuery {
        topic: Some(TOPIC.parse()?),
        limit: Some(2 * total),
        ..InboxQuery::default()
    };
    let query = &query;
    let start = Instant::now();
    for k in 0..PER_PUBLISHER {
        for p in 0..PUBLISHERS {
            let node = &nodes[p * n / PUBLISHERS];
            node.client
                .publish(TOPIC, &format!("{} #{k}", node.name))
                .await
                .with_context(|| format!("{} publishing", node.name))?;
        }
    }
    let published = start.elapsed();
    let reached = until_all(nodes, DELIVERY_DEADLINE, |node| async move {
        held(node, query).await >= total
    })
    .await;
    let mut copies = 0;
    for (node, at) in nodes.iter().zip(&reached) {
        copies += match at {
            Some(_) => total,
            None => held(node, query).await.min(total),
        };
    }
    let outcome = match last_of(&reached, start) {
        Some(all) => format!(
            "at all {n} nodes {:.2} s after the first publish",
            all.as_secs_f64()
        ),
        None => format!(
            "{} nodes short {DELIVERY_DEADLINE:?} after the last publish",
            late(nodes, &reached).len()
        ),
    };
    println!(
        "delivery    {total} topic messages from {PUBLISHERS} publishers (published in {:.2} s): {:.1} % delivered, {outcome}",
        published.as_secs_f64(),
        100.0 * copies as f64 / (total * n) as f64
    );
    Ok(())
}

/// Topic messages in `node`'s history (0 when it does not answer).
async fn held(node: &Node, query: &InboxQuery) -> usize {
    node.client.inbox(query).await.map_or(0, |m| m.len())
}

/// Direct messages between seeded random pairs, one at a time, each timed to its
/// acknowledgement.
async fn direct_messages(nodes: &[Node]) -> anyhow::Result<()> {
    let n = nodes.len();
    let mut rng = XorShift(DM_SEED);
    let mut times = Vec::with_capacity(DM_PAIRS);
    let mut failure = None;
    for k in 0..DM_PAIRS {
        let (from, to) = {
            let from = rng.below(n);
            (&nodes[from], &nodes[(from + 1 + rng.below(n - 1)) % n])
        };
        let request = SendRequest {
            to: to.peer_id.clone(),
            text: format!("direct {k}"),
            wait: true,
            timeout_ms: Some(DM_TIMEOUT.as_millis() as u64),
            bench: false,
        };
        let t = Instant::now();
        // The node answers once its timeout passed; this bound is the backstop.
        let outcome = match tokio::time::timeout(2 * DM_TIMEOUT, from.client.send(&request)).await {
            Ok(Ok(answer)) if answer.state == DeliveryState::Delivered => {
                times.push(t.elapsed());
                continue;
            }
            Ok(Ok(answer)) => format!("left {:?}", answer.state),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", 2 * DM_TIMEOUT),
        };
        if failure.is_none() {
            failure = Some(format!("{} to {}: {outcome}", from.name, to.name));
        }
    }
    times.sort();
    let figures = match (times.get(times.len().saturating_sub(1) / 2), times.last()) {
        (Some(p50), Some(max)) => format!(", p50 {:.1} ms, max {:.1} ms", ms(*p50), ms(*max)),
        _ => String::new(),
    };
    let why = failure.map_or(String::new(), |f| format!("; first failure: {f}"));
    println!(
        "direct      {} of {DM_PAIRS} acknowledged between random pairs{figures}{why}",
        times.len()
    );
    Ok(())
}

/// xorshift64: the direct messages' pairs, the same on every run.
struct XorShift(u64);

impl XorShift {
    /// A number below `n` (which is not 0).
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
