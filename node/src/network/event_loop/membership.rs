//! The mesh this node belongs to: founding it, issuing and revoking invites, and reading the
//! ACL. Admin operations are rare, so their ops are flushed to disk before the caller hears
//! back, right here on the loop.

use std::time::Duration;

use libp2p::PeerId;
use libp2p::multiaddr::Protocol;
use weft_keys::acl::sign_op;
use weft_keys::invite::{Invite, InviteBody, InviteId, InviteSecret};
use weft_proto::acl::{OP_VERSION, OpBody, OpKind, SignedOp};
use weft_proto::api::{CreateInviteRequest, InviteInfo, MemberInfo, MeshInfo};
use weft_proto::mesh::MeshId;

use super::EventLoop;
use crate::delivery::clock::wall_us;
use crate::mesh::acl::Acl;
use crate::network::NodeError;
use crate::store::mesh::InviteRecord;

/// The longest an invite may stay valid.
pub const MAX_INVITE_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// The most redemptions one invite may allow.
pub const MAX_INVITE_USES: u32 = 1000;

/// Longest invite note and mesh name, in bytes.
const MAX_NOTE_BYTES: usize = 256;

/// The mesh this node belongs to, as the loop keeps it.
pub(super) struct Mesh {
    id: MeshId,
    ops: Vec<SignedOp>,
    acl: Acl,
}

impl Mesh {
    /// The mesh stored in `store`, if this node belongs to one.
    pub(super) fn load(store: &crate::store::Store) -> Result<Option<Mesh>, NodeError> {
        let Some(id) = store.mesh.id()? else {
            return Ok(None);
        };
        let ops = store.mesh.ops()?;
        let acl = Acl::fold(id, &ops);
        Ok(Some(Mesh { id, ops, acl }))
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
        let acl = Acl::fold(id, [&op]);
        self.mesh = Some(Mesh {
            id,
            ops: vec![op],
            acl,
        });
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
            v: 1,
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
                    connected: self.peers.contains_key(&peer),
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
        if let Some(mesh) = self.mesh.as_mut() {
            mesh.ops.push(op);
            mesh.acl = Acl::fold(mesh.id, &mesh.ops);
        }
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
        let mut addrs: Vec<_> = self.listen_addrs.clone();
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

fn not_in_mesh() -> NodeError {
    NodeError::Invalid("this node is in no mesh: found one with `weft mesh create`".into())
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

/// The PeerId of an ed25519 public key.
pub(crate) fn peer_of(key: &[u8; 32]) -> Option<PeerId> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(key).ok()?;
    Some(libp2p::identity::PublicKey::from(key).to_peer_id())
}
