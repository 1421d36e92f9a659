//! [`Acl`]: the deterministic fold of a mesh's set of signed ops.
//!
//! Ops are sorted by `(lamport, op id)` and applied in that order, each only if it is valid
//! at that point: signed by its author (checked before an op is ever stored), for this mesh,
//! and authored by the founder (`Found`) or by a current, unrevoked admin (everything else).
//! Because the result depends only on the set, every node holding the same ops computes the
//! same ACL, whatever order they arrived in and however often. Revocation is permanent: a
//! revoked key is never a member again, and its ops from the revocation's Lamport time on
//! change nothing.

use std::collections::{BTreeMap, BTreeSet};

use weft_proto::acl::{OpKind, Publisher, SignedOp};
use weft_proto::mesh::{MeshId, Role};
use weft_proto::topic::TopicName;

/// A member as the ACL sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its role.
    pub role: Role,
    /// Its name, if one was given.
    pub name: Option<String>,
    /// The admin that admitted it (its own key for the founder).
    pub added_by: [u8; 32],
    /// The Lamport time of its admission.
    pub added_at: u64,
}

/// The state of a mesh's ACL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    mesh: MeshId,
    name: Option<String>,
    members: BTreeMap<[u8; 32], Member>,
    /// Revoked keys and the Lamport time of their revocation.
    revoked: BTreeMap<[u8; 32], u64>,
    policies: BTreeMap<TopicName, Vec<Publisher>>,
    revoked_invites: BTreeSet<[u8; 16]>,
    lamport: u64,
}

impl Acl {
    /// The ACL that `ops` (signatures already verified) establish for `mesh`.
    pub fn fold<'a>(mesh: MeshId, ops: impl IntoIterator<Item = &'a SignedOp>) -> Acl {
        let mut sorted: Vec<(u64, [u8; 32], &SignedOp)> = ops
            .into_iter()
            .map(|op| (op.body.lamport, op.id(), op))
            .collect();
        sorted.sort_by_key(|(lamport, id, _)| (*lamport, *id));
        sorted.dedup_by(|a, b| a.1 == b.1);
        let mut acl = Acl {
            mesh,
            name: None,
            members: BTreeMap::new(),
            revoked: BTreeMap::new(),
            policies: BTreeMap::new(),
            revoked_invites: BTreeSet::new(),
            lamport: 0,
        };
        for (_, _, op) in sorted {
            acl.lamport = acl.lamport.max(op.body.lamport);
            acl.apply(op);
        }
        acl
    }

    fn apply(&mut self, op: &SignedOp) -> bool {
        let body = &op.body;
        if body.mesh != self.mesh {
            return false;
        }
        if let OpKind::Found { name } = &body.kind {
            let founder = MeshId::of_founder(&body.author) == self.mesh;
            if !founder || self.members.contains_key(&body.author) {
                return false;
            }
            self.name.clone_from(name);
            self.members.insert(
                body.author,
                Member {
                    role: Role::Admin,
                    name: None,
                    added_by: body.author,
                    added_at: body.lamport,
                },
            );
            return true;
        }
        if !self.is_admin(&body.author) {
            return false;
        }
        match &body.kind {
            OpKind::Found { .. } => false,
            OpKind::Add { member, role, name } => {
                if self.revoked.contains_key(member) || self.members.contains_key(member) {
                    return false;
                }
                self.members.insert(
                    *member,
                    Member {
                        role: *role,
                        name: name.clone(),
                        added_by: body.author,
                        added_at: body.lamport,
                    },
                );
                true
            }
            OpKind::Revoke { member } => {
                if MeshId::of_founder(member) == self.mesh {
                    return false; // the founder cannot be locked out of its own mesh
                }
                self.members.remove(member);
                self.revoked.entry(*member).or_insert(body.lamport);
                true
            }
            OpKind::SetRole { member, role } => match self.members.get_mut(member) {
                Some(m) if MeshId::of_founder(member) != self.mesh => {
                    m.role = *role;
                    true
                }
                _ => false,
            },
            OpKind::TopicPolicy { topic, publishers } => {
                self.policies.insert(topic.clone(), publishers.clone());
                true
            }
            OpKind::RevokeInvite { invite } => self.revoked_invites.insert(*invite),
        }
    }

    /// The mesh.
    pub fn mesh(&self) -> MeshId {
        self.mesh
    }

    /// The mesh's name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The highest Lamport time seen; a new op takes one above it.
    pub fn lamport(&self) -> u64 {
        self.lamport
    }

    /// The member with `key`, if it is one.
    pub fn member(&self, key: &[u8; 32]) -> Option<&Member> {
        self.members.get(key)
    }

    /// Every member, by key.
    pub fn members(&self) -> impl Iterator<Item = (&[u8; 32], &Member)> {
        self.members.iter()
    }

    /// Whether `key` is a current admin.
    pub fn is_admin(&self, key: &[u8; 32]) -> bool {
        self.members.get(key).is_some_and(|m| m.role == Role::Admin)
    }

    /// Whether `key` was revoked.
    pub fn is_revoked(&self, key: &[u8; 32]) -> bool {
        self.revoked.contains_key(key)
    }

    /// Whether the invite with `id` was revoked.
    pub fn is_invite_revoked(&self, id: &[u8; 16]) -> bool {
        self.revoked_invites.contains(id)
    }

    /// Whether `key` may publish on `topic`: never a guest; otherwise as the topic's policy
    /// says, or any member when it has none.
    pub fn can_publish(&self, key: &[u8; 32], topic: &TopicName) -> bool {
        let Some(member) = self.members.get(key) else {
            return false;
        };
        if member.role == Role::Guest {
            return false;
        }
        match self.policies.get(topic) {
            None => true,
            Some(publishers) if publishers.is_empty() => true,
            Some(publishers) => publishers.iter().any(|p| match p {
                Publisher::Role(role) => *role == member.role,
                Publisher::Key(k) => k == key,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use weft_keys::Identity;
    use weft_keys::acl::sign_op;
    use weft_proto::acl::{OP_VERSION, OpBody};

    fn ids() -> Vec<Identity> {
        (1..=4u8).map(|n| Identity::from_secret(&[n; 32])).collect()
    }

    fn key(id: &Identity) -> [u8; 32] {
        id.public().to_bytes()
    }

    fn op(author: &Identity, mesh: MeshId, lamport: u64, kind: OpKind) -> SignedOp {
        let body = OpBody {
            v: OP_VERSION,
            mesh,
            lamport,
            author: key(author),
            kind,
        };
        sign_op(author, body).unwrap()
    }

    /// A random op: a random author among four keys (the first is the founder), a random
    /// Lamport time and a random kind aimed at one of the keys.
    fn arb_op() -> impl Strategy<Value = (usize, u64, u8, usize, u8)> {
        (0..4usize, 0..20u64, 0..6u8, 0..4usize, 0..4u8)
    }

    fn build(
        ids: &[Identity],
        mesh: MeshId,
        (author, lamport, kind, target, role): (usize, u64, u8, usize, u8),
    ) -> SignedOp {
        let role = [Role::Admin, Role::Member, Role::Guest, Role::Mailbox][role as usize];
        let member = key(&ids[target]);
        let kind = match kind {
            0 => OpKind::Found {
                name: Some("m".into()),
            },
            1 => OpKind::Add {
                member,
                role,
                name: None,
            },
            2 => OpKind::Revoke { member },
            3 => OpKind::SetRole { member, role },
            4 => OpKind::TopicPolicy {
                topic: "t".parse().unwrap(),
                publishers: vec![Publisher::Role(role)],
            },
            _ => OpKind::RevokeInvite {
                invite: [target as u8; 16],
            },
        };
        op(&ids[author], mesh, lamport, kind)
    }

    proptest! {
        /// The fold converges: any order and any duplication of the same ops give the same ACL.
        #[test]
        fn converges_for_any_order_and_duplication(
            raw in proptest::collection::vec(arb_op(), 0..30),
            shuffle in any::<u64>(),
            dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let ids = ids();
            let mesh = MeshId::of_founder(&key(&ids[0]));
            let ops: Vec<SignedOp> = raw.into_iter().map(|r| build(&ids, mesh, r)).collect();
            let reference = Acl::fold(mesh, &ops);
            let mut other = ops.clone();
            if !ops.is_empty() {
                for d in &dups {
                    other.push(ops[d.index(ops.len())].clone());
                }
            }
            // A deterministic shuffle from the seed.
            let mut state = shuffle | 1;
            for i in (1..other.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                other.swap(i, (state % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(Acl::fold(mesh, &other), reference.clone());
            // Whatever happened, a revoked key is no member, and a guest never publishes.
            for (k, m) in reference.members() {
                prop_assert!(!reference.is_revoked(k));
                if m.role == Role::Guest {
                    prop_assert!(!reference.can_publish(k, &"t".parse().unwrap()));
                }
            }
        }
    }

    #[test]
    fn only_admins_change_anything_and_revocation_is_permanent() {
        let ids = ids();
        let (founder, bob, carol) = (&ids[0], &ids[1], &ids[2]);
        let mesh = MeshId::of_founder(&key(founder));
        let mut ops = vec![
            op(
                founder,
                mesh,
                1,
                OpKind::Found {
                    name: Some("home".into()),
                },
            ),
            op(
                founder,
                mesh,
                2,
                OpKind::Add {
                    member: key(bob),
                    role: Role::Member,
                    name: Some("bob".into()),
                },
            ),
            // bob is no admin: this changes nothing.
            op(
                bob,
                mesh,
                3,
                OpKind::Add {
                    member: key(carol),
                    role: Role::Admin,
                    name: None,
                },
            ),
        ];
        let acl = Acl::fold(mesh, &ops);
        assert_eq!(acl.name(), Some("home"));
        assert!(acl.is_admin(&key(founder)));
        assert_eq!(acl.member(&key(bob)).map(|m| m.role), Some(Role::Member));
        assert!(acl.member(&key(carol)).is_none());

        // A non-founder cannot found this mesh either.
        ops.push(op(bob, mesh, 4, OpKind::Found { name: None }));
        ops.push(op(founder, mesh, 5, OpKind::Revoke { member: key(bob) }));
        ops.push(op(
            founder,
            mesh,
            6,
            OpKind::Add {
                member: key(bob),
                role: Role::Admin,
                name: None,
            },
        ));
        let acl = Acl::fold(mesh, &ops);
        assert!(acl.member(&key(bob)).is_none(), "revocation is permanent");
        assert!(acl.is_revoked(&key(bob)));

        // The founder cannot be revoked or demoted.
        ops.push(op(
            founder,
            mesh,
            7,
            OpKind::Add {
                member: key(carol),
                role: Role::Admin,
                name: None,
            },
        ));
        ops.push(op(
            carol,
            mesh,
            8,
            OpKind::Revoke {
                member: key(founder),
            },
        ));
        ops.push(op(
            carol,
            mesh,
            9,
            OpKind::SetRole {
                member: key(founder),
                role: Role::Guest,
            },
        ));
        let acl = Acl::fold(mesh, &ops);
        assert!(acl.is_admin(&key(founder)));

        // Ops of another mesh change nothing.
        let elsewhere = MeshId::of_founder(&key(&ids[3]));
        ops.push(op(
            founder,
            elsewhere,
            10,
            OpKind::RevokeInvite { invite: [1; 16] },
        ));
        assert!(!Acl::fold(mesh, &ops).is_invite_revoked(&[1; 16]));
    }

    #[test]
    fn topic_policy_and_guests() {
        let ids = ids();
        let (founder, bob, guest) = (&ids[0], &ids[1], &ids[2]);
        let mesh = MeshId::of_founder(&key(founder));
        let topic: TopicName = "news".parse().unwrap();
        let ops = vec![
            op(founder, mesh, 1, OpKind::Found { name: None }),
            op(
                founder,
                mesh,
                2,
                OpKind::Add {
                    member: key(bob),
                    role: Role::Member,
                    name: None,
                },
            ),
            op(
                founder,
                mesh,
                3,
                OpKind::Add {
                    member: key(guest),
                    role: Role::Guest,
                    name: None,
                },
            ),
        ];
        let acl = Acl::fold(mesh, &ops);
        assert!(acl.can_publish(&key(bob), &topic));
        assert!(
            !acl.can_publish(&key(guest), &topic),
            "guests never publish"
        );
        assert!(
            !acl.can_publish(&key(&ids[3]), &topic),
            "strangers never publish"
        );
        let mut ops = ops;
        ops.push(op(
            founder,
            mesh,
            4,
            OpKind::TopicPolicy {
                topic: topic.clone(),
                publishers: vec![Publisher::Role(Role::Admin)],
            },
        ));
        let acl = Acl::fold(mesh, &ops);
        assert!(!acl.can_publish(&key(bob), &topic));
        assert!(acl.can_publish(&key(founder), &topic));
        assert!(acl.can_publish(&key(bob), &"other".parse().unwrap()));
    }
}
