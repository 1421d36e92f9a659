//! Fault tests: partitions, packet loss and SIGKILL cycles under traffic. Each one records
//! every send its node acknowledged and, once the fault is over, checks every node's history
//! against that record: nothing lost, nothing twice. `WEFT_FAULTS_LONG=1` runs them longer.

use std::collections::HashMap;
use std::path::Path;

use crate::netns::Lab;
use crate::support::{TestNode, invite, root, wait_for, wait_peers};

/// Rounds of traffic (and kill cycles): short in CI, longer on request.
fn rounds(short: usize) -> usize {
    if std::env::var_os("WEFT_FAULTS_LONG").is_some() {
        short * 5
    } else {
        short
    }
}

/// Every send a node acknowledged: direct messages by recipient, topic messages.
#[derive(Default)]
struct Ledger {
    direct: Vec<(usize, usize, String)>,
    topic: Vec<(usize, String)>,
}

impl Ledger {
    /// `weft send --no-wait`: acknowledged once it is durably in the sender's outbox.
    fn send(&mut self, nodes: &[TestNode], from: usize, to: usize, text: &str) {
        let v = nodes[from].json(&["send", "--no-wait", &nodes[to].peer_id, text]);
        self.direct
            .push((from, to, v["id"].as_str().unwrap().to_string()));
    }

    /// `weft publish`: acknowledged once it is in the publisher's history. A publish refused
    /// (no subscriber reachable) is not acknowledged and not recorded.
    fn publish(&mut self, nodes: &[TestNode], from: usize, text: &str) {
        let out = nodes[from].weft(&["--json", "publish", "news", text]);
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            self.topic
                .push((from, v["id"].as_str().unwrap().to_string()));
        }
    }

    /// Waits until every acknowledged message is in every history it belongs to, then checks
    /// that none is there twice and every outbox is empty; prints what it checked.
    fn check(&self, nodes: &[TestNode], test: &str) {
        let histories = wait_for("every acknowledged message everywhere", || {
            let histories: Vec<HashMap<String, usize>> = nodes.iter().map(history).collect();
            let direct = self
                .direct
                .iter()
                .all(|(_, to, id)| histories[*to].contains_key(id));
            let topic = self
                .topic
                .iter()
                .all(|(_, id)| histories.iter().all(|h| h.contains_key(id)));
            let drained = nodes.iter().all(|n| n.status()["outbox"] == 0);
            (direct && topic && drained).then_some(histories)
        });
        for (n, history) in histories.iter().enumerate() {
            for (id, count) in history {
                assert_eq!(*count, 1, "{} holds {id} {count} times", nodes[n].name);
            }
        }
        println!(
            "{test}: checked {} direct and {} topic messages across {} nodes: none lost, none twice",
            self.direct.len(),
            self.topic.len(),
            nodes.len()
        );
    }
}

/// How many times each message id is in `node`'s history.
fn history(node: &TestNode) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for m in node
        .json(&["inbox", "--limit", "100000"])
        .as_array()
        .unwrap()
    {
        *counts
            .entry(m["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    counts
}

/// `len` members of one mesh, each in its own namespace of `lab`, all subscribed to `news`
/// and connected to each other.
fn mesh_in(lab: &Lab, root: &Path, len: usize) -> Vec<TestNode> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut nodes: Vec<TestNode> = (0..len)
        .map(|i| TestNode::init_in(root, &format!("n{i}"), &lab.ns(i), &lab.ip(i)))
        .collect();
    nodes[0].start();
    nodes[0].json(&["mesh", "create"]);
    for i in 1..len {
        nodes[i].start();
        let key = invite(&nodes[0], &[]);
        nodes[i].ok(&["join", &key]);
    }
    for node in &nodes {
        rt.block_on(node.client().subscribe("news", true)).unwrap();
    }
    for node in &nodes {
        wait_peers(node, len as u64 - 1);
    }
    wait_for("the topic mesh", || {
        nodes
            .iter()
            .all(|n| n.status()["topics"][0]["peers"] == len - 1)
            .then_some(())
    });
    nodes
}

#[test]
fn a_three_three_partition_heals_with_nothing_lost() {
    let Some(lab) = Lab::new("a_three_three_partition_heals_with_nothing_lost", 6) else {
        return;
    };
    let root = root();
    let nodes = mesh_in(&lab, root.path(), 6);
    let mut ledger = Ledger::default();
    lab.partition(&[0, 1, 2]);
    for round in 0..rounds(3) {
        for i in 0..6 {
            ledger.publish(&nodes, i, &format!("partitioned {i}.{round}"));
            // One message to the same side, one across the cut.
            ledger.send(
                &nodes,
                i,
                (i + 1) % 3 + i / 3 * 3,
                &format!("near {i}.{round}"),
            );
            ledger.send(&nodes, i, (i + 3) % 6, &format!("far {i}.{round}"));
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    // The cut is real: nothing crossed it.
    let histories: Vec<_> = nodes.iter().map(history).collect();
    for (from, to, id) in &ledger.direct {
        if from / 3 != to / 3 {
            assert!(
                !histories[*to].contains_key(id),
                "{id} crossed the partition"
            );
        }
    }
    lab.heal();
    ledger.check(&nodes, "partition 3-3");
}

#[test]
fn twenty_percent_packet_loss_loses_nothing() {
    let Some(lab) = Lab::new("twenty_percent_packet_loss_loses_nothing", 3) else {
        return;
    };
    let root = root();
    let nodes = mesh_in(&lab, root.path(), 3);
    let mut ledger = Ledger::default();
    lab.loss(20);
    for round in 0..rounds(20) {
        let i = round % 3;
        ledger.publish(&nodes, i, &format!("lossy {round}"));
        ledger.send(&nodes, i, (i + 1) % 3, &format!("lossy dm {round}"));
    }
    ledger.check(&nodes, "20% loss");
    lab.heal();
}

#[test]
fn a_node_killed_twenty_times_loses_nothing_it_acknowledged() {
    let root = root();
    let a = crate::support::founder(root.path(), "steady");
    let b = crate::support::member(root.path(), &a, "killed");
    let mut nodes = vec![a, b];
    let mut ledger = Ledger::default();
    for cycle in 0..rounds(20) {
        for k in 0..3 {
            ledger.send(&nodes, 0, 1, &format!("to killed {cycle}.{k}"));
            ledger.send(&nodes, 1, 0, &format!("from killed {cycle}.{k}"));
        }
        nodes[1].kill();
        nodes[1].start();
    }
    ledger.check(&nodes, "SIGKILL cycles");
}

/// A tmpfs of `size` at `dir`, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let options = format!("size={size}");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(dir)
            .output()
            .ok()?;
        out.status.success().then(|| Tmpfs(dir.to_path_buf()))
    }

    /// Fills the file system up with a file named `filler`.
    fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
    }

    /// Makes room again.
    fn empty(&self) {
        std::fs::remove_file(self.0.join("filler")).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_disk_stops_the_node_cleanly_and_it_recovers_with_nothing_lost() {
    let root = root();
    let Some(disk) = Tmpfs::mount(&root.path().join("small"), "8m") else {
        eprintln!("SKIPPED a_full_disk_stops_the_node_cleanly: needs root to mount a tmpfs");
        return;
    };
    let mut full = TestNode::init(&root.path().join("small"), "full");
    full.log_to(root.path().join("full.log"));
    full.start();
    full.json(&["mesh", "create"]);
    let sender = crate::support::member(root.path(), &full, "sender");
    let mut nodes = vec![full, sender];
    let mut ledger = Ledger::default();
    ledger.send(&nodes, 1, 0, "before the disk filled up");
    wait_for("the first message", || {
        (nodes[1].status()["outbox"] == 0).then_some(())
    });

    disk.fill();
    let text = "x".repeat(4000);
    let mut n = 0;
    while nodes[0].exited().is_none() && n < 2000 {
        ledger.send(&nodes, 1, 0, &format!("{n} {text}"));
        n += 1;
    }
    let status = nodes[0].wait_exit();
    assert!(!status.success(), "the node must stop with an error");
    let log = nodes[0].log();
    assert!(
        log.contains("the store could not write") && log.contains("No space left on device"),
        "{log}"
    );

    // Room again: the node starts, its store is whole, and the sender's outbox drains.
    disk.empty();
    nodes[0].start();
    ledger.check(&nodes, "disk full");
}
