//! `/weft/sync/1`: exchanging missing ACL ops, members' addresses and sealing keys, and
//! missed topic messages with a member (wire: `weft_proto::sync`), one exchange per stream
//! (see [`super::exchange`]).

use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::Control;
use weft_proto::acl::SignedOp;
use weft_proto::sync::{
    Logged, MAX_SYNC_FRAME_BYTES, MAX_SYNC_REQUEST_BYTES, PeerAddrs, SyncRequest, SyncResponse,
};

use super::exchange::{self, Asked, Rules};

/// The protocol id.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/sync/1");

/// A sync request for the event loop to answer.
pub type SyncEvent = Asked<SyncRequest, SyncResponse>;

/// How sync requests are read.
pub const RULES: Rules<SyncResponse> = Rules {
    what: "sync request",
    kind: "sync",
    max_request: MAX_SYNC_REQUEST_BYTES,
    refuse: |reason| SyncResponse::Refused { reason },
};

/// What a sync brought.
pub struct Synced {
    /// ACL ops the asker lacked.
    pub ops: Vec<SignedOp>,
    /// Where members are, with their sealing keys.
    pub peers: Vec<PeerAddrs>,
    /// Topic messages the asker lacked.
    pub messages: Vec<Logged>,
    /// Whether the answerer has more messages (ask again).
    pub more: bool,
    /// How far the answerer's clock is ahead of this node's, in microseconds (negative:
    /// behind), when it said its time.
    pub skew_us: Option<i64>,
}

/// Asks `peer` what it has that `request`'s summary lacks.
pub async fn request(
    control: Control,
    peer: PeerId,
    request: SyncRequest,
) -> Result<Synced, String> {
    let asked = crate::delivery::clock::wall_us();
    let answer = exchange::ask(control, peer, PROTOCOL, &request, MAX_SYNC_FRAME_BYTES).await?;
    let answered = crate::delivery::clock::wall_us();
    match answer {
        SyncResponse::Ops {
            ops,
            peers,
            messages,
            more,
            now_us,
        } => Ok(Synced {
            ops,
            peers,
            messages,
            more,
            // Their clock at the midpoint of the exchange, against ours.
            skew_us: (now_us > 0).then(|| now_us as i64 - (asked / 2 + answered / 2) as i64),
        }),
        SyncResponse::Refused { reason } => Err(reason),
    }
}
