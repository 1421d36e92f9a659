//! Membership across many simulated nodes: revocations, nodes offline, contested invites,
//! and the idle sync traffic of a 200-node mesh. Each property runs over schedules proptest
//! draws from a fixed seed (so CI runs the same cases every time); a failure prints the
//! case, whose `seed` replays it exactly. `PROPTEST_CASES` asks for more.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use weft_proto::acl::OpKind;
use weft_proto::join::Refusal;

use super::*;

/// Long enough for an op to cross any mesh here many times over, at any loss drawn.
pub(super) const SETTLE: u64 = 300_000;

pub(super) fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(0x7765_6674),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

pub(super) fn faults() -> impl Strategy<Value = Faults> {
    (0u64..300, 1u64..50, 0u64..400).prop_map(|(loss, min_ms, spread)| Faults {
        loss,
        min_ms,
        max_ms: min_ms + spread,
    })
}

/// Revokes `victim` at `admin`.
fn revoke(sim: &mut Sim, admin: usize, victim: usize) {
    let member = sim.nodes[victim].key();
    assert!(
        sim.issue(admin, OpKind::Revoke { member }),
        "the founder may revoke"
    );
}

/// Runs until `done` holds, checking every simulated second, for at most [`SETTLE`].
pub(super) fn run_until(sim: &mut Sim, mut done: impl FnMut(&Sim) -> bool) -> bool {
    for _ in 0..SETTLE / 1000 {
        if done(sim) {
            return true;
        }
        sim.run(1000);
    }
    done(sim)
}

fn nobody_admits(sim: &Sim, victim: usize) -> bool {
    let peer = sim.nodes[victim].peer;
    (0..sim.nodes.len())
        .filter(|&i| i != victim)
        .all(|i| !sim.nodes[i].admits(&peer))
}

proptest! {
    #![proptest_config(config(12))]

    #[test]
    fn a_revocation_reaches_every_node_across_loss_and_a_partition(
        seed in any::<u64>(),
        faults in faults(),
        victim in 1usize..16,
        cut in proptest::collection::vec(1usize..16, 1..8),
    ) {
        let mut sim = Sim::mesh(seed, 16, 0, 4, faults);
        sim.run(1000);
        sim.partition(&cut);
        revoke(&mut sim, 0, victim);
        sim.run(30_000);
        sim.heal();
        let others: Vec<usize> = (0..16).filter(|&i| i != victim).collect();
        let settled = run_until(&mut sim, |s| nobody_admits(s, victim) && s.agreed(others.clone()));
        prop_assert!(settled, "seed {seed}: the revocation did not reach every node");
        // Refused everywhere: the revoked node still asks, and nobody answers it.
        sim.refused_syncs.clear();
        sim.run(3 * RESYNC_EVERY);
        prop_assert!(sim.refused_syncs.get(&victim).copied().unwrap_or(0) > 0);
        prop_assert!(nobody_admits(&sim, victim));
    }

    #[test]
    fn a_node_offline_during_a_revocation_applies_it_on_its_next_sync(
        seed in any::<u64>(),
        faults in faults(),
        victim in 1usize..12,
        away in 1usize..12,
    ) {
        prop_assume!(victim != away);
        let mut sim = Sim::mesh(seed, 12, 0, 3, faults);
        sim.set_online(away, false);
        revoke(&mut sim, 0, victim);
        let victim_peer = sim.nodes[victim].peer;
        let present: Vec<usize> = (0..12).filter(|&i| i != victim && i != away).collect();
        let settled = run_until(&mut sim, |s| present.iter().all(|&i| !s.nodes[i].admits(&victim_peer)));
        prop_assert!(settled, "seed {seed}: the revocation did not reach the nodes online");
        prop_assert!(sim.nodes[away].admits(&victim_peer), "an offline node heard of it");
        sim.set_online(away, true);
        let applied = run_until(&mut sim, |s| !s.nodes[away].admits(&victim_peer));
        prop_assert!(applied, "seed {seed}: the returning node never applied the revocation");
        let all: Vec<usize> = (0..12).filter(|&i| i != victim).collect();
        prop_assert!(run_until(&mut sim, |s| s.agreed(all.clone())));
    }

    #[test]
    fn a_contested_single_use_invite_has_exactly_one_winner(
        seed in any::<u64>(),
        faults in faults(),
    ) {
        // Eight members and two strangers, both linked to the founder and to one member.
        let mut sim = Sim::mesh(seed, 8, 2, 3, faults);
        for joiner in [8, 9] {
            sim.link(joiner, 0);
        }
        let invite = sim.invite(0);
        // Each joiner asks, and asks again while it hears nothing (a lost request).
        for _ in 0..30 {
            for joiner in [8, 9] {
                if sim.nodes[joiner].joined.is_none() {
                    sim.join(joiner, 0, &invite);
                }
            }
            sim.run(2000);
        }
        let outcomes: Vec<_> = [8, 9].iter().map(|&j| sim.nodes[j].joined).collect();
        let winners = outcomes.iter().filter(|o| matches!(o, Some(Ok(())))).count();
        prop_assert_eq!(winners, 1, "seed {}: {:?}", seed, outcomes);
        prop_assert!(outcomes.contains(&Some(Err(Refusal::UsedUp))));
        let winner = if matches!(outcomes[0], Some(Ok(()))) { 8 } else { 9 };
        let loser = 17 - winner;
        let (w, l) = (sim.nodes[winner].peer, sim.nodes[loser].peer);
        let all: Vec<usize> = (0..10).filter(|&i| i != loser).collect();
        let settled = run_until(&mut sim, |s| {
            s.agreed(all.clone()) && all.iter().all(|&i| s.nodes[i].admits(&w))
        });
        prop_assert!(settled, "seed {seed}: the winner's admission did not reach everyone");
        prop_assert!(all.iter().all(|&i| !sim.nodes[i].admits(&l)));
    }
}

#[test]
fn two_hundred_nodes_agree_on_a_revocation_and_their_idle_traffic_is_measured() {
    let (n, degree) = (200, 6);
    let faults = Faults {
        loss: 20,
        min_ms: 5,
        max_ms: 120,
    };
    let mut sim = Sim::mesh(0x2000, n, 0, degree, faults);
    sim.run(1000);
    revoke(&mut sim, 0, 137);
    let others: Vec<usize> = (0..n).filter(|&i| i != 137).collect();
    let settled = run_until(&mut sim, |s| {
        nobody_admits(s, 137) && s.agreed(others.clone())
    });
    assert!(settled, "the revocation did not reach all {n} nodes");
    // Idle: nothing new, only the anti-entropy syncs.
    sim.run(RESYNC_EVERY);
    sim.reset_traffic();
    sim.run(60_000);
    let idle = sim.traffic();
    let per_node = |x: u64| x as f64 / n as f64;
    println!(
        "sim: {n} nodes of degree {degree}, idle: {:.1} messages and {:.0} bytes per node per minute",
        per_node(idle.messages),
        per_node(idle.bytes),
    );
    assert!(idle.messages > 0, "members stopped syncing while idle");
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let faults = Faults {
        loss: 100,
        min_ms: 1,
        max_ms: 300,
    };
    let run = |seed| {
        let mut sim = Sim::mesh(seed, 10, 0, 3, faults);
        revoke(&mut sim, 0, 4);
        sim.run(60_000);
        (sim.sent.clone(), sim.refused_syncs.get(&4).copied())
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9).0, run(10).0, "the seed decides nothing");
}

#[test]
fn a_node_away_while_more_than_a_page_was_issued_catches_up_page_by_page() {
    // Two nodes and a steady network, so that only paging can bring the rest at once: no
    // loss (a lost page waits out a sync timeout, as long as a resync), and no third node or
    // reordering whose sync back would fetch the next page anyway.
    let faults = Faults {
        loss: 0,
        min_ms: 20,
        max_ms: 20,
    };
    let mut sim = Sim::mesh(0x9a9e, 2, 0, 1, faults);
    sim.set_online(1, false);
    let mut rng = super::Rng::new(7);
    for _ in 0..MAX_SYNC_OPS + MAX_SYNC_OPS / 4 {
        let member = Identity::from_secret(&rng.bytes()).public().to_bytes();
        let add = OpKind::Add {
            member,
            role: Role::Guest,
            name: None,
        };
        assert!(sim.issue(0, add));
    }
    assert!(!sim.agreed([0, 1]), "the node away heard of them");
    sim.set_online(1, true);
    // Page after page at once, not one page per resync.
    let mut waited = 0;
    while !sim.agreed([0, 1]) && waited < RESYNC_EVERY / 2 {
        sim.run(100);
        waited += 100;
    }
    assert!(
        sim.agreed([0, 1]),
        "the returning node did not get every page at once"
    );
}
