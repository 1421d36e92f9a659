//! Topic catch-up: a member that was away gets every topic message it missed, in order,
//! from any member that has them, even when their publisher is offline by then.

use crate::support::{TestNode, founder, member, root, wait_for, wait_peers};

fn subscribe(node: &TestNode, rt: &tokio::runtime::Runtime) {
    rt.block_on(node.client().subscribe("news", true)).unwrap();
}

fn topic_texts(node: &TestNode) -> Vec<String> {
    node.json(&["inbox", "--topic", "news", "--limit", "10000"])
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_returning_member_catches_up_from_whoever_has_the_messages() {
    let root = root();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut a = founder(root.path(), "alice");
    let b = member(root.path(), &a, "bob");
    let mut c = member(root.path(), &a, "carol");
    for node in [&a, &b, &c] {
        subscribe(node, &rt);
    }
    wait_peers(&c, 2);
    wait_for("the topic mesh", || {
        (a.status()["topics"][0]["peers"] == 2).then_some(())
    });
    a.ok(&["publish", "news", "before"]);
    wait_for("carol to have the first message", || {
        (topic_texts(&c) == ["before"]).then_some(())
    });

    // carol is away while alice publishes; then alice is gone too. Only bob has them.
    c.stop();
    let sent: Vec<String> = (0..50).map(|n| format!("missed {n:02}")).collect();
    for text in &sent {
        a.ok(&["publish", "news", text]);
    }
    wait_for("bob to have them all", || {
        (topic_texts(&b).len() == 51).then_some(())
    });
    a.stop();
    c.start();
    let got = wait_for("carol to catch up", || {
        let got = topic_texts(&c);
        (got.len() == 51).then_some(got)
    });
    let mut expected = vec!["before".to_string()];
    expected.extend(sent);
    assert_eq!(got, expected, "complete, in order, once");
}

#[test]
fn history_past_its_retention_is_dropped() {
    let root = root();
    let mut a = TestNode::init(root.path(), "brief");
    a.start_with(&["--history-retention", "2s"]);
    a.json(&["mesh", "create"]);
    let b = member(root.path(), &a, "sender");
    b.ok(&["send", &a.peer_id, "soon gone"]);
    assert_eq!(crate::support::received_from(&a, &b).len(), 1);
    wait_for("the message to be pruned", || {
        crate::support::received_from(&a, &b)
            .is_empty()
            .then_some(())
    });
}
