use std::time::Instant;

use libp2p::PeerId;
use weft_proto::sync::{DirectoryMark, PeerAddrs};

use super::{Directory, REFRESH};

fn entry(peer: PeerId, addr: &str) -> (PeerId, PeerAddrs) {
    let addrs = vec![addr.to_string()];
    let entry = PeerAddrs {
        peer: peer.to_bytes(),
        addrs,
        card: None,
        name: None,
        topics: Vec::new(),
    };
    (peer, entry)
}

fn addrs(sent: &[PeerAddrs]) -> Vec<&str> {
    sent.iter().map(|e| e.addrs[0].as_str()).collect()
}

#[test]
fn an_asker_is_sent_only_what_changed_since_its_mark() {
    let (a, b, asker) = (PeerId::random(), PeerId::random(), PeerId::random());
    let mut dir = Directory::new(7);
    let now = vec![entry(a, "/a1"), entry(b, "/b1"), entry(asker, "/me")];
    let (all, mark) = dir.changes(now.clone(), &asker, None, 256);
    assert_eq!(
        addrs(&all),
        ["/a1", "/b1"],
        "everything but the asker's own entry"
    );
    let (none, same) = dir.changes(now, &asker, Some(mark), 256);
    assert!(none.is_empty(), "nothing changed: nothing sent");
    assert_eq!(same, mark);
    let moved = vec![entry(a, "/a1"), entry(b, "/b2")];
    let (moved, _) = dir.changes(moved, &asker, Some(mark), 256);
    assert_eq!(addrs(&moved), ["/b2"], "only the entry that changed");
}

#[test]
fn answering_others_does_not_renumber_an_askers_entry() {
    let (a, b) = (PeerId::random(), PeerId::random());
    let mut dir = Directory::new(7);
    let now = || vec![entry(a, "/a1"), entry(b, "/b1")];
    let (_, mark) = dir.changes(now(), &a, None, 256);
    dir.changes(now(), &b, None, 256);
    let (again, _) = dir.changes(now(), &a, Some(mark), 256);
    assert!(again.is_empty(), "b's entry did not change by a asking");
}

#[test]
fn a_lost_answer_or_a_restarted_answerer_sends_again() {
    let (a, asker) = (PeerId::random(), PeerId::random());
    let mut dir = Directory::new(7);
    let (_, mark) = dir.changes(vec![entry(a, "/a1")], &asker, None, 256);
    // The answer that carried /a2 was lost: the asker asks again with its old mark.
    let (lost, _) = dir.changes(vec![entry(a, "/a2")], &asker, Some(mark), 256);
    let (again, _) = dir.changes(vec![entry(a, "/a2")], &asker, Some(mark), 256);
    assert_eq!(addrs(&lost), addrs(&again));
    let mut restarted = Directory::new(8);
    let (all, _) = restarted.changes(vec![entry(a, "/a2")], &asker, Some(mark), 256);
    assert_eq!(
        addrs(&all),
        ["/a2"],
        "a mark of another run counts for nothing"
    );
}

#[test]
fn a_capped_answer_goes_on_where_it_stopped() {
    let asker = PeerId::random();
    let peers: Vec<PeerId> = (0..10).map(|_| PeerId::random()).collect();
    let current = || {
        (peers.iter().enumerate())
            .map(|(i, p)| entry(*p, &format!("/{i}")))
            .collect::<Vec<_>>()
    };
    let mut dir = Directory::new(7);
    let mut mark: Option<DirectoryMark> = None;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (page, next) = dir.changes(current(), &asker, mark, 4);
        assert!(page.len() <= 4);
        seen.extend(addrs(&page).into_iter().map(String::from));
        mark = Some(next);
    }
    seen.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("/{i}")).collect();
    expected.sort();
    assert_eq!(
        seen, expected,
        "three pages of four bring all ten, each once"
    );
    let (rest, _) = dir.changes(current(), &asker, mark, 4);
    assert!(rest.is_empty());
}

#[test]
fn marks_are_kept_per_answerer_bounded_and_refreshed() {
    let t0 = Instant::now();
    let mut dir = Directory::new(1);
    let a = PeerId::random();
    let mark = DirectoryMark { run: 3, upto: 9 };
    dir.reached(a, mark, t0);
    assert_eq!(dir.mark(&a), Some(mark));
    let b = PeerId::random();
    dir.expire(t0, |_| true);
    dir.reached(b, mark, t0 + REFRESH / 4);
    let later = DirectoryMark { run: 3, upto: 12 };
    dir.reached(a, later, t0 + REFRESH / 2);
    dir.expire(t0 + REFRESH / 2, |_| true);
    assert_eq!(dir.mark(&a), Some(later), "not yet");
    dir.expire(t0 + REFRESH, |p| *p != a);
    assert_eq!(
        dir.mark(&a),
        Some(later),
        "only answerers still connected are refreshed"
    );
    assert_eq!(dir.mark(&b), None, "the oldest connected one is");
    dir.reached(b, mark, t0 + REFRESH);
    dir.expire(t0 + REFRESH * 2, |_| true);
    let why = "a mark ages from the whole directory it builds on";
    assert_eq!(dir.mark(&a), None, "{why}");
    assert_eq!(dir.mark(&b), Some(mark), "one mark forgotten per refresh");
    for _ in 0..super::MAX_MARKS + 1 {
        dir.reached(PeerId::random(), mark, t0);
    }
    assert!(dir.marks.len() <= super::MAX_MARKS);
    dir.forget(&a);
    assert_eq!(dir.mark(&a), None);
}

#[test]
fn runs_differ_by_start_and_say_nothing_of_the_seed() {
    assert_ne!(super::run(1, 10), super::run(1, 11));
    assert_ne!(super::run(1, 10), super::run(2, 10));
    assert_ne!(super::run(0, 0), 0);
}
