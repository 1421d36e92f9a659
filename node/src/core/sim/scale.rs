//! A mesh far larger than any node's connections: every member knows where forty others are
//! at start (more than its cap) and learns the rest by sync, on a network where any member
//! can reach any other. Each keeps within its cap of connections, yet an ACL change and a
//! topic message reach everyone, a direct message between two members that were not
//! connected gets through (dialled on demand), and idle sync traffic per node stays what it
//! is in a small mesh.
//!
//! CI runs 300 members; the thousand-member run takes about ten minutes unoptimized, so it
//! is run by hand (the figures are in docs/BENCHMARKS.md):
//!
//! ```sh
//! cargo test --release -p weft-node --lib core::sim::scale -- --ignored --nocapture
//! ```

use weft_proto::acl::OpKind;
use weft_proto::topic::TopicName;

use super::membership::{RESYNC_MS, SETTLE};
use super::*;
use crate::core::keep::SYNC_ROUND;

#[test]
fn three_hundred_members_keep_few_connections_and_still_agree_and_deliver() {
    keeps_few_connections(300, 0x300);
}

#[test]
#[ignore = "ten minutes unoptimized: run by hand with --release --ignored"]
fn a_thousand_members_keep_few_connections_and_still_agree_and_deliver() {
    keeps_few_connections(1000, 0x1000);
}

/// `n` members (the founder, and one it revokes) on an open network, each knowing forty.
fn keeps_few_connections(n: usize, seed: u64) {
    let victim = n / 2 + 1;
    let cap = limits().connections;
    let faults = Faults {
        loss: 10,
        min_ms: 5,
        max_ms: 80,
    };
    let mut sim = Sim::mesh(seed, n, 0, 40, faults);
    sim.open_network();
    sim.run(5_000);
    assert!(sim.publish(0, "to everyone"));
    let member = sim.nodes[victim].key();
    assert!(
        sim.issue(0, OpKind::Revoke { member }),
        "the founder revokes"
    );
    let others: Vec<usize> = (0..n).filter(|&i| i != victim).collect();
    let victim_peer = sim.nodes[victim].peer;
    let settled = sim.run_until(SETTLE, |s| {
        s.agreed(others.clone())
            && others.iter().all(|&i| !s.nodes[i].admits(&victim_peer))
            && others[1..]
                .iter()
                .all(|&i| !s.nodes[i].app.shown.is_empty())
    });
    let heard = (others[1..].iter())
        .filter(|&&i| !sim.nodes[i].app.shown.is_empty())
        .count();
    assert!(
        settled,
        "not settled: {heard} of {} heard the message",
        n - 2
    );
    // Idle for three resync rounds: every node within its cap.
    sim.run(3 * RESYNC_MS);
    let links: Vec<usize> = (0..n).map(|i| sim.links_of(i)).collect();
    let max = links.iter().copied().max().unwrap_or(0);
    let mean = links.iter().sum::<usize>() as f64 / n as f64;
    assert!(
        max <= cap,
        "a node holds {max} connections, over its cap of {cap}"
    );
    // A direct message between two members that are not connected: dialled on demand.
    let (a, b) = (1..n)
        .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
        .find(|&(a, b)| !sim.is_connected(a, b) && a != victim && b != victim)
        .expect("two members not connected");
    let (id, _) = sim.dm(a, b, "across the mesh").expect("a member sends");
    let delivered = sim.run_until(60_000, |s| {
        (s.nodes[a].app.deliveries.iter())
            .any(|(m, d)| *m == id && matches!(d, io::Delivery::Delivered { .. }))
    });
    assert!(
        delivered,
        "the direct message from {a} to {b} was not delivered"
    );
    // Idle traffic over a minute, once the directory settled (two minutes on).
    sim.run(12 * RESYNC_MS);
    sim.reset_traffic();
    sim.run(6 * RESYNC_MS);
    let idle = sim.traffic();
    let per_node = |x: u64| x as f64 / n as f64;
    println!(
        "sim: {n} members, cap {cap}: connections per node {mean:.1} mean, {max} max; idle: \
         {:.1} messages and {:.0} bytes per node per minute ({SYNC_ROUND} syncs per round)",
        per_node(idle.messages),
        per_node(idle.bytes),
    );
}

#[test]
fn members_many_picked_shed_links_to_members_with_room_and_the_churn_stops() {
    // Everyone knows where only the first few are at start, as joiners know the members
    // an early invite listed: each of those is picked by nearly everyone, far over its cap.
    // Each closes what it holds over the cap; a member whose standing link was closed picks
    // another at random (it used to dial the same one again, which closed it again a
    // minute later, for good).
    let (n, hubs) = (80, 6);
    let cap = limits().connections;
    let mut sim = Sim::mesh_linked(0x5ed, n, 0, Faults::steady(10), limits(), |sim, total| {
        for a in 0..total {
            for hub in 0..hubs {
                sim.link(a, hub);
            }
        }
    });
    sim.open_network();
    sim.run(30 * RESYNC_MS);
    let before = sim.opened();
    sim.run(6 * RESYNC_MS);
    let opened = sim.opened() - before;
    let max = (0..n).map(|i| sim.links_of(i)).max().unwrap_or(0);
    println!(
        "sim: {n} members, {hubs} known to all at start: {max} connections at most, {opened} opened in the idle minute"
    );
    assert!(
        max <= cap,
        "a node holds {max} connections, over its cap of {cap}"
    );
    assert!(
        opened < hubs as u32,
        "{opened} connections opened in an idle minute: links still churn"
    );
}

#[test]
fn a_topic_few_members_follow_reaches_them_in_a_larger_mesh() {
    let n = 60;
    let rare: TopicName = "rare".parse().expect("a topic");
    let (publisher, readers) = (5, [30, 55]);
    let mut sim = Sim::mesh(0x60, n, 0, 6, Faults::steady(10));
    sim.open_network();
    for i in [publisher, readers[0], readers[1]] {
        let followed = sim.command(i, |core, _| core.subscribe(rare.clone(), true));
        assert!(followed.is_ok(), "node {i} follows the topic");
    }
    // Who follows what travels with sync.
    sim.run(6 * RESYNC_MS);
    let text = "for the few";
    let published = sim.command(publisher, |core, now| {
        core.publish(rare.clone(), text.into(), now)
    });
    assert!(published.is_ok(), "the publisher publishes");
    let heard = sim.run_until(6 * RESYNC_MS, |s| {
        (readers.iter()).all(|&i| s.nodes[i].texts().iter().any(|(_, t)| t == text))
    });
    let connected = (readers.iter()).filter(|&&r| sim.is_connected(publisher, r));
    assert!(
        heard,
        "the followers did not all hear it ({} of 2 connected to the publisher)",
        connected.count()
    );
}
