use std::time::{Duration, Instant};

use super::{IDLE, Keep, MIN_CAP, SYNC_ROUND};

#[test]
fn a_quarter_of_the_cap_stands_picked_by_this_node() {
    let mut keep: Keep<u32> = Keep::new(32, 1);
    assert_eq!((keep.cap(), keep.standing()), (32, 8));
    assert_eq!(keep.wanted(), 8);
    let picked = keep.pick_standing(vec![1, 2, 3]);
    assert_eq!(picked.len(), 3);
    assert!(picked.iter().all(|p| keep.is_standing(p)));
    assert_eq!(keep.wanted(), 5, "members picked count, connected or not");
    assert_eq!(keep.pick_standing((10..100).collect()).len(), 5);
    assert_eq!(keep.wanted(), 0, "all picked: nothing more to dial");
    keep.unpick(&picked[0]);
    assert_eq!(
        keep.wanted(),
        1,
        "a standing member that failed is replaced"
    );
    let tiny: Keep<u32> = Keep::new(0, 1);
    assert_eq!(tiny.cap(), MIN_CAP);
    assert!(tiny.standing() >= 1);
}

#[test]
fn picks_are_distinct_members_of_the_candidates() {
    let mut keep: Keep<u32> = Keep::new(32, 7);
    let candidates: Vec<u32> = (0..100).collect();
    let mut picked = keep.pick(candidates.clone(), 8);
    assert_eq!(picked.len(), 8);
    picked.sort();
    picked.dedup();
    assert_eq!(picked.len(), 8, "no member picked twice");
    assert!(picked.iter().all(|p| candidates.contains(p)));
    assert_eq!(
        keep.pick(vec![1, 2], 8).len(),
        2,
        "fewer candidates than wanted"
    );
    assert_eq!(keep.sync_round(candidates).len(), SYNC_ROUND);
}

#[test]
fn only_the_idle_surplus_over_the_cap_is_closed_longest_idle_first() {
    let t0 = Instant::now();
    let mut keep: Keep<u32> = Keep::new(4, 1);
    assert_eq!(keep.pick_standing(vec![6]), vec![6]);
    let connected: Vec<u32> = (0..7).collect();
    for (i, p) in connected.iter().enumerate() {
        keep.used(*p, t0 + Duration::from_secs(i as u64));
    }
    let at_cap = keep.surplus(&connected[..4], t0 + IDLE * 10, |_| false);
    assert!(at_cap.is_empty(), "at the cap: nothing closed");
    let fresh = keep.surplus(&connected, t0, |_| false);
    assert!(fresh.is_empty(), "nobody idle yet: nothing closed");
    let later = t0 + IDLE + Duration::from_secs(3);
    // Idle now: 0..=3 (used at t0..t0+3 s); 2 is busy.
    assert_eq!(keep.surplus(&connected, later, |p| *p == 2), vec![0, 1, 3]);
    keep.used(0, later);
    assert_eq!(keep.surplus(&connected, later, |_| false), vec![1, 2, 3]);
    keep.gone(&1);
    assert_eq!(keep.surplus(&connected, later, |_| false), vec![2, 3]);
    let much_later = later + IDLE * 10;
    let closed = keep.surplus(&connected, much_later, |_| false);
    assert!(
        !closed.contains(&6),
        "a standing member is never closed as surplus"
    );
}
