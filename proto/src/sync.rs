//! `/weft/sync/1`: bringing a member's copy of the ACL log up to date. One request and one
//! response per stream, each a frame (see [`crate::codec`]). Both sides of a new connection
//! between members ask; a node answers members of its own mesh only.
//!
//! ```text
//! asker -> answerer    SyncRequest  { v: 3, mesh: bytes(20), heads: [bytes(32)], known: [bytes(32)],
//!                                     after: bytes(32)?, card: SealCard?,
//!                                     topics: [TopicMarks], name: NameCard?,
//!                                     directory: DirectoryMark? }               <= 512 KiB
//! answerer -> asker    SyncResponse = { "Ops": { ops: [SignedOp], peers: [PeerAddrs],
//!                                                messages: [Logged], more: bool, now_us: u64,
//!                                                links: [Link], directory: DirectoryMark? } }
//!                                   | { "Refused": { reason: string } }         <= 4 MiB
//! PeerAddrs  = { peer: bytes (PeerId), addrs: [multiaddr string], card: SealCard?,
//!                name: NameCard?, topics: [string] }
//!                                                                  at most 8 addrs each
//! TopicMarks = { topic: string, marks: [{ publisher: bytes(32), next: u64 }] }
//! Logged     = { publisher: bytes(32), message: TopicMessage }
//! ```
//!
//! Topic catch-up: the asker names each topic it follows and, per publisher it has heard
//! there, the first sequence number it lacks; the answerer sends what it holds from there on
//! (and everything of publishers the asker did not name), oldest first, within its caps,
//! with `more` set when it had to stop. Each message carries its publisher's signature, so
//! the asker checks it as if it had come from the publisher.
//!
//! `peers` lists where the answerer knows other members to be reachable, and their sealing
//! keys, so a newcomer finds every member, and can seal messages to it, without being told.
//! It holds only what changed since the `directory` mark the asker hands back (the one the
//! same answerer's last answer carried, `{ run: u64, upto: u64 }`), so an idle sync does
//! not grow with the mesh; no mark, or one of an earlier run of the answerer, gets the whole
//! directory (at most [`MAX_SYNC_PEERS`] entries, oldest change first; the mark says where
//! it stopped, and the next sync goes on from there).
//! `card` in the request is the asker's own sealing key (see [`crate::seal`]), `name` the
//! name it calls itself (see [`crate::display`]); every card is verified against its
//! member's key before it is stored.
//!
//! The ACL log is summarised, not listed, so a sync's size does not grow with the log: `heads`
//! are the asker's heads (the ops no other op it holds names as seen, at most [`MAX_HEADS`]),
//! `known` a few more of its ops at exponentially spaced depths below them (at most
//! [`MAX_KNOWN`]). Every op in the causal past of an op the asker holds is held by the asker
//! too, so the answerer sends the ops it holds that are not in the causal past of any summary
//! op it knows: everything the asker lacks (and, when the answerer does not know some of the
//! asker's heads, a few it has). They go parents first, at most [`MAX_SYNC_OPS`] ops and
//! [`MAX_SYNC_OP_BYTES`] bytes, with `more` set when capped. Each op is checked by the asker as
//! if it came by gossip: one its author may not issue is dropped and counted.
//!
//! A capped answer is paged: the asker asks again with `after` set to the last op of the
//! answer, and the answerer sends only ops that come after it in the order it sends them
//! (by height, then id). The asker holds every op up to there, so each page brings new ops
//! even when the summary could not tell the answerer where the two logs part.

use serde::{Deserialize, Serialize};

use crate::acl::{OpId, SignedOp};
use crate::display::NameCard;
use crate::mesh::{MemberKey, MeshId};
use crate::seal::SealCard;
use crate::topic::{TopicMessage, TopicName};

/// The request body version.
pub const SYNC_VERSION: u8 = 3;

/// Largest request frame.
pub const MAX_SYNC_REQUEST_BYTES: usize = 512 * 1024;

/// Largest answer frame.
pub const MAX_SYNC_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Most heads a request names.
pub const MAX_HEADS: usize = 64;

/// Most ops below the heads a request names.
pub const MAX_KNOWN: usize = 32;

/// Most ACL ops in one answer.
pub const MAX_SYNC_OPS: usize = 1024;

/// Most bytes of ACL ops in one answer.
pub const MAX_SYNC_OP_BYTES: usize = 1024 * 1024;

/// Most topics one request names.
pub const MAX_SYNC_TOPICS: usize = 256;

/// Most publishers' marks per topic in one request.
pub const MAX_MARKS_PER_TOPIC: usize = 1024;

/// Most marks in one request, over all its topics.
pub const MAX_SYNC_MARKS: usize = 8192;

/// Most topic messages in one answer.
pub const MAX_SYNC_MESSAGES: usize = 1000;

/// Most bytes of topic message text in one answer.
pub const MAX_SYNC_MESSAGE_BYTES: usize = 2 * 1024 * 1024;

/// An asker's request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Body version, [`SYNC_VERSION`].
    pub v: u8,
    /// The mesh.
    pub mesh: MeshId,
    /// The asker's heads, at most [`MAX_HEADS`].
    pub heads: Vec<OpId>,
    /// More ops the asker holds, below its heads, at most [`MAX_KNOWN`].
    #[serde(default)]
    pub known: Vec<OpId>,
    /// When paging a capped answer: the last op of the previous page.
    #[serde(default)]
    pub after: Option<OpId>,
    /// The asker's sealing-key card.
    pub card: Option<SealCard>,
    /// How far the asker has each topic it follows, at most [`MAX_SYNC_TOPICS`].
    #[serde(default)]
    pub topics: Vec<TopicMarks>,
    /// The name the asker calls itself (boxed: most requests carry none, and requests
    /// travel inside enums).
    #[serde(default)]
    pub name: Option<Box<NameCard>>,
    /// How far the answerer's member directory reached the asker at their last sync (the
    /// mark its answer carried): only entries changed since are sent. `None` asks for
    /// everything.
    #[serde(default)]
    pub directory: Option<DirectoryMark>,
}

/// How far an answerer's member directory (the `peers` of its answers) reached an asker:
/// the answerer's run (it numbers changes afresh when it restarts) and the last change sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryMark {
    /// The answerer's run, drawn at random when it starts.
    pub run: u64,
    /// The last change to its directory the asker was sent.
    pub upto: u64,
}

/// How far the asker has one topic: per publisher, the next sequence number it lacks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMarks {
    /// The topic.
    pub topic: TopicName,
    /// One mark per publisher it has heard, at most [`MAX_MARKS_PER_TOPIC`].
    pub marks: Vec<Mark>,
}

/// The asker holds every message of `publisher` on a topic below `next`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The publisher's member key.
    pub publisher: MemberKey,
    /// The first sequence number the asker lacks.
    pub next: u64,
}

/// A topic message handed on by the answerer, with its publisher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logged {
    /// The publisher's member key (the message is signed by it).
    pub publisher: MemberKey,
    /// The message.
    pub message: TopicMessage,
}

/// Where one member can be reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerAddrs {
    /// The member's PeerId, as bytes.
    #[serde(with = "crate::codec::byte_vec")]
    pub peer: Vec<u8>,
    /// Its multiaddrs, without `/p2p/`.
    pub addrs: Vec<String>,
    /// Its sealing-key card, when the answerer has it.
    pub card: Option<SealCard>,
    /// The name it calls itself, when the answerer has its card.
    #[serde(default)]
    pub name: Option<NameCard>,
    /// The topics it follows, as far as the answerer knows, at most
    /// [`MAX_FOLLOWED_TOPICS`]: members keep a few connections to followers of each topic
    /// they follow.
    #[serde(default)]
    pub topics: Vec<TopicName>,
}

/// Most topics a directory entry names.
pub const MAX_FOLLOWED_TOPICS: usize = 32;

/// Most members' entries in one sync answer.
pub const MAX_SYNC_PEERS: usize = 256;

/// Most links in one sync answer (a node holds far fewer connections).
pub const MAX_SYNC_LINKS: usize = 256;

/// A member the answerer is connected to now, and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The member's PeerId, as bytes.
    #[serde(with = "crate::codec::byte_vec")]
    pub peer: Vec<u8>,
    /// Whether the connection goes through a relay.
    pub relayed: bool,
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// The ops the asker lacks, and where other members can be reached.
    Ops {
        /// Those ops, parents first, at most [`MAX_SYNC_OPS`] and [`MAX_SYNC_OP_BYTES`].
        ops: Vec<SignedOp>,
        /// Addresses of other members the answerer knows.
        #[serde(default)]
        peers: Vec<PeerAddrs>,
        /// Topic messages the asker lacks, oldest first per publisher, at most
        /// [`MAX_SYNC_MESSAGES`] and [`MAX_SYNC_MESSAGE_BYTES`] of them.
        #[serde(default)]
        messages: Vec<Logged>,
        /// Whether the answerer has more for the asker, ops or messages (it should ask again).
        #[serde(default)]
        more: bool,
        /// The answerer's wall clock when it answered, microseconds since the Unix epoch
        /// (0: not told), so the asker can tell how far apart their clocks are.
        #[serde(default)]
        now_us: u64,
        /// The members the answerer is connected to now, at most [`MAX_SYNC_LINKS`]: how
        /// members draw the mesh.
        #[serde(default)]
        links: Vec<Link>,
        /// How far `peers` brought the asker, to hand back in its next request (`None`:
        /// `peers` is the whole directory).
        #[serde(default)]
        directory: Option<DirectoryMark>,
    },
    /// No answer, and why.
    Refused {
        /// Why.
        reason: String,
    },
}
