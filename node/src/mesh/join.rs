//! Joining a mesh with an invite key, as a node in no mesh does it: speak the mesh's Noise
//! prologue, reach the issuer at one of the invite's addresses, redeem the invite there and
//! adopt the mesh's ACL log.

use weft_keys::invite::Invite;
use weft_proto::api::{CreateInviteRequest, MeshInfo};
use weft_proto::mesh::Role;

use crate::mesh::invite_reach;
use crate::network::{NodeError, NodeHandle};

/// Redeems `invite` through `handle`'s node; on success the node is a member of the
/// invite's mesh. On failure the node is left as it was: in no mesh, speaking no prologue.
pub async fn join(handle: &NodeHandle, invite: Invite) -> Result<MeshInfo, NodeError> {
    if let Some(mesh) = handle.mesh().await? {
        return Err(NodeError::Invalid(format!(
            "this node is already in mesh {}; a node belongs to one mesh",
            mesh.id
        )));
    }
    // From here on, new connections speak the invite's mesh's Noise prologue.
    handle.joining(Some(invite.mesh)).await?;
    let joined = redeem(handle, invite).await;
    if joined.is_err() {
        let _ = handle.joining(None).await;
    }
    joined
}

/// Reaches the issuer at one of the invite's addresses and redeems the invite there.
async fn redeem(handle: &NodeHandle, invite: Invite) -> Result<MeshInfo, NodeError> {
    let mut last = NodeError::Invalid("the invite carries no address".into());
    for addr in invite_reach::addrs(&invite) {
        match handle.dial(addr).await {
            Ok(bootstrap) => return handle.redeem(invite, bootstrap).await,
            Err(e) => last = e,
        }
    }
    Err(match last {
        NodeError::Dial { addr, reason } => NodeError::Dial {
            addr,
            reason: format!("cannot reach the invite's issuer: {reason}"),
        },
        other => other,
    })
}

/// Admits the node behind `newcomer` to the mesh of the node behind `admin` with a fresh
/// single-use invite for `role`, redeemed at once: for programs that run both nodes
/// (tests, benchmarks, demos). The newcomer ends up connected to the admin.
pub async fn admit(
    admin: &NodeHandle,
    newcomer: &NodeHandle,
    role: Role,
) -> Result<MeshInfo, NodeError> {
    let invite = admin
        .invite_create(CreateInviteRequest {
            role,
            ttl_secs: 60,
            uses: 1,
            note: None,
        })
        .await?;
    let key = invite
        .key
        .ok_or_else(|| NodeError::Invalid("a new invite carries its key".into()))?;
    let invite = Invite::decode(&key).map_err(|e| NodeError::Invalid(e.to_string()))?;
    join(newcomer, invite).await
}
