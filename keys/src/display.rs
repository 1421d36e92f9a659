//! Signing and checking the cards in which members give their own display names (see
//! [`weft_proto::display`]).

use weft_proto::display::NameCard;
use weft_proto::mesh::{MemberKey, MeshId};

use crate::Identity;
use crate::sign::{Context, PublicKey, Signature, SignatureError};

const DISPLAY_NAME: Context = Context::new("display-name");

/// `identity`'s card calling itself `name` (none: no name) in mesh `mesh`, set at `at`.
pub fn name_card(identity: &Identity, mesh: &MeshId, name: Option<String>, at: u64) -> NameCard {
    let sig = identity.sign(DISPLAY_NAME, &NameCard::signed(mesh, name.as_deref(), at));
    NameCard {
        name,
        at,
        sig: sig.to_bytes(),
    }
}

/// Checks that `card` was signed for mesh `mesh` by the member whose key is `owner`.
pub fn verify_name_card(
    owner: &MemberKey,
    mesh: &MeshId,
    card: &NameCard,
) -> Result<(), SignatureError> {
    PublicKey::from_member(owner)?.verify(
        DISPLAY_NAME,
        &NameCard::signed(mesh, card.name.as_deref(), card.at),
        &Signature::from_bytes(&card.sig),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_holds_for_its_owner_and_mesh_only() {
        let alice = Identity::generate().unwrap();
        let bob = Identity::generate().unwrap();
        let mesh = MeshId([1; 20]);
        let card = name_card(&alice, &mesh, Some("Alice L.".into()), 7);
        verify_name_card(&alice.member_key(), &mesh, &card).unwrap();
        assert!(verify_name_card(&bob.member_key(), &mesh, &card).is_err());
        assert!(verify_name_card(&alice.member_key(), &MeshId([2; 20]), &card).is_err());
        let mut renamed = card.clone();
        renamed.name = Some("Bob".into());
        assert!(verify_name_card(&alice.member_key(), &mesh, &renamed).is_err());
        let mut later = card;
        later.at += 1;
        assert!(verify_name_card(&alice.member_key(), &mesh, &later).is_err());
    }
}
