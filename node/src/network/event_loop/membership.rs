//! The mesh this node belongs to: founding it, issuing and revoking invites, joining with
//! one, redeeming them for others, and the admins' changes to the ACL. The decisions are
//! [`Membership`]'s; this file carries them to the store (through the group commit: a
//! caller hears back once the change is on disk), to gossip and to the doors.

use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{PeerId, Swarm, gossipsub};
use tokio::sync::oneshot;
use weft_keys::invite::{Invite, InviteBody, InviteId, InviteSecret};
use weft_proto::acl::{MAX_POLICY_PUBLISHERS, OpKind, Publisher, SignedOp};
use weft_proto::api::{CreateInviteRequest, InviteInfo, MemberInfo, MeshInfo};
use weft_proto::join::{JOIN_VERSION, JoinRequest, JoinResponse};
use weft_proto::mesh::{MeshId, Role};
use weft_proto::topic::TopicName;

use super::EventLoop;
use crate::delivery::clock::wall_us;
use crate::mesh::log::{Log, MAX_LOG_OPS, Refused};
use crate::mesh::membership::{Changes, Membership, key_of, peer_of};
use crate::network::NodeError;
use crate::network::behaviour::Behaviour;
use crate::network::group_flush::{Durable, Then};
use crate::network::{join, sync};
use crate::store::mesh::InviteRecord;
use crate::store::write::Write;

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

/// Most sync rounds a joiner takes to fetch the rest of a log too long for the join answer.
const JOIN_SYNC_ROUNDS: usize = MAX_LOG_OPS / weft_proto::sync::MAX_SYNC_OPS + 2;

/// A caller waiting for a change to be on disk.
type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

impl EventLoop {
    /// Sends `result` to `reply` once everything queued so far is on disk (at once when it
    /// is an error).
    pub(super) fn reply_durably<T: Send + 'static>(
        &mut self,
        reply: Reply<T>,
        result: Result<T, NodeError>,
    ) {
        match result {
            Err(e) => {
                let _ = reply.send(Err(e));
            }
            Ok(value) => self.flush.push(Durable::Then(Then(Box::new(move |ok| {
                let _ = reply.send(if ok {
                    Ok(value)
                } else {
                    Err(NodeError::StorageFailed(
                        "the change could not be stored".into(),
                    ))
                });
            })))),
        }
    }

    pub(super) fn mesh_create(&mut self, name: Option<String>, reply: Reply<MeshInfo>) {
        let result = self.found(name);
        self.reply_durably(reply, result);
    }

    fn found(&mut self, name: Option<String>) -> Result<MeshInfo, NodeError> {
        if let Some(mesh) = &self.mesh {
            return Err(NodeError::Invalid(format!(
                "this node is already in mesh {}; a node belongs to one mesh",
                mesh.id()
            )));
        }
        check_text_field(
            "mesh name",
            name.as_deref(),
            weft_proto::acl::MAX_MEMBER_NAME_BYTES,
        )?;
        let id = MeshId::of_founder(&self.identity.public().to_bytes());
        let mut mesh = Membership::new(Log::new(id), [], []);
        let op = mesh
            .sign(&self.identity, OpKind::Found { name })
            .ok_or_else(|| NodeError::Invalid("cannot sign the founding op".into()))?;
        mesh.admit(op.clone())
            .map_err(|e| NodeError::Invalid(format!("cannot found the mesh: {e}")))?;
        self.flush.write(Write::SetMesh(id));
        self.flush.write(Write::PutOp(0, Box::new(op)));
        self.enter(mesh)?;
        tracing::info!(mesh = %id, "founded a mesh");
        self.mesh_info()
            .ok_or_else(|| NodeError::Invalid("mesh state lost".into()))
    }

    /// Becomes a member of `mesh` (founded or joined): its prologue, topics and doors.
    fn enter(&mut self, mesh: Membership) -> Result<(), NodeError> {
        let id = mesh.id();
        join_acl_topic(&mut self.swarm, id)?;
        self.prologue.set(Some(id));
        self.mesh = Some(mesh);
        self.open_doors();
        self.join_topics_of_mesh()
    }

    pub(super) fn mesh_info(&self) -> Option<MeshInfo> {
        let mesh = self.mesh.as_ref()?;
        let me = self.identity.public().to_bytes();
        Some(MeshInfo {
            id: mesh.id().to_string(),
            name: mesh.acl().name().map(str::to_string),
            role: mesh.acl().member(&me).map(|m| m.role),
            members: mesh.acl().members().count(),
        })
    }

    pub(super) fn invite_create(&mut self, req: CreateInviteRequest, reply: Reply<InviteInfo>) {
        let result = self.issue(req);
        self.reply_durably(reply, result);
    }

    fn issue(&mut self, req: CreateInviteRequest) -> Result<InviteInfo, NodeError> {
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
        check_text_field("note", req.note.as_deref(), MAX_NOTE_BYTES)?;
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
        if let Some(mesh) = self.mesh.as_mut() {
            mesh.put_invite(id.0, record.clone());
        }
        self.flush.write(Write::PutInvite(id.0, record.clone()));
        let mut info = invite_info(&invite, &record, false);
        info.key = Some(key);
        Ok(info)
    }

    /// Outstanding invites: not revoked, not used up, not expired.
    pub(super) fn invites(&self) -> Result<Vec<InviteInfo>, NodeError> {
        let mesh = self.mesh.as_ref().ok_or_else(not_in_mesh)?;
        let now = wall_us() / 1_000_000;
        let mut out = Vec::new();
        for (id, record) in mesh.invites() {
            let Ok(invite) = Invite::decode(&record.key) else {
                continue;
            };
            let revoked = mesh.acl().is_invite_revoked(id);
            if !revoked && record.uses_left > 0 && invite.check_expiry(now).is_ok() {
                out.push(invite_info(&invite, record, revoked));
            }
        }
        out.sort_by_key(|i| i.expires);
        Ok(out)
    }

    pub(super) fn invite_revoke(&mut self, id: &str, reply: Reply<InviteInfo>) {
        let result = self.revoke_invite(id);
        self.reply_durably(reply, result);
    }

    fn revoke_invite(&mut self, id: &str) -> Result<InviteInfo, NodeError> {
        self.admin_mesh("revoke invites")?;
        let mesh = self.mesh.as_ref().ok_or_else(not_in_mesh)?;
        let found = mesh
            .invites()
            .filter_map(|(raw, record)| Some((*raw, Invite::decode(&record.key).ok()?, record)))
            .find(|(_, invite, _)| invite.body.id.to_string() == id)
            .map(|(raw, invite, record)| (raw, invite, record.clone()));
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
    /// [`Self::adopt`]. A log too long for the join answer is fetched on by sync from the
    /// issuer, which answers its new member.
    pub(super) fn join(&mut self, invite: Invite, bootstrap: PeerId, reply: Reply<Vec<SignedOp>>) {
        if let Some(mesh) = &self.mesh {
            let _ = reply.send(Err(NodeError::Invalid(format!(
                "this node is already in mesh {}; a node belongs to one mesh",
                mesh.id()
            ))));
            return;
        }
        let name = self.name.clone();
        if let Err(e) = check_text_field(
            "name",
            name.as_deref(),
            weft_proto::acl::MAX_MEMBER_NAME_BYTES,
        ) {
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
        let (control, mesh) = (self.control.clone(), invite.body.mesh);
        self.tasks.spawn("join", async move {
            let _ = reply.send(redeem_at(control, bootstrap, mesh, request).await);
        });
    }

    /// Takes `ops` as the ACL log of mesh `id`, after checking that every op passes the
    /// log's door and that they admit this node; stores them and answers once on disk.
    pub(super) fn adopt(&mut self, id: MeshId, ops: Vec<SignedOp>, reply: Reply<MeshInfo>) {
        let result = self.adopt_log(id, ops);
        self.reply_durably(reply, result);
    }

    fn adopt_log(&mut self, id: MeshId, ops: Vec<SignedOp>) -> Result<MeshInfo, NodeError> {
        if self.mesh.is_some() {
            return Err(NodeError::Invalid("this node is already in a mesh".into()));
        }
        let mut log = Log::new(id);
        if let Err(e) = take_log(&mut log, ops.into_iter().take(MAX_LOG_OPS).collect()) {
            return Err(NodeError::Invalid(format!(
                "the issuer's ACL log does not hold ({e}); nothing was stored"
            )));
        }
        if log
            .acl()
            .member(&self.identity.public().to_bytes())
            .is_none()
        {
            return Err(NodeError::Invalid(
                "the issuer's ACL log does not admit this node; nothing was stored".into(),
            ));
        }
        self.flush.write(Write::SetMesh(id));
        for (seq, op) in log.ops().enumerate() {
            self.flush
                .write(Write::PutOp(seq as u32, Box::new(op.clone())));
        }
        self.enter(Membership::new(log, [], []))?;
        tracing::info!(mesh = %id, "joined a mesh");
        // Every connection so far was made as a stranger, without the members' protocols:
        // reconnect to the members as a member.
        let connected: Vec<(PeerId, libp2p::Multiaddr, bool)> = self
            .peers
            .iter()
            .map(|(p, c)| (*p, c.path.addr.clone(), c.path.outbound))
            .collect();
        for (peer, addr, outbound) in connected {
            if self.admits(&peer) && outbound {
                self.remember_own(peer, &[addr]);
            }
            let _ = self.swarm.disconnect_peer_id(peer);
            self.peers.dial_soon(peer, Instant::now());
        }
        self.mesh_info()
            .ok_or_else(|| NodeError::Invalid("mesh state lost".into()))
    }

    /// Decides a join request from `peer` (the issuer side), admitting it when everything
    /// checks out. The use is spent and the admission stored before the answer goes out, so
    /// an invite is never redeemed more often than it allows, also across a crash.
    pub(super) fn redeem(
        &mut self,
        peer: PeerId,
        request: JoinRequest,
        reply: oneshot::Sender<JoinResponse>,
    ) {
        let now = wall_us() / 1_000_000;
        let outcome = match self.mesh.as_mut() {
            Some(mesh) => mesh.redeem(&self.identity, &peer, &request, now),
            None => Err(weft_proto::join::Refusal::WrongMesh),
        };
        let redeemed = match outcome {
            Ok(redeemed) => redeemed,
            Err(reason) => {
                self.rejected.add("join");
                tracing::warn!(peer = %super::short(&peer), %reason, "join refused");
                self.doors.join_failed(&peer, Instant::now());
                let _ = reply.send(JoinResponse::Refused { reason });
                return;
            }
        };
        if let Some((id, record)) = redeemed.spent {
            self.flush.write(Write::PutInvite(id, record));
        }
        if let Some(op) = redeemed.admission {
            self.stored_admitted(op.clone());
            self.publish_op(&op);
            tracing::info!(peer = %super::short(&peer), "admitted a member");
        }
        self.take_changes(redeemed.changes);
        // The joiner pages through the rest of the log on this connection.
        self.doors.admitted(
            &peer,
            crate::core::doors::JOINER_RECONNECT_AFTER,
            Instant::now(),
        );
        let (ops, more) = (redeemed.ops, redeemed.more);
        self.flush.push(Durable::Then(Then(Box::new(move |ok| {
            let _ = reply.send(if ok {
                JoinResponse::Accepted { ops, more }
            } else {
                JoinResponse::Refused {
                    reason: weft_proto::join::Refusal::Unavailable,
                }
            });
        }))));
    }

    /// Admits a key this admin already knows (its PeerId), without an invite.
    pub(super) fn member_add(
        &mut self,
        peer: PeerId,
        role: Role,
        name: Option<String>,
        reply: Reply<MemberInfo>,
    ) {
        let result = self.add_member(peer, role, name);
        self.reply_durably(reply, result);
    }

    fn add_member(
        &mut self,
        peer: PeerId,
        role: Role,
        name: Option<String>,
    ) -> Result<MemberInfo, NodeError> {
        self.admin_mesh("admit members")?;
        check_text_field(
            "name",
            name.as_deref(),
            weft_proto::acl::MAX_MEMBER_NAME_BYTES,
        )?;
        let key = ed25519_key(&peer)?;
        let acl = self.mesh.as_ref().ok_or_else(not_in_mesh)?.acl();
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

    /// Revokes a member: permanent; its connections close and it may not connect again.
    pub(super) fn member_remove(&mut self, peer: PeerId, reply: Reply<MemberInfo>) {
        let result = self.remove_member(peer);
        self.reply_durably(reply, result);
    }

    fn remove_member(&mut self, peer: PeerId) -> Result<MemberInfo, NodeError> {
        self.admin_mesh("remove members")?;
        let key = ed25519_key(&peer)?;
        let info = self.member_info(&peer)?;
        if self.mesh.as_ref().is_some_and(|m| m.acl().is_founder(&key)) {
            return Err(NodeError::Invalid(
                "the founder cannot be removed from its mesh".into(),
            ));
        }
        self.append_op(OpKind::Revoke { member: key })?;
        tracing::info!(peer = %super::short(&peer), "removed a member");
        Ok(info)
    }

    /// Changes a member's role.
    pub(super) fn member_role(&mut self, peer: PeerId, role: Role, reply: Reply<MemberInfo>) {
        let result = self.set_role(peer, role);
        self.reply_durably(reply, result);
    }

    fn set_role(&mut self, peer: PeerId, role: Role) -> Result<MemberInfo, NodeError> {
        self.admin_mesh("change roles")?;
        let key = ed25519_key(&peer)?;
        self.member_info(&peer)?;
        if self.mesh.as_ref().is_some_and(|m| m.acl().is_founder(&key)) {
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
        reply: Reply<()>,
    ) {
        let result = self.set_policy(topic, publish);
        self.reply_durably(reply, result);
    }

    fn set_policy(&mut self, topic: TopicName, publish: Vec<String>) -> Result<(), NodeError> {
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
                    Publisher::Key(ed25519_key(&peer)?)
                }
            });
        }
        self.append_op(OpKind::TopicPolicy { topic, publishers })?;
        Ok(())
    }

    pub(super) fn members(&self) -> Result<Vec<MemberInfo>, NodeError> {
        let mesh = self.mesh.as_ref().ok_or_else(not_in_mesh)?;
        let mut out: Vec<MemberInfo> = mesh
            .acl()
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
                    connected: peer == self.local || self.peers.is_connected(&peer),
                })
            })
            .collect();
        out.sort_by_key(|m| m.added_at);
        Ok(out)
    }

    fn member_info(&self, peer: &PeerId) -> Result<MemberInfo, NodeError> {
        self.members()?
            .into_iter()
            .find(|m| m.peer_id == peer.to_string())
            .ok_or_else(|| NodeError::NotFound(format!("{peer} is not a member of this mesh")))
    }

    /// The mesh id, if this node is an admin of its mesh.
    fn admin_mesh(&self, to: &str) -> Result<MeshId, NodeError> {
        let mesh = self.mesh.as_ref().ok_or_else(not_in_mesh)?;
        if !mesh.acl().is_admin(&self.identity.public().to_bytes()) {
            return Err(NodeError::Forbidden(format!("only admins may {to}")));
        }
        Ok(mesh.id())
    }

    /// Signs `kind` as this node's next op, admits it, queues it for the store and gossips
    /// it; the doors follow what it changed.
    fn append_op(&mut self, kind: OpKind) -> Result<SignedOp, NodeError> {
        let mesh = self.mesh.as_mut().ok_or_else(not_in_mesh)?;
        let op = mesh
            .sign(&self.identity, kind)
            .ok_or_else(|| NodeError::Invalid("cannot sign the op".into()))?;
        let (_, changes) = mesh.admit(op.clone()).map_err(|e| match e {
            Refused::Full => NodeError::Invalid(format!(
                "the mesh's ACL log is full ({MAX_LOG_OPS} ops): no more changes can be made; found a new mesh to go on"
            )),
            Refused::NotAllowed => NodeError::Forbidden(
                "the ACL log refused it: only a senior admin (made admin before the other) may remove or demote an admin"
                    .into(),
            ),
            other => NodeError::Invalid(format!("the ACL log refused it: {other}")),
        })?;
        self.stored_admitted(op.clone());
        // Members connected now hear of it at once; the others on their next sync.
        self.publish_op(&op);
        self.take_changes(changes);
        Ok(op)
    }

    /// Queues the op the log just admitted (its last) for the store.
    pub(super) fn stored_admitted(&mut self, op: SignedOp) {
        let seq = self
            .mesh
            .as_ref()
            .map_or(0, |m| m.log().len().saturating_sub(1));
        self.flush.write(Write::PutOp(seq as u32, Box::new(op)));
    }

    fn publish_op(&mut self, op: &SignedOp) {
        let Some(mesh) = self.mesh_id() else {
            return;
        };
        if let Ok(bytes) = weft_proto::codec::to_cbor(op) {
            let _ = self
                .swarm
                .behaviour_mut()
                .gossipsub_mut()
                .publish(acl_topic(mesh), bytes);
        }
    }

    /// Carries what an op changed to the doors: revoked members are cut off (and this node
    /// stops when it is the one removed), newly admitted ones let in.
    pub(super) fn take_changes(&mut self, changes: Changes) {
        if changes == Changes::default() {
            return;
        }
        // Cut off first: a removed member still connected gets its moment to hear of it
        // before the block list closes the wall.
        for peer in changes.revoked {
            if peer == self.local {
                self.on_removed();
            } else {
                self.cut_off(peer);
            }
        }
        self.open_doors();
        for peer in changes.admitted {
            self.doors
                .admitted(&peer, crate::core::doors::RECONNECT_AFTER, Instant::now());
        }
    }

    /// Whether `topic` is this node's mesh's ACL topic.
    pub(super) fn is_acl_topic(&self, topic: &gossipsub::TopicHash) -> bool {
        self.mesh
            .as_ref()
            .is_some_and(|m| &acl_topic(m.id()).hash() == topic)
    }

    /// Whether this node lets `peer` in: members of its mesh; no one while it is in none,
    /// or once it was removed.
    pub(super) fn admits(&self, peer: &PeerId) -> bool {
        self.removed.is_none() && self.mesh.as_ref().is_some_and(|mesh| mesh.admits(peer))
    }

    /// Whether `peer` may publish on `topic` here.
    pub(super) fn may_publish(&self, peer: &PeerId, topic: &TopicName) -> bool {
        self.mesh.as_ref().is_some_and(|mesh| {
            mesh.member(peer)
                .is_some_and(|(k, _)| mesh.acl().can_publish(&k, topic))
        })
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

/// The mesh as stored: the log (its ops admitted again in the order they were first), the
/// cards and the invites. An op the log no longer admits is skipped, with a warning.
pub(super) fn load(store: &crate::store::Store) -> Result<Option<Membership>, NodeError> {
    let Some(id) = store.mesh.id()? else {
        return Ok(None);
    };
    let mut log = Log::new(id);
    for op in store.mesh.ops()? {
        // Judged when it came; a removed author's op was kept because another needed it.
        if let Err(e) = log.admit_removed(op) {
            tracing::warn!(error = %e, "a stored ACL op no longer holds; skipped");
        }
    }
    Ok(Some(Membership::new(
        log,
        store.mesh.cards()?,
        store.mesh.invites()?,
    )))
}

/// Redeems an invite at `issuer` and brings the whole log: the join answer, and when it
/// says there is more, sync rounds with the issuer (which answers its new member).
async fn redeem_at(
    control: libp2p_stream::Control,
    issuer: PeerId,
    mesh: MeshId,
    request: JoinRequest,
) -> Result<Vec<SignedOp>, NodeError> {
    // A failed exchange (a connection that dropped) is retried; an answer is final.
    // Retrying is safe: an issuer answers an already admitted key with the log again
    // without spending another use.
    let mut result = join::request(control.clone(), issuer, request.clone()).await;
    for _ in 1..JOIN_ATTEMPTS {
        if !matches!(result, Err(join::JoinError::Failed(_))) {
            break;
        }
        tokio::time::sleep(JOIN_RETRY_DELAY).await;
        result = join::request(control.clone(), issuer, request.clone()).await;
    }
    let (ops, mut more) = result.map_err(|e| match e {
        join::JoinError::Refused(reason) => {
            NodeError::Forbidden(format!("the issuer refused to admit this node: {reason}"))
        }
        join::JoinError::Failed(reason) => NodeError::Dial {
            addr: issuer.to_string(),
            reason,
        },
    })?;
    let bad = |e: Refused| {
        NodeError::Invalid(format!(
            "the issuer's ACL log does not hold ({e}); nothing was stored"
        ))
    };
    let mut log = Log::new(mesh);
    take_log(&mut log, ops).map_err(bad)?;
    let mut after = None;
    for _ in 0..JOIN_SYNC_ROUNDS {
        if !more {
            break;
        }
        let request = crate::core::acl_sync::request(&log, after, None, Vec::new());
        let synced = sync::request(control.clone(), issuer, request)
            .await
            .map_err(|reason| NodeError::Dial {
                addr: issuer.to_string(),
                reason: format!("fetching the rest of the ACL log: {reason}"),
            })?;
        more = synced.more && !synced.ops.is_empty();
        after = synced.ops.last().map(SignedOp::id).or(after);
        take_log(&mut log, synced.ops).map_err(bad)?;
    }
    Ok(log.ops().cloned().collect())
}

/// Admits `ops` (parents first) into a joiner's `log`; the first refusal that proves the
/// ops forged, if any (ops that are only void, or early, are dropped).
fn take_log(log: &mut Log, ops: Vec<SignedOp>) -> Result<(), Refused> {
    match log
        .admit_all(ops)
        .refused
        .into_iter()
        .find(Refused::is_forged)
    {
        Some(forged) => Err(forged),
        None => Ok(()),
    }
}

/// The gossipsub topic that carries a mesh's new ACL ops.
pub(super) fn acl_topic(mesh: MeshId) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("weft/{mesh}/acl"))
}

/// Joins the ACL topic of `mesh`.
pub(super) fn join_acl_topic(swarm: &mut Swarm<Behaviour>, mesh: MeshId) -> Result<(), NodeError> {
    swarm
        .behaviour_mut()
        .gossipsub_mut()
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

fn check_text_field(what: &str, value: Option<&str>, max: usize) -> Result<(), NodeError> {
    match value {
        Some(v) if v.is_empty() || v.len() > max || v.chars().any(char::is_control) => {
            Err(NodeError::Invalid(format!(
                "the {what} must be 1-{max} bytes of printable text"
            )))
        }
        _ => Ok(()),
    }
}

/// The ed25519 public key inside `peer`, or why there is none.
fn ed25519_key(peer: &PeerId) -> Result<[u8; 32], NodeError> {
    key_of(peer)
        .ok_or_else(|| NodeError::Invalid(format!("{peer} is not the PeerId of an ed25519 key")))
}
