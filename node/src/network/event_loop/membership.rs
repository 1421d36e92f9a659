//! The mesh this node belongs to: founding it, issuing and revoking invites, and reading the
//! ACL. Admin operations are rare, so their ops are flushed to disk before the caller hears
//! back, right here on the loop.

use std::time::Duration;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use libp2p::multiaddr::Protocol;
use libp2p::{PeerId, Swarm, gossipsub};
use tokio::sync::oneshot;
use weft_keys::acl::{sign_op, verify_op};
use weft_keys::invite::{Invite, InviteBody, InviteId, InviteSecret, verify_proof};
use weft_keys::seal::verify_card;
use weft_proto::acl::{MAX_POLICY_PUBLISHERS, OP_VERSION, OpBody, OpKind, Publisher, SignedOp};
use weft_proto::api::{CreateInviteRequest, InviteInfo, MemberInfo, MeshInfo};
use weft_proto::join::{JOIN_VERSION, JoinRequest, JoinResponse};
use weft_proto::mesh::{MeshId, Role};
use weft_proto::seal::SealCard;
use weft_proto::sync::{PeerAddrs, SYNC_VERSION, SyncRequest, SyncResponse};
use weft_proto::topic::TopicName;

use super::EventLoop;
use crate::delivery::clock::wall_us;
use crate::mesh::acl::Acl;
use crate::mesh::door::Door;
use crate::network::NodeError;
use crate::network::behaviour::{Behaviour, STRANGER_SCORE};
use crate::network::{join, sync};
use crate::store::mesh::InviteRecord;

/// The longest an invite may stay valid.
pub const MAX_INVITE_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// The most redemptions one invite may allow.
pub const MAX_INVITE_USES: u32 = 1000;

/// Longest invite note and mesh name, in bytes.
const MAX_NOTE_BYTES: usize = 256;

/// How many times a join exchange is tried when the connection fails under it.
const JOIN_ATTEMPTS: usize = 3;

/// The pause between join attempts.
const JOIN_RETRY_DELAY: Duration = Duration::from_millis(300);

/// How long a stranger to the mesh may stay connected to join.
const STRANGER_GRACE: Duration = Duration::from_secs(5);

/// How long a stranger stays after a failed join (for the answer to reach it).
const FAILED_JOIN_GRACE: Duration = Duration::from_millis(500);

/// Most strangers connected at once.
const MAX_STRANGERS: usize = 32;

/// How often members sync again while connected.
pub(super) const RESYNC_EVERY: Duration = Duration::from_secs(10);

/// Most members whose addresses one sync answer carries.
const MAX_SYNC_PEERS: usize = 256;

/// Largest gossiped ACL op.
const MAX_OP_BYTES: usize = 4096;

/// Most ops an ACL log may hold when adopted from an issuer.
const MAX_ADOPTED_OPS: usize = 100_000;

/// The mesh this node belongs to, as the loop keeps it: the ops, their fold, and the
/// members by PeerId (derived once per change, not per inbound message).
pub(super) struct Mesh {
    id: MeshId,
    ops: Vec<SignedOp>,
    acl: Acl,
    members: HashMap<PeerId, [u8; 32]>,
    /// Members' verified sealing-key cards, by member key.
    cards: HashMap<[u8; 32], SealCard>,
    /// Member keys by sealing key, to name the sender of a sealed box.
    sealers: HashMap<[u8; 32], [u8; 32]>,
    /// The members as the tasks beside the loop see them.
    door: Door,
}

impl Mesh {
    /// The mesh `id` that `ops` establish.
    fn new(id: MeshId, ops: Vec<SignedOp>, door: &Door) -> Mesh {
        let mut mesh = Mesh {
            id,
            acl: Acl::fold(id, &ops),
            ops,
            members: HashMap::new(),
            cards: HashMap::new(),
            sealers: HashMap::new(),
            door: door.clone(),
        };
        mesh.index_members();
        mesh
    }

    /// Re-folds after the ops changed.
    fn refold(&mut self) {
        self.acl = Acl::fold(self.id, &self.ops);
        self.index_members();
    }

    fn index_members(&mut self) {
        self.members = self
            .acl
            .members()
            .filter_map(|(key, _)| Some((peer_of(key)?, *key)))
            .collect();
        self.door.set(self.members.keys().copied());
    }

    /// The mesh stored in `store`, if this node belongs to one.
    pub(super) fn load(
        store: &crate::store::Store,
        door: &Door,
    ) -> Result<Option<Mesh>, NodeError> {
        let Some(id) = store.mesh.id()? else {
            return Ok(None);
        };
        let mut mesh = Mesh::new(id, store.mesh.ops()?, door);
        for (member, card) in store.mesh.cards()? {
            mesh.learn_card(member, card);
        }
        Ok(Some(mesh))
    }

    /// Takes `card` as `member`'s sealing key if its signature holds. Returns whether it was
    /// new.
    pub(super) fn learn_card(&mut self, member: [u8; 32], card: SealCard) -> bool {
        if self.cards.get(&member) == Some(&card) || verify_card(&member, &card).is_err() {
            return false;
        }
        if let Some(old) = self.cards.insert(member, card) {
            self.sealers.remove(&old.key);
        }
        self.sealers.insert(card.key, member);
        true
    }

    /// `member`'s sealing-key card, if known.
    pub(super) fn card(&self, member: &[u8; 32]) -> Option<SealCard> {
        self.cards.get(member).copied()
    }

    /// The member whose sealing key is `key`.
    pub(super) fn sealer(&self, key: &[u8; 32]) -> Option<[u8; 32]> {
        self.sealers.get(key).copied()
    }

    /// `peer`'s key and role, when it is a member.
    pub(super) fn member(&self, peer: &PeerId) -> Option<([u8; 32], Role)> {
        let key = self.members.get(peer)?;
        Some((*key, self.acl.member(key)?.role))
    }

    /// The mesh id.
    pub(super) fn id(&self) -> MeshId {
        self.id
    }
}

impl EventLoop {
    pub(super) fn mesh_create(&mut self, name: Option<String>) -> Result<MeshInfo, NodeError> {
        if let Some(mesh) = &self.mesh {
            return Err(NodeError::Invalid(format!(
                "this node is already in mesh {}; a node belongs to one mesh",
                mesh.id
            )));
        }
        check_text_field("mesh name", name.as_deref())?;
        let founder = self.identity.public().to_bytes();
        let id = MeshId::of_founder(&founder);
        let op = self.sign(id, 1, OpKind::Found { name })?;
        self.store.mesh.add_op(&op)?;
        self.store.mesh.set_id(id)?;
        self.store.mesh.flush()?;
        join_acl_topic(&mut self.swarm, id)?;
        self.prologue.set(Some(id));
        self.mesh = Some(Mesh::new(id, vec![op], &self.door));
        self.join_topics_of_mesh()?;
        tracing::info!(mesh = %id, "founded a mesh");
        self.mesh_info()
            .ok_or_else(|| NodeError::Invalid("mesh state lost".into()))
    }

    pub(super) fn mesh_info(&self) -> Option<MeshInfo> {
        let mesh = self.mesh.as_ref()?;
        let me = self.identity.public().to_bytes();
        Some(MeshInfo {
            id: mesh.id.to_string(),
            name: mesh.acl.name().map(str::to_string),
            role: mesh.acl.member(&me).map(|m| m.role),
            members: mesh.acl.members().count(),
        })
    }

    pub(super) fn invite_create(
        &mut self,
        req: CreateInviteRequest,
    ) -> Result<InviteInfo, NodeError> {
        let mesh = self.admin_mesh("create invites")?;
        if req.ttl_secs == 0 || req.ttl_secs > MAX_INVITE_TTL.as_secs() {
            return Err(NodeError::Invalid(format!(
                "an invite's lifetime must be between 1 second and 90 days (asked for {}s)",
                req.ttl_secs
            )));
        }
        if req.uses == 0 || req.uses > MAX_INVITE_USES {
            return Err(NodeError::Invalid(format!(
                "an invite allows 1 to {MAX_INVITE_USES} uses (asked for {})",
                req.uses
            )));
        }
        check_text_field("note", req.note.as_deref())?;
        let random = |e: weft_keys::KeyError| NodeError::Invalid(e.to_string());
        let id = InviteId::generate().map_err(random)?;
        let body = InviteBody {
            v: weft_keys::invite::VERSION,
            mesh,
            issuer: self.identity.public().to_bytes(),
            id,
            secret: InviteSecret::generate().map_err(random)?,
            role: req.role,
            expires: wall_us() / 1_000_000 + req.ttl_secs,
            uses: req.uses,
            addrs: self.bootstrap_addrs(),
        };
        let invite =
            Invite::sign(&self.identity, body).map_err(|e| NodeError::Invalid(e.to_string()))?;
        let key = invite
            .encode()
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        let record = InviteRecord {
            key: key.clone(),
            note: req.note.clone(),
            uses_left: req.uses,
        };
        self.store.mesh.put_invite(&id.0, &record)?;
        self.store.mesh.flush()?;
        let mut info = invite_info(&invite, &record, false);
        info.key = Some(key);
        Ok(info)
    }

    /// Outstanding invites: not revoked, not used up, not expired.
    pub(super) fn invites(&self) -> Result<Vec<InviteInfo>, NodeError> {
        let now = wall_us() / 1_000_000;
        let mut out = Vec::new();
        for (id, record) in self.store.mesh.invites()? {
            let Ok(invite) = Invite::decode(&record.key) else {
                continue;
            };
            let revoked = self
                .mesh
                .as_ref()
                .is_some_and(|m| m.acl.is_invite_revoked(&id));
            if !revoked && record.uses_left > 0 && invite.check_expiry(now).is_ok() {
                out.push(invite_info(&invite, &record, revoked));
            }
        }
        out.sort_by_key(|i| i.expires);
        Ok(out)
    }

    pub(super) fn invite_revoke(&mut self, id: &str) -> Result<InviteInfo, NodeError> {
        self.admin_mesh("revoke invites")?;
        let found = self
            .store
            .mesh
            .invites()?
            .into_iter()
            .filter_map(|(raw, record)| Some((raw, Invite::decode(&record.key).ok()?, record)))
            .find(|(_, invite, _)| invite.body.id.to_string() == id);
        let Some((raw, invite, record)) = found else {
            return Err(NodeError::NotFound(format!(
                "no invite `{id}` on this node (see `weft invite list`)"
            )));
        };
        self.append_op(OpKind::RevokeInvite { invite: raw })?;
        Ok(invite_info(&invite, &record, true))
    }

    /// Asks `bootstrap` (the node the caller reached at one of the invite's addresses) to
    /// admit this node; the caller hears back with the mesh's ACL log, to hand to
    /// [`Self::adopt`].
    pub(super) fn join(
        &mut self,
        invite: Invite,
        bootstrap: PeerId,
        reply: oneshot::Sender<Result<Vec<SignedOp>, NodeError>>,
    ) {
        if let Some(mesh) = &self.mesh {
            let _ = reply.send(Err(NodeError::Invalid(format!(
                "this node is already in mesh {}; a node belongs to one mesh",
                mesh.id
            ))));
            return;
        }
        let name = self.name.clone();
        if let Err(e) = check_text_field("name", name.as_deref()) {
            let _ = reply.send(Err(e));
            return;
        }
        let request = JoinRequest {
            v: JOIN_VERSION,
            invite: invite.body.id.0,
            key: self.identity.public().to_bytes(),
            proof: invite.proof(&self.local.to_bytes()),
            name,
        };
        let control = self.control.clone();
        tokio::spawn(async move {
            // A failed exchange (a connection that dropped) is retried; an answer is final.
            // Retrying is safe: an issuer answers an already admitted key with the log again
            // without spending another use.
            let mut result = join::request(control.clone(), bootstrap, request.clone()).await;
            for _ in 1..JOIN_ATTEMPTS {
                if !matches!(result, Err(join::JoinError::Failed(_))) {
                    break;
                }
                tokio::time::sleep(JOIN_RETRY_DELAY).await;
                result = join::request(control.clone(), bootstrap, request.clone()).await;
            }
            let _ = reply.send(result.map_err(|e| match e {
                join::JoinError::Refused(reason) => {
                    NodeError::Forbidden(format!("the issuer refused to admit this node: {reason}"))
                }
                join::JoinError::Failed(reason) => NodeError::Dial {
                    addr: bootstrap.to_string(),
                    reason,
                },
            }));
        });
    }

    /// Takes `ops` as the ACL log of mesh `id`, after checking every signature and that
    /// they admit this node; stores them durably.
    pub(super) fn adopt(&mut self, id: MeshId, ops: Vec<SignedOp>) -> Result<MeshInfo, NodeError> {
        if self.mesh.is_some() {
            return Err(NodeError::Invalid("this node is already in a mesh".into()));
        }
        if ops.len() > MAX_ADOPTED_OPS || ops.iter().any(|op| verify_op(op).is_err()) {
            return Err(NodeError::Invalid(
                "the issuer sent an ACL log with invalid signatures; nothing was stored".into(),
            ));
        }
        let mesh = Mesh::new(id, ops, &self.door);
        if mesh
            .acl
            .member(&self.identity.public().to_bytes())
            .is_none()
        {
            return Err(NodeError::Invalid(
                "the issuer's ACL log does not admit this node; nothing was stored".into(),
            ));
        }
        for op in &mesh.ops {
            self.store.mesh.add_op(op)?;
        }
        self.store.mesh.set_id(id)?;
        self.store.mesh.flush()?;
        join_acl_topic(&mut self.swarm, id)?;
        tracing::info!(mesh = %id, "joined a mesh");
        self.prologue.set(Some(id));
        self.mesh = Some(mesh);
        self.join_topics_of_mesh()?;
        // Fetch what the log gained since the bootstrap node answered, and where members are.
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        for peer in peers {
            self.start_sync(peer);
        }
        self.mesh_info()
            .ok_or_else(|| NodeError::Invalid("mesh state lost".into()))
    }

    /// Decides a join request from `peer` (the issuer side), admitting it when everything
    /// checks out. The use is spent and the admission stored before the answer goes out, so
    /// an invite is never redeemed more often than it allows, also across a crash.
    pub(super) fn redeem(&mut self, peer: PeerId, request: JoinRequest) -> JoinResponse {
        match self.try_redeem(peer, request) {
            Ok(ops) => JoinResponse::Accepted { ops },
            Err(reason) => {
                self.rejected.add("join");
                tracing::warn!(peer = %super::short(&peer), %reason, "join refused");
                // A failed join ends the stranger's grace, once the answer had time to leave.
                if let Some(deadline) = self.strangers.get_mut(&peer) {
                    *deadline = (*deadline).min(Instant::now() + FAILED_JOIN_GRACE);
                }
                JoinResponse::Refused { reason }
            }
        }
    }

    fn try_redeem(&mut self, peer: PeerId, req: JoinRequest) -> Result<Vec<SignedOp>, String> {
        if req.v != JOIN_VERSION {
            return Err(format!("unsupported join request version {}", req.v));
        }
        let mesh = self.mesh.as_ref().ok_or("this node is in no mesh")?;
        if peer_of(&req.key) != Some(peer) {
            return Err("the key does not match the connection's peer".into());
        }
        let record = self
            .store
            .mesh
            .invite(&req.invite)
            .map_err(|e| e.to_string())?
            .ok_or("unknown invite (it was not issued by this node)")?;
        let invite = Invite::decode(&record.key).map_err(|e| e.to_string())?;
        if invite.body.mesh != mesh.id {
            return Err("this invite is for another mesh".into());
        }
        if !mesh.acl.is_admin(&invite.body.issuer) {
            return Err("the invite's issuer is not an admin of this mesh".into());
        }
        if mesh.acl.is_invite_revoked(&req.invite) {
            return Err("this invite was revoked".into());
        }
        invite
            .check_expiry(wall_us() / 1_000_000)
            .map_err(|_| "this invite expired".to_string())?;
        if !verify_proof(&invite.body.secret, &peer.to_bytes(), &req.proof) {
            return Err("wrong proof: the joiner does not hold this invite's secret".into());
        }
        if mesh.acl.is_revoked(&req.key) {
            return Err("this key was removed from the mesh".into());
        }
        if mesh.acl.member(&req.key).is_some() {
            // Already admitted (an answer lost on the way): no use is spent again.
            return Ok(mesh.ops.clone());
        }
        if record.uses_left == 0 {
            return Err("this invite is used up".into());
        }
        check_text_field("name", req.name.as_deref()).map_err(|e| e.to_string())?;
        let spent = InviteRecord {
            uses_left: record.uses_left - 1,
            ..record
        };
        self.store
            .mesh
            .put_invite(&req.invite, &spent)
            .and_then(|()| self.store.mesh.flush())
            .map_err(|e| e.to_string())?;
        self.append_op(OpKind::Add {
            member: req.key,
            role: invite.body.role,
            name: req.name,
        })
        .map_err(|e| e.to_string())?;
        tracing::info!(peer = %super::short(&peer), role = %invite.body.role, "admitted a member");
        Ok(self
            .mesh
            .as_ref()
            .map(|m| m.ops.clone())
            .unwrap_or_default())
    }

    /// Admits a key this admin already knows (its PeerId), without an invite.
    pub(super) fn member_add(
        &mut self,
        peer: PeerId,
        role: Role,
        name: Option<String>,
    ) -> Result<MemberInfo, NodeError> {
        self.admin_mesh("admit members")?;
        check_text_field("name", name.as_deref())?;
        let key = key_of(&peer)?;
        let acl = &self.mesh.as_ref().ok_or_else(not_in_mesh)?.acl;
        if acl.is_revoked(&key) {
            return Err(NodeError::Invalid(format!(
                "{peer} was removed from the mesh; removal is permanent"
            )));
        }
        if acl.member(&key).is_some() {
            return Err(NodeError::Invalid(format!("{peer} is a member already")));
        }
        self.append_op(OpKind::Add {
            member: key,
            role,
            name,
        })?;
        self.member_info(&peer)
    }

    /// Revokes a member: permanent, and its connections to this node close at once.
    pub(super) fn member_remove(&mut self, peer: PeerId) -> Result<MemberInfo, NodeError> {
        self.admin_mesh("remove members")?;
        let key = key_of(&peer)?;
        let info = self.member_info(&peer)?;
        if MeshId::of_founder(&key) == self.mesh.as_ref().ok_or_else(not_in_mesh)?.id {
            return Err(NodeError::Invalid(
                "the founder cannot be removed from its mesh".into(),
            ));
        }
        self.append_op(OpKind::Revoke { member: key })?;
        self.shut_out(peer);
        tracing::info!(peer = %super::short(&peer), "removed a member");
        Ok(info)
    }

    /// Changes a member's role.
    pub(super) fn member_role(
        &mut self,
        peer: PeerId,
        role: Role,
    ) -> Result<MemberInfo, NodeError> {
        self.admin_mesh("change roles")?;
        let key = key_of(&peer)?;
        self.member_info(&peer)?;
        if MeshId::of_founder(&key) == self.mesh.as_ref().ok_or_else(not_in_mesh)?.id {
            return Err(NodeError::Invalid(
                "the founder's role cannot change".into(),
            ));
        }
        self.append_op(OpKind::SetRole { member: key, role })?;
        self.member_info(&peer)
    }

    /// Restricts who may publish on `topic` (roles or members); empty lifts it.
    pub(super) fn topic_policy(
        &mut self,
        topic: TopicName,
        publish: Vec<String>,
    ) -> Result<(), NodeError> {
        self.admin_mesh("set topic policies")?;
        if publish.len() > MAX_POLICY_PUBLISHERS {
            return Err(NodeError::Invalid(format!(
                "at most {MAX_POLICY_PUBLISHERS} publishers per topic"
            )));
        }
        let mut publishers = Vec::new();
        for p in publish {
            publishers.push(match p.parse::<Role>() {
                Ok(Role::Guest) => {
                    return Err(NodeError::Invalid(
                        "guests never publish; name admin, member or PeerIds".into(),
                    ));
                }
                Ok(role) => Publisher::Role(role),
                Err(_) => {
                    let peer: PeerId = p.parse().map_err(|_| {
                        NodeError::Invalid(format!("`{p}` is neither a role nor a PeerId"))
                    })?;
                    Publisher::Key(key_of(&peer)?)
                }
            });
        }
        self.append_op(OpKind::TopicPolicy { topic, publishers })
    }

    fn member_info(&self, peer: &PeerId) -> Result<MemberInfo, NodeError> {
        self.members()?
            .into_iter()
            .find(|m| m.peer_id == peer.to_string())
            .ok_or_else(|| NodeError::NotFound(format!("{peer} is not a member of this mesh")))
    }

    /// Syncs again with every connected member, every [`RESYNC_EVERY`]: gossip of a new op
    /// can miss a member (its subscription not yet heard, a lost packet), and this bounds
    /// how long such a member stays behind.
    pub(super) fn resync(&mut self, now: Instant) {
        if now < self.next_resync {
            return;
        }
        self.next_resync = now + RESYNC_EVERY;
        let members: Vec<PeerId> = self
            .peers
            .keys()
            .filter(|p| self.admits(p))
            .copied()
            .collect();
        for peer in members {
            self.start_sync(peer);
        }
    }

    /// Asks a newly connected peer for the ACL ops this node lacks (members only answer).
    pub(super) fn start_sync(&mut self, peer: PeerId) {
        let Some(mesh) = &self.mesh else {
            return;
        };
        let request = SyncRequest {
            v: SYNC_VERSION,
            mesh: mesh.id,
            have: mesh.ops.iter().map(SignedOp::id).collect(),
            card: Some(self.mailboxes.card(&self.identity)),
            topics: self.topic_marks(),
        };
        let (control, results) = (self.control.clone(), self.synced_tx.clone());
        tokio::spawn(async move {
            let result = sync::request(control, peer, request).await;
            let _ = results.send((peer, result)).await;
        });
    }

    /// Answers a peer's sync request: members of this mesh get the ops they lack; anyone
    /// else gets nothing.
    pub(super) fn answer_sync(&mut self, peer: PeerId, request: SyncRequest) -> SyncResponse {
        let not_member = || SyncResponse::Refused {
            reason: "not a member of this node's mesh".into(),
        };
        let member = self
            .mesh
            .as_ref()
            .filter(|m| m.id == request.mesh)
            .and_then(|m| m.member(&peer));
        let Some((member, _)) = member else {
            self.rejected.add("sync");
            return not_member();
        };
        if let Some(card) = request.card {
            self.learn_card(member, card);
        }
        // Still there: `member` came from it.
        let Some(mesh) = self.mesh.as_ref() else {
            return not_member();
        };
        let have: HashSet<[u8; 32]> = request.have.into_iter().collect();
        let ops = mesh
            .ops
            .iter()
            .filter(|op| !have.contains(&op.id()))
            .cloned()
            .collect();
        // Where the other members are, as far as this node knows.
        let peers = mesh
            .acl
            .members()
            .filter_map(|(key, _)| peer_of(key))
            .filter(|p| *p != peer)
            .take(MAX_SYNC_PEERS)
            .filter_map(|p| {
                let addrs: Vec<String> = if p == self.local {
                    self.listen_addrs.iter().map(|a| a.to_string()).collect()
                } else {
                    let known = self.store.peers.addrs(&p).ok()?;
                    known.iter().map(|a| a.to_string()).collect()
                };
                let card = if p == self.local {
                    Some(self.mailboxes.card(&self.identity))
                } else {
                    mesh.members.get(&p).and_then(|k| mesh.card(k))
                };
                (!addrs.is_empty()).then_some(PeerAddrs {
                    peer: p.to_bytes(),
                    addrs,
                    card,
                })
            })
            .collect();
        let (messages, more) = self.logged_for(&request.topics);
        SyncResponse::Ops {
            ops,
            peers,
            messages,
            more,
            now_us: wall_us(),
        }
    }

    pub(super) fn on_synced(&mut self, peer: PeerId, result: Result<sync::Synced, String>) {
        match result {
            Ok(synced) => {
                if let Some(c) = self.peers.get_mut(&peer) {
                    c.skew_us = synced.skew_us.or(c.skew_us);
                    c.synced = Some(Instant::now());
                }
                let new = self.merge_ops(synced.ops);
                if new > 0 {
                    tracing::info!(peer = %super::short(&peer), new, "ACL log synced");
                }
                self.meet_members(synced.peers);
                self.take_logged(peer, synced.messages, synced.more);
            }
            Err(reason) => tracing::debug!(peer = %super::short(&peer), %reason, "no ACL sync"),
        }
    }

    /// Remembers where members are and dials those this node is not connected to, so
    /// members find each other without being told addresses.
    fn meet_members(&mut self, peers: Vec<PeerAddrs>) {
        let now = Instant::now();
        for entry in peers.into_iter().take(MAX_SYNC_PEERS) {
            let Ok(peer) = PeerId::from_bytes(&entry.peer) else {
                continue;
            };
            if peer == self.local || !self.admits(&peer) || self.mesh.is_none() {
                continue;
            }
            if let (Some(card), Ok(member)) = (entry.card, key_of(&peer)) {
                self.learn_card(member, card);
            }
            let addrs: Vec<libp2p::Multiaddr> = entry
                .addrs
                .iter()
                .take(crate::store::peers::MAX_ADDRS_PER_PEER)
                .filter_map(|a| a.parse().ok())
                .collect();
            for addr in &addrs {
                self.swarm.add_peer_address(peer, addr.clone());
            }
            if let Err(e) = self.store.peers.remember(&peer, &addrs) {
                tracing::warn!(error = %e, "cannot remember a member's addresses");
            }
            if !self.peers.contains_key(&peer) {
                self.redial.dial_now(peer, now);
            }
        }
    }

    /// Adds ops learnt from peers (sync or gossip) after checking each signature; returns how
    /// many were new. Members the ACL now says are revoked are disconnected at once.
    pub(super) fn merge_ops(&mut self, ops: Vec<SignedOp>) -> usize {
        let Some(mesh) = self.mesh.as_mut() else {
            return 0;
        };
        let known: HashSet<[u8; 32]> = mesh.ops.iter().map(SignedOp::id).collect();
        let mut new = 0;
        for op in ops.into_iter().take(MAX_ADOPTED_OPS) {
            if op.body.mesh != mesh.id || known.contains(&op.id()) {
                continue;
            }
            if verify_op(&op).is_err() {
                self.rejected.add("acl_op");
                continue;
            }
            if let Err(e) = self.store.mesh.add_op(&op) {
                tracing::error!(error = %e, "cannot store an ACL op");
                continue;
            }
            mesh.ops.push(op);
            new += 1;
        }
        if new == 0 {
            return 0;
        }
        if let Err(e) = self.store.mesh.flush() {
            tracing::error!(error = %e, "cannot flush ACL ops");
        }
        mesh.refold();
        let mesh = &*mesh;
        let revoked: Vec<PeerId> = self
            .peers
            .keys()
            .filter(|p| key_of(p).is_ok_and(|k| mesh.acl.is_revoked(&k)))
            .copied()
            .collect();
        for peer in revoked {
            tracing::info!(peer = %super::short(&peer), "disconnecting a removed member");
            self.shut_out(peer);
        }
        self.let_in_admitted();
        new
    }

    /// Connected strangers the ACL now admits get gossip again, at once (a subscription they
    /// send right after joining must not be ignored).
    fn let_in_admitted(&mut self) {
        let admitted: Vec<PeerId> = self
            .strangers
            .keys()
            .filter(|p| self.admits(p))
            .copied()
            .collect();
        for peer in admitted {
            self.strangers.remove(&peer);
            let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
            gossipsub.remove_blacklisted_peer(&peer);
            gossipsub.set_application_score(&peer, 0.0);
        }
    }

    /// Decides a gossiped ACL op: stored and forwarded when new and valid.
    pub(super) fn accept_acl_gossip(&mut self, data: &[u8]) -> gossipsub::MessageAcceptance {
        let op = match weft_proto::codec::from_cbor::<SignedOp>(data) {
            Ok(op) if data.len() <= MAX_OP_BYTES => op,
            _ => return gossipsub::MessageAcceptance::Reject,
        };
        if verify_op(&op).is_err() {
            self.rejected.add("acl_op");
            return gossipsub::MessageAcceptance::Reject;
        }
        if self.merge_ops(vec![op]) > 0 {
            gossipsub::MessageAcceptance::Accept
        } else {
            gossipsub::MessageAcceptance::Ignore
        }
    }

    /// Whether `topic` is this node's mesh's ACL topic.
    pub(super) fn is_acl_topic(&self, topic: &gossipsub::TopicHash) -> bool {
        self.mesh
            .as_ref()
            .is_some_and(|m| &acl_topic(m.id).hash() == topic)
    }

    /// Whether this node lets `peer` in: members of its mesh; no one while it is in none.
    pub(super) fn admits(&self, peer: &PeerId) -> bool {
        self.mesh
            .as_ref()
            .is_some_and(|mesh| mesh.members.contains_key(peer))
    }

    /// `peer`'s ed25519 key, when it is a member.
    pub(super) fn member_key(&self, peer: &PeerId) -> Option<[u8; 32]> {
        self.mesh.as_ref()?.members.get(peer).copied()
    }

    /// Whether `peer` may publish on `topic` here.
    pub(super) fn may_publish(&self, peer: &PeerId, topic: &TopicName) -> bool {
        self.mesh.as_ref().is_some_and(|mesh| {
            mesh.members
                .get(peer)
                .is_some_and(|k| mesh.acl.can_publish(k, topic))
        })
    }

    /// A connection to `peer` is up: a stranger to this node's mesh hears no gossip and has
    /// [`STRANGER_GRACE`] to join before it is disconnected. A node in no mesh has no one to
    /// admit, so it keeps only the connections it dialled itself (to join a mesh).
    pub(super) fn screen(&mut self, peer: PeerId, dialled: bool) {
        if self.door.check("connection", &peer) {
            return;
        }
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        gossipsub.set_application_score(&peer, STRANGER_SCORE);
        gossipsub.blacklist_peer(&peer);
        if self.mesh.is_none() && !dialled {
            tracing::info!(peer = %super::short(&peer), "refused a connection: this node is in no mesh");
            self.rejected.add("not_in_mesh");
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        if self.strangers.len() >= MAX_STRANGERS {
            tracing::warn!(peer = %super::short(&peer), "too many strangers connected; refusing one");
            self.rejected.add("stranger");
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        self.strangers.insert(peer, Instant::now() + STRANGER_GRACE);
    }

    /// Cuts a removed member off: no gossip either way, and its connections close.
    fn shut_out(&mut self, peer: PeerId) {
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        gossipsub.set_application_score(&peer, STRANGER_SCORE);
        gossipsub.blacklist_peer(&peer);
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    /// Disconnects strangers whose time to join is up.
    pub(super) fn expire_strangers(&mut self, now: Instant) {
        let peers: Vec<PeerId> = self.strangers.keys().copied().collect();
        for peer in peers {
            if self.admits(&peer) {
                self.strangers.remove(&peer);
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .remove_blacklisted_peer(&peer);
            } else if self.strangers.get(&peer).is_some_and(|t| *t <= now) {
                self.strangers.remove(&peer);
                self.rejected.add("stranger");
                tracing::info!(peer = %super::short(&peer), "disconnected a stranger to the mesh");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    pub(super) fn members(&self) -> Result<Vec<MemberInfo>, NodeError> {
        let mesh = self.mesh.as_ref().ok_or_else(not_in_mesh)?;
        let mut out: Vec<MemberInfo> = mesh
            .acl
            .members()
            .filter_map(|(key, m)| {
                let peer = peer_of(key)?;
                Some(MemberInfo {
                    peer_id: peer.to_string(),
                    role: m.role,
                    name: m.name.clone(),
                    added_by: peer_of(&m.added_by)
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    added_at: m.added_at,
                    connected: peer == self.local || self.peers.contains_key(&peer),
                })
            })
            .collect();
        out.sort_by_key(|m| m.added_at);
        Ok(out)
    }

    /// The mesh id, if this node is an admin of its mesh.
    fn admin_mesh(&self, to: &str) -> Result<MeshId, NodeError> {
        let mesh = self.mesh.as_ref().ok_or_else(not_in_mesh)?;
        if !mesh.acl.is_admin(&self.identity.public().to_bytes()) {
            return Err(NodeError::Forbidden(format!("only admins may {to}")));
        }
        Ok(mesh.id)
    }

    /// Signs `kind` as the next op of this node's mesh, stores it durably and re-folds.
    fn append_op(&mut self, kind: OpKind) -> Result<(), NodeError> {
        let (id, lamport) = {
            let mesh = self.mesh.as_ref().ok_or_else(not_in_mesh)?;
            (mesh.id, mesh.acl.lamport() + 1)
        };
        let op = self.sign(id, lamport, kind)?;
        self.store.mesh.add_op(&op)?;
        self.store.mesh.flush()?;
        // Members connected now hear of it at once; the others on their next sync.
        if let Ok(bytes) = weft_proto::codec::to_cbor(&op) {
            let _ = self
                .swarm
                .behaviour_mut()
                .gossipsub
                .publish(acl_topic(id), bytes);
        }
        if let Some(mesh) = self.mesh.as_mut() {
            mesh.ops.push(op);
            mesh.refold();
        }
        self.let_in_admitted();
        Ok(())
    }

    fn sign(&self, mesh: MeshId, lamport: u64, kind: OpKind) -> Result<SignedOp, NodeError> {
        let body = OpBody {
            v: OP_VERSION,
            mesh,
            lamport,
            author: self.identity.public().to_bytes(),
            kind,
        };
        sign_op(&self.identity, body).map_err(|e| NodeError::Invalid(e.to_string()))
    }

    /// Where an invite's holder can reach this node: the listen addresses with the PeerId,
    /// non-loopback first, at most as many as an invite carries.
    fn bootstrap_addrs(&self) -> Vec<String> {
        // Not relayed addresses: relays serve members only, and a newcomer is not one yet.
        let mut addrs: Vec<_> = self
            .listen_addrs
            .iter()
            .filter(|a| !super::reach::is_relayed(a))
            .cloned()
            .collect();
        addrs.sort_by_key(|a| {
            a.iter()
                .any(|p| matches!(p, Protocol::Ip4(ip) if ip.is_loopback()))
        });
        addrs
            .into_iter()
            .take(weft_keys::invite::MAX_ADDRS)
            .map(|a| a.with(Protocol::P2p(self.local)).to_string())
            .collect()
    }
}

/// The gossipsub topic that carries a mesh's new ACL ops.
fn acl_topic(mesh: MeshId) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("weft/{mesh}/acl"))
}

/// Joins the ACL topic of `mesh`.
pub(super) fn join_acl_topic(swarm: &mut Swarm<Behaviour>, mesh: MeshId) -> Result<(), NodeError> {
    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&acl_topic(mesh))
        .map(|_| ())
        .map_err(|e| NodeError::Invalid(format!("cannot join the ACL topic: {e}")))
}

fn invite_info(invite: &Invite, record: &InviteRecord, revoked: bool) -> InviteInfo {
    InviteInfo {
        id: invite.body.id.to_string(),
        role: invite.body.role,
        uses_left: record.uses_left,
        expires: invite.body.expires,
        note: record.note.clone(),
        revoked,
        key: None,
    }
}

pub(super) fn not_in_mesh() -> NodeError {
    NodeError::Invalid("this node is in no mesh: found one with `weft mesh create` or join one with `weft join INVITE`".into())
}

fn check_text_field(what: &str, value: Option<&str>) -> Result<(), NodeError> {
    match value {
        Some(v) if v.is_empty() || v.len() > MAX_NOTE_BYTES || v.chars().any(char::is_control) => {
            Err(NodeError::Invalid(format!(
                "the {what} must be 1-{MAX_NOTE_BYTES} bytes of printable text"
            )))
        }
        _ => Ok(()),
    }
}

/// The ed25519 public key inside `peer` (weft PeerIds embed their key).
fn key_of(peer: &PeerId) -> Result<[u8; 32], NodeError> {
    libp2p::identity::PublicKey::try_decode_protobuf(peer.as_ref().digest())
        .ok()
        .and_then(|k| k.try_into_ed25519().ok())
        .map(|k| k.to_bytes())
        .ok_or_else(|| NodeError::Invalid(format!("{peer} is not the PeerId of an ed25519 key")))
}

/// The PeerId of an ed25519 public key.
pub(crate) fn peer_of(key: &[u8; 32]) -> Option<PeerId> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(key).ok()?;
    Some(libp2p::identity::PublicKey::from(key).to_peer_id())
}
