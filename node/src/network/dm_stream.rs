//! `/weft/dm/1`: direct messages and their acknowledgements, pipelined on one long-lived
//! stream from each sender to each recipient.
//!
//! The sender opens the stream and writes [`DirectMessage`] frames; the recipient writes a
//! [`DmAck`] frame for each, once the message is on its disk, in whatever order its flushes
//! complete. Frames are `u32` big-endian length + CBOR (see `weft_proto::codec`); a message
//! frame over [`MAX_DM_FRAME_BYTES`] is refused from its header, before its body is read.
//! Opening a substream per message would cost a protocol negotiation each (~0.2 ms on
//! loopback); one stream per peer pays it once. The sender keeps at most
//! `MAX_DM_IN_FLIGHT` messages unacknowledged, so the recipient never buffers more.
//!
//! Each stream is served by a task that reports to the event loop through one bounded
//! channel of [`DmEvent`]s: when the loop is busy, readers stop reading and the peer's writes
//! block (backpressure), nothing is dropped. The loop answers inbound messages through each
//! inbound session's own bounded channel of acknowledgements.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::io::ReadHalf;
use futures::{AsyncReadExt, StreamExt};
use libp2p::{PeerId, Stream, StreamProtocol};
use libp2p_stream::{Control, IncomingStreams};
use tokio::sync::mpsc;
use weft_proto::{DecodeError, MessageId};

use super::frame::{read_frame, received, write_all};
use super::tasks::Spawner;
use crate::store::StoreError;
use crate::store::outbox::{OutboxTree, Outgoing};
use weft_proto::dm::{DirectMessage, DmAck};
use weft_proto::limits::{MAX_ACK_FRAME_BYTES, MAX_DM_FRAME_BYTES};

/// The protocol id.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/dm/1");

/// Acknowledgements an inbound session may have waiting to be written. A sender keeps at
/// most 64 messages in flight; a peer that sends more than this without reading its
/// acknowledgements loses the surplus ones and has to retry.
pub const ACK_CAPACITY: usize = 256;

pub use crate::core::io::SessionId;

/// What session tasks tell the event loop.
#[derive(Debug)]
pub enum DmEvent {
    /// A recipient acknowledged a message on an outbound session.
    Ack {
        /// The recipient.
        peer: PeerId,
        /// Its answer.
        ack: DmAck,
    },
    /// An outbound session could not send outbox message `id`: it left the outbox
    /// meanwhile (`error` is `None`), or could not be read.
    Unsent {
        /// The recipient.
        peer: PeerId,
        /// The message.
        id: MessageId,
        /// Why it could not be read, if it is still there.
        error: Option<StoreError>,
    },
    /// An outbound session ended; its unacknowledged messages must be retried.
    OutboundClosed {
        /// The recipient.
        peer: PeerId,
        /// The session.
        session: SessionId,
        /// Why, in one line.
        reason: String,
    },
    /// A peer opened an inbound session; answers to its messages go to `acks`.
    InboundOpened {
        /// The sender.
        peer: PeerId,
        /// The session.
        session: SessionId,
        /// Where acknowledgements for this session go.
        acks: mpsc::Sender<DmAck>,
    },
    /// A direct message arrived on an inbound session.
    Message {
        /// The sender.
        peer: PeerId,
        /// The session to answer on.
        session: SessionId,
        /// The message (its id and sender are checked by the event loop).
        message: DirectMessage,
    },
    /// A frame on an inbound session was refused; the session is closed.
    Refused {
        /// The sender.
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

/// Hands out session ids, shared by the acceptor and the event loop.
#[derive(Clone, Debug, Default)]
pub struct SessionIds(Arc<AtomicU64>);

impl SessionIds {
    /// A new, never used id.
    pub fn next(&self) -> SessionId {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// Serves inbound `/weft/dm/1` streams until the node stops: one task per stream, started
/// by `tasks`.
pub async fn accept(
    mut incoming: IncomingStreams,
    ids: SessionIds,
    events: mpsc::Sender<DmEvent>,
    tasks: Spawner,
) {
    while let Some((peer, stream)) = incoming.next().await {
        tasks.spawn(
            "dm inbound",
            inbound(peer, ids.next(), stream, events.clone()),
        );
    }
}

/// Serves one outbound session: opens the stream, writes what arrives on `messages`, and
/// reports acknowledgements, until either side closes or `messages` is dropped.
pub async fn outbound(
    mut control: Control,
    peer: PeerId,
    session: SessionId,
    (messages, outbox): (mpsc::Receiver<Outgoing>, OutboxTree),
    events: mpsc::Sender<DmEvent>,
) {
    let reason = match control.open_stream(peer, PROTOCOL).await {
        Ok(stream) => {
            let (reader, writer) = stream.split();
            let loaded = received(messages).filter_map(|outgoing| {
                let (outbox, events) = (outbox.clone(), events.clone());
                async move {
                    let id = outgoing.id();
                    let error = match outbox.message(outgoing) {
                        Ok(Some(message)) => return Some(message),
                        Ok(None) => None,
                        Err(e) => Some(e),
                    };
                    let _ = events.send(DmEvent::Unsent { peer, id, error }).await;
                    None
                }
            });
            tokio::select! {
                r = read_acks(peer, reader, &events) => r,
                r = write_all(writer, Box::pin(loaded), |m: DirectMessage| m.encode()) => r,
            }
        }
        Err(e) => e.to_string(),
    };
    let _ = events
        .send(DmEvent::OutboundClosed {
            peer,
            session,
            reason,
        })
        .await;
}

async fn inbound(peer: PeerId, session: SessionId, stream: Stream, events: mpsc::Sender<DmEvent>) {
    let (acks, acks_rx) = mpsc::channel(ACK_CAPACITY);
    if events
        .send(DmEvent::InboundOpened {
            peer,
            session,
            acks,
        })
        .await
        .is_err()
    {
        return;
    }
    let (reader, writer) = stream.split();
    tokio::select! {
        _ = read_messages(peer, session, reader, &events) => {}
        _ = write_all(writer, received(acks_rx), |a: DmAck| a.encode()) => {}
    }
    let _ = events.send(DmEvent::InboundClosed { session }).await;
}

async fn read_acks(
    peer: PeerId,
    mut reader: ReadHalf<Stream>,
    events: &mpsc::Sender<DmEvent>,
) -> String {
    loop {
        let ack = match read_frame(&mut reader, "acknowledgement", MAX_ACK_FRAME_BYTES).await {
            Ok(Ok(body)) => DmAck::decode(&body),
            Ok(Err(refused)) => Err(refused),
            Err(e) => return format!("stream closed: {e}"),
        };
        match ack {
            Ok(ack) => {
                if events.send(DmEvent::Ack { peer, ack }).await.is_err() {
                    return "the node is stopping".into();
                }
            }
            Err(e) => return format!("bad acknowledgement: {e}"),
        }
    }
}

async fn read_messages(
    peer: PeerId,
    session: SessionId,
    mut reader: ReadHalf<Stream>,
    events: &mpsc::Sender<DmEvent>,
) {
    loop {
        let event = match read_frame(&mut reader, "direct message", MAX_DM_FRAME_BYTES).await {
            Ok(Ok(body)) => match DirectMessage::decode(&body) {
                Ok(message) => DmEvent::Message {
                    peer,
                    session,
                    message,
                },
                Err(error) => DmEvent::Refused { peer, error },
            },
            Ok(Err(error)) => DmEvent::Refused { peer, error },
            Err(_) => return,
        };
        let refused = matches!(event, DmEvent::Refused { .. });
        if events.send(event).await.is_err() || refused {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    use crate::network::frame::write_frame;
    use weft_proto::codec::frame;

    #[tokio::test]
    async fn messages_round_trip_and_garbage_is_refused() {
        let m = DirectMessage::new(b"a", b"b", 1, "hello".into());
        let mut buf = Vec::new();
        write_frame(&mut Cursor::new(&mut buf), &m.encode().unwrap())
            .await
            .unwrap();
        let body = read_frame(&mut Cursor::new(&buf), "m", MAX_DM_FRAME_BYTES)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(DirectMessage::decode(&body).unwrap(), m);

        let garbage = frame(b"\xff\x00garbage");
        let body = read_frame(&mut Cursor::new(&garbage), "m", MAX_DM_FRAME_BYTES)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            DirectMessage::decode(&body).map_err(|e| e.reason()),
            Err("malformed")
        );
    }
}
