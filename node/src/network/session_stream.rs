//! Long-lived session streams, as `/weft/service/1` and `/weft/queue/1` use them: one
//! stream from each opener to each acceptor, the opener writing `Up` frames and the
//! acceptor `Down` ones, both pipelined, frames as everywhere (`u32` BE length + CBOR).
//!
//! Only members' streams are read at all: the acceptor asks the door before it reads a
//! byte, and a peer may hold at most [`MAX_INBOUND_PER_PEER`] streams of one protocol at
//! once. A frame over the protocol's cap is refused from its header. Each stream is served
//! by a task that reports to the event loop through one bounded channel of
//! [`SessionEvent`]s (backpressure: a busy loop stops the readers); the loop writes to a
//! stream through its own bounded channel. [`Sessions`] is the loop's side: which sessions
//! are open, both ways.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::io::ReadHalf;
use futures::{AsyncReadExt, StreamExt};
use libp2p::{PeerId, Stream, StreamProtocol};
use libp2p_stream::{Control, IncomingStreams};
use tokio::sync::mpsc;
use weft_proto::DecodeError;

use super::dm_stream::SessionIds;
use super::frame::{read_frame, received, write_all};
use super::tally::Tally;
use super::tasks::Spawner;
use crate::core::io::SessionId;
use crate::core::short;
use crate::mesh::door::Door;

/// Most inbound streams one peer may hold open at once, per protocol.
pub const MAX_INBOUND_PER_PEER: usize = 4;

/// Frames one session may have waiting to be written, either way.
pub const FRAME_CAPACITY: usize = 256;

/// Capacity of the channel from session tasks to the loop.
const EVENT_CAPACITY: usize = 1024;

/// A frame of a session protocol.
pub trait Wire: Sized + Send + 'static {
    /// Decodes a frame's body, checking what can be checked alone.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError>;
    /// Encodes it for the wire.
    fn encode(&self) -> Result<Vec<u8>, DecodeError>;
}

/// What is fixed about one session protocol.
#[derive(Clone, Copy, Debug)]
pub struct Protocol {
    /// Its id (`/weft/...`).
    pub id: &'static str,
    /// What its refusals are counted as (`service`, `queue`).
    pub kind: &'static str,
    /// Largest frame, either way.
    pub max_frame: usize,
    /// The reason counted for a non-member's stream.
    pub not_member: &'static str,
    /// The reason counted for a stream past a peer's cap.
    pub stream_cap: &'static str,
}

/// What session tasks tell the event loop: `Up` frames arrive on inbound sessions, `Down`
/// frames on outbound ones, and the loop writes `Out`s to inbound ones.
#[derive(Debug)]
pub enum SessionEvent<Up, Down, Out> {
    /// A frame on an outbound session.
    Frame {
        /// The acceptor.
        peer: PeerId,
        /// The frame.
        frame: Down,
    },
    /// An outbound session ended.
    OutboundClosed {
        /// The acceptor.
        peer: PeerId,
        /// The session.
        session: SessionId,
        /// Why, in one line.
        reason: String,
    },
    /// A member opened an inbound session; what goes to it goes to `frames`.
    InboundOpened {
        /// The opener.
        peer: PeerId,
        /// The session.
        session: SessionId,
        /// Where frames for the opener go.
        frames: mpsc::Sender<Out>,
    },
    /// A frame arrived on an inbound session.
    Received {
        /// The opener.
        peer: PeerId,
        /// The session.
        session: SessionId,
        /// The frame.
        frame: Up,
    },
    /// A frame on an inbound session was refused; the session is closed.
    Refused {
        /// The opener.
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

/// Encodes what the loop writes to an inbound session (it may read from the store).
pub type Encoder<Out> = Arc<dyn Fn(Out) -> Result<Vec<u8>, DecodeError> + Send + Sync>;

/// The sessions of one protocol, both ways, as the event loop keeps them.
pub struct Sessions<Up, Down, Out> {
    protocol: Protocol,
    control: Control,
    ids: SessionIds,
    outbound: HashMap<PeerId, (SessionId, mpsc::Sender<Up>)>,
    inbound: HashMap<SessionId, (PeerId, mpsc::Sender<Out>)>,
    events_tx: mpsc::Sender<SessionEvent<Up, Down, Out>>,
    /// What the session tasks report.
    pub events: mpsc::Receiver<SessionEvent<Up, Down, Out>>,
    incoming: Option<IncomingStreams>,
}

impl<Up: Wire, Down: Wire, Out: Send + 'static> Sessions<Up, Down, Out> {
    /// Registers `protocol` on `control`.
    pub fn new(
        protocol: Protocol,
        mut control: Control,
    ) -> Result<Self, libp2p_stream::AlreadyRegistered> {
        let incoming = control.accept(StreamProtocol::new(protocol.id))?;
        let (events_tx, events) = mpsc::channel(EVENT_CAPACITY);
        Ok(Sessions {
            protocol,
            control,
            ids: SessionIds::default(),
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            events_tx,
            events,
            incoming: Some(incoming),
        })
    }

    /// Starts accepting members' inbound sessions (on the runtime; once the loop runs),
    /// behind `door`, counting refusals in `tally`; what goes out on them is encoded by
    /// `encode`.
    pub fn start(&mut self, tasks: &Spawner, (door, tally): (Door, Tally), encode: Encoder<Out>) {
        if let Some(incoming) = self.incoming.take() {
            let accept = accept::<Up, Down, Out>(
                self.protocol,
                incoming,
                self.ids.clone(),
                self.events_tx.clone(),
                (door, tally, encode),
                tasks.clone(),
            );
            tasks.spawn(self.protocol.kind, accept);
        }
    }

    /// Puts `frame` on the session to `peer`, starting one if there is none. False when the
    /// session just ended (its task is reporting it) or cannot take more.
    pub fn send(&mut self, peer: PeerId, frame: Up, tasks: &Spawner) -> bool {
        if let Some((_, tx)) = self.outbound.get(&peer).filter(|(_, tx)| !tx.is_closed()) {
            if tx.try_send(frame).is_ok() {
                return true;
            }
            self.outbound.remove(&peer);
            return false;
        }
        let session = self.ids.next();
        let (tx, rx) = mpsc::channel(FRAME_CAPACITY);
        let task = outbound::<Up, Down, Out>(
            self.protocol,
            self.control.clone(),
            peer,
            session,
            rx,
            self.events_tx.clone(),
        );
        tasks.spawn(self.protocol.kind, task);
        let sent = tx.try_send(frame).is_ok();
        self.outbound.insert(peer, (session, tx));
        sent
    }

    /// Outbound session `session` to `peer` ended.
    pub fn outbound_closed(&mut self, peer: &PeerId, session: SessionId) {
        if self.outbound.get(peer).is_some_and(|(s, _)| *s == session) {
            self.outbound.remove(peer);
        }
    }

    /// A member opened inbound session `session`; frames for it go to `frames`.
    pub fn inbound_opened(&mut self, peer: PeerId, session: SessionId, frames: mpsc::Sender<Out>) {
        self.inbound.insert(session, (peer, frames));
    }

    /// Inbound session `session` ended.
    pub fn inbound_closed(&mut self, session: SessionId) {
        self.inbound.remove(&session);
    }

    /// Sends `out` on inbound session `session`, if it is still open; false when it could
    /// not (closed, or its opener does not read).
    pub fn answer(&mut self, session: SessionId, out: Out) -> bool {
        let Some((peer, frames)) = self.inbound.get(&session) else {
            return false;
        };
        if frames.try_send(out).is_err() {
            tracing::debug!(peer = %short(peer), kind = self.protocol.kind, "a frame dropped: session full or closed");
            return false;
        }
        true
    }

    /// Sends `out` on every inbound session.
    pub fn answer_all(&mut self, out: &Out)
    where
        Out: Clone,
    {
        for (_, frames) in self.inbound.values() {
            let _ = frames.try_send(out.clone());
        }
    }
}

/// Serves inbound streams until the node stops: from members only (the door), at most
/// [`MAX_INBOUND_PER_PEER`] per peer, one task per stream.
async fn accept<Up: Wire, Down: Wire, Out: Send + 'static>(
    protocol: Protocol,
    mut incoming: IncomingStreams,
    ids: SessionIds,
    events: mpsc::Sender<SessionEvent<Up, Down, Out>>,
    (door, tally, encode): (Door, Tally, Encoder<Out>),
    tasks: Spawner,
) {
    let open: Arc<Mutex<HashMap<PeerId, usize>>> = Arc::default();
    while let Some((peer, stream)) = incoming.next().await {
        if !door.check(protocol.kind, &peer) {
            tally.add_kind(protocol.kind, protocol.not_member);
            continue;
        }
        let Some(slot) = Slot::take(&open, peer) else {
            tally.add_kind(protocol.kind, protocol.stream_cap);
            continue;
        };
        let session = ids.next();
        let task = inbound::<Up, Down, Out>(
            protocol,
            (peer, session),
            stream,
            events.clone(),
            encode.clone(),
            slot,
        );
        tasks.spawn(protocol.kind, task);
    }
}

/// Serves one outbound session: opens the stream, writes the frames that arrive on `frames`
/// and reports the acceptor's, until either side closes or `frames` is dropped.
async fn outbound<Up: Wire, Down: Wire, Out: Send + 'static>(
    protocol: Protocol,
    mut control: Control,
    peer: PeerId,
    session: SessionId,
    frames: mpsc::Receiver<Up>,
    events: mpsc::Sender<SessionEvent<Up, Down, Out>>,
) {
    let reason = match control
        .open_stream(peer, StreamProtocol::new(protocol.id))
        .await
    {
        Ok(stream) => {
            let (reader, writer) = stream.split();
            tokio::select! {
                r = read_down(protocol, peer, reader, &events) => r,
                r = write_all(writer, received(frames), |f: Up| f.encode()) => r,
            }
        }
        Err(e) => e.to_string(),
    };
    let closed = SessionEvent::OutboundClosed {
        peer,
        session,
        reason,
    };
    let _ = events.send(closed).await;
}

async fn inbound<Up: Wire, Down: Wire, Out: Send + 'static>(
    protocol: Protocol,
    (peer, session): (PeerId, SessionId),
    stream: Stream,
    events: mpsc::Sender<SessionEvent<Up, Down, Out>>,
    encode: Encoder<Out>,
    _slot: Slot,
) {
    let (frames, frames_rx) = mpsc::channel(FRAME_CAPACITY);
    let opened = SessionEvent::InboundOpened {
        peer,
        session,
        frames,
    };
    if events.send(opened).await.is_err() {
        return;
    }
    let (reader, writer) = stream.split();
    tokio::select! {
        _ = read_up(protocol, peer, session, reader, &events) => {}
        _ = write_all(writer, received(frames_rx), |out| encode(out)) => {}
    }
    let _ = events.send(SessionEvent::InboundClosed { session }).await;
}

async fn read_down<Up, Down: Wire, Out>(
    protocol: Protocol,
    peer: PeerId,
    mut reader: ReadHalf<Stream>,
    events: &mpsc::Sender<SessionEvent<Up, Down, Out>>,
) -> String {
    loop {
        let frame = match read_frame(&mut reader, protocol.kind, protocol.max_frame).await {
            Ok(Ok(body)) => Down::decode(&body),
            Ok(Err(refused)) => Err(refused),
            Err(e) => return format!("stream closed: {e}"),
        };
        match frame {
            Ok(frame) => {
                if events
                    .send(SessionEvent::Frame { peer, frame })
                    .await
                    .is_err()
                {
                    return "the node is stopping".into();
                }
            }
            Err(e) => return format!("bad frame from the peer: {e}"),
        }
    }
}

async fn read_up<Up: Wire, Down, Out>(
    protocol: Protocol,
    peer: PeerId,
    session: SessionId,
    mut reader: ReadHalf<Stream>,
    events: &mpsc::Sender<SessionEvent<Up, Down, Out>>,
) {
    loop {
        let event = match read_frame(&mut reader, protocol.kind, protocol.max_frame).await {
            Ok(Ok(body)) => match Up::decode(&body) {
                Ok(frame) => SessionEvent::Received {
                    peer,
                    session,
                    frame,
                },
                Err(error) => SessionEvent::Refused { peer, error },
            },
            Ok(Err(error)) => SessionEvent::Refused { peer, error },
            Err(_) => return,
        };
        let refused = matches!(event, SessionEvent::Refused { .. });
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
