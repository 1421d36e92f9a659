//! The frames that open `/weft/pipe/1`: a live byte stream between two members.
//!
//! The opener sends one frame (see [`crate::codec`]), the acceptor answers one, and from
//! then on the stream carries raw bytes both ways, each side closing its half when its input
//! ends:
//!
//! ```text
//! PipeOpen   { v: 1 }                                  opener -> acceptor, <= 256 bytes
//! PipeAnswer = "Accepted" | { "Refused": reason }      acceptor -> opener, <= 1 KiB
//! ```
//!
//! The bytes ride the connection's encryption (Noise or TLS 1.3 end to end, through relays
//! too) and the stream's flow control, so a slow reader slows the writer down.

use serde::{Deserialize, Serialize};

/// The version of `/weft/pipe/1` bodies this crate writes and reads.
pub const PIPE_VERSION: u8 = 1;

/// The largest [`PipeOpen`] frame.
pub const MAX_PIPE_OPEN_BYTES: usize = 256;

/// The largest [`PipeAnswer`] frame.
pub const MAX_PIPE_ANSWER_BYTES: usize = 1024;

/// The opener's first frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipeOpen {
    /// Body version, [`PIPE_VERSION`].
    pub v: u8,
}

/// The acceptor's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PipeAnswer {
    /// Bytes may flow.
    Accepted,
    /// Refused, and why (not a member, nobody accepting, too many pipes).
    Refused(String),
}
