//! The simulated shell: what the event loop does with a core's outputs, done in memory over
//! the simulated network. Connections come up when a dial reaches a node that lets it in;
//! gossip floods members' connections, each hop judged by its node before it forwards;
//! `/weft/dm/1` sessions carry messages and acknowledgements; requests pass their doors
//! (sync for members and members just removed, mailbox for members, join for anyone; one
//! from anyone else waits a while for its asker's admission) and time out; a batch of writes is applied to the node's store when its flush ends.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use libp2p::PeerId;
use weft_keys::Identity;
use weft_keys::seal::{SealKey, seal_with_entropy};
use weft_proto::dm::{DirectMessage, DmAck};
use weft_proto::join::{JoinRequest, JoinResponse};
use weft_proto::mailbox::{Boxed, MailboxRequest, MailboxResponse, Op};
use weft_proto::mesh::MeshId;
use weft_proto::sync::SyncResponse;

use super::{Due, EXCHANGE_TIMEOUT_MS, Sim, address};
use crate::core::doors::{ADMISSION_WAIT, MAX_WAITING};
use crate::network::exchange::{MAX_ASKS_PER_PEER, MAX_STREAMS_PER_PEER};
use weft_proto::service::{Call, ProviderFrame};

use super::calls::Handler;
use super::pulls::Worker;
use crate::core::io::{
    Answer, Ask, AskId, AskedId, Gossip, HandlerId, Input, Output, Request, Response, Sent,
    SessionId, Synced, Verdict, WorkerId, seal_all, with_unsent,
};
use crate::core::peers::Path;
use crate::store::journal;
use crate::store::outbox::Outgoing;
use weft_proto::queue::{ProducerFrame, WorkerFrame};

/// What travels between nodes.
#[derive(Debug)]
pub(super) enum Frame {
    /// A dial arriving.
    Connect,
    /// A gossip message, as gossipsub carries it.
    Gossip {
        topic: String,
        source: PeerId,
        data: Vec<u8>,
        id: Vec<u8>,
    },
    /// A sync or mailbox request.
    Request {
        id: AskId,
        request: Request,
    },
    /// Its answer, or why there is none.
    Response {
        id: AskId,
        response: Result<Response, String>,
    },
    /// A join request, and its answer.
    Join(JoinRequest),
    Joined(JoinResponse),
    /// A direct message on a session, and its acknowledgement.
    Direct {
        session: SessionId,
        message: DirectMessage,
    },
    Ack {
        session: SessionId,
        ack: DmAck,
    },
    /// A service call on the caller's session, and a provider's frame back on it.
    ServiceCall {
        session: SessionId,
        call: Call,
    },
    ToCaller {
        session: SessionId,
        frame: ProviderFrame,
    },
    /// A worker's frame on its session to a producer, and a producer's frame back on it.
    ToProducer {
        session: SessionId,
        frame: WorkerFrame,
    },
    ToWorker {
        session: SessionId,
        frame: ProducerFrame,
    },
}

impl Frame {
    /// Its size on the wire: the CBOR body the real protocol would carry.
    pub(super) fn bytes(&self) -> usize {
        use weft_proto::codec::to_cbor;
        let encoded = match self {
            Frame::Connect => return 0,
            Frame::Gossip { data, .. } => return data.len(),
            Frame::Request { request, .. } => match request {
                Request::Join(r) => to_cbor(r),
                Request::Sync(r) => to_cbor(r),
                Request::Mailbox(r) => to_cbor(r),
            },
            Frame::Response { response, .. } => match response {
                Ok(Response::Join(r)) => to_cbor(r),
                Ok(Response::Sync(r)) => to_cbor(r),
                Ok(Response::Mailbox(r)) => to_cbor(r),
                Err(_) => return 0,
            },
            Frame::Join(r) => to_cbor(r),
            Frame::Joined(r) => to_cbor(r),
            Frame::Direct { message, .. } => return message.encode().map_or(0, |b| b.len()),
            Frame::ServiceCall { call, .. } => return call.encode().map_or(0, |b| b.len()),
            Frame::ToCaller { frame, .. } => return frame.encode().map_or(0, |b| b.len()),
            Frame::ToProducer { frame, .. } => return frame.encode().map_or(0, |b| b.len()),
            Frame::ToWorker { frame, .. } => return frame.encode().map_or(0, |b| b.len()),
            Frame::Ack { ack, .. } => return ack.encode().map_or(0, |b| b.len()),
        };
        encoded.map_or(0, |b| b.len())
    }
}

/// One node's shell state: gone with a crash.
#[derive(Default)]
pub(super) struct Shell {
    /// The gossipsub topics it subscribes to.
    subscribed: BTreeSet<String>,
    /// Gossip ids seen (gossipsub's duplicate cache).
    seen: HashSet<Vec<u8>>,
    /// Gossip waiting for the core's verdict: its topic, source and payload.
    judging: HashMap<Vec<u8>, (String, PeerId, Vec<u8>)>,
    /// Who the doors let in: members, and for sync also members just removed.
    members: BTreeSet<PeerId>,
    sync_door: BTreeSet<PeerId>,
    /// The block list.
    pub(super) walled: BTreeSet<PeerId>,
    /// Dials under way.
    pub(super) dialling: BTreeSet<PeerId>,
    /// Requests from peers the doors do not let in (yet), waiting for their admission: one
    /// per peer and protocol (sync or not), as the exchange's gates have it.
    waiting: BTreeMap<(PeerId, bool), (usize, AskId, Request)>,
    /// Where each answer to a peer's request goes: the asker and its request.
    replies: HashMap<AskedId, (usize, AskId)>,
    last_asked: u64,
    /// This node's requests under way.
    pub(super) asks: BTreeSet<AskId>,
    /// Of this node's deposits under way, what became of each sealing.
    sent: HashMap<AskId, Sent>,
    /// This node's mailbox requests talking, by peer (at most `MAX_ASKS_PER_PEER` each, as
    /// the event loop's permits have it), which peer each is with, and those waiting for
    /// their turn.
    talking: HashMap<usize, usize>,
    talking_with: HashMap<AskId, usize>,
    turns: BTreeMap<usize, VecDeque<(AskId, Request)>>,
    /// The mailbox requests this node is serving, by asker (at most
    /// `MAX_STREAMS_PER_PEER` each, as the exchange's gate has it), and whose each is.
    serving: HashMap<usize, usize>,
    serving_for: HashMap<AskedId, usize>,
    /// The session carrying messages to each peer, and the sessions from peers.
    outbound: BTreeMap<usize, SessionId>,
    inbound: BTreeMap<SessionId, usize>,
    pub(super) last_session: SessionId,
    /// The batch being flushed.
    batch: Option<Vec<crate::store::write::Write>>,
    /// Its service sessions: the one to each provider, the callers' to it.
    pub(super) service_out: BTreeMap<usize, SessionId>,
    pub(super) service_in: BTreeMap<SessionId, usize>,
    /// Its local handlers: how long each takes, and whether it fails.
    pub(super) handlers: BTreeMap<HandlerId, Handler>,
    /// Its queue sessions: the one to each producer, the workers' to it.
    pub(super) queue_out: BTreeMap<usize, ProducerSession>,
    pub(super) queue_in: BTreeMap<SessionId, usize>,
    /// Its local workers.
    pub(super) workers: BTreeMap<WorkerId, Worker>,
    /// The mesh it is joining, and what its join was answered.
    pub(super) mesh: Option<MeshId>,
    pub(super) joined: Option<Result<(), weft_proto::join::Refusal>>,
}

/// A worker's session to a producer, as the worker's node sees it.
#[derive(Clone, Copy, Debug)]
pub(super) struct ProducerSession {
    /// The session.
    pub(super) id: SessionId,
    /// Which of the pair's connections carries it (as [`Sim::established`] counts them).
    pub(super) connection: u32,
    /// Whether the node found it ended (a write on it fails) and has not heard of it yet.
    pub(super) ended: bool,
}

impl Shell {
    /// A session id for a new outbound session of `node`, unique among every node's (as
    /// the session ids a real acceptor hands out are among its inbound sessions).
    pub(super) fn new_session(&mut self, node: usize) -> SessionId {
        self.last_session += 1;
        ((node as u64 + 1) << 40) | self.last_session
    }

    /// Whether the members' door lets `peer` in.
    pub(super) fn admits(&self, peer: &PeerId) -> bool {
        self.members.contains(peer)
    }

    /// Whether `request`'s door lets `peer` in.
    fn lets_in(&self, peer: &PeerId, request: &Request) -> bool {
        match request {
            Request::Join(_) => true,
            Request::Sync(_) => self.sync_door.contains(peer),
            Request::Mailbox(_) => self.members.contains(peer),
        }
    }

    /// The connection to node `other` dropped: every session with it ends. True when this
    /// node had a session carrying messages to it.
    pub(super) fn sessions_end(&mut self, other: usize) -> bool {
        self.inbound.retain(|_, from| *from != other);
        self.outbound.remove(&other).is_some()
    }

    /// The connection to node `other` dropped: every service session with it ends. True
    /// when this node had calls' session to it.
    pub(super) fn service_sessions_end(&mut self, other: usize) -> bool {
        self.service_in.retain(|_, from| *from != other);
        self.service_out.remove(&other).is_some()
    }

    /// The connection to node `other` dropped: the workers' sessions from it end; which.
    pub(super) fn workers_gone(&mut self, other: usize) -> Vec<SessionId> {
        let gone: Vec<SessionId> = self
            .queue_in
            .iter()
            .filter(|(_, from)| **from == other)
            .map(|(session, _)| *session)
            .collect();
        for session in &gone {
            self.queue_in.remove(session);
        }
        gone
    }
}

impl Sim {
    /// Hands `node`'s core node `from`'s request `id`, past its door.
    fn asked(&mut self, node: usize, from: usize, id: AskId, request: Request) {
        let peer = self.nodes[from].peer;
        let shell = &mut self.nodes[node].shell;
        shell.last_asked += 1;
        let asked = AskedId(shell.last_asked);
        shell.replies.insert(asked, (from, id));
        if let Request::Mailbox(_) = request {
            *shell.serving.entry(from).or_default() += 1;
            shell.serving_for.insert(asked, from);
        }
        let input = Input::Asked {
            id: asked,
            peer,
            request,
        };
        self.input(node, input);
    }

    /// Refuses node `from`'s request `id` at `node`'s door, counted: dropped unread, so the
    /// asker sees the stream close.
    fn refuse_request(&mut self, node: usize, from: usize, id: AskId, request: &Request) {
        let kind = match request {
            Request::Sync(_) => "sync",
            _ => "mailbox",
        };
        let refused = &mut self.nodes[node].app.refused;
        let reason = format!("{kind}_not_member");
        *refused.entry((kind.to_string(), reason)).or_default() += 1;
        let response = Err("the stream was refused".to_string());
        self.send(node, from, Frame::Response { id, response });
    }

    /// The wait of `peer`'s request (a sync, or not) at `node` for its admission is over:
    /// refused, unless it was let in meanwhile.
    pub(super) fn admission_waited(&mut self, node: usize, peer: PeerId, sync: bool, epoch: u64) {
        if self.nodes[node].epoch != epoch {
            return;
        }
        if let Some((from, id, request)) = self.nodes[node].shell.waiting.remove(&(peer, sync)) {
            self.refuse_request(node, from, id, &request);
        }
    }

    /// Serves node `from`'s request `id` at `node`, past its door: handed to the core, unless
    /// `node` serves `from` as many mailbox requests as it serves one peer at once (then
    /// dropped unread, counted).
    fn serve_request(&mut self, node: usize, from: usize, id: AskId, request: Request) {
        let serving = self.nodes[node].shell.serving.get(&from).copied();
        if let Request::Mailbox(_) = request
            && serving.unwrap_or(0) >= MAX_STREAMS_PER_PEER
        {
            let refused = &mut self.nodes[node].app.refused;
            let key = ("mailbox".to_string(), "mailbox_stream_cap".to_string());
            *refused.entry(key).or_default() += 1;
            let response = Err("the stream was refused".to_string());
            self.send(node, from, Frame::Response { id, response });
            return;
        }
        self.asked(node, from, id, request);
    }

    /// Carries out everything `node`'s core decided, and starts its next flush when none
    /// runs.
    pub(super) fn carry_out(&mut self, node: usize) {
        while let Some(output) = self.nodes[node].core.as_mut().and_then(|c| c.poll()) {
            self.output(node, output);
        }
        let n = &mut self.nodes[node];
        if n.shell.batch.is_none()
            && let Some(batch) = n.core.as_mut().and_then(|c| c.batch())
        {
            n.shell.batch = Some(batch);
            let (epoch, at) = (n.epoch, self.ms + self.rng.range(1, 4));
            self.at(at, Due::Flushed { node, epoch });
        }
    }

    /// `node`'s batch is applied and flushed.
    pub(super) fn flushed(&mut self, node: usize, epoch: u64) {
        let n = &mut self.nodes[node];
        if n.epoch != epoch {
            return;
        }
        let Some(batch) = n.shell.batch.take() else {
            return;
        };
        // What a node applies after a crash is the batch as its journal holds it: every
        // write the simulated nodes make must come back from that encoding as it went in.
        let journaled = journal::encode(&batch).and_then(|body| journal::decode(&body));
        let journaled = journaled.expect("a batch comes back from the journal's encoding");
        assert_eq!(format!("{journaled:?}"), format!("{batch:?}"));
        let applied = n.store.apply(&journaled).map_err(|e| e.to_string());
        self.input(node, Input::Flushed(applied));
    }

    /// Dials `peer` from `node`, unless connected or dialling: the dial reaches it after a
    /// latency, or fails.
    pub(super) fn dial(&mut self, node: usize, peer: PeerId) {
        let target = self.index.get(&peer).copied();
        if self.nodes[node].shell.dialling.contains(&peer)
            || target.is_some_and(|t| self.is_connected(node, t))
        {
            return;
        }
        let (latency, epoch) = (self.latency(), self.nodes[node].epoch);
        match target.filter(|&t| self.reachable(node, t)) {
            Some(to) => {
                self.nodes[node].shell.dialling.insert(peer);
                let frame = Box::new(Frame::Connect);
                self.at(
                    self.ms + latency,
                    Due::Arrive {
                        from: node,
                        to,
                        frame,
                    },
                );
            }
            None => self.at(self.ms + latency, Due::DialFailed { node, peer, epoch }),
        }
    }

    /// A connection between `a` and `b` came up; `a` dialled.
    fn connect(&mut self, a: usize, b: usize) {
        let pair = (a.min(b), a.max(b));
        self.connections.insert(pair);
        *self.established.entry(pair).or_default() += 1;
        for (me, other, outbound) in [(b, a, false), (a, b, true)] {
            let path = Path {
                addr: address(other),
                outbound,
                relayed: false,
            };
            let peer = self.nodes[other].peer;
            self.input(me, Input::Connected { peer, path });
        }
    }

    pub(super) fn output(&mut self, node: usize, output: Output) {
        let index = |sim: &Sim, peer: &PeerId| sim.index.get(peer).copied();
        match output {
            Output::Dial { peer, .. } => self.dial(node, peer),
            Output::Disconnect(peer) => {
                if let Some(other) = index(self, &peer) {
                    self.close(node, other);
                }
            }
            Output::Wall(peer) => {
                self.nodes[node].shell.walled.insert(peer);
                if let Some(other) = index(self, &peer) {
                    self.close(node, other);
                }
            }
            Output::Addresses { .. } | Output::Prologue(_) => {}
            Output::Released { ticket, ok } => {
                let n = &mut self.nodes[node];
                if ok {
                    n.app.released.insert((n.epoch, ticket));
                }
            }
            Output::Subscribe(topic) => {
                self.nodes[node].shell.subscribed.insert(topic);
            }
            Output::Unsubscribe(topic) => {
                self.nodes[node].shell.subscribed.remove(&topic);
            }
            Output::Publish { topic, data } => {
                let source = self.nodes[node].peer;
                let id = gossip_id(&source, &topic, &data);
                self.nodes[node].shell.seen.insert(id.clone());
                self.gossip(node, None, topic, source, data, id);
            }
            Output::Verdict { id, via, verdict } => {
                let judged = self.nodes[node].shell.judging.remove(&id);
                if let (Verdict::Accept, Some((topic, source, data))) = (verdict, judged) {
                    let via = index(self, &via);
                    self.gossip(node, via, topic, source, data, id);
                }
            }
            Output::Doors { members, leaving } => {
                let shell = &mut self.nodes[node].shell;
                shell.sync_door = members.iter().chain(&leaving).copied().collect();
                shell.members = members.into_iter().collect();
                let admitted: Vec<(PeerId, bool)> = shell
                    .waiting
                    .iter()
                    .filter(|((peer, _), (_, _, request))| shell.lets_in(peer, request))
                    .map(|(key, _)| *key)
                    .collect();
                for key in admitted {
                    if let Some((from, id, request)) = self.nodes[node].shell.waiting.remove(&key) {
                        self.serve_request(node, from, id, request);
                    }
                }
            }
            Output::Send { peer, message } => self.send_direct(node, peer, message),
            Output::Ack { session, ack } => {
                if let Some(&to) = self.nodes[node].shell.inbound.get(&session) {
                    self.send(node, to, Frame::Ack { session, ack });
                }
            }
            Output::Retire(peer) => {
                if let Some(other) = index(self, &peer)
                    && self.nodes[node].shell.outbound.remove(&other).is_some()
                {
                    self.input(node, Input::SessionLost { peer });
                }
            }
            Output::Answer { id, response } => self.answer(node, id, Ok(response)),
            Output::AnswerSync {
                id,
                mut response,
                wanted,
            } => {
                let read = self.nodes[node].store.topics_log.wanted(&wanted);
                let (mut logged, more_logged) = read.expect("the topic log");
                if self.nodes[node].alters_catch_up {
                    for l in &mut logged {
                        l.message.text = format!("altered: {}", l.message.text);
                    }
                }
                if let SyncResponse::Ops { messages, more, .. } = &mut response {
                    *messages = logged;
                    *more |= more_logged;
                }
                self.answer(node, id, Ok(Response::Sync(response)));
            }
            Output::AnswerFetch { id, boxes, more } => {
                let items = self.nodes[node].store.mailbox.sealed(&boxes);
                let items = items.expect("the mailbox");
                let response = MailboxResponse::Items { items, more };
                self.answer(node, id, Ok(Response::Mailbox(response)));
            }
            Output::Ask { id, peer, ask } => {
                let request = match ask {
                    Ask::Sync(request) => Request::Sync(*request),
                    Ask::Mailbox(op) => Request::Mailbox(mailbox_request(op)),
                };
                self.ask(node, id, peer, request);
            }
            Output::Deposit { id, peer, sealings } => {
                let n = &self.nodes[node];
                let key = SealKey::of(&Identity::from_secret(&n.secret));
                let (outbox, rng) = (&self.nodes[node].store.outbox, &mut self.rng);
                let sealed = seal_all(
                    sealings,
                    |outgoing| outbox.message(outgoing),
                    |card, mesh, plain| seal_with_entropy(&key, card, mesh, plain, rng.bytes()),
                );
                match sealed {
                    Some((boxes, sent)) => {
                        self.nodes[node].shell.sent.insert(id, sent);
                        let op = Op::Deposit { boxes };
                        self.ask(node, id, peer, Request::Mailbox(mailbox_request(op)));
                    }
                    None => self.answered(node, id, Err("nothing left to deposit".into())),
                }
            }
            Output::Forward { id, peer, held } => {
                let items = self.nodes[node].store.mailbox.sealed(&[held]);
                match items.expect("the mailbox").into_iter().next() {
                    Some(item) => {
                        let boxed = Boxed {
                            to: held.to,
                            expires: held.expires,
                            sealed: item.sealed,
                        };
                        let op = Op::Deposit { boxes: vec![boxed] };
                        self.ask(node, id, peer, Request::Mailbox(mailbox_request(op)));
                    }
                    None => self.answered(node, id, Err("the box is gone".into())),
                }
            }
            Output::CallOut { peer, call } => self.call_out(node, peer, call),
            Output::ToCaller { session, frame } => self.answer_caller(node, session, frame),
            Output::Alive(frame) => {
                let sessions: Vec<SessionId> =
                    self.nodes[node].shell.service_in.keys().copied().collect();
                for session in sessions {
                    self.answer_caller(node, session, frame.clone());
                }
            }
            Output::Serve {
                handler,
                serve,
                body,
                ..
            } => self.serve(node, handler, serve, body),
            Output::OpenToProducer { peer } => self.open_to_producer(node, peer),
            Output::ToProducer { peer, frame } => self.send_to_producer(node, peer, frame),
            Output::ToWorker { session, frame } => self.send_to_worker(node, session, frame),
            Output::Deliver {
                session,
                queue,
                lease,
            } => self.deliver(node, session, queue, lease),
            Output::Work {
                worker,
                run,
                lease,
                body,
            } => self.run_item(node, worker, run, lease, body),
            Output::Called { id, end } => self.nodes[node].app.called.push((id, end, self.ms)),
            Output::Event(event) => {
                if let weft_proto::api::Event::Message(message) = event {
                    self.nodes[node].app.shown.push(message);
                }
            }
            Output::Delivery { id, delivery } => {
                self.nodes[node].app.deliveries.push((id, delivery));
            }
            Output::Observed(_) => {}
            Output::Refused { kind, reason } => {
                let refused = &mut self.nodes[node].app.refused;
                *refused.entry((kind.to_string(), reason)).or_default() += 1;
            }
        }
    }

    /// Hands gossip on from `node` to its members' connections subscribed to `topic`, but
    /// `except` (whence it came) and its source.
    fn gossip(
        &mut self,
        node: usize,
        except: Option<usize>,
        topic: String,
        source: PeerId,
        data: Vec<u8>,
        id: Vec<u8>,
    ) {
        let peers: Vec<usize> = self.connected_to(node).collect();
        for other in peers {
            let (me, them) = (&self.nodes[node], &self.nodes[other]);
            let members =
                me.shell.members.contains(&them.peer) && them.shell.members.contains(&me.peer);
            if Some(other) == except
                || them.peer == source
                || !members
                || !them.shell.subscribed.contains(&topic)
            {
                continue;
            }
            let frame = Frame::Gossip {
                topic: topic.clone(),
                source,
                data: data.clone(),
                id: id.clone(),
            };
            self.send(node, other, frame);
        }
    }

    /// Puts a direct message on `node`'s session to `peer`.
    fn send_direct(&mut self, node: usize, peer: PeerId, message: Outgoing) {
        let id = message.id();
        let target = self.index.get(&peer).copied();
        let Some(to) = target.filter(|&t| self.is_connected(node, t)) else {
            let error = Some("not connected".to_string());
            self.input(node, Input::Unsent { peer, id, error });
            return;
        };
        let message = match self.nodes[node].store.outbox.message(message) {
            Ok(Some(message)) => message,
            Ok(None) => {
                self.input(
                    node,
                    Input::Unsent {
                        peer,
                        id,
                        error: None,
                    },
                );
                return;
            }
            Err(e) => {
                let error = Some(e.to_string());
                self.input(node, Input::Unsent { peer, id, error });
                return;
            }
        };
        let shell = &mut self.nodes[node].shell;
        let session = match shell.outbound.get(&to) {
            Some(session) => *session,
            None => {
                shell.last_session += 1;
                shell.outbound.insert(to, shell.last_session);
                shell.last_session
            }
        };
        self.send(node, to, Frame::Direct { session, message });
    }

    /// Sends `request` from `node` to `peer`; the answer comes back within the timeout, or
    /// the timeout does.
    fn ask(&mut self, node: usize, id: AskId, peer: PeerId, request: Request) {
        let target = self.index.get(&peer).copied();
        let Some(to) = target.filter(|&t| self.is_connected(node, t)) else {
            self.answered(node, id, Err("not connected".into()));
            return;
        };
        let shell = &mut self.nodes[node].shell;
        if let Request::Mailbox(_) = request {
            let talking = shell.talking.entry(to).or_default();
            if *talking >= MAX_ASKS_PER_PEER {
                shell.turns.entry(to).or_default().push_back((id, request));
                return;
            }
            *talking += 1;
            shell.talking_with.insert(id, to);
        }
        self.nodes[node].shell.asks.insert(id);
        let epoch = self.nodes[node].epoch;
        self.at(
            self.ms + EXCHANGE_TIMEOUT_MS,
            Due::Timeout { node, id, epoch },
        );
        self.send(node, to, Frame::Request { id, request });
    }

    /// `node`'s request `id` ended as `answer` (a deposit's, with the boxes it could not
    /// seal refused).
    pub(super) fn answered(&mut self, node: usize, id: AskId, answer: Result<Answer, String>) {
        let shell = &mut self.nodes[node].shell;
        shell.asks.remove(&id);
        let answer = match (shell.sent.remove(&id), answer) {
            (Some(sent), Ok(Answer::Mailbox(response))) => {
                with_unsent(response, sent).map(Answer::Mailbox)
            }
            (_, answer) => answer,
        };
        // Its turn with the peer passes to the next waiting.
        let next = shell.talking_with.remove(&id).and_then(|to| {
            if let Some(talking) = shell.talking.get_mut(&to) {
                *talking -= 1;
            }
            Some((to, shell.turns.get_mut(&to)?.pop_front()?))
        });
        self.input(node, Input::Answered { id, answer });
        if let Some((to, (id, request))) = next {
            let peer = self.nodes[to].peer;
            self.ask(node, id, peer, request);
        }
    }

    /// `node` answers the request it knows as `id`.
    fn answer(&mut self, node: usize, id: AskedId, response: Result<Response, String>) {
        let shell = &mut self.nodes[node].shell;
        if let Some(asker) = shell.serving_for.remove(&id)
            && let Some(serving) = shell.serving.get_mut(&asker)
        {
            *serving -= 1;
        }
        if let Some((asker, ask)) = self.nodes[node].shell.replies.remove(&id) {
            let frame = match response {
                Ok(Response::Join(response)) => Frame::Joined(response),
                response => Frame::Response { id: ask, response },
            };
            self.send(node, asker, frame);
        }
    }

    /// `frame` from `from` reached `to`.
    pub(super) fn arrive(&mut self, from: usize, to: usize, frame: Frame) {
        let from_peer = self.nodes[from].peer;
        if let Frame::Connect = frame {
            let to_peer = self.nodes[to].peer;
            self.nodes[from].shell.dialling.remove(&to_peer);
            let walled = self.nodes[to].shell.walled.contains(&from_peer)
                || self.nodes[from].shell.walled.contains(&self.nodes[to].peer);
            if self.is_connected(from, to) {
                return;
            }
            if walled || !self.reachable(from, to) {
                let peer = self.nodes[to].peer;
                self.input(from, Input::DialFailed { peer });
                return;
            }
            self.connect(from, to);
            return;
        }
        // Everything else rides a connection: gone with it.
        if !self.is_connected(from, to) {
            return;
        }
        match frame {
            Frame::Connect => {}
            Frame::Gossip {
                topic,
                source,
                data,
                id,
            } => {
                let shell = &mut self.nodes[to].shell;
                if !shell.subscribed.contains(&topic) || !shell.seen.insert(id.clone()) {
                    return;
                }
                shell
                    .judging
                    .insert(id.clone(), (topic.clone(), source, data.clone()));
                let gossip = Gossip {
                    id,
                    via: from_peer,
                    source: Some(source),
                    topic,
                    data,
                };
                self.input(to, Input::Gossip(gossip));
            }
            Frame::Request { id, request } => {
                if self.nodes[to].shell.lets_in(&from_peer, &request) {
                    self.serve_request(to, from, id, request);
                    return;
                }
                // Unread, it waits a while for the asker's admission, as the exchange's gate
                // (one per protocol) has it, when there is room to.
                let sync = matches!(request, Request::Sync(_));
                let shell = &mut self.nodes[to].shell;
                let of_kind = shell.waiting.keys().filter(|(_, s)| *s == sync).count();
                if of_kind < MAX_WAITING && !shell.waiting.contains_key(&(from_peer, sync)) {
                    shell.waiting.insert((from_peer, sync), (from, id, request));
                    let wait = ADMISSION_WAIT.as_millis() as u64;
                    let (epoch, at) = (self.nodes[to].epoch, self.ms + wait);
                    let (node, peer) = (to, from_peer);
                    self.at(
                        at,
                        Due::AdmissionWait {
                            node,
                            peer,
                            sync,
                            epoch,
                        },
                    );
                } else {
                    self.refuse_request(to, from, id, &request);
                }
            }
            Frame::Response { id, response } => {
                if !self.nodes[to].shell.asks.contains(&id) {
                    return;
                }
                let answer = response.and_then(|r| match r {
                    Response::Sync(response) => {
                        let now = self.now().unix_us;
                        Synced::from_response(response, now, now).map(Answer::Sync)
                    }
                    Response::Mailbox(response) => Ok(Answer::Mailbox(response)),
                    Response::Join(_) => Err("a join answer to another request".into()),
                });
                self.answered(to, id, answer);
            }
            Frame::Join(request) => {
                let shell = &mut self.nodes[to].shell;
                shell.last_asked += 1;
                let asked = AskedId(shell.last_asked);
                // The join's answer goes back as `Joined`, not as a response.
                shell.replies.insert(asked, (from, AskId(0)));
                let request = Request::Join(request);
                self.input(
                    to,
                    Input::Asked {
                        id: asked,
                        peer: from_peer,
                        request,
                    },
                );
            }
            Frame::Joined(response) => self.joined(to, response),
            Frame::Direct { session, message } => {
                self.nodes[to].shell.inbound.insert(session, from);
                let input = Input::Direct {
                    peer: from_peer,
                    session,
                    message,
                };
                self.input(to, input);
            }
            Frame::ServiceCall { session, call } => self.service_call(from, to, session, call),
            Frame::ToCaller { session, frame } => {
                if self.nodes[to].shell.service_out.get(&from) == Some(&session) {
                    let peer = from_peer;
                    self.input(to, Input::ServiceFrame { peer, frame });
                }
            }
            Frame::ToProducer { session, frame } => self.producer_reached(from, to, session, frame),
            Frame::ToWorker { session, frame } => {
                let open = self.nodes[to].shell.queue_out.get(&from);
                if open.is_some_and(|out| out.id == session && !out.ended) {
                    let peer = from_peer;
                    self.input(to, Input::ProducerFrame { peer, frame });
                }
            }
            Frame::Ack { session, ack } => {
                if self.nodes[to].shell.outbound.get(&from) == Some(&session) {
                    self.input(
                        to,
                        Input::Acked {
                            peer: from_peer,
                            ack,
                        },
                    );
                }
            }
        }
    }

    /// The answer to `node`'s join: admitted, it adopts the log it was sent.
    fn joined(&mut self, node: usize, response: JoinResponse) {
        let shell = &mut self.nodes[node].shell;
        if shell.joined.is_some() {
            return;
        }
        match response {
            JoinResponse::Refused { reason } => shell.joined = Some(Err(reason)),
            JoinResponse::Accepted { ops, .. } => {
                let Some(mesh) = shell.mesh else {
                    return;
                };
                shell.joined = Some(Ok(()));
                let adopted = self.command(node, |core, now| core.adopt(mesh, ops, now));
                adopted.expect("the issuer's log admits the joiner");
                self.command(node, |core, _| core.subscribe(super::topic(), true))
                    .expect("a topic");
            }
        }
    }
}

/// A mailbox request of `op`.
pub(super) fn mailbox_request(op: Op) -> MailboxRequest {
    MailboxRequest {
        v: weft_proto::mailbox::MAILBOX_VERSION,
        op,
    }
}

/// Gossipsub's content-addressed id of a message (as `network::behaviour` computes it).
fn gossip_id(source: &PeerId, topic: &str, data: &[u8]) -> Vec<u8> {
    let mut hasher = blake3::Hasher::new_derive_key("weft/v1/gossip-id");
    hasher.update(&source.to_bytes());
    hasher.update(topic.as_bytes());
    hasher.update(data);
    hasher.finalize().as_bytes()[..20].to_vec()
}
