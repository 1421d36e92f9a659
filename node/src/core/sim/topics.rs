//! Topics across many simulated nodes: whatever a node missed while it was cut off or down
//! it is handed on by whoever has it, each message once, each publisher's in order, and
//! nothing a member alters on the way, or a guest signs, is believed. Schedules are drawn
//! as in `membership`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use weft_keys::topic::sign_topic;
use weft_proto::acl::OpKind;
use weft_proto::topic::TopicMessage;

use super::membership::{RESYNC_MS, SETTLE, config, faults};
use super::*;

/// What every member must end up shown: each publisher's texts, in the order published.
type Published = BTreeMap<String, Vec<String>>;

/// Publishes `count` messages, each from one of `publishers` in turn, `gap_ms` apart.
fn publish(sim: &mut Sim, publishers: &[usize], count: usize, gap_ms: u64, all: &mut Published) {
    for n in 0..count {
        let node = publishers[n % publishers.len()];
        let text = format!("m{n} from {node}");
        assert!(sim.publish(node, &text), "a member may publish");
        all.entry(sim.nodes[node].peer.to_string())
            .or_default()
            .push(text);
        sim.run(gap_ms);
    }
}

/// Whether `node` was shown as many messages as all but its own.
fn has_all(sim: &Sim, node: usize, all: &Published) -> bool {
    let me = sim.nodes[node].peer.to_string();
    let expected: usize = all
        .iter()
        .filter(|(p, _)| **p != me)
        .map(|(_, t)| t.len())
        .sum();
    sim.nodes[node].app.shown.len() >= expected
}

/// Each message of `all` but its own was shown to `node` exactly once, with its
/// publisher's text; with `in_order`, each publisher's in the order published.
fn shown_once(sim: &Sim, node: usize, all: &Published, in_order: bool) -> Result<(), String> {
    let me = sim.nodes[node].peer.to_string();
    let mut seen: Published = BTreeMap::new();
    for (from, text) in sim.nodes[node].texts() {
        seen.entry(from).or_default().push(text);
    }
    for (publisher, texts) in all.iter().filter(|(p, _)| **p != me) {
        let mut shown = seen.remove(publisher).unwrap_or_default();
        if !in_order {
            shown.sort();
            let mut texts = texts.clone();
            texts.sort();
            if shown != texts {
                return Err(format!("node {node} was shown {shown:?} of {texts:?}"));
            }
        } else if shown != *texts {
            return Err(format!("node {node} was shown {shown:?}, not {texts:?}"));
        }
    }
    match seen.into_keys().next() {
        Some(stranger) => Err(format!("node {node} was shown a message from {stranger}")),
        None => Ok(()),
    }
}

proptest! {
    #![proptest_config(config(8))]

    #[test]
    fn catch_up_after_a_partition_shows_every_missed_message_once_in_publisher_order(
        seed in any::<u64>(),
        faults in faults(),
        side in proptest::collection::vec(0usize..10, 1..5),
        publishers in proptest::collection::vec(0usize..10, 1..4),
        away in 0usize..10,
        count in 1usize..120,
    ) {
        prop_assume!(!publishers.contains(&away));
        let mut sim = Sim::mesh(seed, 10, 0, 3, faults);
        let mut all = Published::new();
        sim.run(2000);
        publish(&mut sim, &publishers, 3, 100, &mut all);
        sim.run_until(SETTLE, |s| (0..10).all(|i| has_all(s, i, &all)));
        let before = sim.nodes[away].app.shown.len();
        sim.partition(&side);
        sim.crash(away);
        publish(&mut sim, &publishers, count, 20, &mut all);
        // Gossip still on its way when the node came back could reach it: let it land.
        sim.run(5_000);
        sim.restart(away);
        sim.heal();
        let settled = sim.run_until(SETTLE, |s| (0..10).all(|i| has_all(s, i, &all)));
        prop_assert!(settled, "seed {seed}: not every member caught up");
        for node in 0..10 {
            let checked = shown_once(&sim, node, &all, false);
            prop_assert!(checked.is_ok(), "seed {seed}: {checked:?}");
        }
        // What the node that was down missed came by catch-up alone: in publisher order.
        let caught_up = &sim.nodes[away].app.shown[before..];
        let mut last: BTreeMap<&str, usize> = BTreeMap::new();
        for message in caught_up {
            let texts = &all[&message.from];
            let n = texts.iter().position(|t| *t == message.text).unwrap_or(usize::MAX);
            let previous = last.insert(&message.from, n);
            prop_assert!(previous.is_none_or(|p| p < n), "seed {seed}: out of order");
        }
    }
}

#[test]
fn more_than_an_answer_holds_is_caught_up_page_by_page() {
    let mut sim = Sim::mesh(0x70b1c, 2, 0, 1, Faults::steady(20));
    let mut all = Published::new();
    sim.run(1000);
    sim.crash(1);
    let count = weft_proto::sync::MAX_SYNC_MESSAGES * 2 + 7;
    publish(&mut sim, &[0], count, 0, &mut all);
    sim.run(100);
    sim.restart(1);
    // Page after page at once, not one page per resync.
    let caught_up = sim.run_until(RESYNC_MS / 2, |s| has_all(s, 1, &all));
    assert!(
        caught_up,
        "the returning node did not get every page at once"
    );
    assert_eq!(shown_once(&sim, 1, &all, true), Ok(()));
}

#[test]
fn messages_a_member_alters_or_a_guest_publishes_are_not_believed() {
    let faults = Faults {
        loss: 50,
        min_ms: 5,
        max_ms: 80,
    };
    let mut sim = Sim::mesh(0xbad, 8, 1, 3, faults);
    sim.run(1000);
    // Node 8, a stranger, is admitted as a guest: a member that may not publish.
    let guest = sim.nodes[8].key();
    let add = OpKind::Add {
        member: guest,
        role: weft_proto::mesh::Role::Guest,
        name: None,
    };
    assert!(sim.issue(0, add));
    let invite = sim.invite(0);
    sim.link(8, 0);
    sim.join(8, 0, &invite);
    let peer = sim.nodes[8].peer;
    let settled = sim.run_until(SETTLE, |s| {
        s.join_outcome(8).is_some() && (0..8).all(|i| s.nodes[i].admits(&peer))
    });
    assert!(settled, "the guest's admission did not spread");
    assert!(!sim.publish(8, "a guest's word"), "a guest may not publish");
    // The guest signs one all the same and gossips it, going around its own node.
    let mesh = sim.nodes[0].core().membership().unwrap().id();
    let forged = TopicMessage::new(topic(), 1, sim.now().unix_us, "a guest's word".into());
    let identity = weft_keys::Identity::from_secret(&sim.nodes[8].secret);
    let forged = sign_topic(&identity, &mesh, forged).unwrap();
    sim.gossip_raw(8, forged.encode().unwrap());
    // Node 3 is down while node 0 publishes; node 5 alters every message it hands on.
    sim.nodes[5].alters_catch_up = true;
    let mut all = Published::new();
    sim.crash(3);
    publish(&mut sim, &[0], 20, 50, &mut all);
    sim.restart(3);
    let settled = sim.run_until(SETTLE, |s| (0..8).all(|i| has_all(s, i, &all)));
    assert!(settled, "not every member got node 0's messages");
    for node in 0..8 {
        assert_eq!(shown_once(&sim, node, &all, false), Ok(()), "node {node}");
    }
    assert!(sim.refused(1, "acl") + sim.refused(2, "acl") > 0 || sim.refused(0, "acl") > 0);
}
