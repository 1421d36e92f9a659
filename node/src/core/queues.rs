//! Work queues: items pushed by members and worked by other members, held by the node
//! they were pushed to until a worker acknowledges them, with no broker.
//!
//! - As a producer ([`held`]): a push is on disk before it is acknowledged; workers the
//!   queue's policy lets work pull items with credit on `/weft/queue/1`; each lease is on
//!   disk before its item goes; the producer's record says which queues it holds items of.
//! - As a worker ([`working`]): a local worker works one queue; this node opens a session to
//!   every reachable producer the records name (that the policy lets push), gives them
//!   credit for what the worker can take, hands it items and carries its results back.

pub mod held;
pub mod working;

use libp2p::PeerId;
use weft_proto::queue::{
    DeadLetter, ItemId, MAX_ITEM_BYTES, ProducerFrame, Pushed, QueueName, QueueStatus, WorkerFrame,
};

use self::held::Held;
use self::working::{WorkOpts, Working};
use super::connections::reachable;
use super::io::{Now, Observation, Output, RunId, SessionId, WorkerId};
use super::rng::Rng;
use super::{Core, short};
use crate::network::NodeError;
use crate::store::queues::{DoneItem, StoredItem};
use crate::store::write::Write;

/// Queues, both ways.
#[derive(Debug)]
pub struct Queues {
    held: Held,
    working: Working,
    rng: Rng,
}

impl Queues {
    /// The items found on disk at start, at `now`; ids drawn from `seed`.
    pub fn new(
        seed: u64,
        items: Vec<(ItemId, StoredItem)>,
        done: Vec<(ItemId, DoneItem)>,
        now: std::time::Instant,
    ) -> Queues {
        Queues {
            held: Held::load(items, done, now),
            working: Working::default(),
            rng: Rng::new(seed),
        }
    }

    /// The queues this node holds items of, for its record.
    pub fn holdings(&self) -> Vec<weft_proto::queue::Holding> {
        self.held.holdings()
    }
}

impl Core {
    /// Pushes `body` to `queue`, held by this node until a worker acknowledges it; with a
    /// `key`, an item with that key is pushed once. The answer waits for the disk (the
    /// shell releases it after the flush).
    pub fn push(
        &mut self,
        queue: QueueName,
        body: Vec<u8>,
        key: Option<String>,
        now: Now,
    ) -> Result<Pushed, NodeError> {
        if body.len() > MAX_ITEM_BYTES {
            return Err(NodeError::TooLarge(format!(
                "an item is at most {MAX_ITEM_BYTES} bytes (this one is {}); share a blob and push its id instead",
                body.len()
            )));
        }
        if let Some(e) = self.removed_error() {
            return Err(e);
        }
        let mesh = self.mesh.get().ok_or_else(super::membership::not_in_mesh)?;
        if !mesh.acl().can_push(&self.me.key, &queue) {
            return Err(NodeError::Forbidden(format!(
                "the policy of queue `{queue}` does not let this node push to it"
            )));
        }
        let id = match &key {
            Some(key) => ItemId::keyed(&queue, key),
            None => {
                let mut id = [0u8; 16];
                id.copy_from_slice(&self.queues.rng.bytes()[..16]);
                ItemId(id)
            }
        };
        let was_held = self.queues.held.holds(&queue);
        let wall_ms = now.unix_us / 1000;
        let size = body.len() as u64;
        let pushed = self
            .queues
            .held
            .push(queue.clone(), id, size, wall_ms, now.at)
            .map_err(|e| NodeError::Full(e.to_string()))?;
        let Some((stored, effects)) = pushed else {
            return Ok(Pushed {
                id: id.to_string(),
                new: false,
            });
        };
        self.commit
            .write(Write::PushItem(id, Box::new(stored), body));
        self.held_effects(effects);
        if !was_held {
            self.services.announce_soon(now.at);
        }
        Ok(Pushed {
            id: id.to_string(),
            new: true,
        })
    }

    /// `queue` at this node: as its producer, and as its worker.
    pub fn queue_status(&self, queue: &QueueName) -> QueueStatus {
        let mut status = self.queues.held.status(queue);
        (status.producers, status.working) = self.queues.working.status(queue);
        status
    }

    /// Every queue this node holds items of or works.
    pub fn queue_statuses(&self) -> Vec<QueueStatus> {
        let mut queues = self.queues.held.queues();
        queues.extend(self.queues.working.queues().cloned());
        queues.iter().map(|q| self.queue_status(q)).collect()
    }

    /// The dead letters of `queue` held here.
    pub fn dead_letters(&self, queue: &QueueName) -> Vec<DeadLetter> {
        self.queues.held.dead_letters(queue)
    }

    /// Dead letter `id` of `queue` goes back to the workers, its deliveries counted afresh.
    pub fn retry(&mut self, queue: &QueueName, id: ItemId, now: Now) -> Result<(), NodeError> {
        let effects = self
            .queues
            .held
            .retry(queue, id, now.at)
            .map_err(NodeError::NotFound)?;
        self.held_effects(effects);
        self.services.announce_soon(now.at);
        Ok(())
    }

    /// Works `queue` from this node with `opts`: the local worker's id.
    pub fn work(&mut self, queue: QueueName, opts: WorkOpts) -> Result<WorkerId, NodeError> {
        if let Some(e) = self.removed_error() {
            return Err(e);
        }
        let mesh = self.mesh.get().ok_or_else(super::membership::not_in_mesh)?;
        if !mesh.acl().can_work(&self.me.key, &queue) {
            return Err(NodeError::Forbidden(format!(
                "the policy of queue `{queue}` does not let this node work it (guests never do)"
            )));
        }
        let Some(worker) = self.queues.working.work(queue.clone(), opts) else {
            return Err(NodeError::Invalid(format!(
                "`{queue}` is worked from this node already"
            )));
        };
        tracing::info!(%queue, concurrency = opts.concurrency, "working a queue");
        self.find_producers();
        Ok(worker)
    }

    /// Local worker `worker` is gone: what it held goes back to its producers.
    pub fn stop_work(&mut self, worker: WorkerId) {
        if let Some(queue) = self.queues.working.queue_of(&worker) {
            tracing::info!(%queue, "no longer working a queue");
        }
        let effects = self.queues.working.stop(worker);
        self.working_effects(effects);
    }

    /// A local worker ran `run`: done, or failed with why.
    pub fn worked(&mut self, run: RunId, result: Result<(), String>) {
        let effects = self.queues.working.finished(run, result);
        self.working_effects(effects);
    }

    /// A worker's frame on inbound session `session` from `peer`.
    pub(super) fn on_worker_frame(
        &mut self,
        peer: PeerId,
        session: SessionId,
        frame: WorkerFrame,
        now: Now,
    ) {
        let Some((key, _)) = self.mesh.get().and_then(|m| m.member(&peer)) else {
            self.reject("queue", &peer, "acl", &"a worker's frame from a non-member");
            return;
        };
        let held = &mut self.queues.held;
        let effects = match frame {
            WorkerFrame::Want {
                queue,
                credit,
                max_deliver,
                ..
            } => {
                let allowed = self
                    .mesh
                    .get()
                    .is_some_and(|m| m.acl().can_work(&key, &queue));
                let refused = if !allowed {
                    Some(("queue_not_allowed", "its policy does not allow"))
                } else if !held.takes(session, &queue) {
                    Some(("queue_session_cap", "past the queues one session may pull"))
                } else {
                    None
                };
                if let Some((reason, why)) = refused {
                    let why = format!("a worker of `{queue}`: {why}");
                    self.reject("queue", &peer, reason, &why);
                    let frame = ProducerFrame::NotAllowed { queue };
                    self.out.push_back(Output::ToWorker { session, frame });
                    return;
                }
                held.want(session, key, queue, credit, max_deliver, now.at)
            }
            WorkerFrame::Done { queue, lease } => held.done(session, &key, &queue, lease),
            WorkerFrame::Failed {
                queue,
                lease,
                reason,
            } => held.failed(session, &key, &queue, lease, reason, now.at),
            WorkerFrame::Release { queue, lease } => {
                held.release(session, &key, &queue, lease, now.at)
            }
            WorkerFrame::Running { leases, .. } => {
                held.running(session, &key, &leases, now.at);
                Vec::new()
            }
        };
        self.held_effects(effects);
    }

    /// After a change to the ACL: the workers whose queue's policy no longer lets them
    /// work it are told so and given no more of it (what they hold they may still end).
    pub(super) fn review_workers(&mut self) {
        let Some(mesh) = self.mesh.get() else {
            return;
        };
        let acl = mesh.acl();
        let effects = self
            .queues
            .held
            .review(|key, queue| acl.can_work(key, queue));
        self.held_effects(effects);
    }

    /// This node ends member `peer`'s sessions to reconnect it: what its worker holds here
    /// waits for its next session to name it, not given to other workers.
    pub(super) fn keep_workers_leases(&mut self, peer: &PeerId) {
        if let Some(key) = self.member_key(peer) {
            self.queues.held.keep(&key);
        }
    }

    /// Member `peer`'s last connection closed.
    pub(super) fn queues_peer_gone(&mut self, peer: &PeerId) {
        if let Some(key) = self.member_key(peer) {
            self.queues.held.gone(&key);
        }
    }

    /// This node is to reconnect `peer`: it takes no items of it until `until`; whether it
    /// still holds some ([`working::Working::drain`]).
    pub(super) fn queues_drain(&mut self, peer: &PeerId, until: std::time::Instant) -> bool {
        self.queues.working.drain(peer, until)
    }

    /// Whether a queue session with `peer` carries work: this node pulls from it, or it
    /// pulls from this node.
    pub(super) fn works_with(&self, peer: &PeerId) -> bool {
        let pulls = |key| self.queues.held.pulled_by(&key);
        self.queues.working.pulls_from(peer) || self.member_key(peer).is_some_and(pulls)
    }

    fn member_key(&self, peer: &PeerId) -> Option<weft_proto::mesh::MemberKey> {
        self.mesh
            .get()
            .and_then(|m| m.member(peer))
            .map(|(key, _)| key)
    }

    /// Inbound session `session` (a worker's) closed.
    pub(super) fn on_worker_gone(&mut self, session: SessionId, now: Now) {
        let effects = self.queues.held.session_closed(session, now.at);
        self.held_effects(effects);
    }

    /// A producer's frame on this node's session to `peer`.
    pub(super) fn on_producer_frame(&mut self, peer: PeerId, frame: ProducerFrame) {
        if self.mesh.get().and_then(|m| m.member(&peer)).is_none() {
            self.reject(
                "queue",
                &peer,
                "acl",
                &"a producer's frame from a non-member",
            );
            return;
        }
        let working = &mut self.queues.working;
        let effects = match frame {
            ProducerFrame::Item {
                queue, lease, body, ..
            } => working.item(peer, queue, lease, body),
            ProducerFrame::Settled { queue, id } => working.settled(peer, &queue, id),
            ProducerFrame::Drained { queue, returned } => working.drained(peer, &queue, returned),
            ProducerFrame::Pending { queue, count } => working.pending(peer, &queue, count),
            ProducerFrame::NotAllowed { queue } => {
                tracing::warn!(%queue, producer = %short(&peer), "the policy of queue `{queue}` does not let this node work it");
                working.refused(peer, &queue)
            }
        };
        self.working_effects(effects);
    }

    /// This node's session to producer `peer` ended.
    pub(super) fn on_producer_lost(&mut self, peer: PeerId) {
        let effects = self.queues.working.lost(peer);
        self.working_effects(effects);
    }

    /// What time did to queues: paused items are ready, lost leases go elsewhere, workers
    /// find producers and renew their leases.
    pub(super) fn tick_queues(&mut self, now: Now) {
        let effects = self.queues.held.tick(now.at);
        self.held_effects(effects);
        self.find_producers();
        let effects = self.queues.working.tick(now.at);
        self.working_effects(effects);
    }

    /// Opens sessions to the producers of the queues worked here that are reachable and
    /// that the queue's policy lets push.
    fn find_producers(&mut self) {
        let queues: Vec<QueueName> = self.queues.working.queues().cloned().collect();
        for queue in queues {
            let acl = self.mesh.get().map(|m| m.acl());
            let holders: Vec<(PeerId, u32)> = self
                .services
                .catalogue
                .providers()
                .filter(|(_, p)| acl.is_some_and(|acl| acl.can_push(&p.key, &queue)))
                .filter_map(|(peer, p)| p.holding(&queue).map(|pending| (*peer, pending)))
                .collect();
            let (peers, addresses) = (&self.peers, self.mesh.addresses());
            let effects = self
                .queues
                .working
                .producers(&queue, holders, |p| reachable(peers, addresses, p));
            self.working_effects(effects);
        }
    }

    /// Carries out what the producer side decided.
    fn held_effects(&mut self, effects: Vec<held::Effect>) {
        use super::commit::Durable;
        use held::Effect;
        for effect in effects {
            match effect {
                Effect::Store(id, item) => self.commit.write(Write::SetItem(id, Box::new(item))),
                Effect::Finish(id, done) => self.commit.write(Write::FinishItem(id, done)),
                Effect::ForgetDone(id) => self.commit.write(Write::ForgetDone(id)),
                Effect::Send(session, frame) => {
                    self.out.push_back(Output::ToWorker { session, frame });
                }
                Effect::SendDurably(session, frame) => {
                    let output = Output::ToWorker { session, frame };
                    self.commit.after(Durable::then(output));
                }
                Effect::Redelivered(queue) => {
                    let observed = Observation::Redelivered { queue };
                    self.out.push_back(Output::Observed(observed));
                }
                Effect::DeadLettered(queue) => {
                    let observed = Observation::DeadLettered { queue };
                    self.out.push_back(Output::Observed(observed));
                }
                Effect::Deliver(session, queue, lease) => {
                    let output = Output::Deliver {
                        session,
                        queue,
                        lease,
                    };
                    self.commit.after(Durable::then(output));
                }
            }
        }
    }

    /// Carries out what the worker side decided.
    fn working_effects(&mut self, effects: Vec<working::Effect>) {
        for effect in effects {
            if let working::Effect::Open(peer) = &effect {
                self.reach(*peer);
            }
            self.out.push_back(match effect {
                working::Effect::Open(peer) => Output::OpenToProducer { peer },
                working::Effect::Send(peer, frame) => Output::ToProducer { peer, frame },
                working::Effect::Run {
                    worker,
                    run,
                    lease,
                    body,
                } => Output::Work {
                    worker,
                    run,
                    lease,
                    body,
                },
            });
        }
    }
}
