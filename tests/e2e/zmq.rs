//! Existing ZeroMQ programs on the mesh: real pyzmq programs (tests/e2e/zmq/peer.py, and the
//! guide's examples in examples/zmq/) connect to real nodes' `--zmq` endpoints and talk
//! across the mesh: PUB to SUBs on two other nodes, REQ to a REP that dies while a second
//! takes over, PUSH to two PULL workers, a guest's PUB refused, hostile frames refused
//! without harm, a service's policy refusing a REQ in one frame, and CURVE on a TCP
//! endpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::Instant;

use serde_json::Value;

use crate::operate::{free_addr, scrape, value};
use crate::support::*;

/// Lines of a program's output read ahead of the test (a program prints a few thousand at
/// most).
const LINES: usize = 10_000;

/// A Python interpreter with pyzmq, from PyPI into a virtualenv beside the build.
fn python() -> Command {
    let run = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/python/run.sh");
    let mut command = Command::new(run);
    command.args(["zmq", "pyzmq==27.3.0", "zmq", "-u"]);
    command
}

/// A running ZeroMQ program and the JSON lines it prints.
struct Program {
    lines: Receiver<Value>,
    stdin: Option<ChildStdin>,
    child: Background,
    what: String,
}

impl Program {
    /// Runs `tests/e2e/zmq/peer.py ARGS...` in `dir`.
    fn peer(dir: &Path, args: &[&str]) -> Program {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/zmq/peer.py");
        Program::run(dir, script, args)
    }

    /// Runs the Python program `script` with `args` in `dir`.
    fn run(dir: &Path, script: &str, args: &[&str]) -> Program {
        let mut child = python()
            .arg(script)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run python with pyzmq (contrib/python/run.sh needs python3-venv and PyPI): {e}")
            });
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        let (tx, lines) = sync_channel(LINES);
        let what = format!("{} {}", script.rsplit('/').next().unwrap(), args.join(" "));
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Program {
            lines,
            stdin,
            child: Background(child),
            what,
        }
    }

    /// The next line it prints that `check` accepts, within [`PATIENCE`].
    fn until(&self, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if check(&line) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("timed out waiting on `{}`", self.what),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("`{}` ended before printing what was awaited", self.what)
                }
            }
        }
    }

    /// Writes `line` to its stdin.
    fn tell(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// SIGKILLs it.
    fn kill(&mut self) {
        self.child.0.kill().unwrap();
        self.child.0.wait().unwrap();
    }
}

/// A node started with `zmq` endpoints from its config file (and `flags`).
fn start(root: &Path, name: &str, zmq: &[&str], flags: &[&str]) -> TestNode {
    let mut node = TestNode::init(root, name);
    let list: Vec<String> = zmq.iter().map(|s| format!("{s:?}")).collect();
    std::fs::write(
        node.dir.join("weft.toml"),
        format!("zmq = [{}]\n", list.join(", ")),
    )
    .unwrap();
    node.start_with(flags);
    node
}

/// `names` with their endpoints, in one mesh founded by the first; each `role` joins
/// with that invite role.
fn zmq_mesh(root: &Path, nodes: &[(&str, &str, &[&str])]) -> Vec<TestNode> {
    let (name, _, zmq) = nodes[0];
    let founder = start(root, name, zmq, &[]);
    founder.json(&["mesh", "create", "--name", "home"]);
    let mut all = vec![founder];
    for (name, role, zmq) in &nodes[1..] {
        let node = start(root, name, zmq, &[]);
        node.ok(&["join", &invite(&all[0], &["--role", role])]);
        all.push(node);
    }
    for node in &all {
        wait_peers(node, all.len() as u64 - 1);
    }
    all
}

/// Node `a` with endpoints `zmq` and `flags`, in a mesh with node `b`, where a REP
/// program serves `echo` (`echo:REQUEST`); `a` sees it offered.
fn with_echo(root: &Path, zmq: &[&str], flags: &[&str]) -> (TestNode, TestNode, Program) {
    let a = start(root, "a", zmq, flags);
    a.json(&["mesh", "create", "--name", "home"]);
    let b = start(root, "b", &["offer/echo"], &[]);
    b.ok(&["join", &invite(&a, &[])]);
    wait_peers(&a, 1);
    let server = Program::peer(root, &["rep", &ipc(&b, "offer/echo"), "echo"]);
    server.until(|l| l.get("serving").is_some());
    wait_providers(&a, "echo", 1);
    (a, b, server)
}

/// Waits until `node` sees `n` healthy providers of `service`.
fn wait_providers(node: &TestNode, service: &str, n: usize) {
    wait_for(
        &format!("{} to see {n} providers of {service}", node.name),
        || {
            let services = node.json(&["services"]);
            let providers =
                services.as_array()?.iter().find(|s| s["name"] == service)?["providers"]
                    .as_array()?
                    .iter()
                    .filter(|p| p["healthy"] == true)
                    .count();
            (providers == n).then_some(())
        },
    );
}

/// The default ipc endpoint of `path` (`pub`, `call/NAME`, ...) on `node`.
fn ipc(node: &TestNode, path: &str) -> String {
    format!("ipc://{}/zmq/{path}", node.dir.display())
}

#[test]
fn subscribers_on_two_nodes_get_every_message_in_order_per_publisher() {
    let root = root();
    let nodes = zmq_mesh(
        root.path(),
        &[
            ("a", "", &["pub"]),
            ("b", "member", &["sub"]),
            ("c", "member", &["sub"]),
        ],
    );
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let ready = |n: &str| root.path().join(format!("ready-{n}")).display().to_string();
    let count = 500;
    let subs: Vec<Program> = [(b, "b"), (c, "c")]
        .iter()
        .map(|(node, n)| {
            Program::peer(
                root.path(),
                &[
                    "sub",
                    &ipc(node, "sub"),
                    "news",
                    &ready(n),
                    &(2 * count).to_string(),
                ],
            )
        })
        .collect();
    let pubs: Vec<Program> = ["one", "two"]
        .iter()
        .map(|tag| {
            Program::peer(
                root.path(),
                &[
                    "pub",
                    &ipc(a, "pub"),
                    "news",
                    tag,
                    &count.to_string(),
                    &ready("b"),
                    &ready("c"),
                ],
            )
        })
        .collect();
    for p in &pubs {
        assert_eq!(
            p.until(|l| l.get("sent").is_some() || l.get("error").is_some())["sent"],
            count
        );
    }
    for (sub, name) in subs.iter().zip(["b", "c"]) {
        let received = sub.until(|l| l.get("received").is_some());
        let mut by: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for m in received["received"].as_array().unwrap() {
            let (tag, i) = m.as_str().unwrap().split_once(' ').unwrap();
            by.entry(tag.to_string())
                .or_default()
                .push(i.parse().unwrap());
        }
        let all: Vec<u64> = (0..count).collect();
        for tag in ["one", "two"] {
            assert_eq!(
                by.get(tag),
                Some(&all),
                "{name}: messages of {tag} missing or out of order"
            );
        }
    }
}

#[test]
fn a_req_client_calls_a_rep_server_across_the_mesh_and_survives_it_dying() {
    let root = root();
    let nodes = zmq_mesh(
        root.path(),
        &[
            ("a", "", &["call/hello"]),
            ("b", "member", &["offer/hello"]),
            ("c", "member", &["offer/hello"]),
        ],
    );
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let mut first = Program::peer(root.path(), &["rep", &ipc(b, "offer/hello"), "first"]);
    first.until(|l| l.get("serving").is_some());
    let mut client = Program::peer(root.path(), &["req", &ipc(a, "call/hello")]);
    let progress = client.until(|l| l["done"].as_u64() >= Some(1000));
    assert_eq!(progress["by"]["first"], progress["done"]);

    let second = Program::peer(root.path(), &["rep", &ipc(c, "offer/hello"), "second"]);
    second.until(|l| l.get("serving").is_some());
    wait_providers(a, "hello", 2);
    first.kill();
    // Both served until now. The client's counts from after the kill (its progress lines
    // lag its calls by as many as a loaded machine makes) are where the second takes over.
    client.tell("mark");
    let killed = client.until(|l| l.get("mark").is_some());
    let second = killed["by"]["second"].as_u64().unwrap_or(0);
    client.until(|l| l["by"]["second"].as_u64() >= Some(second + 250));
    client.tell("stop");
    let end = client.until(|l| l.get("final").is_some());
    assert_eq!(
        end["errors"],
        serde_json::json!([]),
        "every call answered: {end}"
    );
    assert_eq!(
        end["by"]["first"], killed["by"]["first"],
        "the killed server answered nothing more: {end}"
    );
}

/// Nodes `a`, `b` and `c` in one mesh: two programs (`peer.py MODE`) work queue `jobs` on
/// `b` and `c` through endpoint `KIND/jobs`, and a PUSH on `a` has pushed `count` items.
fn pool(root: &Path, kind: &str, mode: &str, count: u64) -> (Vec<TestNode>, Vec<Program>) {
    let endpoint = format!("{kind}/jobs");
    let nodes = zmq_mesh(
        root,
        &[
            ("a", "", &["queue/jobs"]),
            ("b", "member", &[&endpoint]),
            ("c", "member", &[&endpoint]),
        ],
    );
    let workers: Vec<Program> = nodes[1..]
        .iter()
        .map(|node| Program::peer(root, &[mode, &ipc(node, &endpoint)]))
        .collect();
    for w in &workers {
        w.until(|l| l.get("working").is_some());
    }
    let pusher = Program::peer(
        root,
        &["push", &ipc(&nodes[0], "queue/jobs"), &count.to_string()],
    );
    pusher.until(|l| l.get("pushed").is_some());
    (nodes, workers)
}

/// `node`'s status of queue `jobs`.
fn jobs(node: &TestNode) -> Value {
    let status = node.json(&["queue", "status", "jobs"]);
    status.as_array().map_or(&status, |s| &s[0]).clone()
}

#[test]
fn push_and_two_pull_workers_share_items_each_once() {
    let root = root();
    let count = 1000;
    let (nodes, workers) = pool(root.path(), "work", "pull", count);
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let mut seen: Vec<BTreeSet<String>> = vec![BTreeSet::new(), BTreeSet::new()];
    let mut duplicates = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while seen.iter().map(BTreeSet::len).sum::<usize>() + duplicates.len() < count as usize {
        assert!(
            Instant::now() < deadline,
            "items missing: {} seen; a: {}, b: {}, c: {}",
            seen.iter().map(BTreeSet::len).sum::<usize>(),
            jobs(a),
            jobs(b),
            jobs(c)
        );
        for (w, worker) in workers.iter().enumerate() {
            while let Ok(line) = worker.lines.try_recv() {
                let item = line["item"].as_str().unwrap().to_string();
                if seen.iter().any(|s| s.contains(&item)) {
                    duplicates.push(item);
                } else {
                    seen[w].insert(item);
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        duplicates.is_empty(),
        "items handed out twice: {duplicates:?}"
    );
    let all: BTreeSet<String> = (0..count).map(|i| format!("item {i}")).collect();
    assert_eq!(&seen[0] | &seen[1], all);
    assert!(
        !seen[0].is_empty() && !seen[1].is_empty(),
        "both workers had a share: {} and {}",
        seen[0].len(),
        seen[1].len()
    );
}

#[test]
fn acknowledging_workers_end_each_item_and_send_failures_back() {
    let root = root();
    let count = 500;
    let (nodes, workers) = pool(root.path(), "work-ack", "acker", count);
    let a = &nodes[0];
    let status = wait_for("every item acknowledged at a", || {
        let status = jobs(a);
        (status["done"].as_u64() == Some(count)).then_some(status)
    });
    assert_eq!(status["dead"], 0, "{status}");
    let (mut done, mut failed) = (BTreeMap::<String, u32>::new(), BTreeSet::new());
    for w in &workers {
        while let Ok(line) = w.lines.try_recv() {
            if let Some(item) = line["item"].as_str() {
                *done.entry(item.to_string()).or_default() += 1;
            }
            if let Some(item) = line["failed"].as_str() {
                failed.insert(item.to_string());
            }
        }
    }
    assert_eq!(done.len(), count as usize, "every item acknowledged");
    assert!(done.values().all(|n| *n == 1), "none acknowledged twice");
    assert_eq!(
        failed.len(),
        5,
        "items 0, 100, ... failed once and came back"
    );
    assert!(status["redeliveries"].as_u64() >= Some(5), "{status}");
}

#[test]
fn a_guests_pub_is_refused_and_nothing_reaches_the_mesh() {
    let root = root();
    let founder = start(root.path(), "a", &[], &[]);
    founder.json(&["mesh", "create", "--name", "home"]);
    let _following = founder.background(&["subscribe", "news"]);
    let guest = start(
        root.path(),
        "guest",
        &["pub"],
        &["--metrics", "127.0.0.1:0"],
    );
    let metrics = guest.metrics();
    guest.ok(&["join", &invite(&founder, &["--role", "guest"])]);
    wait_peers(&guest, 1);
    let ready = root.path().join("never").display().to_string();
    let _publisher = Program::peer(
        root.path(),
        &["pub", &ipc(&guest, "pub"), "news", "guest", "1", &ready],
    );
    wait_for("the guest's node to refuse its PUB's messages", || {
        let refused = value(
            &scrape(&metrics),
            "weft_zmq_refused_total",
            &[("endpoint", "pub"), ("reason", "forbidden")],
        );
        (refused >= 3.0).then_some(())
    });
    assert!(
        guest.log().contains("guests never publish"),
        "the refusal is logged"
    );
    let history = founder.json(&["inbox", "--topic", "news"]);
    assert_eq!(history, serde_json::json!([]), "nothing reached the mesh");
}

#[test]
fn hostile_frames_are_refused_and_harm_nothing() {
    let root = root();
    let (mut a, b, _server) = with_echo(
        root.path(),
        &["pub", "call/echo", "queue/jobs"],
        &["--metrics", "127.0.0.1:0"],
    );
    let metrics = a.metrics();
    let hostile = Program::peer(
        root.path(),
        &[
            "hostile",
            &ipc(&a, "pub"),
            &ipc(&a, "call/echo"),
            &ipc(&a, "queue/jobs"),
        ],
    );
    let replies = hostile.until(|l| l.get("replies").is_some());
    for reply in replies["replies"].as_array().unwrap() {
        let frames = reply.as_array().unwrap();
        assert_eq!(frames.len(), 2, "an envelope and one frame: {reply}");
        assert!(
            frames[1].as_str().unwrap().starts_with("weft-error: "),
            "{reply}"
        );
    }
    let refused = |endpoint: &str, reason: &str| {
        value(
            &scrape(&metrics),
            "weft_zmq_refused_total",
            &[("endpoint", endpoint), ("reason", reason)],
        )
    };
    wait_for("every hostile message to be refused and counted", || {
        let counts = [
            refused("pub", "frames"),
            refused("pub", "topic"),
            refused("pub", "body"),
            refused("pub", "too-large"),
            refused("call/echo", "frames"),
            refused("queue/jobs", "frames"),
            refused("queue/jobs", "too-large"),
        ];
        (counts == [2.0, 2.0, 1.0, 1.0, 2.0, 1.0, 1.0]).then_some(())
    });
    assert!(a.exited().is_none(), "the node runs on");
    // The endpoints still carry what is well formed.
    let mut client = Program::peer(root.path(), &["req", &ipc(&a, "call/echo")]);
    client.until(|l| l["done"].as_u64() >= Some(50));
    client.tell("stop");
    assert_eq!(
        client.until(|l| l.get("final").is_some())["errors"],
        serde_json::json!([])
    );
    // A service's policy that leaves this node out: the REQ hears why, in one frame.
    a.ok(&["service", "policy", "echo", "--call", &b.peer_id]);
    let refused = wait_for("the policy to refuse a's calls", || {
        let once = Program::peer(root.path(), &["once", &ipc(&a, "call/echo"), "hi"]);
        let reply = once.until(|l| l.get("reply").is_some())["reply"].clone();
        reply.as_str()?.contains("policy").then_some(reply)
    });
    assert!(
        refused.as_str().unwrap().starts_with("weft-error: "),
        "{refused}"
    );
    let pushed = Program::peer(root.path(), &["push", &ipc(&a, "queue/jobs"), "3"]);
    pushed.until(|l| l.get("pushed").is_some());
    wait_for("the good items to be held", || {
        (jobs(&a)["pending"].as_u64() == Some(3)).then_some(())
    });
}

#[test]
fn endpoints_that_cannot_be_served_stop_the_start_with_why() {
    let root = root();
    let node = TestNode::init(root.path(), "a");
    let dir = node.dir.to_str().unwrap();
    for (spec, says) in [
        ("rep/hello", "not an endpoint kind"),
        ("pub=tcp://0.0.0.0:5555", "127.0.0.1"),
        ("call", "needs a name"),
    ] {
        let out = weft_raw(&[
            "--data-dir",
            dir,
            "node",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--zmq",
            spec,
        ]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{spec}: {stderr}");
    }
}

#[test]
fn a_tcp_endpoint_lets_in_only_the_curve_keys_allowed() {
    let root = root();
    let port = free_addr();
    let (a, _b, _server) = with_echo(root.path(), &[&format!("call/echo=tcp://{port}")], &[]);
    let dir = a.dir.to_str().unwrap();
    let server_key = a.ok(&["zmq", "key"]).trim().to_string();
    let mut client = Program::peer(
        root.path(),
        &["curve", &format!("tcp://{port}"), &server_key],
    );
    let key = client.until(|l| l.get("key").is_some())["key"]
        .as_str()
        .unwrap()
        .to_string();
    // A refusal is silent in CURVE: the call waits 3 s and concludes it; an accepted one is
    // waited on as long as anything in these tests.
    client.tell("before 3");
    assert_eq!(
        client.until(|l| l.get("reply").is_some())["reply"],
        Value::Null,
        "an unknown key is refused"
    );
    assert!(a.log().contains(&key), "the refusal names the key");
    let allowed = weft_raw(&["--data-dir", dir, "zmq", "allow", &key]);
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    client.tell("after 30");
    assert_eq!(
        client.until(|l| l.get("reply").is_some())["reply"],
        "echo:after"
    );
    assert!(a.ok(&["zmq", "allowed"]).contains(&key));
}

/// Runs `examples/zmq/NAME.py ARGS...` in `dir`, as the guide runs it.
fn guide(dir: &Path, name: &str, args: &[&str]) -> (Background, Receiver<String>) {
    let script = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/zmq"))
        .join(format!("{name}.py"));
    let mut child = python()
        .arg(script)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = sync_channel(LINES);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (Background(child), rx)
}

/// Every line `lines` prints until it ends, within [`PATIENCE`].
fn all_lines(lines: &Receiver<String>) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    let mut all = Vec::new();
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => all.push(line),
            Err(RecvTimeoutError::Disconnected) => return all,
            Err(RecvTimeoutError::Timeout) => panic!("timed out; so far: {all:?}"),
        }
    }
}

#[test]
fn the_guides_hello_world_and_weather_programs_run_across_two_nodes() {
    let root = root();
    // Each program runs in its node's directory, where `ipc://hello.sock` and
    // `ipc://weather.sock` are that node's endpoints.
    let (client_dir, server_dir) = (root.path().join("at-client"), root.path().join("at-server"));
    std::fs::create_dir_all(&client_dir).unwrap();
    std::fs::create_dir_all(&server_dir).unwrap();
    let at = |dir: &Path, file: &str| format!("ipc://{}", dir.join(file).display());
    let hello_server = format!("offer/hello@{}", at(&server_dir, "hello.sock"));
    let weather_server = format!("pub/weather@{}", at(&server_dir, "weather.sock"));
    let hello_client = format!("call/hello={}", at(&client_dir, "hello.sock"));
    let weather_client = format!("sub/weather={}", at(&client_dir, "weather.sock"));
    let nodes = zmq_mesh(
        root.path(),
        &[
            ("server", "", &[&hello_server, &weather_server]),
            ("client", "member", &[&hello_client, &weather_client]),
        ],
    );
    let (_server, _) = guide(&server_dir, "hwserver", &[]);
    wait_providers(&nodes[1], "hello", 1);
    let (_client, lines) = guide(&client_dir, "hwclient", &[]);
    let said = all_lines(&lines);
    let replies: Vec<&String> = said
        .iter()
        .filter(|l| l.starts_with("Received reply"))
        .collect();
    assert_eq!(replies.len(), 10, "{said:?}");
    assert!(replies.iter().all(|r| r.contains("b'World'")), "{said:?}");

    let (_weather, _) = guide(&server_dir, "wuserver", &[]);
    // Zipcodes starting with 1: about one update in nine.
    let (_updates, lines) = guide(&client_dir, "wuclient", &["1"]);
    let said = all_lines(&lines);
    assert!(
        said.last()
            .unwrap()
            .starts_with("Average temperature for zipcode '1' was"),
        "{said:?}"
    );
}
