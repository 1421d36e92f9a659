//! Three members of a mesh exchange direct and topic messages through the CLI.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{founder, member, root, wait_for, wait_peers, weft_bin};

#[test]
fn three_nodes_direct_and_topic() {
    let root = root();
    let a = founder(root.path(), "a");
    let b = member(root.path(), &a, "b");
    let mut c = member(root.path(), &a, "c");

    // `weft id` gives full dialable addresses; dialling a connected member is a no-op.
    let a_id = a.json(&["id"]);
    assert_eq!(a_id["peer_id"], a.peer_id.as_str());
    let a_addr = a_id["addrs"][0].as_str().unwrap();
    assert!(
        a_addr.starts_with("/ip4/127.0.0.1/tcp/")
            && a_addr.ends_with(&format!("/p2p/{}", a.peer_id))
    );
    assert!(b.ok(&["dial", a_addr]).contains(&a.peer_id));
    // b and c find each other through the mesh, without being told addresses.
    wait_peers(&a, 2);
    wait_peers(&b, 2);

    let peers = a.json(&["peers"]);
    let peers = peers.as_array().unwrap();
    assert_eq!(peers.len(), 2);
    for p in peers {
        assert_eq!(p["direction"], "inbound");
        assert!(p["addr"].as_str().unwrap().starts_with("/ip4/127.0.0.1/"));
        assert!(p["connected_since"].as_u64().unwrap() > 0);
    }

    // Direct messages around the ring, each acknowledged.
    for (from, to) in [(&a, &b), (&b, &c), (&c, &a)] {
        let text = format!("hello {} from {}", to.name, from.name);
        let out = from.ok(&["send", &to.peer_id, &text]);
        assert!(out.starts_with("delivered"), "{out}");
        let got = crate::support::received_from(to, from);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["text"], text.as_str());
        let sent = from.json(&["inbox", "--from", &to.peer_id]);
        assert_eq!(sent[0]["direction"], "out");
        assert_eq!(sent[0]["state"], "delivered");
    }

    // Topic fan-out: every node runs `weft subscribe`, a publishes.
    let mut subs: Vec<_> = [&a, &b, &c]
        .iter()
        .map(|n| {
            let mut child = Command::new(weft_bin())
                .args([
                    "--data-dir",
                    n.dir.to_str().unwrap(),
                    "--json",
                    "subscribe",
                    "news",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let lines = BufReader::new(child.stdout.take().unwrap()).lines();
            (child, lines)
        })
        .collect();
    wait_for("the topic mesh", || {
        let ok = [&a, &b, &c]
            .iter()
            .all(|n| n.status()["topics"][0]["peers"] == 2);
        ok.then_some(())
    });
    let mut ids = Vec::new();
    for n in 0..3 {
        let v = a.json(&["publish", "news", &format!("bulletin {n}")]);
        assert_eq!(v["peers"], 2);
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    for (name, (_, lines)) in ["a", "b", "c"].iter().zip(subs.iter_mut()).skip(1) {
        for (n, id) in ids.iter().enumerate() {
            let line = lines.next().unwrap().unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["id"], id.as_str(), "{name}");
            assert_eq!(v["topic"], "news");
            assert_eq!(v["from"], a.peer_id.as_str());
            assert_eq!(v["text"], format!("bulletin {n}").as_str());
            assert!(v["ts"].as_u64().unwrap() > 0);
        }
    }
    for (mut child, _) in subs {
        child.kill().unwrap();
        child.wait().unwrap();
    }

    // History: filters, limit, newest last; it survives a restart.
    let topic = c.json(&["inbox", "--topic", "news"]);
    let texts: Vec<_> = topic
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, ["bulletin 0", "bulletin 1", "bulletin 2"]);
    let all = c.json(&["inbox"]);
    assert_eq!(all.as_array().unwrap().len(), 5, "2 direct + 3 topic");
    let last = c.json(&["inbox", "--limit", "1"]);
    assert_eq!(last[0]["text"], "bulletin 2");
    c.stop();
    c.start();
    assert_eq!(c.json(&["inbox"]), all);

    let status = a.status();
    assert_eq!(status["outbox"], 0);
    assert_eq!(status["name"], "a");
    assert!(status["uptime_secs"].is_u64());
}
