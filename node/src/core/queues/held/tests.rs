use super::*;

const W1: MemberKey = MemberKey([1; 32]);
const W2: MemberKey = MemberKey([2; 32]);

fn jobs() -> QueueName {
    "jobs".parse().unwrap()
}

fn delivered(effects: &[Effect]) -> Vec<(SessionId, Lease)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Deliver(session, _, lease) => Some((*session, *lease)),
            _ => None,
        })
        .collect()
}

fn pushed(held: &mut Held, n: u8, now: Instant) -> ItemId {
    let id = ItemId([n; 16]);
    held.push(jobs(), id, 10, 0, now).unwrap().unwrap();
    id
}

#[test]
fn items_go_oldest_first_to_the_session_holding_fewest_within_its_credit() {
    let now = Instant::now();
    let mut held = Held::default();
    for n in 1..=5 {
        pushed(&mut held, n, now);
    }
    let to_one = delivered(&held.want(1, W1, jobs(), 2, 5, now));
    assert_eq!(
        to_one.iter().map(|(_, l)| l.id.0[0]).collect::<Vec<_>>(),
        [1, 2]
    );
    let to_two = delivered(&held.want(2, W2, jobs(), 10, 5, now));
    assert_eq!(to_two.len(), 3, "the rest, within its credit");
    let status = held.status(&jobs());
    assert_eq!(
        (status.pending, status.in_flight, status.workers),
        (0, 5, 2)
    );
}

#[test]
fn credit_nothing_can_use_comes_back_and_a_worker_without_credit_hears_of_new_items() {
    let now = Instant::now();
    let mut held = Held::default();
    let effects = held.want(1, W1, jobs(), 3, 5, now);
    let drained = ProducerFrame::Drained {
        queue: jobs(),
        returned: 3,
    };
    assert_eq!(effects, vec![Effect::Send(1, drained)]);
    let (_, effects) = held
        .push(jobs(), ItemId([1; 16]), 1, 0, now)
        .unwrap()
        .unwrap();
    let pending = ProducerFrame::Pending {
        queue: jobs(),
        count: 1,
    };
    assert_eq!(effects, vec![Effect::Send(1, pending)]);
}

#[test]
fn only_a_worker_given_an_item_can_end_it_and_the_first_word_wins() {
    let now = Instant::now();
    let mut held = Held::default();
    let id = pushed(&mut held, 1, now);
    let lease = delivered(&held.want(1, W1, jobs(), 1, 5, now))[0].1;
    // A member that was never given it cannot acknowledge, fail or release it.
    held.done(2, &W2, &jobs(), lease);
    held.failed(2, &W2, &jobs(), lease, "no".into(), now);
    held.release(2, &W2, &jobs(), lease, now);
    assert_eq!(held.status(&jobs()).in_flight, 1);
    // Its worker's session closes; the item goes to another worker; the first worker's
    // late word still ends it, once.
    held.session_closed(1, now);
    let second = delivered(&held.want(3, W2, jobs(), 1, 5, now))[0].1;
    assert_eq!(second.attempt, 2);
    let effects = held.done(4, &W1, &jobs(), lease);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Finish(i, _) if *i == id))
    );
    let effects = held.done(3, &W2, &jobs(), second);
    assert!(!effects.iter().any(|e| matches!(e, Effect::Finish(..))));
    let status = held.status(&jobs());
    assert_eq!((status.done, status.in_flight, status.pending), (1, 0, 0));
}

#[test]
fn a_failure_backs_off_and_the_last_delivery_is_a_dead_letter() {
    let start = Instant::now();
    let mut held = Held::default();
    let id = pushed(&mut held, 1, start);
    let mut now = start;
    for attempt in 1..=3 {
        let effects = held.want(1, W1, jobs(), 1, 3, now);
        let lease = delivered(&effects)[0].1;
        assert_eq!(lease.attempt, attempt);
        held.failed(1, &W1, &jobs(), lease, format!("try {attempt}"), now);
        // Not again before its pause.
        assert!(delivered(&held.want(1, W1, jobs(), 1, 3, now)).is_empty());
        now += backoff(attempt);
        held.tick(now);
    }
    let dead = held.dead_letters(&jobs());
    assert_eq!(
        (dead.len(), dead[0].attempts, dead[0].reason.as_str()),
        (1, 3, "try 3")
    );
    assert!(held.retry(&jobs(), ItemId([9; 16]), now).is_err());
    held.retry(&jobs(), id, now).unwrap();
    assert_eq!(held.status(&jobs()).dead, 0);
    assert_eq!(backoff(1), Duration::from_millis(500));
    assert_eq!(backoff(40), BACKOFF_MAX);
}

#[test]
fn a_lease_past_its_deadline_is_lost_unless_its_worker_says_it_runs() {
    let start = Instant::now();
    let mut held = Held::default();
    pushed(&mut held, 1, start);
    pushed(&mut held, 2, start);
    let leases = delivered(&held.want(1, W1, jobs(), 2, 5, start));
    let half = start + LEASE / 2;
    held.running(1, &W1, &[leases[0].1], half);
    held.tick(start + LEASE);
    let status = held.status(&jobs());
    assert_eq!(
        (status.in_flight, status.pending),
        (1, 1),
        "the named one goes on"
    );
}

#[test]
fn what_was_on_disk_comes_back_with_its_leases_held_for_their_workers() {
    let now = Instant::now();
    let mut held = Held::default();
    let id = pushed(&mut held, 1, now);
    let other = pushed(&mut held, 2, now);
    let effects = held.want(1, W1, jobs(), 2, 5, now);
    let mut items = Vec::new();
    for effect in effects {
        if let Effect::Store(i, item) = effect {
            items.retain(|(x, _)| *x != i);
            items.push((i, item));
        }
    }
    let mut restarted = Held::load(items, Vec::new(), now);
    assert_eq!(restarted.status(&jobs()).in_flight, 2);
    // The worker names one of them on its new session, then wants more: the other one,
    // which it no longer holds, is lost at once.
    restarted.running(7, &W1, &[Lease { id, attempt: 1 }], now);
    restarted.want(7, W1, jobs(), 0, 5, now);
    let status = restarted.status(&jobs());
    assert_eq!((status.in_flight, status.pending), (1, 1));
    let effects = restarted.done(7, &W1, &jobs(), Lease { id, attempt: 1 });
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Finish(i, _) if *i == id))
    );
    assert!(restarted.knows(&other));
}

#[test]
fn a_lease_named_again_goes_back_when_its_new_session_closes() {
    let now = Instant::now();
    let mut held = Held::default();
    let id = pushed(&mut held, 1, now);
    let effects = held.want(1, W1, jobs(), 1, 5, now);
    let items: Vec<(ItemId, StoredItem)> = effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Store(i, item) => Some((i, item)),
            _ => None,
        })
        .collect();
    let mut restarted = Held::load(items, Vec::new(), now);
    restarted.running(7, &W1, &[Lease { id, attempt: 1 }], now);
    restarted.want(7, W1, jobs(), 0, 5, now);
    // The worker's new session closes well before the lease's deadline.
    restarted.session_closed(7, now);
    let status = restarted.status(&jobs());
    assert_eq!((status.in_flight, status.pending), (0, 1));
}

#[test]
fn a_push_past_the_limits_is_refused_and_a_known_id_is_not_pushed_twice() {
    let now = Instant::now();
    let mut held = Held::default();
    let id = pushed(&mut held, 1, now);
    assert_eq!(held.push(jobs(), id, 10, 0, now), Ok(None));
    let full = held.push(jobs(), ItemId([2; 16]), MAX_HELD_BYTES, 0, now);
    assert!(matches!(full, Err(PushError::Full { items: 1, .. })));
}

#[test]
fn a_worker_the_policy_no_longer_lets_work_gets_no_more_and_is_told() {
    let now = Instant::now();
    let mut held = Held::default();
    held.want(1, W1, jobs(), 10, 5, now);
    held.want(2, W2, jobs(), 10, 5, now);
    let effects = held.review(|key, _| *key == W1);
    let told = ProducerFrame::NotAllowed { queue: jobs() };
    assert_eq!(effects, [Effect::Send(2, told)]);
    for n in 1..=4 {
        let id = pushed(&mut held, n, now);
        assert!(held.items[&id].holders.iter().all(|(_, key)| *key == W1));
    }
}

#[test]
fn a_session_pulls_a_bounded_number_of_queues() {
    let now = Instant::now();
    let mut held = Held::default();
    for n in 0..MAX_QUEUES_PER_SESSION {
        let queue: QueueName = format!("q{n}").parse().unwrap();
        assert!(held.takes(1, &queue));
        held.want(1, W1, queue, 1, 5, now);
    }
    assert!(
        held.takes(1, &"q0".parse().unwrap()),
        "one it pulls already"
    );
    assert!(!held.takes(1, &"one-more".parse().unwrap()));
    assert!(
        held.takes(2, &"one-more".parse().unwrap()),
        "another session"
    );
}
