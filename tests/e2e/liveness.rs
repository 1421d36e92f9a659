//! A dead link is noticed: a member whose TCP link went silent (unplugged, a NAT that forgot
//! it) shows as disconnected within seconds, not minutes, and `weft send` to it says it
//! cannot be reached, with its own exit status, instead of waiting out its timeout. Once the
//! link is back, the queued message goes out.

use std::time::Instant;

use crate::netns::Lab;
use crate::support::{TestNode, invite, root, wait_for, wait_peers};

/// Whether `node` shows the member named `name` as connected.
fn shows_connected(node: &TestNode, name: &str) -> bool {
    node.json(&["members"])
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == name && m["connected"] == true)
}

#[test]
fn a_dead_link_is_noticed_and_a_send_over_it_says_so() {
    let test = "a_dead_link_is_noticed_and_a_send_over_it_says_so";
    let Some(lab) = Lab::new(test, 2) else {
        return;
    };
    lab.tcp_only();
    let root = root();
    let mut alice = TestNode::init_in(root.path(), "alice", &lab.ns(0), &lab.ip(0));
    let mut bob = TestNode::init_in(root.path(), "bob", &lab.ns(1), &lab.ip(1));
    alice.start();
    alice.json(&["mesh", "create"]);
    bob.start();
    bob.ok(&["join", &invite(&alice, &[])]);
    wait_peers(&alice, 1);
    let sent = alice.ok(&["send", "bob", "hello"]);
    assert!(sent.contains("delivered") && sent.contains("bob"), "{sent}");
    assert!(shows_connected(&alice, "bob"));

    // The link goes silent: not a packet either way, no FIN, no RST.
    lab.partition(&[0]);
    let cut = Instant::now();
    wait_for("alice to see the link to bob dead", || {
        (!shows_connected(&alice, "bob")).then_some(())
    });
    println!(
        "{test}: dead link noticed {:.1}s after it went silent",
        cut.elapsed().as_secs_f64()
    );

    let asked = Instant::now();
    let out = alice.weft(&["send", "bob", "are you there?"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "still queued: {said}");
    assert!(
        said.contains("bob") && said.contains("cannot be reached") && said.contains("stays queued"),
        "{said}"
    );
    println!(
        "{test}: a send to it said so in {:.1}s",
        asked.elapsed().as_secs_f64()
    );

    lab.heal();
    wait_for("the queued message to be delivered", || {
        let inbox = alice.json(&["inbox"]);
        inbox
            .as_array()?
            .iter()
            .any(|m| m["text"] == "are you there?" && m["state"] == "delivered")
            .then_some(())
    });
    drop(bob);
}
