//! `/weft/sync/1`: exchanging missing ACL ops, members' addresses and sealing keys, and
//! missed topic messages with a member (wire: `weft_proto::sync`), one exchange per stream
//! (see [`super::exchange`]).

use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::Control;
use weft_proto::sync::{MAX_SYNC_FRAME_BYTES, MAX_SYNC_REQUEST_BYTES, SyncRequest, SyncResponse};

use super::exchange::{self, Asked, Rules};
use crate::core::io::Synced;

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
