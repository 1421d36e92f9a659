//! The mesh's commands and changes: founding it, issuing and revoking invites, the request
//! a joiner sends and the log it adopts, redeeming invites for others, and the admins'
//! changes to the ACL. The decisions are [`Membership`]'s; this file carries them to the
//! store (callers hear back once the change is on disk: the shell holds their answer until
//! the writes before it are flushed), to gossip and to the doors.

use libp2p::PeerId;
use weft_keys::invite::{Invite, InviteId, InviteSecret};
use weft_proto::acl::{MAX_MEMBER_NAME_BYTES, MAX_POLICY_ENTRIES, OpKind, Principal, SignedOp};
use weft_proto::api::{CreateInviteRequest, InviteInfo, MemberInfo, MeshInfo};
use weft_proto::join::{JOIN_VERSION, JoinRequest, JoinResponse, Refusal};
use weft_proto::mesh::{MemberKey, MeshId, Role};
use weft_proto::queue::QueueName;
use weft_proto::service::ServiceName;
use weft_proto::topic::TopicName;

use super::commit::Durable;
use super::io::{AskedId, Now, Output, Response};
use super::{Core, acl_topic, doors, short};
use crate::mesh::invite_reach;
use crate::mesh::log::{Log, MAX_LOG_OPS, Refused};
use crate::mesh::membership::{Changes, Membership, key_of, peer_of};
use crate::network::NodeError;
use crate::store::mesh::InviteRecord;
use crate::store::write::Write;

/// The longest an invite may stay valid.
pub const MAX_INVITE_TTL: std::time::Duration = std::time::Duration::from_secs(90 * 24 * 3600);

/// The most redemptions one invite may allow.
pub const MAX_INVITE_USES: u32 = 1000;

/// Longest invite note, in bytes.
const MAX_NOTE_BYTES: usize = 256;

/// A policy an admin sets, each list naming roles (`admin`, `member`, `mailbox`, `guest`)
/// or PeerIds as typed; an empty list lifts that restriction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Who may publish on a topic (never guests).
    Topic {
        /// The topic.
        topic: TopicName,
        /// Who may publish.
        publish: Vec<String>,
    },
    /// Who may offer and who may call a service.
    Service {
        /// The service.
        service: ServiceName,
        /// Who may offer it.
        offer: Vec<String>,
        /// Who may call it.
        call: Vec<String>,
    },
    /// Who may push to and who may work a queue.
    Queue {
        /// The queue.
        queue: QueueName,
        /// Who may push items.
        push: Vec<String>,
        /// Who may work them.
        work: Vec<String>,
    },
}

impl Core {
    /// Founds a mesh with this node as its founder and first admin.
    pub fn mesh_create(&mut self, name: Option<String>) -> Result<MeshInfo, NodeError> {
        if let Some(id) = self.mesh.id() {
            return Err(already_in(id));
        }
        check_text_field("mesh name", name.as_deref(), MAX_MEMBER_NAME_BYTES)?;
        // Members see the founder by the name it gave itself, as they see joiners.
        let founder = self
            .me
            .name
            .clone()
            .filter(|n| check_member_name(Some(n)).is_ok());
        let id = MeshId::of_founder(&self.me.key);
        let mut mesh = Membership::new(Log::new(id), [], []);
        let op = mesh
            .sign(&self.me.identity, OpKind::Found { name, founder })
            .ok_or_else(|| NodeError::Invalid("cannot sign the founding op".into()))?;
        mesh.admit(op.clone())
            .map_err(|e| NodeError::Invalid(format!("cannot found the mesh: {e}")))?;
        self.commit.write(Write::SetMesh(id));
        self.commit.write(Write::PutOp(0, Box::new(op)));
        self.enter(mesh);
        tracing::info!(mesh = %id, "founded a mesh");
        self.mesh_info()
            .ok_or_else(|| NodeError::Invalid("mesh state lost".into()))
    }

    /// Becomes a member of `mesh` (founded or joined): its prologue, topics and doors.
    fn enter(&mut self, mesh: Membership) {
        let id = mesh.id();
        self.out.push_back(Output::Subscribe(acl_topic(id)));
        self.out
            .push_back(Output::Subscribe(super::services::service_topic(id)));
        self.out.push_back(Output::Prologue(Some(id)));
        self.mesh.enter(mesh);
        self.open_doors();
        self.follow_topics_of_mesh();
    }

    /// The mesh this node belongs to, if any.
    pub fn mesh_info(&self) -> Option<MeshInfo> {
        let mesh = self.mesh.get()?;
        Some(MeshInfo {
            id: mesh.id().to_string(),
            name: mesh.acl().name().map(str::to_string),
            role: mesh.acl().member(&self.me.key).map(|m| m.role),
            members: mesh.acl().members().count(),
        })
    }

    /// Issues an invite key (admins only), with the fresh random `secret` the shell drew
    /// for it. The key carries the mesh, where to reach this node and the secret; the role,
    /// expiry and uses stay in this node's record of it.
    pub fn invite_create(
        &mut self,
        req: CreateInviteRequest,
        secret: InviteSecret,
        now: Now,
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
        check_text_field("note", req.note.as_deref(), MAX_NOTE_BYTES)?;
        let invite = Invite {
            mesh,
            issuer: self.me.key,
            secret,
            reach: invite_reach::of(&self.me.listen_addrs),
        };
        let id = invite.id();
        let key = invite
            .encode()
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        let record = InviteRecord {
            key: key.clone(),
            note: req.note.clone(),
            uses_left: req.uses,
            role: req.role,
            expires: now.secs() + req.ttl_secs,
        };
        if let Some(mesh) = self.mesh.get_mut() {
            mesh.put_invite(id.0, record.clone());
        }
        self.commit.write(Write::PutInvite(id.0, record.clone()));
        let mut info = invite_info(id, &record, false);
        info.key = Some(key);
        Ok(info)
    }

    /// Outstanding invites: not revoked, not used up, not expired.
    pub fn invites(&self, now: Now) -> Result<Vec<InviteInfo>, NodeError> {
        let mesh = self.mesh.get().ok_or_else(not_in_mesh)?;
        let mut out = Vec::new();
        for (id, record) in mesh.invites() {
            let revoked = mesh.acl().is_invite_revoked(id);
            if !revoked && record.uses_left > 0 && now.secs() < record.expires {
                out.push(invite_info(InviteId(*id), record, revoked));
            }
        }
        out.sort_by_key(|i| i.expires);
        Ok(out)
    }

    /// Revokes the invite with `id` (admins only).
    pub fn invite_revoke(&mut self, id: &str, now: Now) -> Result<InviteInfo, NodeError> {
        self.admin_mesh("revoke invites")?;
        let mesh = self.mesh.get().ok_or_else(not_in_mesh)?;
        let found = mesh
            .invites()
            .find(|(raw, _)| InviteId(**raw).to_string() == id)
            .map(|(raw, record)| (*raw, record.clone()));
        let Some((raw, record)) = found else {
            return Err(NodeError::NotFound(format!(
                "no invite `{id}` on this node (see `weft invite list`)"
            )));
        };
        self.append_op(OpKind::RevokeInvite { invite: raw }, now)?;
        Ok(invite_info(InviteId(raw), &record, true))
    }

    /// The request that redeems `invite` for this node, when it is in no mesh yet: it
    /// proves it holds the invite's secret without sending it (a MAC over its PeerId).
    pub fn join_request(&self, invite: &Invite) -> Result<JoinRequest, NodeError> {
        if let Some(id) = self.mesh.id() {
            return Err(already_in(id));
        }
        check_member_name(self.me.name.as_deref())?;
        Ok(JoinRequest {
            v: JOIN_VERSION,
            invite: invite.id().0,
            key: self.me.key,
            proof: invite.proof(&self.me.peer.to_bytes()),
            name: self.me.name.clone(),
        })
    }

    /// A node in no mesh is about to join `mesh` (its new connections speak that mesh's
    /// Noise prologue), or gave up (`None`).
    pub fn joining(&mut self, mesh: Option<MeshId>) {
        if self.mesh.id().is_none() {
            self.out.push_back(Output::Prologue(mesh));
        }
    }

    /// Takes `ops` as the ACL log of mesh `id`, after checking that every op passes the
    /// log's door and that they admit this node; stores them. Every connection so far was
    /// made as a stranger, without the members' protocols: they are made again as a member.
    pub fn adopt(
        &mut self,
        id: MeshId,
        ops: Vec<SignedOp>,
        now: Now,
    ) -> Result<MeshInfo, NodeError> {
        if self.mesh.id().is_some() {
            return Err(NodeError::Invalid("this node is already in a mesh".into()));
        }
        let mut log = Log::new(id);
        if let Err(e) = log.adopt(ops.into_iter().take(MAX_LOG_OPS)) {
            return Err(NodeError::Invalid(format!(
                "the issuer's ACL log does not hold ({e}); nothing was stored"
            )));
        }
        if log.acl().member(&self.me.key).is_none() {
            return Err(NodeError::Invalid(
                "the issuer's ACL log does not admit this node; nothing was stored".into(),
            ));
        }
        self.commit.write(Write::SetMesh(id));
        for (seq, op) in log.ops().enumerate() {
            self.commit
                .write(Write::PutOp(seq as u32, Box::new(op.clone())));
        }
        self.enter(Membership::new(log, [], []));
        tracing::info!(mesh = %id, "joined a mesh");
        let connected: Vec<(PeerId, libp2p::Multiaddr, bool)> = self
            .peers
            .iter()
            .map(|(p, c)| (*p, c.path.addr.clone(), c.path.outbound))
            .collect();
        for (peer, addr, outbound) in connected {
            if outbound {
                self.remember_own(peer, &[addr]);
            }
            self.out.push_back(Output::Disconnect(peer));
            self.dial_soon(peer, now);
        }
        self.mesh_info()
            .ok_or_else(|| NodeError::Invalid("mesh state lost".into()))
    }

    /// Decides a join request from `peer` (the issuer side), admitting it when everything
    /// checks out. The use is spent and the admission stored before the answer goes out, so
    /// an invite is never redeemed more often than it allows, also across a crash. A refusal
    /// is a typed reason, never internal error text.
    pub(super) fn redeem(&mut self, asked: AskedId, peer: PeerId, request: &JoinRequest, now: Now) {
        let outcome = match self.mesh.get_mut() {
            Some(mesh) => mesh.redeem(&self.me.identity, &peer, request, now.secs()),
            None => Err(Refusal::WrongMesh),
        };
        let redeemed = match outcome {
            Ok(redeemed) => redeemed,
            Err(reason) => {
                self.count("join", "join");
                tracing::warn!(peer = %short(&peer), %reason, "join refused");
                self.doors.join_failed(&peer, now.at);
                let response = Response::Join(JoinResponse::Refused { reason });
                self.out.push_back(Output::Answer {
                    id: asked,
                    response,
                });
                return;
            }
        };
        if let Some((id, record)) = redeemed.spent {
            self.commit.write(Write::PutInvite(id, record));
        }
        if let Some(op) = redeemed.admission {
            self.stored_admitted(op.clone());
            self.publish_op(&op);
            tracing::info!(peer = %short(&peer), "admitted a member");
        }
        self.take_changes(redeemed.changes, now);
        // The joiner pages through the rest of the log on this connection.
        self.doors
            .admitted(&peer, doors::JOINER_RECONNECT_AFTER, now.at);
        let response = Response::Join(JoinResponse::Accepted {
            ops: redeemed.ops,
            more: redeemed.more,
        });
        self.commit.after(Durable::then(Output::Answer {
            id: asked,
            response,
        }));
    }

    /// Admits a key this admin already knows (its PeerId), without an invite.
    pub fn member_add(
        &mut self,
        peer: PeerId,
        role: Role,
        name: Option<String>,
        now: Now,
    ) -> Result<MemberInfo, NodeError> {
        self.admin_mesh("admit members")?;
        check_member_name(name.as_deref())?;
        let key = ed25519_key(&peer)?;
        let acl = self.mesh.get().ok_or_else(not_in_mesh)?.acl();
        if acl.is_revoked(&key) {
            return Err(NodeError::Invalid(format!(
                "{peer} was removed from the mesh; removal is permanent"
            )));
        }
        if acl.member(&key).is_some() {
            return Err(NodeError::Invalid(format!("{peer} is a member already")));
        }
        self.append_op(
            OpKind::Add {
                member: key,
                role,
                name,
            },
            now,
        )?;
        self.member_info(&peer)
    }

    /// Revokes a member: permanent; its connections close and it may not connect again.
    pub fn member_remove(&mut self, peer: PeerId, now: Now) -> Result<MemberInfo, NodeError> {
        self.admin_mesh("remove members")?;
        let key = ed25519_key(&peer)?;
        let info = self.member_info(&peer)?;
        if self.mesh.get().is_some_and(|m| m.acl().is_founder(&key)) {
            return Err(NodeError::Invalid(
                "the founder cannot be removed from its mesh".into(),
            ));
        }
        self.append_op(OpKind::Revoke { member: key }, now)?;
        tracing::info!(peer = %short(&peer), "removed a member");
        Ok(info)
    }

    /// Changes a member's role.
    pub fn member_role(
        &mut self,
        peer: PeerId,
        role: Role,
        now: Now,
    ) -> Result<MemberInfo, NodeError> {
        self.admin_mesh("change roles")?;
        let key = ed25519_key(&peer)?;
        self.member_info(&peer)?;
        if self.mesh.get().is_some_and(|m| m.acl().is_founder(&key)) {
            return Err(NodeError::Invalid(
                "the founder's role cannot change".into(),
            ));
        }
        self.append_op(OpKind::SetRole { member: key, role }, now)?;
        self.member_info(&peer)
    }

    /// Sets a policy (admins only): who may publish on a topic, offer or call a service, push
    /// to or work a queue.
    pub fn policy(&mut self, policy: Policy, now: Now) -> Result<(), NodeError> {
        self.admin_mesh("set policies")?;
        let kind = match policy {
            Policy::Topic { topic, publish } => OpKind::TopicPolicy {
                topic,
                publishers: principals(publish, false)?,
            },
            Policy::Service {
                service,
                offer,
                call,
            } => OpKind::ServicePolicy {
                service,
                offer: principals(offer, true)?,
                call: principals(call, true)?,
            },
            Policy::Queue { queue, push, work } => OpKind::QueuePolicy {
                queue,
                push: principals(push, true)?,
                work: principals(work, true)?,
            },
        };
        self.append_op(kind, now)?;
        Ok(())
    }

    /// The mesh's members.
    pub fn members(&self) -> Result<Vec<MemberInfo>, NodeError> {
        let mesh = self.mesh.get().ok_or_else(not_in_mesh)?;
        let mut out: Vec<MemberInfo> = mesh
            .acl()
            .members()
            .filter_map(|(key, m)| {
                let peer = peer_of(key)?;
                Some(MemberInfo {
                    peer_id: peer.to_string(),
                    role: m.role,
                    name: m.name.clone(),
                    display_name: mesh.display_name(key).map(str::to_string),
                    added_by: peer_of(&m.added_by)
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    added_at: m.added_at,
                    connected: peer == self.me.peer || self.peers.is_connected(&peer),
                })
            })
            .collect();
        out.sort_by_key(|m| m.added_at);
        Ok(out)
    }

    pub(super) fn member_info(&self, peer: &PeerId) -> Result<MemberInfo, NodeError> {
        self.members()?
            .into_iter()
            .find(|m| m.peer_id == peer.to_string())
            .ok_or_else(|| NodeError::NotFound(format!("{peer} is not a member of this mesh")))
    }

    /// The mesh id, if this node is an admin of its mesh.
    pub(super) fn admin_mesh(&self, to: &str) -> Result<MeshId, NodeError> {
        let mesh = self.mesh.get().ok_or_else(not_in_mesh)?;
        if !mesh.acl().is_admin(&self.me.key) {
            return Err(NodeError::Forbidden(format!("only admins may {to}")));
        }
        Ok(mesh.id())
    }

    /// Signs `kind` as this node's next op, admits it, queues it for the store and gossips
    /// it; the doors follow what it changed.
    pub(super) fn append_op(&mut self, kind: OpKind, now: Now) -> Result<SignedOp, NodeError> {
        let mesh = self.mesh.get_mut().ok_or_else(not_in_mesh)?;
        let op = mesh
            .sign(&self.me.identity, kind)
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
        self.take_changes(changes, now);
        Ok(op)
    }

    /// Queues the op the log just admitted (its last) for the store.
    pub(super) fn stored_admitted(&mut self, op: SignedOp) {
        let seq = self
            .mesh
            .get()
            .map_or(0, |m| m.log().len().saturating_sub(1));
        self.commit.write(Write::PutOp(seq as u32, Box::new(op)));
    }

    /// Gossips `op` once it is on disk: an admission goes out only with its spent use,
    /// so an issuer that crashes in between cannot let a single-use invite in twice.
    fn publish_op(&mut self, op: &SignedOp) {
        let Some(mesh) = self.mesh.id() else {
            return;
        };
        if let Ok(data) = weft_proto::codec::to_cbor(op) {
            let publish = Output::Publish {
                topic: acl_topic(mesh),
                data,
            };
            self.commit.after(Durable::then(publish));
        }
    }

    /// Carries what an op changed to the doors: revoked members are cut off (and this node
    /// stops when it is the one removed), newly admitted ones let in, and workers a queue's
    /// policy no longer lets work it get no more of it.
    pub(super) fn take_changes(&mut self, changes: Changes, now: Now) {
        self.review_workers();
        if changes == Changes::default() {
            return;
        }
        // Cut off first: a removed member still connected gets its moment to hear of it
        // before the wall closes.
        for peer in changes.revoked {
            if peer == self.me.peer {
                self.on_removed(now);
            } else {
                self.cut_off(peer, now);
            }
        }
        self.open_doors();
        for peer in changes.admitted {
            self.doors.admitted(&peer, doors::RECONNECT_AFTER, now.at);
        }
    }
}

fn invite_info(id: InviteId, record: &InviteRecord, revoked: bool) -> InviteInfo {
    InviteInfo {
        id: id.to_string(),
        role: record.role,
        uses_left: record.uses_left,
        expires: record.expires,
        note: record.note.clone(),
        revoked,
        key: None,
    }
}

/// The error for a command that needs a mesh on a node in none.
pub(super) fn not_in_mesh() -> NodeError {
    NodeError::Invalid("this node is in no mesh: found one with `weft mesh create` or join one with `weft join INVITE`".into())
}

fn already_in(mesh: MeshId) -> NodeError {
    NodeError::Invalid(format!(
        "this node is already in mesh {mesh}; a node belongs to one mesh"
    ))
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

/// Checks a member's name given now, as [`weft_proto::acl::check_new_member_name`].
pub(super) fn check_member_name(name: Option<&str>) -> Result<(), NodeError> {
    weft_proto::acl::check_new_member_name(name)
        .map_err(|e| NodeError::Invalid(format!("not a usable name: {e}")))
}

/// The member key inside `peer`, or why there is none.
pub(super) fn ed25519_key(peer: &PeerId) -> Result<MemberKey, NodeError> {
    key_of(peer)
        .filter(|key| libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0).is_ok())
        .ok_or_else(|| NodeError::Invalid(format!("{peer} is not the PeerId of an ed25519 key")))
}

/// The principals a policy names: roles (`admin`, `member`, `mailbox`, `guest` where
/// `guests` allows) or PeerIds.
fn principals(names: Vec<String>, guests: bool) -> Result<Vec<Principal>, NodeError> {
    if names.len() > MAX_POLICY_ENTRIES {
        return Err(NodeError::Invalid(format!(
            "a policy names at most {MAX_POLICY_ENTRIES} roles or members per list"
        )));
    }
    names
        .into_iter()
        .map(|name| match name.parse::<Role>() {
            Ok(Role::Guest) if !guests => Err(NodeError::Invalid(
                "guests never publish; name admin, member or PeerIds".into(),
            )),
            Ok(role) => Ok(Principal::Role(role)),
            Err(_) => {
                let peer: PeerId = name.parse().map_err(|_| {
                    NodeError::Invalid(format!("`{name}` is neither a role nor a PeerId"))
                })?;
                Ok(Principal::Key(ed25519_key(&peer)?))
            }
        })
        .collect()
}
