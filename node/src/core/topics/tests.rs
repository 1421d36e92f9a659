use weft_keys::Identity;
use weft_keys::topic::sign_topic;
use weft_proto::acl::OpKind;
use weft_proto::mesh::{MeshId, Role};

use super::*;
use crate::mesh::log::Log;
use crate::mesh::membership::peer_of;

/// A mesh of a founder, a member and a guest, as each of them sees it.
struct Mesh {
    mesh: Membership,
    founder: Identity,
    member: Identity,
    guest: Identity,
}

fn mesh() -> Mesh {
    let founder = Identity::from_secret(&[1; 32]);
    let member = Identity::from_secret(&[2; 32]);
    let guest = Identity::from_secret(&[3; 32]);
    let key = founder.member_key();
    let mut mesh = Membership::new(Log::new(MeshId::of_founder(&key)), [], []);
    let found = mesh
        .sign(
            &founder,
            OpKind::Found {
                name: None,
                founder: None,
            },
        )
        .unwrap();
    mesh.admit(found).unwrap();
    for (who, role) in [(&member, Role::Member), (&guest, Role::Guest)] {
        let add = OpKind::Add {
            member: who.member_key(),
            role,
            name: None,
        };
        let op = mesh.sign(&founder, add).unwrap();
        mesh.admit(op).unwrap();
    }
    Mesh {
        mesh,
        founder,
        member,
        guest,
    }
}

fn chat() -> TopicName {
    "chat".parse().unwrap()
}

fn signed(by: &Identity, mesh: &Membership, seq: u64, ts: u64) -> TopicMessage {
    let message = TopicMessage::new(chat(), seq, ts, format!("m{seq}"));
    sign_topic(by, &mesh.id(), message).unwrap()
}

fn peer(identity: &Identity) -> PeerId {
    peer_of(&identity.member_key()).unwrap()
}

#[test]
fn a_members_signed_message_is_taken_and_moves_its_mark() {
    let m = mesh();
    let mut topics = Topics::new([chat()], []);
    let key = m.member.member_key();
    let message = signed(&m.member, &m.mesh, 1, 100);
    let taken = topics
        .take(&m.mesh, &peer(&m.member), &message, 50)
        .unwrap();
    assert_eq!(taken, (Take::Fresh, key));
    assert_eq!(topics.next_seq(&chat(), &key), 2);
    // Past the retention: for the log only, though its mark moves on all the same.
    let old = signed(&m.member, &m.mesh, 2, 10);
    let taken = topics.take(&m.mesh, &peer(&m.member), &old, 50).unwrap();
    assert_eq!(taken, (Take::Stale, key));
    assert_eq!(topics.next_seq(&chat(), &key), 3);
}

#[test]
fn guests_strangers_forgeries_and_broken_messages_are_refused_and_move_nothing() {
    let m = mesh();
    let mut topics = Topics::new([chat()], []);
    let stranger = Identity::from_secret(&[9; 32]);
    let guest = signed(&m.guest, &m.mesh, 1, 1);
    let refused = topics.take(&m.mesh, &peer(&m.guest), &guest, 0);
    assert_eq!(refused.unwrap_err().reason(), "acl");
    let foreign = signed(&stranger, &m.mesh, 1, 1);
    let refused = topics.take(&m.mesh, &peer(&stranger), &foreign, 0);
    assert_eq!(refused.unwrap_err().reason(), "acl");
    // The founder's message, said to be the member's; and the member's, altered.
    let founders = signed(&m.founder, &m.mesh, 1, 1);
    let refused = topics.take(&m.mesh, &peer(&m.member), &founders, 0);
    assert_eq!(refused.unwrap_err().reason(), "signature");
    let mut altered = signed(&m.member, &m.mesh, 1, 1);
    altered.text = "altered".into();
    let refused = topics.take(&m.mesh, &peer(&m.member), &altered, 0);
    assert_eq!(refused.unwrap_err().reason(), "signature");
    let mut zero = signed(&m.member, &m.mesh, 1, 1);
    zero.seq = 0;
    let refused = topics.take(&m.mesh, &peer(&m.member), &zero, 0);
    assert_eq!(refused.unwrap_err().reason(), "invalid");
    for who in [&m.guest, &stranger, &m.member, &m.founder] {
        assert_eq!(topics.next_seq(&chat(), &who.member_key()), 1);
    }
}

#[test]
fn an_asker_is_handed_what_it_lacks_of_topics_both_follow() {
    let (alice, bob) = (MemberKey([1; 32]), MemberKey([2; 32]));
    let news: TopicName = "news".parse().unwrap();
    let ours = Topics::new(
        [chat()],
        [
            (chat(), alice, 5),
            (chat(), bob, 3),
            (news.clone(), alice, 9),
        ],
    );
    let theirs = Topics::new([chat(), news], [(chat(), alice, 2)]);
    let wanted = ours.wanted(&theirs.marks());
    let run = |publisher, from, until| Wanted {
        topic: chat(),
        publisher,
        from,
        until,
    };
    // Not news: this node does not follow it. Bob's run from its start.
    assert_eq!(wanted, vec![run(alice, 2, 5), run(bob, 1, 3)]);
    assert!(
        theirs.wanted(&ours.marks()).is_empty(),
        "it holds nothing ours lacks"
    );
}

#[test]
fn an_answer_takes_each_run_in_order_and_stops_at_its_cap() {
    let publisher = MemberKey([7; 32]);
    let wanted = vec![
        Wanted {
            topic: chat(),
            publisher,
            from: 1,
            until: u64::MAX,
        },
        Wanted {
            topic: chat(),
            publisher: MemberKey([8; 32]),
            from: 1,
            until: 3,
        },
    ];
    let log = |count: u64| {
        move |_: &Wanted, keep: &mut dyn FnMut(&TopicMessage) -> bool| {
            let run = (1..=count).map(|seq| TopicMessage::new(chat(), seq, seq, format!("m{seq}")));
            Ok::<_, ()>(run.take_while(|m| keep(m)).collect())
        }
    };
    let (few, more) = answer(&wanted, log(3)).unwrap();
    assert!(!more);
    let seqs: Vec<u64> = few.iter().map(|l| l.message.seq).collect();
    // Not the second run's 3: its answerer holds it above a gap.
    assert_eq!(seqs, vec![1, 2, 3, 1, 2]);
    let (capped, more) = answer(&wanted, log(MAX_SYNC_MESSAGES as u64 + 5)).unwrap();
    assert!(more, "an answer at its cap says there is more");
    assert_eq!(capped.len(), MAX_SYNC_MESSAGES);
    assert!(capped.iter().all(|l| l.publisher == publisher));
    assert!(
        capped
            .windows(2)
            .all(|w| w[0].message.seq < w[1].message.seq)
    );
}

#[test]
fn a_benchmark_message_is_judged_like_any_but_never_taken_for_history() {
    let m = mesh();
    let mut topics = Topics::new([chat()], []);
    let bench = |by: &Identity| {
        let message = TopicMessage::bench(chat(), 1, 100, "b1".into());
        sign_topic(by, &m.mesh.id(), message).unwrap()
    };
    let message = bench(&m.member);
    assert_eq!(
        take_bench(&m.mesh, &peer(&m.member), &message).unwrap(),
        m.member.member_key()
    );
    // Handed on in a sync answer, it is refused, and no mark moves.
    let refused = topics.take(&m.mesh, &peer(&m.member), &message, 50);
    assert!(matches!(refused, Err(Refusal::Bench)));
    assert_eq!(topics.next_seq(&chat(), &m.member.member_key()), 1);
    // The flag is signed: cleared on the way, the signature no longer holds.
    let mut cleared = message.clone();
    cleared.bench = false;
    let refused = topics.take(&m.mesh, &peer(&m.member), &cleared, 50);
    assert!(matches!(refused, Err(Refusal::Signature(_))));
    // A guest never publishes, benchmark or not.
    let guest = bench(&m.guest);
    let refused = take_bench(&m.mesh, &peer(&m.guest), &guest);
    assert!(matches!(refused, Err(Refusal::NotAllowed(_))));
}
