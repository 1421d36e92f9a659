//! Trees `mailbox` and `mailbox_ids`: sealed boxes this node holds for members, as a mailbox
//! (or for itself, from senders who could not reach it directly).
//!
//! - `mailbox`: recipient key (32) ++ arrival (u64 BE, microseconds) ++ box id (32) -> CBOR
//!   [`HeldBox`]. Keys sort by recipient, then arrival: a fetch reads oldest first.
//! - `mailbox_ids`: recipient key (32) ++ box id (32) -> arrival (u64 BE), to release by id.
//!
//! Both change only through [`super::write::Write`], in the flush task.

use serde::{Deserialize, Serialize};
use weft_proto::mailbox::Held;
use weft_proto::mesh::MemberKey;

use super::StoreError;

/// One held box.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBox {
    /// When it may be dropped, Unix seconds.
    pub expires: u64,
    /// Who deposited it (the key of the member whose connection brought it; zeros for a box
    /// held before depositors were kept), for its quota.
    #[serde(default = "unknown_depositor")]
    pub from: MemberKey,
    /// The box.
    #[serde(with = "weft_proto::codec::byte_vec")]
    pub sealed: Vec<u8>,
}

/// A held box, less its bytes: for the index the event loop keeps (`core::holding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoxInfo {
    /// The recipient's key.
    pub to: MemberKey,
    /// The box id.
    pub id: [u8; 32],
    /// When it arrived, microseconds since the Unix epoch (its place in a fetch).
    pub at: u64,
    /// When it may be dropped, Unix seconds.
    pub expires: u64,
    /// Its size in bytes.
    pub size: usize,
    /// Who deposited it.
    pub from: MemberKey,
}

/// The depositor of a box held before depositors were kept.
fn unknown_depositor() -> MemberKey {
    MemberKey([0; 32])
}

/// The `mailbox` and `mailbox_ids` trees.
#[derive(Clone)]
pub struct MailboxTrees {
    pub(super) boxes: sled::Tree,
    pub(super) ids: sled::Tree,
}

fn box_key(to: &MemberKey, at: u64, id: &[u8; 32]) -> Vec<u8> {
    [&to.0[..], &at.to_be_bytes(), &id[..]].concat()
}

fn id_key(to: &MemberKey, id: &[u8; 32]) -> Vec<u8> {
    [&to.0[..], &id[..]].concat()
}

fn corrupt(detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        tree: "mailbox",
        detail: detail.to_string(),
    }
}

impl MailboxTrees {
    /// Stores `held` for `to` under `id`, arriving at `at`, unless that id is held already.
    pub fn hold(
        &self,
        to: &MemberKey,
        at: u64,
        id: &[u8; 32],
        held: &HeldBox,
    ) -> Result<(), StoreError> {
        if self.ids.contains_key(id_key(to, id))? {
            return Ok(());
        }
        let bytes = weft_proto::codec::to_cbor(held).map_err(corrupt)?;
        self.boxes.insert(box_key(to, at, id), bytes)?;
        self.ids.insert(id_key(to, id), &at.to_be_bytes())?;
        Ok(())
    }

    /// Drops `to`'s box `id`, if held.
    pub fn release(&self, to: &MemberKey, id: &[u8; 32]) -> Result<(), StoreError> {
        if let Some(at) = self.ids.remove(id_key(to, id))? {
            let at = u64::from_be_bytes(at.as_ref().try_into().map_err(corrupt)?);
            self.boxes.remove(box_key(to, at, id))?;
        }
        Ok(())
    }

    /// The bytes of `boxes`, in their order; a box released meanwhile is left out.
    pub fn sealed(&self, boxes: &[BoxInfo]) -> Result<Vec<Held>, StoreError> {
        let mut out = Vec::with_capacity(boxes.len());
        for info in boxes {
            if let Some(value) = self.boxes.get(box_key(&info.to, info.at, &info.id))? {
                let held: HeldBox = weft_proto::codec::from_cbor(&value).map_err(corrupt)?;
                out.push(Held {
                    id: info.id,
                    sealed: held.sealed,
                });
            }
        }
        Ok(out)
    }

    /// Every held box: for usage counts and expiry.
    pub fn all(&self) -> Result<Vec<BoxInfo>, StoreError> {
        let mut out = Vec::new();
        for entry in self.boxes.iter() {
            let (key, value) = entry?;
            if key.len() != 72 {
                return Err(corrupt("key is not 72 bytes"));
            }
            let held: HeldBox = weft_proto::codec::from_cbor(&value).map_err(corrupt)?;
            let to = MemberKey(key[..32].try_into().map_err(corrupt)?);
            let at = u64::from_be_bytes(key[32..40].try_into().map_err(corrupt)?);
            let id: [u8; 32] = key[40..].try_into().map_err(corrupt)?;
            out.push(BoxInfo {
                to,
                id,
                at,
                expires: held.expires,
                size: held.sealed.len(),
                from: held.from,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_stored_before_depositors_were_kept_reads_as_from_zeros() {
        #[derive(Serialize)]
        struct Older {
            expires: u64,
            #[serde(with = "weft_proto::codec::byte_vec")]
            sealed: Vec<u8>,
        }
        let bytes = weft_proto::codec::to_cbor(&Older {
            expires: 5,
            sealed: vec![1, 2],
        })
        .unwrap();
        let held: HeldBox = weft_proto::codec::from_cbor(&bytes).unwrap();
        assert_eq!(held.from, MemberKey([0; 32]));
        assert_eq!((held.expires, held.sealed), (5, vec![1, 2]));
    }

    #[test]
    fn holds_in_arrival_order_once_and_releases_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(dir.path()).unwrap();
        let boxes = &store.mailbox;
        let (bob, carol) = (MemberKey([1; 32]), MemberKey([2; 32]));
        let held = |n: u8| HeldBox {
            expires: 100,
            from: MemberKey([n; 32]),
            sealed: vec![n; 10],
        };
        boxes.hold(&bob, 2, &[20; 32], &held(20)).unwrap();
        boxes.hold(&bob, 1, &[10; 32], &held(10)).unwrap();
        boxes.hold(&bob, 3, &[10; 32], &held(10)).unwrap();
        boxes.hold(&carol, 1, &[30; 32], &held(30)).unwrap();

        let all = boxes.all().unwrap();
        let bobs: Vec<(u64, u8)> = all
            .iter()
            .filter(|b| b.to == bob)
            .map(|b| (b.at, b.id[0]))
            .collect();
        assert_eq!(bobs, vec![(1, 10), (2, 20)], "oldest first, once");
        let sealed = boxes.sealed(&all).unwrap();
        assert_eq!((sealed[0].id, &sealed[0].sealed), ([10; 32], &vec![10; 10]));

        boxes.release(&bob, &[10; 32]).unwrap();
        boxes.release(&bob, &[99; 32]).unwrap();
        assert_eq!(
            boxes.sealed(&all).unwrap().len(),
            2,
            "the released box is left out"
        );
        assert_eq!(boxes.all().unwrap().len(), 2);
    }
}
