//! `/weft/sync/1`: exchanging missing ACL ops, and members' addresses, with a member (wire:
//! `weft_proto::sync`), one exchange per stream (see [`super::exchange`]).

use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::Control;
use weft_proto::acl::SignedOp;
use weft_proto::sync::{MAX_SYNC_FRAME_BYTES, PeerAddrs, SyncRequest, SyncResponse};

use super::exchange::{self, Asked, Rules};

/// The protocol id.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/sync/1");

/// A sync request for the event loop to answer.
pub type SyncEvent = Asked<SyncRequest, SyncResponse>;

/// How sync requests are read.
pub const RULES: Rules<SyncResponse> = Rules {
    what: "sync request",
    max_request: MAX_SYNC_FRAME_BYTES,
    refuse: |reason| SyncResponse::Refused { reason },
};

/// What a sync brought: missing ops and members' addresses.
pub type Synced = (Vec<SignedOp>, Vec<PeerAddrs>);

/// Asks `peer` for the ops missing from `request.have`.
pub async fn request(
    control: Control,
    peer: PeerId,
    request: SyncRequest,
) -> Result<Synced, String> {
    match exchange::ask(control, peer, PROTOCOL, &request, MAX_SYNC_FRAME_BYTES).await? {
        SyncResponse::Ops { ops, peers } => Ok((ops, peers)),
        SyncResponse::Refused { reason } => Err(reason),
    }
}
