//! [`BlobStore`]: content-addressed chunks in a directory beside the database, and the
//! manifests that say which chunks make which blob (in sled, tree `blobs`).
//!
//! A chunk lives at `blobs/chunks/<first two hex digits>/<its BLAKE3 hash in hex>`, written
//! to a temporary name and renamed, so a chunk file is either absent or whole. Every read
//! checks the hash again: a chunk damaged on disk is deleted and counts as missing, so it is
//! fetched again. Every method blocks on the file system; async callers use
//! `spawn_blocking`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use weft_proto::blob::{BlobId, CHUNK_BYTES, MAX_BLOB_BYTES, Manifest};

use crate::network::tally::Tally;
use crate::store::{Store, StoreError};

/// The directory of blobs inside the data dir.
const BLOBS_DIR: &str = "blobs";

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// Reading or writing a file failed.
    #[error("{0}: {1}")]
    Io(String, io::Error),
    /// The manifest could not be stored or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file is larger than a blob may be.
    #[error("{0} is larger than the {max} GiB a blob may be", max = MAX_BLOB_BYTES >> 30)]
    TooLarge(String),
    /// Chunks are missing (or were damaged and deleted): fetch the blob again.
    #[error("{0} chunks of the blob are missing here; fetch it again to complete it")]
    Incomplete(usize),
    /// The blob is not known here.
    #[error("blob {0} is not known here")]
    Unknown(BlobId),
}

/// Chunks on disk and manifests in sled. Cloning shares both.
#[derive(Clone)]
pub struct BlobStore {
    chunks: PathBuf,
    store: Store,
    tally: Tally,
}

impl BlobStore {
    /// The blob store of the node in `data_dir`, whose database is `store`. Damaged chunks
    /// are counted in `tally`.
    pub fn open(data_dir: &Path, store: Store, tally: Tally) -> Result<BlobStore, BlobError> {
        let chunks = data_dir.join(BLOBS_DIR).join("chunks");
        fs::create_dir_all(&chunks).map_err(|e| io_error(&chunks, e))?;
        Ok(BlobStore {
            chunks,
            store,
            tally,
        })
    }

    /// Adds the file at `path`: cuts it into chunks, stores each one not already here and
    /// records the manifest. Memory stays at one chunk whatever the file's size.
    pub fn add_file(&self, path: &Path) -> Result<Manifest, BlobError> {
        let mut file = File::open(path).map_err(|e| io_error(path, e))?;
        let mut buf = vec![0u8; CHUNK_BYTES as usize];
        let mut hashes = Vec::new();
        let mut size = 0u64;
        loop {
            let n = read_full(&mut file, &mut buf).map_err(|e| io_error(path, e))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > MAX_BLOB_BYTES {
                return Err(BlobError::TooLarge(path.display().to_string()));
            }
            let hash = *blake3::hash(&buf[..n]).as_bytes();
            if !self.has_chunk(&hash) {
                self.write_chunk(&hash, &buf[..n])?;
            }
            hashes.push(hash);
            if n < buf.len() {
                break;
            }
        }
        let manifest = Manifest::new(size, hashes);
        self.put_manifest(&manifest)?;
        Ok(manifest)
    }

    /// Records `manifest` durably.
    pub fn put_manifest(&self, manifest: &Manifest) -> Result<(), BlobError> {
        self.store.blobs.put(manifest)?;
        self.store.flush()?;
        Ok(())
    }

    /// The manifest of `blob`, if known here.
    pub fn manifest(&self, blob: &BlobId) -> Result<Option<Manifest>, BlobError> {
        Ok(self.store.blobs.get(blob)?)
    }

    /// Whether chunk `hash` is on disk (not checked; reads check).
    pub fn has_chunk(&self, hash: &[u8; 32]) -> bool {
        self.chunk_path(hash).exists()
    }

    /// The indices of `manifest`'s chunks not on disk, one per distinct chunk.
    pub fn missing(&self, manifest: &Manifest) -> Vec<u32> {
        let mut seen = std::collections::HashSet::new();
        (0u32..)
            .zip(&manifest.chunks)
            .filter(|(_, hash)| seen.insert(**hash) && !self.has_chunk(hash))
            .map(|(index, _)| index)
            .collect()
    }

    /// Chunk `hash`, checked against its hash. A damaged chunk is deleted, counted
    /// (`blob_chunk_damaged`) and reported as absent.
    pub fn read_chunk(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.chunk_path(hash);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path, e)),
        };
        if blake3::hash(&bytes).as_bytes() != hash {
            tracing::warn!(chunk = %path.display(), "a chunk on disk is damaged; deleted, it will be fetched again");
            self.tally.add("blob_chunk_damaged");
            let _ = fs::remove_file(&path);
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// Stores chunk `hash`. The caller has checked `bytes` against it.
    pub fn write_chunk(&self, hash: &[u8; 32], bytes: &[u8]) -> Result<(), BlobError> {
        let path = self.chunk_path(hash);
        let dir = path.parent().unwrap_or(&self.chunks);
        fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_error(dir, e))?;
        tmp.write_all(bytes).map_err(|e| io_error(&path, e))?;
        // Not synced: a chunk torn by a crash fails its hash on the next read and is
        // fetched again; only the manifest must survive, and sled keeps that.
        tmp.persist(&path).map_err(|e| io_error(&path, e.error))?;
        Ok(())
    }

    /// Writes the blob `manifest` names to `dest`: into a temporary file beside it, every
    /// chunk checked on the way, then linked into place (never over an existing file). On
    /// any failure `dest` is left as it was.
    pub fn export(&self, manifest: &Manifest, dest: &Path) -> Result<(), BlobError> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".weft-part-")
            .tempfile_in(dir)
            .map_err(|e| io_error(dir, e))?;
        let mut damaged = 0;
        for hash in &manifest.chunks {
            match self.read_chunk(hash)? {
                Some(bytes) => tmp.write_all(&bytes).map_err(|e| io_error(dest, e))?,
                None => damaged += 1,
            }
        }
        if damaged > 0 {
            return Err(BlobError::Incomplete(damaged));
        }
        tmp.as_file().sync_all().map_err(|e| io_error(dest, e))?;
        // Never over a file that is there: one that appeared meanwhile stays as it was.
        tmp.persist_noclobber(dest)
            .map_err(|e| io_error(dest, e.error))?;
        Ok(())
    }

    fn chunk_path(&self, hash: &[u8; 32]) -> PathBuf {
        let hex = BlobId(*hash).to_string();
        self.chunks.join(&hex[..2]).join(hex)
    }
}

fn io_error(path: &Path, e: io::Error) -> BlobError {
    BlobError::Io(path.display().to_string(), e)
}

/// Reads until `buf` is full or the file ends; returns how much was read.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob_store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let blobs = BlobStore::open(dir.path(), store, Tally::default()).unwrap();
        (dir, blobs)
    }

    #[test]
    fn a_file_round_trips_and_a_damaged_chunk_is_missing_again() {
        let (dir, blobs) = blob_store();
        let src = dir.path().join("src");
        let data: Vec<u8> = (0..(2 * CHUNK_BYTES as usize + 77))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        fs::write(&src, &data).unwrap();
        let manifest = blobs.add_file(&src).unwrap();
        assert_eq!(manifest.chunks.len(), 3);
        assert_eq!(
            blobs.manifest(&manifest.id()).unwrap(),
            Some(manifest.clone())
        );
        assert!(blobs.missing(&manifest).is_empty());

        let out = dir.path().join("out");
        blobs.export(&manifest, &out).unwrap();
        assert_eq!(fs::read(&out).unwrap(), data);

        // Damage chunk 1 on disk: export refuses, leaves no file, and the chunk is missing.
        fs::write(blobs.chunk_path(&manifest.chunks[1]), b"rot").unwrap();
        let again = dir.path().join("again");
        assert!(matches!(
            blobs.export(&manifest, &again),
            Err(BlobError::Incomplete(1))
        ));
        assert!(!again.exists());
        assert_eq!(blobs.missing(&manifest), vec![1]);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".weft-part"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "a failed export left a temporary file"
        );
    }

    #[test]
    fn repeated_chunks_are_stored_and_fetched_once() {
        let (dir, blobs) = blob_store();
        let src = dir.path().join("zeros");
        fs::write(&src, vec![0u8; 3 * CHUNK_BYTES as usize]).unwrap();
        let manifest = blobs.add_file(&src).unwrap();
        assert_eq!(manifest.chunks.len(), 3);
        fs::remove_file(blobs.chunk_path(&manifest.chunks[0])).unwrap();
        assert_eq!(blobs.missing(&manifest), vec![0]);
    }

    #[test]
    fn an_empty_file_is_a_blob_too() {
        let (dir, blobs) = blob_store();
        let src = dir.path().join("empty");
        fs::write(&src, b"").unwrap();
        let manifest = blobs.add_file(&src).unwrap();
        assert_eq!((manifest.size, manifest.chunks.len()), (0, 0));
        let out = dir.path().join("out");
        blobs.export(&manifest, &out).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"");
    }
}
