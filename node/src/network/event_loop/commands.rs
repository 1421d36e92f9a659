//! The handles' commands: each is answered by the core, at once or, when it changed
//! something, once that is on disk; the shell adds what only it knows (gossipsub's peers,
//! the refusals counted, relaying) and the randomness a new invite needs.

use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use weft_keys::invite::InviteSecret;
use weft_proto::api::{IdResponse, Status};

use super::{EventLoop, now};
use crate::network::handle::{Command, NodeError, Offered, Queued};
use crate::network::join;

impl EventLoop {
    pub(super) fn on_command(&mut self, command: Command) {
        let now = now();
        let core = &mut self.core;
        match command {
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Id(reply) => {
                let _ = reply.send(self.id());
            }
            Command::Peers(reply) => {
                let _ = reply.send(core.peer_infos(now));
            }
            Command::Dial { addr, reply } => self.dial_for(addr, reply),
            Command::Send {
                to,
                text,
                wait,
                bench,
                reply,
            } => match if bench {
                core.send_bench(to, text, now)
            } else {
                core.send(to, text, now)
            } {
                Ok(id) => {
                    self.shared
                        .metrics
                        .sent(if bench { "bench_dm" } else { "direct" });
                    let delivery = wait.then(|| self.local.wait(id));
                    let queued = Queued { id, delivery };
                    self.local
                        .reply_durably(reply, Ok(queued), || self.core.ticket());
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Publish {
                topic,
                text,
                bench,
                reply,
            } => {
                let subscribers = self.subscribers(&topic, bench);
                let result = if bench {
                    self.core.publish_bench(topic, text, now)
                } else {
                    self.core.publish(topic, text, now)
                };
                if result.is_ok() {
                    self.shared
                        .metrics
                        .sent(if bench { "bench_topic" } else { "topic" });
                }
                let result = result.map(|id| (id, subscribers));
                self.local
                    .reply_durably(reply, result, || self.core.ticket());
            }
            Command::Subscribe {
                topic,
                subscribe,
                reply,
            } => {
                let result = core.subscribe(topic, subscribe);
                self.local
                    .reply_durably(reply, result, || self.core.ticket());
            }
            Command::MeshCreate { name, reply } => {
                let result = core.mesh_create(name);
                self.local
                    .reply_durably(reply, result, || self.core.ticket());
            }
            Command::Mesh(reply) => {
                let _ = reply.send(core.mesh_info());
            }
            Command::InviteCreate { request, reply } => {
                let result = InviteSecret::generate()
                    .map_err(|e| NodeError::Invalid(e.to_string()))
                    .and_then(|secret| core.invite_create(request, secret, now));
                self.local
                    .reply_durably(reply, result, || self.core.ticket());
            }
            Command::Invites(reply) => {
                let _ = reply.send(core.invites(now));
            }
            Command::InviteRevoke { id, reply } => {
                let result = core.invite_revoke(&id, now);
                self.local
                    .reply_durably(reply, result, || self.core.ticket());
            }
            Command::Members(reply) => {
                let _ = reply.send(core.members());
            }
            Command::Links(reply) => {
                let _ = reply.send(core.links(now));
            }
            Command::Join {
                invite,
                bootstrap,
                reply,
            } => match core.join_request(&invite) {
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
                Ok(request) => {
                    let (control, mesh) = (self.exchanges.control(), invite.mesh);
                    self.tasks.spawn("join", async move {
                        let _ = reply.send(join::redeem(control, bootstrap, mesh, request).await);
                    });
                }
            },
            Command::MemberAdd {
                peer,
                role,
                name,
                reply,
            } => {
                let result = core.member_add(peer, role, name, now);
                self.local
                    .reply_durably(reply, result, || self.core.ticket());
            }
            Command::MemberRemove { peer, reply } => {
                let result = core.member_remove(peer, now);
                self.local
                    .reply_durably(reply, result, || self.core.ticket());
            }
            Command::MemberRole { peer, role, reply } => {
                let result = core.member_role(peer, role, now);
                self.local
                    .reply_durably(reply, result, || self.core.ticket());
            }
            Command::MemberName { peer, name, reply } => {
                let result = core.member_name(peer, name, now);
                self.local
                    .reply_durably(reply, result, || self.core.ticket());
            }
            Command::DisplayName { name, reply } => {
                let result = core.display_name(name, now);
                self.local
                    .reply_durably(reply, result, || self.core.ticket());
            }
            Command::Policy { policy, reply } => {
                let result = core.policy(policy, now);
                self.local
                    .reply_durably(reply, result, || self.core.ticket());
            }
            Command::Joining { mesh } => core.joining(mesh),
            Command::Adopt { mesh, ops, reply } => {
                let result = core.adopt(mesh, ops, now);
                self.local
                    .reply_durably(reply, result, || self.core.ticket());
            }
            Command::Call {
                service,
                body,
                timeout,
                reply,
            } => match core.call(service, body, timeout, now) {
                Ok(id) => self.local.calling(id, reply),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Offer {
                service,
                opts,
                reply,
            } => match core.offer(service, opts, now) {
                Ok(handler) => {
                    let (tx, requests) = mpsc::channel(opts.concurrency.max(1) as usize);
                    self.local.handling(handler, tx);
                    let _ = reply.send(Ok(Offered { handler, requests }));
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Served { serve, outcome } => core.served(serve, outcome, now),
            Command::Withdraw { handler } => {
                self.local.handled(&handler);
                core.withdraw(handler, now);
            }
            Command::Services(reply) => {
                let _ = reply.send(core.services(now));
            }
            Command::Queue(command) => self.on_queue_command(command),
            Command::Shutdown(_) => unreachable!("handled in run"),
        }
    }

    /// The node's status: the core's, with gossipsub's peers per topic, the refusals
    /// counted and relaying.
    fn status(&self) -> Status {
        let mut status = self.core.status(now());
        let gossipsub = self.swarm.behaviour().gossipsub();
        for topic in &mut status.topics {
            let Some(name) = self.core.gossip_topic(&topic.name, false) else {
                continue;
            };
            let hash = libp2p::gossipsub::IdentTopic::new(name).hash();
            topic.peers = gossipsub
                .all_peers()
                .filter(|(_, topics)| topics.contains(&&hash))
                .count();
        }
        status.rejected = self.shared.tally.counts();
        status.relay = self.reach.status();
        status
    }

    /// How many connected peers subscribe to `topic` (to its benchmark messages when
    /// `bench`).
    fn subscribers(&self, topic: &weft_proto::topic::TopicName, bench: bool) -> usize {
        let Some(name) = self.core.gossip_topic(topic, bench) else {
            return 0;
        };
        let hash = libp2p::gossipsub::IdentTopic::new(name).hash();
        self.swarm
            .behaviour()
            .gossipsub()
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&hash))
            .count()
    }

    /// This node's PeerId and where it can be dialled.
    fn id(&self) -> IdResponse {
        let local = self.core.peer_id();
        let suffix = Protocol::P2p(local);
        IdResponse {
            peer_id: local.to_string(),
            addrs: self
                .core
                .listen_addrs()
                .iter()
                .map(|a| match a.iter().last() {
                    Some(Protocol::P2p(_)) => a.to_string(),
                    _ => a.clone().with(suffix.clone()).to_string(),
                })
                .collect(),
        }
    }

    /// Dials `addr` for a local caller, who hears back once connected or failed.
    fn dial_for(&mut self, addr: Multiaddr, reply: oneshot::Sender<Result<PeerId, NodeError>>) {
        let peer = match addr.iter().last() {
            Some(Protocol::P2p(peer)) => Some(peer),
            _ => None,
        };
        if peer == Some(self.core.peer_id()) {
            let _ = reply.send(Err(NodeError::Invalid(format!(
                "{addr} is this node itself"
            ))));
            return;
        }
        if let Some(peer) = peer.filter(|p| self.core.peers().is_connected(p)) {
            let _ = reply.send(Ok(peer));
            return;
        }
        let opts = match peer {
            Some(peer) => DialOpts::peer_id(peer)
                .addresses(vec![addr.clone()])
                .condition(PeerCondition::Always)
                .build(),
            None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
        };
        let connection = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => self.local.dialling(connection, addr, reply),
            Err(e) => {
                let _ = reply.send(Err(NodeError::Dial {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                }));
            }
        }
    }
}
