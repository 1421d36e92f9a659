use libp2p::PeerId;
use weft_proto::sync::MAX_FOLLOWED_TOPICS;
use weft_proto::topic::TopicName;

use super::Followers;

fn topic(name: &str) -> TopicName {
    name.parse().expect("a topic")
}

#[test]
fn a_members_own_word_outranks_what_others_say_of_it() {
    let (a, b) = (PeerId::random(), PeerId::random());
    let mut f = Followers::default();
    f.heard(a, vec![topic("rare")]);
    f.heard(b, vec![topic("rare")]);
    let rare_topic = topic("rare");
    let mut rare: Vec<&PeerId> = f.of_topic(&rare_topic).collect();
    rare.sort();
    let mut both = vec![&a, &b];
    both.sort();
    assert_eq!(rare, both);
    f.said(a, [topic("chat")]);
    f.heard(a, vec![topic("rare")]);
    assert_eq!(
        f.topics_of(&a),
        vec![topic("chat")],
        "hearsay does not override"
    );
    assert_eq!(f.of_topic(&topic("rare")).collect::<Vec<_>>(), vec![&b]);
    f.forget(&b);
    assert_eq!(f.of_topic(&topic("rare")).count(), 0);
}

#[test]
fn what_is_kept_of_a_member_is_bounded() {
    let a = PeerId::random();
    let mut f = Followers::default();
    let many = (0..MAX_FOLLOWED_TOPICS + 10).map(|i| topic(&format!("t{i}")));
    f.said(a, many);
    assert_eq!(f.topics_of(&a).len(), MAX_FOLLOWED_TOPICS);
}
