use super::*;

fn jobs() -> QueueName {
    "jobs".parse().unwrap()
}

fn opts() -> WorkOpts {
    WorkOpts {
        concurrency: 2,
        prefetch: 1,
        max_deliver: 5,
    }
}

fn wants(effects: &[Effect]) -> Vec<(PeerId, u32)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(peer, WorkerFrame::Want { credit, .. }) => Some((*peer, *credit)),
            _ => None,
        })
        .collect()
}

fn lease(n: u8) -> Lease {
    Lease {
        id: ItemId([n; 16]),
        attempt: 1,
    }
}

#[test]
fn credit_is_spread_over_producers_with_ready_items_and_never_exceeds_the_capacity() {
    let (a, b) = (PeerId::random(), PeerId::random());
    let mut working = Working::default();
    working.work(jobs(), opts()).unwrap();
    // Records say 10 ready at each: one item's credit each, until they say so themselves.
    let effects = working.producers(&jobs(), vec![(a, 10), (b, 10)], |_| true);
    let mut given = wants(&effects);
    given.sort();
    let mut each = vec![(a, 1), (b, 1)];
    each.sort();
    assert_eq!(given, each);
    let given = wants(&working.pending(a, &jobs(), 10));
    assert_eq!(given, [(a, 1)], "the capacity is 3");
    // Nothing more while all of it is out.
    assert!(wants(&working.pending(b, &jobs(), 10)).is_empty());
}

#[test]
fn credit_a_producer_holds_without_a_word_goes_to_another() {
    let (a, b) = (PeerId::random(), PeerId::random());
    let mut working = Working::default();
    working.work(jobs(), opts()).unwrap();
    working.producers(&jobs(), vec![(a, 1)], |_| true);
    working.pending(a, &jobs(), 100);
    working.producers(&jobs(), vec![(a, 1), (b, 1)], |_| true);
    let start = Instant::now();
    assert!(working.tick(start).is_empty());
    // b has items too, but a holds all the credit and sends nothing.
    assert!(wants(&working.pending(b, &jobs(), 5)).is_empty());
    let effects = working.tick(start + CREDIT_IDLE);
    assert_eq!(wants(&effects), [(b, 3)]);
    // a, on probation, gets one item's credit at a time until it sends an item.
    working.pending(a, &jobs(), 100);
    assert_eq!(wants(&working.drained(b, &jobs(), 3)), [(a, 1)]);
    working.item(a, jobs(), lease(1), vec![]);
    assert_eq!(wants(&working.pending(a, &jobs(), 100)), [(a, 2)]);
}

#[test]
fn a_worker_never_holds_out_more_credit_than_a_producer_keeps() {
    let a = PeerId::random();
    let mut working = Working::default();
    let greedy = WorkOpts {
        concurrency: u32::MAX,
        prefetch: u32::MAX,
        max_deliver: 5,
    };
    working.work(jobs(), greedy).unwrap();
    let effects = working.producers(&jobs(), vec![(a, u32::MAX)], |_| true);
    assert_eq!(
        wants(&effects),
        [(a, 1)],
        "a record earns one item's credit"
    );
    let effects = working.pending(a, &jobs(), u32::MAX);
    assert_eq!(wants(&effects), [(a, MAX_CREDIT - 1)]);
}

#[test]
fn items_run_at_the_concurrency_and_results_are_said_again_on_a_new_session() {
    let a = PeerId::random();
    let mut working = Working::default();
    let worker = working.work(jobs(), opts()).unwrap();
    working.producers(&jobs(), vec![(a, 3)], |_| true);
    working.pending(a, &jobs(), 2);
    let mut runs = Vec::new();
    for n in 1..=3 {
        for effect in working.item(a, jobs(), lease(n), vec![n]) {
            if let Effect::Run { run, worker: w, .. } = effect {
                assert_eq!(w, worker);
                runs.push(run);
            }
        }
    }
    assert_eq!(runs.len(), 2, "two at once, the third waits");
    let effects = working.finished(runs[0], Ok(()));
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Run { .. })),
        "the third runs"
    );
    // The session closes before the producer settled the result: it is said again.
    working.lost(a);
    let effects = working.producers(&jobs(), vec![(a, 0)], |_| true);
    let done = WorkerFrame::Done {
        queue: jobs(),
        lease: lease(1),
    };
    assert!(effects.contains(&Effect::Send(a, done)));
    assert!(effects.iter().any(
        |e| matches!(e, Effect::Send(_, WorkerFrame::Running { leases, .. }) if leases.len() == 2)
    ));
    working.settled(a, &jobs(), lease(1).id);
    let effects = working.producers(&jobs(), vec![(a, 0)], |_| true);
    assert!(effects.is_empty(), "registered already");
}

#[test]
fn an_item_nobody_asked_for_goes_back_and_a_stopped_worker_releases_what_it_held() {
    let a = PeerId::random();
    let mut working = Working::default();
    let release = |n| {
        Effect::Send(
            a,
            WorkerFrame::Release {
                queue: jobs(),
                lease: lease(n),
            },
        )
    };
    assert_eq!(working.item(a, jobs(), lease(1), vec![]), vec![release(1)]);
    let worker = working.work(jobs(), opts()).unwrap();
    working.producers(&jobs(), vec![(a, 1)], |_| true);
    working.item(a, jobs(), lease(2), vec![]);
    // On a session of its own if none is open.
    assert_eq!(working.stop(worker), vec![Effect::Open(a), release(2)]);
}

#[test]
fn a_producer_drained_to_reconnect_gets_no_credit_until_its_draining_ends() {
    let a = PeerId::random();
    let mut working = Working::default();
    working.work(jobs(), opts()).unwrap();
    working.producers(&jobs(), vec![(a, 1)], |_| true);
    let effects = working.item(a, jobs(), lease(1), vec![]);
    let run = effects
        .iter()
        .find_map(|e| match e {
            Effect::Run { run, .. } => Some(*run),
            _ => None,
        })
        .unwrap();
    assert_eq!(wants(&working.pending(a, &jobs(), 10)), [(a, 2)]);
    let start = Instant::now();
    let until = start + Duration::from_secs(15);
    assert!(working.drain(&a, until), "it runs an item of a");
    // An item sent on credit given before goes back; none is given meanwhile.
    let release = WorkerFrame::Release {
        queue: jobs(),
        lease: lease(2),
    };
    assert_eq!(
        working.item(a, jobs(), lease(2), vec![]),
        [Effect::Send(a, release)]
    );
    assert!(wants(&working.pending(a, &jobs(), 10)).is_empty());
    assert!(wants(&working.finished(run, Ok(()))).is_empty());
    assert!(!working.drain(&a, until), "it holds nothing of a now");
    assert!(wants(&working.tick(start)).is_empty());
    // Its draining over, it is asked for an item again.
    assert_eq!(wants(&working.tick(until)), [(a, 1)]);
}
