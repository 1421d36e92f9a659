//! The ACL log between members over `/weft/sync/1`, as decisions without IO: what a sync
//! request says of this node's log, what an answer to one holds, and whether to ask for the
//! next page. The event loop carries these to the wire; the simulation (`core::sim`) drives
//! the same functions between hundreds of in-memory nodes.

use weft_proto::acl::{OpId, SignedOp};
use weft_proto::display::NameCard;
use weft_proto::seal::SealCard;
use weft_proto::sync::{
    DirectoryMark, MAX_HEADS, MAX_KNOWN, MAX_SYNC_OP_BYTES, MAX_SYNC_OPS, SYNC_VERSION,
    SyncRequest, TopicMarks,
};

use crate::mesh::log::Log;

/// What a node tells a member it asks, beside its log's summary.
#[derive(Debug, Default)]
pub struct Told {
    /// Its sealing-key card.
    pub card: Option<SealCard>,
    /// How far it has each topic it follows.
    pub topics: Vec<TopicMarks>,
    /// The name it calls itself.
    pub name: Option<Box<NameCard>>,
    /// How far the answerer's member directory reached it last time.
    pub directory: Option<DirectoryMark>,
}

/// A request summarising `log` (its heads and a few known ops), paging on after op `after`,
/// with what this node tells the answerer (nothing when the answerer is not a member).
pub fn request(log: &Log, after: Option<OpId>, told: Told) -> SyncRequest {
    let (heads, known) = log.summary(MAX_HEADS, MAX_KNOWN);
    SyncRequest {
        v: SYNC_VERSION,
        mesh: log.mesh(),
        heads,
        known,
        after,
        card: told.card,
        topics: told.topics,
        name: told.name,
        directory: told.directory,
    }
}

/// The ACL part of an answer to a sync request.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// The ops the asker lacks, parents first, within one answer's caps.
    pub ops: Vec<SignedOp>,
    /// Whether more remain past them.
    pub more: bool,
    /// Whether the asker holds ops this node lacks (a head unknown here): sync back.
    pub ask_back: bool,
}

/// Why a sync request gets no ops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The asker speaks another version.
    #[error("sync version {0} is not spoken here")]
    Version(u8),
    /// The asker is in another mesh.
    #[error("not a member of this node's mesh")]
    OtherMesh,
}

/// Answers `request` from `log`, asked by a member, or (with `removal`, the op that removed
/// it) by a member just removed, which is sent that op and its past and nothing after.
pub fn answer(log: &Log, removal: Option<&OpId>, request: &SyncRequest) -> Result<Answer, Refusal> {
    if request.mesh != log.mesh() {
        return Err(Refusal::OtherMesh);
    }
    if request.v != SYNC_VERSION {
        return Err(Refusal::Version(request.v));
    }
    let heads = request.heads.iter().take(MAX_HEADS);
    let seen: Vec<OpId> = heads
        .clone()
        .chain(request.known.iter().take(MAX_KNOWN))
        .copied()
        .collect();
    let ask_back = heads.clone().any(|id| !log.contains(id));
    let (ops, more) = log.lacking_within(
        removal,
        &seen,
        request.after.as_ref(),
        MAX_SYNC_OPS,
        MAX_SYNC_OP_BYTES,
    );
    Ok(Answer {
        ops,
        more,
        ask_back,
    })
}

/// Where the next page of a sync starts, when there is one: after the last op this answer
/// brought (or after where this page started, when it brought only topic messages). A page
/// that brought nothing ends the sync, whatever it says of more.
pub fn next_page(
    ops: &[SignedOp],
    after: Option<OpId>,
    more: bool,
    messages: usize,
) -> Option<Option<OpId>> {
    let paged = !ops.is_empty();
    (more && (paged || messages > 0)).then(|| ops.last().map(SignedOp::id).or(after))
}
