//! Real `weft` processes in temporary data dirs, driven through the CLI and the API client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long any wait in these tests may take before the test fails. Generous: it guards
/// against hangs, it does not measure anything.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The `weft` binary under test.
pub fn weft_bin() -> &'static str {
    env!("CARGO_BIN_EXE_weft")
}

/// Runs `weft ARGS` with no data dir flag.
pub fn weft_raw(args: &[&str]) -> Output {
    Command::new(weft_bin())
        .args(args)
        .env_remove("WEFT_DATA_DIR")
        .output()
        .expect("run weft")
}

/// One node: its data dir, and its `weft node` process while running.
pub struct TestNode {
    pub name: String,
    pub dir: PathBuf,
    pub peer_id: String,
    /// The TCP port, fixed after the first start so peers can redial after restarts.
    port: u16,
    /// The QUIC address of the running node (a new port at every start).
    quic: Option<String>,
    /// Where the running node serves metrics, when started with `--metrics`.
    metrics: Option<String>,
    child: Option<Child>,
    /// The IPv4 address it listens on.
    host: String,
    /// The network namespace it runs in, if not the test's own.
    netns: Option<String>,
    /// Where its stderr goes (in the data dir unless told otherwise).
    log: PathBuf,
}

impl TestNode {
    /// `weft init` in `root/name`.
    pub fn init(root: &Path, name: &str) -> TestNode {
        let dir = root.join(name);
        let out = Command::new(weft_bin())
            .args([
                "--data-dir",
                dir.to_str().unwrap(),
                "--json",
                "init",
                "--name",
                name,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        TestNode {
            name: name.into(),
            log: dir.join("node.log"),
            dir,
            peer_id: v["peer_id"].as_str().unwrap().into(),
            port: 0,
            quic: None,
            metrics: None,
            child: None,
            host: "127.0.0.1".into(),
            netns: None,
        }
    }

    /// `weft init` in `root/name`, for a node that runs in network namespace `netns` and
    /// listens on `host` there.
    pub fn init_in(root: &Path, name: &str, netns: &str, host: &str) -> TestNode {
        let mut node = TestNode::init(root, name);
        node.netns = Some(netns.into());
        node.host = host.into();
        node
    }

    /// Starts `weft node` on loopback and waits until it printed its addresses (it serves
    /// the API by then).
    pub fn start(&mut self) -> &mut Self {
        self.start_with(&[])
    }

    /// [`TestNode::start`] with more `weft node` flags.
    pub fn start_with(&mut self, flags: &[&str]) -> &mut Self {
        assert!(self.child.is_none(), "{} already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let listen = format!("/ip4/{}/tcp/{}", self.host, self.port);
        let quic = format!("/ip4/{}/udp/0/quic-v1", self.host);
        let mut command = match &self.netns {
            Some(netns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", netns, weft_bin()]);
                c
            }
            None => Command::new(weft_bin()),
        };
        let mut child = command
            .args([
                "--data-dir",
                self.dir.to_str().unwrap(),
                "--json",
                "node",
                "--listen",
                &listen,
                "--listen",
                &quic,
            ])
            .args(flags)
            // Nodes of concurrent tests must not find each other on the LAN; the mDNS test
            // turns it on.
            .args(if flags.contains(&"--mdns") {
                &[][..]
            } else {
                &["--mdns", "off"][..]
            })
            .env(
                "RUST_LOG",
                std::env::var("WEFT_TEST_LOG")
                    .unwrap_or_else(|_| "info,libp2p_gossipsub=warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("{} did not start: {line:?}\n{}", self.name, self.log()));
        assert_eq!(v["peer_id"], self.peer_id.as_str());
        let addrs: Vec<String> = v["addrs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let tcp = addrs
            .iter()
            .find(|a| a.contains("/tcp/"))
            .expect("a TCP address");
        self.port = tcp
            .split('/')
            .nth(4)
            .and_then(|p| p.parse().ok())
            .expect("tcp port in the address");
        self.quic = addrs.into_iter().find(|a| a.contains("/quic-v1"));
        self.metrics = v["metrics"].as_str().map(String::from);
        self.child = Some(child);
        self
    }

    /// Lets the next start pick a new TCP port: peers' remembered addresses go stale.
    pub fn new_port(&mut self) {
        self.port = 0;
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "-TERM");
            let status = child.wait().unwrap();
            assert!(
                status.success(),
                "{} exited with {status} on SIGTERM\n{}",
                self.name,
                self.log()
            );
        }
    }

    /// Sends the node's log to `path` (for a data dir that may fill up).
    pub fn log_to(&mut self, path: PathBuf) {
        self.log = path;
    }

    /// The exit status of a node process that exited by itself, if it did.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().unwrap()
    }

    /// Waits until the node process exits by itself; its exit status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("the node runs");
        let status = wait_for(&format!("{} to exit", self.name), || {
            child.try_wait().unwrap()
        });
        self.child = None;
        status
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// The node process's id, while it runs.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the node runs").id()
    }

    /// The node's dialable TCP address.
    pub fn addr(&self) -> String {
        format!("/ip4/{}/tcp/{}/p2p/{}", self.host, self.port, self.peer_id)
    }

    /// The node's dialable QUIC address while it runs.
    pub fn quic_addr(&self) -> String {
        self.quic.clone().expect("the node runs")
    }

    /// Where the running node serves metrics (start it with `--metrics 127.0.0.1:0`: the
    /// node binds a free port and says which, so no other process can take it meanwhile).
    pub fn metrics(&self) -> String {
        self.metrics.clone().expect("the node runs with --metrics")
    }

    /// The typed API client.
    pub fn client(&self) -> weft::Client {
        weft::Client::for_data_dir(&self.dir)
    }

    /// Starts `weft --data-dir DIR ARGS` in the background (its output discarded): a
    /// long-running client such as `weft service offer` or `weft queue work`.
    pub fn background(&self, args: &[&str]) -> Background {
        let child = Command::new(weft_bin())
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Background(child)
    }

    /// Runs `weft --data-dir DIR ARGS`.
    pub fn weft(&self, args: &[&str]) -> Output {
        Command::new(weft_bin())
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs `weft --data-dir DIR --json ARGS`, asserts success, parses stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.weft(&all);
        assert!(
            out.status.success(),
            "{} weft {args:?}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Runs `weft` and asserts it succeeded; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.weft(args);
        assert!(
            out.status.success(),
            "{} weft {args:?}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The node's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `weft status --json`.
    pub fn status(&self) -> Value {
        self.json(&["status"])
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill();
    }
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} failed");
}

/// Polls `check` until it returns Some, or panics with `what` after [`PATIENCE`].
pub fn wait_for<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    wait_until(check).unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// Polls `check` until it returns Some, for at most [`PATIENCE`] (`None` then).
pub fn wait_until<T>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `node` reports `n` connected peers.
pub fn wait_peers(node: &TestNode, n: u64) {
    wait_for(&format!("{} to have {n} peers", node.name), || {
        (node.status()["peers"].as_u64() == Some(n)).then_some(())
    });
}

/// A running node that founded a mesh named "home".
pub fn founder(root: &Path, name: &str) -> TestNode {
    let mut a = TestNode::init(root, name);
    a.start();
    a.json(&["mesh", "create", "--name", "home"]);
    a
}

/// A running node admitted to `founder`'s mesh with a fresh invite.
pub fn member(root: &Path, founder: &TestNode, name: &str) -> TestNode {
    let mut node = TestNode::init(root, name);
    node.start();
    node.ok(&["join", &invite(founder, &[])]);
    node
}

/// alice (a founder) and bob (a member), both following `topic`, once each knows the other
/// follows it.
pub fn two_following(
    root: &Path,
    topic: &str,
    rt: &tokio::runtime::Runtime,
) -> (TestNode, TestNode) {
    let a = founder(root, "alice");
    let b = member(root, &a, "bob");
    for node in [&a, &b] {
        rt.block_on(node.client().subscribe(topic, true)).unwrap();
    }
    wait_for("bob and alice to share the topic", || {
        (b.status()["topics"][0]["peers"] == 1).then_some(())
    });
    (a, b)
}

/// A mesh of `names.len()` members, every pair connected.
pub fn mesh(root: &Path, names: &[&str]) -> Vec<TestNode> {
    let founder = founder(root, names[0]);
    let mut nodes = vec![founder];
    for name in &names[1..] {
        let node = member(root, &nodes[0], name);
        nodes.push(node);
    }
    let n = nodes.len() as u64;
    for node in &nodes {
        wait_peers(node, n - 1);
    }
    nodes
}

/// A `weft` process in the background; killed when dropped.
pub struct Background(pub Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh invite key from `node`, made by `weft invite create ARGS...`.
pub fn invite(node: &TestNode, args: &[&str]) -> String {
    let mut all = vec!["invite", "create"];
    all.extend_from_slice(args);
    node.json(&all)["key"].as_str().unwrap().to_string()
}

/// Two running members of one mesh, connected: `second` founded it, `first` joined by invite.
pub fn connected_pair(root: &Path, first: &str, second: &str) -> (TestNode, TestNode) {
    let b = founder(root, second);
    let a = member(root, &b, first);
    wait_peers(&a, 1);
    (a, b)
}

/// The PeerIds of the members `node` knows.
pub fn member_ids(node: &TestNode) -> Vec<String> {
    node.json(&["members"])
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["peer_id"].as_str().unwrap().to_string())
        .collect()
}

/// Direct messages in `node`'s history received from `from`.
pub fn received_from(node: &TestNode, from: &TestNode) -> Vec<Value> {
    let v = node.json(&["inbox", "--from", &from.peer_id, "--limit", "10000"]);
    v.as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "in" && m["from"] == from.peer_id.as_str())
        .cloned()
        .collect()
}

/// A temporary root for node data dirs. Short, so Unix socket paths stay under 108 bytes.
pub fn root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("weft-e2e-")
        .tempdir_in("/tmp")
        .unwrap()
}

/// Asserts the min ≤ p50 ≤ p99 ≤ max of a `weft bench` report.
pub fn ordered(report: &Value) {
    let ms = |k: &str| {
        report[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} in {report}"))
    };
    assert!(
        ms("min_ms") <= ms("p50_ms") && ms("p50_ms") <= ms("p99_ms"),
        "{report}"
    );
    assert!(ms("p99_ms") <= ms("max_ms"), "{report}");
}

/// Runs `weft --json ARGS` (a `weft bench` run in which every one of `n` requests fails):
/// asserts exit status 1, no request answered and `n` failed; the failure reasons.
pub fn bench_failing(node: &TestNode, args: &[&str], n: u64) -> String {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = node.weft(&all);
    assert_eq!(out.status.code(), Some(1), "{} weft {args:?}", node.name);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["count"].as_u64(), report["failures"].as_u64()),
        (Some(0), Some(n)),
        "{report}"
    );
    report["reasons"].to_string()
}
