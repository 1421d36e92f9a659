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
    Synced::from_response(answer, asked, crate::delivery::clock::wall_us())
}
