//! Long-lived session streams, as `/weft/service/1` and `/weft/queue/1` use them: one
//! stream from each opener to each acceptor, the opener writing `Up` frames and the
//! acceptor `Down` ones, both pipelined, frames as everywhere (`u32` BE length + CBOR).
//!
//! Only members' streams are read at all: the acceptor asks the door before it reads a
//! byte, and a peer may hold at most [`MAX_INBOUND_PER_PEER`] streams of one protocol at
//! once. A frame over the protocol's cap is refused from its header. Each stream is served
//! by a task that reports to the event loop through one bounded channel of
//! [`SessionEvent`]s (backpressure: a busy loop stops the readers); the loop writes to a
//! stream through its own bounded channel, sized for what the protocol lets an honest peer
//! have outstanding. A peer that lets it fill does not read: the loop ends that session
//! (its task stops at once, the stream is reset) rather than drop a frame from the middle
//! of it. [`Sessions`] is the loop's side: which sessions are open, both ways; what a
//! session it ended had still reported is not passed on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::io::ReadHalf;
use futures::{AsyncReadExt, StreamExt};
use libp2p::{PeerId, Stream, StreamProtocol};
use libp2p_stream::{Control, IncomingStreams};
use tokio::sync::{mpsc, oneshot};
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
    /// Frames one session may have waiting to be written, either way: more than an honest
    /// peer can have outstanding.
    pub frames: usize,
}

/// The loop's end of one session's task: where frames to write go, and the task's leash
/// (dropped, the task stops and its stream is reset).
#[derive(Debug)]
pub struct Writer<T> {
    frames: mpsc::Sender<T>,
    _leash: oneshot::Sender<()>,
}

impl<T> Writer<T> {
    fn new(capacity: usize) -> (Writer<T>, mpsc::Receiver<T>, oneshot::Receiver<()>) {
        let (frames, frames_rx) = mpsc::channel(capacity);
        let (leash, leash_rx) = oneshot::channel();
        let writer = Writer {
            frames,
            _leash: leash,
        };
        (writer, frames_rx, leash_rx)
    }
}

/// Why a frame was not put on a session.
#[derive(Debug, PartialEq, Eq)]
pub enum Unsent {
    /// No session to the peer was open (its end was reported already).
    NotOpen,
    /// The session had ended already.
    Closed,
    /// Its peer does not read what it is sent: the session is ended now.
    Full,
}

/// What session tasks tell the event loop: `Up` frames arrive on inbound sessions, `Down`
/// frames on outbound ones, and the loop writes `Out`s to inbound ones.
#[derive(Debug)]
pub enum SessionEvent<Up, Down, Out> {
    /// A frame on an outbound session.
    Frame {
        /// The acceptor.
        peer: PeerId,
        /// The session.
        session: SessionId,
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
    /// A member opened an inbound session; what goes to it goes to `writer`.
    InboundOpened {
        /// The opener.
        peer: PeerId,
        /// The session.
        session: SessionId,
        /// Where frames for the opener go.
        writer: Writer<Out>,
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
    outbound: HashMap<PeerId, (SessionId, Writer<Up>)>,
    inbound: HashMap<SessionId, (PeerId, Writer<Out>)>,
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

    /// Puts `frame` on the session to `peer`, starting one if there is none; why not when
    /// it could not (the session just ended, or was ended now as its peer does not read).
    pub fn send(&mut self, peer: PeerId, frame: Up, tasks: &Spawner) -> Result<(), Unsent> {
        self.open(peer, tasks);
        self.send_on(peer, frame)
    }

    /// Starts a session to `peer` unless one is open (its end comes as
    /// [`SessionEvent::OutboundClosed`]).
    pub fn open(&mut self, peer: PeerId, tasks: &Spawner) {
        if self.outbound.contains_key(&peer) {
            return;
        }
        let session = self.ids.next();
        let (writer, rx, leash) = Writer::new(self.protocol.frames);
        let task = outbound::<Up, Down, Out>(
            self.protocol,
            self.control.clone(),
            (peer, session),
            (rx, leash),
            self.events_tx.clone(),
        );
        tasks.spawn(self.protocol.kind, task);
        self.outbound.insert(peer, (session, writer));
    }

    /// Puts `frame` on the open session to `peer`; why not when it could not (none is
    /// open, it just ended, or it was ended now as its peer does not read).
    pub fn send_on(&mut self, peer: PeerId, frame: Up) -> Result<(), Unsent> {
        let Some((_, writer)) = self.outbound.get(&peer) else {
            return Err(Unsent::NotOpen);
        };
        let sent = put(writer, frame);
        if sent.is_err() {
            self.outbound.remove(&peer);
        }
        sent
    }

    /// Whether `session` is the open outbound session to `peer` (what an ended one had
    /// still reported is stale).
    pub fn is_outbound(&self, peer: &PeerId, session: SessionId) -> bool {
        self.outbound.get(peer).is_some_and(|(s, _)| *s == session)
    }

    /// Outbound session `session` to `peer` ended: whether it was the open one.
    pub fn outbound_closed(&mut self, peer: &PeerId, session: SessionId) -> bool {
        let open = self.is_outbound(peer, session);
        if open {
            self.outbound.remove(peer);
        }
        open
    }

    /// A member opened inbound session `session`; frames for it go to `writer`.
    pub fn inbound_opened(&mut self, peer: PeerId, session: SessionId, writer: Writer<Out>) {
        self.inbound.insert(session, (peer, writer));
    }

    /// Whether inbound session `session` is open (what an ended one had still reported is
    /// stale).
    pub fn is_inbound(&self, session: SessionId) -> bool {
        self.inbound.contains_key(&session)
    }

    /// Inbound session `session` ended: whether it was open until now.
    pub fn inbound_closed(&mut self, session: SessionId) -> bool {
        self.inbound.remove(&session).is_some()
    }

    /// Sends `out` on inbound session `session`; why not when it could not (the session
    /// ended: its close is on its way as [`SessionEvent::InboundClosed`]; or it was ended
    /// now as its opener does not read).
    pub fn answer(&mut self, session: SessionId, out: Out) -> Result<(), Unsent> {
        let Some((peer, writer)) = self.inbound.get(&session) else {
            return Err(Unsent::Closed);
        };
        let sent = put(writer, out);
        if sent == Err(Unsent::Full) {
            tracing::warn!(peer = %short(peer), kind = self.protocol.kind, "ended a session whose peer does not read what it is sent");
            self.inbound.remove(&session);
        }
        sent
    }

    /// Sends `out` on every inbound session; the sessions ended now as their openers do
    /// not read (as [`Sessions::answer`]) are returned.
    pub fn answer_all(&mut self, out: &Out) -> Vec<SessionId>
    where
        Out: Clone,
    {
        let sessions: Vec<SessionId> = self.inbound.keys().copied().collect();
        sessions
            .into_iter()
            .filter(|session| self.answer(*session, out.clone()) == Err(Unsent::Full))
            .collect()
    }
}

/// Puts `frame` on the session `writer` writes.
fn put<T>(writer: &Writer<T>, frame: T) -> Result<(), Unsent> {
    writer.frames.try_send(frame).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => Unsent::Full,
        mpsc::error::TrySendError::Closed(_) => Unsent::Closed,
    })
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
    (peer, session): (PeerId, SessionId),
    (frames, leash): (mpsc::Receiver<Up>, oneshot::Receiver<()>),
    events: mpsc::Sender<SessionEvent<Up, Down, Out>>,
) {
    let reason = match control
        .open_stream(peer, StreamProtocol::new(protocol.id))
        .await
    {
        Ok(stream) => {
            let (reader, writer) = stream.split();
            tokio::select! {
                r = read_down(protocol, (peer, session), reader, &events) => r,
                r = write_all(writer, received(frames), |f: Up| f.encode()) => r,
                _ = leash => "ended by this node".into(),
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
    let (writer, frames_rx, leash) = Writer::new(protocol.frames);
    let opened = SessionEvent::InboundOpened {
        peer,
        session,
        writer,
    };
    if events.send(opened).await.is_err() {
        return;
    }
    let (reader, writer) = stream.split();
    tokio::select! {
        _ = read_up(protocol, peer, session, reader, &events) => {}
        _ = write_all(writer, received(frames_rx), |out| encode(out)) => {}
        _ = leash => {}
    }
    let _ = events.send(SessionEvent::InboundClosed { session }).await;
}

async fn read_down<Up, Down: Wire, Out>(
    protocol: Protocol,
    (peer, session): (PeerId, SessionId),
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
                    .send(SessionEvent::Frame {
                        peer,
                        session,
                        frame,
                    })
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
