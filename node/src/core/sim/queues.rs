//! Work queues across simulated nodes: items pushed at two producers and worked by three
//! workers are each acknowledged exactly once across crashes of a worker and a producer,
//! and reach a second worker only where the first crashed or failed it; a worker never
//! holds more than its credit; a failing item becomes a dead letter after its deliveries
//! and a retry sends it back; a worker the policy does not name gets nothing.

use std::collections::BTreeMap;

use weft_proto::queue::QueueName;

use super::pulls::Worker;
use super::*;
use crate::core::queues::working::WorkOpts;

const STEADY: Worker = Worker {
    took_ms: (5, 40),
    fails_marked: false,
};

fn opts(concurrency: u32) -> WorkOpts {
    WorkOpts {
        concurrency,
        prefetch: 1,
        max_deliver: 5,
    }
}

fn jobs() -> QueueName {
    "jobs".parse().unwrap()
}

/// Five members, every pair linked.
fn five(seed: u64) -> Sim {
    let mut sim = Sim::mesh(seed, 5, 0, 4, Faults::steady(1));
    sim.run(1500);
    sim
}

/// `node` pushes `body` (its key too) until its caller is told it is on disk, pushing again
/// after a crash as a client that did not hear back would.
fn push_surely(sim: &mut Sim, node: usize, body: &str) {
    for _ in 0..100 {
        if !sim.nodes[node].is_up() {
            sim.run(50);
            continue;
        }
        let (_, _, mark) = sim.push(node, "jobs", body.as_bytes(), Some(body)).unwrap();
        for _ in 0..20 {
            sim.run(5);
            if sim.nodes[node].durable(&mark) {
                return;
            }
            if !sim.nodes[node].is_up() {
                break;
            }
        }
    }
    panic!("{body} was never pushed");
}

/// Whether every producer holds nothing of `jobs` but `done` acknowledged items.
fn drained(sim: &Sim, producers: &[usize], done: u64) -> bool {
    producers.iter().all(|&p| {
        let n = &sim.nodes[p];
        n.is_up() && {
            let s = n.core().queue_status(&jobs());
            s.pending == 0 && s.in_flight == 0 && s.dead == 0 && s.done == done
        }
    })
}

/// The runs of each item at `workers`, by its body, first run first.
fn runs<'a>(sim: &'a Sim, workers: &[usize]) -> BTreeMap<Vec<u8>, Vec<(usize, &'a pulls::Ran)>> {
    let mut runs: BTreeMap<Vec<u8>, Vec<(usize, &pulls::Ran)>> = BTreeMap::new();
    for &w in workers {
        for ran in &sim.nodes[w].app.worked {
            runs.entry(ran.body.clone()).or_default().push((w, ran));
        }
    }
    for ran in runs.values_mut() {
        ran.sort_by_key(|(_, run)| run.started);
    }
    runs
}

#[test]
fn every_item_is_acknowledged_once_across_crashes_and_rerun_only_after_a_crash() {
    let mut sim = five(0x9e0e);
    let workers = [2, 3, 4];
    for w in workers {
        sim.work(w, "jobs", opts(3), STEADY);
    }
    for n in 0..150 {
        for p in [0, 1] {
            push_surely(&mut sim, p, &format!("p{p}-{n}"));
        }
        if n % 25 == 10 {
            // Down while it holds leases (some just written, some not yet on disk), back
            // before the workers' deadlines.
            sim.run(n % 7);
            sim.crash(1);
            sim.run(800);
            sim.restart(1);
        }
        match n {
            40 => sim.crash(3),
            60 => {
                sim.restart(3);
                sim.work(3, "jobs", opts(3), STEADY);
            }
            100 => sim.crash(4),
            _ => {}
        }
    }
    let ok = sim.run_until(120_000, |sim| drained(sim, &[0, 1], 150));
    let status: Vec<_> = [0, 1]
        .iter()
        .map(|&p| sim.nodes[p].core().queue_status(&jobs()))
        .collect();
    assert!(ok, "not drained: {status:?}");

    // Every item ran; an item that ran twice ran first where its worker then crashed.
    let runs = runs(&sim, &workers);
    assert_eq!(runs.len(), 300, "every item ran");
    for (body, ran) in &runs {
        for (w, run) in &ran[..ran.len() - 1] {
            let died = run.epoch < sim.nodes[*w].epoch;
            let failed = run.ended.is_some_and(|(_, ok)| !ok);
            assert!(
                died || failed,
                "{} ran again though its run at {w} neither died nor failed: {ran:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
    let again = runs.values().filter(|r| r.len() > 1).count();
    println!("queues: 300 items acknowledged once each; {again} ran again after a crash");
}

#[test]
fn a_producer_back_before_its_workers_found_it_gone_has_each_item_run_once() {
    for seed in [0x5e55, 0x5e56, 0x5e57, 0x5e58] {
        // The workers find their sessions to the producer ended a second and a half after
        // it went (over QUIC a dead peer says nothing), and hear of it 20 ms later (a busy
        // event loop): it is back, and they are connected to it again, before.
        let mut sim = three_working(seed, (1500, 20));
        for n in 0..120 {
            for p in [0, 1] {
                push_surely(&mut sim, p, &format!("p{p}-{n}"));
            }
            if n % 30 == 10 {
                sim.crash(1);
                sim.run(300);
                sim.restart(1);
            }
        }
        each_ran_once(&mut sim, seed);
    }
}

#[test]
fn members_reconnected_for_deaf_gossip_keep_what_they_run_and_each_item_runs_once() {
    for seed in [0x4ea1, 0x4ea2, 0x4ea3, 0x4ea4] {
        // A worker finds its session to the producer ended at once, and hears of it 300 ms
        // later (a busy event loop): what it decided meanwhile meets the producer connected
        // again.
        let mut sim = three_working(seed, (1, 300));
        let workers = WORKERS;
        let before: Vec<u32> = workers.iter().map(|&w| sim.established(w, 0)).collect();
        for n in 0..120 {
            for p in [0, 1] {
                push_surely(&mut sim, p, &format!("p{p}-{n}"));
            }
            // Gossip deaf both ways, reported as the event loop does (again while it
            // lasts): producer 1 reconnects a worker while it runs items of it, and a
            // worker reconnects producer 0 while it runs items of it.
            let worker = workers[n / 10 % 3];
            match n % 10 {
                5 => {
                    let peer = sim.nodes[worker].peer;
                    sim.input(1, Input::Deaf { peer });
                }
                0..=3 => {
                    let peer = sim.nodes[0].peer;
                    sim.input(worker, Input::Deaf { peer });
                }
                _ => {}
            }
        }
        each_ran_once(&mut sim, seed);
        for (i, &w) in workers.iter().enumerate() {
            let again = sim.established(w, 0) - before[i];
            assert!(
                again >= 2,
                "seed {seed:#x}: {w} reconnected producer 0 {again} times"
            );
        }
    }
}

/// The workers of the tests where no worker dies.
const WORKERS: [usize; 3] = [2, 3, 4];

/// [`five`] from `seed`, its workers learning as late as `late` that a session to a
/// producer ended ([`Sim::producer_end_late`]), nodes 2 to 4 working `jobs`.
fn three_working(seed: u64, late: (u64, u64)) -> Sim {
    let mut sim = five(seed);
    sim.producer_end_late = late;
    for w in WORKERS {
        sim.work(w, "jobs", opts(3), STEADY);
    }
    sim
}

/// Runs `sim` until its producers hold nothing of the 240 items pushed, and checks that
/// each ran once (no worker died, none failed an item).
fn each_ran_once(sim: &mut Sim, seed: u64) {
    let ok = sim.run_until(120_000, |sim| drained(sim, &[0, 1], 120));
    assert!(ok, "seed {seed:#x}: not drained");
    let runs = runs(sim, &WORKERS);
    assert_eq!(runs.len(), 240, "every item ran");
    for (body, ran) in &runs {
        assert_eq!(
            ran.len(),
            1,
            "seed {seed:#x}: {} ran again though its worker lived: {ran:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn a_worker_never_holds_more_than_its_credit() {
    let mut sim = five(0xc4ed);
    let slow = Worker {
        took_ms: (50, 80),
        fails_marked: false,
    };
    sim.work(2, "jobs", opts(2), slow);
    for n in 0..60 {
        for p in [0, 1] {
            sim.push(p, "jobs", format!("{p}-{n}").as_bytes(), None)
                .unwrap();
        }
    }
    let mut most = 0;
    let ok = sim.run_until(60_000, |sim| {
        let held = sim.nodes[2].core().queue_status(&jobs()).working;
        most = most.max(held);
        drained(sim, &[0, 1], 60)
    });
    assert!(ok);
    assert!(most <= 3, "at most concurrency + prefetch: {most}");
    assert!(most >= 2, "it ran at its concurrency: {most}");
}

#[test]
fn a_failing_item_becomes_a_dead_letter_after_its_deliveries_and_a_retry_sends_it_back() {
    let mut sim = five(0xdead);
    let failing = Worker {
        took_ms: (1, 5),
        fails_marked: true,
    };
    let w = sim.work(
        2,
        "jobs",
        WorkOpts {
            max_deliver: 3,
            ..opts(2)
        },
        failing,
    );
    sim.push(0, "jobs", b"fail-me", None).unwrap();
    sim.push(0, "jobs", b"fine", None).unwrap();
    let ok = sim.run_until(30_000, |sim| {
        let s = sim.nodes[0].core().queue_status(&jobs());
        s.dead == 1 && s.done == 1
    });
    assert!(ok, "{:?}", sim.nodes[0].core().queue_status(&jobs()));
    let dead = sim.nodes[0].core().dead_letters(&jobs());
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].attempts, dead[0].reason.as_str()),
        (3, "marked to fail")
    );
    let tries = sim.nodes[2]
        .app
        .worked
        .iter()
        .filter(|r| r.body == b"fail-me")
        .count();
    assert_eq!(tries, 3, "delivered exactly max-deliver times");

    // A worker that no longer fails it: the retry is acknowledged.
    sim.command(2, |core, _| core.stop_work(w));
    sim.work(3, "jobs", opts(1), STEADY);
    let id = dead[0].id.parse().unwrap();
    sim.command(0, |core, now| core.retry(&jobs(), id, now))
        .unwrap();
    let ok = sim.run_until(10_000, |sim| {
        let s = sim.nodes[0].core().queue_status(&jobs());
        s.dead == 0 && s.done == 2
    });
    assert!(ok, "{:?}", sim.nodes[0].core().queue_status(&jobs()));
}

#[test]
fn a_worker_the_policy_does_not_name_gets_nothing_and_is_counted() {
    let mut sim = five(0x9011);
    // Node 3 starts working before the policy (its node may then), node 2 is named.
    sim.work(3, "jobs", opts(2), STEADY);
    let named = sim.nodes[2].peer.to_string();
    let set = sim.command(0, |core, now| {
        let policy = crate::core::Policy::Queue {
            queue: jobs(),
            push: vec![],
            work: vec![named],
        };
        core.policy(policy, now)
    });
    assert!(set.is_ok(), "{set:?}");
    sim.run(2000);
    sim.work(2, "jobs", opts(2), STEADY);
    for n in 0..20 {
        sim.push(0, "jobs", format!("{n}").as_bytes(), None)
            .unwrap();
    }
    assert!(sim.run_until(20_000, |sim| drained(sim, &[0], 20)));
    assert_eq!(
        sim.nodes[3].app.worked.len(),
        0,
        "the unnamed worker ran nothing"
    );
    assert_eq!(sim.nodes[2].app.worked.len(), 20);
    assert!(sim.refused(0, "queue_not_allowed") >= 1);
    let refused = sim
        .command(4, |core, _| core.work(jobs(), opts(1)))
        .map(|_| ());
    let refused = refused.unwrap_err().to_string();
    assert!(refused.contains("policy of queue `jobs`"), "{refused}");
}

#[test]
fn a_push_with_a_known_key_is_not_enqueued_again() {
    let mut sim = five(0x1d);
    let (id, new, _) = sim.push(0, "jobs", b"a", Some("k1")).unwrap();
    assert!(new);
    let (again, new, _) = sim.push(0, "jobs", b"other body", Some("k1")).unwrap();
    assert_eq!((again, new), (id, false));
    sim.work(2, "jobs", opts(1), STEADY);
    assert!(sim.run_until(10_000, |sim| drained(sim, &[0], 1)));
    let (_, new, _) = sim.push(0, "jobs", b"a", Some("k1")).unwrap();
    assert!(!new, "done items are remembered");
}
