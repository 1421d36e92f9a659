//! Tree `blobs`: the manifest of every blob this node has shared or is fetching (key: blob
//! id, value: the manifest's CBOR). The chunks themselves live on disk beside the database
//! (see `crate::blob::store`), never in sled.

use weft_proto::blob::{BlobId, Manifest};

use super::StoreError;

/// The `blobs` tree.
#[derive(Clone)]
pub struct BlobsTree(pub(super) sled::Tree);

impl BlobsTree {
    /// Records `manifest` (idempotent).
    pub fn put(&self, manifest: &Manifest) -> Result<(), StoreError> {
        let bytes = manifest.encode().map_err(|e| StoreError::Corrupt {
            tree: "blobs",
            detail: e.to_string(),
        })?;
        self.0.insert(manifest.id().0, bytes)?;
        Ok(())
    }

    /// The manifest of `blob`, if known here.
    pub fn get(&self, blob: &BlobId) -> Result<Option<Manifest>, StoreError> {
        let Some(bytes) = self.0.get(blob.0)? else {
            return Ok(None);
        };
        Manifest::decode_for(blob, &bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                tree: "blobs",
                detail: e.to_string(),
            })
    }
}
