//! [`NodeHandle`]: the cloneable front of the event loop. Each method sends one command over
//! a bounded channel and awaits its reply; when the loop is gone it returns
//! [`NodeError::Shutdown`].

use libp2p::{Multiaddr, PeerId};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};
use weft_proto::MessageId;
use weft_proto::api::{
    CreateInviteRequest, Event, IdResponse, InviteInfo, MemberInfo, MeshInfo, PeerInfo, Status,
};
use weft_proto::topic::TopicName;

use weft_proto::api::ServiceInfo;
use weft_proto::service::{Outcome, ServiceName};

mod queues;

pub(crate) use self::queues::QueueCommand;
pub use self::queues::{WorkItem, Working};
pub use crate::core::Policy;
use crate::core::io::{CallEnd, HandlerId, ServeId};
use crate::core::services::serving::OfferOpts;
use crate::store::StoreError;

/// Capacity of the command channel; callers wait (backpressure) when it is full.
pub const COMMAND_CAPACITY: usize = 1024;

/// Capacity of the event broadcast; a subscriber that falls further behind skips events and
/// is told how many.
pub const EVENT_CAPACITY: usize = 4096;

/// What went wrong with a command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The event loop has stopped.
    #[error("the node is shutting down")]
    Shutdown,
    /// The store failed (disk full, permissions, corruption).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The transport could not be built.
    #[error("transport setup failed: {0}")]
    Transport(String),
    /// A listen address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Listen(String, String),
    /// A dial failed.
    #[error("could not connect to {addr}: {reason}")]
    Dial {
        /// The address dialled.
        addr: String,
        /// Why it failed.
        reason: String,
    },
    /// The request was refused because of what it asked (bad name, self, ...).
    #[error("{0}")]
    Invalid(String),
    /// A message over the size cap was refused (not truncated).
    #[error("{0}")]
    TooLarge(String),
    /// The caller may not do this (not an admin, ...).
    #[error("{0}")]
    Forbidden(String),
    /// The thing named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The node holds as much of this as it may.
    #[error("{0}")]
    Full(String),
    /// `weft init` has not run on this data dir.
    #[error("no identity in {0}: run `weft init --data-dir {0}` first")]
    NotInitialised(String),
    /// The local API socket could not be served.
    #[error("cannot serve the local API at {0}: {1}")]
    Api(String, String),
    /// Publishing failed.
    #[error("{0}")]
    Publish(String),
    /// Writing to the store failed; the node stopped so that nothing more is acknowledged.
    #[error(
        "the store could not write ({0}); the node stopped, having acknowledged only what is on disk: make room (or fix the disk) and start it again"
    )]
    StorageFailed(String),
}

pub use crate::core::io::Delivery;

/// A direct message durably queued in the outbox.
#[derive(Debug)]
pub struct Queued {
    /// The message id.
    pub id: MessageId,
    /// Resolves when the message is delivered or refused (if asked for).
    pub delivery: Option<oneshot::Receiver<Delivery>>,
}

/// Commands from a [`NodeHandle`] to the event loop.
#[derive(Debug)]
pub(crate) enum Command {
    Status(oneshot::Sender<Status>),
    Id(oneshot::Sender<IdResponse>),
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, NodeError>>,
    },
    Send {
        to: PeerId,
        text: String,
        wait: bool,
        bench: bool,
        reply: oneshot::Sender<Result<Queued, NodeError>>,
    },
    Publish {
        topic: TopicName,
        text: String,
        bench: bool,
        reply: oneshot::Sender<Result<(MessageId, usize), NodeError>>,
    },
    Subscribe {
        topic: TopicName,
        subscribe: bool,
        reply: oneshot::Sender<Result<bool, NodeError>>,
    },
    MeshCreate {
        name: Option<String>,
        reply: oneshot::Sender<Result<MeshInfo, NodeError>>,
    },
    Mesh(oneshot::Sender<Option<MeshInfo>>),
    InviteCreate {
        request: CreateInviteRequest,
        reply: oneshot::Sender<Result<InviteInfo, NodeError>>,
    },
    Invites(oneshot::Sender<Result<Vec<InviteInfo>, NodeError>>),
    InviteRevoke {
        id: String,
        reply: oneshot::Sender<Result<InviteInfo, NodeError>>,
    },
    Members(oneshot::Sender<Result<Vec<MemberInfo>, NodeError>>),
    Links(oneshot::Sender<Vec<weft_proto::api::LinkInfo>>),
    Join {
        invite: Box<weft_keys::invite::Invite>,
        bootstrap: PeerId,
        reply: oneshot::Sender<Result<Vec<weft_proto::acl::SignedOp>, NodeError>>,
    },
    MemberAdd {
        peer: PeerId,
        role: weft_proto::mesh::Role,
        name: Option<String>,
        reply: oneshot::Sender<Result<MemberInfo, NodeError>>,
    },
    MemberRemove {
        peer: PeerId,
        reply: oneshot::Sender<Result<MemberInfo, NodeError>>,
    },
    MemberRole {
        peer: PeerId,
        role: weft_proto::mesh::Role,
        reply: oneshot::Sender<Result<MemberInfo, NodeError>>,
    },
    MemberName {
        peer: PeerId,
        name: Option<String>,
        reply: oneshot::Sender<Result<MemberInfo, NodeError>>,
    },
    DisplayName {
        name: Option<String>,
        reply: oneshot::Sender<Result<MemberInfo, NodeError>>,
    },
    Policy {
        policy: Policy,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    Joining {
        mesh: Option<weft_proto::mesh::MeshId>,
    },
    Adopt {
        mesh: weft_proto::mesh::MeshId,
        ops: Vec<weft_proto::acl::SignedOp>,
        reply: oneshot::Sender<Result<MeshInfo, NodeError>>,
    },
    Call {
        service: ServiceName,
        body: Vec<u8>,
        timeout: Duration,
        reply: oneshot::Sender<Result<CallEnd, NodeError>>,
    },
    Offer {
        service: ServiceName,
        opts: OfferOpts,
        reply: oneshot::Sender<Result<Offered, NodeError>>,
    },
    Served {
        serve: ServeId,
        outcome: Outcome,
    },
    Withdraw {
        handler: HandlerId,
    },
    Services(oneshot::Sender<Vec<ServiceInfo>>),
    Queue(QueueCommand),
    Shutdown(oneshot::Sender<()>),
}

/// A service offered from this node: the calls for its handler come on `requests`; each
/// is answered with [`NodeHandle::served`]. Dropping `requests` withdraws the offer.
#[derive(Debug)]
pub struct Offered {
    /// The handler's id, to withdraw it.
    pub handler: HandlerId,
    /// The calls to run.
    pub requests: mpsc::Receiver<ServeRequest>,
}

/// A call for a local handler to run.
#[derive(Debug)]
pub struct ServeRequest {
    /// The call, for the answer.
    pub serve: ServeId,
    /// The request.
    pub body: Vec<u8>,
}

/// The cloneable handle to a running node's event loop.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
    bench: broadcast::Sender<Event>,
}

impl NodeHandle {
    pub(crate) fn new(
        commands: mpsc::Sender<Command>,
        events: broadcast::Sender<Event>,
        bench: broadcast::Sender<Event>,
    ) -> Self {
        NodeHandle {
            commands,
            events,
            bench,
        }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NodeError::Shutdown)?;
        rx.await.map_err(|_| NodeError::Shutdown)
    }

    /// The node's status.
    pub async fn status(&self) -> Result<Status, NodeError> {
        self.ask(Command::Status).await
    }

    /// The node's PeerId and dialable addresses.
    pub async fn id(&self) -> Result<IdResponse, NodeError> {
        self.ask(Command::Id).await
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NodeError> {
        self.ask(Command::Peers).await
    }

    /// Connects to `addr` (which must end in `/p2p/<PeerId>`); resolves once connected.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, NodeError> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    /// Queues a direct message durably; with `wait`, the returned [`Queued`] carries a
    /// receiver for its delivery.
    pub async fn send(&self, to: PeerId, text: String, wait: bool) -> Result<Queued, NodeError> {
        self.send_as(to, text, wait, false).await
    }

    /// Queues a benchmark direct message (`weft bench dm`) as [`send`](Self::send) does;
    /// it is kept in no history, and only a recipient that takes benchmark messages
    /// acknowledges it.
    pub async fn send_bench(
        &self,
        to: PeerId,
        text: String,
        wait: bool,
    ) -> Result<Queued, NodeError> {
        self.send_as(to, text, wait, true).await
    }

    async fn send_as(
        &self,
        to: PeerId,
        text: String,
        wait: bool,
        bench: bool,
    ) -> Result<Queued, NodeError> {
        self.ask(|reply| Command::Send {
            to,
            text,
            wait,
            bench,
            reply,
        })
        .await?
    }

    /// Publishes on `topic`; returns (once it is on disk) the message id and how many
    /// connected peers subscribe.
    pub async fn publish(
        &self,
        topic: TopicName,
        text: String,
    ) -> Result<(MessageId, usize), NodeError> {
        self.publish_as(topic, text, false).await
    }

    /// Gossips a benchmark message on `topic` (`weft bench topic`) as
    /// [`publish`](Self::publish) does; it is stored nowhere.
    pub async fn publish_bench(
        &self,
        topic: TopicName,
        text: String,
    ) -> Result<(MessageId, usize), NodeError> {
        self.publish_as(topic, text, true).await
    }

    async fn publish_as(
        &self,
        topic: TopicName,
        text: String,
        bench: bool,
    ) -> Result<(MessageId, usize), NodeError> {
        self.queue_publish(topic, text, bench)
            .await?
            .await
            .map_err(|_| NodeError::Shutdown)?
    }

    /// Publishes on `topic` as [`publish`](Self::publish) does, but returns once the node
    /// has the message in hand: how it went comes on the receiver, so a caller can keep many
    /// under way, published in the order it handed them over.
    pub async fn publish_queued(
        &self,
        topic: TopicName,
        text: String,
    ) -> Result<oneshot::Receiver<Result<(MessageId, usize), NodeError>>, NodeError> {
        self.queue_publish(topic, text, false).await
    }

    async fn queue_publish(
        &self,
        topic: TopicName,
        text: String,
        bench: bool,
    ) -> Result<oneshot::Receiver<Result<(MessageId, usize), NodeError>>, NodeError> {
        let (reply, published) = oneshot::channel();
        let command = Command::Publish {
            topic,
            text,
            bench,
            reply,
        };
        self.tell(command).await?;
        Ok(published)
    }

    /// Joins (`subscribe`) or leaves a topic; returns whether anything changed.
    pub async fn subscribe(&self, topic: TopicName, subscribe: bool) -> Result<bool, NodeError> {
        self.ask(|reply| Command::Subscribe {
            topic,
            subscribe,
            reply,
        })
        .await?
    }

    /// Founds a mesh with this node as its first admin.
    pub async fn mesh_create(&self, name: Option<String>) -> Result<MeshInfo, NodeError> {
        self.ask(|reply| Command::MeshCreate { name, reply })
            .await?
    }

    /// The mesh this node belongs to, if any.
    pub async fn mesh(&self) -> Result<Option<MeshInfo>, NodeError> {
        self.ask(Command::Mesh).await
    }

    /// Issues an invite key (admins only).
    pub async fn invite_create(
        &self,
        request: CreateInviteRequest,
    ) -> Result<InviteInfo, NodeError> {
        self.ask(|reply| Command::InviteCreate { request, reply })
            .await?
    }

    /// Outstanding invites this node issued.
    pub async fn invites(&self) -> Result<Vec<InviteInfo>, NodeError> {
        self.ask(Command::Invites).await?
    }

    /// Revokes the invite with `id` (admins only).
    pub async fn invite_revoke(&self, id: String) -> Result<InviteInfo, NodeError> {
        self.ask(|reply| Command::InviteRevoke { id, reply })
            .await?
    }

    /// The mesh's members.
    pub async fn members(&self) -> Result<Vec<MemberInfo>, NodeError> {
        self.ask(Command::Members).await?
    }

    /// Every connection between members this node knows of.
    pub async fn links(&self) -> Result<Vec<weft_proto::api::LinkInfo>, NodeError> {
        self.ask(Command::Links).await
    }

    /// Tells a node in no mesh that it is about to join `mesh` (its new connections speak
    /// that mesh's Noise prologue), or that it gave up (`None`).
    pub async fn joining(&self, mesh: Option<weft_proto::mesh::MeshId>) -> Result<(), NodeError> {
        self.commands
            .send(Command::Joining { mesh })
            .await
            .map_err(|_| NodeError::Shutdown)
    }

    /// Redeems `invite` at `bootstrap` (a connected node of the mesh, reached at one of the
    /// invite's addresses) and adopts the mesh's ACL log: from then on this node is a member.
    /// [`crate::mesh::join::join`] is the whole journey, from an invite key to a member.
    pub async fn redeem(
        &self,
        invite: weft_keys::invite::Invite,
        bootstrap: PeerId,
    ) -> Result<MeshInfo, NodeError> {
        let mesh = invite.mesh;
        let invite = Box::new(invite);
        let ops = self
            .ask(|reply| Command::Join {
                invite,
                bootstrap,
                reply,
            })
            .await??;
        self.ask(|reply| Command::Adopt { mesh, ops, reply })
            .await?
    }

    /// Admits a known key without an invite (admins only).
    pub async fn member_add(
        &self,
        peer: PeerId,
        role: weft_proto::mesh::Role,
        name: Option<String>,
    ) -> Result<MemberInfo, NodeError> {
        self.ask(|reply| Command::MemberAdd {
            peer,
            role,
            name,
            reply,
        })
        .await?
    }

    /// Removes a member, permanently (admins only).
    pub async fn member_remove(&self, peer: PeerId) -> Result<MemberInfo, NodeError> {
        self.ask(|reply| Command::MemberRemove { peer, reply })
            .await?
    }

    /// Changes a member's role (admins only).
    pub async fn member_role(
        &self,
        peer: PeerId,
        role: weft_proto::mesh::Role,
    ) -> Result<MemberInfo, NodeError> {
        self.ask(|reply| Command::MemberRole { peer, role, reply })
            .await?
    }

    /// Names a member (admins only); `None` takes its name away.
    pub async fn member_name(
        &self,
        peer: PeerId,
        name: Option<String>,
    ) -> Result<MemberInfo, NodeError> {
        self.ask(|reply| Command::MemberName { peer, name, reply })
            .await?
    }

    /// Sets the name this node calls itself, shown beside it to every member; `None` takes
    /// it back.
    pub async fn display_name(&self, name: Option<String>) -> Result<MemberInfo, NodeError> {
        self.ask(|reply| Command::DisplayName { name, reply })
            .await?
    }

    /// Sets a topic's, a service's or a queue's policy (admins only).
    pub async fn policy(&self, policy: Policy) -> Result<(), NodeError> {
        self.ask(|reply| Command::Policy { policy, reply }).await?
    }

    /// Calls `service` with `body`, waiting at most `timeout`: how the call ended. No
    /// provider reachable is an error at once.
    pub async fn call(
        &self,
        service: ServiceName,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<CallEnd, NodeError> {
        self.ask(|reply| Command::Call {
            service,
            body,
            timeout,
            reply,
        })
        .await?
    }

    /// Offers `service` from this node with `opts`: the calls to run arrive on the
    /// returned [`Offered`].
    pub async fn offer(&self, service: ServiceName, opts: OfferOpts) -> Result<Offered, NodeError> {
        self.ask(|reply| Command::Offer {
            service,
            opts,
            reply,
        })
        .await?
    }

    /// Answers call `serve` of a local handler with `outcome`.
    pub async fn served(&self, serve: ServeId, outcome: Outcome) -> Result<(), NodeError> {
        self.tell(Command::Served { serve, outcome }).await
    }

    /// Withdraws the offer of `handler`.
    pub async fn withdraw(&self, handler: HandlerId) -> Result<(), NodeError> {
        self.tell(Command::Withdraw { handler }).await
    }

    /// Sends `command`, which has no reply.
    async fn tell(&self, command: Command) -> Result<(), NodeError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| NodeError::Shutdown)
    }

    /// Every service offered in the mesh as this node knows it.
    pub async fn services(&self) -> Result<Vec<ServiceInfo>, NodeError> {
        self.ask(Command::Services).await
    }

    /// Stops the event loop; resolves once it stopped.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        self.ask(Command::Shutdown).await
    }

    /// Resolves when the event loop has stopped.
    pub async fn closed(&self) {
        self.commands.closed().await
    }

    /// A receiver of every event from now on, but benchmark messages.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// A receiver of the benchmark messages heard from now on ([`Event::Bench`]).
    pub fn bench_events(&self) -> broadcast::Receiver<Event> {
        self.bench.subscribe()
    }
}

/// The error for a message text that breaks the rules (empty or over the cap).
pub(crate) fn text_refused(e: weft_proto::DecodeError) -> NodeError {
    match e {
        weft_proto::DecodeError::TooLarge { .. } => {
            NodeError::TooLarge(format!("message refused: {e}"))
        }
        other => NodeError::Invalid(format!("message refused: {other}")),
    }
}
