//! [`Journal`]: the file that makes a batch of [`Write`]s durable with one write and one
//! `fdatasync`, on the thread that applied it. sled's own flush hands its IO buffer to a
//! thread of its pool and waits for it, and writes every page the batch touched; the
//! journal writes the batch once, as it came. sled is flushed only now and then (a
//! checkpoint, when the journal holds more than [`CHECKPOINT_BYTES`]), after which the
//! journal starts again from its first record.
//!
//! On open, every record of the current generation is read back and applied to sled again,
//! in order. Applying a batch twice leaves what applying it once does (each write puts or
//! removes records, or inserts a message only when its id is not stored), so it does not
//! matter how much of the journal sled already held when the process died.
//!
//! The file is written over in place and grows in zero-filled steps of a MiB, so an
//! append changes neither its size nor its extents: `fdatasync` then writes the record and
//! nothing of the file system's own (an append past the end would commit the file
//! system's journal too, which costs more than the write).
//!
//! Layout (integers little-endian):
//!
//! ```text
//! header, HEADER_BYTES: | magic: 8 bytes "weftjnl1" | generation: u64 | zeros |
//! then records:         | length: u32 | seq: u64 | check: 16 bytes | body: `length` bytes |
//! ```
//!
//! `body` is the batch as CBOR (the encoding the wire types are made for); `check` is
//! BLAKE3 (domain-separated) of the generation, `seq` and `body`; `seq` counts up by one
//! from the first record. Reading stops at the first record that is cut short, fails its
//! check or breaks the count: a batch being written when the process died, never
//! acknowledged, or what is left of records written before the last checkpoint. A checkpoint (and every open) starts a new random
//! generation, so no record written before it can pass a check again.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use weft_proto::codec::DecodeError;

use super::StoreError;
use super::write::Write;

/// How many bytes of records the journal may hold before sled is flushed and the journal
/// starts again. Replaying this much on open takes well under a second; starting again
/// costs one sled flush.
pub const CHECKPOINT_BYTES: u64 = 8 << 20;

/// The file grows by this much, zero-filled, when a record would pass its end.
const GROW_BYTES: u64 = 1 << 20;

/// Bytes before the first record (one page, written alone at a checkpoint).
const HEADER_BYTES: u64 = 4096;

/// What the header starts with.
const MAGIC: &[u8; 8] = b"weftjnl1";

/// Bytes before a record's body.
const RECORD_HEADER: usize = 4 + 8 + CHECK;

/// Bytes of BLAKE3 kept as a record's check.
const CHECK: usize = 16;

/// BLAKE3 key-derivation context of a record's check.
const CONTEXT: &str = "weft store journal record v1";

/// The open journal: its generation, where the next record goes and its number.
pub struct Journal {
    file: File,
    path: PathBuf,
    generation: u64,
    /// Bytes of records (from the header's end).
    len: u64,
    /// The file's size.
    size: u64,
    seq: u64,
}

impl Journal {
    /// Opens (creating, readable by this user only) the journal at `path`, with the batches
    /// its records of the current generation hold, in the order written. Call
    /// [`Journal::clear`] once they are flushed into sled, before the first append.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Vec<Write>>), StoreError> {
        let failed = |e: std::io::Error| StoreError::file(path, e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(failed)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(failed)?;
        let mut batches = Vec::new();
        let mut at = HEADER_BYTES as usize;
        let generation = match bytes.get(..16) {
            Some(head) if &head[..8] == MAGIC => {
                u64::from_le_bytes(head[8..].try_into().unwrap_or_default())
            }
            // New, or its header never finished: no record of it can be read.
            _ => {
                at = bytes.len();
                0
            }
        };
        let mut seq = 0;
        while let Some((body, next)) = record(&bytes, at, generation, seq) {
            let batch = decode(body).map_err(|e| StoreError::Corrupt {
                tree: "journal",
                detail: format!("record {seq} passes its check but is not a batch: {e}"),
            })?;
            batches.push(batch);
            seq += 1;
            at = next;
        }
        let journal = Journal {
            file,
            path: path.to_path_buf(),
            generation,
            len: (at as u64).saturating_sub(HEADER_BYTES),
            size: bytes.len() as u64,
            seq,
        };
        Ok((journal, batches))
    }

    /// Appends `writes` as one record and waits until it is on disk.
    pub fn append(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        let body = encode(writes).map_err(|e| StoreError::Corrupt {
            tree: "journal",
            detail: format!("a batch does not encode: {e}"),
        })?;
        let length = u32::try_from(body.len()).map_err(|_| StoreError::Corrupt {
            tree: "journal",
            detail: format!("a batch of {} bytes is over 4 GiB", body.len()),
        })?;
        let mut record = Vec::with_capacity(RECORD_HEADER + body.len());
        record.extend_from_slice(&length.to_le_bytes());
        record.extend_from_slice(&self.seq.to_le_bytes());
        record.extend_from_slice(&check(self.generation, self.seq, &body));
        record.extend_from_slice(&body);
        let at = HEADER_BYTES + self.len;
        let end = at + record.len() as u64;
        // A failed write leaves at most a torn record past the last whole one: it fails
        // its check, and the next append writes over it.
        self.grow_to(end)?;
        self.file
            .write_all_at(&record, at)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| StoreError::file(&self.path, e))?;
        self.len += record.len() as u64;
        self.seq += 1;
        Ok(())
    }

    /// Bytes of records in the journal.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the journal holds no record.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Starts the journal again, in a new generation: call it only once every batch in it
    /// is in sled and synced (`super::sled_files`).
    pub fn clear(&mut self) -> Result<(), StoreError> {
        let mut generation = [0; 8];
        getrandom::fill(&mut generation).map_err(|e| {
            StoreError::file(
                &self.path,
                std::io::Error::other(format!("no randomness: {e}")),
            )
        })?;
        let generation = u64::from_le_bytes(generation);
        let mut header = [0; HEADER_BYTES as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..16].copy_from_slice(&generation.to_le_bytes());
        self.grow_to(HEADER_BYTES)?;
        self.file
            .write_all_at(&header, 0)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| StoreError::file(&self.path, e))?;
        self.generation = generation;
        self.len = 0;
        self.seq = 0;
        Ok(())
    }

    /// Makes the file at least `end` bytes long, in zero-filled steps of [`GROW_BYTES`]
    /// (synced by the caller's next `fdatasync`).
    fn grow_to(&mut self, end: u64) -> Result<(), StoreError> {
        if end <= self.size {
            return Ok(());
        }
        let size = end.div_ceil(GROW_BYTES) * GROW_BYTES;
        let zeros = vec![0; (size - self.size) as usize];
        self.file
            .write_all_at(&zeros, self.size)
            .map_err(|e| StoreError::file(&self.path, e))?;
        self.size = size;
        Ok(())
    }
}

/// A batch as a record's body.
pub fn encode(writes: &[Write]) -> Result<Vec<u8>, DecodeError> {
    weft_proto::codec::to_cbor(&writes)
}

/// The batch in a record's body.
pub fn decode(body: &[u8]) -> Result<Vec<Write>, DecodeError> {
    weft_proto::codec::from_cbor(body)
}

/// The record at `at` in `bytes`, when it is whole, passes its check in `generation` and
/// carries number `seq`: its body and where the next one starts.
fn record(bytes: &[u8], at: usize, generation: u64, seq: u64) -> Option<(&[u8], usize)> {
    let header = bytes.get(at..at.checked_add(RECORD_HEADER)?)?;
    let (length, rest) = header.split_at(4);
    let (number, check_bytes) = rest.split_at(8);
    let length = u32::from_le_bytes(length.try_into().ok()?) as usize;
    let start = at + RECORD_HEADER;
    let body = bytes.get(start..start.checked_add(length)?)?;
    let whole = u64::from_le_bytes(number.try_into().ok()?) == seq
        && check(generation, seq, body).as_slice() == check_bytes;
    whole.then_some((body, start + length))
}

fn check(generation: u64, seq: u64, body: &[u8]) -> [u8; CHECK] {
    let mut hasher = blake3::Hasher::new_derive_key(CONTEXT);
    hasher.update(&generation.to_le_bytes());
    hasher.update(&seq.to_le_bytes());
    hasher.update(body);
    let mut out = [0; CHECK];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..CHECK]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_proto::MessageId;

    /// A batch of two writes; the same size for every `n` below 10.
    fn batch(n: u8) -> Vec<Write> {
        vec![
            Write::RemoveOutbox(MessageId([n; 32])),
            Write::SetRemovedAt(u64::from(n)),
        ]
    }

    fn ids(batches: &[Vec<Write>]) -> Vec<u64> {
        batches
            .iter()
            .map(|b| match b[1] {
                Write::SetRemovedAt(n) => n,
                _ => panic!("not a test batch"),
            })
            .collect()
    }

    /// A journal at `path` holding batches `ns`, and where each record starts.
    fn written(path: &Path, ns: &[u8]) -> Vec<usize> {
        let (mut journal, _) = Journal::open(path).unwrap();
        journal.clear().unwrap();
        ns.iter()
            .map(|&n| {
                let at = (HEADER_BYTES + journal.len()) as usize;
                journal.append(&batch(n)).unwrap();
                at
            })
            .collect()
    }

    #[test]
    fn batches_come_back_in_order_until_the_journal_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (journal, none) = Journal::open(&path).unwrap();
        assert!(none.is_empty() && journal.is_empty());
        written(&path, &[1, 2, 3]);
        let (mut journal, batches) = Journal::open(&path).unwrap();
        assert_eq!(ids(&batches), [1, 2, 3]);
        // Started again: the old records, still on disk past the new one and the same size
        // as it, are of an older generation and never read again.
        journal.clear().unwrap();
        journal.append(&batch(5)).unwrap();
        drop(journal);
        assert_eq!(ids(&Journal::open(&path).unwrap().1), [5]);
        // The file grew once, in a zero-filled step, and was written over since.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), GROW_BYTES);
    }

    #[test]
    fn a_record_cut_short_or_damaged_ends_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let starts = written(&path, &[1, 2, 3]);
        let whole = std::fs::read(&path).unwrap();
        let end = starts[2] + (starts[1] - starts[0]);

        // The last record's end never written, as by a crash mid-write.
        let mut torn = whole.clone();
        torn[end - 3..end].fill(0);
        std::fs::write(&path, &torn).unwrap();
        assert_eq!(ids(&Journal::open(&path).unwrap().1), [1, 2]);

        // One flipped bit in the second record's body ends the journal after the first.
        let mut damaged = whole.clone();
        damaged[starts[1] + RECORD_HEADER + 2] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        let (journal, batches) = Journal::open(&path).unwrap();
        assert_eq!(ids(&batches), [1]);
        assert_eq!(journal.len() as usize, starts[1] - starts[0]);

        // A header that is not one: nothing is read.
        let mut headless = whole;
        headless[..8].fill(0);
        std::fs::write(&path, &headless).unwrap();
        assert!(Journal::open(&path).unwrap().1.is_empty());
    }

    #[test]
    fn a_record_out_of_sequence_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let starts = written(&path, &[1, 2, 3]);
        // The second record dropped: the third, whole, no longer follows the first.
        let whole = std::fs::read(&path).unwrap();
        let mut gap = whole[..starts[1]].to_vec();
        gap.extend_from_slice(&whole[starts[2]..]);
        std::fs::write(&path, &gap).unwrap();
        assert_eq!(ids(&Journal::open(&path).unwrap().1), [1]);
    }
}
