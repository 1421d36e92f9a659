//! Meshes: their ids and the roles members hold.
//!
//! A mesh id is `BLAKE3-derive-key("weft/v1/mesh-id", founder's member key)`, shown as the
//! first 20 bytes in lowercase unpadded base32 (32 characters). It names the mesh in the
//! Noise prologue (`/weft/mesh/<mesh-id>`) and in gossipsub topic names.
//!
//! A member is named by its [`MemberKey`], the ed25519 public key of its identity: the ACL
//! admits it by that key, its ops and topic messages are signed with it, sealed boxes are
//! addressed to it, and its PeerId embeds it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How many bytes of the hash the shown form carries.
const SHOWN_BYTES: usize = 20;

named_bytes! {
    /// A member's ed25519 public key: the identity key that names it in the ACL and signs
    /// what it says. On the wire a byte string of 32 bytes (`bytes(32)`), as the bare key was.
    MemberKey
}

/// A mesh id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MeshId(#[serde(with = "crate::codec::byte_array")] pub [u8; SHOWN_BYTES]);

impl MeshId {
    /// The id of the mesh founded by the member whose key is `founder`.
    pub fn of_founder(founder: &MemberKey) -> MeshId {
        let hash = blake3::derive_key("weft/v1/mesh-id", &founder.0);
        let mut id = [0u8; SHOWN_BYTES];
        id.copy_from_slice(&hash[..SHOWN_BYTES]);
        MeshId(id)
    }

    /// The Noise handshake prologue of this mesh's connections.
    pub fn prologue(&self) -> String {
        format!("/weft/mesh/{self}")
    }
}

impl fmt::Display for MeshId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &data_encoding::BASE32_NOPAD
                .encode(&self.0)
                .to_ascii_lowercase(),
        )
    }
}

impl fmt::Debug for MeshId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MeshId({self})")
    }
}

/// Why a string is not a mesh id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a mesh id (32 base32 characters)")]
pub struct ParseMeshIdError(pub String);

impl FromStr for MeshId {
    type Err = ParseMeshIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = data_encoding::BASE32_NOPAD
            .decode(s.to_ascii_uppercase().as_bytes())
            .map_err(|_| ParseMeshIdError(s.to_string()))?;
        let id: [u8; SHOWN_BYTES] = bytes
            .try_into()
            .map_err(|_| ParseMeshIdError(s.to_string()))?;
        Ok(MeshId(id))
    }
}

/// What a member may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads and publishes; may admit, remove and re-role members.
    Admin,
    /// Reads and publishes where topic policy allows.
    Member,
    /// Reads only; never publishes.
    Guest,
    /// A member that also holds sealed messages for members who are offline.
    Mailbox,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Guest => "guest",
            Role::Mailbox => "mailbox",
        })
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "guest" => Ok(Role::Guest),
            "mailbox" => Ok(Role::Mailbox),
            other => Err(format!(
                "`{other}` is not a role (admin, member, guest or mailbox)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn mesh_ids_round_trip(founder in any::<[u8; 32]>()) {
            let id = MeshId::of_founder(&MemberKey(founder));
            let shown = id.to_string();
            prop_assert_eq!(shown.len(), 32);
            prop_assert_eq!(shown.parse::<MeshId>().unwrap(), id);
            prop_assert!(id.prologue().starts_with("/weft/mesh/"));
        }
    }

    #[test]
    fn member_keys_show_a_short_prefix() {
        let mut key = MemberKey([0; 32]);
        key.0[..7].copy_from_slice(&[0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67]);
        assert_eq!(format!("{key:?}"), "MemberKey(abcdef012345)");
    }

    #[test]
    fn roles_parse_and_show() {
        for role in [Role::Admin, Role::Member, Role::Guest, Role::Mailbox] {
            assert_eq!(role.to_string().parse::<Role>(), Ok(role));
        }
        assert!("owner".parse::<Role>().is_err());
        assert!("nope".parse::<MeshId>().is_err());
    }
}
