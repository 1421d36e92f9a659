//! Blobs: files cut into chunks and named by a BLAKE3 tree, and the frames of `/weft/blob/1`.
//!
//! A blob of `size` bytes is cut into chunks of `chunk_bytes` (the last may be shorter).
//! Each chunk is named by its BLAKE3 hash, and the blob by the root of the tree over them:
//!
//! ```text
//! chunk hash = BLAKE3(chunk bytes)
//! blob id    = BLAKE3-derive-key("weft/v1/blob-root",
//!                  size: u64 BE || chunk_bytes: u32 BE || chunk hash 0 || chunk hash 1 || ...)
//! ```
//!
//! The [`Manifest`] (size, chunk size and the chunk hashes) is what a fetcher asks for
//! first; it checks it against the blob id, then every chunk against its hash before writing
//! it, so nothing a source sends is trusted.
//!
//! `/weft/blob/1` carries any number of requests on one stream, one after another. Each is a
//! frame (see [`crate::codec`]) whose body is CBOR:
//!
//! ```text
//! BlobRequest { v: 1, blob: bytes(32), want: "Manifest" | { "Chunks": [u32, ...] } }   <= 1 KiB
//! BlobReply   = { "Manifest": Manifest }          the manifest (<= MAX_MANIFEST_BYTES)
//!             | { "Chunk": { index, len } }       then `len` raw bytes: the chunk
//!             | { "Missing": index }              this source lacks that chunk
//!             | "Unknown"                         this source does not know the blob
//!             | { "Refused": reason }             not a member, too busy, malformed
//! ```
//!
//! A `Chunks` request names at most [`MAX_CHUNKS_PER_REQUEST`] chunks; the answer is one
//! reply per chunk, in the order asked, before the next request is read.

use serde::{Deserialize, Serialize};

use crate::codec::{DecodeError, from_cbor, to_cbor};

/// The version of `/weft/blob/1` bodies this crate writes and reads.
pub const BLOB_VERSION: u8 = 1;

/// The size of every chunk but a blob's last.
pub const CHUNK_BYTES: u32 = 1024 * 1024;

/// The largest blob: 64 GiB.
pub const MAX_BLOB_BYTES: u64 = 64 * 1024 * 1024 * 1024;

/// The most chunks a blob has.
pub const MAX_CHUNKS: usize = (MAX_BLOB_BYTES / CHUNK_BYTES as u64) as usize;

/// The largest manifest frame: every chunk hash of the largest blob, and room for the rest.
pub const MAX_MANIFEST_BYTES: usize = MAX_CHUNKS * 34 + 1024;

/// The most chunks one request asks for.
pub const MAX_CHUNKS_PER_REQUEST: usize = 64;

/// The largest request frame.
pub const MAX_BLOB_REQUEST_BYTES: usize = 1024;

/// The largest reply frame other than a manifest.
pub const MAX_BLOB_REPLY_BYTES: usize = 1024;

/// The BLAKE3 root naming a blob. Shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(pub [u8; 32]);

crate::hex_id!(BlobId, "blob id");

impl BlobId {
    /// The first 8 hex digits, for human output.
    pub fn short(&self) -> String {
        self.to_string()[..8].to_string()
    }
}

/// What a blob is made of: its size, chunk size and the hash of every chunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Body version, [`BLOB_VERSION`].
    pub v: u8,
    /// The blob's size in bytes.
    pub size: u64,
    /// The size of every chunk but the last.
    pub chunk_bytes: u32,
    /// The BLAKE3 hash of each chunk, in order.
    #[serde(with = "crate::codec::byte_arrays")]
    pub chunks: Vec<[u8; 32]>,
}

impl Manifest {
    /// The manifest of a blob of `size` bytes whose chunks hash to `chunks`.
    pub fn new(size: u64, chunks: Vec<[u8; 32]>) -> Manifest {
        Manifest {
            v: BLOB_VERSION,
            size,
            chunk_bytes: CHUNK_BYTES,
            chunks,
        }
    }

    /// The root of the tree: the blob's id.
    pub fn id(&self) -> BlobId {
        let mut hasher = blake3::Hasher::new_derive_key("weft/v1/blob-root");
        hasher.update(&self.size.to_be_bytes());
        hasher.update(&self.chunk_bytes.to_be_bytes());
        for chunk in &self.chunks {
            hasher.update(chunk);
        }
        BlobId(*hasher.finalize().as_bytes())
    }

    /// The length of chunk `index`.
    pub fn chunk_len(&self, index: usize) -> usize {
        let start = index as u64 * u64::from(self.chunk_bytes);
        (self.size.saturating_sub(start)).min(u64::from(self.chunk_bytes)) as usize
    }

    /// Checks version, sizes and that the chunk count fits the size.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.v != BLOB_VERSION {
            return Err(DecodeError::Version(self.v));
        }
        if self.chunk_bytes != CHUNK_BYTES {
            return Err(DecodeError::Invalid(format!(
                "chunk size {} (this node uses {CHUNK_BYTES})",
                self.chunk_bytes
            )));
        }
        if self.size > MAX_BLOB_BYTES {
            return Err(DecodeError::TooLarge {
                what: "blob",
                len: self.size as usize,
                max: MAX_BLOB_BYTES as usize,
            });
        }
        if self.chunks.len() as u64 != self.size.div_ceil(u64::from(self.chunk_bytes)) {
            return Err(DecodeError::Invalid(format!(
                "{} chunk hashes for {} bytes",
                self.chunks.len(),
                self.size
            )));
        }
        Ok(())
    }

    /// Decodes a manifest and checks it is the one `id` names.
    pub fn decode_for(id: &BlobId, bytes: &[u8]) -> Result<Manifest, DecodeError> {
        let manifest: Manifest = from_cbor(bytes)?;
        manifest.validate()?;
        if manifest.id() != *id {
            return Err(DecodeError::Invalid(
                "manifest does not hash to the blob id".into(),
            ));
        }
        Ok(manifest)
    }

    /// Encodes the CBOR body.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        to_cbor(self)
    }
}

/// A request on `/weft/blob/1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRequest {
    /// Body version, [`BLOB_VERSION`].
    pub v: u8,
    /// The blob asked about.
    pub blob: BlobId,
    /// What of it.
    pub want: Want,
}

/// What a [`BlobRequest`] asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Want {
    /// The manifest.
    Manifest,
    /// These chunks, by index (at most [`MAX_CHUNKS_PER_REQUEST`]).
    Chunks(Vec<u32>),
}

impl BlobRequest {
    /// Decodes and checks a request body.
    pub fn decode(bytes: &[u8]) -> Result<BlobRequest, DecodeError> {
        let request: BlobRequest = from_cbor(bytes)?;
        if request.v != BLOB_VERSION {
            return Err(DecodeError::Version(request.v));
        }
        if let Want::Chunks(indices) = &request.want
            && indices.len() > MAX_CHUNKS_PER_REQUEST
        {
            return Err(DecodeError::TooLarge {
                what: "chunk request",
                len: indices.len(),
                max: MAX_CHUNKS_PER_REQUEST,
            });
        }
        Ok(request)
    }
}

/// One reply on `/weft/blob/1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobReply {
    /// The manifest asked for (CBOR-encoded, so the asker hashes exactly what was sent).
    Manifest(#[serde(with = "crate::codec::byte_vec")] Vec<u8>),
    /// Chunk `index` follows: `len` raw bytes after this frame.
    Chunk {
        /// Which chunk.
        index: u32,
        /// How many raw bytes follow.
        len: u32,
    },
    /// This source lacks chunk `index`.
    Missing(u32),
    /// This source does not know the blob.
    Unknown,
    /// The request was refused, and why.
    Refused(String),
}

/// The text of a direct message that offers a file: one line,
/// `weft-file/1 <blob id> <size> <type> <name>` (the name last, as it may hold spaces).
/// Plain text, so it is sealed, held and stored like any message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOffer {
    /// The blob.
    pub blob: BlobId,
    /// The file's name, without directories.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type (`application/octet-stream` when unknown).
    #[serde(rename = "type")]
    pub media_type: String,
}

const OFFER_TAG: &str = "weft-file/1";

impl FileOffer {
    /// The message text that carries this offer.
    pub fn to_text(&self) -> String {
        format!(
            "{OFFER_TAG} {} {} {} {}",
            self.blob, self.size, self.media_type, self.name
        )
    }

    /// The offer a message text carries, if it is one.
    pub fn from_text(text: &str) -> Option<FileOffer> {
        let rest = text.strip_prefix(OFFER_TAG)?.strip_prefix(' ')?;
        let mut parts = rest.splitn(4, ' ');
        let blob = parts.next()?.parse().ok()?;
        let size = parts.next()?.parse().ok()?;
        let media_type = parts.next()?.to_string();
        let name = parts.next()?.to_string();
        if name.is_empty() || name.contains(['/', '\n']) || !media_type.contains('/') {
            return None;
        }
        Some(FileOffer {
            blob,
            name,
            size,
            media_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn manifest(size: u64) -> Manifest {
        let n = size.div_ceil(u64::from(CHUNK_BYTES)) as usize;
        Manifest::new(size, (0..n).map(|i| [i as u8; 32]).collect())
    }

    #[test]
    fn manifest_checks_against_its_id() {
        let m = manifest(3 * u64::from(CHUNK_BYTES) + 5);
        let bytes = m.encode().unwrap();
        assert_eq!(Manifest::decode_for(&m.id(), &bytes).unwrap(), m);
        assert!(Manifest::decode_for(&BlobId([0; 32]), &bytes).is_err());
        assert_eq!(m.chunk_len(3), 5);
        assert_eq!(m.chunk_len(0), CHUNK_BYTES as usize);
    }

    #[test]
    fn a_large_manifest_travels_in_a_reply() {
        let m = manifest(4096 * u64::from(CHUNK_BYTES));
        let reply = BlobReply::Manifest(m.encode().unwrap());
        let back: BlobReply = from_cbor(&to_cbor(&reply).unwrap()).unwrap();
        let BlobReply::Manifest(bytes) = back else {
            panic!("not a manifest")
        };
        assert_eq!(Manifest::decode_for(&m.id(), &bytes).unwrap(), m);
    }

    #[test]
    fn a_manifest_whose_chunks_do_not_fit_its_size_is_refused() {
        let mut m = manifest(10);
        m.size = 2 * u64::from(CHUNK_BYTES);
        assert!(Manifest::decode_for(&m.id(), &m.encode().unwrap()).is_err());
    }

    #[test]
    fn oversize_chunk_requests_are_refused() {
        let request = BlobRequest {
            v: BLOB_VERSION,
            blob: BlobId([1; 32]),
            want: Want::Chunks((0..=MAX_CHUNKS_PER_REQUEST as u32).collect()),
        };
        let err = BlobRequest::decode(&to_cbor(&request).unwrap()).unwrap_err();
        assert_eq!(err.reason(), "oversize");
    }

    proptest! {
        #[test]
        fn offers_round_trip(name in "[^/\n]{1,40}", size in any::<u64>(), blob in any::<[u8; 32]>()) {
            let offer = FileOffer { blob: BlobId(blob), name, size, media_type: "text/plain".into() };
            prop_assert_eq!(FileOffer::from_text(&offer.to_text()), Some(offer));
        }

        #[test]
        fn blob_requests_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = BlobRequest::decode(&bytes);
        }
    }
}
