//! Mailboxes across simulated nodes: a sender (node 0, the founder), a mailbox (node 1,
//! given the mailbox role) and a recipient (node 2). Messages for a recipient that is down
//! are sealed (really: the sender's shell seals them) and held by the mailbox, handed over
//! when the recipient comes back, released once stored, and receipted to the sender; a box
//! whose forward is lost reaches a recipient that stays connected all the same; what
//! outlives its lifetime expires at both ends; the mailbox never holds more than its quota.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use weft_proto::MessageId;
use weft_proto::acl::OpKind;
use weft_proto::mailbox::MAX_DEPOSIT_BOXES;
use weft_proto::mesh::Role;

use super::Rng;
use super::membership::{SETTLE, config, faults};
use super::*;

const S: usize = 0;
const M: usize = 1;
const R: usize = 2;

/// Three members, node 1 a mailbox, every pair linked, each knowing the others' sealing
/// keys; every node keeping within `limits`.
fn three(seed: u64, faults: Faults, limits: Limits) -> Sim {
    let mut sim = Sim::mesh_keeping(seed, 3, 0, 2, faults, limits);
    let member = sim.nodes[M].key();
    assert!(sim.issue(
        S,
        OpKind::SetRole {
            member,
            role: Role::Mailbox
        }
    ));
    let mailbox = sim.nodes[M].peer;
    let ready = sim.run_until(SETTLE, |s| {
        (0..3).all(|i| {
            let core = s.nodes[i].core();
            let mesh = core.membership().unwrap();
            mesh.member(&mailbox).map(|(_, r)| r) == Some(Role::Mailbox)
                && (0..3).all(|j| mesh.card(&s.nodes[j].key()).is_some() || i == j)
        })
    });
    assert!(ready, "roles and sealing keys did not spread");
    sim
}

/// The ids shown to the recipient, checked shown once each.
fn shown_once(sim: &Sim) -> BTreeSet<MessageId> {
    let shown = &sim.nodes[R].app.shown;
    let ids: BTreeSet<MessageId> = shown.iter().map(|m| m.id).collect();
    assert_eq!(
        ids.len(),
        shown.len(),
        "the recipient was shown a message twice"
    );
    ids
}

/// Whether what the mailbox's store holds is within its quota, for each recipient and
/// from each depositor.
fn within_quota(sim: &Sim, limits: MailboxLimits) -> bool {
    let held = sim.nodes[M].store.mailbox.all().expect("the mailbox");
    let mut usage: BTreeMap<(bool, MemberKey), (usize, usize)> = BTreeMap::new();
    for info in held {
        for key in [(true, info.to), (false, info.from)] {
            let used = usage.entry(key).or_default();
            used.0 += 1;
            used.1 += info.size;
        }
    }
    usage
        .values()
        .all(|(messages, bytes)| *messages <= limits.max_messages && *bytes <= limits.max_bytes)
}

#[test]
fn messages_for_a_member_that_is_down_are_held_collected_and_receipted() {
    let mut sim = three(0x3a11, Faults::steady(10), limits());
    sim.crash(R);
    sim.run(1000);
    let sent: Vec<MessageId> = (0..40)
        .map(|n| sim.dm(S, R, &format!("held {n}")).unwrap().0)
        .collect();
    let held = sim.run_until(SETTLE, |s| {
        s.nodes[M].core().holding().total().messages == 40
    });
    assert!(held, "the mailbox did not hold every message");
    let told = |sim: &Sim, held: bool| {
        let deliveries = sim.nodes[S].app.deliveries.iter();
        deliveries
            .filter(|(_, d)| match d {
                Delivery::Held { .. } => held,
                Delivery::Delivered { .. } => !held,
                _ => false,
            })
            .count()
    };
    assert_eq!(told(&sim, true), 40, "the sender was not told each is held");
    sim.restart(R);
    let done = sim.run_until(SETTLE, |s| {
        s.nodes[S].core().outbox_len() == 0 && s.nodes[M].core().holding().is_empty()
    });
    assert!(done, "not everything was collected and receipted");
    assert_eq!(shown_once(&sim), sent.iter().copied().collect());
    assert_eq!(
        told(&sim, false),
        40,
        "the sender did not hear of every delivery"
    );
}

/// Runs `sim` in steps of 10 simulated ms until `done` holds (for at most [`SETTLE`]): the
/// simulated ms it took.
fn time_until(sim: &mut Sim, done: impl Fn(&Sim) -> bool) -> u64 {
    let start = sim.ms;
    while !done(sim) && sim.ms - start < SETTLE {
        sim.run(10);
    }
    assert!(done(sim), "not done within {SETTLE} ms");
    sim.ms - start
}

#[test]
fn a_burst_for_an_absent_member_is_held_in_batches_and_collected_without_pauses() {
    // Simulated time, not a machine's: with 10 ms links and a 100 ms tick, a pause of
    // seconds, or deposits one box per exchange paced by a tick, would show as seconds here.
    const N: usize = 500;
    let mut sim = three(0xb0c5, Faults::steady(10), limits());
    sim.crash(R);
    sim.run(1000);
    sim.reset_traffic();
    for n in 0..N {
        sim.dm(S, R, &format!("burst {n}")).unwrap();
    }
    let held = time_until(&mut sim, |s| {
        s.nodes[M].core().holding().total().messages == N
    });
    let sent = sim.sent[S];
    assert_eq!(sent.boxes, N as u64, "a box deposited twice");
    let batches = N.div_ceil(MAX_DEPOSIT_BOXES) as u64;
    assert!(
        sent.deposits <= batches + 1,
        "{} deposit exchanges for {N} boxes",
        sent.deposits
    );
    assert_eq!(
        sim.refused(M, "mailbox_stream_cap"),
        0,
        "more streams than served"
    );
    assert!(held <= 500, "all held after {held} simulated ms");

    sim.restart(R);
    let collected = time_until(&mut sim, |s| {
        s.nodes[S].core().outbox_len() == 0 && s.nodes[M].core().holding().is_empty()
    });
    assert_eq!(shown_once(&sim).len(), N);
    assert_eq!(
        sim.refused(M, "mailbox_stream_cap"),
        0,
        "more streams than served"
    );
    assert!(
        collected <= 2000,
        "collected after {collected} simulated ms"
    );
    println!("sim: {N} messages held after {held} ms, collected after {collected} ms");
}

proptest! {
    #![proptest_config(config(6))]

    #[test]
    fn mailboxes_hold_within_quota_and_deliver_every_message_once_across_faults(
        seed in any::<u64>(),
        faults in faults(),
    ) {
        let quota = MailboxLimits {
            max_messages: 12,
            max_bytes: 64 << 10,
            ttl: Duration::from_secs(3600),
        };
        let mut sim = three(seed, faults, Limits { mailbox: quota, ..limits() });
        let mut rng = Rng::new(seed ^ 0xb0c5);
        let mut sent = Vec::new();
        for step in 0..1500 {
            if rng.chance(150) && sim.nodes[S].is_up() {
                sent.push(sim.dm(S, R, &format!("m{step}")).unwrap());
            }
            for node in [S, M, R] {
                if rng.chance(3) {
                    sim.crash(node);
                } else if !sim.nodes[node].is_up() && rng.chance(node as u64 * 5 + 10) {
                    sim.restart(node);
                }
            }
            if rng.chance(10) {
                let side = [[S], [M], [R]][rng.range(0, 2) as usize];
                sim.partition(&side);
            } else if rng.chance(30) {
                sim.heal();
            }
            sim.run(100);
            prop_assert!(within_quota(&sim, quota), "seed {seed}: over the quota");
        }
        sim.heal();
        for node in [S, M, R] {
            sim.restart(node);
        }
        let done = sim.run_until(SETTLE, |s| s.nodes[S].core().outbox_len() == 0);
        prop_assert!(done, "seed {seed}: the outbox kept {}", sim.nodes[S].core().outbox_len());
        let shown = shown_once(&sim);
        for (id, mark) in &sent {
            if sim.nodes[S].durable(mark) {
                prop_assert!(shown.contains(id), "seed {seed}: a queued message was lost");
            }
        }
        let held = sim.run_until(SETTLE, |s| s.nodes[M].core().holding().is_empty());
        prop_assert!(held, "seed {seed}: the mailbox kept boxes");
    }
}

#[test]
fn messages_for_a_member_away_past_their_lifetime_expire_at_both_ends() {
    let short = MailboxLimits {
        ttl: Duration::from_secs(30),
        ..limits().mailbox
    };
    let mut sim = three(
        0xe4f,
        Faults::steady(10),
        Limits {
            mailbox: short,
            ..limits()
        },
    );
    sim.crash(R);
    sim.run(1000);
    for n in 0..10 {
        sim.dm(S, R, &format!("soon stale {n}")).unwrap();
    }
    sim.run_until(SETTLE, |s| {
        s.nodes[M].core().holding().total().messages == 10
    });
    // Away past every lifetime, and then back.
    sim.run(120_000);
    sim.restart(R);
    sim.run(30_000);
    assert!(
        sim.nodes[R].app.shown.is_empty(),
        "an expired message was shown"
    );
    assert_eq!(sim.nodes[S].core().outbox_len(), 0, "the outbox kept them");
    let expired = sim.nodes[S]
        .app
        .deliveries
        .iter()
        .filter(|(_, d)| matches!(d, Delivery::Rejected { .. }))
        .count();
    assert_eq!(expired, 10, "not every message was told expired");
    assert!(
        sim.nodes[M].core().holding().is_empty(),
        "the mailbox kept expired boxes"
    );
}

#[test]
fn a_box_whose_forward_was_lost_still_reaches_a_recipient_that_stays_connected() {
    let mut sim = three(0xf0d, Faults::steady(10), limits());
    // The sender and the recipient cannot reach each other: everything goes by the mailbox.
    sim.partition(&[S]);
    sim.heal_pair(S, M);
    sim.run(2000);
    assert!(sim.is_connected(M, R) && !sim.is_connected(S, R));
    // The mailbox's first forward to the recipient is lost.
    sim.lose_deposits(M, R, 1);
    let connections = sim.established(M, R);
    let (id, _) = sim.dm(S, R, "by way of the mailbox").unwrap();
    let shown = sim.run_until(SETTLE, |s| s.nodes[R].app.shown.iter().any(|m| m.id == id));
    assert!(shown, "the recipient never got it");
    assert_eq!(
        sim.established(M, R),
        connections,
        "it came by a reconnection, not by a forward"
    );
    let receipted = sim.run_until(SETTLE, |s| s.nodes[S].core().outbox_len() == 0);
    assert!(receipted, "the sender never heard");
}
