//! One request and one response per stream, each a CBOR frame: the shape `/weft/join/1`,
//! `/weft/sync/1` and `/weft/mailbox/1` share. The answering side ([`Server`]) hands each
//! request to the event loop as an [`Asked`] and writes whatever the loop answers; the
//! asking side is one call ([`ask`]).
//!
//! A stream from a peer the door does not let in is never read. It may wait, unread, for
//! the peer's admission to reach this node ([`ADMISSION_WAIT`], at most [`MAX_WAITING`]
//! streams, one per peer): a newcomer asks the members it meets before its admin's gossip
//! has reached them all. Past the wait, or the cap, it is refused, counted and logged.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream, StreamProtocol};
use libp2p_stream::{Control, IncomingStreams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};
use weft_proto::codec::{from_cbor, to_cbor};

use super::frame::{read_frame, write_frame};
use super::tally::Tally;
use super::tasks::Spawner;
use crate::core::doors::{ADMISSION_WAIT, MAX_WAITING};
use crate::mesh::door::Door;

/// How long either side waits for the other.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A request for the event loop to answer.
#[derive(Debug)]
pub struct Asked<Req, Resp> {
    /// The authenticated peer asking.
    pub peer: PeerId,
    /// What it asks.
    pub request: Req,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Resp>,
}

/// How one protocol frames its requests and refuses malformed ones.
pub struct Rules<Resp> {
    /// What a request is called in errors.
    pub what: &'static str,
    /// The protocol's short name, for counters (`sync`, `join`, `mailbox`).
    pub kind: &'static str,
    /// Largest request frame.
    pub max_request: usize,
    /// The answer to a request that could not be read.
    pub refuse: fn(String) -> Resp,
}

// By hand: the derive would demand `Resp: Copy`, which the fields do not need.
impl<Resp> Clone for Rules<Resp> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Resp> Copy for Rules<Resp> {}

/// How many requests of one protocol wait for the event loop; more wait in their streams.
const WAITING: usize = 16;

/// Most streams of one protocol served at once, from everyone.
pub const MAX_STREAMS: usize = 64;

/// Most streams of one protocol served at once for one peer.
pub const MAX_STREAMS_PER_PEER: usize = 4;

/// Most requests of one protocol a node asks one peer at once: fewer than the streams the
/// peer serves one peer at once (the last of a finished exchange may not be given back
/// there yet when the next opens), so none is refused for that cap.
pub const MAX_ASKS_PER_PEER: usize = MAX_STREAMS_PER_PEER - 1;

/// Who a server reads requests from, before it reads a byte of them: `None` for anyone
/// (a joiner is no member yet), or the peers a door lets in.
pub type Who = Option<Door>;

/// The answering side of one protocol: accepts its streams and queues their requests for
/// the event loop, which reads them from [`Server::requests`].
pub struct Server<Req, Resp> {
    /// Requests for the loop to answer.
    pub requests: mpsc::Receiver<Asked<Req, Resp>>,
    incoming: Option<(IncomingStreams, mpsc::Sender<Asked<Req, Resp>>)>,
    rules: Rules<Resp>,
    who: Who,
    tally: Tally,
}

impl<Req, Resp> Server<Req, Resp>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
{
    /// Registers `protocol` on `control`, for the peers `who` lets in, counting refused
    /// streams in `tally`; nothing is served until [`Server::start`].
    pub fn new(
        control: &mut Control,
        protocol: StreamProtocol,
        rules: Rules<Resp>,
        who: Who,
        tally: Tally,
    ) -> Result<Self, libp2p_stream::AlreadyRegistered> {
        let incoming = control.accept(protocol)?;
        let (tx, requests) = mpsc::channel(WAITING);
        Ok(Server {
            requests,
            incoming: Some((incoming, tx)),
            rules,
            who,
            tally,
        })
    }

    /// Starts serving (on the runtime; call it once the loop runs).
    pub fn start(&mut self, tasks: &Spawner) {
        if let Some((incoming, tx)) = self.incoming.take() {
            let gate = Gate {
                who: self.who.clone(),
                tally: self.tally.clone(),
                open: Arc::default(),
                waiting: Arc::default(),
            };
            tasks.spawn(
                self.rules.kind,
                accept(incoming, tx, self.rules, gate, tasks.clone()),
            );
        }
    }
}

/// What a server lets in: whom, and how many streams at once.
#[derive(Clone)]
struct Gate {
    who: Who,
    tally: Tally,
    /// Streams being served, per peer.
    open: Arc<Mutex<HashMap<PeerId, usize>>>,
    /// Peers with a stream waiting for their admission.
    waiting: Arc<Mutex<HashSet<PeerId>>>,
}

/// A peer's place among those waiting for their admission; given back when dropped.
struct Waiting {
    peer: PeerId,
    waiting: Arc<Mutex<HashSet<PeerId>>>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.remove(&self.peer);
        }
    }
}

/// A stream's place among those served; given back when dropped.
struct Slot {
    peer: PeerId,
    open: Arc<Mutex<HashMap<PeerId, usize>>>,
}

impl Gate {
    /// Whether the door lets `peer` in now (uncounted).
    fn lets_in(&self, peer: &PeerId) -> bool {
        self.who.as_ref().is_none_or(|door| door.admits(peer))
    }

    /// A place to wait for `peer`'s admission, unless one of its streams waits already or
    /// [`MAX_WAITING`] do.
    fn wait(&self, peer: PeerId) -> Option<Waiting> {
        let mut waiting = self.waiting.lock().ok()?;
        if waiting.len() >= MAX_WAITING || !waiting.insert(peer) {
            return None;
        }
        Some(Waiting {
            peer,
            waiting: self.waiting.clone(),
        })
    }

    /// Whether `peer` is let in within [`ADMISSION_WAIT`].
    async fn admitted(&self, peer: &PeerId) -> bool {
        match &self.who {
            None => true,
            Some(door) => door.admits_within(peer, ADMISSION_WAIT).await,
        }
    }

    /// A slot for a stream from `peer`, or why not (counted).
    fn admit(&self, peer: PeerId, what: &str) -> Option<Slot> {
        if let Some(door) = &self.who
            && !door.check(what, &peer)
        {
            self.tally.add_kind(what, &format!("{what}_not_member"));
            tracing::info!(
                peer = %crate::core::short(&peer),
                "refused input from peer: a {what} stream from a non-member"
            );
            return None;
        }
        let mut open = self.open.lock().ok()?;
        let total: usize = open.values().sum();
        let mine = open.get(&peer).copied().unwrap_or(0);
        if total >= MAX_STREAMS || mine >= MAX_STREAMS_PER_PEER {
            self.tally.add_kind(what, &format!("{what}_stream_cap"));
            return None;
        }
        *open.entry(peer).or_default() += 1;
        Some(Slot {
            peer,
            open: self.open.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock()
            && let Some(n) = open.get_mut(&self.peer)
        {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.peer);
            }
        }
    }
}

/// Serves inbound streams until the node stops: one task per stream, within the gate's
/// caps; a stream past them, or from a peer the gate does not let in (after waiting for its
/// admission, when there was room to), is dropped unread.
async fn accept<Req, Resp>(
    mut incoming: IncomingStreams,
    requests: mpsc::Sender<Asked<Req, Resp>>,
    rules: Rules<Resp>,
    gate: Gate,
    tasks: Spawner,
) where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
{
    while let Some((peer, stream)) = incoming.next().await {
        let waiting = if gate.lets_in(&peer) {
            None
        } else {
            gate.wait(peer)
        };
        let Some(waiting) = waiting else {
            if let Some(slot) = gate.admit(peer, rules.kind) {
                tasks.spawn(
                    rules.kind,
                    serve(peer, stream, requests.clone(), rules, slot),
                );
            }
            continue;
        };
        let (gate, requests) = (gate.clone(), requests.clone());
        tasks.spawn(rules.kind, async move {
            gate.admitted(&peer).await;
            drop(waiting);
            if let Some(slot) = gate.admit(peer, rules.kind) {
                serve(peer, stream, requests, rules, slot).await;
            }
        });
    }
}

async fn serve<Req, Resp>(
    peer: PeerId,
    mut stream: Stream,
    requests: mpsc::Sender<Asked<Req, Resp>>,
    rules: Rules<Resp>,
    _slot: Slot,
) where
    Req: DeserializeOwned,
    Resp: Serialize,
{
    let read = read_frame(&mut stream, rules.what, rules.max_request);
    // The frame's bytes go as soon as they are decoded: only the request waits for its
    // answer (a deposit's, after a flush).
    let read = async { read.await.map(|r| r.map(|body| from_cbor::<Req>(&body))) };
    let response = match tokio::time::timeout(TIMEOUT, read).await {
        Ok(Ok(Ok(decoded))) => match decoded {
            Ok(request) => {
                let (reply, answer) = oneshot::channel();
                let asked = Asked {
                    peer,
                    request,
                    reply,
                };
                if requests.send(asked).await.is_err() {
                    return;
                }
                match answer.await {
                    Ok(response) => response,
                    Err(_) => return,
                }
            }
            Err(e) => (rules.refuse)(format!("malformed {}: {e}", rules.what)),
        },
        Ok(Ok(Err(refused))) => (rules.refuse)(refused.to_string()),
        Ok(Err(_)) | Err(_) => return,
    };
    if let Ok(body) = to_cbor(&response) {
        let _ = write_frame(&mut stream, &body).await;
    }
    let _ = stream.close().await;
}

/// Times a request is sent in all when the peer's stream ends before its answer came.
/// libp2p-stream hands a protocol's inbound streams to its server through a channel with
/// room for one, and drops a stream that comes while the last is not yet taken, unread:
/// two requests that arrive together (from one peer or from several) can lose one, and on
/// a busy machine they do (the offline bench lost one to five of its deposits so, and each
/// paused its depositor's deposits for 5 s). Every exchange is safe to ask again: a sync
/// only reads, a mailbox holds a box once by its id, an issuer answers a key it admitted
/// already with the log again.
const ATTEMPTS: u32 = 3;

/// The pause before the next attempt, times the attempts made: room for the peer's server
/// to take what it was handed.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// Sends `request` to `peer` on `protocol` and reads the answer (at most `max_response`
/// bytes), within the timeout; again, up to three times in all, when the stream ended
/// before the answer (a peer's libp2p-stream may drop it unread).
pub async fn ask<Req, Resp>(
    mut control: Control,
    peer: PeerId,
    protocol: StreamProtocol,
    request: &Req,
    max_response: usize,
) -> Result<Resp, String>
where
    Req: Serialize,
    Resp: DeserializeOwned,
{
    let body = to_cbor(request).map_err(|e| e.to_string())?;
    let exchange = async {
        let mut attempt = 1;
        loop {
            match once(&mut control, peer, &protocol, &body, max_response).await {
                Err(Unanswered::HungUp(e)) if attempt < ATTEMPTS => {
                    tracing::debug!(%peer, %protocol, error = %e, "a stream ended before its answer; asking again");
                    tokio::time::sleep(RETRY_PAUSE * attempt).await;
                    attempt += 1;
                }
                Err(Unanswered::HungUp(e)) => return Err(format!("the peer hung up: {e}")),
                Err(Unanswered::Failed(e)) => return Err(e),
                Ok(body) => return from_cbor::<Resp>(&body).map_err(|e| e.to_string()),
            }
        }
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
}

/// Why one attempt of [`ask`] brought no answer.
enum Unanswered {
    /// The stream ended or broke before the whole answer came.
    HungUp(std::io::Error),
    /// No stream, or the peer refused: final.
    Failed(String),
}

/// One attempt of [`ask`]: a stream, the request, the answer's bytes.
async fn once(
    control: &mut Control,
    peer: PeerId,
    protocol: &StreamProtocol,
    body: &[u8],
    max_response: usize,
) -> Result<Vec<u8>, Unanswered> {
    let mut stream = control
        .open_stream(peer, protocol.clone())
        .await
        .map_err(|e| Unanswered::Failed(e.to_string()))?;
    write_frame(&mut stream, body)
        .await
        .map_err(Unanswered::HungUp)?;
    let answer = match read_frame(&mut stream, "response", max_response).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(refused)) => return Err(Unanswered::Failed(refused.to_string())),
        Err(e) => return Err(Unanswered::HungUp(e)),
    };
    let _ = stream.read_to_end(&mut Vec::new()).await;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::swarm::SwarmEvent;
    use libp2p::{Multiaddr, Swarm, noise, tcp, yamux};

    const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft-test/ask/1");

    fn swarm() -> Swarm<libp2p_stream::Behaviour> {
        libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|_| libp2p_stream::Behaviour::new())
            .unwrap()
            .build()
    }

    /// A swarm listening on loopback, driven in a task: its control, id and address.
    async fn listening() -> (Control, PeerId, Multiaddr) {
        let mut swarm = swarm();
        swarm
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .unwrap();
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        let (control, peer) = (swarm.behaviour().new_control(), *swarm.local_peer_id());
        tokio::spawn(async move { while swarm.next().await.is_some() {} });
        (control, peer, addr)
    }

    #[tokio::test]
    async fn a_request_whose_stream_was_dropped_unread_is_sent_again() {
        let (mut server, server_id, addr) = listening().await;
        let mut incoming = server.accept(PROTOCOL).unwrap();
        tokio::spawn(async move {
            // As libp2p-stream drops a stream its server had no room for: unread.
            let (_, first) = incoming.next().await.unwrap();
            drop(first);
            let (_, mut second) = incoming.next().await.unwrap();
            let body = read_frame(&mut second, "request", 64)
                .await
                .unwrap()
                .unwrap();
            let n: u32 = from_cbor(&body).unwrap();
            write_frame(&mut second, &to_cbor(&(n + 1)).unwrap())
                .await
                .unwrap();
            let _ = second.close().await;
        });
        let mut client = swarm();
        let control = client.behaviour().new_control();
        client.dial(addr).unwrap();
        while !matches!(
            client.select_next_some().await,
            SwarmEvent::ConnectionEstablished { .. }
        ) {}
        tokio::spawn(async move { while client.next().await.is_some() {} });
        let answer: u32 = ask(control, server_id, PROTOCOL, &41u32, 64).await.unwrap();
        assert_eq!(answer, 42);
    }
}
