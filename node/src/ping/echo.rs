//! The side of `/weft/ping/1` that answers: members' 32-byte payloads echoed back, on at
//! most [`MAX_STREAMS`] streams at once, each for at most [`super::MAX_COUNT`] round trips
//! and closed after [`IDLE`] without one. Anyone else is refused before a byte is read,
//! counted (`ping_not_member`) and logged in one line.

use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream};
use libp2p_stream::Control;
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;

use super::{MAX_COUNT, PAYLOAD, PROTOCOL};
use crate::core::short;
use crate::mesh::door::Door;
use crate::network::tally::Tally;

/// Most ping streams answered at once.
pub const MAX_STREAMS: usize = 32;

/// How long a ping stream may go without a round trip before it is closed.
pub const IDLE: Duration = Duration::from_secs(10);

/// Starts answering pings on `control`; `door` says who is a member. The task stops when
/// the handle is aborted.
pub fn start(
    mut control: Control,
    door: Door,
    tally: Tally,
) -> Result<AbortHandle, crate::network::NodeError> {
    let mut incoming = control
        .accept(PROTOCOL)
        .map_err(|e| crate::network::NodeError::Transport(e.to_string()))?;
    let permits = Arc::new(Semaphore::new(MAX_STREAMS));
    let task = tokio::spawn(async move {
        while let Some((peer, stream)) = incoming.next().await {
            if !door.check("ping", &peer) {
                tally.add("ping_not_member");
                tracing::info!(peer = %short(&peer), "refused input from peer: a ping from a non-member");
                continue;
            }
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                tally.add("ping_busy");
                tracing::info!(peer = %short(&peer), "refused input from peer: a ping while {MAX_STREAMS} are answered");
                continue;
            };
            tokio::spawn(async move {
                answer(peer, stream).await;
                drop(permit);
            });
        }
    });
    Ok(task.abort_handle())
}

/// Echoes `peer`'s payloads until it closes, goes quiet or has had its round trips.
async fn answer(peer: PeerId, mut stream: Stream) {
    let mut payload = [0u8; PAYLOAD];
    for _ in 0..MAX_COUNT {
        match tokio::time::timeout(IDLE, stream.read_exact(&mut payload)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => break,
        }
        if stream.write_all(&payload).await.is_err() || stream.flush().await.is_err() {
            tracing::debug!(peer = %short(&peer), "a ping stream broke");
            break;
        }
    }
    let _ = stream.close().await;
}
