//! Everything a node keeps on disk, in one sled database in the data dir.
//!
//! One module per tree family:
//! - [`identity`]: the node's secret key and name (tree `identity`).
//! - [`peers`]: addresses of peers this node has talked to (tree `peers`).
//! - [`history`]: every message sent and received, ordered by time (tree `history`).
//! - [`outbox`]: direct messages waiting for their recipient's acknowledgement (tree `outbox`).
//! - [`topics`]: topics this node subscribes to (tree `topics`).
//! - [`mesh`]: the mesh, its ACL log, issued invites and members' sealing-key and
//!   display-name cards (trees `mesh`, `acl`, `invites`, `cards`, `names`).
//! - [`mailbox`]: sealed boxes held for members (trees `mailbox`, `mailbox_ids`).
//! - [`queues`]: work items this node holds as their producer, and the last acknowledged
//!   (trees `queue_items`, `queue_bodies`, `queue_done`).
//! - [`blobs`]: manifests of shared and fetched blobs (tree `blobs`; chunks live on disk).
//! - [`topic_log`]: topic messages by publisher and sequence number, and how far each
//!   publisher's run is complete (trees `topic_log`, `topic_marks`).
//!
//! The schema version lives in tree `meta`. Durability rule: nothing is acknowledged before
//! [`Store::flush`] returned. The core queues its changes as [`write::Write`]s in batches
//! (`core::commit`); `network::flush` applies each batch beside the loop and flushes it.

pub mod blobs;
pub mod history;
pub mod identity;
pub mod mailbox;
pub mod mesh;
pub mod outbox;
pub mod peers;
pub mod queues;
pub mod topic_log;
pub mod topics;
pub mod write;

use std::path::{Path, PathBuf};

/// The schema version this build writes and reads. Schemas 1 and 2 held ACL ops of earlier
/// versions (keys as integer arrays; then Lamport times instead of predecessors), whose
/// signatures cannot be carried over; a store of theirs without a mesh moves up as it is.
const SCHEMA_VERSION: u32 = 3;

/// How long opening waits for sled's lock before reporting another process.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The database directory inside the data dir.
const DB_DIR: &str = "db";

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process (a running `weft node`) holds the database.
    #[error(
        "another weft process is using {0} (is `weft node` running there? stop it, or use the CLI against it)"
    )]
    Locked(PathBuf),
    /// The database was written by a newer weft.
    #[error(
        "{path} has schema version {found}; this weft reads up to {SCHEMA_VERSION}: upgrade weft"
    )]
    NewerSchema {
        /// The database directory.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
    /// The database holds a mesh in an encoding this build no longer reads.
    #[error(
        "{path} has schema version {found} and a mesh whose ACL log this weft cannot read (it was made by a development build); move the data dir aside and found or join the mesh again"
    )]
    OldMesh {
        /// The database directory.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
    /// A stored record could not be decoded.
    #[error("corrupt record in tree `{tree}`: {detail}")]
    Corrupt {
        /// The tree holding it.
        tree: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The disk or sled failed (disk full, permissions, ...).
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
}

/// The open database and its trees. Cloning is cheap and shares the database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// Identity and name.
    pub identity: identity::IdentityTree,
    /// Known peer addresses.
    pub peers: peers::PeersTree,
    /// Message history.
    pub history: history::HistoryTree,
    /// Unacknowledged direct messages.
    pub outbox: outbox::OutboxTree,
    /// Subscribed topics.
    pub topics: topics::TopicsTree,
    /// Mesh membership, ACL log, invites and members' sealing keys.
    pub mesh: mesh::MeshTrees,
    /// Sealed boxes held for members.
    pub mailbox: mailbox::MailboxTrees,
    /// Topic messages by publisher and sequence number, for catch-up.
    pub topics_log: topic_log::TopicLog,
    /// Blob manifests.
    pub blobs: blobs::BlobsTree,
    /// Work items held as their producer.
    pub queues: queues::QueueTrees,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`. Fails with
    /// [`StoreError::Locked`] when another process has it open.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join(DB_DIR);
        // sled releases its file lock when the last of its internal references goes, which
        // can trail dropping a `Store` in this process by a moment (its IO thread pool); a
        // short wait covers that, and another process holding the lock is still reported
        // within LOCK_WAIT.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            match open_db(&path) {
                Err(StoreError::Locked(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(StoreError::Locked(_)) => {
                    return Err(StoreError::Locked(data_dir.to_path_buf()));
                }
                other => break other?,
            }
        };
        check_schema(&db, &path)?;
        Store::of(db)
    }

    /// A store in a temporary file that goes with it, for simulations and tests: no lock,
    /// no data dir.
    pub fn temporary() -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .flush_every_ms(None)
            .open()?;
        check_schema(&db, Path::new("(temporary)"))?;
        Store::of(db)
    }

    /// The trees of `db`.
    fn of(db: sled::Db) -> Result<Store, StoreError> {
        Ok(Store {
            identity: identity::IdentityTree(db.open_tree("identity")?),
            peers: peers::PeersTree(db.open_tree("peers")?),
            history: history::HistoryTree(db.open_tree("history")?),
            outbox: outbox::OutboxTree(db.open_tree("outbox")?),
            topics: topics::TopicsTree(db.open_tree("topics")?),
            mesh: mesh::MeshTrees {
                mesh: db.open_tree("mesh")?,
                acl: db.open_tree("acl")?,
                invites: db.open_tree("invites")?,
                cards: db.open_tree("cards")?,
                names: db.open_tree("names")?,
            },
            mailbox: mailbox::MailboxTrees {
                boxes: db.open_tree("mailbox")?,
                ids: db.open_tree("mailbox_ids")?,
            },
            topics_log: topic_log::TopicLog {
                log: db.open_tree("topic_log")?,
                marks: db.open_tree("topic_marks")?,
            },
            blobs: blobs::BlobsTree(db.open_tree("blobs")?),
            queues: queues::QueueTrees {
                items: db.open_tree("queue_items")?,
                bodies: db.open_tree("queue_bodies")?,
                done: db.open_tree("queue_done")?,
            },
            db,
        })
    }

    /// The database's size on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Flushes every write so far to disk. Blocking: call it off the event loop.
    pub fn flush(&self) -> Result<usize, StoreError> {
        Ok(self.db.flush()?)
    }
}

fn open_db(path: &Path) -> Result<sled::Db, StoreError> {
    // No background flusher: the event loop flushes exactly when something waits to be
    // durable (group commit), and a second, timed flush only competes with it.
    sled::Config::new()
        .path(path)
        .flush_every_ms(None)
        .open()
        .map_err(|e| match e {
            sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                StoreError::Locked(path.to_path_buf())
            }
            other => StoreError::Sled(other),
        })
}

fn check_schema(db: &sled::Db, path: &Path) -> Result<(), StoreError> {
    let meta = db.open_tree("meta")?;
    match meta.get("schema")? {
        None => {
            meta.insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
        }
        Some(bytes) => {
            let found =
                u32::from_be_bytes(bytes.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    tree: "meta",
                    detail: "schema version is not 4 bytes".into(),
                })?);
            if found > SCHEMA_VERSION {
                return Err(StoreError::NewerSchema {
                    path: path.to_path_buf(),
                    found,
                });
            }
            if found < SCHEMA_VERSION {
                // Nothing but the ACL log changed: a store without one moves up as it is.
                if !db.open_tree("acl")?.is_empty() {
                    return Err(StoreError::OldMesh {
                        path: path.to_path_buf(),
                        found,
                    });
                }
                meta.insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
            }
        }
    }
    Ok(())
}

/// Decodes a JSON record of `tree`, mapping failure to [`StoreError::Corrupt`].
fn decode<T: serde::de::DeserializeOwned>(
    tree: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree,
        detail: e.to_string(),
    })
}

/// Encodes a record as JSON. Records are plain data; encoding cannot fail.
fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // serde_json fails only on non-string map keys or failing Serialize impls; our records
    // have neither.
    serde_json::to_vec(value).expect("store records serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_open_reports_locked() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        // sled's lock is per process via flock on the file; a second handle in the same
        // process conflicts too.
        match Store::open(dir.path()) {
            Err(StoreError::Locked(p)) => assert_eq!(p, dir.path()),
            Err(other) => panic!("expected Locked, got {other}"),
            Ok(_) => panic!("second open succeeded"),
        }
    }

    /// A database written at `schema`, with an ACL log or without.
    fn old_store(schema: u32, with_acl: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let db = open_db(&dir.path().join(DB_DIR)).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema", &schema.to_be_bytes())
            .unwrap();
        if with_acl {
            db.open_tree("acl").unwrap().insert("op", "v1").unwrap();
        }
        db.flush().unwrap();
        dir
    }

    #[test]
    fn schema_1_moves_up_unless_it_holds_a_mesh() {
        let plain = old_store(1, false);
        drop(Store::open(plain.path()).unwrap());
        let reopened = Store::open(plain.path()).unwrap();
        let schema = reopened
            .db
            .open_tree("meta")
            .unwrap()
            .get("schema")
            .unwrap()
            .unwrap();
        assert_eq!(schema.as_ref(), SCHEMA_VERSION.to_be_bytes());
        drop(reopened);

        let meshed = old_store(1, true);
        match Store::open(meshed.path()) {
            Err(e @ StoreError::OldMesh { .. }) => {
                assert!(e.to_string().contains("move the data dir aside"))
            }
            Err(other) => panic!("expected OldMesh, got {other}"),
            Ok(_) => panic!("an unreadable mesh was opened"),
        }
        assert!(matches!(
            Store::open(old_store(SCHEMA_VERSION + 1, false).path()),
            Err(StoreError::NewerSchema { .. })
        ));
    }
}
