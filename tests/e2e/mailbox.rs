//! Mailboxes: a direct message for a member who is offline is held, sealed, by a mailbox
//! member and reaches its recipient when it comes back, even when the sender is offline by
//! then; the sender's receipt travels back the same way.

use crate::support::{
    TestNode, founder, invite, member, received_from, root, wait_for, wait_until,
};

/// A running node admitted to `founder`'s mesh as a mailbox, started with `flags`.
pub fn mailbox(root: &std::path::Path, founder: &TestNode, name: &str, flags: &[&str]) -> TestNode {
    let mut node = TestNode::init(root, name);
    node.start_with(flags);
    node.ok(&["join", &invite(founder, &["--role", "mailbox"])]);
    node
}

/// Waits until every node is connected to every other (and so has their sealing keys).
fn wait_all_connected(nodes: &[&TestNode]) {
    for node in nodes {
        crate::support::wait_peers(node, nodes.len() as u64 - 1);
    }
}

#[test]
fn a_message_for_an_offline_member_waits_in_a_mailbox() {
    let root = root();
    let mut a = founder(root.path(), "alice");
    let m = mailbox(root.path(), &a, "mbox", &[]);
    let mut b = member(root.path(), &a, "bob");
    wait_all_connected(&[&a, &m, &b]);
    assert_eq!(m.status()["mailbox"]["messages"], 0, "{}", m.status());

    // bob goes offline; alice's message is held by the mailbox, and `weft send` says so.
    b.stop();
    wait_for("alice to see bob gone", || {
        (a.status()["peers"] == 1).then_some(())
    });
    let out = a.ok(&["send", "--timeout", "20", &b.peer_id, "while you were out"]);
    assert!(out.starts_with("held"), "{out}");
    let sent = a.json(&["inbox", "--from", &b.peer_id]);
    assert_eq!(sent[0]["state"], "held");
    let holding_the_message = m.status()["mailbox"].clone();
    assert_eq!(holding_the_message["messages"], 1);

    // alice goes offline too; bob comes back and gets it from the mailbox, once.
    a.stop();
    b.start();
    let got = wait_for("bob to receive the held message", || {
        let got = received_from(&b, &a);
        (!got.is_empty()).then_some(got)
    });
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["text"], "while you were out");

    // bob leaves again before alice is back, once he has left his receipt with the mailbox
    // (a receipt is best-effort: one he could not leave reaches her only when they next
    // meet); only that receipt can tell her, and it clears her outbox. The mailbox then
    // holds the receipt (and alice's message until bob's release reaches it): not what it
    // held before.
    wait_for("bob to leave his receipt with the mailbox", || {
        let now = m.status()["mailbox"].clone();
        (now["messages"].as_u64() >= Some(1) && now != holding_the_message).then_some(())
    });
    b.stop();
    a.start();
    let receipt = wait_until(|| {
        let sent = a.json(&["inbox", "--from", &b.peer_id]);
        (sent[0]["state"] == "delivered").then_some(())
    });
    assert!(
        receipt.is_some(),
        "no receipt reached alice\n--- alice\n{}\n--- mailbox\n{}\n--- bob\n{}",
        a.log(),
        m.log(),
        b.log()
    );
    assert_eq!(a.status()["outbox"], 0);
    assert_eq!(a.status()["peers"], 1, "alice reached only the mailbox");
    // bob may have stopped between storing the message and the mailbox answering his
    // release: then the mailbox still holds it, and hands it to him again when he is back.
    // Either way he holds it once, and every box is released in the end.
    b.start();
    wait_for("the mailbox to be empty", || {
        (m.status()["mailbox"]["messages"] == 0).then_some(())
    });
    assert_eq!(received_from(&b, &a).len(), 1, "delivered exactly once");
}

#[test]
fn a_mailbox_killed_while_holding_keeps_what_it_held_and_a_full_one_says_so() {
    let root = root();
    let a = founder(root.path(), "alice");
    let mut m = mailbox(root.path(), &a, "mbox", &["--mailbox-max-messages", "2"]);
    let mut b = member(root.path(), &a, "bob");
    wait_all_connected(&[&a, &m, &b]);
    b.stop();
    wait_for("alice to see bob gone", || {
        (a.status()["peers"] == 1).then_some(())
    });
    for n in 0..2 {
        let out = a.ok(&["send", "--timeout", "20", &b.peer_id, &format!("held {n}")]);
        assert!(out.starts_with("held"), "{out}");
    }
    // The quota for bob is used up: the sender hears why.
    let out = a.weft(&["send", "--timeout", "20", &b.peer_id, "one too many"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mailbox") && err.contains("full"), "{err}");
    assert!(m.status()["rejected"]["mailbox_full"].as_u64() >= Some(1));

    // The mailbox dies without a chance to flush; what it acknowledged survives.
    m.kill();
    m.start_with(&["--mailbox-max-messages", "2"]);
    assert_eq!(m.status()["mailbox"]["messages"], 2);
    b.start();
    let got = wait_for("bob to receive all three", || {
        let got = received_from(&b, &a);
        (got.len() == 3).then_some(got)
    });
    let mut texts: Vec<_> = got.iter().map(|m| m["text"].as_str().unwrap()).collect();
    texts.sort();
    assert_eq!(texts, ["held 0", "held 1", "one too many"]);
}

#[test]
fn a_message_nobody_could_take_expires() {
    let root = root();
    let mut a = TestNode::init(root.path(), "alice");
    a.start_with(&["--mailbox-ttl", "3s"]);
    a.json(&["mesh", "create"]);
    let mut b = member(root.path(), &a, "bob");
    b.stop();
    wait_for("alice to see bob gone", || {
        (a.status()["peers"] == 0).then_some(())
    });
    a.ok(&["send", "--no-wait", &b.peer_id, "too late"]);
    wait_for("the message to expire", || {
        let sent = a.json(&["inbox", "--from", &b.peer_id]);
        (sent[0]["state"] == "expired").then_some(())
    });
    assert_eq!(a.status()["outbox"], 0);
    b.start();
    wait_for("bob back", || (a.status()["peers"] == 1).then_some(()));
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(
        received_from(&b, &a).is_empty(),
        "an expired message is not sent"
    );
}

#[test]
fn more_than_one_fetch_worth_is_collected_whole() {
    let root = root();
    let a = founder(root.path(), "alice");
    let m = mailbox(root.path(), &a, "mbox", &[]);
    let mut b = member(root.path(), &a, "bob");
    wait_all_connected(&[&a, &m, &b]);
    b.stop();
    wait_for("alice to see bob gone", || {
        (a.status()["peers"] == 1).then_some(())
    });
    // More than one fetch carries (256 boxes), so bob must ask again.
    let n = 270;
    for k in 0..n {
        a.ok(&["send", "--no-wait", &b.peer_id, &format!("held {k}")]);
    }
    wait_for("the mailbox to hold them all", || {
        (m.status()["mailbox"]["messages"] == n).then_some(())
    });
    b.start();
    wait_for("bob to collect them all", || {
        (received_from(&b, &a).len() == n).then_some(())
    });
    wait_for("the mailbox to let them go", || {
        (m.status()["mailbox"]["messages"] == 0).then_some(())
    });
    println!("mailbox: {n} messages held while bob was away, all collected once");
}
