//! A deterministic simulation of whole nodes, in the spirit of iroh-gossip's `sim` and
//! quinn's `Pair`: each node is a real [`Core`] over a real store (a temporary sled
//! database), and an in-memory shell (`shell`) carries its outputs out over an in-memory
//! network: connections that come up and go down, gossip with validation before forwarding,
//! `/weft/dm/1` sessions, the request/response exchanges with their doors and timeouts,
//! group commit with a flush that takes time. The network has per-frame latency (hence
//! reordering), loss, cut links and nodes offline; a node can crash, losing what it had not
//! flushed, and come back from its store. Time is a fake clock; every choice is drawn from
//! one seed, so a failing seed replays exactly.
//!
//! What the simulated applications saw (each node's events) and what each node sent are
//! recorded for the tests in `membership`, `topics`, `delivery` and `mailbox` to check.

mod calls;
mod pulls;
mod shell;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use weft_keys::Identity;
use weft_keys::invite::{Invite, InviteSecret};
use weft_proto::MessageId;
use weft_proto::acl::OpKind;
use weft_proto::api::{CreateInviteRequest, Message};
use weft_proto::mesh::{MemberKey, MeshId, Role};
use weft_proto::topic::TopicName;

use self::shell::{Frame, Shell};
use super::io::{Delivery, Input, Now};
pub use super::rng::Rng;
use super::{Core, Loaded, Setup, io};
use crate::config::{Limits, MailboxLimits, Mdns};
use crate::mesh::log::Log;
use crate::mesh::membership::{Membership, peer_of};
use crate::store::Store;
use crate::store::peers::KnownAddrs;
use crate::store::write::Write;

/// How often a node's timers run (the shell's tick).
const TICK_MS: u64 = 100;

/// How long an exchange waits for its answer (the shell's timeout).
const EXCHANGE_TIMEOUT_MS: u64 = 10_000;

/// The simulated Unix time at the start, in seconds.
const EPOCH_SECS: u64 = 1_800_000_000;

/// The topic every member follows.
pub const TOPIC: &str = "chat";

/// The topic every member follows, [`TOPIC`].
pub fn topic() -> TopicName {
    TOPIC.parse().expect("a topic name")
}

/// How the network misbehaves.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    /// Frames lost, per thousand.
    pub loss: u64,
    /// Fastest delivery, milliseconds.
    pub min_ms: u64,
    /// Slowest delivery, milliseconds.
    pub max_ms: u64,
}

impl Faults {
    /// A steady network: nothing lost, `ms` for every frame.
    pub fn steady(ms: u64) -> Faults {
        Faults {
            loss: 0,
            min_ms: ms,
            max_ms: ms,
        }
    }
}

/// Messages and bytes sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Frames.
    pub messages: u64,
    /// Bytes of their bodies.
    pub bytes: u64,
    /// Mailbox deposit requests among them.
    pub deposits: u64,
    /// Boxes those deposits carried.
    pub boxes: u64,
}

/// What a node's application saw.
#[derive(Debug, Default)]
pub struct App {
    /// The messages shown (received), in order, over every run of the node.
    pub shown: Vec<Message>,
    /// Where each message this node sent came to stand, in order.
    pub deliveries: Vec<(MessageId, Delivery)>,
    /// Input refused from peers, by kind and reason.
    pub refused: BTreeMap<(String, String), u64>,
    /// The callers' answers released because what they waited for is on disk.
    pub released: BTreeSet<Mark>,
    /// How each call this node made ended, and when (the fake clock), in order.
    pub called: Vec<(weft_proto::service::CallId, io::CallEnd, u64)>,
    /// The request bodies its handlers ran, in order.
    pub ran: Vec<Vec<u8>>,
    /// The items its workers ran, in order, over every run of the node.
    pub worked: Vec<pulls::Ran>,
}

/// A caller's answer held for a flush: the node's run (its epoch) and its ticket.
pub type Mark = (u64, io::Ticket);

/// One simulated node.
pub struct Node {
    /// Its PeerId.
    pub peer: PeerId,
    secret: [u8; 32],
    limits: Limits,
    /// Its core, unless it is down.
    core: Option<Core>,
    store: Store,
    shell: Shell,
    /// Bumped at every crash: what was under way for the old run is dropped.
    epoch: u64,
    /// What its application saw.
    pub app: App,
    /// Whether its shell alters the topic messages its sync answers hand on.
    pub alters_catch_up: bool,
}

impl Node {
    /// Its core (panics while it is down: a test's mistake).
    pub fn core(&self) -> &Core {
        self.core.as_ref().expect("the node is up")
    }

    /// Whether what a caller was answered `mark` for is on disk.
    pub fn durable(&self, mark: &Mark) -> bool {
        self.app.released.contains(mark)
    }

    /// Whether it is running.
    pub fn is_up(&self) -> bool {
        self.core.is_some()
    }

    /// Its member key.
    pub fn key(&self) -> MemberKey {
        Identity::from_secret(&self.secret).member_key()
    }

    /// Whether it takes `peer` for a member.
    pub fn admits(&self, peer: &PeerId) -> bool {
        self.core.as_ref().is_some_and(|c| c.admits(peer))
    }

    /// The messages its application was shown, as (publisher or sender, text).
    pub fn texts(&self) -> Vec<(String, String)> {
        self.app
            .shown
            .iter()
            .map(|m| (m.from.clone(), m.text.clone()))
            .collect()
    }
}

/// Which frames to lose on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lose {
    Any,
    Deposits,
}

/// Something due at a moment of the fake clock.
#[derive(Debug)]
enum Due {
    Tick,
    Arrive {
        from: usize,
        to: usize,
        frame: Box<Frame>,
    },
    Flushed {
        node: usize,
        epoch: u64,
    },
    DialFailed {
        node: usize,
        peer: PeerId,
        epoch: u64,
    },
    Timeout {
        node: usize,
        id: io::AskId,
        epoch: u64,
    },
    Joining {
        joiner: usize,
        issuer: usize,
        invite: Box<Invite>,
        tries: u32,
    },
    Served {
        node: usize,
        serve: io::ServeId,
        outcome: weft_proto::service::Outcome,
        epoch: u64,
    },
    Worked {
        node: usize,
        run: io::RunId,
        index: usize,
        ok: bool,
        epoch: u64,
    },
    AdmissionWait {
        node: usize,
        peer: PeerId,
        sync: bool,
        epoch: u64,
    },
    /// A worker's session to a producer, on a connection that dropped: found ended, or
    /// (`told`) its end reported.
    ProducerSessionEnds {
        node: usize,
        to: usize,
        session: io::SessionId,
        epoch: u64,
        told: bool,
    },
}

/// The simulated nodes, their network and their clock.
pub struct Sim {
    /// The nodes.
    pub nodes: Vec<Node>,
    index: BTreeMap<PeerId, usize>,
    /// Which pairs of nodes can reach each other at all.
    links: BTreeSet<(usize, usize)>,
    /// Whether any node can reach any other (the links then say only who knows whom at
    /// start).
    open: bool,
    cut: BTreeSet<(usize, usize)>,
    connections: BTreeSet<(usize, usize)>,
    /// How many connections came up between each pair.
    established: BTreeMap<(usize, usize), u32>,
    /// Frames to lose on purpose, by sender and receiver: how many more, and which.
    losing: BTreeMap<(usize, usize), (u32, Lose)>,
    queue: BTreeMap<(u64, u64), Due>,
    start: Instant,
    /// The fake clock, milliseconds since the start.
    pub ms: u64,
    order: u64,
    rng: Rng,
    faults: Faults,
    /// What each node sent.
    pub sent: Vec<Traffic>,
    /// Nodes stopped (as by SIGSTOP), with the inputs waiting for them.
    frozen: BTreeMap<usize, Vec<Input>>,
    /// How late a worker's node learns that its session to a producer ended with their
    /// connection, in milliseconds: until the first, what it writes there is lost (as on a
    /// QUIC connection whose peer died without a word); then a write fails at once, and
    /// the second later its end is reported. At once when both are zero.
    pub producer_end_late: (u64, u64),
}

/// How many boxes `frame` deposits, when it is a deposit request.
fn deposited_boxes(frame: &Frame) -> Option<usize> {
    match frame {
        Frame::Request {
            request:
                io::Request::Mailbox(weft_proto::mailbox::MailboxRequest {
                    op: weft_proto::mailbox::Op::Deposit { boxes },
                    ..
                }),
            ..
        } => Some(boxes.len()),
        _ => None,
    }
}

/// The limits every simulated node keeps.
pub fn limits() -> Limits {
    Limits {
        mailbox: MailboxLimits {
            max_messages: 10_000,
            max_bytes: 64 << 20,
            ttl: Duration::from_secs(7 * 24 * 3600),
        },
        history_retention: Duration::from_secs(365 * 24 * 3600),
        relay: None,
        mdns: Mdns::Off,
        connections: Limits::default().connections,
        bench_dm: false,
    }
}

impl Sim {
    /// `total` nodes in no mesh, nothing linked, from `seed`.
    pub fn new(seed: u64, total: usize, faults: Faults) -> Sim {
        let mut rng = Rng::new(seed);
        let secrets: Vec<[u8; 32]> = (0..total).map(|_| rng.bytes()).collect();
        let nodes: Vec<Node> = secrets
            .into_iter()
            .map(|secret| Node {
                peer: peer_of(&Identity::from_secret(&secret).member_key())
                    .expect("an ed25519 PeerId"),
                secret,
                limits: limits(),
                core: None,
                store: Store::temporary().expect("a temporary store"),
                shell: Shell::default(),
                epoch: 0,
                app: App::default(),
                alters_catch_up: false,
            })
            .collect();
        let index = nodes.iter().enumerate().map(|(i, n)| (n.peer, i)).collect();
        let mut sim = Sim {
            nodes,
            index,
            links: BTreeSet::new(),
            open: false,
            cut: BTreeSet::new(),
            connections: BTreeSet::new(),
            established: BTreeMap::new(),
            losing: BTreeMap::new(),
            queue: BTreeMap::new(),
            start: Instant::now(),
            ms: 0,
            order: 0,
            rng,
            faults,
            sent: vec![Traffic::default(); total],
            frozen: BTreeMap::new(),
            producer_end_late: (0, 0),
        };
        sim.at(TICK_MS, Due::Tick);
        sim
    }

    /// `members` nodes of one mesh (node 0 its founder and only admin, every other admitted
    /// as a member holding the founder's log, as after joining, and following [`TOPIC`])
    /// and `strangers` nodes in no mesh; each node linked to `degree` others (a ring plus
    /// random chords) and knowing where its linked members are; all from `seed`.
    pub fn mesh(seed: u64, members: usize, strangers: usize, degree: usize, faults: Faults) -> Sim {
        Sim::mesh_keeping(seed, members, strangers, degree, faults, limits())
    }

    /// [`Sim::mesh`], every node keeping within `limits`.
    pub fn mesh_keeping(
        seed: u64,
        members: usize,
        strangers: usize,
        degree: usize,
        faults: Faults,
        limits: Limits,
    ) -> Sim {
        Sim::mesh_linked(seed, members, strangers, faults, limits, |sim, total| {
            for a in 0..total {
                sim.link(a, (a + 1) % total);
            }
            for a in 0..total {
                while sim.degree(a) < degree.min(total - 1) {
                    let b = sim.rng.range(0, total as u64 - 1) as usize;
                    sim.link(a, b);
                }
            }
        })
    }

    /// [`Sim::mesh_keeping`], where `links` (given the sim and its number of nodes) says
    /// who knows where whom is at start.
    pub fn mesh_linked(
        seed: u64,
        members: usize,
        strangers: usize,
        faults: Faults,
        limits: Limits,
        links: impl FnOnce(&mut Sim, usize),
    ) -> Sim {
        let total = members + strangers;
        let mut sim = Sim::new(seed, total, faults);
        for node in &mut sim.nodes {
            node.limits = limits;
        }
        links(&mut sim, total);
        let founder = Identity::from_secret(&sim.nodes[0].secret);
        let id = MeshId::of_founder(&founder.member_key());
        let mut founding = Membership::new(Log::new(id), [], []);
        let found = founding
            .sign(
                &founder,
                OpKind::Found {
                    name: None,
                    founder: None,
                },
            )
            .expect("the founder signs");
        founding.admit(found).expect("the founding op");
        for node in &sim.nodes[1..members] {
            let add = OpKind::Add {
                member: node.key(),
                role: Role::Member,
                name: None,
            };
            let op = founding.sign(&founder, add).expect("an admin signs");
            founding.admit(op).expect("an admission");
        }
        for i in 0..members {
            let mut writes = vec![Write::SetMesh(id), Write::Follow(topic())];
            for (seq, op) in founding.log().ops().enumerate() {
                writes.push(Write::PutOp(seq as u32, Box::new(op.clone())));
            }
            for j in sim.linked(i) {
                if j < members {
                    let known = KnownAddrs {
                        own: vec![address(j)],
                        heard: Vec::new(),
                    };
                    writes.push(Write::PutPeer(sim.nodes[j].peer, known));
                }
            }
            sim.nodes[i].store.apply(&writes).expect("a store");
        }
        for node in 0..total {
            sim.boot(node);
        }
        sim
    }

    /// Starts `node` from what its store holds.
    fn boot(&mut self, node: usize) {
        let now = self.now();
        let seed = self.rng.next_u64();
        let n = &mut self.nodes[node];
        let setup = Setup {
            identity: Identity::from_secret(&n.secret),
            name: None,
            listen_addrs: vec![address(node)],
            limits: n.limits,
            seed,
        };
        let loaded: Loaded = crate::network::event_loop::load(&n.store).expect("the store");
        n.core = Some(Core::new(setup, loaded, now));
        n.shell = Shell::default();
        self.carry_out(node);
    }

    /// The moment now, as the cores take it.
    pub fn now(&self) -> Now {
        Now {
            at: self.start + Duration::from_millis(self.ms),
            unix_us: (EPOCH_SECS * 1000 + self.ms) * 1000,
        }
    }

    /// Links `a` and `b`: they can reach each other (a stranger dialling a member, say).
    pub fn link(&mut self, a: usize, b: usize) {
        if a != b {
            self.links.insert((a.min(b), a.max(b)));
        }
    }

    fn degree(&self, a: usize) -> usize {
        self.linked(a).count()
    }

    fn linked(&self, a: usize) -> impl Iterator<Item = usize> + '_ {
        self.links.iter().filter_map(move |&(x, y)| match () {
            _ if x == a => Some(y),
            _ if y == a => Some(x),
            _ => None,
        })
    }

    /// Cuts every link between `side` and the other nodes (their connections drop).
    pub fn partition(&mut self, side: &[usize]) {
        let side: BTreeSet<usize> = side.iter().copied().collect();
        let cut: Vec<(usize, usize)> = self
            .links
            .iter()
            .filter(|(a, b)| side.contains(a) != side.contains(b))
            .copied()
            .collect();
        for (a, b) in cut {
            self.cut.insert((a, b));
            self.close(a, b);
        }
    }

    /// Lets any node reach any other, as on one network: the links say only who knows
    /// where whom is at start.
    pub fn open_network(&mut self) {
        self.open = true;
    }

    /// Heals the cut between `a` and `b` only.
    pub fn heal_pair(&mut self, a: usize, b: usize) {
        self.cut.remove(&(a.min(b), a.max(b)));
    }

    /// How many connections came up between any two nodes so far.
    pub fn opened(&self) -> u32 {
        self.established.values().sum()
    }

    /// How many connections came up between `a` and `b` so far.
    pub fn established(&self, a: usize, b: usize) -> u32 {
        self.established
            .get(&(a.min(b), a.max(b)))
            .copied()
            .unwrap_or(0)
    }

    /// Loses the next `count` frames `from` sends `to`.
    pub fn lose_frames(&mut self, from: usize, to: usize, count: u32) {
        self.losing.insert((from, to), (count, Lose::Any));
    }

    /// Loses the next `count` deposits `from` asks `to` to take.
    pub fn lose_deposits(&mut self, from: usize, to: usize, count: u32) {
        self.losing.insert((from, to), (count, Lose::Deposits));
    }

    /// Heals every partition (nodes dial each other again as they do).
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Whether `a` and `b` can reach each other now.
    fn reachable(&self, a: usize, b: usize) -> bool {
        let pair = (a.min(b), a.max(b));
        (self.open || self.links.contains(&pair))
            && !self.cut.contains(&pair)
            && self.nodes[a].is_up()
            && self.nodes[b].is_up()
    }

    /// Crashes `node`: everything it had not flushed is lost, its connections drop.
    pub fn crash(&mut self, node: usize) {
        if !self.nodes[node].is_up() {
            return;
        }
        let peers: Vec<usize> = self.connected_to(node).collect();
        for peer in peers {
            self.close(node, peer);
        }
        let n = &mut self.nodes[node];
        n.core = None;
        n.shell = Shell::default();
        n.epoch += 1;
    }

    /// Starts `node` again from its store, after a crash.
    pub fn restart(&mut self, node: usize) {
        if !self.nodes[node].is_up() {
            self.boot(node);
        }
    }

    /// Stops `node` as SIGSTOP does: its connections stay up, and nothing it is sent is
    /// handled (nor its timers) until [`Sim::thaw`].
    pub fn freeze(&mut self, node: usize) {
        self.frozen.entry(node).or_default();
    }

    /// Lets a frozen node go on: what it was sent meanwhile is handled now.
    pub fn thaw(&mut self, node: usize) {
        for input in self.frozen.remove(&node).unwrap_or_default() {
            self.input(node, input);
        }
    }

    /// Takes `node` down (a crash) or starts it again.
    pub fn set_online(&mut self, node: usize, online: bool) {
        if online {
            self.restart(node);
        } else {
            self.crash(node);
        }
    }

    /// Runs `command` on `node`'s core now and carries out what it decided.
    pub fn command<T>(&mut self, node: usize, command: impl FnOnce(&mut Core, Now) -> T) -> T {
        let now = self.now();
        let core = self.nodes[node].core.as_mut().expect("the node is up");
        let result = command(core, now);
        self.carry_out(node);
        result
    }

    /// `from` sends `text` to `to` (a direct message): its id and the mark its sender's
    /// caller would be answered with once the message is on disk (see [`Node::durable`]),
    /// or why not.
    pub fn dm(&mut self, from: usize, to: usize, text: &str) -> Result<(MessageId, Mark), String> {
        let peer = self.nodes[to].peer;
        let epoch = self.nodes[from].epoch;
        let sent = self.command(from, |core, now| {
            let id = core.send(peer, text.into(), now)?;
            Ok::<_, crate::network::NodeError>((id, core.ticket()))
        });
        sent.map(|(id, ticket)| (id, (epoch, ticket)))
            .map_err(|e| e.to_string())
    }

    /// `node` publishes `text` on [`TOPIC`]; false when it may not.
    pub fn publish(&mut self, node: usize, text: &str) -> bool {
        self.command(node, |core, now| core.publish(topic(), text.into(), now))
            .is_ok()
    }

    /// `node` gossips `data` on [`TOPIC`] as its own shell would, whatever its core says (a
    /// member that goes around its own node).
    pub fn gossip_raw(&mut self, node: usize, data: Vec<u8>) {
        let topic = self.nodes[node]
            .core()
            .gossip_topic(&topic(), false)
            .expect("in a mesh");
        self.output(node, io::Output::Publish { topic, data });
    }

    /// `admin` issues `kind` as its next ACL op; false when it may not.
    pub fn issue(&mut self, admin: usize, kind: OpKind) -> bool {
        let peer = |key: &MemberKey| peer_of(key).expect("an ed25519 key");
        self.command(admin, |core, now| match kind {
            OpKind::Revoke { member } => core.member_remove(peer(&member), now).is_ok(),
            OpKind::Add { member, role, name } => {
                core.member_add(peer(&member), role, name, now).is_ok()
            }
            OpKind::SetRole { member, role } => core.member_role(peer(&member), role, now).is_ok(),
            other => panic!("the simulation does not issue {other:?}"),
        })
    }

    /// `issuer` issues a single-use invite for a member.
    pub fn invite(&mut self, issuer: usize) -> Invite {
        let secret = self.rng.bytes();
        let request = CreateInviteRequest {
            role: Role::Member,
            ttl_secs: 3600,
            uses: 1,
            note: None,
        };
        let info = self.command(issuer, |core, now| {
            core.invite_create(request, InviteSecret(secret), now)
        });
        let key = info.expect("an admin issues invites").key.expect("its key");
        Invite::decode(&key).expect("an invite key")
    }

    /// `joiner` redeems `invite` at `issuer`: it dials the issuer, asks, and adopts the log
    /// it is answered with (the rest comes by sync once it is a member).
    pub fn join(&mut self, joiner: usize, issuer: usize, invite: &Invite) {
        let mesh = invite.mesh;
        self.command(joiner, |core, _| core.joining(Some(mesh)));
        let invite = Box::new(invite.clone());
        self.at(
            self.ms,
            Due::Joining {
                joiner,
                issuer,
                invite,
                tries: 0,
            },
        );
    }

    /// What a join of `node` was answered, once it was: `Ok` when admitted.
    pub fn join_outcome(&self, node: usize) -> Option<Result<(), weft_proto::join::Refusal>> {
        self.nodes[node].shell.joined
    }

    /// Runs the clock forward by `ms`, handling everything due meanwhile.
    pub fn run(&mut self, ms: u64) {
        let until = self.ms + ms;
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((at, _), due) = entry.remove_entry();
            self.ms = at;
            self.handle(due);
        }
        self.ms = until;
    }

    /// Runs until `done` holds, checking every simulated second, for at most `max_ms`.
    pub fn run_until(&mut self, max_ms: u64, mut done: impl FnMut(&Sim) -> bool) -> bool {
        for _ in 0..max_ms / 1000 {
            if done(self) {
                return true;
            }
            self.run(1000);
        }
        done(self)
    }

    /// Whether every node of `nodes` that is up and in a mesh holds the same ACL.
    pub fn agreed(&self, nodes: impl IntoIterator<Item = usize>) -> bool {
        let mut acls = nodes.into_iter().filter_map(|i| {
            let core = self.nodes[i].core.as_ref()?;
            Some(core.membership()?.acl())
        });
        let Some(first) = acls.next() else {
            return true;
        };
        acls.all(|acl| acl == first)
    }

    /// The total of what every node sent.
    pub fn traffic(&self) -> Traffic {
        self.sent.iter().fold(Traffic::default(), |a, t| Traffic {
            messages: a.messages + t.messages,
            bytes: a.bytes + t.bytes,
            deposits: a.deposits + t.deposits,
            boxes: a.boxes + t.boxes,
        })
    }

    /// Forgets what was sent so far.
    pub fn reset_traffic(&mut self) {
        self.sent.iter_mut().for_each(|t| *t = Traffic::default());
    }

    /// How many refusals of `reason` `node` counted.
    pub fn refused(&self, node: usize, reason: &str) -> u64 {
        self.nodes[node]
            .app
            .refused
            .iter()
            .filter(|((_, r), _)| r == reason)
            .map(|(_, n)| n)
            .sum()
    }

    fn at(&mut self, at: u64, due: Due) {
        self.order += 1;
        self.queue.insert((at, self.order), due);
    }

    /// A delay for a frame on the wire.
    fn latency(&mut self) -> u64 {
        self.rng.range(self.faults.min_ms, self.faults.max_ms)
    }

    fn handle(&mut self, due: Due) {
        match due {
            Due::Tick => {
                self.at(self.ms + TICK_MS, Due::Tick);
                for node in 0..self.nodes.len() {
                    if !self.frozen.contains_key(&node) {
                        self.input(node, Input::Tick);
                    }
                }
            }
            Due::Arrive { from, to, frame } => self.arrive(from, to, *frame),
            Due::AdmissionWait {
                node,
                peer,
                sync,
                epoch,
            } => self.admission_waited(node, peer, sync, epoch),
            Due::Flushed { node, epoch } => self.flushed(node, epoch),
            Due::ProducerSessionEnds {
                node,
                to,
                session,
                epoch,
                told,
            } => {
                if self.nodes[node].epoch == epoch {
                    self.producer_session_ends(node, to, session, told);
                }
            }
            Due::DialFailed { node, peer, epoch } => {
                if self.nodes[node].epoch == epoch {
                    self.nodes[node].shell.dialling.remove(&peer);
                    self.input(node, Input::DialFailed { peer });
                }
            }
            Due::Timeout { node, id, epoch } => {
                if self.nodes[node].epoch == epoch && self.nodes[node].shell.asks.contains(&id) {
                    self.answered(node, id, Err("no answer within 10 s".to_string()));
                }
            }
            Due::Joining {
                joiner,
                issuer,
                invite,
                tries,
            } => self.try_join(joiner, issuer, *invite, tries),
            Due::Served {
                node,
                serve,
                outcome,
                epoch,
            } => {
                if self.frozen.contains_key(&node) {
                    // The handler answered; its node takes it when it runs again.
                    let later = Due::Served {
                        node,
                        serve,
                        outcome,
                        epoch,
                    };
                    self.at(self.ms + TICK_MS, later);
                } else if self.nodes[node].epoch == epoch {
                    self.command(node, |core, now| core.served(serve, outcome, now));
                }
            }
            Due::Worked {
                node,
                run,
                index,
                ok,
                epoch,
            } => {
                if self.frozen.contains_key(&node) {
                    let later = Due::Worked {
                        node,
                        run,
                        index,
                        ok,
                        epoch,
                    };
                    self.at(self.ms + TICK_MS, later);
                } else if self.nodes[node].epoch == epoch {
                    self.worked(node, run, index, ok);
                }
            }
        }
    }

    /// Hands `input` to `node`'s core, when it is up, and carries out what it decided (when
    /// it is frozen, the input waits until it thaws).
    fn input(&mut self, node: usize, input: Input) {
        if let Some(held) = self.frozen.get_mut(&node) {
            held.push(input);
            return;
        }
        let now = self.now();
        let Some(core) = self.nodes[node].core.as_mut() else {
            return;
        };
        core.handle(input, now);
        self.carry_out(node);
    }

    /// The nodes `node` is connected to.
    /// How many nodes `node` is connected to now.
    pub fn links_of(&self, node: usize) -> usize {
        self.connected_to(node).count()
    }

    fn connected_to(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        self.connections.iter().filter_map(move |&(a, b)| match () {
            _ if a == node => Some(b),
            _ if b == node => Some(a),
            _ => None,
        })
    }

    fn is_connected(&self, a: usize, b: usize) -> bool {
        self.connections.contains(&(a.min(b), a.max(b)))
    }

    /// Sends `frame` from `from` to `to` over their connection: lost with the network's
    /// loss, else there after a latency (when the connection still stands then).
    fn send(&mut self, from: usize, to: usize, frame: Frame) {
        if !self.is_connected(from, to) {
            return;
        }
        let sent = &mut self.sent[from];
        sent.messages += 1;
        sent.bytes += frame.bytes() as u64;
        if let Some(boxes) = deposited_boxes(&frame) {
            sent.deposits += 1;
            sent.boxes += boxes as u64;
        }
        if self.rng.chance(self.faults.loss) || self.lost_on_purpose(from, to, &frame) {
            return;
        }
        let at = self.ms + self.latency();
        let frame = Box::new(frame);
        self.at(at, Due::Arrive { from, to, frame });
    }

    /// Whether `frame` from `from` to `to` is one to lose on purpose (counting it).
    fn lost_on_purpose(&mut self, from: usize, to: usize, frame: &Frame) -> bool {
        let Some((count, lose)) = self.losing.get_mut(&(from, to)) else {
            return false;
        };
        let deposit = deposited_boxes(frame).is_some();
        if *count == 0 || (*lose == Lose::Deposits && !deposit) {
            return false;
        }
        *count -= 1;
        true
    }

    /// Closes the connection between `a` and `b`: both hear of it, and every session on it
    /// ends.
    fn close(&mut self, a: usize, b: usize) {
        if !self.connections.remove(&(a.min(b), a.max(b))) {
            return;
        }
        for (me, other) in [(a, b), (b, a)] {
            let peer = self.nodes[other].peer;
            if self.nodes[me].shell.sessions_end(other) {
                self.input(me, Input::SessionLost { peer });
            }
            if self.nodes[me].shell.service_sessions_end(other) {
                self.input(me, Input::ServiceLost { peer });
            }
            for session in self.nodes[me].shell.workers_gone(other) {
                self.input(me, Input::WorkerGone { session });
            }
            self.producer_connection_closed(me, other);
            self.input(me, Input::Disconnected { peer });
        }
    }

    /// A join attempt of `joiner` at `issuer`: dial first, then ask, trying again a few
    /// times while the connection is not up.
    fn try_join(&mut self, joiner: usize, issuer: usize, invite: Invite, tries: u32) {
        let shell = &self.nodes[joiner].shell;
        if !self.nodes[joiner].is_up() || shell.joined.is_some() || tries > 50 {
            return;
        }
        if !self.is_connected(joiner, issuer) {
            let peer = self.nodes[issuer].peer;
            self.dial(joiner, peer);
            let invite = Box::new(invite);
            let again = Due::Joining {
                joiner,
                issuer,
                invite,
                tries: tries + 1,
            };
            self.at(self.ms + 200, again);
            return;
        }
        let request = self.nodes[joiner].core().join_request(&invite);
        let Ok(request) = request else {
            return;
        };
        self.nodes[joiner].shell.mesh = Some(invite.mesh);
        self.send(joiner, issuer, Frame::Join(request));
        // Asked again while no answer came (a lost request or answer).
        let again = Due::Joining {
            joiner,
            issuer,
            invite: Box::new(invite),
            tries: tries + 1,
        };
        self.at(self.ms + 2000, again);
    }
}

/// Where simulated node `i` listens.
pub fn address(i: usize) -> Multiaddr {
    Multiaddr::empty().with(Protocol::Memory(i as u64))
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sim({} nodes at {} ms)", self.nodes.len(), self.ms)
    }
}

#[cfg(test)]
mod delivery;
#[cfg(test)]
mod mailbox;
#[cfg(test)]
mod membership;
#[cfg(test)]
mod queues;
#[cfg(test)]
mod scale;
#[cfg(test)]
mod services;
#[cfg(test)]
mod topics;
