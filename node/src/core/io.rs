//! What crosses the core's boundary: the [`Input`]s the shell feeds it (what happened on the
//! network, on the disk, on the clock), the [`Output`]s it answers with (what to do there),
//! and the plain data both carry. Nothing here does anything: the shell (the event loop) or
//! the simulation carries an output out and feeds back what came of it.

use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use weft_keys::seal::SealError;
use weft_proto::MessageId;
use weft_proto::acl::SignedOp;
use weft_proto::api::Event;
use weft_proto::dm::{DirectMessage, DmAck};
use weft_proto::join::{JoinRequest, JoinResponse};
use weft_proto::mailbox::{Boxed, MailboxRequest, MailboxResponse, Op, Outcome, box_id};
use weft_proto::mesh::{MemberKey, MeshId};
use weft_proto::queue::{Lease, ProducerFrame, QueueName, WorkerFrame};
use weft_proto::seal::{Content, SEALED_VERSION, SealedMessage, SealingKey};
use weft_proto::service::{Call, CallId, ProviderFrame, Refusal, ServiceName};
use weft_proto::sync::{DirectoryMark, Link, Logged, PeerAddrs, SyncRequest, SyncResponse};

use super::peers::Path;
use super::topics::Wanted;
use crate::store::mailbox::BoxInfo;
use crate::store::outbox::Outgoing;
use crate::store::write::Applied;

/// The moment an input is handled: the monotonic clock, for timers, and wall time, for what
/// is stamped or compared with what peers say. The core reads no clock of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// The monotonic clock.
    pub at: Instant,
    /// Wall time, microseconds since the Unix epoch.
    pub unix_us: u64,
}

impl Now {
    /// Wall time in whole seconds since the Unix epoch.
    pub fn secs(&self) -> u64 {
        self.unix_us / 1_000_000
    }

    /// The same moment `by` later.
    pub fn after(&self, by: Duration) -> Now {
        Now {
            at: self.at + by,
            unix_us: self.unix_us + by.as_micros() as u64,
        }
    }
}

/// One `/weft/dm/1` stream, so that late news of a closed one is not mistaken for its
/// successor.
pub type SessionId = u64;

/// A request a peer asked this node; the shell holds where its answer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AskedId(pub u64);

/// A request this node asked a peer; the core remembers what it was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AskId(pub u64);

/// A local program serving a service (its connection to the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandlerId(pub u64);

/// One call handed to a local handler, for its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServeId(pub u64);

/// A local program working a queue (its connection to the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub u64);

/// One item handed to a local worker, for its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub u64);

/// A local caller's answer held until the writes before it are on disk; the shell holds
/// the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// What happened, for the core to decide on.
#[derive(Debug)]
pub enum Input {
    /// A connection to `peer` came up over `path` (its first, or another beside it).
    Connected {
        /// The peer.
        peer: PeerId,
        /// How the connection reaches it.
        path: Path<Multiaddr>,
    },
    /// The last connection to `peer` closed.
    Disconnected {
        /// The peer.
        peer: PeerId,
    },
    /// Gossip with member `peer` was told none of its topics at two checks in a row: it
    /// kept an old connection across this node's restart (libp2p/rust-libp2p#5097), and is
    /// heard again only on a new one.
    Deaf {
        /// The member.
        peer: PeerId,
    },
    /// A dial of `peer` failed, or could not start.
    DialFailed {
        /// The peer.
        peer: PeerId,
    },
    /// `peer`'s identify arrived (members only): where it listens, and whether it relays.
    Identified {
        /// The peer.
        peer: PeerId,
        /// Its listen addresses, as it says.
        addrs: Vec<Multiaddr>,
        /// Whether it offers circuit relay v2.
        relays: bool,
    },
    /// Ping measured the round trip to `peer`.
    Measured {
        /// The peer.
        peer: PeerId,
        /// The round-trip time.
        rtt: Duration,
    },
    /// A listener is bound to this address now.
    Listening(Multiaddr),
    /// A listener is bound to this address no more.
    NotListening(Multiaddr),
    /// Peers announced themselves on the local network (mDNS): anyone can say anything.
    Discovered(Vec<(PeerId, Multiaddr)>),
    /// A gossip message to validate before gossipsub may forward it.
    Gossip(Gossip),
    /// A direct message arrived on inbound session `session`.
    Direct {
        /// The sender, as authenticated by the connection.
        peer: PeerId,
        /// The session its acknowledgement goes to.
        session: SessionId,
        /// The message (its id and sender are checked by the core).
        message: DirectMessage,
    },
    /// `peer` acknowledged a message on this node's session to it.
    Acked {
        /// The recipient.
        peer: PeerId,
        /// Its answer.
        ack: DmAck,
    },
    /// The session to `peer` ended: what was on it is to be retried.
    SessionLost {
        /// The recipient.
        peer: PeerId,
    },
    /// Outbox message `id` could not be put on the wire to `peer`: it left the outbox
    /// meanwhile (`error` is `None`), could not be read, or its session was gone.
    Unsent {
        /// The recipient.
        peer: PeerId,
        /// The message.
        id: MessageId,
        /// Why, if it is still in the outbox.
        error: Option<String>,
    },
    /// `peer` asked this node something; the core answers with [`Output::Answer`] (or one
    /// of its variants), now or once the writes before it are on disk.
    Asked {
        /// Where the answer goes.
        id: AskedId,
        /// The authenticated peer asking.
        peer: PeerId,
        /// What it asks.
        request: Request,
    },
    /// What a peer answered to [`Output::Ask`] or [`Output::Deposit`], or why there is no
    /// answer.
    Answered {
        /// The request.
        id: AskId,
        /// The answer.
        answer: Result<Answer, String>,
    },
    /// A call arrived on inbound `/weft/service/1` session `session` from `peer`.
    ServiceCall {
        /// The caller, as authenticated by the connection.
        peer: PeerId,
        /// The session its reply goes to.
        session: SessionId,
        /// The call.
        call: Call,
    },
    /// A provider's frame (a reply, a heartbeat) arrived on this node's session to `peer`.
    ServiceFrame {
        /// The provider.
        peer: PeerId,
        /// The frame.
        frame: ProviderFrame,
    },
    /// This node's session to provider `peer` ended, or could not carry a call: what was at
    /// it goes elsewhere.
    ServiceLost {
        /// The provider.
        peer: PeerId,
    },
    /// A worker's frame arrived on inbound `/weft/queue/1` session `session` from `peer`.
    WorkerFrame {
        /// The worker, as authenticated by the connection.
        peer: PeerId,
        /// The session answers go to.
        session: SessionId,
        /// The frame.
        frame: WorkerFrame,
    },
    /// Inbound `/weft/queue/1` session `session` (a worker's) ended: what was leased on it
    /// goes to other workers.
    WorkerGone {
        /// The session.
        session: SessionId,
    },
    /// A producer's frame arrived on this node's session to `peer`.
    ProducerFrame {
        /// The producer.
        peer: PeerId,
        /// The frame.
        frame: ProducerFrame,
    },
    /// This node's session to producer `peer` ended, or could not carry a frame.
    ProducerLost {
        /// The producer.
        peer: PeerId,
    },
    /// How loaded this machine is, per mille: CPU (one-minute load average per core) and
    /// memory in use.
    Machine {
        /// CPU load per core, per mille.
        cpu_permille: u16,
        /// Memory in use, per mille.
        mem_permille: u16,
    },
    /// The batch of writes handed out by [`super::Core::batch`] was applied and flushed, or
    /// failed (then nothing in it may be acknowledged, and the shell stops).
    Flushed(Result<Applied, String>),
    /// Time passed: timers are checked (the shell ticks about every 100 ms).
    Tick,
}

impl Input {
    /// The peer whose connection this input shows in use (a direct message, an
    /// acknowledgement, a request other than sync, a call, a work item), so it is not
    /// closed as idle.
    pub fn in_use(&self) -> Option<PeerId> {
        match self {
            Input::Direct { peer, .. }
            | Input::Acked { peer, .. }
            | Input::ServiceCall { peer, .. }
            | Input::ServiceFrame { peer, .. }
            | Input::WorkerFrame { peer, .. }
            | Input::ProducerFrame { peer, .. } => Some(*peer),
            Input::Asked { peer, request, .. } if !matches!(request, Request::Sync(_)) => {
                Some(*peer)
            }
            _ => None,
        }
    }
}

/// A gossip message as gossipsub hands it over.
#[derive(Debug)]
pub struct Gossip {
    /// Gossipsub's id of it, for the verdict.
    pub id: Vec<u8>,
    /// The member it came from.
    pub via: PeerId,
    /// Its signed source, when it has one.
    pub source: Option<PeerId>,
    /// The gossipsub topic.
    pub topic: String,
    /// The payload.
    pub data: Vec<u8>,
}

/// What gossipsub does with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it.
    Accept,
    /// Drop it; not the sender's fault.
    Ignore,
    /// Drop it; the sender's score drops.
    Reject,
}

/// A request from a peer, by protocol.
#[derive(Debug)]
pub enum Request {
    /// `/weft/join/1`.
    Join(JoinRequest),
    /// `/weft/sync/1`.
    Sync(SyncRequest),
    /// `/weft/mailbox/1`.
    Mailbox(MailboxRequest),
}

/// An answer to a peer's request, by protocol.
#[derive(Debug)]
pub enum Response {
    /// `/weft/join/1`.
    Join(JoinResponse),
    /// `/weft/sync/1`.
    Sync(SyncResponse),
    /// `/weft/mailbox/1`.
    Mailbox(MailboxResponse),
}

/// A request of this node's to a peer.
#[derive(Debug)]
pub enum Ask {
    /// `/weft/sync/1` (boxed: the request is the largest of them).
    Sync(Box<SyncRequest>),
    /// `/weft/mailbox/1`.
    Mailbox(Op),
}

/// A peer's answer to a request of this node's.
#[derive(Debug)]
pub enum Answer {
    /// To a sync request.
    Sync(Synced),
    /// To a mailbox request.
    Mailbox(MailboxResponse),
}

/// What a sync brought.
#[derive(Debug, Default)]
pub struct Synced {
    /// ACL ops the asker lacked.
    pub ops: Vec<SignedOp>,
    /// Where members are, with their sealing keys.
    pub peers: Vec<PeerAddrs>,
    /// Topic messages the asker lacked.
    pub messages: Vec<Logged>,
    /// Whether the answerer has more (ask again).
    pub more: bool,
    /// How far the answerer's clock is ahead of this node's, in microseconds (negative:
    /// behind), when it said its time.
    pub skew_us: Option<i64>,
    /// The members the answerer is connected to.
    pub links: Vec<Link>,
    /// How far `peers` brought this node in the answerer's directory.
    pub directory: Option<DirectoryMark>,
}

impl Synced {
    /// What a sync `response` brought, asked at `asked_us` and answered at `answered_us`
    /// (this node's wall clock, microseconds since the Unix epoch); a refusal's reason.
    pub fn from_response(
        response: SyncResponse,
        asked_us: u64,
        answered_us: u64,
    ) -> Result<Synced, String> {
        match response {
            SyncResponse::Ops {
                ops,
                peers,
                messages,
                more,
                now_us,
                links,
                directory,
            } => Ok(Synced {
                ops,
                peers,
                messages,
                more,
                links,
                directory,
                // Their clock at the midpoint of the exchange, against ours.
                skew_us: (now_us > 0)
                    .then(|| now_us as i64 - (asked_us / 2 + answered_us / 2) as i64),
            }),
            SyncResponse::Refused { reason } => Err(reason),
        }
    }
}

/// A box to seal and deposit: sealing draws randomness and may read the outbox, so the
/// shell does it, beside the loop.
#[derive(Debug)]
pub struct Sealing {
    /// This node's key, the sender the box names.
    pub from: MemberKey,
    /// The recipient's key.
    pub to: MemberKey,
    /// The recipient's sealing key (from its card).
    pub card: SealingKey,
    /// The mesh, bound into the box.
    pub mesh: MeshId,
    /// When the box may be dropped, Unix seconds.
    pub expires: u64,
    /// What it carries.
    pub content: Sealed,
}

impl Sealing {
    /// The sealed box to deposit: `message` reads the outbox message it carries (`None`
    /// when it left the outbox meanwhile: then there is nothing to deposit), and `seal`
    /// seals a plaintext to a sealing key for a mesh (`weft_keys::seal::seal`).
    pub fn seal<E: std::fmt::Display>(
        self,
        message: impl FnOnce(Outgoing) -> Result<Option<DirectMessage>, E>,
        seal: impl FnOnce(&SealingKey, &MeshId, &[u8]) -> Result<Vec<u8>, SealError>,
    ) -> Result<Option<Boxed>, String> {
        let content = match self.content {
            Sealed::Direct(outgoing) => match message(outgoing).map_err(|e| e.to_string())? {
                Some(message) => Content::Direct(message),
                None => return Ok(None),
            },
            Sealed::Receipts(ids) => Content::Receipts(ids),
        };
        let plain = SealedMessage {
            v: SEALED_VERSION,
            from: self.from,
            to: self.to,
            expires: self.expires,
            content,
        }
        .encode()
        .map_err(|e| e.to_string())?;
        let sealed = seal(&self.card, &self.mesh, &plain).map_err(|e| e.to_string())?;
        Ok(Some(Boxed {
            to: self.to,
            expires: self.expires,
            sealed,
        }))
    }
}

/// What [`seal_all`] made of each sealing, in order: the id of its box, among those to
/// deposit, or why it has none.
pub type Sent = Vec<Result<[u8; 32], String>>;

/// Seals each of `sealings` (see [`Sealing::seal`]): the boxes to deposit, and what became
/// of each sealing; `None` when no box was made.
pub fn seal_all<E: std::fmt::Display>(
    sealings: Vec<Sealing>,
    mut message: impl FnMut(Outgoing) -> Result<Option<DirectMessage>, E>,
    mut seal: impl FnMut(&SealingKey, &MeshId, &[u8]) -> Result<Vec<u8>, SealError>,
) -> Option<(Vec<Boxed>, Sent)> {
    let mut boxes = Vec::with_capacity(sealings.len());
    let mut sent = Vec::with_capacity(sealings.len());
    for sealing in sealings {
        sent.push(match sealing.seal(&mut message, &mut seal) {
            Ok(Some(boxed)) => {
                let id = box_id(&boxed.sealed);
                boxes.push(boxed);
                Ok(id)
            }
            Ok(None) => Err("the message left the outbox".to_string()),
            Err(e) => Err(e),
        });
    }
    (!boxes.is_empty()).then_some((boxes, sent))
}

/// `response` to a deposit of the boxes [`seal_all`] made, as the outcomes of every
/// sealing asked for (those without a box refused with why). A `Deposited` answer must
/// give one outcome per box sent, each `Held` naming the box it answers for; one that does
/// not is an error. Any other answer stands as it is.
pub fn with_unsent(response: MailboxResponse, sent: Sent) -> Result<MailboxResponse, String> {
    let MailboxResponse::Deposited { outcomes } = response else {
        return Ok(response);
    };
    let boxes: Vec<&[u8; 32]> = sent.iter().filter_map(|s| s.as_ref().ok()).collect();
    let answers_for = |(outcome, id): (&Outcome, &&[u8; 32])| match outcome {
        Outcome::Held { id: held } => held == *id,
        Outcome::Refused { .. } => true,
    };
    if outcomes.len() != boxes.len() || !outcomes.iter().zip(&boxes).all(answers_for) {
        return Err("a deposit answered with outcomes that are not the boxes sent".into());
    }
    let mut answered = outcomes.into_iter();
    let outcomes = sent
        .into_iter()
        .filter_map(|sent| match sent {
            Ok(_) => answered.next(),
            Err(reason) => Some(Outcome::Refused { reason }),
        })
        .collect();
    Ok(MailboxResponse::Deposited { outcomes })
}

/// What a sealed box carries.
#[derive(Debug)]
pub enum Sealed {
    /// An outbox message (read from the outbox when it is on disk).
    Direct(Outgoing),
    /// Receipts for messages taken out of boxes.
    Receipts(Vec<MessageId>),
}

/// How a direct message this node sent ended, or where it stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Delivery {
    /// Acknowledged by the recipient after it stored the message durably.
    Delivered {
        /// Time from queueing to acknowledgement.
        latency: Duration,
    },
    /// Refused by the recipient.
    Rejected {
        /// The recipient's reason.
        reason: String,
    },
    /// Sealed and held by a mailbox member until the recipient comes back.
    Held {
        /// The mailbox.
        mailbox: PeerId,
    },
    /// The recipient is not connected, could not be dialled, and no mailbox is connected to
    /// hold the message; it stays in the outbox and goes out once the recipient is reachable.
    Unreachable,
    /// The recipient is not connected and a mailbox refused to hold the message; it stays
    /// in the outbox and is tried again.
    NotHeld {
        /// The mailbox.
        mailbox: PeerId,
        /// Its reason.
        reason: String,
    },
}

/// How a local caller's call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallEnd {
    /// The provider's reply.
    Replied(Vec<u8>),
    /// The service ran and failed; why, in one line.
    Failed(String),
    /// A provider refused it for a reason no other provider would change.
    Refused(Refusal),
    /// No provider of the service was reachable (or every one failed it).
    NoProvider,
    /// The caller's time ran out first.
    TimedOut,
}

impl CallEnd {
    /// How it ended, in one word (for metrics).
    pub fn outcome(&self) -> &'static str {
        match self {
            CallEnd::Replied(_) => "replied",
            CallEnd::Failed(_) => "failed",
            CallEnd::Refused(_) => "refused",
            CallEnd::NoProvider => "no_provider",
            CallEnd::TimedOut => "timed_out",
        }
    }
}

/// What to do.
#[derive(Debug)]
pub enum Output {
    /// Dial `peer` at `addrs` unless it is connected or being dialled; a dial that cannot
    /// start comes back as [`Input::DialFailed`].
    Dial {
        /// The peer.
        peer: PeerId,
        /// Where it can be reached.
        addrs: Vec<Multiaddr>,
    },
    /// Close every connection to `peer`.
    Disconnect(PeerId),
    /// Refuse `peer` at connection establishment from now on (the block list).
    Wall(PeerId),
    /// Where `peer` can be reached, for the swarm's dials and streams.
    Addresses {
        /// The peer.
        peer: PeerId,
        /// Its addresses.
        addrs: Vec<Multiaddr>,
    },
    /// Subscribe to this gossipsub topic.
    Subscribe(String),
    /// Unsubscribe from this gossipsub topic.
    Unsubscribe(String),
    /// Publish `data` on gossipsub topic `topic`. Nobody to hand it to is no failure: a
    /// topic message is kept, and subscribers catch up on it.
    Publish {
        /// The gossipsub topic.
        topic: String,
        /// The payload.
        data: Vec<u8>,
    },
    /// What gossipsub does with the message [`Input::Gossip`] handed over.
    Verdict {
        /// Gossipsub's id of it.
        id: Vec<u8>,
        /// The member it came from.
        via: PeerId,
        /// The verdict.
        verdict: Verdict,
    },
    /// The Noise prologue of new TCP connections: this node's mesh, or the one it joins.
    Prologue(Option<MeshId>),
    /// Who is let in, for the servers beside the loop: the members, and for sync also the
    /// members just removed, to hear of it.
    Doors {
        /// The members (none while this node is in no mesh or was removed).
        members: Vec<PeerId>,
        /// The members just removed, hearing of it.
        leaving: Vec<PeerId>,
    },
    /// Put a direct message on `peer`'s session (opened if needed).
    Send {
        /// The recipient.
        peer: PeerId,
        /// The message, or its id to read from the outbox.
        message: Outgoing,
    },
    /// Answer a direct message on inbound session `session`, if it is still open.
    Ack {
        /// The session.
        session: SessionId,
        /// The answer.
        ack: DmAck,
    },
    /// Give up the session to `peer` (it stopped acknowledging); its messages are retried
    /// on a new one.
    Retire(PeerId),
    /// Answer a peer's request.
    Answer {
        /// The request.
        id: AskedId,
        /// The answer.
        response: Response,
    },
    /// Answer a sync request with `response` and the topic messages of the runs `wanted`,
    /// read from the topic log within one answer's caps.
    AnswerSync {
        /// The request.
        id: AskedId,
        /// The answer, less its topic messages.
        response: SyncResponse,
        /// The runs of topic messages to read into it.
        wanted: Vec<Wanted>,
    },
    /// Answer a mailbox fetch with the sealed bytes of `boxes`, read from the store.
    AnswerFetch {
        /// The request.
        id: AskedId,
        /// The boxes to hand over.
        boxes: Vec<BoxInfo>,
        /// Whether more remain after them.
        more: bool,
    },
    /// Ask `peer`; the answer comes back as [`Input::Answered`].
    Ask {
        /// The request.
        id: AskId,
        /// Whom to ask.
        peer: PeerId,
        /// What to ask.
        ask: Ask,
    },
    /// Seal each of `sealings` and deposit the boxes with `peer`, in one request or a few
    /// (within [`MAX_DEPOSIT_BYTES`] each); the answer comes back as [`Input::Answered`]: a
    /// [`MailboxResponse::Deposited`] with one outcome per sealing, in order (a box whose
    /// message left the outbox meanwhile refused here), or an error.
    ///
    /// [`MAX_DEPOSIT_BYTES`]: weft_proto::mailbox::MAX_DEPOSIT_BYTES
    Deposit {
        /// The request.
        id: AskId,
        /// The mailbox, or the recipient itself.
        peer: PeerId,
        /// What to seal, at most [`weft_proto::mailbox::MAX_DEPOSIT_BOXES`].
        sealings: Vec<Sealing>,
    },
    /// Hand `peer` a box this node holds for it: read its sealed bytes from the store and
    /// deposit them with `peer`; the answer comes back as [`Input::Answered`].
    Forward {
        /// The request.
        id: AskId,
        /// The recipient.
        peer: PeerId,
        /// The box.
        held: BoxInfo,
    },
    /// Send a call on this node's session to provider `peer` (opened if needed); a session
    /// that cannot carry it comes back as [`Input::ServiceLost`].
    CallOut {
        /// The provider.
        peer: PeerId,
        /// The call.
        call: Call,
    },
    /// Send a provider's frame on inbound session `session` (a caller's), if still open.
    ToCaller {
        /// The session.
        session: SessionId,
        /// The frame.
        frame: ProviderFrame,
    },
    /// Send this heartbeat on every inbound `/weft/service/1` session.
    Alive(ProviderFrame),
    /// Hand a call to a local handler; its answer comes back by `Core::served`.
    Serve {
        /// The handler.
        handler: HandlerId,
        /// The call, for the answer.
        serve: ServeId,
        /// The service.
        service: ServiceName,
        /// The request.
        body: Vec<u8>,
    },
    /// Start a session to producer `peer` unless one is open; the frames that follow on
    /// it say first what this node holds there. Opening fails as [`Input::ProducerLost`].
    OpenToProducer {
        /// The producer.
        peer: PeerId,
    },
    /// Send a worker's frame on this node's open session to producer `peer`: with none
    /// open it is dropped (the core heard that it ended, and says again what it must on
    /// the next one); one that cannot carry it comes back as [`Input::ProducerLost`].
    ToProducer {
        /// The producer.
        peer: PeerId,
        /// The frame.
        frame: WorkerFrame,
    },
    /// Send a producer's frame on inbound session `session` (a worker's), if still open.
    ToWorker {
        /// The session.
        session: SessionId,
        /// The frame.
        frame: ProducerFrame,
    },
    /// Send the item of `lease` (its bytes read from the store) on inbound session
    /// `session`; its lease is on disk.
    Deliver {
        /// The worker's session.
        session: SessionId,
        /// The queue.
        queue: QueueName,
        /// The delivery.
        lease: Lease,
    },
    /// Hand an item to a local worker; its end comes back by `Core::worked`.
    Work {
        /// The local worker.
        worker: WorkerId,
        /// The run, for its end.
        run: RunId,
        /// The item's delivery.
        lease: Lease,
        /// The item.
        body: Vec<u8>,
    },
    /// A local caller's call ended.
    Called {
        /// The call.
        id: CallId,
        /// How.
        end: CallEnd,
    },
    /// Tell local listeners.
    Event(Event),
    /// Tell whoever waits for message `id` where it stands.
    Delivery {
        /// The message.
        id: MessageId,
        /// Where it stands.
        delivery: Delivery,
    },
    /// A local caller's answer may go: the writes before it are on disk (`ok`), or failed.
    Released {
        /// The caller.
        ticket: Ticket,
        /// Whether the writes are on disk.
        ok: bool,
    },
    /// Something to count in the metrics.
    Observed(Observation),
    /// Input refused from a peer: count it (`kind`, `reason`).
    Refused {
        /// What was refused (`direct`, `topic`, `acl_op`, `mailbox`, `sync`, ...).
        kind: &'static str,
        /// Why, as counted.
        reason: String,
    },
}

/// What the metrics count of services and queues.
#[derive(Clone, Debug, PartialEq)]
pub enum Observation {
    /// A call of this node ended (`outcome`: replied, failed, refused, no_provider,
    /// timed_out) after `seconds`.
    Call {
        /// The service.
        service: ServiceName,
        /// How it ended.
        outcome: &'static str,
        /// From the call to its end.
        seconds: f64,
    },
    /// A call of this node went to another provider.
    Failover {
        /// The service.
        service: ServiceName,
    },
    /// This node served a call (`ok`, or failed) in `seconds`.
    Served {
        /// The service.
        service: ServiceName,
        /// Whether its handler replied.
        ok: bool,
        /// The handler's time.
        seconds: f64,
    },
    /// An item held here was delivered again.
    Redelivered {
        /// The queue.
        queue: QueueName,
    },
    /// An item held here became a dead letter.
    DeadLettered {
        /// The queue.
        queue: QueueName,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deposits_outcomes_are_matched_to_the_boxes_sent_or_refused() {
        let (a, b) = ([1; 32], [2; 32]);
        let sent: Sent = vec![Ok(a), Err("the message left the outbox".into()), Ok(b)];
        let held = |id| Outcome::Held { id };
        let answer = |outcomes| MailboxResponse::Deposited { outcomes };
        let merged = with_unsent(answer(vec![held(a), held(b)]), sent.clone()).unwrap();
        let expected = vec![
            held(a),
            Outcome::Refused {
                reason: "the message left the outbox".into(),
            },
            held(b),
        ];
        assert_eq!(merged, answer(expected));
        assert!(
            with_unsent(answer(vec![held(a)]), sent.clone()).is_err(),
            "one outcome short"
        );
        assert!(
            with_unsent(answer(vec![held(b), held(a)]), sent.clone()).is_err(),
            "outcomes naming other boxes"
        );
        let refused = MailboxResponse::Refused {
            reason: "full".into(),
        };
        assert_eq!(with_unsent(refused.clone(), sent).unwrap(), refused);
    }
}
