//! Names: an admin gives a member the name commands take it by, with an ACL op, signed and
//! checked like an admission (length-capped, no hidden or control characters, nothing a
//! PeerId could be taken for).

use libp2p::PeerId;
use weft_proto::acl::OpKind;
use weft_proto::api::MemberInfo;

use super::Core;
use super::io::Now;
use super::membership::{check_member_name, ed25519_key};
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
}
