//! The local API's bodies for operating a node: `weft ping`.

use serde::{Deserialize, Serialize};

/// `POST /v1/ping`: round trips to a member over the standard libp2p ping protocol. The
/// answer is a stream of [`PingEvent`]s, one JSON object per line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingRequest {
    /// The member's PeerId.
    pub peer: String,
    /// How many round trips (at most 1000).
    pub count: u32,
    /// Pause between them, in milliseconds.
    pub interval_ms: u64,
}

/// One line of a ping's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PingEvent {
    /// The path the pings take.
    Path {
        /// `direct` or `relayed`.
        path: String,
        /// The connection's remote address.
        addr: String,
    },
    /// A round trip.
    Reply {
        /// Its number, from 1.
        seq: u32,
        /// Its time, in milliseconds.
        rtt_ms: f64,
    },
    /// A round trip that failed.
    Lost {
        /// Its number, from 1.
        seq: u32,
        /// Why.
        error: String,
    },
}
