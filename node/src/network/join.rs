//! `/weft/join/1`: redeeming an invite key (wire: `weft_proto::join`), one exchange per
//! stream (see [`super::exchange`]).

use std::time::Duration;

use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::Control;
use weft_proto::acl::SignedOp;
use weft_proto::join::{
    JoinRequest, JoinResponse, MAX_JOIN_REQUEST_BYTES, MAX_JOIN_RESPONSE_BYTES, Refusal,
};
use weft_proto::mesh::MeshId;

use super::NodeError;
use super::exchange::{self, Asked, Rules};
use crate::mesh::log::{Log, MAX_LOG_OPS, Refused};

/// How many times a join exchange is tried when the connection fails under it.
const JOIN_ATTEMPTS: usize = 3;

/// The pause between join attempts.
const JOIN_RETRY_DELAY: Duration = Duration::from_millis(300);

/// Most sync rounds a joiner takes to fetch the rest of a log too long for the join answer.
const JOIN_SYNC_ROUNDS: usize = MAX_LOG_OPS / weft_proto::sync::MAX_SYNC_OPS + 2;

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

/// Redeems an invite at `issuer` with `request` and brings the whole log of `mesh`: the join
/// answer, and when it says there is more, sync rounds with the issuer (which answers its
/// new member). Every op is checked on the way; the caller adopts the log.
pub async fn redeem(
    control: Control,
    issuer: PeerId,
    mesh: MeshId,
    request: JoinRequest,
) -> Result<Vec<SignedOp>, NodeError> {
    // A failed exchange (a connection that dropped) is retried; an answer is final.
    // Retrying is safe: an issuer answers an already admitted key with the log again
    // without spending another use.
    let mut result = self::request(control.clone(), issuer, request.clone()).await;
    for _ in 1..JOIN_ATTEMPTS {
        if !matches!(result, Err(JoinError::Failed(_))) {
            break;
        }
        tokio::time::sleep(JOIN_RETRY_DELAY).await;
        result = self::request(control.clone(), issuer, request.clone()).await;
    }
    let (ops, mut more) = result.map_err(|e| match e {
        JoinError::Refused(reason) => {
            NodeError::Forbidden(format!("the issuer refused to admit this node: {reason}"))
        }
        JoinError::Failed(reason) => NodeError::Dial {
            addr: issuer.to_string(),
            reason,
        },
    })?;
    let bad = |e: Refused| {
        NodeError::Invalid(format!(
            "the issuer's ACL log does not hold ({e}); nothing was stored"
        ))
    };
    let mut log = Log::new(mesh);
    log.adopt(ops).map_err(bad)?;
    let mut after = None;
    for _ in 0..JOIN_SYNC_ROUNDS {
        if !more {
            break;
        }
        let request = crate::core::acl_sync::request(&log, after, Default::default());
        let synced = super::sync::request(control.clone(), issuer, request)
            .await
            .map_err(|reason| NodeError::Dial {
                addr: issuer.to_string(),
                reason: format!("fetching the rest of the ACL log: {reason}"),
            })?;
        more = synced.more && !synced.ops.is_empty();
        after = synced.ops.last().map(SignedOp::id).or(after);
        log.adopt(synced.ops).map_err(bad)?;
    }
    Ok(log.ops().cloned().collect())
}
