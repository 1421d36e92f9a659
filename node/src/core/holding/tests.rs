use std::time::Duration;

use super::*;

fn held(to: u8, at: u64, id: u8, size: usize, expires: u64) -> BoxInfo {
    BoxInfo {
        to: MemberKey([to; 32]),
        id: [id; 32],
        at,
        expires,
        size,
        from: MemberKey([100 + to; 32]),
    }
}

fn ids(boxes: &[BoxInfo]) -> Vec<u8> {
    boxes.iter().map(|b| b.id[0]).collect()
}

#[test]
fn a_fetch_hands_over_oldest_first_within_its_caps_and_one_at_least() {
    let h = Holding::of([
        held(1, 2, 20, 10, 100),
        held(1, 1, 10, 10, 100),
        held(1, 3, 30, 10, 100),
        held(2, 1, 40, 10, 100),
    ]);
    let all = h.fetch(&MemberKey([1; 32]), 1000, 10, 0);
    assert_eq!((ids(&all.boxes), all.more), (vec![10, 20, 30], false));
    let by_bytes = h.fetch(&MemberKey([1; 32]), 25, 10, 0);
    assert_eq!((ids(&by_bytes.boxes), by_bytes.more), (vec![10, 20], true));
    let by_count = h.fetch(&MemberKey([1; 32]), 1000, 1, 0);
    assert_eq!((ids(&by_count.boxes), by_count.more), (vec![10], true));
    let tiny = h.fetch(&MemberKey([1; 32]), 1, 10, 0);
    assert_eq!(
        ids(&tiny.boxes),
        vec![10],
        "one box even when over the bytes"
    );
    assert_eq!(h.fetch(&MemberKey([3; 32]), 1000, 10, 0), Fetch::default());
}

#[test]
fn expired_boxes_are_not_handed_over_but_named_for_dropping() {
    let h = Holding::of([held(1, 1, 10, 10, 50), held(1, 2, 20, 10, 100)]);
    let fetch = h.fetch(&MemberKey([1; 32]), 1000, 10, 50);
    assert_eq!(ids(&fetch.boxes), vec![20]);
    assert_eq!(ids(&fetch.expired), vec![10]);
    assert_eq!(ids(&h.expired(50)), vec![10]);
    assert_eq!(ids(&h.expired(100)), vec![10, 20]);
}

#[test]
fn a_box_is_held_once_and_its_release_frees_its_quota() {
    let limits = MailboxLimits {
        max_messages: 1,
        max_bytes: 100,
        ttl: Duration::from_secs(60),
    };
    let mut h = Holding::default();
    let (to, from) = (MemberKey([1; 32]), MemberKey([101; 32]));
    assert_eq!(h.full(&to, &from, 10, limits), None);
    h.hold(held(1, 1, 10, 10, 100));
    h.hold(held(1, 5, 10, 10, 100));
    assert!(h.holds(&to, &[10; 32]));
    assert_eq!(h.total().messages, 1, "the same id twice is held once");
    assert!(h.full(&to, &from, 10, limits).is_some());
    assert_eq!(h.release(&to, &[10; 32]).map(|b| b.at), Some(1));
    assert_eq!(h.release(&to, &[10; 32]), None);
    assert!(h.is_empty() && !h.holds(&to, &[10; 32]));
    assert_eq!(h.full(&to, &from, 10, limits), None);
}

#[test]
fn a_deposit_is_held_within_the_quota_and_the_mailboxs_lifetime() {
    let limits = MailboxLimits {
        max_messages: 2,
        max_bytes: 1000,
        ttl: Duration::from_secs(60),
    };
    let mut h = Holding::default();
    let deposit = |id: u8, from: u8| Deposit {
        to: MemberKey([1; 32]),
        from: MemberKey([from; 32]),
        id: [id; 32],
        size: 10,
        expires: 10_000,
    };
    let now_us = 1_000 * 1_000_000;
    let held = h
        .deposit(deposit(1, 7), limits, true, true, now_us)
        .unwrap();
    let held = held.expect("a new box");
    assert_eq!(
        (held.at, held.expires),
        (now_us, 1_060),
        "capped at the TTL"
    );
    assert_eq!(
        h.deposit(deposit(1, 7), limits, true, true, now_us),
        Ok(None)
    );
    assert_eq!(h.total().messages, 1, "a deposit made twice is held once");
    assert!(
        h.deposit(deposit(2, 8), limits, true, true, now_us)
            .unwrap()
            .is_some()
    );
    let full = h
        .deposit(deposit(3, 9), limits, true, true, now_us)
        .unwrap_err();
    assert!(matches!(full, Refusal::Full(_)), "{full}");
    assert_eq!(full.counted(), Some("mailbox_full"));
    let refused = h.deposit(deposit(4, 7), limits, false, true, now_us);
    assert_eq!(refused, Err(Refusal::NotAMailbox));
    let refused = h.deposit(deposit(4, 7), limits, true, false, now_us);
    assert_eq!(refused, Err(Refusal::NotAMember));
    assert_eq!(h.total().messages, 2, "nothing refused was held");
    assert_eq!(check(MAX_SEALED_BYTES + 1, 10, 0), Err(Refusal::Oversize));
    assert_eq!(check(10, 5, 5), Err(Refusal::Expired));
    assert_eq!(check(10, 6, 5), Ok(()));
}
