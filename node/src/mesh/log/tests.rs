//! The log as sync and join use it: summaries that stay small, answers that bring a peer
//! everything it lacks, parents first, within caps; heads merged by later ops.

use proptest::prelude::*;
use weft_keys::Identity;
use weft_keys::acl::sign_op;
use weft_proto::acl::{OP_VERSION, OpBody, OpKind, SignedOp};
use weft_proto::mesh::{MeshId, Role};

use super::*;

fn person(n: u8) -> Identity {
    Identity::from_secret(&[n; 32])
}

fn op(author: &Identity, mesh: MeshId, prev: Vec<OpId>, kind: OpKind) -> SignedOp {
    let body = OpBody {
        v: OP_VERSION,
        mesh,
        author: author.member_key(),
        prev,
        kind,
    };
    sign_op(author, body).unwrap()
}

fn invite(n: u32) -> OpKind {
    let mut invite = [0u8; 16];
    invite[..4].copy_from_slice(&n.to_be_bytes());
    OpKind::RevokeInvite { invite }
}

fn founded() -> (Identity, Log) {
    let founder = person(1);
    let mesh = MeshId::of_founder(&founder.member_key());
    let mut log = Log::new(mesh);
    log.admit(op(
        &founder,
        mesh,
        vec![],
        OpKind::Found {
            name: None,
            founder: None,
        },
    ))
    .unwrap();
    (founder, log)
}

/// One sync exchange: `asker` summarises, `answerer` answers (after op `after`, paging),
/// `asker` takes what came. Returns how many ops came, the last of them, and whether the
/// answer said there is more.
fn sync_once(
    asker: &mut Log,
    answerer: &Log,
    after: Option<OpId>,
    max_ops: usize,
) -> (usize, Option<OpId>, bool) {
    let (heads, known) = asker.summary(64, 32);
    assert!(
        heads.len() <= 64 && known.len() <= 32,
        "the summary stays small"
    );
    let seen: Vec<OpId> = heads.into_iter().chain(known).collect();
    let (ops, more) = answerer.lacking(&seen, after.as_ref(), max_ops, usize::MAX);
    let came = ops.len();
    let last = ops.last().map(SignedOp::id).or(after);
    for op in ops {
        // Parents first: nothing is ever missing its predecessors.
        assert!(asker.admit(op).is_ok());
    }
    (came, last, more)
}

/// Syncs `asker` from `answerer` page by page until the answer says there is no more;
/// returns the number of rounds.
fn sync_all(asker: &mut Log, answerer: &Log, max_ops: usize) -> usize {
    let (mut rounds, mut after) = (1, None);
    loop {
        let (came, last, more) = sync_once(asker, answerer, after, max_ops);
        if !more {
            return rounds;
        }
        assert!(came > 0, "a page that says there is more brings something");
        after = last;
        rounds += 1;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn two_diverged_logs_converge_by_sync(common in 0..40u32, mine in 0..150u32, theirs in 0..150u32, cap in 1..100usize) {
        let (founder, mut a) = founded();
        let mesh = a.mesh();
        for n in 0..common {
            let next = op(&founder, mesh, a.next_prev(), invite(n));
            a.admit(next).unwrap();
        }
        let mut b = a.clone();
        for n in 0..mine {
            let next = op(&founder, mesh, a.next_prev(), invite(1_000 + n));
            a.admit(next).unwrap();
        }
        for n in 0..theirs {
            let next = op(&founder, mesh, b.next_prev(), invite(100_000 + n));
            b.admit(next).unwrap();
        }
        // b asks a, page by page; then a asks b. Pages stay within what the logs hold.
        let total = (1 + common + mine + theirs) as usize;
        prop_assert!(sync_all(&mut b, &a, cap) <= total / cap + 2);
        prop_assert!(sync_all(&mut a, &b, cap) <= total / cap + 2);
        prop_assert_eq!(a.len(), b.len());
        prop_assert_eq!(a.heads(), b.heads());
        prop_assert_eq!(a.acl(), b.acl());
        // In sync, an exchange brings nothing.
        prop_assert_eq!(sync_once(&mut a, &b, None, cap), (0, None, false));
    }
}

#[test]
fn many_heads_are_merged_by_later_ops() {
    let (founder, mut log) = founded();
    let mesh = log.mesh();
    let root = log.heads();
    for n in 0..40 {
        log.admit(op(&founder, mesh, root.clone(), invite(n)))
            .unwrap();
    }
    assert_eq!(log.heads().len(), 40);
    let mut merges = 0;
    while log.heads().len() > 1 {
        let prev = log.next_prev();
        assert!(prev.len() <= MAX_PREV && prev.windows(2).all(|w| w[0] < w[1]));
        log.admit(op(&founder, mesh, prev, invite(1_000 + merges)))
            .unwrap();
        merges += 1;
    }
    assert_eq!(merges, 3, "16 at a time: 40 -> 25 -> 10 -> 1");
}

#[test]
fn a_join_answer_carries_the_admission_and_its_past() {
    let (founder, mut log) = founded();
    let mesh = log.mesh();
    for n in 0..20 {
        log.admit(op(&founder, mesh, log.next_prev(), invite(n)))
            .unwrap();
    }
    let joiner = person(9);
    let admission = op(
        &founder,
        mesh,
        log.next_prev(),
        OpKind::Add {
            member: joiner.member_key(),
            role: Role::Member,
            name: None,
        },
    );
    log.admit(admission.clone()).unwrap();
    let (ops, more) = log.with_past(&admission.id(), usize::MAX).unwrap();
    assert!(!more);
    let mut theirs = Log::new(mesh);
    for op in ops {
        theirs.admit(op).unwrap();
    }
    assert!(theirs.acl().member(&joiner.member_key()).is_some());
    // Capped: the first part, and more to fetch by sync.
    let (part, more) = log.with_past(&admission.id(), 1024).unwrap();
    assert!(more && !part.is_empty() && part.len() < log.len());
    assert!(log.with_past(&OpId([0; 32]), 1024).is_none());
}

#[test]
fn a_removed_member_is_sent_its_removal_and_nothing_after() {
    let (founder, mut log) = founded();
    let mesh = log.mesh();
    let stale = log.clone();
    let removal = op(
        &founder,
        mesh,
        log.next_prev(),
        OpKind::Revoke {
            member: person(9).member_key(),
        },
    );
    log.admit(removal.clone()).unwrap();
    let later = op(&founder, mesh, log.next_prev(), invite(7));
    log.admit(later.clone()).unwrap();
    let (heads, known) = stale.summary(64, 32);
    let seen: Vec<OpId> = heads.into_iter().chain(known).collect();
    let (ops, more) = log.lacking_within(Some(&removal.id()), &seen, None, 64, usize::MAX);
    assert_eq!(ops, vec![removal], "the removal, not what came after it");
    assert!(!more);
    let (none, _) = log.lacking_within(Some(&OpId([0; 32])), &seen, None, 64, usize::MAX);
    assert!(none.is_empty(), "nothing within an op the log lacks");
    assert_eq!(log.lacking(&seen, None, 64, usize::MAX).0.len(), 2);
}

#[test]
fn ops_before_their_parents_wait_and_a_full_log_says_so() {
    let (founder, mut log) = founded();
    let mesh = log.mesh();
    let first = op(&founder, mesh, log.next_prev(), invite(1));
    let second = op(&founder, mesh, vec![first.id()], invite(2));
    assert!(matches!(
        log.admit(second.clone()),
        Err(Refused::MissingParents(m)) if m == vec![first.id()]
    ));
    log.admit(first.clone()).unwrap();
    assert_eq!(log.admit(second).unwrap(), Admitted::New);
    assert_eq!(log.admit(first).unwrap(), Admitted::Known);
    assert_eq!(
        log.bytes(),
        log.ops()
            .map(|o| weft_proto::codec::to_cbor(o).unwrap().len())
            .sum::<usize>()
    );
}
