//! The node's decisions without IO: [`Core`], one deterministic state machine fed what
//! happened ([`Input`], with an explicit [`Now`]) that answers with what to do ([`Output`]).
//! No tokio, no swarm, no sled, no clock reads and no randomness: the event loop (the shell)
//! translates libp2p events, finished flushes and local commands into inputs and carries the
//! outputs out (swarm calls, stream writes, store batches, replies); the simulation
//! (`sim`, unit tests only) runs many cores over an in-memory network on a fake clock.
//!
//! The core composes small state machines, each in its own module with its own tests:
//!
//! - [`mesh`]: this node's mesh: the ACL log and its members, invites, its own removal,
//!   and where members are.
//! - [`doors`]: who may stay connected: strangers for their grace, members just removed for
//!   the moment they need to hear of it, and when the wall closes.
//! - [`peers`]: who is connected, over which path, and whom to dial again when.
//! - [`keep`]: whom this node keeps connected: a few standing members, the rest on demand,
//!   within a cap; [`followers`]: who follows which topics, so a few followers of each
//!   topic this node follows stay connected.
//! - [`delivery`]: direct messages from queued to settled: what goes on the wire next, who
//!   stopped acknowledging, what expired, what waits for a mailbox.
//! - [`topics`]: the topics followed: which messages are taken, how far each publisher's
//!   run is held, what a catch-up asks and what its answer holds.
//! - [`mailbox`]: the boxes held for others ([`holding`], within a [`quota`]), handed to
//!   their recipients ([`forwards`]), and this node's collections from mailboxes
//!   ([`collect`]).
//! - [`acl_sync`]: the ACL log between members: what a sync asks, what its answer holds.
//! - [`directory`]: where members are, as sync answers carry it: only what changed since
//!   the asker's last sync.
//! - [`asks`]: this node's requests to peers under way, and what each is for.
//! - [`services`]: request/reply to named services: who offers what ([`services::catalogue`]),
//!   this node's calls ([`services::calls`]) and the calls it serves ([`services::serving`]).
//! - [`commit`]: group commit: the writes queued, and what waits for them to be on disk.
//!
//! [`io`] holds what crosses the boundary: the inputs, the outputs and the data they carry.
//!
//! The glue that routes an input through them lives beside them, by subject: `connections`
//! (connections, dials, the doors carried out, this node's removal), `membership` (the
//! mesh's commands, redeeming invites, ACL ops), `sync` (`/weft/sync/1` both ways and topic
//! catch-up), `direct` (`/weft/dm/1` both ways), `gossip` (topics), `sealed` (depositing,
//! collecting and opening sealed boxes), the mailbox side in `mailbox`, and benchmark
//! traffic in `bench`.
//!
//! [`Input`]: io::Input
//! [`Output`]: io::Output
//! [`Now`]: io::Now

pub mod acl_sync;
pub mod asks;
mod bench;
pub mod collect;
pub mod commit;
mod connections;
pub mod delivery;
mod direct;
pub mod directory;
pub mod doors;
pub mod followers;
pub mod forwards;
mod gossip;
pub mod holding;
pub mod in_order;
pub mod io;
pub mod keep;
pub mod links;
pub mod mailbox;
mod membership;
pub mod mesh;
mod naming;
pub mod peers;
pub mod queues;
pub mod quota;
pub mod rng;
mod sealed;
pub mod services;
#[cfg(test)]
pub mod sim;
mod sync;
pub mod topics;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use weft_keys::Identity;
use weft_keys::seal::SealKey;
use weft_proto::api::{PeerInfo, Status, TopicStatus};
use weft_proto::mesh::MemberKey;
use weft_proto::queue::ItemId;
use weft_proto::seal::SealCard;
use weft_proto::topic::TopicName;

use weft_proto::api::Event;
use weft_proto::dm::AckOutcome;
use weft_proto::mailbox::{MailboxResponse, Outcome};

use self::asks::{Asks, Purpose};
use self::collect::Step;
use self::commit::{Commit, Durable};
use self::delivery::Deliveries;
use self::doors::Doors;
use self::forwards::Forwarded;
use self::io::{Answer, AskId, AskedId, Input, Now, Output, Request};
use self::mailbox::Mailbox;
use self::mesh::Mesh;
use self::peers::Peers;
use self::queues::Queues;
use self::services::{Services, service_topic};
use self::topics::Topics;
use crate::config::Limits;
use crate::delivery::clock::Hlc;
use crate::mesh::membership::Membership;
use crate::network::behaviour::MAX_DM_IN_FLIGHT;
use crate::store::mailbox::BoxInfo;
use crate::store::outbox::OutboxEntry;
use crate::store::peers::KnownAddrs;
use crate::store::queues::{DoneItem, StoredItem};
use crate::store::write::{Applied, Write};

pub use self::membership::Policy;
pub use self::mesh::acl_topic;

/// How often connected members are synced with again.
pub const RESYNC_EVERY: Duration = Duration::from_secs(10);

/// How often the standing members are topped up when fewer are connected.
const TOP_UP_EVERY: Duration = Duration::from_secs(1);

/// How often history is pruned to its retention, at most.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How often held boxes and the outbox are checked for expiry (more often when the TTL is
/// short).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Who this node is and what it was started with.
pub struct Setup {
    /// Its identity: signs ACL ops, invites and topic messages.
    pub identity: Identity,
    /// The name given at `weft init`.
    pub name: Option<String>,
    /// Where its listeners are bound.
    pub listen_addrs: Vec<Multiaddr>,
    /// How much it keeps, and for how long.
    pub limits: Limits,
    /// Where the core's chance comes from (which provider a call goes to, call ids).
    pub seed: u64,
}

/// What the store held at start.
#[derive(Default)]
pub struct Loaded {
    /// The mesh, when this node is in one.
    pub mesh: Option<Membership>,
    /// When this node learnt it was removed from its mesh (Unix seconds).
    pub removed: Option<u64>,
    /// Where peers can be reached.
    pub peers: Vec<(PeerId, KnownAddrs)>,
    /// The topics followed.
    pub topics: Vec<TopicName>,
    /// How far each publisher's run is held (topic, publisher, first number not held).
    pub marks: Vec<(TopicName, MemberKey, u64)>,
    /// Direct messages not yet settled.
    pub outbox: Vec<OutboxEntry>,
    /// The boxes held for others.
    pub held: Vec<BoxInfo>,
    /// The work items held as their producer.
    pub queue_items: Vec<(ItemId, StoredItem)>,
    /// The work items acknowledged and remembered.
    pub queue_done: Vec<(ItemId, DoneItem)>,
}

/// The node's decisions. Build it with [`Core::new`], feed it with [`Core::handle`] and the
/// local commands, and drain what to do with [`Core::poll`] and [`Core::batch`].
pub struct Core {
    me: Me,
    mesh: Mesh,
    doors: Doors,
    peers: Peers<PeerId, Multiaddr>,
    keep: keep::Keep<PeerId>,
    followers: followers::Followers,
    delivery: Deliveries<PeerId>,
    topics: Topics,
    mailbox: Mailbox,
    asks: Asks,
    services: Services,
    queues: Queues,
    commit: Commit,
    timers: Timers,
    /// What members said they are connected to.
    reports: links::Reports,
    /// Where members are, as this node last sent it, and how far others brought it.
    directory: directory::Directory,
    /// Topic messages heard by local listeners in each publisher's order.
    in_order: in_order::InOrder,
    /// What this node does with benchmark traffic.
    bench: bench::Bench,
    out: VecDeque<Output>,
}

/// Who this node is.
struct Me {
    identity: Identity,
    peer: PeerId,
    key: MemberKey,
    name: Option<String>,
    seal: SealKey,
    /// The card that publishes `seal`, signed by `identity`.
    card: SealCard,
    listen_addrs: Vec<Multiaddr>,
    clock: Hlc,
    retention: Duration,
    started: Instant,
}

/// When the periodic work is next due.
struct Timers {
    resync: Instant,
    top_up: Instant,
    prune: Instant,
    sweep: Instant,
}

impl Core {
    /// The core of the node `setup` describes, from what the store held at start: stored
    /// topics followed again, the outbox queued again, and a few remembered members (the
    /// standing ones, at random) to be dialled.
    pub fn new(setup: Setup, loaded: Loaded, now: Now) -> Core {
        let Setup {
            identity,
            name,
            listen_addrs,
            limits,
            seed,
        } = setup;
        let key = identity.member_key();
        // An identity's public key is a valid ed25519 point, so it has a PeerId.
        let peer = crate::mesh::membership::peer_of(&key).expect("an ed25519 PeerId");
        let seal = SealKey::of(&identity);
        let card = seal.card(&identity);
        let (mesh, forget) = Mesh::load(loaded.mesh, loaded.removed, loaded.peers);
        let mut delivery = Deliveries::new(MAX_DM_IN_FLIGHT);
        let mut forget = forget;
        for entry in loaded.outbox {
            if entry.message.bench {
                // Whoever waited for a benchmark message went with the last run.
                forget.push(Write::RemoveOutbox(entry.message.id));
                continue;
            }
            match entry.to.parse::<PeerId>() {
                Ok(to) => delivery.restore(to, entry.message.id, entry.message.ts, entry.held),
                Err(e) => {
                    tracing::warn!(id = %entry.message.id.short(), error = %e, "outbox entry with a bad recipient; skipped")
                }
            }
        }
        let mut core = Core {
            me: Me {
                identity,
                peer,
                key,
                name,
                seal,
                card,
                listen_addrs,
                clock: Hlc::default(),
                retention: limits.history_retention,
                started: now.at,
            },
            mesh,
            doors: Doors::default(),
            peers: Peers::default(),
            followers: followers::Followers::new(limits.connections / 2),
            keep: keep::Keep::new(limits.connections, seed.rotate_left(48) ^ 0x6b65_6570),
            delivery,
            topics: Topics::new(loaded.topics, loaded.marks),
            mailbox: Mailbox::new(limits.mailbox, loaded.held),
            asks: Asks::default(),
            services: Services::new(seed, now.at),
            queues: Queues::new(
                seed.rotate_left(32) ^ 0x7175_6575,
                loaded.queue_items,
                loaded.queue_done,
                now.at,
            ),
            commit: Commit::default(),
            timers: Timers {
                resync: now.at + RESYNC_EVERY,
                top_up: now.at,
                prune: now.at,
                sweep: now.at,
            },
            reports: links::Reports::default(),
            directory: directory::Directory::new(directory::run(seed, now.unix_us)),
            in_order: in_order::InOrder::default(),
            bench: bench::Bench::new(limits.bench_dm),
            out: VecDeque::new(),
        };
        for write in forget {
            core.commit.write(write);
        }
        if let Some(id) = core.mesh.id() {
            core.out.push_back(Output::Prologue(Some(id)));
            core.out.push_back(Output::Subscribe(acl_topic(id)));
            core.out.push_back(Output::Subscribe(service_topic(id)));
            core.follow_topics_of_mesh();
        }
        let known: Vec<PeerId> = core.mesh.addresses().peers().copied().collect();
        for &peer in &known {
            core.tell_addresses(peer);
        }
        for peer in core.keep.pick_standing(known) {
            core.peers.dial_soon(peer, now.at);
        }
        for peer in core.delivery.unreachable_peers() {
            core.peers.dial_soon(peer, now.at);
        }
        core.keep_mailboxes(now);
        core.open_doors();
        core
    }

    /// Decides on `input` at `now`; what to do comes out of [`Core::poll`].
    pub fn handle(&mut self, input: Input, now: Now) {
        if let Some(peer) = input.in_use().filter(|p| self.peers.is_connected(p)) {
            self.keep.used(peer, now.at);
        }
        match input {
            Input::Connected { peer, path } => self.on_connected(peer, path, now),
            Input::Disconnected { peer } => self.on_disconnected(peer, now),
            Input::Deaf { peer } => self.on_deaf(peer, now),
            Input::DialFailed { peer } => {
                if let Some(failed) = self.peers.dial_failed(peer, now.at) {
                    tracing::debug!(peer = %short(&peer), "dial failed; trying again later");
                    self.unreachable(peer, now);
                    self.dial_failed(peer, failed);
                }
            }
            Input::Identified {
                peer,
                addrs,
                relays,
            } => {
                self.peers.identified(&peer, relays);
                self.on_identified(peer, addrs);
            }
            Input::Measured { peer, rtt } => self.peers.measured(&peer, rtt),
            Input::Listening(addr) => {
                if !self.me.listen_addrs.contains(&addr) {
                    self.me.listen_addrs.push(addr);
                }
            }
            Input::NotListening(addr) => self.me.listen_addrs.retain(|a| *a != addr),
            Input::Discovered(found) => self.on_discovered(found, now),
            Input::Gossip(gossip) => self.on_gossip(gossip, now),
            Input::Direct {
                peer,
                session,
                message,
            } => self.on_direct(peer, session, message, now),
            Input::Acked { peer, ack } => self.on_ack(peer, ack, now),
            Input::SessionLost { peer } => self.delivery.session_lost(&peer, now.at),
            Input::Unsent { peer, id, error } => self.on_unsent(peer, id, error, now),
            Input::Asked { id, peer, request } => self.on_asked(id, peer, request, now),
            Input::ServiceCall {
                peer,
                session,
                call,
            } => self.on_service_call(peer, session, call, now),
            Input::ServiceFrame { peer, frame } => self.on_provider_frame(peer, frame, now),
            Input::ServiceLost { peer } => self.on_service_lost(peer, now),
            Input::WorkerFrame {
                peer,
                session,
                frame,
            } => self.on_worker_frame(peer, session, frame, now),
            Input::WorkerGone { session } => self.on_worker_gone(session, now),
            Input::ProducerFrame { peer, frame } => self.on_producer_frame(peer, frame),
            Input::ProducerLost { peer } => self.on_producer_lost(peer),
            Input::Machine {
                cpu_permille,
                mem_permille,
            } => self.machine(cpu_permille, mem_permille),
            Input::Answered { id, answer } => self.on_answered(id, answer, now),
            Input::Flushed(result) => self.on_flushed(result, now),
            Input::Tick => self.on_tick(now),
        }
        self.pump(now);
    }

    /// The next thing to do, in order.
    pub fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next batch of writes to apply and flush, when none runs and anything is queued;
    /// its end comes back as [`Input::Flushed`].
    pub fn batch(&mut self) -> Option<Vec<Write>> {
        self.commit.batch()
    }

    /// A ticket for a local caller's answer: released (as [`Output::Released`]) once every
    /// write queued so far is on disk.
    pub fn ticket(&mut self) -> io::Ticket {
        self.commit.ticket()
    }

    /// Whether nothing waits to be written or released.
    pub fn is_flushed(&self) -> bool {
        self.commit.is_idle()
    }

    /// Starts every send that became possible.
    fn pump(&mut self, now: Now) {
        for (peer, id) in self.delivery.next(now.at) {
            let message = self.commit.outgoing(id);
            self.out.push_back(Output::Send { peer, message });
        }
    }

    /// A peer asked something: each protocol's answer is decided by its own glue.
    fn on_asked(&mut self, id: AskedId, peer: PeerId, request: Request, now: Now) {
        match request {
            Request::Join(request) => self.redeem(id, peer, &request, now),
            Request::Sync(request) => self.answer_sync(id, peer, request, now),
            Request::Mailbox(request) => self.answer_mailbox(id, peer, request, now),
        }
    }

    /// A request of this node's ended: taken as what it was for.
    fn on_answered(&mut self, id: AskId, answer: Result<Answer, String>, now: Now) {
        let Some(purpose) = self.asks.answered(id) else {
            return;
        };
        let mailbox = |answer: Result<Answer, String>| match answer {
            Ok(Answer::Mailbox(response)) => Ok(response),
            Ok(other) => Err(format!("not a mailbox answer: {other:?}")),
            Err(e) => Err(e),
        };
        match purpose {
            Purpose::Sync { peer, after } => {
                let synced = match answer {
                    Ok(Answer::Sync(synced)) => Ok(synced),
                    Ok(other) => Err(format!("not a sync answer: {other:?}")),
                    Err(e) => Err(e),
                };
                self.on_synced(peer, after, synced, now);
            }
            Purpose::Deposit { mailbox: at, items } => {
                self.on_deposited(at, items, mailbox(answer), now)
            }
            Purpose::Fetch { mailbox: at } => self.on_fetched(at, mailbox(answer), now),
            Purpose::Release { mailbox: at, more } => {
                let step = match (mailbox(answer), more) {
                    (Ok(MailboxResponse::Released { .. }), true) => Step::More,
                    (Ok(MailboxResponse::Released { .. }), false) => Step::Drained,
                    _ => Step::Failed,
                };
                self.collected(at, step, now);
            }
            Purpose::Receipt => {
                if let Err(e) = mailbox(answer) {
                    tracing::debug!(error = %e, "a receipt did not go out");
                }
            }
            Purpose::Forward { peer, to, id } => {
                let how = match answer {
                    Ok(Answer::Mailbox(MailboxResponse::Deposited { outcomes }))
                        if matches!(outcomes[..], [Outcome::Held { .. }]) =>
                    {
                        Forwarded::Held
                    }
                    Ok(_) => Forwarded::Refused,
                    Err(_) => Forwarded::Failed,
                };
                self.forwarded(peer, to, id, how, now);
            }
        }
    }

    /// The running batch was applied and flushed (or failed): what waited for it is
    /// released. After a failure only local callers hear (that it failed): the shell stops,
    /// and peers, unanswered, try again later.
    fn on_flushed(&mut self, result: Result<Applied, String>, now: Now) {
        if let Err(e) = &result {
            tracing::error!(error = %e, "flush failed; nothing in this batch is acknowledged");
        }
        let ok = result.is_ok();
        let known = result.map(|a| a.known).unwrap_or_default();
        for item in self.commit.flushed() {
            match item {
                Durable::Release(ticket) => self.out.push_back(Output::Released { ticket, ok }),
                _ if !ok => {}
                Durable::Ack {
                    session,
                    mut ack,
                    received,
                } => {
                    let received = received.filter(|m| !known.contains(&m.id));
                    if received.is_none() && matches!(ack.outcome, AckOutcome::Stored) {
                        ack.outcome = AckOutcome::Duplicate;
                    }
                    self.out.push_back(Output::Ack { session, ack });
                    if let Some(message) = received {
                        self.out.push_back(Output::Event(Event::Message(*message)));
                    }
                }
                Durable::Received(message) => {
                    if !known.contains(&message.id) {
                        self.out.push_back(Output::Event(Event::Message(*message)));
                    }
                }
                Durable::Published {
                    message,
                    topic,
                    publisher,
                    seq,
                } => {
                    let heard = if known.contains(&message.id) {
                        self.in_order.passed(topic, publisher, seq, now.at)
                    } else {
                        self.in_order
                            .arrived(topic, publisher, seq, *message, now.at)
                    };
                    self.hear(heard);
                }
                Durable::Then(output) => self.out.push_back(*output),
                Durable::Collected { mailbox, step } => self.collected(mailbox, step, now),
            }
        }
    }

    /// Local listeners hear `messages`, in this order.
    fn hear(&mut self, messages: Vec<weft_proto::api::Message>) {
        for message in messages {
            self.out.push_back(Output::Event(Event::Message(message)));
        }
    }

    fn on_tick(&mut self, now: Now) {
        let due = self.in_order.due(now.at);
        self.hear(due);
        for peer in self.delivery.unreachable_peers() {
            self.peers.dial_soon(peer, now.at);
        }
        if now.at >= self.timers.top_up {
            self.timers.top_up = now.at + TOP_UP_EVERY;
            self.top_up(now);
        }
        self.dial_due(now);
        self.expire_sessions(now);
        self.expire_doors(now);
        // On the tick, not after every input: it walks the messages waiting for absent
        // members, and a held message can wait the 100 ms.
        self.deposit_for_absent(now);
        self.retry_collecting(now);
        self.retry_forwards(now);
        self.tick_services(now);
        self.tick_queues(now);
        if now.at >= self.timers.sweep {
            let every = SWEEP_EVERY.min(self.mailbox.limits().ttl / 2);
            self.timers.sweep = now.at + every;
            self.sweep(now);
        }
        if now.at >= self.timers.resync {
            self.timers.resync = now.at + RESYNC_EVERY;
            // Trimmed first: a sync opened to a member being closed would dial it again.
            let closing = self.trim(now);
            self.resync(&closing);
            let peers = &self.peers;
            self.directory.expire(now.at, |p| peers.is_connected(p));
            self.keep_mailboxes(now);
            self.prune_links(now);
        }
        if now.at >= self.timers.prune {
            self.timers.prune = now.at + PRUNE_EVERY.min(self.me.retention / 2);
            self.commit.write(Write::PruneBefore(self.oldest_kept(now)));
        }
    }

    /// The oldest time a message may carry and still be kept (microseconds since the Unix
    /// epoch): anything older is past the retention.
    fn oldest_kept(&self, now: Now) -> u64 {
        let retention = u64::try_from(self.me.retention.as_micros()).unwrap_or(u64::MAX);
        now.unix_us.saturating_sub(retention)
    }

    /// Counts (as `kind`, `reason`) and logs input refused from `peer`.
    fn reject(
        &mut self,
        kind: &'static str,
        peer: &PeerId,
        reason: &str,
        detail: &dyn std::fmt::Display,
    ) {
        tracing::warn!(peer = %short(peer), reason, "refused input from peer: {detail}");
        self.out.push_back(Output::Refused {
            kind,
            reason: reason.to_string(),
        });
    }

    /// Counts input refused (as `kind`, `reason`) without a line of its own.
    fn count(&mut self, kind: &'static str, reason: &str) {
        self.out.push_back(Output::Refused {
            kind,
            reason: reason.to_string(),
        });
    }

    /// This node's PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.me.peer
    }

    /// Where this node's listeners are bound.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.me.listen_addrs
    }

    /// Who is connected, and how.
    pub fn peers(&self) -> &Peers<PeerId, Multiaddr> {
        &self.peers
    }

    /// Whether this node lets `peer` in: members of its mesh; no one while it is in none,
    /// or once it was removed.
    pub fn admits(&self, peer: &PeerId) -> bool {
        self.mesh.admits(peer)
    }

    /// This node's view of its mesh, when it is in one.
    pub fn membership(&self) -> Option<&Membership> {
        self.mesh.get()
    }

    /// How many direct messages are not settled.
    pub fn outbox_len(&self) -> usize {
        self.delivery.len()
    }

    /// What this node holds for others.
    pub fn holding(&self) -> &holding::Holding {
        self.mailbox.holding()
    }

    /// Where member `peer` can be reached, as far as this node knows.
    pub fn addresses_of(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.mesh.addresses().of(peer)
    }

    /// The topics followed, in no order.
    pub fn followed(&self) -> impl Iterator<Item = &TopicName> {
        self.topics.followed()
    }

    /// The gossipsub topic of `topic` in this node's mesh (of its benchmark messages when
    /// `bench`), when it is in one.
    pub fn gossip_topic(&self, topic: &TopicName, bench: bool) -> Option<String> {
        let mesh = self.mesh.id()?.to_string();
        Some(match bench {
            true => topic.bench_gossip_topic(&mesh),
            false => topic.gossip_topic(&mesh),
        })
    }

    /// The gossipsub topics a follower of `topic` subscribes to in this node's mesh (its
    /// messages', and its benchmark messages'), when it is in one.
    fn gossip_topics(&self, topic: &TopicName) -> Vec<String> {
        [false, true]
            .into_iter()
            .filter_map(|bench| self.gossip_topic(topic, bench))
            .collect()
    }

    /// The node's status, as far as the core knows it: the shell adds the topics' peers,
    /// the refusals counted and relaying.
    pub fn status(&self, now: Now) -> Status {
        let mut topics: Vec<TopicStatus> = self
            .topics
            .followed()
            .map(|name| TopicStatus {
                name: name.clone(),
                peers: 0,
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Status {
            peer_id: self.me.peer.to_string(),
            name: self.me.name.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            listen_addrs: self.me.listen_addrs.iter().map(|a| a.to_string()).collect(),
            peers: self.peers.len(),
            outbox: self.delivery.len(),
            uptime_secs: now.at.saturating_duration_since(self.me.started).as_secs(),
            topics,
            rejected: Default::default(),
            mesh: self.mesh.id().map(|id| id.to_string()),
            mailbox: self.mailbox_status(),
            relay: Default::default(),
            removed: self.removal(),
        }
    }

    /// The connected peers, for `weft peers`.
    pub fn peer_infos(&self, now: Now) -> Vec<PeerInfo> {
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
                synced_secs_ago: c
                    .synced
                    .map(|t| now.at.saturating_duration_since(t).as_secs()),
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
