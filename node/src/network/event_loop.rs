//! [`EventLoop`]: the one task that owns the Swarm, the delivery state machines and the
//! pending-reply maps. It reacts, in priority order, to local commands, finished flushes,
//! direct-message sessions, swarm events, requests and results of the exchange protocols
//! (join, sync, mailbox) and a timer tick; after each it starts whatever sends and flushes
//! became possible.
//!
//! Submodules hold the reactions by subject: `connections` (dials, connections, identify,
//! ping), `direct` (`/weft/dm/1` both ways), `gossip` (topics), `membership` (the mesh, its
//! ACL, invites and joining), `acl_sync` (the ACL log between members), `doors` (strangers,
//! removed members, this node's own removal), `catch_up` (topic messages missed, over sync), `mailbox` (sealed
//! messages for members who are not connected), `reach` (relaying, relay slots, hole
//! punching, mDNS).

mod acl_sync;
mod catch_up;
mod connections;
mod direct;
mod doors;
mod gossip;
mod mailbox;
mod membership;
mod reach;
mod sealed;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{broadcast, mpsc, oneshot};
use weft_proto::MessageId;
use weft_proto::api::{Event, IdResponse, Kind, Message, PeerInfo, Status, TopicStatus};
use weft_proto::dm::AckOutcome;
use weft_proto::join::{JoinRequest, JoinResponse};
use weft_proto::mailbox::{MailboxRequest, MailboxResponse};
use weft_proto::sync::{SyncRequest, SyncResponse};

use super::behaviour::{Behaviour, MAX_DM_IN_FLIGHT};
use super::dm_stream::{self, DmEvent, SessionId, SessionIds};
use super::exchange::Server;
use super::group_flush::{Durable, GroupFlush};
use super::handle::{COMMAND_CAPACITY, Command, Delivery, EVENT_CAPACITY, NodeError, NodeHandle};
use crate::core::delivery::Deliveries;
use crate::core::peers::Peers;
use crate::core::topics::Topics;
use crate::delivery::clock::Hlc;
use crate::store::Store;
use crate::store::outbox::Outgoing;
use crate::store::write::{Applied, Write};

/// How often timers (redial, retry pauses, acknowledgement timeouts) are checked.
const TICK: Duration = Duration::from_millis(100);

/// Capacity of the channel from `/weft/dm/1` session tasks to the loop.
const DM_EVENT_CAPACITY: usize = 1024;

/// How long a stopping node lets started mailbox exchanges finish.
const EXCHANGE_GRACE: Duration = Duration::from_secs(3);

/// How often history is pruned to its retention, at most.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Sync results waiting for the loop.
const SYNCED_CAPACITY: usize = 16;

/// Inbound `/weft/dm/1` sessions one peer may hold open at once.
const MAX_INBOUND_SESSIONS_PER_PEER: usize = 4;

/// What the loop shares with the tasks beside it: the Noise prologue of new TCP connections,
/// the door (who is a member) and the tally of refused input.
#[derive(Clone)]
pub struct Shared {
    /// This node's mesh, or the one it is joining, for TCP handshakes.
    pub prologue: super::mesh_noise::Prologue,
    /// The members, for the stream servers outside the loop.
    pub door: crate::mesh::door::Door,
    /// Whom sync requests are read from: the members, and members just removed.
    pub sync_door: crate::mesh::door::Door,
    /// Input refused from peers, by reason.
    pub tally: super::tally::Tally,
    /// weft's and libp2p's metrics.
    pub metrics: crate::metrics::Metrics,
}

impl Shared {
    /// What the loop shares, its counts going to `metrics`.
    pub fn new(metrics: crate::metrics::Metrics) -> Shared {
        Shared {
            prologue: Default::default(),
            door: crate::mesh::door::Door::counting(metrics.acl_decisions.clone()),
            sync_door: crate::mesh::door::Door::counting(metrics.acl_decisions.clone()),
            tally: super::tally::Tally::new(metrics.rejected.clone()),
            metrics,
        }
    }
}

/// The event loop. Build it with [`EventLoop::new`], run it with [`EventLoop::run`].
pub struct EventLoop {
    swarm: Swarm<Behaviour>,
    store: Store,
    local: PeerId,
    name: Option<String>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<Event>,
    started: Instant,
    clock: Hlc,
    /// Direct messages queued and not yet settled.
    deliveries: Deliveries<PeerId>,
    flush: GroupFlush,
    /// Opens `/weft/dm/1` streams.
    control: libp2p_stream::Control,
    /// Inbound `/weft/dm/1` streams, until `run` hands them to the acceptor task.
    incoming: Option<libp2p_stream::IncomingStreams>,
    session_ids: SessionIds,
    dm_events: mpsc::Receiver<DmEvent>,
    /// `/weft/join/1` requests.
    joins: Server<JoinRequest, JoinResponse>,
    /// `/weft/sync/1` requests.
    syncs: Server<SyncRequest, SyncResponse>,
    /// `/weft/mailbox/1` requests.
    mailbox_requests: Server<MailboxRequest, MailboxResponse>,
    /// Boxes held for others, and messages held for this node's absent recipients.
    mailboxes: mailbox::Mailboxes,
    /// Ops fetched from peers by sync tasks.
    synced: mpsc::Receiver<(PeerId, Result<super::sync::Synced, String>)>,
    synced_tx: mpsc::Sender<(PeerId, Result<super::sync::Synced, String>)>,
    dm_events_tx: mpsc::Sender<DmEvent>,
    /// The session carrying messages to each recipient.
    outbound: HashMap<PeerId, (SessionId, mpsc::Sender<Outgoing>)>,
    /// Sessions carrying messages from peers: where their acknowledgements go.
    inbound: HashMap<SessionId, (PeerId, mpsc::Sender<weft_proto::dm::DmAck>)>,
    /// Local callers waiting for a delivery.
    waiters: HashMap<MessageId, oneshot::Sender<Delivery>>,
    /// Local callers waiting for a dial.
    dials: HashMap<ConnectionId, (Multiaddr, oneshot::Sender<Result<PeerId, NodeError>>)>,
    /// Who is connected, and whom to dial again.
    peers: Peers<PeerId, Multiaddr>,
    /// Concrete addresses the listeners are bound to.
    listen_addrs: Vec<Multiaddr>,
    /// The topics this node follows, and how far it holds them.
    topics: Topics,
    /// Strangers and members just removed, connected for now.
    doors: crate::core::doors::Doors,
    /// When this node learnt it was removed from its mesh (Unix seconds).
    removed: Option<u64>,
    /// Where members can be reached.
    addresses: crate::mesh::addresses::Addresses,
    /// Every task beside the loop, so none outlives it unseen.
    tasks: super::tasks::Tasks,
    /// Peers a sync is under way with, and the op its page starts after.
    syncing: HashMap<PeerId, Option<weft_proto::acl::OpId>>,
    /// The Noise prologue of new TCP connections: this node's mesh, or the one it is joining.
    prologue: super::mesh_noise::Prologue,
    /// This node's identity: signs ACL ops and invites.
    identity: weft_keys::Identity,
    /// The mesh this node belongs to.
    mesh: Option<crate::mesh::membership::Membership>,
    /// Input refused from peers, by reason.
    rejected: super::tally::Tally,
    /// Who is a member, for the tasks beside the loop.
    door: crate::mesh::door::Door,
    /// Whose sync requests are read.
    sync_door: crate::mesh::door::Door,
    /// weft's and libp2p's metrics.
    metrics: crate::metrics::Metrics,
    /// When connected members are next synced with again.
    next_resync: Instant,
    /// How long messages stay in history.
    retention: Duration,
    /// When history is next pruned.
    next_prune: Instant,
    /// Relaying for others and relay slots held.
    reach: reach::Reach,
}

impl EventLoop {
    /// Builds the loop around a listening `swarm`: re-joins stored topics, reloads the
    /// outbox and schedules dials to every remembered peer.
    pub fn new(
        mut swarm: Swarm<Behaviour>,
        store: Store,
        identity: weft_keys::Identity,
        shared: Shared,
        name: Option<String>,
        listen_addrs: Vec<Multiaddr>,
        limits: crate::config::Limits,
    ) -> Result<(NodeHandle, EventLoop), NodeError> {
        let (command_tx, commands) = mpsc::channel(COMMAND_CAPACITY);
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let now = Instant::now();

        let mesh = membership::load(&store)?;
        let removed = store.mesh.removed_at()?;
        let (addresses, forget) =
            crate::mesh::addresses::Addresses::load(store.peers.all()?, |peer| {
                mesh.as_ref().is_some_and(|m| m.admits(peer)) && removed.is_none()
            });
        if limits.relay.is_some() {
            // A relay's reservations carry its addresses.
            for addr in reach::relay_addresses(&listen_addrs) {
                swarm.add_external_address(addr);
            }
        }
        let topics = Topics::new(store.topics.all()?, store.topics_log.marks()?);
        if let Some(mesh) = &mesh {
            for topic in topics.followed() {
                gossip::join(&mut swarm, mesh.id(), topic)?;
            }
        }
        let mut deliveries = Deliveries::new(MAX_DM_IN_FLIGHT);
        for entry in store.outbox.all()? {
            match entry.to.parse::<PeerId>() {
                Ok(peer) => {
                    deliveries.restore(peer, entry.message.id, entry.message.ts, entry.held)
                }
                Err(e) => {
                    tracing::warn!(id = %entry.message.id.short(), error = %e, "outbox entry with a bad recipient; skipped")
                }
            }
        }
        let mut peers = Peers::default();
        for peer in addresses.peers() {
            for addr in addresses.of(peer) {
                swarm.add_peer_address(*peer, addr);
            }
            peers.dial_soon(*peer, now);
        }
        for peer in deliveries.unreachable_peers() {
            peers.dial_soon(peer, now);
        }

        let mut control = swarm.behaviour().stream.new_control();
        let incoming = control
            .accept(dm_stream::PROTOCOL)
            .map_err(|e| NodeError::Transport(e.to_string()))?;
        let (dm_events_tx, dm_events) = mpsc::channel(DM_EVENT_CAPACITY);
        let registered = |e: libp2p_stream::AlreadyRegistered| NodeError::Transport(e.to_string());
        let tally = shared.tally.clone();
        // Anyone may ask to join; only members (and members just removed, to hear of it)
        // to sync; only members to use a mailbox.
        let joins = Server::new(
            &mut control,
            super::join::PROTOCOL,
            super::join::RULES,
            None,
            tally.clone(),
        )
        .map_err(registered)?;
        let syncs = Server::new(
            &mut control,
            super::sync::PROTOCOL,
            super::sync::RULES,
            Some(shared.sync_door.clone()),
            tally.clone(),
        )
        .map_err(registered)?;
        let mailbox_requests = Server::new(
            &mut control,
            super::mailbox::PROTOCOL,
            super::mailbox::RULES,
            Some(shared.door.clone()),
            tally,
        )
        .map_err(registered)?;
        let mailboxes = mailbox::Mailboxes::load(&identity, limits.mailbox, &store)?;
        let (synced_tx, synced) = mpsc::channel(SYNCED_CAPACITY);
        if let Some(mesh) = &mesh {
            membership::join_acl_topic(&mut swarm, mesh.id())?;
        }

        let handle = NodeHandle::new(command_tx, events.clone());
        let mut event_loop = EventLoop {
            local: *swarm.local_peer_id(),
            swarm,
            store,
            name,
            commands,
            events,
            started: now,
            clock: Hlc::default(),
            deliveries,
            flush: GroupFlush::default(),
            control,
            incoming: Some(incoming),
            session_ids: SessionIds::default(),
            dm_events,
            dm_events_tx,
            joins,
            syncs,
            mailbox_requests,
            mailboxes,
            synced,
            synced_tx,
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            waiters: HashMap::new(),
            dials: HashMap::new(),
            peers,
            listen_addrs,
            topics,
            doors: Default::default(),
            removed,
            addresses,
            tasks: Default::default(),
            syncing: HashMap::new(),
            prologue: shared.prologue,
            identity,
            mesh,
            rejected: shared.tally,
            door: shared.door,
            sync_door: shared.sync_door,
            metrics: shared.metrics,
            next_resync: now + acl_sync::RESYNC_EVERY,
            retention: limits.history_retention,
            next_prune: now,
            reach: reach::Reach::new(limits.relay),
        };
        for write in forget {
            event_loop.flush.write(write);
        }
        event_loop.open_doors();
        Ok((handle, event_loop))
    }

    /// Runs until a shutdown command arrives or every handle is dropped. Local commands go
    /// first so a busy network cannot starve the API.
    ///
    /// Returns an error when the store failed to flush (a full disk, say): past a failed
    /// write, sled's state in memory can no longer be trusted to match the disk, so the node
    /// stops rather than acknowledge anything more; on the next start sled recovers from its
    /// log, and everything a peer or caller was told is durable is there.
    pub async fn run(mut self) -> Result<(), NodeError> {
        if let Some(incoming) = self.incoming.take() {
            let tasks = self.tasks.spawner();
            let accept = dm_stream::accept(
                incoming,
                self.session_ids.clone(),
                self.dm_events_tx.clone(),
                tasks.clone(),
            );
            tasks.spawn("dm accept", accept);
        }
        self.joins.start(&self.tasks.spawner());
        self.syncs.start(&self.tasks.spawner());
        self.mailbox_requests.start(&self.tasks.spawner());
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown(reply)) => {
                        self.shutdown().await;
                        let _ = reply.send(());
                        return Ok(());
                    }
                    Some(command) => self.on_command(command),
                    None => {
                        self.shutdown().await;
                        return Ok(());
                    }
                },
                (result, items) = self.flush.finished(), if self.flush.is_running() => {
                    let failed = result.as_ref().err().map(|e| e.to_string());
                    self.on_flushed(result, items);
                    if let Some(error) = failed {
                        return Err(NodeError::StorageFailed(error));
                    }
                }
                Some(event) = self.dm_events.recv() => self.on_dm_event(event),
                // Before the exchanges: a storm of sync or mailbox requests must not starve
                // the swarm (gossip, connections) behind them.
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some(join) = self.joins.requests.recv() => {
                    self.redeem(join.peer, join.request, join.reply);
                }
                Some(sync) = self.syncs.requests.recv() => self.answer_sync(sync),
                Some(asked) = self.mailbox_requests.requests.recv() => {
                    self.answer_mailbox(asked.peer, asked.request, asked.reply);
                }
                Some(done) = self.mailboxes.done.recv() => self.on_mailbox_done(done),
                Some((peer, result)) = self.synced.recv() => self.on_synced(peer, result),
                _ = tick.tick() => self.on_tick(),
            }
            self.pump();
        }
    }

    /// Starts every send and flush that became possible.
    fn pump(&mut self) {
        for (peer, id) in self.deliveries.next(Instant::now()) {
            self.send_direct(peer, id);
        }
        self.flush.start(&self.store);
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        for peer in self.deliveries.unreachable_peers() {
            self.peers.dial_soon(peer, now);
        }
        for peer in self.peers.due(now) {
            self.dial_known(peer);
        }
        self.waiters.retain(|_, w| !w.is_closed());
        self.expire_sessions(now);
        self.expire_doors(now);
        // On the tick, not after every event: it walks the messages waiting for absent
        // members, and a held message can wait the 100 ms.
        self.deposit_for_absent(now);
        self.sweep_mailbox(now);
        self.retry_collecting(now);
        self.resync(now);
        self.take_relay_slots();
        self.prune(now);
    }

    /// Drops history past its retention, now and then (hourly, or twice per retention).
    fn prune(&mut self, now: Instant) {
        if now < self.next_prune {
            return;
        }
        self.next_prune = now + PRUNE_EVERY.min(self.retention / 2);
        self.flush.write(Write::PruneBefore(self.oldest_kept()));
    }

    /// The oldest time a message may carry and still be kept (microseconds since the Unix
    /// epoch): anything older is past the retention.
    pub(super) fn oldest_kept(&self) -> u64 {
        let retention = u64::try_from(self.retention.as_micros()).unwrap_or(u64::MAX);
        crate::delivery::clock::wall_us().saturating_sub(retention)
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Id(reply) => {
                let _ = reply.send(self.id());
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peer_infos());
            }
            Command::Dial { addr, reply } => self.dial(addr, reply),
            Command::Send {
                to,
                text,
                wait,
                reply,
            } => self.queue_direct(to, text, wait, reply),
            Command::Publish { topic, text, reply } => self.publish(topic, text, reply),
            Command::Subscribe {
                topic,
                subscribe,
                reply,
            } => {
                let result = self.subscribe(topic, subscribe);
                self.reply_durably(reply, result);
            }
            Command::MeshCreate { name, reply } => self.mesh_create(name, reply),
            Command::Mesh(reply) => {
                let _ = reply.send(self.mesh_info());
            }
            Command::InviteCreate { request, reply } => self.invite_create(request, reply),
            Command::Invites(reply) => {
                let _ = reply.send(self.invites());
            }
            Command::InviteRevoke { id, reply } => self.invite_revoke(&id, reply),
            Command::Members(reply) => {
                let _ = reply.send(self.members());
            }
            Command::Join {
                invite,
                bootstrap,
                reply,
            } => self.join(*invite, bootstrap, reply),
            Command::MemberAdd {
                peer,
                role,
                name,
                reply,
            } => self.member_add(peer, role, name, reply),
            Command::MemberRemove { peer, reply } => self.member_remove(peer, reply),
            Command::MemberRole { peer, role, reply } => self.member_role(peer, role, reply),
            Command::TopicPolicy {
                topic,
                publish,
                reply,
            } => self.topic_policy(topic, publish, reply),
            Command::Joining { mesh } => {
                // Only a node in no mesh changes its prologue to join one.
                if self.mesh.is_none() {
                    self.prologue.set(mesh);
                }
            }
            Command::Adopt { mesh, ops, reply } => self.adopt(mesh, ops, reply),
            Command::Shutdown(_) => unreachable!("handled in run"),
        }
    }

    fn on_flushed(
        &mut self,
        result: Result<Applied, crate::store::StoreError>,
        items: Vec<Durable>,
    ) {
        if let Err(e) = &result {
            tracing::error!(error = %e, "flush failed; nothing in this batch is acknowledged");
        }
        let new = |m: &Message| result.as_ref().is_ok_and(|a| !a.known.contains(&m.id));
        for item in items {
            match (item, &result) {
                (
                    Durable::Ack {
                        session,
                        mut ack,
                        received,
                    },
                    Ok(_),
                ) => {
                    let received = received.filter(|m| new(m));
                    if received.is_none() && matches!(ack.outcome, AckOutcome::Stored) {
                        ack.outcome = AckOutcome::Duplicate;
                    }
                    self.answer(session, ack);
                    if let Some(message) = received {
                        self.tell_received(*message);
                    }
                }
                // No answer: the sender keeps the message in its outbox and retries later.
                (Durable::Ack { .. }, Err(_)) => {}
                (Durable::Queued { reply, queued }, Ok(_)) => {
                    let _ = reply.send(Ok(queued));
                }
                (Durable::Queued { reply, .. }, Err(e)) => {
                    let _ = reply.send(Err(NodeError::Invalid(format!(
                        "the message could not be stored durably: {e}"
                    ))));
                }
                (Durable::Published { reply, result }, Ok(_)) => {
                    let _ = reply.send(Ok(result));
                }
                (Durable::Published { reply, .. }, Err(e)) => {
                    let _ = reply.send(Err(NodeError::Invalid(format!(
                        "published, but could not store it in history: {e}"
                    ))));
                }
                (Durable::Received(message), Ok(_)) => {
                    if new(&message) {
                        self.tell_received(*message);
                    }
                }
                (Durable::Received(_), Err(_)) => {}
                (Durable::Then(then), result) => (then.0)(result.is_ok()),
            }
        }
    }

    /// A message received is in history, new: counted, and local listeners hear of it.
    fn tell_received(&mut self, message: Message) {
        self.metrics.received(match message.kind {
            Kind::Direct => "direct",
            Kind::Topic => "topic",
        });
        let _ = self.events.send(Event::Message(message));
    }

    /// Applies and flushes everything still queued, answering what waited for it.
    async fn shutdown(&mut self) {
        self.flush.start(&self.store);
        while self.flush.is_running() {
            let (result, items) = self.flush.finished().await;
            self.on_flushed(result, items);
            self.flush.start(&self.store);
        }
        self.finish_exchanges().await;
        tracing::info!("event loop stopped");
    }

    /// Lets mailbox exchanges already started (receipts, releases) finish, for at most
    /// [`EXCHANGE_GRACE`], driving the swarm meanwhile since they need it to open streams.
    async fn finish_exchanges(&mut self) {
        let finished = self.tasks.joined();
        tokio::pin!(finished);
        let deadline = tokio::time::sleep(EXCHANGE_GRACE);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut finished => return,
                _ = &mut deadline => {
                    tracing::warn!("stopping with mailbox exchanges unfinished");
                    return;
                }
                _ = self.swarm.select_next_some() => {}
            }
        }
    }

    /// Counts (as `kind`, `reason`) and logs input refused from `peer`.
    fn reject(&mut self, kind: &str, peer: &PeerId, reason: &str, detail: &dyn std::fmt::Display) {
        self.rejected.add_kind(kind, reason);
        tracing::warn!(peer = %short(peer), reason, "refused input from peer: {detail}");
    }

    fn status(&self) -> Status {
        let gossipsub = self.swarm.behaviour().gossipsub();
        let mesh = self.mesh_id();
        let mut topics: Vec<TopicStatus> = self
            .topics
            .followed()
            .map(|name| {
                let peers = mesh.map_or(0, |mesh| {
                    let hash = super::gossip_topic(mesh, name).hash();
                    gossipsub
                        .all_peers()
                        .filter(|(_, topics)| topics.contains(&&hash))
                        .count()
                });
                TopicStatus {
                    name: name.clone(),
                    peers,
                }
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Status {
            peer_id: self.local.to_string(),
            name: self.name.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            listen_addrs: self.listen_addrs.iter().map(|a| a.to_string()).collect(),
            peers: self.peers.len(),
            outbox: self.deliveries.len(),
            uptime_secs: self.started.elapsed().as_secs(),
            topics,
            rejected: self.rejected.counts(),
            mesh: self.mesh.as_ref().map(|m| m.id().to_string()),
            mailbox: self.mailbox_status(),
            relay: self.reach.status(),
            removed: self.removal(),
        }
    }

    fn id(&self) -> IdResponse {
        let suffix = libp2p::multiaddr::Protocol::P2p(self.local);
        IdResponse {
            peer_id: self.local.to_string(),
            addrs: self
                .listen_addrs
                .iter()
                .map(|a| match a.iter().last() {
                    Some(libp2p::multiaddr::Protocol::P2p(_)) => a.to_string(),
                    _ => a.clone().with(suffix.clone()).to_string(),
                })
                .collect(),
        }
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        let mut out: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(peer, c)| PeerInfo {
                peer_id: peer.to_string(),
                addr: c.path.addr.to_string(),
                direction: if c.path.outbound {
                    "outbound"
                } else {
                    "inbound"
                }
                .into(),
                path: if c.path.relayed { "relayed" } else { "direct" }.into(),
                rtt_ms: c.rtt.map(|d| d.as_secs_f64() * 1000.0),
                clock_skew_ms: c.skew_us.map(|us| us as f64 / 1000.0),
                synced_secs_ago: c.synced.map(|t| t.elapsed().as_secs()),
                connected_since: c.since_unix,
            })
            .collect();
        out.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        out
    }
}

/// A PeerId shortened for logs: its last 8 characters.
pub fn short(peer: &PeerId) -> String {
    let s = peer.to_string();
    s[s.len().saturating_sub(8)..].to_string()
}
