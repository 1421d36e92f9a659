//! [`Membership`]: this node's view of its mesh, without IO: the ACL log and its
//! resolution, the members by PeerId, their sealing-key cards, and the invites this node
//! issued. Everything a peer says about the mesh (ops, cards, join requests) is decided
//! here; the event loop only carries the outcome to the swarm and the store.

use std::collections::{BTreeMap, HashMap};

use libp2p::PeerId;
use weft_keys::Identity;
use weft_keys::acl::sign_op;
use weft_keys::invite::{Invite, verify_proof};
use weft_keys::seal::verify_card;
use weft_proto::acl::{OP_VERSION, OpBody, OpKind, SignedOp, check_new_member_name};
use weft_proto::display::NameCard;
use weft_proto::join::{JOIN_VERSION, JoinRequest, MAX_JOIN_OPS_BYTES, Refusal};
use weft_proto::mesh::{MemberKey, MeshId, Role};
use weft_proto::seal::{SealCard, SealingKey};

use super::acl::Acl;
use super::display_names::DisplayNames;
use super::log::{Admitted, Batch, Log, Refused};
use crate::store::mesh::InviteRecord;

/// How the members changed with an op.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Peers that are members no more (revoked), to cut off.
    pub revoked: Vec<PeerId>,
    /// Peers that became members, to let in.
    pub admitted: Vec<PeerId>,
}

/// A redeemed invite: what to store before the joiner hears, and what it hears.
#[derive(Clone, Debug)]
pub struct Redeemed {
    /// The invite's record with one use spent, when a use was spent.
    pub spent: Option<([u8; 16], InviteRecord)>,
    /// The admission op, when the joiner was not a member yet.
    pub admission: Option<SignedOp>,
    /// The joiner's admission and its causal past, parents first.
    pub ops: Vec<SignedOp>,
    /// Whether the log holds more than `ops` (the joiner fetches them by sync).
    pub more: bool,
    /// How the members changed (the joiner is one now).
    pub changes: Changes,
}

/// This node's mesh.
#[derive(Clone, Debug)]
pub struct Membership {
    log: Log,
    /// Members by PeerId (derived from the ACL whenever it changes).
    peers: HashMap<PeerId, MemberKey>,
    /// Members' verified sealing-key cards.
    cards: HashMap<MemberKey, SealCard>,
    /// What members call themselves.
    names: DisplayNames,
    /// Invites this node issued, by id.
    invites: BTreeMap<[u8; 16], InviteRecord>,
}

impl Membership {
    /// The mesh `log` establishes, with the cards and invites this node kept.
    pub fn new(
        log: Log,
        cards: impl IntoIterator<Item = (MemberKey, SealCard)>,
        invites: impl IntoIterator<Item = ([u8; 16], InviteRecord)>,
    ) -> Membership {
        let mut membership = Membership {
            log,
            peers: HashMap::new(),
            cards: HashMap::new(),
            names: DisplayNames::default(),
            invites: invites.into_iter().collect(),
        };
        membership.index();
        for (member, card) in cards {
            membership.learn_card(member, card);
        }
        membership
    }

    /// The mesh id.
    pub fn id(&self) -> MeshId {
        self.log.mesh()
    }

    /// The ACL log.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// What the log says.
    pub fn acl(&self) -> &Acl {
        self.log.acl()
    }

    /// Admits `op` into the log (see [`Log::admit`]); on success, how the members changed.
    pub fn admit(&mut self, op: SignedOp) -> Result<(Admitted, Changes), Refused> {
        let before = self.peers.clone();
        let admitted = self.log.admit(op)?;
        if admitted == Admitted::Known {
            return Ok((admitted, Changes::default()));
        }
        Ok((admitted, self.changes_since(&before)))
    }

    /// Admits a batch of ops (a sync answer; see [`Log::admit_all`]): the ops admitted, in
    /// order, why the others were refused, and how the members changed.
    pub fn admit_all(&mut self, ops: Vec<SignedOp>) -> (Batch, Changes) {
        let before = self.peers.clone();
        let batch = self.log.admit_all(ops);
        if batch.new.is_empty() {
            return (batch, Changes::default());
        }
        (batch, self.changes_since(&before))
    }

    fn changes_since(&mut self, before: &HashMap<PeerId, MemberKey>) -> Changes {
        self.index();
        let mut changes = Changes {
            revoked: before
                .keys()
                .filter(|p| !self.peers.contains_key(p))
                .copied()
                .collect(),
            admitted: self
                .peers
                .keys()
                .filter(|p| !before.contains_key(p))
                .copied()
                .collect(),
        };
        changes.revoked.sort();
        changes.admitted.sort();
        changes
    }

    /// Signs `kind` as `identity`'s next op of this mesh (naming the log's heads as seen).
    /// Not yet admitted: see [`Membership::admit`].
    pub fn sign(&self, identity: &Identity, kind: OpKind) -> Option<SignedOp> {
        let body = OpBody {
            v: OP_VERSION,
            mesh: self.id(),
            author: identity.member_key(),
            prev: self.log.next_prev(),
            kind,
        };
        sign_op(identity, body).ok()
    }

    fn index(&mut self) {
        self.peers = self
            .acl()
            .members()
            .filter_map(|(key, _)| Some((peer_of(key)?, *key)))
            .collect();
    }

    /// `peer`'s key and role, when it is a member.
    pub fn member(&self, peer: &PeerId) -> Option<(MemberKey, Role)> {
        let key = self.peers.get(peer)?;
        Some((*key, self.acl().member(key)?.role))
    }

    /// Whether `peer` is a member.
    pub fn admits(&self, peer: &PeerId) -> bool {
        self.peers.contains_key(peer)
    }

    /// The members by PeerId.
    pub fn peers(&self) -> impl Iterator<Item = (&PeerId, &MemberKey)> {
        self.peers.iter()
    }

    /// Takes `card` as `member`'s sealing key when its signature holds. Returns whether it
    /// was new. (A card may name a key another member holds: boxes are attributed by the
    /// sender they name, checked against that sender's own card, so such a card only makes
    /// boxes sealed to its signer unreadable to it.)
    pub fn learn_card(&mut self, member: MemberKey, card: SealCard) -> bool {
        if self.cards.get(&member) == Some(&card) || verify_card(&member, &card).is_err() {
            return false;
        }
        self.cards.insert(member, card);
        true
    }

    /// The member that sealed a box naming `from` as its sender, whose handshake
    /// authenticated the sealing key `key`: `from`, when it is a member whose card carries
    /// `key`.
    pub fn sealer(&self, from: &MemberKey, key: &SealingKey) -> Option<PeerId> {
        let card = self.cards.get(from)?;
        if card.key != *key || self.acl().member(from).is_none() {
            return None;
        }
        peer_of(from)
    }

    /// `member`'s sealing-key card, if known.
    pub fn card(&self, member: &MemberKey) -> Option<SealCard> {
        self.cards.get(member).copied()
    }

    /// Takes `card` as what member `member` calls itself, when it is a member and the card
    /// holds and is later than the one held (see [`DisplayNames::learn`]; `now` in Unix
    /// seconds). Returns whether it was taken.
    pub fn learn_name(&mut self, member: MemberKey, card: NameCard, now: u64) -> bool {
        self.acl().member(&member).is_some()
            && self.names.learn(&self.log.mesh(), member, card, now)
    }

    /// What `member` calls itself, if it said.
    pub fn display_name(&self, member: &MemberKey) -> Option<&str> {
        self.names.name(member)
    }

    /// `member`'s display-name card, if known.
    pub fn name_card(&self, member: &MemberKey) -> Option<&NameCard> {
        self.names.card(member)
    }

    /// The invites this node issued.
    pub fn invites(&self) -> impl Iterator<Item = (&[u8; 16], &InviteRecord)> {
        self.invites.iter()
    }

    /// Records an invite this node issued (or its new count of uses).
    pub fn put_invite(&mut self, id: [u8; 16], record: InviteRecord) {
        self.invites.insert(id, record);
    }

    /// Decides a join request from `peer` (the issuer side) at `now` (Unix seconds): the
    /// admission to sign and store, or why not. The use is spent here, in memory, so a
    /// second request for a single-use invite is refused even before the first is on disk.
    pub fn redeem(
        &mut self,
        identity: &Identity,
        peer: &PeerId,
        req: &JoinRequest,
        now: u64,
    ) -> Result<Redeemed, Refusal> {
        if req.v != JOIN_VERSION {
            return Err(Refusal::Malformed);
        }
        if peer_of(&req.key) != Some(*peer) {
            return Err(Refusal::WrongKey);
        }
        let record = self
            .invites
            .get(&req.invite)
            .cloned()
            .ok_or(Refusal::UnknownInvite)?;
        let invite = Invite::decode(&record.key).map_err(|_| Refusal::UnknownInvite)?;
        if invite.mesh != self.id() {
            return Err(Refusal::WrongMesh);
        }
        if !self.acl().is_admin(&invite.issuer) {
            return Err(Refusal::IssuerNotAdmin);
        }
        if self.acl().is_invite_revoked(&req.invite) {
            return Err(Refusal::Revoked);
        }
        if now >= record.expires {
            return Err(Refusal::Expired);
        }
        if !verify_proof(&invite.secret, &peer.to_bytes(), &req.proof) {
            return Err(Refusal::WrongProof);
        }
        if self.acl().is_revoked(&req.key) {
            return Err(Refusal::Removed);
        }
        if let Some(admission) = self.admission_of(&req.key) {
            // Already admitted (an answer lost on the way): no use is spent again.
            let (ops, more) = self
                .log
                .with_past(&admission, MAX_JOIN_OPS_BYTES)
                .ok_or(Refusal::Unavailable)?;
            return Ok(Redeemed {
                spent: None,
                admission: None,
                ops,
                more,
                changes: Changes::default(),
            });
        }
        if record.uses_left == 0 {
            return Err(Refusal::UsedUp);
        }
        check_new_member_name(req.name.as_deref()).map_err(|_| Refusal::BadName)?;
        let op = self
            .sign(
                identity,
                OpKind::Add {
                    member: req.key,
                    role: record.role,
                    name: req.name.clone(),
                },
            )
            .ok_or(Refusal::Unavailable)?;
        let changes = match self.admit(op.clone()) {
            Ok((_, changes)) => changes,
            Err(Refused::Full) => return Err(Refusal::LogFull),
            Err(_) => return Err(Refusal::Unavailable),
        };
        let spent = InviteRecord {
            uses_left: record.uses_left - 1,
            ..record
        };
        self.invites.insert(req.invite, spent.clone());
        let (ops, more) = self
            .log
            .with_past(&op.id(), MAX_JOIN_OPS_BYTES)
            .ok_or(Refusal::Unavailable)?;
        Ok(Redeemed {
            spent: Some((req.invite, spent)),
            admission: Some(op),
            ops,
            more,
            changes,
        })
    }

    /// The op that admitted `key`, when it is a member.
    fn admission_of(&self, key: &MemberKey) -> Option<weft_proto::acl::OpId> {
        self.acl().member(key)?;
        let acl = self.acl();
        self.log
            .ops()
            .enumerate()
            .filter(|(i, _)| acl.applied(*i as u32))
            .find(|(_, op)| match &op.body.kind {
                OpKind::Add { member, .. } => member == key,
                OpKind::Found { .. } => op.body.author == *key,
                _ => false,
            })
            .map(|(_, op)| op.id())
    }
}

/// How a PeerId embeds an ed25519 key: the identity multihash (code 0) of the key's
/// protobuf encoding, field 1 (the key type, 1 for ed25519) then field 2 (32 bytes).
const ED25519_PROTOBUF: [u8; 4] = [0x08, 0x01, 0x12, 0x20];

/// The member key inside `peer` (weft PeerIds embed their ed25519 key), if it has one. Read
/// from the PeerId's bytes without decompressing the point: whoever holds the PeerId of a
/// connection proved the key when it connected, and a key taken from a peer's word is
/// looked up among members, or has its signature checked, before it means anything.
pub fn key_of(peer: &PeerId) -> Option<MemberKey> {
    let hash = peer.as_ref();
    if hash.code() != 0 {
        return None;
    }
    hash.digest()
        .strip_prefix(&ED25519_PROTOBUF)?
        .try_into()
        .ok()
        .map(MemberKey)
}

/// The PeerId of a member key (built from its bytes, as [`key_of`] reads them).
pub fn peer_of(key: &MemberKey) -> Option<PeerId> {
    let mut encoded = [0u8; 36];
    encoded[..4].copy_from_slice(&ED25519_PROTOBUF);
    encoded[4..].copy_from_slice(&key.0);
    let hash = libp2p::multihash::Multihash::wrap(0, &encoded).ok()?;
    PeerId::from_multihash(hash).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_peer_ids_map_as_libp2p_maps_them() {
        for n in 0..32u8 {
            let keypair = libp2p::identity::Keypair::ed25519_from_bytes([n; 32]).unwrap();
            let peer = keypair.public().to_peer_id();
            let key = MemberKey(keypair.public().try_into_ed25519().unwrap().to_bytes());
            assert_eq!(key_of(&peer), Some(key));
            assert_eq!(peer_of(&key), Some(peer));
        }
        // A PeerId that is a hash of its key (keys over 42 bytes) embeds none.
        let hashed =
            PeerId::from_multihash(libp2p::multihash::Multihash::wrap(0x12, &[7; 32]).unwrap())
                .unwrap();
        assert_eq!(key_of(&hashed), None);
    }
}
