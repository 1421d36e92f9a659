//! `/weft/sync/1`: exchanging missing ACL ops with a member (wire: `weft_proto::sync`). The
//! answering side hands each request to the event loop, which answers through a oneshot; the
//! asking side is one async call whose result the caller passes back to the loop.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream, StreamProtocol};
use libp2p_stream::{Control, IncomingStreams};
use tokio::sync::{mpsc, oneshot};
use weft_proto::acl::SignedOp;
use weft_proto::codec::{from_cbor, to_cbor};
use weft_proto::sync::{MAX_SYNC_FRAME_BYTES, PeerAddrs, SyncRequest, SyncResponse};

use super::frame::{read_frame, write_frame};

/// The protocol id.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/sync/1");

/// How long either side waits for the other.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A sync request for the event loop to answer.
#[derive(Debug)]
pub struct SyncEvent {
    /// The authenticated peer asking.
    pub peer: PeerId,
    /// What it asks.
    pub request: SyncRequest,
    /// Where the answer goes.
    pub reply: oneshot::Sender<SyncResponse>,
}

/// Serves inbound sync streams until the node stops: one task per stream.
pub async fn accept(mut incoming: IncomingStreams, requests: mpsc::Sender<SyncEvent>) {
    while let Some((peer, stream)) = incoming.next().await {
        tokio::spawn(serve(peer, stream, requests.clone()));
    }
}

async fn serve(peer: PeerId, mut stream: Stream, requests: mpsc::Sender<SyncEvent>) {
    let read = read_frame(&mut stream, "sync request", MAX_SYNC_FRAME_BYTES);
    let response = match tokio::time::timeout(TIMEOUT, read).await {
        Ok(Ok(Ok(body))) => match from_cbor::<SyncRequest>(&body) {
            Ok(request) => {
                let (reply, answer) = oneshot::channel();
                if requests
                    .send(SyncEvent {
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
            Err(e) => SyncResponse::Refused {
                reason: format!("malformed sync request: {e}"),
            },
        },
        Ok(Ok(Err(refused))) => SyncResponse::Refused {
            reason: refused.to_string(),
        },
        Ok(Err(_)) | Err(_) => return,
    };
    if let Ok(body) = to_cbor(&response) {
        let _ = write_frame(&mut stream, &body).await;
    }
    let _ = stream.close().await;
}

/// What a sync brought: missing ops and members' addresses.
pub type Synced = (Vec<SignedOp>, Vec<PeerAddrs>);

/// Asks `peer` for the ops missing from `request.have`.
pub async fn request(
    mut control: Control,
    peer: PeerId,
    request: SyncRequest,
) -> Result<Synced, String> {
    let exchange = async {
        let mut stream = control
            .open_stream(peer, PROTOCOL)
            .await
            .map_err(|e| e.to_string())?;
        let body = to_cbor(&request).map_err(|e| e.to_string())?;
        write_frame(&mut stream, &body)
            .await
            .map_err(|e| e.to_string())?;
        let body = match read_frame(&mut stream, "sync response", MAX_SYNC_FRAME_BYTES).await {
            Ok(Ok(body)) => body,
            Ok(Err(refused)) => return Err(refused.to_string()),
            Err(e) => return Err(e.to_string()),
        };
        let _ = stream.read_to_end(&mut Vec::new()).await;
        match from_cbor::<SyncResponse>(&body).map_err(|e| e.to_string())? {
            SyncResponse::Ops { ops, peers } => Ok((ops, peers)),
            SyncResponse::Refused { reason } => Err(reason),
        }
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
}
