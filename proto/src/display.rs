//! Display names: what a member calls itself, beside the name the admins gave it.
//!
//! ```text
//! NameCard { name: string?, at: u64, sig: bytes(64) }
//!     signed by the member's identity (context `display-name`) over
//!     mesh id (20 bytes) || at (u64 BE) || 0 (no name) | 1 name (UTF-8)
//! ```
//!
//! A card travels in sync (the asker's own in its request, other members' beside their
//! addresses in the answer); a node keeps one per member, the one with the greatest `at`
//! (none dated more than [`MAX_CARD_AHEAD_SECS`] ahead). The name is checked by
//! [`check_display_name`], but it is the member's own word: commands never take a member by
//! it, and output shows it quoted, beside the ACL's name, so a member cannot pass itself
//! off as another.

use serde::{Deserialize, Serialize};

use crate::DecodeError;
use crate::acl::check_new_member_name;
use crate::mesh::MeshId;

/// How far ahead of the receiver's clock a card may be dated (a day, in seconds): a card
/// dated further would stand against every later one its member makes.
pub const MAX_CARD_AHEAD_SECS: u64 = 24 * 3600;

/// Checks a display name: as an admin-given name is checked ([`check_new_member_name`]),
/// and, being shown quoted beside other names, with no quotes, brackets or ellipsis in it
/// and no run of spaces, so that it cannot mimic the way output shows another member.
pub fn check_display_name(name: Option<&str>) -> Result<(), DecodeError> {
    check_new_member_name(name)?;
    let Some(name) = name else {
        return Ok(());
    };
    if name.contains(['"', '\u{201c}', '\u{201d}', '(', ')', '[', ']', '\u{2026}']) {
        return Err(DecodeError::Invalid(
            "a display name may not hold quotes, brackets or an ellipsis".into(),
        ));
    }
    if name.contains("  ") {
        return Err(DecodeError::Invalid(
            "a display name may not hold two spaces in a row".into(),
        ));
    }
    Ok(())
}

/// A member's display name, signed by its identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameCard {
    /// The name it calls itself; `None` when it took its name back.
    pub name: Option<String>,
    /// When it was set (Unix seconds; later than any earlier card of the member's).
    pub at: u64,
    /// ed25519 by the member's identity over [`NameCard::signed`], context `display-name`.
    #[serde(with = "crate::codec::byte_array")]
    pub sig: [u8; 64],
}

impl NameCard {
    /// The bytes the signature covers: the card in mesh `mesh`, so that it holds in no
    /// other.
    pub fn signed(mesh: &MeshId, name: Option<&str>, at: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(29 + name.map_or(0, str::len));
        out.extend_from_slice(&mesh.0);
        out.extend_from_slice(&at.to_be_bytes());
        match name {
            None => out.push(0),
            Some(name) => {
                out.push(1);
                out.extend_from_slice(name.as_bytes());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_cannot_mimic_how_output_shows_members() {
        check_display_name(Some("Bob Tables")).unwrap();
        check_display_name(None).unwrap();
        for mimic in [
            "bob\" (…4kx6nXTN)",
            "bob (…4kx6nXTN)",
            "\u{201c}bob\u{201d}",
            "bob    x",
            "12D3KooWbob",
            "bob\u{1b}[2J",
        ] {
            assert!(check_display_name(Some(mimic)).is_err(), "{mimic}");
        }
    }

    #[test]
    fn the_signed_bytes_tell_no_name_from_an_empty_one_and_bind_the_mesh() {
        let mesh = MeshId([1; 20]);
        assert_ne!(
            NameCard::signed(&mesh, None, 5),
            NameCard::signed(&mesh, Some(""), 5)
        );
        assert_ne!(
            NameCard::signed(&mesh, Some("bob"), 5),
            NameCard::signed(&MeshId([2; 20]), Some("bob"), 5)
        );
        assert_ne!(
            NameCard::signed(&mesh, Some("bob"), 5),
            NameCard::signed(&mesh, Some("bob"), 6)
        );
    }
}
