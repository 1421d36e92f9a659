//! Membership across many simulated nodes: revocations across loss and partitions, a node
//! that was down while one happened, a contested invite, strangers cut off, paging a long
//! log, and the idle sync traffic of a 200-node mesh. Each property runs over schedules
//! proptest draws from a fixed seed (so CI runs the same cases every time); a failure prints
//! the case, whose `seed` replays it exactly. `PROPTEST_CASES` asks for more.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use weft_keys::Identity;
use weft_proto::acl::OpKind;
use weft_proto::join::Refusal;
use weft_proto::mesh::Role;
use weft_proto::sync::MAX_SYNC_OPS;

use super::Rng;
use super::*;
use crate::core::RESYNC_EVERY;
use crate::core::doors::{ADMISSION_WAIT, STRANGER_GRACE};

/// Long enough for an op to cross any mesh here many times over, at any loss drawn.
pub(super) const SETTLE: u64 = 300_000;

/// A resync period, in the simulation's milliseconds.
pub(super) const RESYNC_MS: u64 = RESYNC_EVERY.as_millis() as u64;

pub(super) fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(0x7765_6674),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

pub(super) fn faults() -> impl Strategy<Value = Faults> {
    (0u64..200, 1u64..50, 0u64..300).prop_map(|(loss, min_ms, spread)| Faults {
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

fn nobody_admits(sim: &Sim, victim: usize) -> bool {
    let peer = sim.nodes[victim].peer;
    (0..sim.nodes.len())
        .filter(|&i| i != victim)
        .all(|i| !sim.nodes[i].admits(&peer))
}

/// Whether `victim` is connected to nobody.
fn shut_out(sim: &Sim, victim: usize) -> bool {
    sim.connected_to(victim).next().is_none()
}

proptest! {
    #![proptest_config(config(8))]

    #[test]
    fn a_revocation_reaches_every_node_across_loss_and_a_partition(
        seed in any::<u64>(),
        faults in faults(),
        victim in 1usize..12,
        cut in proptest::collection::vec(1usize..12, 1..6),
    ) {
        let mut sim = Sim::mesh(seed, 12, 0, 4, faults);
        sim.run(2000);
        sim.partition(&cut);
        revoke(&mut sim, 0, victim);
        sim.run(30_000);
        sim.heal();
        let others: Vec<usize> = (0..12).filter(|&i| i != victim).collect();
        let settled = sim.run_until(SETTLE, |s| nobody_admits(s, victim) && s.agreed(others.clone()));
        prop_assert!(settled, "seed {seed}: the revocation did not reach every node");
        // Refused everywhere: let in at most once by each node that knows (to hear of its
        // removal; it dials only a few members, so some let it in later than others), then
        // walled off for good.
        let known: Vec<u32> = (0..12).map(|i| sim.established(victim, i)).collect();
        let out = sim.run_until(SETTLE, |s| shut_out(s, victim));
        prop_assert!(out, "seed {seed}: the removed node still connects");
        sim.run(3 * RESYNC_MS);
        for &i in &others {
            let since = sim.established(victim, i) - known[i];
            prop_assert!(since <= 1, "seed {}: node {} let it in {} times", seed, i, since);
        }
        prop_assert!(nobody_admits(&sim, victim));
    }

    #[test]
    fn a_node_down_during_a_revocation_applies_it_when_it_comes_back(
        seed in any::<u64>(),
        faults in faults(),
        victim in 1usize..10,
        away in 1usize..10,
    ) {
        prop_assume!(victim != away);
        let mut sim = Sim::mesh(seed, 10, 0, 3, faults);
        sim.run(2000);
        sim.crash(away);
        revoke(&mut sim, 0, victim);
        let victim_peer = sim.nodes[victim].peer;
        let present: Vec<usize> = (0..10).filter(|&i| i != victim && i != away).collect();
        let settled = sim.run_until(SETTLE, |s| present.iter().all(|&i| !s.nodes[i].admits(&victim_peer)));
        prop_assert!(settled, "seed {seed}: the revocation did not reach the nodes up");
        sim.restart(away);
        prop_assert!(sim.nodes[away].admits(&victim_peer), "a node that was down heard of it");
        let applied = sim.run_until(SETTLE, |s| !s.nodes[away].admits(&victim_peer));
        prop_assert!(applied, "seed {seed}: the returning node never applied the revocation");
        let all: Vec<usize> = (0..10).filter(|&i| i != victim).collect();
        prop_assert!(sim.run_until(SETTLE, |s| s.agreed(all.clone())));
    }

    #[test]
    fn a_contested_single_use_invite_has_exactly_one_winner(
        seed in any::<u64>(),
        faults in faults(),
    ) {
        // Eight members and two strangers, both linked to the founder.
        let mut sim = Sim::mesh(seed, 8, 2, 3, faults);
        for joiner in [8, 9] {
            sim.link(joiner, 0);
        }
        sim.run(1000);
        let invite = sim.invite(0);
        for joiner in [8, 9] {
            sim.join(joiner, 0, &invite);
        }
        sim.run_until(SETTLE, |s| s.join_outcome(8).is_some() && s.join_outcome(9).is_some());
        let outcomes = [sim.join_outcome(8), sim.join_outcome(9)];
        let winners = outcomes.iter().filter(|o| matches!(o, Some(Ok(())))).count();
        prop_assert_eq!(winners, 1, "seed {}: {:?}", seed, outcomes);
        prop_assert!(outcomes.contains(&Some(Err(Refusal::UsedUp))));
        let winner = if matches!(outcomes[0], Some(Ok(()))) { 8 } else { 9 };
        let loser = 17 - winner;
        let (w, l) = (sim.nodes[winner].peer, sim.nodes[loser].peer);
        let all: Vec<usize> = (0..10).filter(|&i| i != loser).collect();
        let settled = sim.run_until(SETTLE, |s| {
            s.agreed(all.clone()) && all.iter().all(|&i| s.nodes[i].admits(&w))
        });
        prop_assert!(settled, "seed {seed}: the winner's admission did not reach everyone");
        prop_assert!(all.iter().all(|&i| !sim.nodes[i].admits(&l)));
    }
}

#[test]
fn a_removed_member_hears_of_its_removal_and_is_walled_off() {
    let mut sim = Sim::mesh(0x5e1f, 6, 0, 5, Faults::steady(10));
    sim.run(2000);
    revoke(&mut sim, 0, 3);
    let heard = sim.run_until(SETTLE, |s| s.nodes[3].core().removal().is_some());
    assert!(heard, "the removed member never heard of its removal");
    let by = sim.nodes[3].core().removal().unwrap().by;
    assert_eq!(by, sim.nodes[0].peer.to_string(), "removed by the founder");
    assert!(sim.run_until(SETTLE, |s| shut_out(s, 3)));
    // Down and back, it knows it was removed: it dials nobody, and nobody lets it in.
    sim.crash(3);
    sim.restart(3);
    sim.run(3 * RESYNC_MS);
    assert!(shut_out(&sim, 3), "a removed member got in again");
}

#[test]
fn a_stranger_is_cut_off_after_its_grace_and_nothing_it_says_is_believed() {
    let mut sim = Sim::mesh(0x57a, 4, 1, 2, Faults::steady(10));
    sim.link(4, 0);
    sim.run(2000);
    assert!(!sim.is_connected(4, 0), "nobody dials a stranger");
    // The stranger dials the founder, as a joiner would, and tries every door.
    let founder = sim.nodes[0].peer;
    sim.dial(4, founder);
    sim.run(100);
    assert!(sim.is_connected(4, 0), "a stranger may connect, to join");
    let mesh = sim.nodes[0].core().membership().unwrap().id();
    let log = crate::mesh::log::Log::new(mesh);
    let sync = crate::core::acl_sync::request(&log, None, Default::default());
    let (id, request) = (io::AskId(1), io::Request::Sync(sync));
    sim.send(4, 0, Frame::Request { id, request });
    let fetch = shell::mailbox_request(weft_proto::mailbox::Op::Fetch { max_bytes: 1 << 20 });
    let (id, request) = (io::AskId(2), io::Request::Mailbox(fetch));
    sim.send(4, 0, Frame::Request { id, request });
    let message = weft_proto::dm::DirectMessage::new(
        &sim.nodes[4].peer.to_bytes(),
        &founder.to_bytes(),
        sim.now().unix_us,
        "let me in".into(),
    );
    sim.send(
        4,
        0,
        Frame::Direct {
            session: 1,
            message,
        },
    );
    // Its requests wait, unread, for an admission that never comes.
    sim.run(ADMISSION_WAIT.as_millis() as u64 + 100);
    assert_eq!(
        sim.refused(0, "sync_not_member"),
        1,
        "a stranger's sync was read"
    );
    assert_eq!(
        sim.refused(0, "mailbox_not_member"),
        1,
        "a stranger's fetch was read"
    );
    assert_eq!(sim.refused(0, "acl"), 1, "a stranger's message was taken");
    assert!(sim.nodes[0].app.shown.is_empty());
    let grace = STRANGER_GRACE.as_millis() as u64;
    assert!(
        sim.run_until(grace + 2000, |s| !s.is_connected(4, 0)),
        "the stranger stayed past its grace"
    );
    assert_eq!(sim.refused(0, "stranger"), 1);
    assert!(
        sim.nodes[4].core().membership().is_none(),
        "it heard of the mesh"
    );
}

#[test]
fn two_hundred_nodes_agree_on_a_revocation_hear_every_message_once_and_measure_idle_traffic() {
    let (n, degree) = (200, 6);
    let faults = Faults {
        loss: 20,
        min_ms: 5,
        max_ms: 120,
    };
    let mut sim = Sim::mesh(0x2000, n, 0, degree, faults);
    sim.run(2000);
    for (publisher, text) in [(0, "one"), (99, "two"), (199, "three")] {
        assert!(sim.publish(publisher, text));
    }
    revoke(&mut sim, 0, 137);
    let others: Vec<usize> = (0..n).filter(|&i| i != 137).collect();
    let settled = sim.run_until(SETTLE, |s| {
        nobody_admits(s, 137)
            && s.agreed(others.clone())
            && others.iter().all(|&i| s.nodes[i].app.shown.len() >= 2)
    });
    assert!(
        settled,
        "the revocation or the messages did not reach all {n} nodes"
    );
    for &i in &others {
        let mut texts: Vec<String> = sim.nodes[i].texts().into_iter().map(|(_, t)| t).collect();
        texts.sort();
        let mut expected = vec!["one", "three", "two"];
        expected.retain(|t| !matches!((i, *t), (0, "one") | (99, "two") | (199, "three")));
        assert_eq!(texts, expected, "node {i} was not shown every message once");
    }
    // Idle: nothing new, only the anti-entropy syncs, for half a minute (three resyncs).
    sim.run(RESYNC_MS);
    sim.reset_traffic();
    sim.run(30_000);
    let idle = sim.traffic();
    let per_node = |x: u64| 2.0 * x as f64 / n as f64;
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
        sim.run(30_000);
        sim.crash(7);
        sim.run(10_000);
        sim.restart(7);
        sim.run(30_000);
        (sim.sent.clone(), sim.refused(0, "revoked"))
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9).0, run(10).0, "the seed decides nothing");
}

#[test]
fn a_node_down_while_more_than_a_page_was_issued_catches_up_page_by_page() {
    // Two nodes and a steady network, so that only paging can bring the rest at once.
    let mut sim = Sim::mesh(0x9a9e, 2, 0, 1, Faults::steady(20));
    sim.run(1000);
    sim.crash(1);
    let mut rng = Rng::new(7);
    for _ in 0..MAX_SYNC_OPS + MAX_SYNC_OPS / 4 {
        let member = Identity::from_secret(&rng.bytes()).member_key();
        let add = OpKind::Add {
            member,
            role: Role::Guest,
            name: None,
        };
        assert!(sim.issue(0, add));
    }
    sim.run(1000);
    sim.restart(1);
    assert!(!sim.agreed([0, 1]), "the node that was down heard of them");
    // Page after page at once, not one page per resync.
    let caught_up = sim.run_until(RESYNC_MS / 2, |s| s.agreed([0, 1]));
    assert!(
        caught_up,
        "the returning node did not get every page at once"
    );
}

#[test]
fn members_learn_who_is_connected_to_whom() {
    // Three members connected to each other: node 0 knows of the connection between 1 and
    // 2 only from what they report when it syncs with them.
    let mut sim = Sim::mesh(0x11e5, 3, 0, 1, Faults::steady(20));
    sim.run(RESYNC_MS);
    let links = |sim: &Sim| -> Vec<(String, String)> {
        sim.nodes[0]
            .core()
            .links(sim.now())
            .into_iter()
            .map(|l| (l.a, l.b))
            .collect()
    };
    let (one, two) = (sim.nodes[1].peer.to_string(), sim.nodes[2].peer.to_string());
    let between = |l: &Vec<(String, String)>| {
        l.iter()
            .any(|(a, b)| (a == &one && b == &two) || (a == &two && b == &one))
    };
    assert!(
        sim.run_until(3 * RESYNC_MS, |s| between(&links(s))),
        "node 0 never heard that 1 and 2 are connected: {:?}",
        links(&sim)
    );
}

#[test]
fn a_newcomer_is_answered_by_a_member_that_hears_of_its_admission_while_it_asks() {
    // Node 1 is cut off from the founder while the newcomer joins and asks it to sync: the
    // request waits at node 1's door until the admission arrives, once the cut heals.
    let mut sim = Sim::mesh(0xadd, 2, 1, 1, Faults::steady(10));
    sim.link(2, 0);
    sim.link(2, 1);
    sim.run(1000);
    sim.partition(&[1]);
    sim.heal_pair(1, 2);
    let invite = sim.invite(0);
    sim.join(2, 0, &invite);
    let newcomer = sim.nodes[2].peer;
    let asking = sim.run_until(RESYNC_MS, |s| {
        s.join_outcome(2) == Some(Ok(())) && s.is_connected(2, 1)
    });
    assert!(asking, "the newcomer never reached node 1");
    sim.run(100);
    assert!(!sim.nodes[1].admits(&newcomer));
    sim.heal_pair(0, 1);
    sim.dial(1, sim.nodes[0].peer);
    let answered = sim.run_until(RESYNC_MS, |s| {
        s.nodes[1].admits(&newcomer) && s.agreed([0, 1, 2])
    });
    assert!(answered, "node 1 never heard of the admission");
    sim.run(ADMISSION_WAIT.as_millis() as u64);
    assert_eq!(
        sim.refused(1, "sync_not_member"),
        0,
        "the newcomer's sync was refused"
    );
}

#[test]
fn a_display_name_reaches_every_member_and_a_later_one_replaces_it() {
    let mut sim = Sim::mesh(0xd15, 3, 0, 1, Faults::steady(20));
    sim.run(RESYNC_MS);
    let shown = |sim: &Sim, node: usize, of: usize| -> Option<String> {
        let peer = sim.nodes[of].peer.to_string();
        let members = sim.nodes[node].core().members().unwrap();
        members
            .into_iter()
            .find(|m| m.peer_id == peer)?
            .display_name
    };
    for name in ["Bobby", "Robert"] {
        let set = sim.command(1, |core, now| core.display_name(Some(name.into()), now));
        assert_eq!(set.unwrap().display_name.as_deref(), Some(name));
        let heard = sim.run_until(3 * RESYNC_MS, |s| {
            (0..3).all(|i| shown(s, i, 1).as_deref() == Some(name))
        });
        assert!(heard, "not every member shows {name}");
    }
    let refused = sim.command(2, |core, now| {
        core.display_name(Some("12D3KooWfake".into()), now)
    });
    assert!(refused.is_err(), "a name taken for a PeerId");
    let cleared = sim.command(1, |core, now| core.display_name(None, now));
    assert_eq!(cleared.unwrap().display_name, None);
    assert!(sim.run_until(3 * RESYNC_MS, |s| (0..3).all(|i| shown(s, i, 1).is_none())));
}
