//! The resolution's rules, case by case, and its properties over random histories: any
//! delivery order and partition gives every node the same ACL; no op of a revoked author
//! outside its revocation's causal past takes effect; an op that does not take effect
//! changes nothing; the founder is never locked out.

use proptest::prelude::*;
use weft_keys::Identity;
use weft_keys::acl::sign_op;
use weft_proto::acl::{OP_VERSION, OpBody, OpId, OpKind, Principal, SignedOp};
use weft_proto::mesh::{MeshId, Role};

use super::*;
use crate::mesh::log::{Admitted, Log, Refused};

fn people() -> Vec<Identity> {
    (1..=6u8).map(|n| Identity::from_secret(&[n; 32])).collect()
}

fn key(id: &Identity) -> MemberKey {
    id.member_key()
}

fn mesh_of(founder: &Identity) -> MeshId {
    MeshId::of_founder(&key(founder))
}

fn signed(author: &Identity, mesh: MeshId, mut prev: Vec<OpId>, kind: OpKind) -> SignedOp {
    prev.sort();
    prev.dedup();
    let body = OpBody {
        v: OP_VERSION,
        mesh,
        author: key(author),
        prev,
        kind,
    };
    sign_op(author, body).unwrap()
}

fn add(member: &Identity, role: Role) -> OpKind {
    OpKind::Add {
        member: key(member),
        role,
        name: None,
    }
}

fn revoke(member: &Identity) -> OpKind {
    OpKind::Revoke {
        member: key(member),
    }
}

/// A log founded by `founder`.
fn founded(founder: &Identity) -> Log {
    let mesh = mesh_of(founder);
    let mut log = Log::new(mesh);
    let found = signed(
        founder,
        mesh,
        vec![],
        OpKind::Found {
            name: None,
            founder: None,
        },
    );
    assert_eq!(log.admit(found).unwrap(), Admitted::New);
    log
}

/// Signs `kind` as `author` on top of everything `log` holds, and admits it.
fn act(log: &mut Log, author: &Identity, kind: OpKind) -> Result<SignedOp, Refused> {
    let op = signed(author, log.mesh(), log.next_prev(), kind);
    log.admit(op.clone()).map(|_| op)
}

/// Signs `kind` as `author` as if it had seen only `prev` (back-dated), and admits it.
fn act_after(
    log: &mut Log,
    author: &Identity,
    prev: &[&SignedOp],
    kind: OpKind,
) -> Result<SignedOp, Refused> {
    back_dated(log, author, prev, kind, Log::admit)
}

/// Like [`act_after`], as a log that must keep the op although its author was removed.
fn forced(
    log: &mut Log,
    author: &Identity,
    prev: &[&SignedOp],
    kind: OpKind,
) -> Result<SignedOp, Refused> {
    back_dated(log, author, prev, kind, Log::admit_removed)
}

fn back_dated(
    log: &mut Log,
    author: &Identity,
    prev: &[&SignedOp],
    kind: OpKind,
    admit: fn(&mut Log, SignedOp) -> Result<Admitted, Refused>,
) -> Result<SignedOp, Refused> {
    let prev = prev.iter().map(|op| op.id()).collect();
    let op = signed(author, log.mesh(), prev, kind);
    admit(log, op.clone()).map(|_| op)
}

fn role(log: &Log, who: &Identity) -> Option<Role> {
    log.acl().member(&key(who)).map(|m| m.role)
}

#[test]
fn admins_admit_and_nobody_else_does() {
    let p = people();
    let (founder, bob, carol, dave) = (&p[0], &p[1], &p[2], &p[3]);
    let mut log = founded(founder);
    act(&mut log, founder, add(bob, Role::Admin)).unwrap();
    act(&mut log, founder, add(carol, Role::Member)).unwrap();
    act(&mut log, bob, add(dave, Role::Guest)).unwrap();
    assert_eq!(role(&log, dave), Some(Role::Guest));
    assert_eq!(log.acl().member(&key(dave)).unwrap().added_by, key(bob));
    let len = log.len();
    for (who, what) in [
        (carol, add(&p[4], Role::Admin)),
        (dave, add(&p[4], Role::Admin)),
        (&p[5], add(&p[5], Role::Admin)),
        (carol, revoke(bob)),
    ] {
        assert!(matches!(act(&mut log, who, what), Err(Refused::NotAllowed)));
    }
    assert_eq!(log.len(), len, "nothing refused is kept");
    // Nor the founder's own op twice, nor an op of another mesh.
    let other = signed(
        bob,
        mesh_of(bob),
        vec![],
        OpKind::Found {
            name: None,
            founder: None,
        },
    );
    assert!(matches!(log.admit(other), Err(Refused::OtherMesh)));
    let mut forged = signed(
        founder,
        log.mesh(),
        log.next_prev(),
        add(&p[4], Role::Admin),
    );
    forged.sig[0] ^= 1;
    assert!(matches!(log.admit(forged), Err(Refused::BadSignature)));
}

#[test]
fn a_guest_flood_is_refused_at_the_door() {
    let p = people();
    let mut log = founded(&p[0]);
    act(&mut log, &p[0], add(&p[1], Role::Guest)).unwrap();
    let before = log.len();
    for n in 0..500u32 {
        let kind = OpKind::RevokeInvite {
            invite: [n as u8; 16],
        };
        assert!(matches!(
            act(&mut log, &p[1], kind),
            Err(Refused::NotAllowed)
        ));
    }
    assert_eq!(log.len(), before);
}

#[test]
fn a_removed_admin_back_dating_an_admin_gains_nothing() {
    let p = people();
    let (founder, alice, mallory, sock) = (&p[0], &p[1], &p[2], &p[3]);
    let mut log = founded(founder);
    act(&mut log, founder, add(alice, Role::Admin)).unwrap();
    let made = act(&mut log, alice, add(mallory, Role::Admin)).unwrap();
    act(&mut log, alice, revoke(mallory)).unwrap();
    assert!(log.acl().is_revoked(&key(mallory)));

    // After the removal nothing of hers passes the door.
    assert!(matches!(
        act(&mut log, mallory, add(sock, Role::Admin)),
        Err(Refused::NotAllowed)
    ));
    // Back-dated to before it, it is admitted (that history is hers to sign) but void.
    let back = act_after(&mut log, mallory, &[&made], add(sock, Role::Admin)).unwrap();
    assert!(log.acl().member(&key(sock)).is_none(), "{:?}", log.acl());
    // So is everything her sock puppet signs on that basis.
    let puppet = act_after(&mut log, sock, &[&back], add(&p[4], Role::Admin)).unwrap();
    let _ = act_after(&mut log, sock, &[&puppet], revoke(alice));
    assert!(log.acl().member(&key(&p[4])).is_none());
    assert_eq!(role(&log, alice), Some(Role::Admin));
    // A counter-removal of her remover, back-dated, is not hers to issue: alice is senior.
    assert!(matches!(
        act_after(&mut log, mallory, &[&made], revoke(alice)),
        Err(Refused::NotAllowed)
    ));
    // And a removed key is never a member again.
    let _ = act(&mut log, founder, add(mallory, Role::Member));
    assert!(log.acl().member(&key(mallory)).is_none());
}

#[test]
fn only_a_senior_admin_demotes_an_admin() {
    let p = people();
    let (founder, a, b, c) = (&p[0], &p[1], &p[2], &p[3]);
    let mut log = founded(founder);
    act(&mut log, founder, add(a, Role::Admin)).unwrap();
    act(&mut log, founder, add(b, Role::Admin)).unwrap();
    act(&mut log, b, add(c, Role::Admin)).unwrap();
    // b came after a: b cannot remove or demote a; a can remove b.
    for kind in [
        revoke(a),
        OpKind::SetRole {
            member: key(a),
            role: Role::Member,
        },
    ] {
        assert!(matches!(act(&mut log, b, kind), Err(Refused::NotAllowed)));
    }
    // c may remove neither of them, and nobody removes or demotes the founder.
    assert!(matches!(
        act(&mut log, c, revoke(b)),
        Err(Refused::NotAllowed)
    ));
    for who in [a, b] {
        assert!(matches!(
            act(&mut log, who, revoke(founder)),
            Err(Refused::NotAllowed)
        ));
    }
    // A non-admin may be changed by any admin.
    act(&mut log, c, add(&p[4], Role::Member)).unwrap();
    act(
        &mut log,
        c,
        OpKind::SetRole {
            member: key(&p[4]),
            role: Role::Guest,
        },
    )
    .unwrap();
    act(&mut log, a, revoke(b)).unwrap();
    assert!(log.acl().is_revoked(&key(b)));
    // c's power came from b, but b's admission of c was before b's removal: c stays.
    assert_eq!(role(&log, c), Some(Role::Admin));
}

#[test]
fn a_key_the_founder_removed_cannot_fill_the_log() {
    let p = people();
    let (founder, mallory, bob, sock) = (&p[0], &p[1], &p[2], &p[3]);
    let mut log = founded(founder);
    let made = act(&mut log, founder, add(mallory, Role::Admin)).unwrap();
    let bob_admitted = act(&mut log, founder, add(bob, Role::Admin)).unwrap();
    act(&mut log, founder, revoke(mallory)).unwrap();
    let before = log.len();
    // However she back-dates them, her ops are void: a log that knows is not made to keep
    // them.
    for n in 0..100u32 {
        let kind = OpKind::RevokeInvite {
            invite: n.to_be_bytes().repeat(4).try_into().unwrap(),
        };
        let op = signed(mallory, log.mesh(), vec![made.id()], kind);
        assert!(matches!(log.admit(op), Err(Refused::Removed)));
    }
    assert_eq!(log.len(), before);
    // One an admin built on (before he heard of her removal) comes with his, and is kept.
    let hers = signed(
        mallory,
        log.mesh(),
        vec![made.id()],
        add(sock, Role::Member),
    );
    let mut prev = vec![hers.id(), bob_admitted.id()];
    prev.sort();
    let his = signed(bob, log.mesh(), prev, add(&p[4], Role::Member));
    let batch = log.admit_all(vec![hers.clone(), his.clone()]);
    assert_eq!(batch.new, vec![hers, his]);
    assert!(log.acl().member(&key(sock)).is_none(), "hers is void");
    assert!(log.acl().member(&key(&p[4])).is_some(), "his takes effect");
}

#[test]
fn a_demotion_voids_what_its_target_did_concurrently() {
    let p = people();
    let (founder, a, b) = (&p[0], &p[1], &p[2]);
    let mut log = founded(founder);
    act(&mut log, founder, add(a, Role::Admin)).unwrap();
    let base = act(&mut log, founder, add(b, Role::Member)).unwrap();
    // Concurrently: the founder removes a, while a admits someone and changes b's role.
    act_after(&mut log, founder, &[&base], revoke(a)).unwrap();
    // (As a log that must keep them would: one that got them first.)
    forced(&mut log, a, &[&base], add(&p[3], Role::Admin)).unwrap();
    forced(
        &mut log,
        a,
        &[&base],
        OpKind::SetRole {
            member: key(b),
            role: Role::Guest,
        },
    )
    .unwrap();
    let acl = log.acl();
    assert!(acl.is_revoked(&key(a)));
    assert!(acl.member(&key(&p[3])).is_none());
    assert_eq!(acl.member(&key(b)).map(|m| m.role), Some(Role::Member));
    // A role change racing a removal: the removal wins.
    let base = act(&mut log, founder, add(&p[4], Role::Member)).unwrap();
    act_after(&mut log, founder, &[&base], revoke(&p[4])).unwrap();
    act_after(
        &mut log,
        founder,
        &[&base],
        OpKind::SetRole {
            member: key(&p[4]),
            role: Role::Admin,
        },
    )
    .unwrap();
    assert!(log.acl().member(&key(&p[4])).is_none());
    // A concurrent re-admission of a barred key loses to the bar.
    let base = act(&mut log, founder, add(&p[5], Role::Admin)).unwrap();
    act_after(&mut log, founder, &[&base], revoke(b)).unwrap();
    let _ = act_after(&mut log, &p[5], &[&base], add(b, Role::Admin));
    assert!(log.acl().member(&key(b)).is_none());
}

#[test]
fn admins_granted_concurrently_cannot_demote_each_other() {
    let p = people();
    let (founder, a, b) = (&p[0], &p[1], &p[2]);
    let mut log = founded(founder);
    let root = log.ops().next().unwrap().clone();
    let ga = act_after(&mut log, founder, &[&root], add(a, Role::Admin)).unwrap();
    let gb = act_after(&mut log, founder, &[&root], add(b, Role::Admin)).unwrap();
    assert!(matches!(
        act(&mut log, a, revoke(b)),
        Err(Refused::NotAllowed)
    ));
    assert!(matches!(
        act(&mut log, b, revoke(a)),
        Err(Refused::NotAllowed)
    ));
    act_after(&mut log, founder, &[&ga, &gb], revoke(b)).unwrap();
    assert!(log.acl().is_revoked(&key(b)));
}

#[test]
fn a_long_history_has_no_clock_to_exhaust() {
    let p = people();
    let mut log = founded(&p[0]);
    for n in 0..300u32 {
        let kind = OpKind::RevokeInvite {
            invite: n.to_be_bytes().repeat(4).try_into().unwrap(),
        };
        act(&mut log, &p[0], kind).unwrap();
    }
    act(&mut log, &p[0], add(&p[1], Role::Member)).unwrap();
    act(&mut log, &p[0], revoke(&p[1])).unwrap();
    assert!(log.acl().is_revoked(&key(&p[1])));
    assert_eq!(Acl::resolve(&log, None), *log.acl());
}

/// One step of a random history.
#[derive(Clone, Debug)]
enum Step {
    /// Node `node` signs an op as person `author`, on top of its log or back-dated onto
    /// two of its ops picked by `pick`.
    Act {
        node: usize,
        author: usize,
        what: u8,
        target: usize,
        role: u8,
        back: Option<(prop::sample::Index, prop::sample::Index)>,
    },
    /// Node `from` hands node `to` everything it holds.
    Sync { from: usize, to: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, 0..6usize, 0..5u8, 0..6usize, 0..4u8, proptest::option::of((any::<prop::sample::Index>(), any::<prop::sample::Index>())))
            .prop_map(|(node, author, what, target, role, back)| Step::Act { node, author, what, target, role, back }),
        1 => (0..3usize, 0..3usize).prop_map(|(from, to)| Step::Sync { from, to }),
    ]
}

fn kind_of(p: &[Identity], what: u8, target: usize, role: u8) -> OpKind {
    let role = [Role::Admin, Role::Member, Role::Guest, Role::Mailbox][role as usize];
    let member = key(&p[target]);
    match what {
        0 | 1 => OpKind::Add {
            member,
            role,
            name: None,
        },
        2 => OpKind::Revoke { member },
        3 => OpKind::SetRole { member, role },
        _ => OpKind::TopicPolicy {
            topic: "t".parse().unwrap(),
            publishers: vec![Principal::Role(role)],
        },
    }
}

/// Admits `ops` into a fresh log as one sync answer, parents first (as sync sends them);
/// otherwise in the given order.
fn rebuild(mesh: MeshId, ops: impl IntoIterator<Item = SignedOp>) -> Log {
    let mut log = Log::new(mesh);
    log.admit_all(parents_first(ops.into_iter().collect()));
    log
}

/// `ops` with every op after the ops it names, ties in the given order.
fn parents_first(ops: Vec<SignedOp>) -> Vec<SignedOp> {
    let mut out: Vec<SignedOp> = Vec::new();
    let mut placed = std::collections::HashSet::new();
    let ids: std::collections::HashSet<OpId> = ops.iter().map(SignedOp::id).collect();
    let mut pending = ops;
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|op| {
            let ready = op
                .body
                .prev
                .iter()
                .all(|p| placed.contains(p) || !ids.contains(p));
            if ready && placed.insert(op.id()) {
                out.push(op.clone());
            }
            !ready
        });
        if pending.len() == before {
            break;
        }
    }
    out
}

fn shuffled<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
    items
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_node_resolves_the_same_acl_and_the_rules_hold(
        steps in proptest::collection::vec(step(), 1..60),
        seed in any::<u64>(),
    ) {
        let p = people();
        let founder = &p[0];
        let mesh = mesh_of(founder);
        let mut nodes: Vec<Log> = (0..3).map(|_| founded(founder)).collect();
        // The founder makes everyone an admin or a member at first, so there is something
        // to fight over; who is senior to whom follows from the order.
        for (n, who) in p.iter().enumerate().skip(1) {
            let role = if n % 2 == 1 { Role::Admin } else { Role::Member };
            let op = act(&mut nodes[0], founder, add(who, role)).unwrap();
            for node in &mut nodes[1..] {
                node.admit(op.clone()).unwrap();
            }
        }
        for step in steps {
            match step {
                Step::Act { node, author, what, target, role, back } => {
                    let log = &mut nodes[node];
                    let kind = kind_of(&p, what, target, role);
                    let prev = match back {
                        None => log.next_prev(),
                        Some((a, b)) => {
                            let ops: Vec<&SignedOp> = log.ops().collect();
                            vec![ops[a.index(ops.len())].id(), ops[b.index(ops.len())].id()]
                        }
                    };
                    let _ = log.admit(signed(&p[author], mesh, prev, kind));
                }
                Step::Sync { from, to } => {
                    let ops: Vec<SignedOp> = nodes[from].ops().cloned().collect();
                    let batch = nodes[to].admit_all(ops);
                    prop_assert!(batch.refused.iter().all(|e| !e.is_forged()), "{:?}", batch.refused);
                }
            }
        }
        // Everyone hears everything: the same ACL (a node that heard of a removal first
        // keeps fewer of the removed author's void ops).
        let all: Vec<SignedOp> = nodes.iter().flat_map(|n| n.ops().cloned()).collect();
        let reference = rebuild(mesh, all.clone());
        for node in &mut nodes {
            node.admit_all(parents_first(all.clone()));
            prop_assert_eq!(node.acl(), reference.acl());
            prop_assert_eq!(&Acl::resolve(node, None), node.acl(), "incremental == from scratch");
        }
        let again = rebuild(mesh, shuffled(all, seed));
        prop_assert_eq!(again.acl(), reference.acl());

        let log = &reference;
        let acl = log.acl();
        // The founder is never locked out.
        prop_assert!(acl.is_admin(&key(founder)));
        prop_assert!(!acl.is_revoked(&key(founder)));
        let mut with_founder = log.clone();
        prop_assert!(act(&mut with_founder, founder, add(&p[5], Role::Guest)).is_ok());
        // No op of a revoked author outside its revocation's causal past takes effect.
        for r in 0..log.len() as u32 {
            let OpKind::Revoke { member } = log.op(r).body.kind else { continue };
            if !acl.applied(r) {
                continue;
            }
            for i in 0..log.len() as u32 {
                if acl.applied(i) && log.op(i).body.author == member {
                    prop_assert!(log.ancestors(r).has(i), "op {i} of a revoked author took effect");
                }
            }
        }
        // Revoked keys are no members; guests never publish.
        for (k, m) in acl.members() {
            prop_assert!(!acl.is_revoked(k));
            if m.role == Role::Guest {
                prop_assert!(!acl.can_publish(k, &"t".parse().unwrap()));
            }
        }
        // An op that does not take effect changes nothing: drop an unapplied head.
        let heads: Vec<u32> = (0..log.len() as u32)
            .filter(|&i| log.heads().contains(&log.id(i)) && !acl.applied(i))
            .collect();
        for h in heads {
            let without = rebuild(mesh, log.ops().filter(|op| op.id() != log.id(h)).cloned());
            prop_assert_eq!(without.acl(), acl);
        }
    }
}

#[test]
fn admins_name_members_and_members_name_nobody() {
    let p = people();
    let (founder, bob, mallory) = (&p[0], &p[1], &p[2]);
    let mut log = founded(founder);
    act(&mut log, founder, add(bob, Role::Member)).unwrap();
    act(&mut log, founder, add(mallory, Role::Member)).unwrap();
    let name = |member: &Identity, name: &str| OpKind::Name {
        member: key(member),
        name: Some(name.into()),
    };
    act(&mut log, founder, name(bob, "bob")).unwrap();
    assert_eq!(
        log.acl().member(&key(bob)).unwrap().name.as_deref(),
        Some("bob")
    );
    // A member names nobody, itself included: names are what commands take members by.
    for kind in [name(bob, "alice"), name(mallory, "bob")] {
        assert!(matches!(
            act(&mut log, mallory, kind),
            Err(Refused::NotAllowed)
        ));
    }
    // A name a PeerId could be taken for, or with hidden characters, does not pass as an op.
    for bad in ["12D3KooWabcdef", "bo\u{200b}b"] {
        let op = signed(founder, log.mesh(), log.next_prev(), name(bob, bad));
        assert!(op.check_shape().is_err(), "{bad:?}");
    }
}
