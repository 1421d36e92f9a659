use std::time::{Duration, Instant};

use super::*;

#[test]
fn one_collection_per_mailbox_at_a_time() {
    let mut c = Collecting::default();
    assert!(c.begin(1));
    assert!(!c.begin(1), "a second collection beside the first");
    assert!(c.begin(2));
}

#[test]
fn the_next_page_is_fetched_only_while_under_way() {
    let now = Instant::now();
    let mut c = Collecting::default();
    assert!(
        !c.ended(1, Step::More, now),
        "more from a mailbox not collected from"
    );
    c.begin(1);
    assert!(c.ended(1, Step::More, now));
    assert!(!c.ended(1, Step::Drained, now));
    assert!(c.begin(1), "drained: a later connection collects again");
}

#[test]
fn a_failed_step_is_tried_again_after_the_retry_pause() {
    let now = Instant::now();
    let mut c = Collecting::default();
    c.begin(7);
    assert!(!c.ended(7, Step::Failed, now));
    assert!(c.due(now + RETRY - Duration::from_millis(1)).is_empty());
    assert_eq!(c.due(now + RETRY), vec![7]);
    assert!(
        c.due(now + RETRY * 2).is_empty(),
        "a retry is handed out once"
    );
    assert!(c.begin(7));
}

#[test]
fn a_mailbox_gone_is_not_retried() {
    let now = Instant::now();
    let mut c = Collecting::default();
    c.begin(3);
    c.ended(3, Step::Failed, now);
    c.forget(&3);
    assert!(c.due(now + RETRY).is_empty());
}

#[test]
fn a_failure_reported_twice_schedules_one_retry() {
    let now = Instant::now();
    let mut c = Collecting::default();
    c.begin(4);
    c.ended(4, Step::Failed, now);
    c.ended(4, Step::Failed, now + RETRY);
    assert_eq!(c.due(now + RETRY), vec![4]);
}
