//! [`Mesh`]: this node's mesh as the core holds it: the membership (the ACL log and its
//! resolution, members by PeerId, their sealing-key cards, the invites this node issued),
//! when this node learnt it was removed, and where members can be reached. It answers the
//! questions every door asks (is this peer a member, where does it stand, may it publish);
//! the changes to it are made by the glue in `membership` and `sync`.

use libp2p::PeerId;
use weft_proto::acl::OpId;
use weft_proto::mesh::{MeshId, Role};
use weft_proto::topic::TopicName;

use super::doors::{Own, Standing};
use crate::mesh::addresses::Addresses;
use crate::mesh::membership::{Membership, key_of};
use crate::store::peers::KnownAddrs;
use crate::store::write::Write;

/// The gossipsub topic that carries a mesh's new ACL ops (`weft/<mesh-id>/acl`).
pub fn acl_topic(mesh: MeshId) -> String {
    format!("weft/{mesh}/acl")
}

/// This node's mesh, its removal from it, and the members' addresses.
#[derive(Debug, Default)]
pub struct Mesh {
    membership: Option<Membership>,
    removed: Option<u64>,
    addresses: Addresses,
}

impl Mesh {
    /// The mesh as stored: `membership` (none while this node is in no mesh), when it was
    /// `removed` from it, and the address book (keeping members only); the writes that
    /// forget the other entries.
    pub fn load(
        membership: Option<Membership>,
        removed: Option<u64>,
        peers: Vec<(PeerId, KnownAddrs)>,
    ) -> (Mesh, Vec<Write>) {
        let (addresses, forget) = Addresses::load(peers, |peer| {
            removed.is_none() && membership.as_ref().is_some_and(|m| m.admits(peer))
        });
        let mesh = Mesh {
            membership,
            removed,
            addresses,
        };
        (mesh, forget)
    }

    /// The mesh id, when this node is in a mesh.
    pub fn id(&self) -> Option<MeshId> {
        self.membership.as_ref().map(Membership::id)
    }

    /// The membership, when this node is in a mesh.
    pub fn get(&self) -> Option<&Membership> {
        self.membership.as_ref()
    }

    /// The membership, to change.
    pub fn get_mut(&mut self) -> Option<&mut Membership> {
        self.membership.as_mut()
    }

    /// Becomes a member of `membership`'s mesh (founded or joined).
    pub fn enter(&mut self, membership: Membership) {
        self.membership = Some(membership);
    }

    /// Whether this node lets `peer` in: members of its mesh; no one while it is in none,
    /// or once it was removed.
    pub fn admits(&self, peer: &PeerId) -> bool {
        self.removed.is_none() && self.membership.as_ref().is_some_and(|m| m.admits(peer))
    }

    /// When this node learnt it was removed from its mesh (Unix seconds).
    pub fn removed(&self) -> Option<u64> {
        self.removed
    }

    /// This node was removed from its mesh, learnt `at` (Unix seconds); false when it knew.
    pub fn set_removed(&mut self, at: u64) -> bool {
        if self.removed.is_some() {
            return false;
        }
        self.removed = Some(at);
        true
    }

    /// What the ACL says of `peer`, for the doors.
    pub fn standing(&self, peer: &PeerId) -> Standing {
        if self.admits(peer) {
            Standing::Member
        } else if self.revocation_of(peer).is_some() {
            Standing::Removed
        } else {
            Standing::Stranger
        }
    }

    /// Where this node stands, for the doors.
    pub fn own(&self) -> Own {
        match (&self.membership, self.removed) {
            (_, Some(_)) => Own::Removed,
            (Some(_), None) => Own::InMesh,
            (None, None) => Own::NoMesh,
        }
    }

    /// The op that removed `peer` from the mesh, when one did.
    pub fn revocation_of(&self, peer: &PeerId) -> Option<OpId> {
        let key = key_of(peer)?;
        Some(self.membership.as_ref()?.acl().revocation(&key)?.op)
    }

    /// Whether `peer` may publish on `topic` here.
    pub fn may_publish(&self, peer: &PeerId, topic: &TopicName) -> bool {
        self.membership.as_ref().is_some_and(|mesh| {
            mesh.member(peer)
                .is_some_and(|(key, _)| mesh.acl().can_publish(&key, topic))
        })
    }

    /// `peer`'s role, when it is a member.
    pub fn role_of(&self, peer: &PeerId) -> Option<Role> {
        self.membership.as_ref()?.member(peer).map(|(_, role)| role)
    }

    /// Where members can be reached.
    pub fn addresses(&self) -> &Addresses {
        &self.addresses
    }

    /// Where members can be reached, to change.
    pub fn addresses_mut(&mut self) -> &mut Addresses {
        &mut self.addresses
    }

    /// The members, and the members just removed (`leaving`), as the doors beside the loop
    /// let them in: nobody while this node is in no mesh, or once it was removed.
    pub fn doors(&self, leaving: impl Iterator<Item = PeerId>) -> (Vec<PeerId>, Vec<PeerId>) {
        match (&self.membership, self.removed) {
            (Some(mesh), None) => (mesh.peers().map(|(p, _)| *p).collect(), leaving.collect()),
            _ => (Vec::new(), Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use weft_keys::Identity;
    use weft_proto::acl::OpKind;

    use super::*;
    use crate::mesh::log::Log;
    use crate::mesh::membership::peer_of;

    #[test]
    fn a_removed_node_lets_no_one_in_and_members_stand_as_the_acl_says() {
        let founder = Identity::from_secret(&[1; 32]);
        let bob = Identity::from_secret(&[2; 32]);
        let carol = Identity::from_secret(&[3; 32]);
        let id = MeshId::of_founder(&founder.member_key());
        let mut membership = Membership::new(Log::new(id), [], []);
        for kind in [
            OpKind::Found {
                name: None,
                founder: None,
            },
            OpKind::Add {
                member: bob.member_key(),
                role: Role::Member,
                name: None,
            },
            OpKind::Add {
                member: carol.member_key(),
                role: Role::Mailbox,
                name: None,
            },
            OpKind::Revoke {
                member: carol.member_key(),
            },
        ] {
            let op = membership.sign(&founder, kind).unwrap();
            membership.admit(op).unwrap();
        }
        let peer = |i: &Identity| peer_of(&i.member_key()).unwrap();
        let (mut mesh, _) = Mesh::load(Some(membership), None, Vec::new());
        assert_eq!(mesh.standing(&peer(&bob)), Standing::Member);
        assert_eq!(mesh.standing(&peer(&carol)), Standing::Removed);
        assert_eq!(mesh.standing(&PeerId::random()), Standing::Stranger);
        assert_eq!(mesh.role_of(&peer(&bob)), Some(Role::Member));
        assert_eq!(mesh.own(), Own::InMesh);
        assert!(mesh.set_removed(5));
        assert!(!mesh.set_removed(6), "learnt once");
        assert_eq!(mesh.own(), Own::Removed);
        assert!(!mesh.admits(&peer(&bob)), "a removed node admits no one");
        assert_eq!(mesh.doors(std::iter::empty()), (Vec::new(), Vec::new()));
    }
}
