use libp2p::PeerId;
use weft_proto::sync::{DirectoryMark, PeerAddrs};

use super::Directory;

fn entry(peer: PeerId, addr: &str) -> (PeerId, PeerAddrs) {
    let addrs = vec![addr.to_string()];
    let entry = PeerAddrs {
        peer: peer.to_bytes(),
        addrs,
        card: None,
        name: None,
    };
    (peer, entry)
}

fn addrs(sent: &[PeerAddrs]) -> Vec<&str> {
    sent.iter().map(|e| e.addrs[0].as_str()).collect()
}

#[test]
fn an_asker_is_sent_only_what_changed_since_its_mark() {
    let (a, b) = (PeerId::random(), PeerId::random());
    let mut dir = Directory::new(7);
    let (all, mark) = dir.changes(vec![entry(a, "/a1"), entry(b, "/b1")], None, 256);
    assert_eq!(all.len(), 2, "a first sync brings everything");
    let (none, same) = dir.changes(vec![entry(a, "/a1"), entry(b, "/b1")], Some(mark), 256);
    assert!(none.is_empty(), "nothing changed: nothing sent");
    assert_eq!(same, mark);
    let (moved, _) = dir.changes(vec![entry(a, "/a1"), entry(b, "/b2")], Some(mark), 256);
    assert_eq!(addrs(&moved), ["/b2"], "only the entry that changed");
}

#[test]
fn a_lost_answer_or_a_restarted_answerer_sends_again() {
    let a = PeerId::random();
    let mut dir = Directory::new(7);
    let (_, mark) = dir.changes(vec![entry(a, "/a1")], None, 256);
    // The answer that carried /a2 was lost: the asker asks again with its old mark.
    let (lost, _) = dir.changes(vec![entry(a, "/a2")], Some(mark), 256);
    let (again, _) = dir.changes(vec![entry(a, "/a2")], Some(mark), 256);
    assert_eq!(addrs(&lost), addrs(&again));
    let mut restarted = Directory::new(8);
    let (all, _) = restarted.changes(vec![entry(a, "/a2")], Some(mark), 256);
    assert_eq!(
        addrs(&all),
        ["/a2"],
        "a mark of another run counts for nothing"
    );
}

#[test]
fn a_capped_answer_goes_on_where_it_stopped() {
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
        let (page, next) = dir.changes(current(), mark, 4);
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
    let (rest, _) = dir.changes(current(), mark, 4);
    assert!(rest.is_empty());
}

#[test]
fn marks_are_kept_per_answerer_and_bounded() {
    let mut dir = Directory::new(1);
    let a = PeerId::random();
    let mark = DirectoryMark { run: 3, upto: 9 };
    dir.reached(a, mark);
    assert_eq!(dir.mark(&a), Some(mark));
    for _ in 0..super::MAX_MARKS + 1 {
        dir.reached(PeerId::random(), mark);
    }
    assert!(dir.marks.len() <= super::MAX_MARKS);
    dir.forget(&a);
    assert_eq!(dir.mark(&a), None);
}
