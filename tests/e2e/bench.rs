//! `weft bench dm` and `weft bench topic` through the real binary: benchmark traffic takes
//! the real paths, is stored in no history, and a benchmark direct message is taken only by
//! a member that runs with `--bench-dm on`, never from a guest (checked with a bare libp2p
//! peer that writes the frames itself, so the sender's own refusal cannot hide an open door).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use libp2p::{PeerId, StreamProtocol, identity};
use serde_json::Value;
use weft::proto::codec::{from_cbor, to_cbor};
use weft::proto::dm::{AckOutcome, DirectMessage, DmAck};

use crate::bare::{bare_peer, read_frame, write_frame};
use crate::support::*;

const DM: StreamProtocol = StreamProtocol::new("/weft/dm/1");

/// The node's stored messages.
fn history(node: &TestNode) -> Vec<Value> {
    node.json(&["inbox"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn weft_bench_dm_reaches_only_members_that_take_it_and_stores_nothing() {
    let root = root();
    let a = founder(root.path(), "a");
    let mut b = TestNode::init(root.path(), "b");
    b.start_with(&["--bench-dm", "on"]);
    b.ok(&["join", &invite(&a, &[])]);
    let c = member(root.path(), &a, "c");
    for node in [&a, &b, &c] {
        wait_peers(node, 2);
    }

    let args = ["bench", "dm", "b", "--count", "200", "--in-flight", "8"];
    let report = a.json(&args);
    assert_eq!(
        (report["kind"].as_str(), report["count"].as_u64()),
        (Some("dm"), Some(200)),
        "{report}"
    );
    assert_eq!(report["failures"], 0, "{report}");
    assert_eq!(report["target"], b.peer_id.as_str());
    ordered(&report);
    let table = a.ok(&["bench", "dm", &b.peer_id, "--count", "5", "--size", "100"]);
    assert!(table.contains("5 messages of 100 B to"), "{table}");

    // c runs with the default: every message is refused, with why, and counted there.
    let reasons = bench_failing(&a, &["bench", "dm", "c", "--count", "5"], 5);
    assert!(reasons.contains("--bench-dm off"), "{reasons}");
    assert_eq!(c.status()["rejected"]["bench_off"], 5);

    // Neither side kept any of them, and nothing waits in an outbox.
    for node in [&a, &b, &c] {
        assert_eq!(history(node), Vec::<Value>::new(), "{}", node.name);
    }
    assert_eq!(a.status()["outbox"], 0);

    // A guest's own node will not send them.
    let mut guest = TestNode::init(root.path(), "guest");
    guest.start();
    guest.ok(&["join", &invite(&a, &["--role", "guest"])]);
    let out = guest.weft(&["bench", "dm", &b.peer_id, "--count", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("guests never run benchmarks"), "{said}");
}

/// A bare libp2p peer with `keypair` writes one benchmark message to `target` on
/// `/weft/dm/1` and returns the acknowledgement.
fn bare_bench_dm(keypair: identity::Keypair, mesh: &str, target: &TestNode) -> DmAck {
    let from = keypair.public().to_peer_id();
    let to: PeerId = target.peer_id.parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut control = bare_peer(keypair, mesh, &target.addr()).await;
        let mut stream = control.open_stream(to, DM).await.unwrap();
        let ts = 1_000_000 * 1_800_000_000;
        let message = DirectMessage::bench(&from.to_bytes(), &to.to_bytes(), ts, "hi".into());
        write_frame(&mut stream, &to_cbor(&message).unwrap())
            .await
            .unwrap();
        let ack: DmAck = from_cbor(&read_frame(&mut stream).await.unwrap()).unwrap();
        assert_eq!(ack.id, message.id);
        ack
    })
}

#[test]
fn a_benchmark_message_on_the_wire_is_taken_from_a_member_and_never_from_a_guest() {
    let root = root();
    let a = founder(root.path(), "a");
    let mut b = TestNode::init(root.path(), "b");
    b.start_with(&["--bench-dm", "on"]);
    b.ok(&["join", &invite(&a, &[])]);
    wait_peers(&b, 1);
    let mesh = a.status()["mesh"].as_str().unwrap().to_string();
    let (member, guest) = (
        identity::Keypair::generate_ed25519(),
        identity::Keypair::generate_ed25519(),
    );
    let (member_id, guest_id) = (member.public().to_peer_id(), guest.public().to_peer_id());
    a.ok(&["members", "add", &member_id.to_string()]);
    a.ok(&["members", "add", &guest_id.to_string(), "--role", "guest"]);
    wait_for("b to hear of both", || {
        let members = b.json(&["members"]).to_string();
        (members.contains(&member_id.to_string()) && members.contains(&guest_id.to_string()))
            .then_some(())
    });

    let ack = bare_bench_dm(guest, &mesh, &b);
    match ack.outcome {
        AckOutcome::Rejected { reason } => {
            assert!(reason.contains("guests never"), "{reason}")
        }
        outcome => panic!("a guest's benchmark message was {outcome:?}"),
    }
    assert_eq!(b.status()["rejected"]["bench_guest"], 1);
    let ack = bare_bench_dm(member, &mesh, &b);
    assert_eq!(ack.outcome, AckOutcome::Stored, "a member's is taken");
    assert_eq!(history(&b), Vec::<Value>::new(), "and stored nowhere");
}

/// `weft bench topic TOPIC --receive` on `node`, once it says it receives.
fn receiver(node: &TestNode, topic: &str, count: &str) -> Child {
    let mut child = Command::new(weft_bin())
        .arg("--data-dir")
        .arg(&node.dir)
        .args(["--json", "bench", "topic", topic, "--receive"])
        .args(["--count", count, "--duration", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("receiving benchmark messages") {
        line.clear();
        let read = said.read_line(&mut line).unwrap();
        assert!(
            read > 0,
            "{} bench receiver ended before it said it receives",
            node.name
        );
    }
    child
}

#[test]
fn weft_bench_topic_gossips_to_receivers_that_count_it_and_nothing_is_stored() {
    let root = root();
    let nodes = mesh(root.path(), &["a", "b", "c"]);
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let receivers = [receiver(b, "load", "300"), receiver(c, "load", "300")];
    // a follows nothing: it starts once a stored probe says both receivers follow.
    wait_for("a to see two followers of `load`", || {
        let out = a.json(&["publish", "load", "probe"]);
        (out["peers"] == 2).then_some(())
    });
    let report = a.json(&["bench", "topic", "load", "--count", "300", "--rate", "300"]);
    assert_eq!(
        (report["kind"].as_str(), report["count"].as_u64()),
        (Some("topic"), Some(300)),
        "{report}"
    );
    assert_eq!(report["failures"], 0);
    ordered(&report);
    for (child, node) in receivers.into_iter().zip([b, c]) {
        let out = child.wait_with_output().unwrap();
        let said: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(out.status.success(), "{}: {said}", node.name);
        assert_eq!(said["received"], 300, "{}: {said}", node.name);
        assert_eq!(
            (
                said["lost"].as_u64(),
                said["lagged"].as_u64(),
                said["publishers"].as_u64()
            ),
            (Some(0), Some(0), Some(1)),
            "{}: {said}",
            node.name
        );
        ordered(&said);
        // The probes are stored; no benchmark message is.
        let stored = history(node);
        assert!(
            stored.iter().all(|m| m["text"] == "probe"),
            "{}: {stored:?}",
            node.name
        );
    }
}
