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
//! stopped, and the next sync goes on from there. An asker keeps a mark only when it took
//! every entry the answer brought (it may not yet admit a member whose entry came), and
//! every [`REFRESH`] it forgets its oldest mark: the whole directory comes again from that
//! answerer, so what a member slipped in as hearsay does not outlive the honest members'
//! word for good, at the cost of one whole directory per node per [`REFRESH`].

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use weft_proto::sync::{DirectoryMark, PeerAddrs};

/// Most answerers' marks remembered (one per member synced with).
const MAX_MARKS: usize = 4096;

/// How often an asker forgets its oldest mark, to have the whole directory again.
pub const REFRESH: Duration = Duration::from_secs(600);

/// This node's directory as it last sent it, and how far each answerer brought this node.
#[derive(Debug)]
pub struct Directory {
    /// This run: marks of another run are from before a restart.
    run: u64,
    /// The last change numbered.
    clock: u64,
    /// Per member, a fingerprint of its entry and the change that made it so.
    entries: HashMap<PeerId, (blake3::Hash, u64)>,
    /// Per answerer, how far its directory reached this node, since when.
    marks: BTreeMap<PeerId, (DirectoryMark, Instant)>,
    /// When the oldest mark was last forgotten.
    refreshed: Option<Instant>,
}

impl Directory {
    /// An empty directory for a run numbered `run` (drawn at random at start).
    pub fn new(run: u64) -> Directory {
        Directory {
            run,
            clock: 0,
            entries: HashMap::new(),
            marks: BTreeMap::new(),
            refreshed: None,
        }
    }

    /// What of `current` (every entry this node would send, keyed by member) `asker` at
    /// `since` lacks (never its own entry), oldest change first and at most `max` of them,
    /// with the mark to hand back next time. Changes since the last call are numbered
    /// first; members no longer in `current` are forgotten.
    pub fn changes(
        &mut self,
        current: Vec<(PeerId, PeerAddrs)>,
        asker: &PeerId,
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
            if version > from && peer != *asker {
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
        self.marks.get(answerer).map(|(mark, _)| *mark)
    }

    /// Forgets the oldest mark of an answerer still `connected` (counted from the whole
    /// directory it builds on) once per [`REFRESH`]: the next sync with it brings the whole
    /// directory again.
    pub fn expire(&mut self, now: Instant, connected: impl Fn(&PeerId) -> bool) {
        let last = *self.refreshed.get_or_insert(now);
        if now.saturating_duration_since(last) < REFRESH {
            return;
        }
        self.refreshed = Some(now);
        let oldest = (self.marks.iter())
            .filter(|(p, _)| connected(p))
            .min_by_key(|(_, (_, at))| *at)
            .map(|(p, _)| *p);
        if let Some(oldest) = oldest {
            self.marks.remove(&oldest);
        }
    }

    /// `answerer`'s answer brought this node to `mark` at `now`. A mark keeps the age of
    /// the whole directory it builds on, so the refresh comes however often they sync.
    pub fn reached(&mut self, answerer: PeerId, mark: DirectoryMark, now: Instant) {
        if self.marks.len() >= MAX_MARKS && !self.marks.contains_key(&answerer) {
            self.marks.clear();
        }
        let since = match self.marks.get(&answerer) {
            Some((old, at)) if old.run == mark.run => *at,
            _ => now,
        };
        self.marks.insert(answerer, (mark, since));
    }

    /// Forgets how far `answerer` brought this node (it was removed).
    pub fn forget(&mut self, answerer: &PeerId) {
        self.marks.remove(answerer);
    }
}

/// The number of a run started at `unix_us` by a core seeded with `seed`: another run's
/// marks must not count, so the start time tells runs apart even when the seed repeats, and
/// it is hashed so that it says nothing of the seed (which also draws the standing members).
pub fn run(seed: u64, unix_us: u64) -> u64 {
    let mut hasher = blake3::Hasher::new_derive_key("weft/v1/directory-run");
    hasher.update(&seed.to_le_bytes());
    hasher.update(&unix_us.to_le_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
    u64::from_le_bytes(out)
}

/// What an entry says, in 32 bytes: its addresses, its cards' signatures (a card that
/// changed is signed anew) and its topics.
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
    for topic in &entry.topics {
        hasher.update(&[3]);
        hasher.update(&(topic.as_str().len() as u64).to_le_bytes());
        hasher.update(topic.as_str().as_bytes());
    }
    hasher.finalize()
}

#[cfg(test)]
mod tests;
