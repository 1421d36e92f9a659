//! `/weft/join/1`: redeeming an invite key (wire: `weft_proto::join`). One request and one
//! response per stream. The issuer side hands each request to the event loop, which decides
//! and answers through a oneshot; the joiner side is one async call.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream, StreamProtocol};
use libp2p_stream::{Control, IncomingStreams};
use tokio::sync::{mpsc, oneshot};
use weft_proto::acl::SignedOp;
use weft_proto::codec::{from_cbor, to_cbor};
use weft_proto::join::{
    JoinRequest, JoinResponse, MAX_JOIN_REQUEST_BYTES, MAX_JOIN_RESPONSE_BYTES,
};

use super::frame::{read_frame, write_frame};

/// The protocol id.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/join/1");

/// How long either side waits for the other.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A join request for the event loop to decide.
#[derive(Debug)]
pub struct JoinEvent {
    /// The authenticated peer asking.
    pub peer: PeerId,
    /// What it asks.
    pub request: JoinRequest,
    /// Where the answer goes.
    pub reply: oneshot::Sender<JoinResponse>,
}

/// Serves inbound join streams until the node stops: one task per stream.
pub async fn accept(mut incoming: IncomingStreams, requests: mpsc::Sender<JoinEvent>) {
    while let Some((peer, stream)) = incoming.next().await {
        tokio::spawn(serve(peer, stream, requests.clone()));
    }
}

async fn serve(peer: PeerId, mut stream: Stream, requests: mpsc::Sender<JoinEvent>) {
    let response = match tokio::time::timeout(
        TIMEOUT,
        read_frame(&mut stream, "join request", MAX_JOIN_REQUEST_BYTES),
    )
    .await
    {
        Ok(Ok(Ok(body))) => match from_cbor::<JoinRequest>(&body) {
            Ok(request) => {
                let (reply, answer) = oneshot::channel();
                if requests
                    .send(JoinEvent {
                        peer,
                        request,
                        reply,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
                match answer.await {
                    Ok(response) => response,
                    Err(_) => return,
                }
            }
            Err(e) => JoinResponse::Refused {
                reason: format!("malformed join request: {e}"),
            },
        },
        Ok(Ok(Err(refused))) => JoinResponse::Refused {
            reason: refused.to_string(),
        },
        Ok(Err(_)) | Err(_) => return,
    };
    if let Ok(body) = to_cbor(&response) {
        let _ = write_frame(&mut stream, &body).await;
    }
    let _ = stream.close().await;
}

/// Why a join did not succeed.
#[derive(Debug)]
pub enum JoinError {
    /// The issuer answered no, with its reason.
    Refused(String),
    /// The exchange itself failed.
    Failed(String),
}

/// Asks `issuer` to redeem an invite; the mesh's ACL log when admitted.
pub async fn request(
    mut control: Control,
    issuer: PeerId,
    request: JoinRequest,
) -> Result<Vec<SignedOp>, JoinError> {
    let exchange = async {
        let mut stream = control
            .open_stream(issuer, PROTOCOL)
            .await
            .map_err(|e| format!("cannot reach the issuer: {e}"))?;
        let body = to_cbor(&request).map_err(|e| e.to_string())?;
        write_frame(&mut stream, &body)
            .await
            .map_err(|e| format!("the issuer hung up: {e}"))?;
        let mut reply = Vec::new();
        match read_frame(&mut stream, "join response", MAX_JOIN_RESPONSE_BYTES).await {
            Ok(Ok(body)) => reply.extend_from_slice(&body),
            Ok(Err(refused)) => return Err(refused.to_string()),
            Err(e) => return Err(format!("the issuer hung up: {e}")),
        }
        let _ = stream.read_to_end(&mut Vec::new()).await;
        match from_cbor::<JoinResponse>(&reply).map_err(|e| e.to_string())? {
            JoinResponse::Accepted { ops } => Ok(Ok(ops)),
            JoinResponse::Refused { reason } => Ok(Err(JoinError::Refused(reason))),
        }
    };
    match tokio::time::timeout(TIMEOUT, exchange).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(failed)) => Err(JoinError::Failed(failed)),
        Err(_) => Err(JoinError::Failed(
            "the issuer did not answer within 10 s".into(),
        )),
    }
}
