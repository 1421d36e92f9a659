//! Services through real processes: providers offer a service with `weft service offer`
//! (each call runs a command), callers call it with the API client or `weft call`; calls
//! spread over providers and are answered once each, also when a provider is SIGKILLed or
//! SIGSTOPped mid-way; a standby takes over and steps back; with no provider a call is
//! refused at once.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::*;

/// `node` offers `name`, each call running `sh -c SCRIPT`, with more `flags`.
fn offer(node: &TestNode, name: &str, flags: &[&str], script: &str) -> Background {
    let mut args = vec!["service", "offer", name];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    node.background(&args)
}

/// The providers of `name` as `node` sees them, by PeerId.
fn providers(node: &TestNode, name: &str) -> BTreeMap<String, Value> {
    let services = node.json(&["services"]);
    services
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == name)
        .flat_map(|s| s["providers"].as_array().unwrap().clone())
        .map(|p| (p["peer_id"].as_str().unwrap().to_string(), p))
        .collect()
}

/// Waits until `node` sees `peers` as healthy providers of `name`.
fn wait_healthy(node: &TestNode, name: &str, peers: &[&TestNode]) {
    let mut known = BTreeMap::new();
    let healthy = wait_until(|| {
        known = providers(node, name);
        peers
            .iter()
            .all(|p| known.get(&p.peer_id).is_some_and(|v| v["healthy"] == true))
            .then_some(())
    });
    assert!(
        healthy.is_some(),
        "timed out waiting for {} to see {name} offered by {:?}; it sees {known:?}",
        node.name,
        peers.iter().map(|p| &p.name).collect::<Vec<_>>()
    );
}

/// How many calls each of `peers` served, as `node` sees it.
fn served(node: &TestNode, name: &str, peers: &[&TestNode]) -> Vec<u64> {
    let known = providers(node, name);
    peers
        .iter()
        .map(|p| {
            known
                .get(&p.peer_id)
                .map_or(0, |v| v["load"]["served"].as_u64().unwrap())
        })
        .collect()
}

/// Waits until `node` sees `peers` report having served `expected` calls of `name`, and
/// asserts it stays so: the counts arrive with records and heartbeats.
fn wait_served<const N: usize>(
    node: &TestNode,
    name: &str,
    peers: &[&TestNode],
    expected: [u64; N],
) {
    let counts = wait_for(&format!("counts of {name} to reach {expected:?}"), || {
        let counts = served(node, name, peers);
        (counts.iter().sum::<u64>() >= expected.iter().sum::<u64>()).then_some(counts)
    });
    assert_eq!(counts, expected);
}

/// Calls `name` at `caller` `count` times, `parallel` at once, each with its own body;
/// checks every reply is its own body. The bodies are `prefix-N`.
fn call_all(caller: &TestNode, name: &str, prefix: &str, count: usize, parallel: usize) {
    let client = caller.client();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let wrong: Vec<String> = runtime.block_on(async {
        let calls = futures::stream::iter(0..count).map(|n| {
            let client = client.clone();
            let body = format!("{prefix}-{n}");
            async move {
                match client.call(name, body.clone().into_bytes(), 30_000).await {
                    Ok(reply) if reply == body.as_bytes() => None,
                    Ok(reply) => Some(format!("{body}: {}", String::from_utf8_lossy(&reply))),
                    Err(e) => Some(format!("{body}: {e}")),
                }
            }
        });
        use futures::StreamExt;
        calls
            .buffer_unordered(parallel)
            .filter_map(|w| async { w })
            .collect()
            .await
    });
    assert_eq!(
        wrong,
        Vec::<String>::new(),
        "calls not answered with their own body"
    );
}

#[test]
fn two_providers_answer_five_hundred_calls_from_two_callers_once_each() {
    let root = root();
    let nodes = mesh(root.path(), &["a", "b", "c", "d"]);
    let (a, b, c, d) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);
    let _b = offer(b, "echo", &["--concurrency", "4"], "cat");
    let _c = offer(c, "echo", &["--concurrency", "4"], "cat");
    wait_healthy(a, "echo", &[b, c]);
    wait_healthy(d, "echo", &[b, c]);
    std::thread::scope(|s| {
        s.spawn(|| call_all(a, "echo", "a", 250, 8));
        s.spawn(|| call_all(d, "echo", "d", 250, 8));
    });
    let served = wait_for("the providers to report 500 calls", || {
        let served = served(a, "echo", &[b, c]);
        (served.iter().sum::<u64>() == 500).then_some(served)
    });
    assert!(
        served.iter().all(|&n| n >= 100),
        "both providers used, in a reasonable balance: {served:?}"
    );
    // `weft call` as a process: the reply on stdout.
    let out = a.ok(&["call", "echo", "hello"]);
    assert_eq!(out, "hello");
}

#[test]
fn a_provider_killed_or_stopped_mid_way_leaves_every_call_answered_once() {
    for stop in [false, true] {
        let root = root();
        let mut nodes = mesh(root.path(), &["a", "b", "c"]);
        let slow = "sleep 0.2; cat";
        let _b = offer(&nodes[1], "echo", &["--concurrency", "8"], slow);
        let _c = offer(&nodes[2], "echo", &["--concurrency", "8"], slow);
        wait_healthy(&nodes[0], "echo", &[&nodes[1], &nodes[2]]);
        let pid = nodes[1].pid();
        std::thread::scope(|s| {
            let calls = s.spawn(|| call_all(&nodes[0], "echo", "x", 120, 16));
            // Once the provider holds calls, it dies (or stops) under them.
            wait_for("b to hold calls", || {
                let load = &providers(&nodes[0], "echo")[&nodes[1].peer_id]["load"];
                (load["in_flight"].as_u64() > Some(0)).then_some(())
            });
            let signal = if stop { "-STOP" } else { "-KILL" };
            assert!(
                Command::new("kill")
                    .args([signal, &pid.to_string()])
                    .status()
                    .unwrap()
                    .success()
            );
            // Every call is answered while b stays dead or stopped.
            calls.join().unwrap();
        });
        if stop {
            assert!(
                Command::new("kill")
                    .args(["-CONT", &pid.to_string()])
                    .status()
                    .unwrap()
                    .success()
            );
            wait_healthy(&nodes[0], "echo", &[&nodes[1], &nodes[2]]);
        } else {
            nodes[1].kill();
        }
    }
}

#[test]
fn a_standby_takes_over_when_the_active_provider_stops_and_steps_back_when_it_returns() {
    let root = root();
    let mut nodes = mesh(root.path(), &["a", "b", "c"]);
    let active = offer(&nodes[1], "echo", &[], "cat");
    let _standby = offer(&nodes[2], "echo", &["--standby"], "cat");
    wait_healthy(&nodes[0], "echo", &[&nodes[1], &nodes[2]]);
    call_all(&nodes[0], "echo", "one", 30, 4);
    wait_served(&nodes[0], "echo", &[&nodes[1], &nodes[2]], [30, 0]);
    drop(active);
    nodes[1].stop();
    call_all(&nodes[0], "echo", "two", 30, 4);
    // The standby answered while the active one was gone.
    wait_served(&nodes[0], "echo", &[&nodes[2]], [30]);
    nodes[1].start();
    wait_peers(&nodes[1], 2);
    let _active = offer(&nodes[1], "echo", &[], "cat");
    wait_healthy(&nodes[0], "echo", &[&nodes[1]]);
    // One call at a time until one reaches the restarted provider: a connection to its
    // earlier run may linger a moment, and a call sent on it fails over to the standby.
    let mut probes = 0;
    wait_for("a call answered by the restarted active provider", || {
        probes += 1;
        call_all(&nodes[0], "echo", &format!("probe{probes}"), 1, 1);
        (served(&nodes[0], "echo", &[&nodes[1]])[0] > 0).then_some(())
    });
    let counts = wait_for("the probes counted", || {
        let counts = served(&nodes[0], "echo", &[&nodes[1], &nodes[2]]);
        (counts.iter().sum::<u64>() == 30 + probes).then_some(counts)
    });
    call_all(&nodes[0], "echo", "three", 30, 4);
    // Back to the active one (restarted: its count starts again).
    let expected = [counts[0] + 30, counts[1]];
    wait_served(&nodes[0], "echo", &[&nodes[1], &nodes[2]], expected);
}

#[test]
fn with_no_provider_a_call_is_refused_at_once_and_a_failing_command_says_why() {
    let root = root();
    let nodes = mesh(root.path(), &["a", "b"]);
    let out = nodes[0].weft(&["call", "nobody", "x"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no provider of `nobody`"), "{err}");
    let _b = offer(&nodes[1], "fail", &[], "echo 'no such record' >&2; exit 3");
    wait_healthy(&nodes[0], "fail", &[&nodes[1]]);
    let out = nodes[0].weft(&["call", "fail", "x"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no such record"), "{err}");
    // A body read from stdin, and one over the cap refused with a clear line.
    let mut call = Command::new(weft_bin())
        .arg("--data-dir")
        .arg(&nodes[0].dir)
        .args(["call", "fail"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let big = vec![b'x'; weft::proto::service::MAX_SERVICE_BODY_BYTES + 1];
    call.stdin.take().unwrap().write_all(&big).unwrap();
    let out = call.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at most 1048576 bytes"), "{err}");
}

/// Waits until `node`'s ACL gives `peer` `role`.
fn wait_role(node: &TestNode, peer: &TestNode, role: &str) {
    wait_for(
        &format!("{} to see {} as {role}", node.name, peer.name),
        || {
            let members = node.json(&["members"]);
            members
                .as_array()?
                .iter()
                .any(|m| m["peer_id"] == peer.peer_id.as_str() && m["role"] == role)
                .then_some(())
        },
    );
}

#[test]
fn a_service_policy_refuses_a_guest_provider_and_an_unlisted_caller_and_says_so() {
    let root = root();
    let nodes = mesh(root.path(), &["a", "b", "c"]);
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    a.ok(&["members", "role", &c.peer_id, "guest"]);
    wait_role(c, c, "guest");
    let out = c.weft(&["service", "offer", "echo", "--", "cat"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not let this node offer it"), "{err}");

    // A policy names the guest as the provider and `a` as the only caller.
    a.ok(&[
        "service", "policy", "echo", "--offer", "guest", "--call", &a.peer_id,
    ]);
    for node in [b, c] {
        let err = wait_for(&format!("{} to hear of the policy", node.name), || {
            let out = node.weft(&["call", "echo", "hello"]);
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            (out.status.code() == Some(1) && err.contains("policy")).then_some(err)
        });
        assert!(
            err.contains("the policy of service `echo` does not let this node call it"),
            "{err}"
        );
    }
    let out = b.weft(&["service", "offer", "echo", "--", "cat"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not let this node offer it"), "{err}");
    let _c = offer(c, "echo", &[], "cat");
    wait_healthy(a, "echo", &[c]);
    assert_eq!(a.ok(&["call", "echo", "hello"]).trim(), "hello");
    println!("service policy: guest provider refused, then named; unlisted caller refused");
}

#[test]
fn weft_bench_call_reports_round_trips_throughput_and_failures() {
    let root = root();
    let nodes = mesh(root.path(), &["a", "b"]);
    let (a, b) = (&nodes[0], &nodes[1]);
    let _b = offer(b, "echo", &["--concurrency", "4"], "cat");
    wait_healthy(a, "echo", &[b]);
    let args = [
        "bench",
        "call",
        "echo",
        "--count",
        "200",
        "--in-flight",
        "4",
    ];
    let report = a.json(&[&args[..], &["--size", "100"]].concat());
    assert_eq!(report["count"], 200, "{report}");
    assert_eq!(report["failures"], 0, "{report}");
    assert_eq!(
        (report["size"].as_u64(), report["in_flight"].as_u64()),
        (Some(100), Some(4))
    );
    ordered(&report);
    assert!(report["min_ms"].as_f64() > Some(0.0), "{report}");
    assert!(report["per_sec"].as_f64() > Some(0.0), "{report}");
    // Real calls: the provider served them.
    wait_served(a, "echo", &[b], [200]);
    // The table for people says the same.
    let table = a.ok(&["bench", "call", "echo", "--count", "10"]);
    assert!(table.contains("10 calls of 64 B to `echo`"), "{table}");
    assert!(table.contains("p50") && table.contains("p99"), "{table}");
    // A service nobody offers: every call fails, the reason is said, the exit status is 1.
    let reasons = bench_failing(a, &["bench", "call", "nobody", "--count", "5"], 5);
    assert!(reasons.contains("no provider of `nobody`"), "{reasons}");
}
