//! The mesh's processes: one `weft node` per data dir, listening on 127.0.0.1 only, with
//! mDNS off and metrics on a loopback port it picks and reports, logging to `node.log` in
//! its data dir. [`Nodes`]
//! stops them all (SIGTERM, then SIGKILL) when asked or dropped, so an error stops them too.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use weft::Client;
use weft_node::node::Init;

/// Longest the nodes may take, all together, to serve their API once spawned.
const START_DEADLINE: Duration = Duration::from_secs(120);

/// How long the nodes have to exit after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// The log file in each node's data dir.
const LOG: &str = "node.log";

/// Log lines quoted when a node fails.
const TAIL_LINES: usize = 8;

/// One running `weft node`.
pub struct Node {
    /// `n000`, `n001`, ...: its data dir's name.
    pub name: String,
    /// Its PeerId.
    pub peer_id: String,
    /// Its local API.
    pub client: Client,
    /// Where it serves Prometheus metrics.
    pub metrics: SocketAddr,
    dir: PathBuf,
    child: Child,
}

impl Node {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of its log, for an error message (the log goes with the bench's
    /// temporary directory).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join(LOG)).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n    ");
        format!("{}'s log ends:\n    {tail}", self.name)
    }
}

/// The running nodes, stopped when dropped.
pub struct Nodes(Vec<Node>);

impl Nodes {
    /// Inits `n` data dirs under `root`, spawns `bin` as a node on each and waits until
    /// every one serves its API.
    pub async fn start(bin: &Path, root: &Path, n: usize) -> anyhow::Result<Nodes> {
        let mut nodes = Nodes(Vec::with_capacity(n));
        for i in 0..n {
            nodes.0.push(spawn(bin, root, format!("n{i:03}"))?);
        }
        let ready = super::poll::until_all(&nodes, START_DEADLINE, |node| async move {
            node.client.status().await.is_ok()
        })
        .await;
        let short = super::poll::late(&nodes, &ready);
        if let Some(node) = short.first() {
            anyhow::bail!(
                "{} of {n} nodes did not serve their API within {START_DEADLINE:?}; {}",
                short.len(),
                node.log_tail()
            );
        }
        drop(short);
        Ok(nodes)
    }

    /// Stops every node still running: SIGTERM to all, then SIGKILL to those still running
    /// [`STOP_GRACE`] later. Returns how many were killed.
    pub fn stop(&mut self) -> usize {
        let mut pids = Vec::new();
        for node in &mut self.0 {
            if running(node) {
                pids.push(node.pid().to_string());
            }
        }
        if pids.is_empty() {
            return 0;
        }
        // std sends no SIGTERM and libc is no dependency of the examples: the `kill`
        // program sends it. Should it be missing, the nodes are killed after the grace.
        let _ = Command::new("kill")
            .arg("-TERM")
            .args(&pids)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_GRACE;
        while self.0.iter_mut().any(running) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut killed = 0;
        for node in &mut self.0 {
            if running(node) {
                let _ = node.child.kill();
                killed += 1;
            }
            let _ = node.child.wait();
        }
        killed
    }
}

impl std::ops::Deref for Nodes {
    type Target = [Node];

    fn deref(&self) -> &[Node] {
        &self.0
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `node`'s process has not exited (reaping it if it has).
fn running(node: &mut Node) -> bool {
    matches!(node.child.try_wait(), Ok(None))
}

/// Inits the data dir `root/name` and spawns a node on it, its stderr to its log; returns
/// once the node said where it serves metrics.
fn spawn(bin: &Path, root: &Path, name: String) -> anyhow::Result<Node> {
    let dir = root.join(&name);
    let peer = match weft_node::node::init(&dir, None)? {
        Init::Created(peer) | Init::Exists(peer) => peer,
    };
    let log = std::fs::File::create(dir.join(LOG))?;
    let mut child = Command::new(bin)
        .arg("--data-dir")
        .arg(&dir)
        .args([
            "--json",
            "node",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--mdns",
            "off",
        ])
        .args(["--metrics", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("spawning {} for {name}", bin.display()))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        BufReader::new(out).read_line(&mut line)?;
    }
    let started: serde_json::Value =
        serde_json::from_str(&line).with_context(|| format!("{name} did not start: {line:?}"))?;
    let metrics: SocketAddr = started["metrics"]
        .as_str()
        .context("no metrics address in the start line")?
        .parse()?;
    Ok(Node {
        peer_id: peer.to_string(),
        client: Client::for_data_dir(&dir),
        name,
        metrics,
        dir,
        child,
    })
}
