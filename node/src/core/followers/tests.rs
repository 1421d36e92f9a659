use libp2p::PeerId;
use weft_proto::sync::MAX_FOLLOWED_TOPICS;
use weft_proto::topic::TopicName;

use super::{Followers, TOPIC_LINKS};

fn topic(name: &str) -> TopicName {
    name.parse().expect("a topic")
}

#[test]
fn a_members_own_word_outranks_what_others_say_and_only_it_is_relayed() {
    let (a, b) = (PeerId::random(), PeerId::random());
    let mut f = Followers::new(16);
    f.heard(a, vec![topic("rare")]);
    f.heard(b, vec![topic("rare")]);
    let rare = topic("rare");
    assert_eq!(f.of_topic(&rare).count(), 2);
    f.heard(b, Vec::new());
    assert_eq!(
        f.of_topic(&rare).count(),
        2,
        "an empty hearsay forgets nothing"
    );
    assert!(f.said_by(&b).is_empty(), "hearsay is not relayed");
    f.said(a, [topic("chat")]);
    f.heard(a, vec![topic("rare")]);
    assert_eq!(
        f.said_by(&a),
        vec![topic("chat")],
        "hearsay does not override"
    );
    assert_eq!(f.of_topic(&rare).collect::<Vec<_>>(), vec![&b]);
    f.forget(&b);
    assert_eq!(f.of_topic(&rare).count(), 0);
}

#[test]
fn picks_are_bounded_per_topic_and_in_all() {
    let mut f = Followers::new(4);
    let (chat, rare) = (topic("chat"), topic("rare"));
    assert_eq!(f.wanted(&chat), TOPIC_LINKS);
    let peers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
    f.pick(&chat, &peers);
    assert_eq!(f.wanted(&chat), 0);
    assert_eq!(f.wanted(&rare), 1, "bounded in all");
    assert!(f.carries(&chat, &peers[0]) && f.is_picked(&peers[0]));
    f.unpick(&peers[0]);
    assert_eq!(f.wanted(&chat), 1);
    f.keep_topics(&[&rare].into_iter().collect());
    assert!(!f.is_picked(&peers[1]), "a topic left carries nobody");
}

#[test]
fn what_is_kept_of_a_member_is_bounded() {
    let a = PeerId::random();
    let mut f = Followers::new(16);
    let many = (0..MAX_FOLLOWED_TOPICS + 10).map(|i| topic(&format!("t{i}")));
    f.said(a, many);
    assert_eq!(f.said_by(&a).len(), MAX_FOLLOWED_TOPICS);
}
