//! Pipes: `/weft/pipe/1`, a live, encrypted, backpressured byte stream between two members.
//! One side opens ([`Pipes::open`]), the other waits for it ([`Pipes::accept`]); the local
//! API then splices each end to its caller (`weft pipe`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream, StreamProtocol};
use libp2p_stream::{Control, IncomingStreams};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use weft_proto::codec::{from_cbor, to_cbor};
use weft_proto::pipe::{
    MAX_PIPE_ANSWER_BYTES, MAX_PIPE_OPEN_BYTES, PIPE_VERSION, PipeAnswer, PipeOpen,
};

use crate::core::short;
use crate::mesh::door::Door;
use crate::network::frame::{read_frame, write_frame};
use crate::network::tally::Tally;

/// The pipe protocol.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/pipe/1");

/// Most pipes open on a node at once, both directions together.
pub const MAX_PIPES: usize = 64;

/// How long opening may take (stream, then the other side's answer).
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an arriving pipe waits for someone to accept it: the two ends of a pipe are
/// usually started by hand, and not always in order.
const ACCEPT_GRACE: Duration = Duration::from_secs(5);

/// An open pipe: the stream, and the permit that counts it against [`MAX_PIPES`].
pub struct Pipe {
    /// The member at the other end.
    pub peer: PeerId,
    /// The byte stream.
    pub stream: Stream,
    _permit: OwnedSemaphorePermit,
}

/// A local caller waiting for a pipe (from one member, or any).
struct Waiting {
    from: Option<PeerId>,
    pipe: oneshot::Sender<Pipe>,
}

/// A node's pipes. Cloning shares them.
#[derive(Clone)]
pub struct Pipes {
    control: Control,
    permits: Arc<Semaphore>,
    waiting: Arc<Mutex<VecDeque<Waiting>>>,
    /// Wakes arriving pipes when a caller starts waiting.
    arrived: Arc<tokio::sync::Notify>,
    /// The task answering members' pipes, once started.
    server: Arc<Mutex<Option<tokio::task::AbortHandle>>>,
}

impl Pipes {
    /// Starts accepting members' pipes on `control`; the shared door says who is a member.
    pub fn start(
        mut control: Control,
        shared: &crate::network::event_loop::Shared,
    ) -> Result<Pipes, crate::network::NodeError> {
        let (door, tally) = (shared.door.clone(), shared.tally.clone());
        let incoming = control
            .accept(PROTOCOL)
            .map_err(|e| crate::network::NodeError::Transport(e.to_string()))?;
        let pipes = Pipes {
            control,
            permits: Arc::new(Semaphore::new(MAX_PIPES)),
            waiting: Arc::default(),
            arrived: Arc::default(),
            server: Arc::default(),
        };
        let server = tokio::spawn(pipes.clone().serve(incoming, door, tally)).abort_handle();
        if let Ok(mut slot) = pipes.server.lock() {
            *slot = Some(server);
        }
        Ok(pipes)
    }

    /// Stops answering pipes (the node is stopping) and lets callers waiting for one go.
    pub fn stop(&self) {
        if let Some(server) = self.server.lock().ok().and_then(|mut s| s.take()) {
            server.abort();
        }
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.clear();
        }
    }

    /// Opens a pipe to `peer`; it fails when `peer` refuses (nobody accepting there, not a
    /// member, too many pipes).
    pub async fn open(&self, peer: PeerId) -> Result<Pipe, String> {
        let permit = self.permit()?;
        let mut control = self.control.clone();
        let opening = async {
            let mut stream = control
                .open_stream(peer, PROTOCOL)
                .await
                .map_err(|e| e.to_string())?;
            let open = to_cbor(&PipeOpen { v: PIPE_VERSION }).map_err(|e| e.to_string())?;
            write_frame(&mut stream, &open)
                .await
                .map_err(|e| format!("the peer hung up: {e}"))?;
            let answer = read_frame(&mut stream, "pipe answer", MAX_PIPE_ANSWER_BYTES)
                .await
                .map_err(|e| format!("the peer hung up: {e}"))?
                .map_err(|e| e.to_string())?;
            match from_cbor(&answer).map_err(|e| e.to_string())? {
                PipeAnswer::Accepted => Ok(stream),
                PipeAnswer::Refused(why) => Err(format!("refused: {why}")),
            }
        };
        let stream = tokio::time::timeout(OPEN_TIMEOUT, opening)
            .await
            .map_err(|_| "no answer within 30 s".to_string())??;
        Ok(Pipe {
            peer,
            stream,
            _permit: permit,
        })
    }

    /// Waits for a member (`from`, or any) to open a pipe to this node.
    pub async fn accept(&self, from: Option<PeerId>) -> Result<Pipe, String> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.push_back(Waiting { from, pipe: tx });
        }
        self.arrived.notify_waiters();
        rx.await.map_err(|_| "the node is stopping".to_string())
    }

    fn permit(&self) -> Result<OwnedSemaphorePermit, String> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| format!("busy: {MAX_PIPES} pipes are open on this node"))
    }

    /// Answers inbound pipes until the node stops.
    async fn serve(self, mut incoming: IncomingStreams, door: Door, tally: Tally) {
        while let Some((peer, stream)) = incoming.next().await {
            let pipes = self.clone();
            let (door, tally) = (door.clone(), tally.clone());
            tokio::spawn(async move {
                let read = tokio::time::timeout(OPEN_TIMEOUT, pipes.answer(peer, stream, &door));
                if let Ok(Err((reason, why))) = read.await {
                    tally.add(reason);
                    tracing::warn!(peer = %short(&peer), reason, "refused a pipe: {why}");
                }
            });
        }
    }

    /// Reads the opener's frame and hands the stream to a caller waiting for it, or refuses.
    async fn answer(
        &self,
        peer: PeerId,
        mut stream: Stream,
        door: &Door,
    ) -> Result<(), (&'static str, String)> {
        let refused = |reason: &'static str, why: String| (reason, why);
        let body = read_frame(&mut stream, "pipe open", MAX_PIPE_OPEN_BYTES)
            .await
            .map_err(|e| refused("pipe_io", e.to_string()))?;
        let problem = if !door.check("pipe", &peer) {
            Some(("pipe_not_member", "not a member of this mesh".to_string()))
        } else {
            match body
                .map_err(|e| e.to_string())
                .and_then(|b| from_cbor::<PipeOpen>(&b).map_err(|e| e.to_string()))
            {
                Ok(open) if open.v == PIPE_VERSION => None,
                Ok(open) => Some(("pipe_version", format!("unsupported version {}", open.v))),
                Err(e) => Some(("pipe_malformed", e)),
            }
        };
        if let Some((reason, why)) = problem {
            let _ = reply(&mut stream, PipeAnswer::Refused(why.clone())).await;
            let _ = stream.close().await;
            return Err(refused(reason, why));
        }
        let permit = match self.permit() {
            Ok(p) => p,
            Err(why) => {
                let _ = reply(&mut stream, PipeAnswer::Refused(why.clone())).await;
                return Err(refused("pipe_busy", why));
            }
        };
        let Some(waiter) = self.wait_for_waiter(&peer).await else {
            let why = "nobody is accepting pipes on this node (run `weft pipe --accept` there)";
            let _ = reply(&mut stream, PipeAnswer::Refused(why.into())).await;
            return Err(refused("pipe_unwanted", why.into()));
        };
        reply(&mut stream, PipeAnswer::Accepted)
            .await
            .map_err(|e| refused("pipe_io", e.to_string()))?;
        let pipe = Pipe {
            peer,
            stream,
            _permit: permit,
        };
        // A caller that gave up in between drops the pipe, which resets the stream.
        let _ = waiter.pipe.send(pipe);
        Ok(())
    }

    /// A caller waiting for pipes from `peer`, now or within [`ACCEPT_GRACE`].
    async fn wait_for_waiter(&self, peer: &PeerId) -> Option<Waiting> {
        let deadline = tokio::time::Instant::now() + ACCEPT_GRACE;
        loop {
            let woken = self.arrived.notified();
            if let Some(waiter) = self.take_waiter(peer) {
                return Some(waiter);
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return None;
            }
        }
    }

    /// The first caller still waiting that takes pipes from `peer`.
    fn take_waiter(&self, peer: &PeerId) -> Option<Waiting> {
        let mut waiting = self.waiting.lock().ok()?;
        waiting.retain(|w| !w.pipe.is_closed());
        let at = waiting
            .iter()
            .position(|w| w.from.is_none_or(|from| from == *peer))?;
        waiting.remove(at)
    }
}

async fn reply(stream: &mut Stream, answer: PipeAnswer) -> std::io::Result<()> {
    let body = to_cbor(&answer).map_err(std::io::Error::other)?;
    write_frame(stream, &body).await
}
