//! The member directory that sync answers carry (where each member is, with its cards), sent
//! as changes rather than whole: an idle sync costs the same in a mesh of ten or of a
//! thousand.
//!
//! The answerer numbers every change it notices to an entry (a clock of its own, per run),
//! and tells the asker how far its answer brought it ([`DirectoryMark`]). The asker hands the
//! mark back with its next request to the same answerer, which sends only the entries
//! changed after it. A lost answer leaves the asker's mark where it was, so the change comes
//! again; an answerer that restarted has a new run, and sends everything again. An answer
//! holds at most its cap of entries, oldest change first; the mark then says where it
//! stopped, and the next sync goes on from there.

use std::collections::{BTreeMap, HashMap};

use libp2p::PeerId;
use weft_proto::sync::{DirectoryMark, PeerAddrs};

/// Most answerers' marks remembered (one per member synced with).
const MAX_MARKS: usize = 4096;

/// This node's directory as it last sent it, and how far each answerer brought this node.
#[derive(Debug)]
pub struct Directory {
    /// This run: marks of another run are from before a restart.
    run: u64,
    /// The last change numbered.
    clock: u64,
    /// Per member, a fingerprint of its entry and the change that made it so.
    entries: HashMap<PeerId, (blake3::Hash, u64)>,
    /// Per answerer, how far its directory reached this node.
    marks: HashMap<PeerId, DirectoryMark>,
}

impl Directory {
    /// An empty directory for a run numbered `run` (drawn at random at start).
    pub fn new(run: u64) -> Directory {
        Directory {
            run,
            clock: 0,
            entries: HashMap::new(),
            marks: HashMap::new(),
        }
    }

    /// What of `current` (every entry this node would send, keyed by member) an asker at
    /// `since` lacks, oldest change first and at most `max` of them, with the mark to hand
    /// back next time. Changes since the last call are numbered first; members no longer in
    /// `current` are forgotten.
    pub fn changes(
        &mut self,
        current: Vec<(PeerId, PeerAddrs)>,
        since: Option<DirectoryMark>,
        max: usize,
    ) -> (Vec<PeerAddrs>, DirectoryMark) {
        let from = since.filter(|m| m.run == self.run).map_or(0, |m| m.upto);
        let mut kept = HashMap::with_capacity(current.len());
        let mut changed: BTreeMap<u64, PeerAddrs> = BTreeMap::new();
        for (peer, entry) in current {
            let print = fingerprint(&entry);
            let version = match self.entries.get(&peer) {
                Some((was, version)) if *was == print => *version,
                _ => {
                    self.clock += 1;
                    self.clock
                }
            };
            kept.insert(peer, (print, version));
            if version > from {
                changed.insert(version, entry);
            }
        }
        self.entries = kept;
        let mut upto = self.clock;
        let mut out = Vec::with_capacity(changed.len().min(max));
        for (version, entry) in changed {
            if out.len() == max {
                break;
            }
            upto = version;
            out.push(entry);
        }
        if out.len() < max {
            upto = self.clock;
        }
        (
            out,
            DirectoryMark {
                run: self.run,
                upto,
            },
        )
    }

    /// How far `answerer`'s directory reached this node, to hand back to it.
    pub fn mark(&self, answerer: &PeerId) -> Option<DirectoryMark> {
        self.marks.get(answerer).copied()
    }

    /// `answerer`'s answer brought this node to `mark`.
    pub fn reached(&mut self, answerer: PeerId, mark: DirectoryMark) {
        if self.marks.len() >= MAX_MARKS && !self.marks.contains_key(&answerer) {
            self.marks.clear();
        }
        self.marks.insert(answerer, mark);
    }

    /// Forgets how far `answerer` brought this node (it was removed).
    pub fn forget(&mut self, answerer: &PeerId) {
        self.marks.remove(answerer);
    }
}

/// What an entry says, in 32 bytes: its addresses and its cards' signatures (a card that
/// changed is signed anew).
fn fingerprint(entry: &PeerAddrs) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&entry.peer);
    for addr in &entry.addrs {
        hasher.update(&(addr.len() as u64).to_le_bytes());
        hasher.update(addr.as_bytes());
    }
    if let Some(card) = &entry.card {
        hasher.update(&[1]);
        hasher.update(&card.sig);
    }
    if let Some(name) = &entry.name {
        hasher.update(&[2]);
        hasher.update(&name.sig);
    }
    hasher.finalize()
}

#[cfg(test)]
mod tests;
