//! `/weft/service/1`: calls and replies, pipelined on one long-lived stream from each caller
//! to each provider (wire: `weft_proto::service`).
//!
//! The caller opens the stream and writes [`Call`] frames; the provider writes
//! [`ProviderFrame`]s back: a reply for each call as it completes, and a heartbeat every
//! half second. A frame over [`MAX_SERVICE_FRAME_BYTES`] is refused from its header. Only
//! members' streams are read at all: the acceptor asks the door before it reads a byte, and
//! a peer may hold at most [`MAX_INBOUND_PER_PEER`] streams at once.
//!
//! Each stream is served by a task that reports to the event loop through one bounded
//! channel of [`ServiceEvent`]s (backpressure: a busy loop stops the readers); the loop
//! answers an inbound stream through its own bounded channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::io::ReadHalf;
use futures::{AsyncReadExt, StreamExt};
use libp2p::{PeerId, Stream, StreamProtocol};
use libp2p_stream::{Control, IncomingStreams};
use tokio::sync::mpsc;
use weft_proto::DecodeError;
use weft_proto::service::{Call, MAX_SERVICE_FRAME_BYTES, ProviderFrame};

use super::dm_stream::SessionIds;
use super::frame::{read_frame, received, write_all};
use super::tally::Tally;
use super::tasks::Spawner;
use crate::core::io::SessionId;
use crate::mesh::door::Door;

/// The protocol id.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/service/1");

/// Frames an inbound session may have waiting to be written.
pub const REPLY_CAPACITY: usize = 256;

/// Most inbound streams one peer may hold open at once.
pub const MAX_INBOUND_PER_PEER: usize = 4;

/// What service session tasks tell the event loop.
#[derive(Debug)]
pub enum ServiceEvent {
    /// A provider's frame on an outbound session.
    Frame {
        /// The provider.
        peer: PeerId,
        /// The frame.
        frame: ProviderFrame,
    },
    /// An outbound session ended; what was at the provider goes elsewhere.
    OutboundClosed {
        /// The provider.
        peer: PeerId,
        /// The session.
        session: SessionId,
        /// Why, in one line.
        reason: String,
    },
    /// A member opened an inbound session; frames for it go to `frames`.
    InboundOpened {
        /// The caller.
        peer: PeerId,
        /// The session.
        session: SessionId,
        /// Where frames for the caller go.
        frames: mpsc::Sender<ProviderFrame>,
    },
    /// A call arrived on an inbound session.
    Call {
        /// The caller.
        peer: PeerId,
        /// The session to answer on.
        session: SessionId,
        /// The call.
        call: Call,
    },
    /// A frame on an inbound session was refused; the session is closed.
    Refused {
        /// The caller.
        peer: PeerId,
        /// Why.
        error: DecodeError,
    },
    /// An inbound session ended.
    InboundClosed {
        /// The session.
        session: SessionId,
    },
}

/// Serves inbound `/weft/service/1` streams until the node stops: from members only (the
/// `door`), at most [`MAX_INBOUND_PER_PEER`] per peer, one task per stream.
pub async fn accept(
    mut incoming: IncomingStreams,
    ids: SessionIds,
    events: mpsc::Sender<ServiceEvent>,
    (door, tally): (Door, Tally),
    tasks: Spawner,
) {
    let open: Arc<Mutex<HashMap<PeerId, usize>>> = Arc::default();
    while let Some((peer, stream)) = incoming.next().await {
        if !door.check("service", &peer) {
            tally.add_kind("service", "service_not_member");
            continue;
        }
        let Some(slot) = Slot::take(&open, peer) else {
            tally.add_kind("service", "service_stream_cap");
            continue;
        };
        tasks.spawn(
            "service inbound",
            inbound(peer, ids.next(), stream, events.clone(), slot),
        );
    }
}

/// Serves one outbound session: opens the stream, writes the calls that arrive on `calls`
/// and reports the provider's frames, until either side closes or `calls` is dropped.
pub async fn outbound(
    mut control: Control,
    peer: PeerId,
    session: SessionId,
    calls: mpsc::Receiver<Call>,
    events: mpsc::Sender<ServiceEvent>,
) {
    let reason = match control.open_stream(peer, PROTOCOL).await {
        Ok(stream) => {
            let (reader, writer) = stream.split();
            tokio::select! {
                r = read_provider(peer, reader, &events) => r,
                r = write_all(writer, received(calls), |c: Call| c.encode()) => r,
            }
        }
        Err(e) => e.to_string(),
    };
    let closed = ServiceEvent::OutboundClosed {
        peer,
        session,
        reason,
    };
    let _ = events.send(closed).await;
}

async fn inbound(
    peer: PeerId,
    session: SessionId,
    stream: Stream,
    events: mpsc::Sender<ServiceEvent>,
    _slot: Slot,
) {
    let (frames, frames_rx) = mpsc::channel(REPLY_CAPACITY);
    let opened = ServiceEvent::InboundOpened {
        peer,
        session,
        frames,
    };
    if events.send(opened).await.is_err() {
        return;
    }
    let (reader, writer) = stream.split();
    tokio::select! {
        _ = read_calls(peer, session, reader, &events) => {}
        _ = write_all(writer, received(frames_rx), |f: ProviderFrame| f.encode()) => {}
    }
    let _ = events.send(ServiceEvent::InboundClosed { session }).await;
}

async fn read_provider(
    peer: PeerId,
    mut reader: ReadHalf<Stream>,
    events: &mpsc::Sender<ServiceEvent>,
) -> String {
    loop {
        let frame = match read_frame(&mut reader, "service reply", MAX_SERVICE_FRAME_BYTES).await {
            Ok(Ok(body)) => ProviderFrame::decode(&body),
            Ok(Err(refused)) => Err(refused),
            Err(e) => return format!("stream closed: {e}"),
        };
        match frame {
            Ok(frame) => {
                if events
                    .send(ServiceEvent::Frame { peer, frame })
                    .await
                    .is_err()
                {
                    return "the node is stopping".into();
                }
            }
            Err(e) => return format!("bad frame from the provider: {e}"),
        }
    }
}

async fn read_calls(
    peer: PeerId,
    session: SessionId,
    mut reader: ReadHalf<Stream>,
    events: &mpsc::Sender<ServiceEvent>,
) {
    loop {
        let event = match read_frame(&mut reader, "service call", MAX_SERVICE_FRAME_BYTES).await {
            Ok(Ok(body)) => match Call::decode(&body) {
                Ok(call) => ServiceEvent::Call {
                    peer,
                    session,
                    call,
                },
                Err(error) => ServiceEvent::Refused { peer, error },
            },
            Ok(Err(error)) => ServiceEvent::Refused { peer, error },
            Err(_) => return,
        };
        let refused = matches!(event, ServiceEvent::Refused { .. });
        if events.send(event).await.is_err() || refused {
            return;
        }
    }
}

/// An inbound stream's place among a peer's; given back when dropped.
struct Slot {
    peer: PeerId,
    open: Arc<Mutex<HashMap<PeerId, usize>>>,
}

impl Slot {
    fn take(open: &Arc<Mutex<HashMap<PeerId, usize>>>, peer: PeerId) -> Option<Slot> {
        let mut counts = open.lock().ok()?;
        let count = counts.entry(peer).or_default();
        if *count >= MAX_INBOUND_PER_PEER {
            return None;
        }
        *count += 1;
        Some(Slot {
            peer,
            open: open.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.open.lock()
            && let Some(n) = counts.get_mut(&self.peer)
        {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.peer);
            }
        }
    }
}
