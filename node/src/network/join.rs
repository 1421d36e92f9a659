//! `/weft/join/1`: redeeming an invite key (wire: `weft_proto::join`), one exchange per
//! stream (see [`super::exchange`]).

use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::Control;
use weft_proto::acl::SignedOp;
use weft_proto::join::{
    JoinRequest, JoinResponse, MAX_JOIN_REQUEST_BYTES, MAX_JOIN_RESPONSE_BYTES, Refusal,
};

use super::exchange::{self, Asked, Rules};

/// The protocol id.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/join/1");

/// A join request for the event loop to decide.
pub type JoinEvent = Asked<JoinRequest, JoinResponse>;

/// How join requests are read.
pub const RULES: Rules<JoinResponse> = Rules {
    what: "join request",
    kind: "join",
    max_request: MAX_JOIN_REQUEST_BYTES,
    // No internal error text goes to a peer: a request that cannot be read is malformed.
    refuse: |_| JoinResponse::Refused {
        reason: Refusal::Malformed,
    },
};

/// Why a join did not succeed.
#[derive(Debug)]
pub enum JoinError {
    /// The issuer answered no, with its reason.
    Refused(Refusal),
    /// The exchange itself failed.
    Failed(String),
}

/// Asks `issuer` to redeem an invite; when admitted, the admission and its causal past, and
/// whether the log holds more (to fetch by sync).
pub async fn request(
    control: Control,
    issuer: PeerId,
    request: JoinRequest,
) -> Result<(Vec<SignedOp>, bool), JoinError> {
    match exchange::ask(control, issuer, PROTOCOL, &request, MAX_JOIN_RESPONSE_BYTES).await {
        Ok(JoinResponse::Accepted { ops, more }) => Ok((ops, more)),
        Ok(JoinResponse::Refused { reason }) => Err(JoinError::Refused(reason)),
        Err(failed) => Err(JoinError::Failed(failed)),
    }
}
