//! Names: an admin gives a member the name commands take it by, with an ACL op, signed and
//! checked like an admission (length-capped, no hidden or control characters, nothing a
//! PeerId could be taken for); and each member gives itself a display name, shown beside
//! it, in a card it signs (see [`weft_proto::display`]) that travels with sync.

use libp2p::PeerId;
use weft_keys::display::name_card;
use weft_proto::acl::OpKind;
use weft_proto::api::MemberInfo;
use weft_proto::display::{NameCard, check_display_name};
use weft_proto::mesh::MemberKey;

use super::Core;
use super::io::Now;
use super::membership::{check_member_name, ed25519_key, not_in_mesh};
use crate::network::NodeError;
use crate::store::write::Write;

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

    /// Sets the name this node calls itself (`None` takes it back), and tells the members
    /// it is connected to at once (the others hear it at their next sync).
    pub fn display_name(
        &mut self,
        name: Option<String>,
        now: Now,
    ) -> Result<MemberInfo, NodeError> {
        check_display_name(name.as_deref()).map_err(|e| NodeError::Invalid(e.to_string()))?;
        let mesh = self.mesh.get().ok_or_else(not_in_mesh)?;
        let previous = mesh.name_card(&self.me.key).map_or(0, |card| card.at);
        let at = now.secs().max(previous.saturating_add(1));
        let card = name_card(&self.me.identity, &mesh.id(), name, at);
        if !self.learn_name(self.me.key, card, now) {
            return Err(NodeError::Invalid(
                "this node's display-name card was not taken (is its clock a day behind the last one it made?)".into(),
            ));
        }
        self.resync(&[]);
        self.member_info(&self.me.peer)
    }

    /// Takes `card` as what `member` calls itself (verified, the latest) and stores it when
    /// it is taken; whether it was.
    pub(super) fn learn_name(&mut self, member: MemberKey, card: NameCard, now: Now) -> bool {
        let taken = self
            .mesh
            .get_mut()
            .is_some_and(|mesh| mesh.learn_name(member, card.clone(), now.secs()));
        if taken {
            self.commit
                .write(Write::PutNameCard(member, Box::new(card)));
        }
        taken
    }
}
