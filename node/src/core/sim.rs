//! A deterministic simulation of many nodes' membership and topics, in the spirit of
//! iroh-gossip's `sim` and quinn's `Pair`: real [`Membership`]s (real keys, real signatures,
//! the real log and its resolution) and real [`Topics`] exchanging real sync requests and
//! answers ([`core::acl_sync`], [`core::topics`]), gossiped ops and topic messages and join
//! requests over an in-memory network with per-message latency (hence reordering), loss, cut
//! links and nodes offline, on a fake clock, every choice drawn from one seed: a failing seed
//! replays exactly.
//!
//! What a node does mirrors the event loop: it syncs with every connected member on
//! connecting and every [`RESYNC_EVERY`], one sync per peer at a time (a lost answer times
//! out), pages a capped answer, syncs back when the asker holds ops it lacks, floods an op or
//! a topic message new to it to its connected members, syncs with whoever sent an op whose
//! parents it lacks, and hears only members. A sync asks for the topic messages missed too
//! (catch-up); a message, however it came, is shown to the application when history (keyed
//! by message id) did not hold it.
//!
//! [`core::acl_sync`]: super::acl_sync
//! [`core::topics`]: super::topics

use std::collections::{BTreeMap, HashMap, HashSet};

use libp2p::PeerId;
use weft_keys::Identity;
use weft_keys::invite::{Invite, InviteBody, InviteId, InviteSecret};
use weft_keys::topic::sign_topic;
use weft_proto::MessageId;
use weft_proto::acl::{OpId, OpKind, SignedOp};
use weft_proto::codec::to_cbor;
use weft_proto::join::{JOIN_VERSION, JoinRequest, JoinResponse, Refusal};
use weft_proto::mesh::{MeshId, Role};
use weft_proto::sync::{Logged, MAX_SYNC_OPS, SyncRequest, SyncResponse};
use weft_proto::topic::{TopicMessage, TopicName};

use super::acl_sync;
use super::topics::{self, Take, Topics};
use crate::mesh::log::{Admitted, Log, Refused};
use crate::mesh::membership::{Membership, peer_of};
use crate::store::mesh::InviteRecord;

/// How often a node syncs again with its connected members (the loop's `RESYNC_EVERY`).
pub const RESYNC_EVERY: u64 = 10_000;

/// How long a sync waits for its answer (the exchanges' timeout).
const SYNC_TIMEOUT: u64 = 10_000;

/// The simulated Unix time at the start, in seconds.
const EPOCH_SECS: u64 = 1_800_000_000;

/// The topic every member follows.
pub const TOPIC: &str = "chat";

/// A small, fast, seeded generator (SplitMix64): the only source of chance.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// The generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `per_mille` / 1000.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.next_u64() % 1000 < per_mille
    }

    /// 32 random bytes.
    pub fn bytes(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        out
    }
}

/// How the network misbehaves.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    /// Messages lost, per thousand.
    pub loss: u64,
    /// Fastest delivery, milliseconds.
    pub min_ms: u64,
    /// Slowest delivery, milliseconds.
    pub max_ms: u64,
}

/// What travels between nodes.
#[derive(Clone, Debug)]
enum Wire {
    Gossip(SignedOp),
    /// A topic message, as gossipsub carries it: with its source.
    Topic {
        source: PeerId,
        message: TopicMessage,
    },
    Sync {
        serial: u64,
        request: SyncRequest,
    },
    Answer {
        serial: u64,
        ops: Vec<SignedOp>,
        messages: Vec<Logged>,
        more: bool,
    },
    Join(JoinRequest),
    Joined(JoinResponse),
}

impl Wire {
    /// Its size on the wire: the CBOR body the real protocol would carry.
    fn bytes(&self) -> usize {
        let encoded = match self {
            Wire::Gossip(op) => to_cbor(op),
            Wire::Topic { message, .. } => message.encode(),
            Wire::Sync { request, .. } => to_cbor(request),
            Wire::Answer {
                ops,
                messages,
                more,
                ..
            } => to_cbor(&SyncResponse::Ops {
                ops: ops.clone(),
                peers: Vec::new(),
                messages: messages.clone(),
                more: *more,
                now_us: 0,
            }),
            Wire::Join(request) => to_cbor(request),
            Wire::Joined(response) => to_cbor(response),
        };
        encoded.map_or(0, |b| b.len())
    }
}

/// Something due at a moment of the fake clock.
#[derive(Clone, Debug)]
enum Event {
    Deliver {
        from: usize,
        to: usize,
        wire: Box<Wire>,
    },
    Resync(usize),
    SyncTimeout {
        node: usize,
        peer: usize,
        serial: u64,
    },
}

/// One simulated node.
pub struct Node {
    identity: Identity,
    /// Its PeerId.
    pub peer: PeerId,
    /// Its view of the mesh, once it has one.
    pub mesh: Option<Membership>,
    /// Syncs under way, by peer: the request's serial and the op its page starts after.
    syncing: HashMap<usize, (u64, Option<OpId>)>,
    /// The mesh this node is joining (its invite's).
    joining: Option<MeshId>,
    /// What a join of this node was answered, once it was.
    pub joined: Option<Result<(), Refusal>>,
    /// The topics it follows, and how far it holds them.
    topics: Topics,
    /// Its topic log: each publisher's messages by sequence number.
    log: BTreeMap<(TopicName, [u8; 32]), BTreeMap<u64, TopicMessage>>,
    /// The ids of the topic messages in its history.
    history: HashSet<MessageId>,
    /// The topic messages it showed its application, in order.
    pub shown: Vec<Shown>,
}

/// A topic message shown to a node's application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    /// Its publisher's ed25519 key.
    pub publisher: [u8; 32],
    /// Its sequence number.
    pub seq: u64,
    /// Its text.
    pub text: String,
    /// Whether a catch-up brought it (rather than gossip).
    pub caught_up: bool,
}

impl Node {
    /// Takes `message`, signed by `publisher` (it says), as the loop does: when the core
    /// takes it and history lacks its id, it is logged and shown (`caught_up`: a sync brought
    /// it). True when it was news.
    fn take_topic(&mut self, publisher: &PeerId, message: TopicMessage, caught_up: bool) -> bool {
        let Some(mesh) = self.mesh.as_ref() else {
            return false;
        };
        let Ok((Take::Fresh, key)) = self.topics.take(mesh, publisher, &message, 0) else {
            return false;
        };
        if !self.history.insert(message.id(&publisher.to_bytes())) {
            return false;
        }
        self.shown.push(Shown {
            publisher: key,
            seq: message.seq,
            text: message.text.clone(),
            caught_up,
        });
        self.log
            .entry((message.topic.clone(), key))
            .or_default()
            .insert(message.seq, message);
        true
    }

    /// The messages of the runs `wanted` from its log, within one answer's caps.
    fn read_logged(&self, wanted: &[topics::Wanted]) -> (Vec<Logged>, bool) {
        let read = topics::answer::<std::convert::Infallible>(wanted, |run, keep| {
            let key = (run.topic.clone(), run.publisher);
            let Some(messages) = self.log.get(&key) else {
                return Ok(Vec::new());
            };
            Ok(messages
                .range(run.from..)
                .map(|(_, m)| m)
                .take_while(|m| keep(m))
                .cloned()
                .collect::<Vec<_>>())
        });
        match read {
            Ok(read) => read,
            Err(never) => match never {},
        }
    }

    /// Its ed25519 key.
    pub fn key(&self) -> [u8; 32] {
        self.identity.public().to_bytes()
    }

    /// Whether it takes `peer` for a member.
    pub fn admits(&self, peer: &PeerId) -> bool {
        self.mesh.as_ref().is_some_and(|m| m.admits(peer))
    }
}

/// Messages and bytes sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Messages.
    pub messages: u64,
    /// Bytes of their bodies.
    pub bytes: u64,
}

/// The simulated nodes, their network and their clock.
pub struct Sim {
    /// The nodes; node 0 founded the mesh.
    pub nodes: Vec<Node>,
    links: Vec<Vec<usize>>,
    cut: HashSet<(usize, usize)>,
    offline: HashSet<usize>,
    queue: BTreeMap<(u64, u64), Event>,
    /// The fake clock, milliseconds since the start.
    pub now: u64,
    order: u64,
    serials: u64,
    rng: Rng,
    faults: Faults,
    /// What each node sent.
    pub sent: Vec<Traffic>,
    /// Sync requests refused because the asker was not a member, by asker.
    pub refused_syncs: HashMap<usize, u64>,
    /// Gossip dropped because its sender was not a member, by sender.
    pub unheard_gossip: HashMap<usize, u64>,
}

impl Sim {
    /// `members` nodes of one mesh (node 0 its founder and only admin, every other admitted
    /// as a member and holding the founder's log, as after joining) and `strangers` nodes in
    /// no mesh; each node linked to `degree` others (a ring plus random chords); all from
    /// `seed`.
    pub fn mesh(seed: u64, members: usize, strangers: usize, degree: usize, faults: Faults) -> Sim {
        let mut rng = Rng::new(seed);
        let total = members + strangers;
        let identities: Vec<Identity> = (0..total)
            .map(|_| Identity::from_secret(&rng.bytes()))
            .collect();
        let founder_key = identities[0].public().to_bytes();
        let mut founding = Membership::new(Log::new(MeshId::of_founder(&founder_key)), [], []);
        let found = founding
            .sign(&identities[0], OpKind::Found { name: None })
            .expect("the founder signs");
        founding.admit(found).expect("the founding op");
        for identity in &identities[1..members] {
            let add = OpKind::Add {
                member: identity.public().to_bytes(),
                role: Role::Member,
                name: None,
            };
            let op = founding.sign(&identities[0], add).expect("an admin signs");
            founding.admit(op).expect("an admission");
        }
        let nodes: Vec<Node> = identities
            .into_iter()
            .enumerate()
            .map(|(i, identity)| Node {
                peer: peer_of(&identity.public().to_bytes()).expect("an ed25519 PeerId"),
                identity,
                mesh: (i < members).then(|| founding.clone()),
                syncing: HashMap::new(),
                joining: None,
                joined: None,
                topics: Topics::new((i < members).then(topic), []),
                log: BTreeMap::new(),
                history: HashSet::new(),
                shown: Vec::new(),
            })
            .collect();
        let mut links = vec![Vec::new(); total];
        let link = |a: usize, b: usize, links: &mut Vec<Vec<usize>>| {
            if a != b && !links[a].contains(&b) {
                links[a].push(b);
                links[b].push(a);
            }
        };
        for a in 0..total {
            link(a, (a + 1) % total, &mut links);
        }
        for a in 0..total {
            while links[a].len() < degree.min(total - 1) {
                let b = rng.range(0, total as u64 - 1) as usize;
                link(a, b, &mut links);
            }
        }
        let mut sim = Sim {
            nodes,
            links,
            cut: HashSet::new(),
            offline: HashSet::new(),
            queue: BTreeMap::new(),
            now: 0,
            order: 0,
            serials: 0,
            rng,
            faults,
            sent: vec![Traffic::default(); total],
            refused_syncs: HashMap::new(),
            unheard_gossip: HashMap::new(),
        };
        for node in 0..total {
            let first = sim.rng.range(0, RESYNC_EVERY);
            sim.at(first, Event::Resync(node));
        }
        sim
    }

    /// Links `a` and `b` (a stranger dialling a member, say).
    pub fn link(&mut self, a: usize, b: usize) {
        if !self.links[a].contains(&b) {
            self.links[a].push(b);
            self.links[b].push(a);
        }
    }

    /// Cuts every link between `side` and the other nodes.
    pub fn partition(&mut self, side: &[usize]) {
        let side: HashSet<usize> = side.iter().copied().collect();
        for (a, peers) in self.links.iter().enumerate() {
            for &b in peers {
                if side.contains(&a) != side.contains(&b) {
                    self.cut.insert((a, b));
                }
            }
        }
    }

    /// Heals every partition.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Takes `node` off the network, or brings it back (it syncs with its members then).
    pub fn set_online(&mut self, node: usize, online: bool) {
        if online && self.offline.remove(&node) {
            for peer in self.connected(node) {
                self.start_sync(node, peer, None);
                self.start_sync(peer, node, None);
            }
        } else if !online {
            self.offline.insert(node);
            self.nodes[node].syncing.clear();
        }
    }

    /// `admin` signs `kind`, admits it and gossips it; false when it may not.
    pub fn issue(&mut self, admin: usize, kind: OpKind) -> bool {
        let node = &mut self.nodes[admin];
        let Some(mesh) = node.mesh.as_mut() else {
            return false;
        };
        let Some(op) = mesh.sign(&node.identity, kind) else {
            return false;
        };
        if !matches!(mesh.admit(op.clone()), Ok((Admitted::New, _))) {
            return false;
        }
        self.flood(admin, None, op);
        true
    }

    /// `issuer` issues a single-use invite; its id and the joiners' proofs' secret.
    pub fn invite(&mut self, issuer: usize) -> Invite {
        let node = &mut self.nodes[issuer];
        let mesh = node.mesh.as_mut().expect("the issuer is in a mesh");
        let mut id = [0u8; 16];
        id.copy_from_slice(&self.rng.bytes()[..16]);
        let body = InviteBody {
            v: weft_keys::invite::VERSION,
            mesh: mesh.id(),
            issuer: node.identity.public().to_bytes(),
            id: InviteId(id),
            secret: InviteSecret(self.rng.bytes()),
            role: Role::Member,
            expires: EPOCH_SECS + 3600,
            uses: 1,
            addrs: Vec::new(),
        };
        let invite = Invite::sign(&node.identity, body).expect("an invite");
        let record = InviteRecord {
            key: invite.encode().expect("an invite key"),
            note: None,
            uses_left: 1,
        };
        mesh.put_invite(id, record);
        invite
    }

    /// `joiner` redeems `invite` at `issuer`, over the network.
    pub fn join(&mut self, joiner: usize, issuer: usize, invite: &Invite) {
        self.nodes[joiner].joining = Some(invite.body.mesh);
        let node = &self.nodes[joiner];
        let request = JoinRequest {
            v: JOIN_VERSION,
            invite: invite.body.id.0,
            key: node.key(),
            proof: invite.proof(&node.peer.to_bytes()),
            name: None,
        };
        self.send(joiner, issuer, Wire::Join(request));
    }

    /// Runs the clock forward by `ms`, handling everything due meanwhile.
    pub fn run(&mut self, ms: u64) {
        let until = self.now + ms;
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((at, _), event) = entry.remove_entry();
            self.now = at;
            self.handle(event);
        }
        self.now = until;
    }

    /// `node` publishes `text` on [`TOPIC`] and gossips it; false when it may not.
    pub fn publish(&mut self, node: usize, text: &str) -> bool {
        let ts = (EPOCH_SECS * 1000 + self.now) * 1000;
        let me = &mut self.nodes[node];
        let Some(mesh) = me.mesh.as_ref() else {
            return false;
        };
        let (topic, key) = (topic(), me.key());
        if !mesh.acl().can_publish(&key, &topic) {
            return false;
        }
        let seq = me.topics.next_seq(&topic, &key);
        let unsigned = TopicMessage::new(topic.clone(), seq, ts, text.to_string());
        let message = sign_topic(&me.identity, &mesh.id(), unsigned).expect("a signature");
        me.topics.record(&topic, key, seq);
        me.history.insert(message.id(&me.peer.to_bytes()));
        me.log
            .entry((topic, key))
            .or_default()
            .insert(seq, message.clone());
        let source = me.peer;
        self.flood_topic(node, None, source, message);
        true
    }

    /// Whether every node that is a member in its own view holds the same ACL.
    pub fn agreed(&self, nodes: impl IntoIterator<Item = usize>) -> bool {
        let mut acls = nodes
            .into_iter()
            .filter_map(|i| self.nodes[i].mesh.as_ref().map(Membership::acl));
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
        })
    }

    /// Forgets what was sent so far.
    pub fn reset_traffic(&mut self) {
        self.sent.iter_mut().for_each(|t| *t = Traffic::default());
    }

    fn at(&mut self, at: u64, event: Event) {
        self.order += 1;
        self.queue.insert((at, self.order), event);
    }

    /// Whether `a` and `b` can talk now.
    fn up(&self, a: usize, b: usize) -> bool {
        !self.offline.contains(&a) && !self.offline.contains(&b) && !self.cut.contains(&(a, b))
    }

    /// The nodes `node` is connected to now.
    fn connected(&self, node: usize) -> Vec<usize> {
        let links = &self.links[node];
        links
            .iter()
            .copied()
            .filter(|&p| self.up(node, p))
            .collect()
    }

    fn send(&mut self, from: usize, to: usize, wire: Wire) {
        if !self.up(from, to) {
            return;
        }
        let sent = &mut self.sent[from];
        sent.messages += 1;
        sent.bytes += wire.bytes() as u64;
        if self.rng.chance(self.faults.loss) {
            return;
        }
        let delay = self.rng.range(self.faults.min_ms, self.faults.max_ms);
        self.at(
            self.now + delay,
            Event::Deliver {
                from,
                to,
                wire: Box::new(wire),
            },
        );
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver { from, to, wire } => {
                // Cut, or gone, while it travelled.
                if self.up(from, to) {
                    self.deliver(from, to, *wire);
                }
            }
            Event::Resync(node) => {
                self.at(self.now + RESYNC_EVERY, Event::Resync(node));
                if self.offline.contains(&node) {
                    return;
                }
                for peer in self.connected(node) {
                    self.start_sync(node, peer, None);
                }
            }
            Event::SyncTimeout { node, peer, serial } => {
                let syncing = &mut self.nodes[node].syncing;
                if syncing.get(&peer).is_some_and(|(s, _)| *s == serial) {
                    syncing.remove(&peer);
                }
            }
        }
    }

    /// `node` asks `peer` for what it lacks, when `peer` is a member to it and no sync
    /// with it is under way.
    fn start_sync(&mut self, node: usize, peer: usize, after: Option<OpId>) {
        let peer_id = self.nodes[peer].peer;
        let me = &self.nodes[node];
        let Some(mesh) = me.mesh.as_ref() else {
            return;
        };
        if !mesh.admits(&peer_id) || me.syncing.contains_key(&peer) || !self.up(node, peer) {
            return;
        }
        let request = acl_sync::request(mesh.log(), after, None, me.topics.marks());
        self.serials += 1;
        let serial = self.serials;
        self.nodes[node].syncing.insert(peer, (serial, after));
        let timeout = Event::SyncTimeout { node, peer, serial };
        self.at(self.now + SYNC_TIMEOUT, timeout);
        self.send(node, peer, Wire::Sync { serial, request });
    }

    /// Sends `op`, new to `node`, to its connected members but `except`.
    fn flood(&mut self, node: usize, except: Option<usize>, op: SignedOp) {
        for peer in self.connected(node) {
            if Some(peer) != except && self.nodes[node].admits(&self.nodes[peer].peer) {
                self.send(node, peer, Wire::Gossip(op.clone()));
            }
        }
    }

    /// Sends topic message `message` of `source`, new to `node`, to its connected members
    /// but `except`.
    fn flood_topic(
        &mut self,
        node: usize,
        except: Option<usize>,
        source: PeerId,
        message: TopicMessage,
    ) {
        for peer in self.connected(node) {
            if Some(peer) != except && self.nodes[node].admits(&self.nodes[peer].peer) {
                let message = message.clone();
                self.send(node, peer, Wire::Topic { source, message });
            }
        }
    }

    fn deliver(&mut self, from: usize, to: usize, wire: Wire) {
        let from_peer = self.nodes[from].peer;
        match wire {
            Wire::Gossip(op) => {
                if !self.nodes[to].admits(&from_peer) {
                    *self.unheard_gossip.entry(from).or_default() += 1;
                    return;
                }
                let Some(mesh) = self.nodes[to].mesh.as_mut() else {
                    return;
                };
                match mesh.admit(op.clone()) {
                    Ok((Admitted::New, _)) => self.flood(to, Some(from), op),
                    Err(Refused::MissingParents(_)) => self.start_sync(to, from, None),
                    Ok((Admitted::Known, _)) | Err(_) => {}
                }
            }
            Wire::Topic { source, message } => {
                if !self.nodes[to].admits(&from_peer) {
                    *self.unheard_gossip.entry(from).or_default() += 1;
                    return;
                }
                if self.nodes[to].take_topic(&source, message.clone(), false) {
                    self.flood_topic(to, Some(from), source, message);
                }
            }
            Wire::Sync { serial, request } => {
                let node = &self.nodes[to];
                let Some(mesh) = node.mesh.as_ref().filter(|m| m.admits(&from_peer)) else {
                    *self.refused_syncs.entry(from).or_default() += 1;
                    return;
                };
                let Ok(answer) = acl_sync::answer(mesh.log(), None, &request) else {
                    return;
                };
                let wanted = node.topics.wanted(&request.topics);
                let (messages, more_messages) = node.read_logged(&wanted);
                if answer.ask_back {
                    self.start_sync(to, from, None);
                }
                let (ops, more) = (answer.ops, answer.more || more_messages);
                let answer = Wire::Answer {
                    serial,
                    ops,
                    messages,
                    more,
                };
                self.send(to, from, answer);
            }
            Wire::Answer {
                serial,
                mut ops,
                messages,
                more,
            } => {
                let node = &mut self.nodes[to];
                let Some(&(expected, after)) = node.syncing.get(&from) else {
                    return;
                };
                if expected != serial {
                    return;
                }
                node.syncing.remove(&from);
                let Some(mesh) = node.mesh.as_mut().filter(|m| m.admits(&from_peer)) else {
                    return;
                };
                ops.truncate(MAX_SYNC_OPS);
                let next = acl_sync::next_page(&ops, after, more, messages.len());
                mesh.admit_all(ops);
                let handed_on: Vec<Logged> = node.topics.handed_on(messages).collect();
                for logged in handed_on {
                    if let Some(publisher) = peer_of(&logged.publisher) {
                        node.take_topic(&publisher, logged.message, true);
                    }
                }
                if let Some(after) = next {
                    self.start_sync(to, from, after);
                }
            }
            Wire::Join(request) => {
                let now_secs = EPOCH_SECS + self.now / 1000;
                let node = &mut self.nodes[to];
                let Some(mesh) = node.mesh.as_mut() else {
                    return;
                };
                let answer = match mesh.redeem(&node.identity, &from_peer, &request, now_secs) {
                    Ok(redeemed) => {
                        if let Some(admission) = redeemed.admission {
                            self.flood(to, Some(from), admission);
                        }
                        JoinResponse::Accepted {
                            ops: redeemed.ops,
                            more: redeemed.more,
                        }
                    }
                    Err(reason) => JoinResponse::Refused { reason },
                };
                self.send(to, from, Wire::Joined(answer));
            }
            Wire::Joined(answer) => {
                let node = &mut self.nodes[to];
                let ops = match answer {
                    JoinResponse::Accepted { ops, .. } => {
                        node.joined = Some(Ok(()));
                        ops
                    }
                    JoinResponse::Refused { reason } => {
                        node.joined = Some(Err(reason));
                        return;
                    }
                };
                let (None, Some(id)) = (node.mesh.as_ref(), node.joining) else {
                    return;
                };
                let mut mesh = Membership::new(Log::new(id), [], []);
                mesh.admit_all(ops);
                node.mesh = Some(mesh);
                node.topics.follow(topic());
                // The rest of the log, and anything newer, by sync.
                for peer in self.connected(to) {
                    self.start_sync(to, peer, None);
                }
            }
        }
    }
}

/// The topic every member follows, [`TOPIC`].
pub fn topic() -> TopicName {
    TOPIC.parse().expect("a topic name")
}

#[cfg(test)]
mod catch_up;
#[cfg(test)]
mod mailbox;
#[cfg(test)]
mod tests;
