//! [`SledFiles`]: what a checkpoint syncs before the journal starts again. sled's flush
//! makes its log stable only with `sync_file_range` (written to the device, not flushed
//! from its cache), and writes a page too large for its log (more than a quarter of a
//! segment: a few large values) to a file of its own under `blobs/` without syncing it at
//! all. Before the journal's batches may be forgotten, both must survive a power cut: the
//! log file is synced, and so is every blob file that appeared since the last checkpoint
//! (sled creates each one new and never writes it again) and the directories naming them.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::StoreError;

/// sled's directory, and the blob files already synced.
pub struct SledFiles {
    dir: PathBuf,
    synced: HashSet<OsString>,
}

impl SledFiles {
    /// The files of the sled database in `dir`; none synced yet.
    pub fn new(dir: &Path) -> SledFiles {
        SledFiles {
            dir: dir.to_path_buf(),
            synced: HashSet::new(),
        }
    }

    /// Syncs sled's log, its blob files not synced before, and its directories. Call it
    /// after sled's own flush.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        sync(&self.dir.join("db"))?;
        let blobs = self.dir.join("blobs");
        let mut present = HashSet::new();
        match std::fs::read_dir(&blobs) {
            Ok(entries) => {
                for entry in entries {
                    let name = entry.map_err(|e| StoreError::file(&blobs, e))?.file_name();
                    if !self.synced.contains(&name) {
                        sync(&blobs.join(&name))?;
                    }
                    present.insert(name);
                }
                sync(&blobs)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::file(&blobs, e)),
        }
        sync(&self.dir)?;
        // What sled removed is forgotten, so the set stays as large as the directory.
        self.synced = present;
        Ok(())
    }
}

/// `fsync` of the file or directory at `path`; one sled removed meanwhile is skipped.
fn sync(path: &Path) -> Result<(), StoreError> {
    match File::open(path).and_then(|f| f.sync_all()) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other.map_err(|e| StoreError::file(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_too_large_for_the_log_is_synced_and_what_is_synced_follows_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .path(dir.path())
            .flush_every_ms(None)
            .open()
            .unwrap();
        let mut files = SledFiles::new(dir.path());
        files.sync().unwrap();
        assert!(files.synced.is_empty(), "no blob file yet");
        db.insert("large", vec![7u8; 300 << 10]).unwrap();
        db.flush().unwrap();
        files.sync().unwrap();
        assert_eq!(
            files.synced.len(),
            1,
            "sled wrote the page to a file of its own"
        );
        db.remove("large").unwrap();
        db.insert("small", "x").unwrap();
        db.flush().unwrap();
        files.sync().unwrap();
        let on_disk = std::fs::read_dir(dir.path().join("blobs")).unwrap().count();
        assert_eq!(files.synced.len(), on_disk);
    }
}
