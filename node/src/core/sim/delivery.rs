//! Direct messages across simulated nodes: every message whose sender was told it is queued
//! reaches its recipient's application exactly once, across loss, partitions and crashes of
//! either end (each node rebuilt from what it had flushed); the sender is told of no
//! delivery the recipient did not store; and once the faults stop every outbox drains.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use weft_proto::MessageId;

use super::Rng;
use super::membership::{SETTLE, config, faults};
use super::*;

/// A message sent in a run: from, to, its id, and its sender's caller's mark.
struct Sent {
    from: usize,
    to: usize,
    id: MessageId,
    mark: Mark,
}

/// Runs `steps` of 100 ms in which members send each other messages, crash and come back,
/// and links are cut and healed, as `rng` draws; then heals everything and waits until every
/// outbox drained. Returns what was sent.
fn run_faulty(sim: &mut Sim, members: usize, steps: usize, rng: &mut Rng) -> Vec<Sent> {
    let mut sent = Vec::new();
    for step in 0..steps {
        if rng.chance(400) {
            let from = rng.range(0, members as u64 - 1) as usize;
            let to = rng.range(0, members as u64 - 1) as usize;
            if from != to && sim.nodes[from].is_up() {
                let text = format!("m{step} {from}->{to}");
                if let Ok((id, mark)) = sim.dm(from, to, &text) {
                    sent.push(Sent { from, to, id, mark });
                }
            }
        }
        let node = rng.range(0, members as u64 - 1) as usize;
        if rng.chance(8) {
            sim.crash(node);
        } else if !sim.nodes[node].is_up() && rng.chance(60) {
            sim.restart(node);
        }
        if rng.chance(5) {
            let side: Vec<usize> = (0..members).filter(|_| rng.chance(400)).collect();
            sim.partition(&side);
        } else if rng.chance(20) {
            sim.heal();
        }
        sim.run(100);
        check_told_only_what_was_stored(sim, &sent);
    }
    sim.heal();
    for node in 0..members {
        sim.restart(node);
    }
    sim.run_until(SETTLE, |s| {
        (0..members).all(|i| s.nodes[i].core().outbox_len() == 0)
    });
    sent
}

/// No sender was told of a delivery its recipient does not show.
fn check_told_only_what_was_stored(sim: &Sim, sent: &[Sent]) {
    let to: BTreeMap<MessageId, usize> = sent.iter().map(|s| (s.id, s.to)).collect();
    for node in &sim.nodes {
        for (id, delivery) in &node.app.deliveries {
            if let Delivery::Delivered { .. } = delivery {
                let recipient = &sim.nodes[to[id]];
                assert!(
                    recipient.app.shown.iter().any(|m| m.id == *id),
                    "a sender was told of a delivery its recipient does not show"
                );
            }
        }
    }
}

/// Every message whose sender's caller was told it is queued was shown to its recipient
/// exactly once; nothing was shown twice; every outbox drained.
fn check_exactly_once(sim: &Sim, members: usize, sent: &[Sent]) -> Result<(), String> {
    for node in 0..members {
        let shown = &sim.nodes[node].app.shown;
        let ids: BTreeSet<MessageId> = shown.iter().map(|m| m.id).collect();
        if ids.len() != shown.len() {
            return Err(format!("node {node} was shown a message twice"));
        }
        let outbox = sim.nodes[node].core().outbox_len();
        if outbox > 0 {
            return Err(format!("node {node} kept {outbox} in its outbox"));
        }
    }
    for s in sent {
        let shown = sim.nodes[s.to].app.shown.iter().filter(|m| m.id == s.id);
        let count = shown.count();
        if sim.nodes[s.from].durable(&s.mark) && count != 1 {
            return Err(format!(
                "{} -> {}: queued, and shown {count} times",
                s.from, s.to
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(6))]

    #[test]
    fn every_queued_message_is_shown_once_across_crashes_partitions_and_loss(
        seed in any::<u64>(),
        faults in faults(),
    ) {
        let members = 5;
        let mut sim = Sim::mesh(seed, members, 0, 4, faults);
        sim.run(2000);
        let mut rng = Rng::new(seed ^ 0xd311);
        let sent = run_faulty(&mut sim, members, 600, &mut rng);
        prop_assert!(sent.len() > 100, "seed {seed}: the run sent too little");
        let checked = check_exactly_once(&sim, members, &sent);
        prop_assert!(checked.is_ok(), "seed {seed}: {checked:?}");
        check_told_only_what_was_stored(&sim, &sent);
        let delivered = sim.nodes.iter().flat_map(|n| &n.app.deliveries)
            .filter(|(_, d)| matches!(d, Delivery::Delivered { .. }))
            .count();
        let queued = sent.iter().filter(|s| sim.nodes[s.from].durable(&s.mark)).count();
        prop_assert!(delivered >= queued, "seed {seed}: {delivered} of {queued} heard of");
    }
}

#[test]
fn a_burst_to_a_peer_that_stops_answering_is_resent_on_a_new_session() {
    // The recipient's acknowledgements are lost for a while (its node takes the messages,
    // and its answers never arrive): the sender gives the session up and resends; the
    // recipient shows each message once.
    let mut sim = Sim::mesh(0xacc, 2, 0, 1, Faults::steady(5));
    sim.run(2000);
    let sent: Vec<_> = (0..50)
        .map(|n| sim.dm(0, 1, &format!("m{n}")).unwrap())
        .collect();
    sim.lose_frames(1, 0, 40);
    let delivered = sim.run_until(SETTLE, |s| s.nodes[0].core().outbox_len() == 0);
    assert!(delivered, "the outbox never drained");
    let shown: BTreeSet<MessageId> = sim.nodes[1].app.shown.iter().map(|m| m.id).collect();
    assert_eq!(shown.len(), sim.nodes[1].app.shown.len(), "shown twice");
    assert!(sent.iter().all(|(id, _)| shown.contains(id)));
}
