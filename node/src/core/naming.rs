//! Names: an admin gives a member the name commands take it by; any member gives itself a
//! display name, shown beside that name and never taken for the member. Both are ACL ops,
//! signed and checked like admissions (length-capped, no hidden or control characters,
//! nothing a PeerId could be taken for).

use libp2p::PeerId;
use weft_proto::acl::OpKind;
use weft_proto::api::MemberInfo;

use super::Core;
use super::io::Now;
use super::membership::{check_member_name, ed25519_key};
use crate::mesh::log::MAX_DISPLAY_NAMES;
use crate::network::NodeError;

impl Core {
    /// Names member `peer` (admins only); `None` takes its name away.
    pub fn member_name(
        &mut self,
        peer: PeerId,
        name: Option<String>,
        now: Now,
    ) -> Result<MemberInfo, NodeError> {
        self.admin_mesh("name members")?;
        check_member_name(name.as_deref())?;
        let key = ed25519_key(&peer)?;
        self.member_info(&peer)?;
        self.append_op(OpKind::Name { member: key, name }, now)?;
        self.member_info(&peer)
    }

    /// Sets this node's own display name; `None` takes it away.
    pub fn display_name(
        &mut self,
        name: Option<String>,
        now: Now,
    ) -> Result<MemberInfo, NodeError> {
        check_member_name(name.as_deref())?;
        let me = self.me.peer;
        self.member_info(&me)?;
        self.append_op(OpKind::DisplayName { name }, now)
            .map_err(|e| match e {
                NodeError::Forbidden(_) => NodeError::Forbidden(format!(
                    "a member sets its display name at most {MAX_DISPLAY_NAMES} times (each stays in the mesh's log)"
                )),
                other => other,
            })?;
        self.member_info(&me)
    }
}
