//! Trees `mesh`, `acl` and `invites`: which mesh this node belongs to, the signed ops of its
//! ACL log, and the invites this node issued.
//!
//! - `mesh`: `id` -> the mesh id (20 bytes); `removed_at` -> when this node learnt it was
//!   removed (u64 BE, Unix seconds).
//! - `acl`: sequence number (u32 BE) -> CBOR `SignedOp`, in the order the log admitted them
//!   (parents first), so they are admitted again in that order at start-up.
//! - `invites`: invite id (16 bytes) -> JSON [`InviteRecord`] (holds the secret: the data dir
//!   is 0700).
//! - `cards`: member key (32 bytes) -> CBOR `SealCard` (verified before it is stored).
//! - `names`: member key (32 bytes) -> CBOR `NameCard`, the latest display name the member
//!   gave (verified before it is stored).

use serde::{Deserialize, Serialize};
use weft_proto::acl::SignedOp;
use weft_proto::display::NameCard;
use weft_proto::mesh::{MemberKey, MeshId, Role};
use weft_proto::seal::SealCard;

use super::{StoreError, decode, encode};

/// An invite this node issued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteRecord {
    /// The invite key (`WEFT2…`; holds the secret).
    pub key: String,
    /// The note given at creation.
    pub note: Option<String>,
    /// Redemptions left.
    pub uses_left: u32,
    /// The role a newcomer gets. (A record from before invites were version 2 has none,
    /// and reads as a guest's; it has no expiry either, so it admits no one.)
    #[serde(default = "old_record_role")]
    pub role: Role,
    /// When it stops working, Unix seconds (0 in a record from before version 2: expired).
    #[serde(default)]
    pub expires: u64,
}

/// The role read from an invite record from before version 2.
fn old_record_role() -> Role {
    Role::Guest
}

/// The `mesh`, `acl` and `invites` trees.
#[derive(Clone)]
pub struct MeshTrees {
    pub(super) mesh: sled::Tree,
    pub(super) acl: sled::Tree,
    pub(super) invites: sled::Tree,
    pub(super) cards: sled::Tree,
    pub(super) names: sled::Tree,
}

impl MeshTrees {
    /// The mesh this node belongs to.
    pub fn id(&self) -> Result<Option<MeshId>, StoreError> {
        match self.mesh.get("id")? {
            None => Ok(None),
            Some(bytes) => {
                let id: [u8; 20] = bytes.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    tree: "mesh",
                    detail: "mesh id is not 20 bytes".into(),
                })?;
                Ok(Some(MeshId(id)))
            }
        }
    }

    /// Records the mesh this node belongs to, unless it belongs to one already. Returns
    /// whether it was recorded.
    pub fn set_id(&self, id: MeshId) -> Result<bool, StoreError> {
        let swapped = self
            .mesh
            .compare_and_swap("id", None as Option<&[u8]>, Some(&id.0[..]))?;
        Ok(swapped.is_ok())
    }

    /// Stores admitted op number `seq`.
    pub fn put_op(&self, seq: u32, op: &SignedOp) -> Result<(), StoreError> {
        let bytes = weft_proto::codec::to_cbor(op).map_err(|e| StoreError::Corrupt {
            tree: "acl",
            detail: e.to_string(),
        })?;
        self.acl.insert(seq.to_be_bytes(), bytes)?;
        Ok(())
    }

    /// When this node learnt it was removed from its mesh, if it was.
    pub fn removed_at(&self) -> Result<Option<u64>, StoreError> {
        match self.mesh.get("removed_at")? {
            None => Ok(None),
            Some(bytes) => Ok(Some(u64::from_be_bytes(
                bytes.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    tree: "mesh",
                    detail: "removed_at is not 8 bytes".into(),
                })?,
            ))),
        }
    }

    /// Records when this node learnt it was removed.
    pub fn set_removed_at(&self, at: u64) -> Result<(), StoreError> {
        self.mesh.insert("removed_at", &at.to_be_bytes())?;
        Ok(())
    }

    /// Every stored op, in the order they were admitted.
    pub fn ops(&self) -> Result<Vec<SignedOp>, StoreError> {
        let mut out = Vec::new();
        for value in self.acl.iter().values() {
            out.push(
                weft_proto::codec::from_cbor(&value?).map_err(|e| StoreError::Corrupt {
                    tree: "acl",
                    detail: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }

    /// Stores an invite record.
    pub fn put_invite(&self, id: &[u8; 16], record: &InviteRecord) -> Result<(), StoreError> {
        self.invites.insert(id, encode(record))?;
        Ok(())
    }

    /// The invite record with `id`.
    pub fn invite(&self, id: &[u8; 16]) -> Result<Option<InviteRecord>, StoreError> {
        match self.invites.get(id)? {
            None => Ok(None),
            Some(bytes) => decode("invites", &bytes).map(Some),
        }
    }

    /// Every invite record, by id.
    pub fn invites(&self) -> Result<Vec<([u8; 16], InviteRecord)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.invites.iter() {
            let (key, value) = entry?;
            let id: [u8; 16] = key.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                tree: "invites",
                detail: "invite id is not 16 bytes".into(),
            })?;
            out.push((id, decode("invites", &value)?));
        }
        Ok(out)
    }

    /// Stores `member`'s verified sealing-key card.
    pub fn put_card(&self, member: &MemberKey, card: &SealCard) -> Result<(), StoreError> {
        put_by_member(&self.cards, "cards", member, card)
    }

    /// Every stored card, by member key.
    pub fn cards(&self) -> Result<Vec<(MemberKey, SealCard)>, StoreError> {
        by_member(&self.cards, "cards")
    }

    /// Stores `member`'s verified display-name card.
    pub fn put_name_card(&self, member: &MemberKey, card: &NameCard) -> Result<(), StoreError> {
        put_by_member(&self.names, "names", member, card)
    }

    /// Every stored display-name card, by member key.
    pub fn name_cards(&self) -> Result<Vec<(MemberKey, NameCard)>, StoreError> {
        by_member(&self.names, "names")
    }
}

/// Stores `value` as CBOR under `member` in `tree` (named `name`).
fn put_by_member<T: Serialize>(
    tree: &sled::Tree,
    name: &'static str,
    member: &MemberKey,
    value: &T,
) -> Result<(), StoreError> {
    let bytes = weft_proto::codec::to_cbor(value).map_err(|e| StoreError::Corrupt {
        tree: name,
        detail: e.to_string(),
    })?;
    tree.insert(member.0, bytes)?;
    Ok(())
}

/// Every CBOR value in `tree` (named `name`), by member key.
fn by_member<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
) -> Result<Vec<(MemberKey, T)>, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt { tree: name, detail };
    let mut out = Vec::new();
    for entry in tree.iter() {
        let (key, value) = entry?;
        let member = MemberKey(
            key.as_ref()
                .try_into()
                .map_err(|_| corrupt("member key is not 32 bytes".into()))?,
        );
        let value = weft_proto::codec::from_cbor(&value).map_err(|e| corrupt(e.to_string()))?;
        out.push((member, value));
    }
    Ok(out)
}
