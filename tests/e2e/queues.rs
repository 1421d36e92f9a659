//! Work queues through real processes: producers push with `weft queue push` and the API
//! client, workers run a command per item with `weft queue work`; a thousand items from two
//! producers reach three workers and are acknowledged once each, while a worker and a
//! producer are SIGKILLed (the producer restarted); a failing command goes to the dead
//! letters after its deliveries and a retry sends it back; a policy keeps out a guest
//! worker and an unlisted pusher.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support::*;

/// `node` works `queue` with `flags`, each item running `sh -c SCRIPT`.
fn work(node: &TestNode, queue: &str, flags: &[&str], script: &str) -> Background {
    let mut args = vec!["queue", "work", queue];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    node.background(&args)
}

/// `queue` at `node`, as `weft queue status --json` says.
fn status(node: &TestNode, queue: &str) -> Value {
    node.json(&["queue", "status", queue])
}

/// Waits until `node` holds nothing of `queue` but `done` acknowledged and `dead` dead.
fn wait_settled(node: &TestNode, queue: &str, done: u64, dead: u64) -> Value {
    let mut last = Value::Null;
    let what = format!("{} to settle {queue} ({done} done, {dead} dead)", node.name);
    let settled = wait_until(|| {
        last = status(node, queue);
        let settled = last["pending"] == 0 && last["in_flight"] == 0;
        (settled && last["done"] == done && last["dead"] == dead).then(|| last.clone())
    });
    settled.unwrap_or_else(|| panic!("timed out waiting for {what}; last: {last}"))
}

/// A worker's script: appends `ITEM WORKER NANOS` to `log` for each item it runs.
fn logging(log: &Path, worker: &str) -> String {
    format!(
        "body=$(cat); echo \"$body {worker} $(date +%s%N)\" >> {}",
        log.display()
    )
}

/// Pushes `prefix-0..count` to `queue` with `client`, 8 at once, each with its body as
/// idempotency key, pushing again (the same key) while its node is down.
fn push_all(client: weft::Client, queue: &str, prefix: &str, count: usize) {
    use futures::StreamExt;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        futures::stream::iter(0..count)
            .for_each_concurrent(8, |n| {
                let client = client.clone();
                async move {
                    let body = format!("{prefix}-{n}");
                    let deadline = std::time::Instant::now() + PATIENCE;
                    while let Err(e) = client
                        .push(queue, body.clone().into_bytes(), Some(&body))
                        .await
                    {
                        assert!(std::time::Instant::now() < deadline, "{body}: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            })
            .await;
    });
}

#[test]
fn a_thousand_items_from_two_producers_reach_three_workers_and_each_is_acknowledged_once() {
    let root = root();
    let mut nodes = mesh(root.path(), &["a", "b", "c", "d", "e"]);
    let log = root.path().join("runs.log");
    let _workers: Vec<Background> = ["c", "d", "e"]
        .iter()
        .zip(&nodes[2..])
        .map(|(name, node)| work(node, "jobs", &["--concurrency", "4"], &logging(&log, name)))
        .collect();
    let ran = || std::fs::read_to_string(&log).unwrap_or_default();
    std::thread::scope(|s| {
        let (a, b) = (nodes[0].client(), nodes[1].client());
        let pushing = [
            s.spawn(|| push_all(a, "jobs", "a", 500)),
            s.spawn(|| push_all(b, "jobs", "b", 500)),
        ];
        // A worker dies while it runs items, then a producer while workers hold its items.
        wait_for("d to run items", || ran().contains(" d ").then_some(()));
        nodes[3].kill();
        wait_for("a hundred more items run", || {
            (ran().lines().count() > 300).then_some(())
        });
        nodes[1].kill();
        nodes[1].start();
        for p in pushing {
            p.join().unwrap();
        }
    });
    wait_peers(&nodes[1], 3);
    let a = wait_settled(&nodes[0], "jobs", 500, 0);
    let b = wait_settled(&nodes[1], "jobs", 500, 0);

    // Every item ran; one that ran twice ran first at the worker that was killed.
    let mut runs: BTreeMap<String, Vec<(u128, String)>> = BTreeMap::new();
    for line in ran().lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let at: u128 = fields[2].parse().unwrap();
        runs.entry(fields[0].to_string())
            .or_default()
            .push((at, fields[1].to_string()));
    }
    assert_eq!(runs.len(), 1000, "every item ran");
    let mut again = 0;
    for (item, mut ran) in runs {
        ran.sort();
        for (_, worker) in &ran[..ran.len() - 1] {
            assert_eq!(
                worker,
                "d",
                "{item} ran again though its first worker lived: {ran:?}\nthe log of b, its producer:\n{}",
                nodes[1].log()
            );
            again += 1;
        }
    }
    println!(
        "queues: 1000 items acknowledged once ({a} / {b}); {again} ran again after their worker was killed"
    );
}

#[test]
fn a_failing_command_goes_to_the_dead_letters_after_its_deliveries_and_a_retry_sends_it_back() {
    let root = root();
    let nodes = mesh(root.path(), &["a", "b"]);
    let (a, b) = (&nodes[0], &nodes[1]);
    let picky =
        "body=$(cat); case \"$body\" in bad*) echo \"cannot parse $body\" >&2; exit 2;; esac";
    let worker = work(b, "jobs", &["--max-deliver", "3"], picky);
    let id = a.ok(&["queue", "push", "jobs", "bad-1"]).trim().to_string();
    a.ok(&["queue", "push", "jobs", "good-1"]);
    wait_settled(a, "jobs", 1, 1);
    let dead = a.json(&["queue", "dead", "jobs"]);
    assert_eq!(dead[0]["id"], id.as_str());
    assert_eq!(dead[0]["attempts"], 3);
    assert_eq!(dead[0]["reason"], "cannot parse bad-1");
    // Pushing the same key again changes nothing.
    let again = a.json(&["queue", "push", "jobs", "good-1", "--id", "k"]);
    assert_eq!(again["new"], true);
    let again = a.json(&["queue", "push", "jobs", "good-1", "--id", "k"]);
    assert_eq!(again["new"], false);

    drop(worker);
    let _worker = work(b, "jobs", &[], "cat > /dev/null");
    a.ok(&["queue", "retry", "jobs", &id]);
    wait_settled(a, "jobs", 3, 0);
    let out = a.weft(&["queue", "retry", "jobs", &id]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_queue_policy_refuses_a_guest_worker_and_an_unlisted_pusher_and_says_so() {
    let root = root();
    let nodes = mesh(root.path(), &["a", "b", "c"]);
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    a.ok(&["members", "role", &c.peer_id, "guest"]);
    wait_for("c to be a guest", || {
        let out = c.weft(&["queue", "work", "jobs", "--", "true"]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        err.contains("does not let this node work it").then_some(())
    });
    // Guests push by default.
    c.ok(&["queue", "push", "jobs", "from-a-guest"]);

    a.ok(&[
        "queue", "policy", "jobs", "--push", "admin", "--work", &b.peer_id,
    ]);
    let err = wait_for("b to hear of the policy", || {
        let out = b.weft(&["queue", "push", "jobs", "x"]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code() == Some(1)).then_some(err)
    });
    assert!(
        err.contains("the policy of queue `jobs` does not let this node push to it"),
        "{err}"
    );
    let _b = work(b, "jobs", &[], "cat > /dev/null");
    a.ok(&["queue", "push", "jobs", "from-the-admin"]);
    wait_settled(a, "jobs", 1, 0);
    // The guest's item, pushed before the policy, stays with it: workers take no items
    // from a producer the policy does not let push.
    assert_eq!(status(c, "jobs")["pending"], 1);
}
