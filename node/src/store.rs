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
//! it is on disk. The core queues its changes as [`write::Write`]s in batches
//! (`core::commit`); `network::flush` commits each batch beside the loop
//! ([`Store::commit`]): applies it to sled and appends it to the [`journal`], which is what
//! makes it durable; sled itself is flushed only at the journal's checkpoints. Writes made
//! outside a batch (identity, blob manifests) flush sled themselves.

pub mod blobs;
pub mod history;
pub mod identity;
pub mod journal;
pub mod mailbox;
pub mod mesh;
pub mod outbox;
pub mod peers;
pub mod queues;
pub mod sled_files;
pub mod topic_log;
pub mod topics;
pub mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use write::{Applied, Write};

/// The schema version this build writes and reads. Schemas 1 and 2 held ACL ops of earlier
/// versions (keys as integer arrays; then Lamport times instead of predecessors), whose
/// signatures cannot be carried over; a store of theirs without a mesh moves up as it is.
const SCHEMA_VERSION: u32 = 3;

/// How long opening waits for sled's lock before reporting another process.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The database directory inside the data dir.
const DB_DIR: &str = "db";

/// The journal of batches not yet flushed into sled, inside the data dir.
const JOURNAL_FILE: &str = "journal";

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
    /// A file of the store (its journal, sled's files) could not be read, written or
    /// synced (disk full, permissions, ...).
    #[error("storage error: {path}: {error}")]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
}

impl StoreError {
    /// `error` on the store's file at `path`.
    fn file(path: &Path, error: std::io::Error) -> StoreError {
        StoreError::File {
            path: path.to_path_buf(),
            error,
        }
    }
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
    /// Where committed batches are made durable; none for a temporary store, which
    /// flushes sled instead.
    journal: Option<Arc<Mutex<Journaled>>>,
}

/// The journal, and the sled database and files a checkpoint flushes and syncs before the
/// journal starts again.
struct Journaled {
    journal: journal::Journal,
    db: sled::Db,
    sled: sled_files::SledFiles,
}

impl Journaled {
    /// Flushes sled and syncs its files, then starts the journal again: what it held is
    /// safe in sled.
    fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.sled.sync()?;
        self.journal.clear()
    }
}

impl Drop for Journaled {
    /// A store closed in order leaves an empty journal, so the next open has nothing to
    /// apply again (and says so only after a crash). Failing, the journal stays and is
    /// applied on the next open.
    fn drop(&mut self) {
        if !self.journal.is_empty()
            && let Err(e) = self.checkpoint()
        {
            tracing::warn!(error = %e, "closing the store: the journal stays, to be applied when it opens again");
        }
    }
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
        let mut store = Store::of(db)?;
        let (journal, batches) = journal::Journal::open(&data_dir.join(JOURNAL_FILE))?;
        let mut journaled = Journaled {
            journal,
            db: store.db.clone(),
            sled: sled_files::SledFiles::new(&path),
        };
        if batches.is_empty() {
            // Nothing to bring into sled; a new generation all the same, so what a crash
            // left of a record past the last whole one is never read as a batch.
            journaled.journal.clear()?;
        } else {
            // The node stopped with batches durable only in the journal: sled is brought up
            // to date before anything reads it.
            for batch in &batches {
                store.apply(batch)?;
            }
            journaled.checkpoint()?;
            tracing::info!(
                batches = batches.len(),
                "applied the journal's batches a stopped node had not yet flushed into the database"
            );
        }
        store.journal = Some(Arc::new(Mutex::new(journaled)));
        Ok(store)
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
            journal: None,
            db,
        })
    }

    /// Applies `writes` in order and makes them durable: one append to the journal and one
    /// `fdatasync`, on this thread. When the journal has grown past
    /// [`journal::CHECKPOINT_BYTES`], sled is flushed, its files synced and the journal
    /// started again. Blocking: call it off the event loop, from one thread at a time (the
    /// flush task).
    pub fn commit(&self, writes: &[Write]) -> Result<Applied, StoreError> {
        let applied = self.apply(writes)?;
        let Some(journal) = &self.journal else {
            self.flush()?;
            return Ok(applied);
        };
        let mut journaled = journal.lock().map_err(|_| {
            StoreError::Sled(sled::Error::ReportableBug(
                "a thread panicked while writing the journal".into(),
            ))
        })?;
        journaled.journal.append(writes)?;
        if journaled.journal.len() > journal::CHECKPOINT_BYTES {
            journaled.checkpoint()?;
        }
        Ok(applied)
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

    /// A copy of `from` (a directory tree) at `to`.
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    #[test]
    fn committed_batches_sled_had_not_flushed_come_back_from_the_journal_once() {
        use weft_proto::MessageId;
        use weft_proto::api::{DeliveryState, Direction, Kind, Message};
        use write::Write;

        let message = |n: u8| Message {
            id: MessageId([n; 32]),
            kind: Kind::Direct,
            direction: Direction::Out,
            from: String::new(),
            to: None,
            topic: None,
            ts: u64::from(n),
            text: format!("message {n}"),
            state: None,
        };
        let peer = libp2p::PeerId::random();
        let addrs = peers::KnownAddrs {
            own: vec!["/ip4/127.0.0.1/tcp/7".parse().unwrap()],
            heard: Vec::new(),
        };
        let live = tempfile::tempdir().unwrap();
        let crashed = tempfile::tempdir().unwrap();
        let store = Store::open(live.path()).unwrap();
        store
            .commit(&[Write::InsertHistory(Box::new(message(1)))])
            .unwrap();
        // sled as a crash might leave it: flushed up to here, nothing after.
        store.flush().unwrap();
        copy_dir(&live.path().join(DB_DIR), &crashed.path().join(DB_DIR));
        store
            .commit(&[
                Write::InsertHistory(Box::new(message(2))),
                Write::SetState(MessageId([1; 32]), DeliveryState::Delivered),
                Write::PutPeer(peer, addrs),
            ])
            .unwrap();
        store.commit(&[Write::ForgetPeer(peer)]).unwrap();
        std::fs::copy(
            live.path().join(JOURNAL_FILE),
            crashed.path().join(JOURNAL_FILE),
        )
        .unwrap();
        drop(store);

        for dir in [crashed.path(), live.path()] {
            // Once over a database that lacks the batches, once over one that (flushed as
            // it closed) holds them already: the same store either way.
            let store = Store::open(dir).unwrap();
            let all = store.history.query(&Default::default()).unwrap();
            let texts: Vec<_> = all.iter().map(|m| m.text.as_str()).collect();
            assert_eq!(texts, ["message 1", "message 2"], "in {}", dir.display());
            let first = store.history.message(&MessageId([1; 32])).unwrap().unwrap();
            assert_eq!(first.state, Some(DeliveryState::Delivered));
            assert!(store.peers.all().unwrap().is_empty(), "forgotten again");
            drop(store);
            // What was replayed is in sled now: the journal started again.
            let (_, left) = journal::Journal::open(&dir.join(JOURNAL_FILE)).unwrap();
            assert!(left.is_empty());
        }
    }
}
