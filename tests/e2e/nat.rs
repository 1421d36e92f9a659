//! Two NATs, in network namespaces: A and C each sit behind their own NAT router
//! (masquerading, as a home router does) and reach only the public network, where B relays.
//! A reaches C through B's relay and a message gets through; DCUtR tries to punch a direct
//! path through both NATs (it succeeds in about half the runs in this lab, so the test
//! requires the attempt and reports the outcome).

use crate::netns::Lab;
use crate::support::{TestNode, invite, root, wait_for};

#[test]
fn members_behind_two_nats_talk_through_a_relay_and_try_to_punch_through() {
    // Network 0 is public: B, and the routers' outside. Network 1 is A's home, 2 is C's.
    // Nodes: 0 = B, 1 = A's router, 2 = A, 3 = C's router, 4 = C.
    let attach = vec![vec![0], vec![0, 1], vec![1], vec![0, 2], vec![2]];
    let Some(lab) = Lab::networks("nat", attach) else {
        return;
    };
    lab.nat_router(1, 0);
    lab.nat_router(3, 0);
    lab.default_route(2, &lab.ip_on(1, 1));
    lab.default_route(4, &lab.ip_on(3, 2));

    let root = root();
    let mut b = TestNode::init_in(root.path(), "b", &lab.ns(0), &lab.ip(0));
    b.start();
    b.json(&["mesh", "create", "--name", "home"]);
    let mut a = TestNode::init_in(root.path(), "a", &lab.ns(2), &lab.ip(2));
    a.start();
    a.ok(&["join", &invite(&b, &[])]);
    let mut c = TestNode::init_in(root.path(), "c", &lab.ns(4), &lab.ip(4));
    c.start();
    c.ok(&["join", &invite(&b, &[])]);

    let path = |from: &TestNode, to: &TestNode| {
        let peers = from.json(&["peers"]);
        peers.as_array().and_then(|ps| {
            ps.iter()
                .find(|p| p["peer_id"] == to.peer_id.as_str())
                .map(|p| {
                    (
                        p["path"].as_str().unwrap().to_string(),
                        p["addr"].as_str().unwrap().to_string(),
                    )
                })
        })
    };
    let first = wait_for("A connected to C", || path(&a, &c));
    println!("nat: A reached C {} ({})", first.0, first.1);
    let sent = a.ok(&["send", &c.peer_id, "across two NATs"]);
    assert!(sent.contains("delivered"), "{sent}");
    // Both ends were told their outside QUIC addresses by the relay, and DCUtR tried them.
    let attempt = wait_for("a hole punch attempted", || {
        [&a, &c].iter().find_map(|n| {
            let log = n.log();
            let line = log.lines().find(|l| l.contains("hole punch"))?;
            Some(line.to_string())
        })
    });
    let outcome = match path(&a, &c) {
        Some((p, addr)) if p == "direct" => format!("punched: direct at {addr}"),
        _ => "not punched this time: relayed".to_string(),
    };
    let said = attempt.split("reach:").last().unwrap_or(&attempt).trim();
    println!("nat: DCUtR attempted ({said}); {outcome}");
    a.stop();
    b.stop();
    c.stop();
}
