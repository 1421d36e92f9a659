//! Operating a node: Prometheus metrics scraped during traffic and parsed by a real parser,
//! `weft doctor` on a healthy and on broken set-ups, `weft ping`, a malformed config file,
//! JSON logs.

use std::io::{Read, Write};
use std::net::TcpStream;

use prometheus_parse::{Scrape, Value};

use crate::support::{TestNode, connected_pair, invite, root, wait_for, weft_bin};

/// A free loopback port for a listener the node cannot report back (a ZeroMQ endpoint).
pub(crate) fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// GETs `/metrics` from `addr` and parses it.
pub(crate) fn scrape(addr: &str) -> Scrape {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: weft\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// The value of `name` with labels `labels` (a counter, gauge or untyped sample), 0 when
/// absent.
pub(crate) fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

#[test]
fn metrics_move_with_messages_refusals_and_transfers() {
    let root = root();
    let mut a = TestNode::init(root.path(), "a");
    a.start_with(&["--metrics", "127.0.0.1:0"]);
    let metrics = a.metrics();
    a.json(&["mesh", "create"]);
    let key = invite(&a, &[]);
    let mut b = TestNode::init(root.path(), "b");
    b.start();
    b.ok(&["join", &key]);
    crate::support::wait_peers(&a, 1);
    let before = scrape(&metrics);

    for n in 0..5 {
        a.ok(&["send", &b.peer_id, &format!("hello {n}")]);
    }
    b.ok(&["send", &a.peer_id, "back"]);
    let file = root.path().join("notes.txt");
    std::fs::write(&file, vec![b'x'; 300_000]).unwrap();
    let blob = a.json(&["share", file.to_str().unwrap()])["offer"]["blob"]
        .as_str()
        .unwrap()
        .to_string();
    b.ok(&[
        "fetch",
        &blob,
        "-o",
        root.path().join("got.txt").to_str().unwrap(),
    ]);
    // A stranger tries the spent invite: refused at the join door and counted.
    let mut stranger = TestNode::init(root.path(), "stranger");
    stranger.start();
    assert!(!stranger.weft(&["join", &key]).status.success());
    let after = wait_for("the refused join counted", || {
        let s = scrape(&metrics);
        let refused = value(
            &s,
            "weft_messages_rejected_total",
            &[("kind", "join"), ("reason", "join")],
        );
        (refused >= 1.0).then_some(s)
    });

    let grew = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(grew("weft_messages_sent_total", &[("kind", "direct")]), 5.0);
    assert_eq!(
        grew("weft_messages_received_total", &[("kind", "direct")]),
        1.0
    );
    assert!(
        grew("weft_delivery_latency_seconds", &[]) >= 5.0,
        "latency histogram counts sends"
    );
    assert!(
        grew(
            "weft_blob_transferred_bytes_total",
            &[("direction", "sent")]
        ) >= 300_000.0
    );
    assert!(
        grew(
            "weft_acl_decisions_total",
            &[("door", "connection"), ("decision", "deny")]
        ) >= 1.0
    );
    assert!(
        grew(
            "weft_acl_decisions_total",
            &[("door", "blob"), ("decision", "allow")]
        ) >= 1.0
    );
    assert!(value(&after, "weft_store_size_bytes", &[]) > 0.0);
    assert!(value(&after, "weft_peers_connected", &[]) >= 1.0);
    assert_eq!(value(&after, "weft_outbox_depth_messages", &[]), 0.0);
    assert!(
        value(
            &after,
            "libp2p_bandwidth_bytes_total",
            &[("direction", "Outbound")]
        ) > 0.0
    );
    assert!(value(&after, "libp2p_swarm_connections_established_total", &[]) >= 1.0);
    println!(
        "operate: {} samples scraped and parsed; sends, receipts, latency, blob bytes, refusals and libp2p bandwidth moved",
        after.samples.len()
    );
}

/// `weft doctor` on `node`: exit status and the lines it printed.
fn doctor(node: &TestNode) -> (bool, String) {
    let out = node.weft(&["doctor"]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn doctor_names_each_problem() {
    use std::os::unix::fs::PermissionsExt;
    let root = root();
    let (mut a, mut b) = connected_pair(root.path(), "a", "b");
    let (ok, said) = doctor(&a);
    assert!(ok, "a healthy node passes:\n{said}");
    for check in [
        "data dir",
        "identity",
        "node",
        "listeners",
        "mesh",
        "reachability",
        "relays",
        "member",
        "clock",
        "disk",
    ] {
        assert!(said.contains(check), "doctor checks {check}:\n{said}");
    }

    // A peer unreachable: the member check names it.
    // (A QUIC connection to a dead peer lasts until QUIC's idle timeout: wait for it.)
    b.stop();
    let said = wait_for("doctor to find b gone", || {
        let (ok, said) = doctor(&a);
        (!ok && said.contains("not connected")).then_some(said)
    });
    assert!(
        said.contains("[FAIL] member") && said.contains("not connected"),
        "{said}"
    );

    // Data dir open to others.
    std::fs::set_permissions(&a.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (ok, said) = doctor(&a);
    assert!(
        !ok && said.contains("[FAIL] data dir") && said.contains("chmod 700"),
        "{said}"
    );
    std::fs::set_permissions(&a.dir, std::fs::Permissions::from_mode(0o700)).unwrap();

    // The node stopped.
    a.stop();
    let (ok, said) = doctor(&a);
    assert!(
        !ok && said.contains("[FAIL] node") && said.contains("not running"),
        "{said}"
    );
    assert!(
        said.contains("[ ok ] identity"),
        "identity read from the store: {said}"
    );
    let json = a.weft(&["--json", "doctor"]);
    let checks: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        checks
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["verdict"] == "fail" && c["check"] == "node")
    );
}

#[test]
fn ping_measures_round_trips_to_a_member() {
    let root = root();
    let (a, b) = connected_pair(root.path(), "a", "b");
    let said = a.ok(&["ping", &b.peer_id, "-c", "3", "-i", "0.1"]);
    assert!(said.contains("(direct,"), "{said}");
    assert!(said.contains("3 sent, 3 received, 0% loss"), "{said}");
    assert!(said.contains("rtt min/avg/max = "), "{said}");
    let stranger = TestNode::init(root.path(), "stranger");
    let refused = a.weft(&["ping", &stranger.peer_id]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a member"));
}

#[test]
fn a_malformed_config_file_is_refused_with_its_line() {
    let root = root();
    let node = TestNode::init(root.path(), "a");
    std::fs::write(
        node.dir.join("weft.toml"),
        "metrics = \"127.0.0.1:9464\"\nrelay = \"sometimes\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(weft_bin())
        .args(["--data-dir", node.dir.to_str().unwrap(), "node"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("weft.toml, line 2") && said.contains("sometimes"),
        "{said}"
    );

    // A good file is taken, and flags win over it.
    std::fs::write(
        node.dir.join("weft.toml"),
        "relay = \"off\"\nmailbox-ttl = \"3d\"\n",
    )
    .unwrap();
    let shown = node.ok(&["config", "show", "--mailbox-ttl", "1d"]);
    assert!(
        shown.contains("relay = \"off\"") && shown.contains("# file"),
        "{shown}"
    );
    assert!(
        shown.contains("mailbox-ttl = \"1d\"") && shown.contains("# flag"),
        "{shown}"
    );
    assert!(
        shown.contains("history-retention = \"365d\"") && shown.contains("# default"),
        "{shown}"
    );
}

#[test]
fn what_config_show_prints_is_a_config_file_the_node_reads_back() {
    let root = root();
    let node = TestNode::init(root.path(), "a");
    let flags = [
        "--mailbox-ttl",
        "1d",
        "--metrics",
        "127.0.0.1:9464",
        "--log-format",
        "json",
        "--relay",
        "off",
        "--log-level",
        "info,weft_node=\"debug\"",
    ];
    let mut args = vec!["config", "show"];
    args.extend(flags);
    let shown = node.ok(&args);
    std::fs::write(node.dir.join("weft.toml"), &shown).unwrap();
    let again = node.ok(&["config", "show"]);
    let rows = |shown: &str| -> Vec<(String, String)> {
        shown
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (value, source) = l.rsplit_once(" # ").unwrap();
                (value.trim().to_string(), source.to_string())
            })
            .collect()
    };
    let (before, after) = (rows(&shown), rows(&again));
    assert_eq!(
        before.iter().map(|(v, _)| v).collect::<Vec<_>>(),
        after.iter().map(|(v, _)| v).collect::<Vec<_>>(),
        "read back as written:\n{again}"
    );
    assert!(
        after.iter().all(|(_, source)| source == "file"),
        "every setting from the file: {again}"
    );
    assert!(again.contains("mailbox-ttl = \"1d\""), "{again}");
}

#[test]
fn the_documented_config_file_is_the_defaults_and_parses() {
    let root = root();
    let node = TestNode::init(root.path(), "a");
    let defaults = node.ok(&["config", "show"]);
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/weft.toml");
    std::fs::copy(sample, node.dir.join("weft.toml")).unwrap();
    let from_file = node.ok(&["config", "show"]);
    let values = |shown: &str| -> Vec<String> {
        shown
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('#').next().unwrap().trim().to_string())
            .collect()
    };
    assert_eq!(
        values(&from_file),
        values(&defaults),
        "contrib/weft.toml states the defaults"
    );
    let from_file_rows = from_file.lines().filter(|l| l.ends_with("# file")).count();
    assert!(
        from_file_rows >= 14,
        "every documented key is read: {from_file}"
    );
}

#[test]
fn json_logs_parse_line_by_line_and_keep_secrets_out() {
    let root = root();
    let mut a = TestNode::init(root.path(), "a");
    a.start_with(&["--log-format", "json"]);
    a.json(&["mesh", "create"]);
    let key = invite(&a, &[]);
    let b = crate::support::member(root.path(), &a, "b");
    a.ok(&["send", &b.peer_id, "hi"]);
    a.stop();
    let log = a.log();
    let mut lines = 0;
    let mut ours_seen = false;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        let ours = v["target"].as_str().is_some_and(|t| t.starts_with("weft"));
        ours_seen |= ours;
        if let Some(peer) = v["peer"].as_str().filter(|_| ours) {
            assert!(peer.len() <= 8, "peers are named by short PeerId: {line}");
        }
        lines += 1;
    }
    assert!(ours_seen, "the node's own events are in the log: {log}");
    assert!(!log.contains(&key), "an invite key reached the log");
    println!("operate: {lines} JSON log lines parsed; no secret in them");
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = crate::support::weft_raw(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("weft") && script.contains("doctor"),
            "{shell}: {script:.200}"
        );
    }
}

#[test]
fn service_and_queue_metrics_count_calls_service_times_and_dead_letters() {
    let root = root();
    let mut a = TestNode::init(root.path(), "a");
    a.start_with(&["--metrics", "127.0.0.1:0"]);
    let metrics = a.metrics();
    a.json(&["mesh", "create"]);
    let key = invite(&a, &[]);
    let mut b = TestNode::init(root.path(), "b");
    b.start();
    b.ok(&["join", &key]);
    crate::support::wait_peers(&a, 1);

    let upper = ["service", "offer", "upper", "--", "tr", "a-z", "A-Z"];
    let _upper = a.background(&upper);
    let _echo = b.background(&["service", "offer", "echo", "--", "cat"]);
    let picky = "body=$(cat); test \"$body\" != bad";
    let _worker = b.background(&[
        "queue",
        "work",
        "jobs",
        "--max-deliver",
        "2",
        "--",
        "sh",
        "-c",
        picky,
    ]);
    for (node, service) in [(&a, "echo"), (&b, "upper")] {
        wait_for(&format!("{service} to be offered"), || {
            node.weft(&["call", service, "x"])
                .status
                .success()
                .then_some(())
        });
    }
    for _ in 0..3 {
        a.ok(&["call", "echo", "hello"]);
        b.ok(&["call", "upper", "hello"]);
    }
    a.ok(&["queue", "push", "jobs", "bad"]);
    a.ok(&["queue", "push", "jobs", "good"]);
    // The counter counts the moment an item dies; the depth gauge is read from the queue's
    // status at each scrape, which shows the dead item once it is on disk: wait for both.
    let dead_depth = [("queue", "jobs"), ("state", "dead")];
    let after = wait_for("the dead letter counted and shown", || {
        let s = scrape(&metrics);
        let dead = value(&s, "weft_queue_dead_letters_total", &[("name", "jobs")]);
        (dead == 1.0 && value(&s, "weft_queue_depth", &dead_depth) == 1.0).then_some(s)
    });
    let replied = [("service", "echo"), ("outcome", "replied")];
    assert!(value(&after, "weft_service_calls_total", &replied) >= 3.0);
    assert!(value(&after, "weft_service_call_seconds", &[("name", "echo")]) >= 3.0);
    let served = [("service", "upper"), ("outcome", "ok")];
    assert!(value(&after, "weft_service_served_total", &served) >= 3.0);
    assert!(value(&after, "weft_service_time_seconds", &[("name", "upper")]) >= 3.0);
    assert_eq!(
        value(&after, "weft_service_in_flight", &[("name", "upper")]),
        0.0
    );
    assert_eq!(
        value(&after, "weft_queue_redeliveries_total", &[("name", "jobs")]),
        1.0
    );
    assert_eq!(value(&after, "weft_queue_depth", &dead_depth), 1.0);
}
