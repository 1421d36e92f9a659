//! The local API's bodies for blobs and pipes (JSON), beside [`crate::api`].

use serde::{Deserialize, Serialize};

use crate::blob::{BlobId, FileOffer};

/// `POST /v1/blobs`: add a file to the node's blob store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareRequest {
    /// The file, as an absolute path the node can read.
    pub path: String,
}

/// The answer to [`ShareRequest`]: the offer a message would carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareResponse {
    /// The blob, its name, size and type.
    pub offer: FileOffer,
    /// How many chunks it has.
    pub chunks: usize,
}

/// `POST /v1/blobs/fetch`: fetch a blob from members and write it to a file. The answer is
/// a stream of [`FetchEvent`]s, one JSON object per line, ending with `done` or `failed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// The blob.
    pub blob: BlobId,
    /// Members to fetch from; every connected member when empty.
    #[serde(default)]
    pub from: Vec<String>,
    /// Where to write it, as an absolute path; it appears only once complete and checked.
    pub out: String,
}

/// One line of a fetch's progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FetchEvent {
    /// The manifest is known and checked; the transfer starts.
    Started {
        /// The blob's size in bytes.
        size: u64,
        /// Bytes already here (from an earlier, interrupted fetch).
        have: u64,
        /// The members fetched from.
        sources: Vec<String>,
    },
    /// Bytes received and checked so far, this fetch and earlier ones.
    Progress {
        /// Bytes here now.
        done: u64,
        /// The blob's size.
        size: u64,
    },
    /// A source was dropped, and why (it refused, went away or sent a chunk that failed its
    /// hash); the fetch goes on with the others.
    SourceDropped {
        /// The member.
        peer: String,
        /// Why.
        reason: String,
    },
    /// The blob is complete, checked and written.
    Done {
        /// Where.
        path: String,
        /// Its size.
        size: u64,
        /// Bytes each member gave in this fetch, by PeerId (chunks already here count for
        /// none).
        #[serde(default)]
        from: std::collections::BTreeMap<String, u64>,
    },
    /// The fetch stopped; what is here stays and a later fetch resumes from it.
    Failed {
        /// Why.
        error: String,
    },
}

/// `GET /v1/transfers` answers a list of these: the fetches and pipes running at this node
/// now, with their progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transfer {
    /// A blob being fetched.
    Fetch {
        /// The blob.
        blob: BlobId,
        /// The members it is fetched from (empty until the manifest is known).
        sources: Vec<String>,
        /// Bytes here so far.
        done: u64,
        /// Its size (0 until the manifest is known).
        size: u64,
        /// When the fetch started, milliseconds since the Unix epoch.
        since_ms: u64,
    },
    /// An open pipe.
    Pipe {
        /// The member at the other end.
        peer: String,
        /// Bytes sent to it so far.
        sent: u64,
        /// Bytes received from it so far.
        received: u64,
        /// When the pipe opened, milliseconds since the Unix epoch.
        since_ms: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn transfers_round_trip(id in any::<[u8; 32]>(), peer in "[a-zA-Z0-9]{1,52}", a in any::<u64>(), b in any::<u64>()) {
            for t in [
                Transfer::Fetch { blob: BlobId(id), sources: vec![peer.clone()], done: a, size: b, since_ms: a },
                Transfer::Pipe { peer: peer.clone(), sent: a, received: b, since_ms: b },
            ] {
                let json = serde_json::to_string(&t).unwrap();
                prop_assert_eq!(serde_json::from_str::<Transfer>(&json).unwrap(), t);
            }
        }
    }
}
