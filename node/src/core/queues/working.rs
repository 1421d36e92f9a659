//! [`Working`]: the queues this node works, pulling items from every producer it can reach.
//!
//! A local worker takes items of one queue, at most its concurrency at once. This node
//! gives producers credit for at most that many plus a small prefetch, over all of them:
//! the credit it holds out, the items waiting here and the items running never add up to
//! more. Credit goes, one at a time, to the producers that say they have ready items and
//! hold the least of this node's credit. A result (done, failed, released) is sent to its
//! producer and kept until the producer says it is on disk, and said again on the next
//! session to it if that one closes first. Everything changed comes back as [`Effect`]s for
//! the core to carry out; nothing here does IO.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use weft_proto::queue::{
    ItemId, Lease, MAX_CREDIT, MAX_LEASES_PER_FRAME, QUEUE_VERSION, QueueName, RUNNING_EVERY_MS,
    WorkerFrame, clip_reason,
};

use crate::core::io::{RunId, WorkerId};

/// How often a worker names the leases it holds at each producer.
pub const RUNNING_EVERY: Duration = Duration::from_millis(RUNNING_EVERY_MS);

/// How long a producer may hold this node's credit without a word: an honest one sends
/// items at once or gives the credit back. Past it the credit goes to other producers, and
/// the silent one gets one item's credit at a time until it sends an item.
pub const CREDIT_IDLE: Duration = Duration::from_secs(5);

/// How a local worker works its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkOpts {
    /// Items run at once (at least 1; with `prefetch`, at most [`MAX_CREDIT`]).
    pub concurrency: u32,
    /// Items held beyond those running, so the next is here when one ends.
    pub prefetch: u32,
    /// Deliveries after which an item it fails is a dead letter.
    pub max_deliver: u32,
}

/// What a change asks the core to carry out, in order.
#[derive(Debug, PartialEq)]
pub enum Effect {
    /// Start a session to producer `peer`, unless one is open: the frames that say what
    /// this node holds there follow, before any `Want` (a producer gives up the leases a
    /// new session's first `Want` finds unnamed).
    Open(PeerId),
    /// Send this frame on the session to producer `peer`; with none open it is not sent
    /// (what must be said again is said on the next one).
    Send(PeerId, WorkerFrame),
    /// Hand an item to the local worker.
    Run {
        /// The local worker.
        worker: WorkerId,
        /// The run, for its end.
        run: RunId,
        /// The item's delivery.
        lease: Lease,
        /// The item.
        body: Vec<u8>,
    },
}

/// What this node knows of one producer of a queue it works.
#[derive(Debug, Default)]
struct AtProducer {
    /// Items it may still send.
    credit: u32,
    /// Items it has ready that this node has not asked for, as it last said.
    pending: u32,
    /// Whether a session to it carries this queue (it was sent a `Want`).
    registered: bool,
    /// Whether the queue's policy refuses this node there.
    refused: bool,
    /// Since when it has held credit without a word.
    quiet_since: Option<Instant>,
    /// Whether it held credit past [`CREDIT_IDLE`] and has sent no item since.
    probation: bool,
    /// Until when it gets no credit: this node waits to reconnect it until it holds none
    /// of its items ([`Working::drain`]).
    draining: Option<Instant>,
}

impl AtProducer {
    /// It said something: it is not holding credit silently.
    fn heard(&mut self) {
        self.quiet_since = None;
    }
}

#[derive(Debug)]
struct Worker {
    id: WorkerId,
    opts: WorkOpts,
    producers: BTreeMap<PeerId, AtProducer>,
    waiting: VecDeque<(PeerId, Lease, Vec<u8>)>,
    running: BTreeMap<RunId, (PeerId, Lease)>,
    /// Rotates which producer is offered credit first.
    turn: usize,
}

impl Worker {
    fn capacity(&self) -> u32 {
        self.opts.concurrency + self.opts.prefetch
    }

    fn in_use(&self) -> u32 {
        let credit: u32 = self.producers.values().map(|p| p.credit).sum();
        credit + self.waiting.len() as u32 + self.running.len() as u32
    }

    /// The leases this node holds from `peer`.
    fn leases_from(&self, peer: &PeerId) -> Vec<Lease> {
        let waiting = self.waiting.iter().filter(|(p, ..)| p == peer);
        let running = self.running.values().filter(|(p, _)| p == peer);
        waiting
            .map(|(_, lease, _)| *lease)
            .chain(running.map(|(_, lease)| *lease))
            .collect()
    }
}

/// The queues worked here.
#[derive(Debug, Default)]
pub struct Working {
    queues: BTreeMap<QueueName, Worker>,
    ids: BTreeMap<WorkerId, QueueName>,
    runs: BTreeMap<RunId, QueueName>,
    /// Results sent and not yet on their producer's disk.
    unsettled: BTreeMap<(PeerId, ItemId), WorkerFrame>,
    last: u64,
    next_running: Option<Instant>,
}

impl Working {
    /// Works `queue` here with `opts`: the local worker's id, or `None` when it is worked
    /// here already.
    pub fn work(&mut self, queue: QueueName, opts: WorkOpts) -> Option<WorkerId> {
        if self.queues.contains_key(&queue) {
            return None;
        }
        self.last += 1;
        let id = WorkerId(self.last);
        // A producer holds out at most MAX_CREDIT for a worker: credit beyond it never
        // comes back as items.
        let concurrency = opts.concurrency.clamp(1, MAX_CREDIT);
        let opts = WorkOpts {
            concurrency,
            prefetch: opts.prefetch.min(MAX_CREDIT - concurrency),
            ..opts
        };
        let worker = Worker {
            id,
            opts,
            producers: BTreeMap::new(),
            waiting: VecDeque::new(),
            running: BTreeMap::new(),
            turn: 0,
        };
        self.ids.insert(id, queue.clone());
        self.queues.insert(queue, worker);
        Some(id)
    }

    /// The queue local worker `id` works.
    pub fn queue_of(&self, id: &WorkerId) -> Option<&QueueName> {
        self.ids.get(id)
    }

    /// Local worker `id` is gone: every item it held goes back to its producer unrun.
    pub fn stop(&mut self, id: WorkerId) -> Vec<Effect> {
        let Some(queue) = self.ids.remove(&id) else {
            return Vec::new();
        };
        let Some(worker) = self.queues.remove(&queue) else {
            return Vec::new();
        };
        let waiting = worker.waiting.into_iter().map(|(p, lease, _)| (p, lease));
        let running = worker.running.into_iter().map(|(run, held)| {
            self.runs.remove(&run);
            held
        });
        let held: Vec<(PeerId, Lease)> = waiting.chain(running).collect();
        // Said at once, on a session of its own if none is open (a session's first `Want`
        // is what gives up unnamed leases, never a `Release`).
        held.into_iter()
            .flat_map(|(peer, lease)| {
                let frame = WorkerFrame::Release {
                    queue: queue.clone(),
                    lease,
                };
                self.unsettled.insert((peer, lease.id), frame.clone());
                [Effect::Open(peer), Effect::Send(peer, frame)]
            })
            .collect()
    }

    /// The queues worked here.
    pub fn queues(&self) -> impl Iterator<Item = &QueueName> {
        self.queues.keys()
    }

    /// `holders` (each with how many items it has ready, as its record says) hold items of
    /// `queue`; those `reachable` get a session carrying the queue (and what this node has
    /// to say to them again), then credit.
    pub fn producers(
        &mut self,
        queue: &QueueName,
        holders: Vec<(PeerId, u32)>,
        reachable: impl Fn(&PeerId) -> bool,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let Some(worker) = self.queues.get_mut(queue) else {
            return effects;
        };
        let mut registering = Vec::new();
        for (peer, pending) in holders {
            if !reachable(&peer) {
                continue;
            }
            let at = worker.producers.entry(peer).or_default();
            if !at.registered {
                at.registered = true;
                // A record is the producer's word: one item's credit, until it says more.
                at.pending = pending.min(1);
                registering.push(peer);
            }
        }
        let mut wants = self.grant(queue);
        for peer in registering {
            effects.push(Effect::Open(peer));
            let worker = &self.queues[queue];
            let leases = worker.leases_from(&peer);
            for chunk in leases.chunks(MAX_LEASES_PER_FRAME) {
                let running = WorkerFrame::Running {
                    queue: queue.clone(),
                    leases: chunk.to_vec(),
                };
                effects.push(Effect::Send(peer, running));
            }
            for frame in owed(&self.unsettled, peer) {
                effects.push(Effect::Send(peer, frame.clone()));
            }
            if !wants.iter().any(|(p, _)| *p == peer) {
                wants.push((peer, 0));
            }
        }
        let max_deliver = self.queues[queue].opts.max_deliver;
        for (peer, credit) in wants {
            let want = WorkerFrame::Want {
                v: QUEUE_VERSION,
                queue: queue.clone(),
                credit,
                max_deliver,
            };
            effects.push(Effect::Send(peer, want));
        }
        effects
    }

    /// Gives out the credit `queue`'s worker has free, one item at a time, to producers
    /// with ready items, least credited first (in turn among equals): who gets how much.
    fn grant(&mut self, queue: &QueueName) -> Vec<(PeerId, u32)> {
        let Some(worker) = self.queues.get_mut(queue) else {
            return Vec::new();
        };
        let capacity = worker.capacity();
        let mut free = capacity.saturating_sub(worker.in_use());
        if free == 0 {
            return Vec::new();
        }
        // A producer that has not settled a worker's worth of results gets no more.
        let peers: Vec<PeerId> = worker
            .producers
            .iter()
            .filter(|(peer, at)| {
                let owed = owed(&self.unsettled, **peer)
                    .take(capacity as usize)
                    .count();
                at.registered && !at.refused && at.draining.is_none() && (owed as u32) < capacity
            })
            .map(|(peer, _)| *peer)
            .collect();
        let mut given: BTreeMap<PeerId, u32> = BTreeMap::new();
        while free > 0 {
            let n = peers.len();
            let next = (0..n)
                .map(|i| peers[(worker.turn + i) % n.max(1)])
                .filter(|peer| {
                    let at = &worker.producers[peer];
                    at.pending > 0 && !(at.probation && at.credit > 0)
                })
                .min_by_key(|peer| worker.producers[peer].credit);
            let Some(peer) = next else {
                break;
            };
            worker.turn = worker.turn.wrapping_add(1);
            if let Some(at) = worker.producers.get_mut(&peer) {
                at.credit += 1;
                at.pending -= 1;
            }
            *given.entry(peer).or_default() += 1;
            free -= 1;
        }
        given.into_iter().collect()
    }

    /// Sends `queue`'s producers the credit its worker has free.
    fn want_more(&mut self, queue: &QueueName) -> Vec<Effect> {
        let Some(max_deliver) = self.queues.get(queue).map(|w| w.opts.max_deliver) else {
            return Vec::new();
        };
        self.grant(queue)
            .into_iter()
            .map(|(peer, credit)| {
                let want = WorkerFrame::Want {
                    v: QUEUE_VERSION,
                    queue: queue.clone(),
                    credit,
                    max_deliver,
                };
                Effect::Send(peer, want)
            })
            .collect()
    }

    /// Producer `peer` sent `lease` of an item of `queue`: it waits for the worker, or
    /// goes back when nothing here asked for it.
    pub fn item(
        &mut self,
        peer: PeerId,
        queue: QueueName,
        lease: Lease,
        body: Vec<u8>,
    ) -> Vec<Effect> {
        let asked = self
            .queues
            .get_mut(&queue)
            .and_then(|w| w.producers.get_mut(&peer))
            .filter(|at| at.credit > 0);
        let Some(at) = asked else {
            // Said once and not kept: should it not arrive, the session it came on is gone,
            // and its close takes the lease back.
            return vec![Effect::Send(peer, WorkerFrame::Release { queue, lease })];
        };
        at.credit -= 1;
        at.heard();
        at.probation = false;
        if let Some(worker) = self.queues.get_mut(&queue) {
            worker.waiting.push_back((peer, lease, body));
        }
        self.run_next(&queue)
    }

    /// Hands waiting items of `queue` to its worker while it has room.
    fn run_next(&mut self, queue: &QueueName) -> Vec<Effect> {
        let mut effects = Vec::new();
        let Some(worker) = self.queues.get_mut(queue) else {
            return effects;
        };
        while (worker.running.len() as u32) < worker.opts.concurrency {
            let Some((peer, lease, body)) = worker.waiting.pop_front() else {
                break;
            };
            self.last += 1;
            let run = RunId(self.last);
            worker.running.insert(run, (peer, lease));
            self.runs.insert(run, queue.clone());
            effects.push(Effect::Run {
                worker: worker.id,
                run,
                lease,
                body,
            });
        }
        effects
    }

    /// Run `run` ended: done (`Ok`) or failed with why; its producer is told, and the
    /// worker gets more.
    pub fn finished(&mut self, run: RunId, result: Result<(), String>) -> Vec<Effect> {
        let Some(queue) = self.runs.remove(&run) else {
            return Vec::new();
        };
        let Some((peer, lease)) = self
            .queues
            .get_mut(&queue)
            .and_then(|w| w.running.remove(&run))
        else {
            return Vec::new();
        };
        let frame = match result {
            Ok(()) => WorkerFrame::Done {
                queue: queue.clone(),
                lease,
            },
            Err(reason) => WorkerFrame::Failed {
                queue: queue.clone(),
                lease,
                reason: clip_reason(&reason),
            },
        };
        self.unsettled.insert((peer, lease.id), frame.clone());
        let mut effects = vec![Effect::Send(peer, frame)];
        effects.extend(self.run_next(&queue));
        effects.extend(self.want_more(&queue));
        effects
    }

    /// Producer `peer` has this node's word on item `id` on its disk.
    pub fn settled(&mut self, peer: PeerId, queue: &QueueName, id: ItemId) -> Vec<Effect> {
        self.unsettled.remove(&(peer, id));
        if let Some(at) = self.at(peer, queue) {
            at.heard();
        }
        self.want_more(queue)
    }

    /// Producer `peer` has nothing of `queue` ready and gave `returned` credit back.
    pub fn drained(&mut self, peer: PeerId, queue: &QueueName, returned: u32) -> Vec<Effect> {
        if let Some(at) = self.at(peer, queue) {
            at.credit = at.credit.saturating_sub(returned);
            at.pending = 0;
            at.heard();
        }
        self.want_more(queue)
    }

    /// Producer `peer` has `count` items of `queue` ready.
    pub fn pending(&mut self, peer: PeerId, queue: &QueueName, count: u32) -> Vec<Effect> {
        if let Some(at) = self.at(peer, queue) {
            at.pending = count;
            at.heard();
        }
        self.want_more(queue)
    }

    /// This node is to reconnect producer `peer` (its gossip went deaf): it gets no credit
    /// until `until` (items it sends on credit given before go back unrun); whether this
    /// node still holds items of it, which the reconnect waits for.
    pub fn drain(&mut self, peer: &PeerId, until: Instant) -> bool {
        let mut holds = false;
        for worker in self.queues.values_mut() {
            if let Some(at) = worker.producers.get_mut(peer) {
                at.credit = 0;
                at.pending = 0;
                at.draining = Some(until);
            }
            holds |= !worker.leases_from(peer).is_empty();
        }
        holds
    }

    /// Whether this node pulls items from `peer` (a session to it carries a queue).
    pub fn pulls_from(&self, peer: &PeerId) -> bool {
        let registered = |w: &Worker| w.producers.get(peer).is_some_and(|at| at.registered);
        self.queues.values().any(registered)
    }

    /// `queue`'s policy at producer `peer` does not let this node work it.
    pub fn refused(&mut self, peer: PeerId, queue: &QueueName) -> Vec<Effect> {
        if let Some(at) = self.at(peer, queue) {
            at.refused = true;
            at.credit = 0;
        }
        self.want_more(queue)
    }

    fn at(&mut self, peer: PeerId, queue: &QueueName) -> Option<&mut AtProducer> {
        self.queues.get_mut(queue)?.producers.get_mut(&peer)
    }

    /// The session to producer `peer` closed: its credit is void and the items waiting
    /// from it are its own again (it leases them elsewhere); those running go on, and
    /// their results are said on the next session.
    pub fn lost(&mut self, peer: PeerId) -> Vec<Effect> {
        let mut queues = Vec::new();
        for (queue, worker) in &mut self.queues {
            if let Some(at) = worker.producers.get_mut(&peer) {
                *at = AtProducer::default();
            }
            worker.waiting.retain(|(p, ..)| *p != peer);
            queues.push(queue.clone());
        }
        queues.iter().flat_map(|q| self.want_more(q)).collect()
    }

    /// What time did: a producer's draining ends (it gets credit again); credit held
    /// silently past [`CREDIT_IDLE`] goes to other producers; every [`RUNNING_EVERY`], each
    /// producer hears which of its leases this node still holds.
    pub fn tick(&mut self, now: Instant) -> Vec<Effect> {
        let mut drained = Vec::new();
        for (queue, worker) in &mut self.queues {
            for at in worker.producers.values_mut() {
                if at.draining.take_if(|until| now >= *until).is_some() {
                    // Its word on what it has ready was dropped with its credit.
                    at.pending = 1;
                    drained.push(queue.clone());
                }
            }
        }
        drained.dedup();
        let mut effects: Vec<Effect> = drained.iter().flat_map(|q| self.want_more(q)).collect();
        effects.extend(self.reclaim(now));
        if self.next_running.is_some_and(|at| now < at) {
            return effects;
        }
        self.next_running = Some(now + RUNNING_EVERY);
        for (queue, worker) in &self.queues {
            for (peer, at) in &worker.producers {
                if !at.registered {
                    continue;
                }
                let leases = worker.leases_from(peer);
                for chunk in leases.chunks(MAX_LEASES_PER_FRAME) {
                    let running = WorkerFrame::Running {
                        queue: queue.clone(),
                        leases: chunk.to_vec(),
                    };
                    effects.push(Effect::Send(*peer, running));
                }
            }
        }
        effects
    }

    /// Takes back the credit producers have held without a word past [`CREDIT_IDLE`] (an
    /// item sent on it later goes back), and gives it to others.
    fn reclaim(&mut self, now: Instant) -> Vec<Effect> {
        let mut reclaimed = Vec::new();
        for (queue, worker) in &mut self.queues {
            for (peer, at) in &mut worker.producers {
                if at.credit == 0 {
                    at.heard();
                    continue;
                }
                let since = *at.quiet_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= CREDIT_IDLE {
                    tracing::warn!(%queue, producer = %crate::core::short(peer), credit = at.credit, "a producer held this node's credit without a word: it goes to others");
                    at.credit = 0;
                    at.pending = 0;
                    at.probation = true;
                    at.heard();
                    reclaimed.push(queue.clone());
                }
            }
        }
        reclaimed.dedup();
        reclaimed.iter().flat_map(|q| self.want_more(q)).collect()
    }

    /// How many producers `queue` is worked from here, and how many items its worker holds.
    pub fn status(&self, queue: &QueueName) -> (u32, u32) {
        self.queues.get(queue).map_or((0, 0), |w| {
            let producers = w.producers.values().filter(|p| p.registered).count() as u32;
            (producers, (w.waiting.len() + w.running.len()) as u32)
        })
    }
}

/// The results `peer` has not settled yet.
fn owed(
    unsettled: &BTreeMap<(PeerId, ItemId), WorkerFrame>,
    peer: PeerId,
) -> impl Iterator<Item = &WorkerFrame> {
    unsettled
        .range((peer, ItemId([0; 16]))..=(peer, ItemId([0xff; 16])))
        .map(|(_, frame)| frame)
}

#[cfg(test)]
mod tests;
