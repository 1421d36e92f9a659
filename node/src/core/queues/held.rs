//! [`Held`]: the work items this node holds as their producer, and the workers pulling them.
//!
//! An item is ready, backing off after a failure, leased to a worker, or a dead letter. A
//! worker's session says how many items of a queue it takes (credit); ready items go, oldest
//! first, to the session with credit that holds fewest, each as a lease numbered by its
//! delivery and written to disk before it is sent. A lease ends with the worker's word
//! (done, failed, released), when its session closes, or at its deadline unless the worker
//! says it still runs it. Everything changed comes back as [`Effect`]s for the core to
//! carry out; nothing here does IO.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use weft_proto::mesh::MemberKey;
use weft_proto::queue::{
    DeadLetter, Holding, ItemId, LEASE_MS, Lease, MAX_CREDIT, MAX_MAX_DELIVER,
    MAX_QUEUES_PER_SESSION, ProducerFrame, QueueName, QueueStatus,
};

use crate::core::io::SessionId;
use crate::store::queues::{DoneItem, ItemState, StoredItem};

/// How long a lease lasts without news of it.
pub const LEASE: Duration = Duration::from_millis(LEASE_MS);

/// Most items this node holds as a producer, over all queues.
pub const MAX_HELD_ITEMS: usize = 100_000;

/// Most bytes of items this node holds as a producer.
pub const MAX_HELD_BYTES: u64 = 1 << 30;

/// How many acknowledged items are remembered (for idempotent pushes and late words).
pub const MAX_DONE_KEPT: usize = 100_000;

/// The pause before a failed item is delivered again, after its first failure.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);

/// The longest pause before a failed item is delivered again.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// How many of an item's last leases are remembered, so a worker whose lease was taken
/// back can still acknowledge it.
const HOLDERS_KEPT: usize = 4;

/// What a change asks the core to carry out, in order.
#[derive(Debug, PartialEq)]
pub enum Effect {
    /// Write what is known of the item.
    Store(ItemId, StoredItem),
    /// The item was acknowledged: remove it, remember it done.
    Finish(ItemId, DoneItem),
    /// Forget an acknowledged item.
    ForgetDone(ItemId),
    /// Send this frame on the worker's session now.
    Send(SessionId, ProducerFrame),
    /// Send this frame once the writes before it are on disk.
    SendDurably(SessionId, ProducerFrame),
    /// Send the item of this lease once its lease is on disk.
    Deliver(SessionId, QueueName, Lease),
    /// Count an item of the queue delivered again.
    Redelivered(QueueName),
    /// Count an item of the queue gone to the dead letters.
    DeadLettered(QueueName),
}

/// Why a push is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The node holds as many items or bytes as it may.
    #[error(
        "this node holds {items} items ({bytes} bytes) of work already, its limit; wait for workers to take some"
    )]
    Full {
        /// Items held.
        items: usize,
        /// Bytes held.
        bytes: u64,
    },
}

/// Where an item stands, in memory.
#[derive(Clone, Debug, PartialEq)]
enum State {
    Ready,
    Delayed(Instant),
    Leased(LeaseAt),
    Dead(String),
}

#[derive(Clone, Debug, PartialEq)]
struct LeaseAt {
    worker: MemberKey,
    /// The session it went out on; none for an unclaimed lease (found on disk at start, or
    /// kept from a session that closed) until its worker names it again.
    session: Option<SessionId>,
    attempt: u32,
    max_deliver: u32,
    deadline: Instant,
}

#[derive(Clone, Debug)]
struct Item {
    queue: QueueName,
    seq: u64,
    pushed_ms: u64,
    size: u64,
    attempts: u32,
    state: State,
    /// The last leases given: (delivery, worker).
    holders: VecDeque<(u32, MemberKey)>,
}

impl Item {
    fn stored(&self) -> StoredItem {
        let state = match &self.state {
            State::Ready | State::Delayed(_) => ItemState::Ready,
            State::Leased(lease) => ItemState::Leased {
                worker: lease.worker,
                attempt: lease.attempt,
                max_deliver: lease.max_deliver,
            },
            State::Dead(reason) => ItemState::Dead {
                reason: reason.clone(),
            },
        };
        StoredItem {
            queue: self.queue.clone(),
            seq: self.seq,
            pushed_ms: self.pushed_ms,
            size: self.size,
            attempts: self.attempts,
            state,
        }
    }

    /// Whether `worker` was given delivery `attempt` of it.
    fn was_leased(&self, worker: &MemberKey, attempt: u32) -> bool {
        self.holders
            .iter()
            .any(|(a, w)| *a == attempt && w == worker)
    }

    /// Whether its current lease is `worker`'s delivery `attempt`.
    fn leased_as(&self, worker: &MemberKey, attempt: u32) -> bool {
        matches!(&self.state, State::Leased(l) if l.worker == *worker && l.attempt == attempt)
    }
}

/// One worker's session.
#[derive(Debug)]
struct WorkerAt {
    key: MemberKey,
    wants: BTreeMap<QueueName, Want>,
    leased: BTreeSet<ItemId>,
    /// Its worker lives and comes back (this node ends the session to reconnect it): what
    /// it holds when the session closes waits for its next session to name it.
    kept: bool,
}

#[derive(Debug, Default)]
struct Want {
    credit: u32,
    max_deliver: u32,
    /// Told of ready items since its credit ran out.
    hinted: bool,
}

/// How many items of a queue stand where, and its redeliveries since the node started.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    pending: u64,
    leased: u64,
    dead: u64,
    redeliveries: u64,
}

impl Counts {
    fn of(&mut self, state: &State) -> &mut u64 {
        match state {
            State::Ready | State::Delayed(_) => &mut self.pending,
            State::Leased(_) => &mut self.leased,
            State::Dead(_) => &mut self.dead,
        }
    }
}

/// The items held and the workers pulling them.
#[derive(Debug, Default)]
pub struct Held {
    items: BTreeMap<ItemId, Item>,
    ready: BTreeMap<QueueName, BTreeSet<(u64, ItemId)>>,
    delayed: BTreeSet<(Instant, ItemId)>,
    deadlines: BTreeSet<(Instant, ItemId)>,
    done: HashMap<ItemId, (QueueName, u64)>,
    done_order: BTreeMap<u64, ItemId>,
    workers: BTreeMap<SessionId, WorkerAt>,
    /// Members this node is reconnecting: their sessions, also those it has yet to hear
    /// from, are kept ([`Held::keep`]) until their last connection closes.
    keeping: BTreeSet<MemberKey>,
    /// Leases no session holds until their worker names them again (found on disk at
    /// start, or on a kept session that closed), by worker and queue.
    unclaimed: BTreeSet<(MemberKey, QueueName, ItemId)>,
    counts: BTreeMap<QueueName, Counts>,
    next_seq: u64,
    next_done: u64,
    bytes: u64,
}

impl Held {
    /// The items and acknowledgements found on disk at start, at `now`: a lease found there
    /// lasts a full lease from now, for its worker to name it again.
    pub fn load(
        items: Vec<(ItemId, StoredItem)>,
        done: Vec<(ItemId, DoneItem)>,
        now: Instant,
    ) -> Held {
        let mut held = Held::default();
        for (id, stored) in items {
            held.next_seq = held.next_seq.max(stored.seq);
            held.bytes += stored.size;
            let mut item = Item {
                queue: stored.queue,
                seq: stored.seq,
                pushed_ms: stored.pushed_ms,
                size: stored.size,
                attempts: stored.attempts,
                state: State::Ready,
                holders: VecDeque::new(),
            };
            match stored.state {
                ItemState::Ready => {}
                ItemState::Leased {
                    worker,
                    attempt,
                    max_deliver,
                } => {
                    let deadline = now + LEASE;
                    item.holders.push_back((attempt, worker));
                    item.state = State::Leased(LeaseAt {
                        worker,
                        session: None,
                        attempt,
                        max_deliver,
                        deadline,
                    });
                }
                ItemState::Dead { reason } => item.state = State::Dead(reason),
            }
            held.place(id, &item);
            held.items.insert(id, item);
        }
        let mut done = done;
        done.sort_by_key(|(_, d)| d.seq);
        for (id, d) in done {
            held.next_done = held.next_done.max(d.seq);
            held.done_order.insert(d.seq, id);
            held.done.insert(id, (d.queue, d.seq));
        }
        held
    }

    /// Indexes `item` by its state.
    fn place(&mut self, id: ItemId, item: &Item) {
        *self
            .counts
            .entry(item.queue.clone())
            .or_default()
            .of(&item.state) += 1;
        match &item.state {
            State::Ready => {
                self.ready
                    .entry(item.queue.clone())
                    .or_default()
                    .insert((item.seq, id));
            }
            State::Delayed(at) => {
                self.delayed.insert((*at, id));
            }
            State::Leased(lease) => {
                self.deadlines.insert((lease.deadline, id));
                match lease.session {
                    Some(session) => {
                        if let Some(worker) = self.workers.get_mut(&session) {
                            worker.leased.insert(id);
                        }
                    }
                    None => {
                        self.unclaimed
                            .insert((lease.worker, item.queue.clone(), id));
                    }
                }
            }
            State::Dead(_) => {}
        }
    }

    /// Takes `item` out of the index of its state.
    fn unplace(&mut self, id: ItemId, item: &Item) {
        if let Some(counts) = self.counts.get_mut(&item.queue) {
            *counts.of(&item.state) -= 1;
        }
        match &item.state {
            State::Ready => {
                if let Some(ready) = self.ready.get_mut(&item.queue) {
                    ready.remove(&(item.seq, id));
                    if ready.is_empty() {
                        self.ready.remove(&item.queue);
                    }
                }
            }
            State::Delayed(at) => {
                self.delayed.remove(&(*at, id));
            }
            State::Leased(lease) => {
                self.deadlines.remove(&(lease.deadline, id));
                match lease.session {
                    Some(session) => {
                        if let Some(worker) = self.workers.get_mut(&session) {
                            worker.leased.remove(&id);
                        }
                    }
                    None => {
                        self.unclaimed
                            .remove(&(lease.worker, item.queue.clone(), id));
                    }
                }
            }
            State::Dead(_) => {}
        }
    }

    /// Moves item `id` to `state`, writing it.
    fn set(&mut self, id: ItemId, state: State, effects: &mut Vec<Effect>) {
        let Some(mut item) = self.items.remove(&id) else {
            return;
        };
        if matches!(state, State::Dead(_)) {
            effects.push(Effect::DeadLettered(item.queue.clone()));
        }
        self.unplace(id, &item);
        item.state = state;
        self.place(id, &item);
        effects.push(Effect::Store(id, item.stored()));
        self.items.insert(id, item);
    }

    /// Whether member `key` pulls items from this node (it has a session).
    pub fn pulled_by(&self, key: &MemberKey) -> bool {
        self.workers.values().any(|w| w.key == *key)
    }

    /// Whether an item with `id` is held or was acknowledged.
    pub fn knows(&self, id: &ItemId) -> bool {
        self.items.contains_key(id) || self.done.contains_key(id)
    }

    /// Holds a new item `id` of `queue`, `size` bytes, pushed at `wall_ms`: what to write,
    /// then what follows (deliveries to workers with credit, hints to workers without). An
    /// `id` known already is not pushed again (`None`).
    pub fn push(
        &mut self,
        queue: QueueName,
        id: ItemId,
        size: u64,
        wall_ms: u64,
        now: Instant,
    ) -> Result<Option<(StoredItem, Vec<Effect>)>, PushError> {
        if self.knows(&id) {
            return Ok(None);
        }
        if self.items.len() >= MAX_HELD_ITEMS || self.bytes + size > MAX_HELD_BYTES {
            return Err(PushError::Full {
                items: self.items.len(),
                bytes: self.bytes,
            });
        }
        self.next_seq += 1;
        let item = Item {
            queue: queue.clone(),
            seq: self.next_seq,
            pushed_ms: wall_ms,
            size,
            attempts: 0,
            state: State::Ready,
            holders: VecDeque::new(),
        };
        let stored = item.stored();
        self.bytes += size;
        self.place(id, &item);
        self.items.insert(id, item);
        let mut effects = Vec::new();
        self.dispatch(&queue, now, &mut effects);
        Ok(Some((stored, effects)))
    }

    /// Worker `key` on `session` takes `credit` more items of `queue`, failing each for
    /// good after `max_deliver` deliveries.
    pub fn want(
        &mut self,
        session: SessionId,
        key: MemberKey,
        queue: QueueName,
        credit: u32,
        max_deliver: u32,
        now: Instant,
    ) -> Vec<Effect> {
        let worker = self.worker_at(session, key);
        let first = !worker.wants.contains_key(&queue);
        let want = worker.wants.entry(queue.clone()).or_default();
        want.credit = want.credit.saturating_add(credit).min(MAX_CREDIT);
        want.max_deliver = max_deliver.clamp(1, MAX_MAX_DELIVER);
        want.hinted = false;
        let mut effects = Vec::new();
        if first {
            self.forget_unclaimed(&key, &queue, &mut effects);
        }
        self.dispatch(&queue, now, &mut effects);
        effects
    }

    /// Drops the credit of the workers `allowed` no longer lets work a queue, and tells
    /// them; the leases they hold stay theirs to end.
    pub fn review(&mut self, allowed: impl Fn(&MemberKey, &QueueName) -> bool) -> Vec<Effect> {
        let mut effects = Vec::new();
        for (session, worker) in &mut self.workers {
            let key = worker.key;
            worker.wants.retain(|queue, _| {
                let keep = allowed(&key, queue);
                if !keep {
                    let frame = ProducerFrame::NotAllowed {
                        queue: queue.clone(),
                    };
                    effects.push(Effect::Send(*session, frame));
                }
                keep
            });
        }
        effects
    }

    /// Whether the worker of `session` may pull `queue` too: it pulls it already, or fewer
    /// than [`MAX_QUEUES_PER_SESSION`] queues.
    pub fn takes(&self, session: SessionId, queue: &QueueName) -> bool {
        self.workers
            .get(&session)
            .is_none_or(|w| w.wants.contains_key(queue) || w.wants.len() < MAX_QUEUES_PER_SESSION)
    }

    /// The worker of `session` (member `key`), known from its first frame.
    fn worker_at(&mut self, session: SessionId, key: MemberKey) -> &mut WorkerAt {
        let kept = self.keeping.contains(&key);
        self.workers.entry(session).or_insert_with(|| WorkerAt {
            key,
            wants: BTreeMap::new(),
            leased: BTreeSet::new(),
            kept,
        })
    }

    /// A worker's first `Want` of `queue` on a session came after its `Running`s: the
    /// unclaimed leases of `queue` it did not name are lost (it never got them, or gave
    /// them up when its session closed).
    fn forget_unclaimed(&mut self, key: &MemberKey, queue: &QueueName, effects: &mut Vec<Effect>) {
        let from = (*key, queue.clone(), ItemId([0; 16]));
        let to = (*key, queue.clone(), ItemId([0xff; 16]));
        let unclaimed: Vec<ItemId> = self
            .unclaimed
            .range(from..=to)
            .map(|(_, _, id)| *id)
            .collect();
        for id in unclaimed {
            self.lost(
                id,
                "its worker no longer held it on its next session",
                effects,
            );
        }
    }

    /// Leases ready items of `queue` to sessions with credit; then gives back the credit
    /// nothing ready can use, and tells sessions without credit that items are ready.
    fn dispatch(&mut self, queue: &QueueName, now: Instant, effects: &mut Vec<Effect>) {
        while let Some(&(_, id)) = self.ready.get(queue).and_then(|r| r.first()) {
            let chosen = self
                .workers
                .iter()
                .filter(|(_, w)| w.wants.get(queue).is_some_and(|want| want.credit > 0))
                .min_by_key(|(session, w)| (w.leased.len(), **session))
                .map(|(session, _)| *session);
            let Some(session) = chosen else {
                break;
            };
            self.lease(id, session, now, effects);
        }
        let ready = self.ready.get(queue).map_or(0, BTreeSet::len) as u32;
        for (session, worker) in &mut self.workers {
            let Some(want) = worker.wants.get_mut(queue) else {
                continue;
            };
            if ready == 0 && want.credit > 0 {
                let returned = std::mem::take(&mut want.credit);
                let frame = ProducerFrame::Drained {
                    queue: queue.clone(),
                    returned,
                };
                effects.push(Effect::Send(*session, frame));
            } else if ready > 0 && want.credit == 0 && !want.hinted {
                want.hinted = true;
                let frame = ProducerFrame::Pending {
                    queue: queue.clone(),
                    count: ready,
                };
                effects.push(Effect::Send(*session, frame));
            }
        }
    }

    /// Leases ready item `id` to the worker of `session`.
    fn lease(&mut self, id: ItemId, session: SessionId, now: Instant, effects: &mut Vec<Effect>) {
        let Some(worker) = self.workers.get_mut(&session) else {
            return;
        };
        let Some(item) = self.items.get_mut(&id) else {
            return;
        };
        let Some(want) = worker.wants.get_mut(&item.queue) else {
            return;
        };
        want.credit -= 1;
        let (key, max_deliver) = (worker.key, want.max_deliver);
        item.attempts += 1;
        let attempt = item.attempts;
        if attempt > 1 {
            self.counts
                .entry(item.queue.clone())
                .or_default()
                .redeliveries += 1;
            effects.push(Effect::Redelivered(item.queue.clone()));
        }
        item.holders.push_back((attempt, key));
        if item.holders.len() > HOLDERS_KEPT {
            item.holders.pop_front();
        }
        let queue = item.queue.clone();
        let lease = LeaseAt {
            worker: key,
            session: Some(session),
            attempt,
            max_deliver,
            deadline: now + LEASE,
        };
        self.set(id, State::Leased(lease), effects);
        effects.push(Effect::Deliver(session, queue, Lease { id, attempt }));
    }

    /// Worker `key` on `session` ran `lease` of an item of `queue`: the first word for an
    /// item it was given ends it (its lease may have been taken back since).
    pub fn done(
        &mut self,
        session: SessionId,
        key: &MemberKey,
        queue: &QueueName,
        lease: Lease,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let accepted = self
            .items
            .get(&lease.id)
            .is_some_and(|item| item.queue == *queue && item.was_leased(key, lease.attempt));
        if accepted && let Some(item) = self.items.remove(&lease.id) {
            self.unplace(lease.id, &item);
            self.bytes -= item.size;
            self.next_done += 1;
            let done = DoneItem {
                queue: item.queue.clone(),
                seq: self.next_done,
            };
            self.done.insert(lease.id, (item.queue, self.next_done));
            self.done_order.insert(self.next_done, lease.id);
            effects.push(Effect::Finish(lease.id, done));
            while self.done_order.len() > MAX_DONE_KEPT {
                if let Some((_, old)) = self.done_order.pop_first() {
                    self.done.remove(&old);
                    effects.push(Effect::ForgetDone(old));
                }
            }
        }
        settled(session, queue, lease.id, &mut effects);
        effects
    }

    /// Worker `key` on `session` ran `lease` and it failed (`reason`): back after a pause,
    /// or a dead letter once it had the worker's most deliveries.
    pub fn failed(
        &mut self,
        session: SessionId,
        key: &MemberKey,
        queue: &QueueName,
        lease: Lease,
        reason: String,
        now: Instant,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some(item) = self.items.get(&lease.id)
            && item.leased_as(key, lease.attempt)
        {
            let state = match &item.state {
                State::Leased(l) if item.attempts >= l.max_deliver => State::Dead(reason),
                _ => State::Delayed(now + backoff(item.attempts)),
            };
            self.set(lease.id, state, &mut effects);
        }
        settled(session, queue, lease.id, &mut effects);
        effects
    }

    /// Worker `key` on `session` gives `lease` back unrun: ready again at once.
    pub fn release(
        &mut self,
        session: SessionId,
        key: &MemberKey,
        queue: &QueueName,
        lease: Lease,
        now: Instant,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self
            .items
            .get(&lease.id)
            .is_some_and(|item| item.leased_as(key, lease.attempt))
        {
            self.set(lease.id, State::Ready, &mut effects);
            self.dispatch(queue, now, &mut effects);
        }
        settled(session, queue, lease.id, &mut effects);
        effects
    }

    /// Worker `key` on `session` still holds `leases`: they last another lease from `now`
    /// (and an unclaimed lease is its session's again).
    pub fn running(&mut self, session: SessionId, key: &MemberKey, leases: &[Lease], now: Instant) {
        // A worker names its leases before its first `Want` on a new session: the session
        // is its from here, so that those leases go back when it closes.
        self.worker_at(session, *key);
        for lease in leases {
            let named = self.items.get(&lease.id);
            if named.is_some_and(|item| item.leased_as(key, lease.attempt)) {
                self.move_lease(lease.id, |l| {
                    l.deadline = now + LEASE;
                    l.session = Some(session);
                });
            }
        }
    }

    /// This node ends worker `key`'s sessions to reconnect it: its worker lives on, and
    /// what it holds when they close waits for its next session to name it (or for its
    /// deadline), as after this node's restart, instead of going to other workers.
    pub fn keep(&mut self, key: &MemberKey) {
        self.keeping.insert(*key);
        for worker in self.workers.values_mut() {
            worker.kept |= worker.key == *key;
        }
    }

    /// Member `key`'s last connection closed: its sessions from now on are its own again.
    pub fn gone(&mut self, key: &MemberKey) {
        self.keeping.remove(key);
    }

    /// `session` closed: the items leased on it go to other workers (or to the dead
    /// letters, when that was their last delivery), unless they are [`Held::keep`]ed.
    pub fn session_closed(&mut self, session: SessionId, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        let Some(worker) = self.workers.remove(&session) else {
            return effects;
        };
        for id in worker.leased {
            if worker.kept {
                self.unclaim(id);
            } else {
                self.lost(id, "its worker disconnected", &mut effects);
            }
        }
        self.dispatch_all(now, &mut effects);
        effects
    }

    /// Item `id`'s lease waits, until its deadline, for its worker's next session to name
    /// it; its first `Want` there without it gives it up.
    fn unclaim(&mut self, id: ItemId) {
        self.move_lease(id, |lease| lease.session = None);
    }

    /// Changes item `id`'s lease (its session or deadline) with `change`, indexed anew.
    fn move_lease(&mut self, id: ItemId, change: impl FnOnce(&mut LeaseAt)) {
        let Some(mut item) = self.items.remove(&id) else {
            return;
        };
        self.unplace(id, &item);
        if let State::Leased(lease) = &mut item.state {
            change(lease);
        }
        self.place(id, &item);
        self.items.insert(id, item);
    }

    /// Item `id`'s lease is lost (`why`).
    fn lost(&mut self, id: ItemId, why: &str, effects: &mut Vec<Effect>) {
        let Some(item) = self.items.get(&id) else {
            return;
        };
        let State::Leased(lease) = &item.state else {
            return;
        };
        let state = if item.attempts >= lease.max_deliver {
            State::Dead(format!("{why} on its delivery {}", item.attempts))
        } else {
            State::Ready
        };
        self.set(id, state, effects);
    }

    fn dispatch_all(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        let queues: BTreeSet<QueueName> = self
            .workers
            .values()
            .flat_map(|w| w.wants.keys().cloned())
            .collect();
        for queue in queues {
            self.dispatch(&queue, now, effects);
        }
    }

    /// What time did: paused items are ready again, and leases past their deadline are
    /// lost.
    pub fn tick(&mut self, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        let mut changed = false;
        while let Some(&(at, id)) = self.delayed.first() {
            if at > now {
                break;
            }
            if let Some(mut item) = self.items.remove(&id) {
                self.unplace(id, &item);
                item.state = State::Ready;
                self.place(id, &item);
                self.items.insert(id, item);
                changed = true;
            }
        }
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.lost(id, "its worker missed its deadline", &mut effects);
            changed = true;
        }
        if changed {
            self.dispatch_all(now, &mut effects);
        }
        effects
    }

    /// Dead letter `id` of `queue` is ready again, with its deliveries counted afresh.
    pub fn retry(
        &mut self,
        queue: &QueueName,
        id: ItemId,
        now: Instant,
    ) -> Result<Vec<Effect>, String> {
        match self.items.get_mut(&id) {
            Some(item) if item.queue == *queue && matches!(item.state, State::Dead(_)) => {
                // Deliveries are counted afresh: an earlier holder's word is no longer its.
                item.attempts = 0;
                item.holders.clear();
            }
            Some(item) if item.queue == *queue => {
                return Err(format!("item {id} of `{queue}` is not a dead letter"));
            }
            _ => return Err(format!("no item {id} is held in `{queue}` at this node")),
        }
        let mut effects = Vec::new();
        self.set(id, State::Ready, &mut effects);
        self.dispatch(queue, now, &mut effects);
        Ok(effects)
    }

    /// The queues this node holds items of (ready, pausing or leased), with how many are
    /// waiting for a worker.
    pub fn holdings(&self) -> Vec<Holding> {
        self.counts
            .iter()
            .filter(|(_, c)| c.pending + c.leased > 0)
            .map(|(queue, c)| Holding {
                queue: queue.clone(),
                pending: c.pending.min(u64::from(u32::MAX)) as u32,
            })
            .collect()
    }

    /// Every queue this node holds items of, or acknowledged items of.
    pub fn queues(&self) -> std::collections::BTreeSet<QueueName> {
        let done = self.done.values().map(|(queue, _)| queue.clone());
        self.counts.keys().cloned().chain(done).collect()
    }

    /// Whether this node holds items of `queue` that are not dead letters.
    pub fn holds(&self, queue: &QueueName) -> bool {
        self.counts
            .get(queue)
            .is_some_and(|c| c.pending + c.leased > 0)
    }

    /// `queue` at this node as its producer.
    pub fn status(&self, queue: &QueueName) -> QueueStatus {
        let counts = self.counts.get(queue).copied().unwrap_or_default();
        QueueStatus {
            queue: queue.to_string(),
            pending: counts.pending,
            in_flight: counts.leased,
            dead: counts.dead,
            done: self.done.values().filter(|(q, _)| q == queue).count() as u64,
            redeliveries: counts.redeliveries,
            workers: self
                .workers
                .values()
                .filter(|w| w.wants.contains_key(queue))
                .count() as u32,
            ..QueueStatus::default()
        }
    }

    /// The dead letters of `queue`, oldest pushed first.
    pub fn dead_letters(&self, queue: &QueueName) -> Vec<DeadLetter> {
        let mut dead: Vec<(u64, DeadLetter)> = self
            .items
            .iter()
            .filter(|(_, i)| i.queue == *queue)
            .filter_map(|(id, item)| match &item.state {
                State::Dead(reason) => Some((
                    item.seq,
                    DeadLetter {
                        id: id.to_string(),
                        attempts: item.attempts,
                        reason: reason.clone(),
                        size: item.size,
                        pushed_ms: item.pushed_ms,
                    },
                )),
                _ => None,
            })
            .collect();
        dead.sort_by_key(|(seq, _)| *seq);
        dead.into_iter().map(|(_, d)| d).collect()
    }
}

/// Settles the worker's word on `id` once it is on disk.
fn settled(session: SessionId, queue: &QueueName, id: ItemId, effects: &mut Vec<Effect>) {
    let frame = ProducerFrame::Settled {
        queue: queue.clone(),
        id,
    };
    effects.push(Effect::SendDurably(session, frame));
}

/// The pause after an item's `attempts`-th delivery failed: doubling from
/// [`BACKOFF_FIRST`], at most [`BACKOFF_MAX`].
fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    (BACKOFF_FIRST * 2u32.pow(doublings)).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests;
