//! Topics across many simulated nodes: whatever a node missed while it was cut off or away
//! it is handed on by whoever has it, each message once, each publisher's in order, and
//! nothing a member alters on the way is believed. Schedules are drawn as in `tests`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use weft_proto::acl::OpKind;

use super::tests::{config, faults, run_until};
use super::*;

/// What every member must end up shown: each publisher's texts by sequence number.
type Published = BTreeMap<[u8; 32], Vec<String>>;

/// Publishes `count` messages, each from one of `publishers` in turn, `gap_ms` apart.
fn publish(sim: &mut Sim, publishers: &[usize], count: usize, gap_ms: u64, all: &mut Published) {
    for n in 0..count {
        let node = publishers[n % publishers.len()];
        let text = format!("m{n} from {node}");
        assert!(sim.publish(node, &text), "a member may publish");
        all.entry(sim.nodes[node].key()).or_default().push(text);
        sim.run(gap_ms);
    }
}

/// Whether `node` was shown every message of `all` but its own.
fn has_all(sim: &Sim, node: usize, all: &Published) -> bool {
    let me = sim.nodes[node].key();
    let shown = sim.nodes[node].shown.len();
    let expected: usize = all
        .iter()
        .filter(|(p, _)| **p != me)
        .map(|(_, t)| t.len())
        .sum();
    shown >= expected
}

/// Each message of `all` was shown to `node` exactly once, with its publisher's text, and
/// those a catch-up brought came in each publisher's order.
fn shown_once_in_order(sim: &Sim, node: usize, all: &Published) -> Result<(), String> {
    let me = sim.nodes[node].key();
    let mut seen: BTreeMap<[u8; 32], Vec<u64>> = BTreeMap::new();
    let mut caught_up: BTreeMap<[u8; 32], u64> = BTreeMap::new();
    for shown in &sim.nodes[node].shown {
        let texts = all
            .get(&shown.publisher)
            .ok_or("a message nobody published")?;
        let text = texts
            .get(shown.seq as usize - 1)
            .ok_or("a number never used")?;
        if *text != shown.text {
            return Err(format!("node {node} was shown {:?}", shown.text));
        }
        seen.entry(shown.publisher).or_default().push(shown.seq);
        if shown.caught_up {
            let last = caught_up.entry(shown.publisher).or_default();
            if shown.seq <= *last {
                return Err(format!(
                    "node {node} caught up on {} after {last}",
                    shown.seq
                ));
            }
            *last = shown.seq;
        }
    }
    for (publisher, texts) in all.iter().filter(|(p, _)| **p != me) {
        let mut seqs = seen.remove(publisher).unwrap_or_default();
        seqs.sort_unstable();
        let every: Vec<u64> = (1..=texts.len() as u64).collect();
        if seqs != every {
            return Err(format!(
                "node {node} was shown {seqs:?} of 1..={}",
                texts.len()
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(12))]

    #[test]
    fn catch_up_after_a_partition_shows_every_missed_message_once_in_publisher_order(
        seed in any::<u64>(),
        faults in faults(),
        side in proptest::collection::vec(0usize..12, 1..6),
        publishers in proptest::collection::vec(0usize..12, 1..5),
        away in 0usize..12,
        count in 1usize..200,
    ) {
        let mut sim = Sim::mesh(seed, 12, 0, 3, faults);
        let mut all = Published::new();
        sim.run(1000);
        publish(&mut sim, &publishers, 3, 100, &mut all);
        sim.partition(&side);
        sim.set_online(away, false);
        publish(&mut sim, &publishers, count, 20, &mut all);
        sim.set_online(away, true);
        sim.heal();
        let settled = run_until(&mut sim, |s| (0..12).all(|i| has_all(s, i, &all)));
        prop_assert!(settled, "seed {seed}: not every member caught up");
        for node in 0..12 {
            let checked = shown_once_in_order(&sim, node, &all);
            prop_assert!(checked.is_ok(), "seed {seed}: {checked:?}");
        }
    }
}

#[test]
fn more_than_an_answer_holds_is_caught_up_page_by_page() {
    let faults = Faults {
        loss: 0,
        min_ms: 20,
        max_ms: 20,
    };
    let mut sim = Sim::mesh(0x70b1c, 2, 0, 1, faults);
    let mut all = Published::new();
    sim.set_online(1, false);
    let count = weft_proto::sync::MAX_SYNC_MESSAGES * 2 + 7;
    publish(&mut sim, &[0], count, 0, &mut all);
    sim.set_online(1, true);
    // Page after page at once, not one page per resync.
    let mut waited = 0;
    while !has_all(&sim, 1, &all) && waited < RESYNC_EVERY / 2 {
        sim.run(100);
        waited += 100;
    }
    assert!(
        has_all(&sim, 1, &all),
        "the returning node did not get every page at once"
    );
    assert_eq!(shown_once_in_order(&sim, 1, &all), Ok(()));
    assert!(sim.nodes[1].shown.iter().all(|s| s.caught_up));
}

#[test]
fn messages_a_member_alters_or_a_guest_publishes_are_not_believed() {
    let faults = Faults {
        loss: 50,
        min_ms: 5,
        max_ms: 80,
    };
    let mut sim = Sim::mesh(0xbad, 8, 1, 3, faults);
    // Node 8, a stranger, is admitted as a guest: a member that may not publish.
    let guest = sim.nodes[8].key();
    let add = OpKind::Add {
        member: guest,
        role: weft_proto::mesh::Role::Guest,
        name: None,
    };
    assert!(sim.issue(0, add));
    sim.nodes[8].mesh = sim.nodes[0].mesh.clone();
    let mut all = Published::new();
    let settled = run_until(&mut sim, |s| {
        (0..8).all(|i| s.nodes[i].admits(&s.nodes[8].peer))
    });
    assert!(settled, "the guest's admission did not spread");
    assert!(!sim.publish(8, "a guest's word"), "a guest may not publish");
    // The guest signs one all the same and gossips it.
    let mesh = sim.nodes[0].mesh.as_ref().unwrap().id();
    let forged = TopicMessage::new(topic(), 1, 1, "a guest's word".into());
    let forged = sign_topic(&sim.nodes[8].identity, &mesh, forged).unwrap();
    let source = sim.nodes[8].peer;
    sim.flood_topic(8, None, source, forged);
    // Node 3 is away while node 0 publishes; node 5 alters every message it hands on.
    sim.set_online(3, false);
    publish(&mut sim, &[0], 20, 50, &mut all);
    for run in sim.nodes[5].log.values_mut() {
        for message in run.values_mut() {
            message.text = format!("altered: {}", message.text);
        }
    }
    sim.set_online(3, true);
    let settled = run_until(&mut sim, |s| (0..8).all(|i| has_all(s, i, &all)));
    assert!(settled, "not every member got node 0's messages");
    for node in 0..8 {
        assert_eq!(shown_once_in_order(&sim, node, &all), Ok(()), "node {node}");
    }
}
