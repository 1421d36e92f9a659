//! [`EventLoop`]: the shell around the [`Core`]. The one task that owns the Swarm; it turns
//! what happens (local commands, finished flushes, `/weft/dm/1` sessions, swarm events,
//! requests from peers and answers to this node's, a timer tick) into the core's inputs, and
//! carries out what the core answers: swarm calls, stream writes, store batches (applied
//! and flushed beside the loop by [`Flush`], the only writer of sled), replies and events.
//! It decides nothing itself.
//!
//! Beside this file: `commands` (the handles' commands), `swarm_events` (libp2p's events
//! as inputs), `sessions` (the `/weft/dm/1` streams), `services` (the `/weft/service/1`
//! and `/weft/queue/1` streams), `queues` (the handles' queue commands), `exchanges` (join, sync and mailbox, both ways), `local` (callers waiting for a reply, a delivery or a dial) and `reach`
//! (relaying, relay slots, hole punching).

mod commands;
mod deaf;
mod exchanges;
pub(super) mod liveness;
mod local;
mod queues;
mod reach;
mod services;
mod sessions;
mod swarm_events;

use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{IdentTopic, MessageAcceptance, PublishError};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{PeerId, Swarm};
use tokio::sync::{broadcast, mpsc};
use weft_keys::seal::SealKey;
use weft_proto::api::{Event, Kind};

use self::exchanges::Exchanges;
use self::local::Local;
use self::reach::Reach;
use self::services::Streams;
use self::sessions::Sessions;
use super::behaviour::Behaviour;
use super::dm_stream::DmEvent;
use super::flush::Flush;
use super::handle::{COMMAND_CAPACITY, Command, EVENT_CAPACITY, NodeError, NodeHandle};
use crate::core::io::{Input, Now, Output, Verdict};
use crate::core::{Core, Loaded, Setup, short};
use crate::delivery::clock::wall_us;
use crate::mesh::log::Log;
use crate::mesh::membership::Membership;
use crate::store::Store;

/// How often timers (redial, retry pauses, acknowledgement timeouts) are checked.
const TICK: Duration = Duration::from_millis(100);

/// How long a stopping node lets started mailbox exchanges finish: as long as one may take
/// (a receipt a member leaves with a mailbox as it goes is the only word its sender gets).
const EXCHANGE_GRACE: Duration = crate::network::exchange::TIMEOUT;

/// How long a stopping node waits for its connections to close.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

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
    core: Core,
    flush: Flush,
    shared: Shared,
    local: Local,
    sessions: Sessions,
    services: Streams,
    exchanges: Exchanges,
    tasks: super::tasks::Tasks,
    reach: Reach,
    /// When each member gossip fell behind for was last said to (once a minute at most).
    slow_said: std::collections::HashMap<libp2p::PeerId, Instant>,
}

impl EventLoop {
    /// Builds the loop around a listening `swarm` and the core of what `store` holds:
    /// stored topics followed again, the outbox queued again, every remembered member to
    /// be dialled.
    pub fn new(
        mut swarm: Swarm<Behaviour>,
        store: Store,
        identity: weft_keys::Identity,
        shared: Shared,
        name: Option<String>,
        listen_addrs: Vec<libp2p::Multiaddr>,
        limits: crate::config::Limits,
    ) -> Result<(NodeHandle, EventLoop), NodeError> {
        let (command_tx, commands) = mpsc::channel(COMMAND_CAPACITY);
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (bench, _) = broadcast::channel(EVENT_CAPACITY);
        let loaded = load(&store)?;
        if limits.relay.is_some() {
            // A relay's reservations carry its addresses.
            for addr in reach::relay_addresses(&listen_addrs) {
                swarm.add_external_address(addr);
            }
        }
        let control = swarm.behaviour().stream.new_control();
        let registered = |e: libp2p_stream::AlreadyRegistered| NodeError::Transport(e.to_string());
        let sessions = Sessions::new(control.clone(), store.outbox.clone()).map_err(registered)?;
        let services = Streams::new(control.clone(), store.queues.clone()).map_err(registered)?;
        let seal = SealKey::of(&identity);
        let exchanges =
            Exchanges::new(control, store.clone(), seal, &shared).map_err(registered)?;
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| NodeError::Transport(e.to_string()))?;
        let setup = Setup {
            identity,
            name,
            listen_addrs,
            limits,
            seed: u64::from_le_bytes(seed),
        };
        let handle = NodeHandle::new(command_tx, events.clone(), bench.clone());
        let mut event_loop = EventLoop {
            swarm,
            core: Core::new(setup, loaded, now()),
            flush: Flush::new(store),
            shared,
            local: Local::new(commands, events, bench),
            sessions,
            services,
            exchanges,
            tasks: Default::default(),
            reach: Reach::new(limits.relay),
            slow_said: Default::default(),
        };
        event_loop.carry_out();
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
        let spawner = self.tasks.spawner();
        self.sessions.start(&spawner);
        self.services.start(&spawner, &self.shared);
        self.exchanges.start(&spawner);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                command = self.local.commands.recv() => match command {
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
                result = self.flush.finished(), if self.flush.is_running() => {
                    if let Err(e) = result {
                        // Past a failed write nothing more is written or acknowledged: the
                        // callers waiting hear that it failed, and the node stops.
                        self.input(Input::Flushed(Err(e.to_string())));
                        self.carry_out_decisions();
                        return Err(NodeError::StorageFailed(e.to_string()));
                    }
                    self.input(Input::Flushed(result.map_err(|e| e.to_string())));
                }
                Some(event) = self.sessions.events.recv() => self.on_dm_event(event),
                Some(event) = self.services.calls.events.recv() => self.on_service_event(event),
                Some(event) = self.services.queues.events.recv() => self.on_queue_event(event),
                // Before the exchanges: a storm of sync or mailbox requests must not starve
                // the swarm (gossip, connections) behind them.
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some(input) = self.exchanges.next() => self.input(input),
                _ = tick.tick() => {
                    if let Some((cpu_permille, mem_permille)) = super::machine::load() {
                        self.input(Input::Machine { cpu_permille, mem_permille });
                    }
                    self.input(Input::Tick);
                    self.local.forget_gone();
                    self.take_relay_slots();
                    self.reconnect_deaf(std::time::Instant::now());
                    self.close_dead_links(std::time::Instant::now());
                }
            }
            self.carry_out();
        }
    }

    /// Hands `input` to the core, now.
    fn input(&mut self, input: Input) {
        self.core.handle(input, now());
    }

    /// Carries out everything the core decided, and starts the next flush when none runs.
    fn carry_out(&mut self) {
        self.carry_out_decisions();
        if !self.flush.is_running()
            && let Some(batch) = self.core.batch()
        {
            self.flush.start(batch);
        }
    }

    /// Carries out everything the core decided (but the writes).
    fn carry_out_decisions(&mut self) {
        let tasks = self.tasks.spawner();
        while let Some(output) = self.core.poll() {
            match output {
                Output::Dial { peer, addrs } => self.dial(peer, addrs),
                Output::Disconnect(peer) => {
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
                Output::Wall(peer) => {
                    let _ = self.swarm.behaviour_mut().blocked.block_peer(peer);
                }
                Output::Addresses { peer, addrs } => {
                    for addr in addrs {
                        self.swarm.add_peer_address(peer, addr);
                    }
                }
                Output::Subscribe(topic) => {
                    let gossipsub = self.swarm.behaviour_mut().gossipsub_mut();
                    if let Err(e) = gossipsub.subscribe(&IdentTopic::new(&topic)) {
                        tracing::error!(%topic, error = %e, "cannot subscribe");
                    }
                }
                Output::Unsubscribe(topic) => {
                    let gossipsub = self.swarm.behaviour_mut().gossipsub_mut();
                    gossipsub.unsubscribe(&IdentTopic::new(topic));
                }
                Output::Publish { topic, data } => {
                    let gossipsub = self.swarm.behaviour_mut().gossipsub_mut();
                    match gossipsub.publish(IdentTopic::new(&topic), data) {
                        // Nobody to hand it to now: kept all the same, and subscribers get it
                        // when they next sync with this node (catch-up).
                        Ok(_) | Err(PublishError::NoPeersSubscribedToTopic) => {}
                        Err(e) => {
                            tracing::warn!(%topic, error = %e, "not gossiped now; members catch up on it")
                        }
                    }
                }
                Output::Verdict { id, via, verdict } => {
                    let acceptance = match verdict {
                        Verdict::Accept => MessageAcceptance::Accept,
                        Verdict::Ignore => MessageAcceptance::Ignore,
                        Verdict::Reject => MessageAcceptance::Reject,
                    };
                    let id = libp2p::gossipsub::MessageId(id);
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .gossipsub_mut()
                        .report_message_validation_result(&id, &via, acceptance);
                }
                Output::Prologue(mesh) => self.shared.prologue.set(mesh),
                Output::Doors { members, leaving } => {
                    self.shared.door.set(members.iter().copied());
                    self.shared
                        .sync_door
                        .set(members.into_iter().chain(leaving));
                }
                Output::Send { peer, message } => {
                    let id = message.id();
                    if !self.sessions.send(peer, message, &tasks) {
                        let error = Some("the session ended".to_string());
                        self.input(Input::Unsent { peer, id, error });
                    }
                }
                Output::Ack { session, ack } => self.sessions.answer(session, ack),
                Output::Retire(peer) => self.sessions.retire(&peer),
                Output::Answer { id, response } => self.exchanges.answer(id, response),
                Output::AnswerSync {
                    id,
                    response,
                    wanted,
                } => self.exchanges.answer_sync(id, response, wanted, &tasks),
                Output::AnswerFetch { id, boxes, more } => {
                    self.exchanges.answer_fetch(id, boxes, more, &tasks)
                }
                Output::Ask { id, peer, ask } => self.exchanges.ask(id, peer, ask, &tasks),
                Output::Deposit { id, peer, sealings } => {
                    self.exchanges.deposit(id, peer, sealings, &tasks)
                }
                Output::Forward { id, peer, held } => {
                    self.exchanges.forward(id, peer, held, &tasks)
                }
                output @ (Output::CallOut { .. }
                | Output::ToCaller { .. }
                | Output::Alive(_)
                | Output::Serve { .. }
                | Output::OpenToProducer { .. }
                | Output::ToProducer { .. }
                | Output::ToWorker { .. }
                | Output::Deliver { .. }
                | Output::Work { .. }) => self.carry_out_stream(output, &tasks),
                Output::Called { id, end } => self.local.called(id, end),
                Output::Event(event) => self.tell(event),
                Output::Delivery { id, delivery } => self.local.delivery(id, delivery),
                Output::Released { ticket, ok } => self.local.released(ticket, ok),
                Output::Refused { kind, reason } => self.shared.tally.add_kind(kind, &reason),
                Output::Observed(observation) => self.shared.metrics.work.observe(&observation),
            }
        }
    }

    /// Dials member `peer` at `addrs`, unless it is connected or being dialled.
    fn dial(&mut self, peer: PeerId, addrs: Vec<libp2p::Multiaddr>) {
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        match self.swarm.dial(opts) {
            // Connected or being dialled already: that dial's outcome will tell.
            Ok(()) | Err(libp2p::swarm::DialError::DialPeerConditionFalse(_)) => {}
            Err(e) => {
                tracing::debug!(peer = %short(&peer), error = %e, "redial not started");
                self.input(Input::DialFailed { peer });
            }
        }
    }

    /// Tells local listeners `event`, counting what it says in the metrics.
    fn tell(&mut self, event: Event) {
        let metrics = &self.shared.metrics;
        match &event {
            Event::Message(message) => metrics.received(match message.kind {
                Kind::Direct => "direct",
                Kind::Topic => "topic",
            }),
            Event::Bench { .. } => {
                metrics.received("bench_topic");
                // On their own channel: no one but a benchmark's receiver waits for them,
                // and they must not crowd out what everyone else listens to.
                let _ = self.local.bench.send(event);
                return;
            }
            Event::Delivered { latency_ms, .. } => {
                metrics.delivery_latency.observe(latency_ms / 1000.0)
            }
            _ => {}
        }
        let _ = self.local.events.send(event);
    }

    /// What a `/weft/dm/1` session task reported.
    fn on_dm_event(&mut self, event: DmEvent) {
        match event {
            DmEvent::Ack { peer, ack } => self.input(Input::Acked { peer, ack }),
            DmEvent::OutboundClosed {
                peer,
                session,
                reason,
            } => {
                tracing::debug!(peer = %short(&peer), %reason, "outbound session closed");
                self.sessions.outbound_closed(&peer, session);
                self.input(Input::SessionLost { peer });
            }
            DmEvent::InboundOpened {
                peer,
                session,
                acks,
            } => self
                .sessions
                .inbound_opened(peer, session, acks, &self.shared.tally),
            DmEvent::InboundClosed { session } => self.sessions.inbound_closed(session),
            DmEvent::Message {
                peer,
                session,
                message,
            } => self.input(Input::Direct {
                peer,
                session,
                message,
            }),
            DmEvent::Unsent { peer, id, error } => {
                if let Some(e) = &error {
                    tracing::error!(id = %id.short(), error = %e, "cannot read outbox entry; retrying later");
                }
                let error = error.map(|e| e.to_string());
                self.input(Input::Unsent { peer, id, error });
            }
            DmEvent::Refused { peer, error } => {
                // Garbage or an oversize frame: count it and drop the connection; every
                // other peer is unaffected.
                self.shared.tally.add_kind("direct", error.reason());
                tracing::warn!(peer = %short(&peer), reason = error.reason(), "refused input from peer: {error}");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    /// Applies and flushes everything still queued, answering what waited for it, then
    /// lets started mailbox exchanges finish.
    async fn shutdown(&mut self) {
        loop {
            self.carry_out();
            if !self.flush.is_running() {
                break;
            }
            let result = self.flush.finished().await.map_err(|e| e.to_string());
            let failed = result.is_err();
            self.input(Input::Flushed(result));
            if failed {
                self.carry_out_decisions();
                break;
            }
        }
        self.finish_exchanges().await;
        self.close_connections().await;
        tracing::info!("event loop stopped");
    }

    /// Closes every connection, for at most [`CLOSE_GRACE`], so that peers learn at once
    /// that this node left: over QUIC no kernel tells them, and a connection they kept to
    /// a node gone would carry their streams into nothing until it timed out.
    async fn close_connections(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let deadline = tokio::time::sleep(CLOSE_GRACE);
        tokio::pin!(deadline);
        while self.swarm.connected_peers().next().is_some() {
            tokio::select! {
                _ = &mut deadline => return,
                _ = self.swarm.select_next_some() => {}
            }
        }
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
}

/// The moment, as the core takes it.
pub(super) fn now() -> Now {
    Now {
        at: Instant::now(),
        unix_us: wall_us(),
    }
}

/// What the store holds, for the core at start (and for a simulated node's restart).
pub(crate) fn load(store: &Store) -> Result<Loaded, crate::store::StoreError> {
    Ok(Loaded {
        mesh: load_mesh(store)?,
        removed: store.mesh.removed_at()?,
        peers: store.peers.all()?,
        topics: store.topics.all()?,
        marks: store.topics_log.marks()?,
        outbox: store.outbox.all()?,
        held: store.mailbox.all()?,
        queue_items: store.queues.items()?,
        queue_done: store.queues.done()?,
    })
}

/// The mesh as stored: the log (its ops admitted again in the order they were first), the
/// cards (sealing keys and display names) and the invites. An op the log no longer admits is skipped, with a warning.
fn load_mesh(store: &Store) -> Result<Option<Membership>, crate::store::StoreError> {
    let Some(id) = store.mesh.id()? else {
        return Ok(None);
    };
    let mut log = Log::new(id);
    for op in store.mesh.ops()? {
        // Judged when it came; a removed author's op was kept because another needed it.
        if let Err(e) = log.admit_removed(op) {
            tracing::warn!(error = %e, "a stored ACL op no longer holds; skipped");
        }
    }
    let mut membership = Membership::new(log, store.mesh.cards()?, store.mesh.invites()?);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for (member, card) in store.mesh.name_cards()? {
        membership.learn_name(member, card, now);
    }
    Ok(Some(membership))
}
