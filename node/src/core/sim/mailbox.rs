//! Mailboxes, simulated: a sender (the real [`Deliveries`]), a mailbox (the real
//! [`Holding`] and its deposit decision) and a recipient collecting page by page (the real
//! [`Collecting`]), as the loop drives them: a message for a recipient who is not connected
//! is deposited with the mailbox, forwarded at once when the recipient is there, handed over
//! when it fetches, released once stored, and receipted to the sender (directly when
//! connected, else through the mailbox, where the sender collects its receipts); a
//! recipient reachable again is sent what the outbox still holds, directly. Links come and
//! go and lose messages, exchanges time out, any of the three crashes (rebuilt from what it
//! wrote), on a fake clock from one seed.
//!
//! Checked: the mailbox never holds more than its quota, for a recipient or from one
//! depositor; it never hands over a box past its expiry; the sender is never told a message
//! was delivered that the recipient did not store; and once the faults stop every message
//! is shown, the outbox drains and the mailbox holds nothing; or, when the recipient stays
//! away past the messages' lifetime, none is shown and all of them expire at both ends.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use weft_proto::MessageId;
use weft_proto::dm::AckOutcome;

use crate::config::MailboxLimits;
use crate::core::collect::{Collecting, Step};
use crate::core::delivery::{self, Deliveries, Ending, Settled};
use crate::core::holding::{self, Deposit, Holding};
use crate::core::sim::Rng;
use crate::store::mailbox::BoxInfo;

/// The sender, the mailbox and the recipient.
const S: usize = 0;
const M: usize = 1;
const R: usize = 2;

/// The simulated Unix time at the start, in seconds.
const EPOCH_SECS: u64 = 1_800_000_000;

/// How long an exchange waits for its answer.
const TIMEOUT_MS: u64 = 10_000;

/// Boxes one fetch hands over, at most (small, so that collections page).
const PAGE: usize = 4;

/// The size of every sealed box.
const BOX_BYTES: usize = 300;

/// What a sealed box carries.
#[derive(Clone, Debug)]
enum Content {
    Message(MessageId),
    Receipts(Vec<MessageId>),
}

/// A sealed box: sealed afresh at every deposit, so its id is new each time.
#[derive(Clone, Debug)]
struct Sealed {
    id: [u8; 32],
    to: usize,
    expires: u64,
    content: Content,
}

/// A `/weft/mailbox/1` request.
#[derive(Clone, Debug)]
enum Op {
    Deposit(Sealed),
    Fetch,
    Release(Vec<[u8; 32]>),
}

/// Its answer.
#[derive(Clone, Debug)]
enum Answer {
    Held,
    Refused,
    Items(Vec<Sealed>, bool),
    Released,
}

/// What travels.
#[derive(Clone, Debug)]
enum Frame {
    Ask(u64, Op),
    Answer(u64, Answer),
    /// A direct message on the sender's session.
    Direct(u64, MessageId),
    Ack(u64, MessageId, AckOutcome),
}

/// What an exchange under way is for, at its asker.
#[derive(Clone, Debug)]
enum Purpose {
    /// The sender depositing outbox message `id`.
    Deposit(MessageId),
    /// Receipts, or a forwarded box (whose id the mailbox releases once it is held).
    Hand(Option<([u8; 32], [u8; 32])>),
    Fetch,
    Release {
        more: bool,
    },
}

struct Pending {
    asker: usize,
    peer: usize,
    purpose: Purpose,
    deadline: u64,
}

/// How often (per mille per 10 ms step) things happen while faults are on.
const LOSS: u64 = 30;
const FLAP: u64 = 4;
const CRASH: u64 = 1;

fn key(node: usize) -> [u8; 32] {
    [node as u8 + 1; 32]
}

struct World {
    rng: Rng,
    start: Instant,
    ms: u64,
    limits: MailboxLimits,
    up: BTreeSet<(usize, usize)>,
    wire: Vec<(u64, usize, usize, Frame)>,
    serial: u64,
    pending: HashMap<u64, Pending>,
    // The sender.
    sender: Deliveries<usize>,
    outbox_disk: BTreeMap<MessageId, (u64, bool)>,
    session: u64,
    queued: Vec<MessageId>,
    settled: BTreeMap<MessageId, Settled>,
    // The mailbox: what its store holds, and its index.
    boxes_disk: BTreeMap<([u8; 32], [u8; 32]), (BoxInfo, Sealed)>,
    holding: Holding,
    // The collectors (the sender for its receipts, the recipient for its messages).
    collecting: [Collecting<usize>; 3],
    // The recipient.
    history: BTreeSet<MessageId>,
    shown: Vec<MessageId>,
}

impl World {
    fn new(seed: u64, ttl: Duration) -> World {
        World {
            rng: Rng::new(seed),
            start: Instant::now(),
            ms: 0,
            limits: MailboxLimits {
                max_messages: 8,
                max_bytes: 8 * BOX_BYTES,
                ttl,
            },
            up: BTreeSet::new(),
            wire: Vec::new(),
            serial: 0,
            pending: HashMap::new(),
            sender: Deliveries::new(4),
            outbox_disk: BTreeMap::new(),
            session: 0,
            queued: Vec::new(),
            settled: BTreeMap::new(),
            boxes_disk: BTreeMap::new(),
            holding: Holding::default(),
            collecting: Default::default(),
            history: BTreeSet::new(),
            shown: Vec::new(),
        }
    }

    fn now(&self) -> Instant {
        self.start + Duration::from_millis(self.ms)
    }

    fn now_secs(&self) -> u64 {
        EPOCH_SECS + self.ms / 1000
    }

    fn is_up(&self, a: usize, b: usize) -> bool {
        self.up.contains(&(a.min(b), a.max(b)))
    }

    fn send(&mut self, from: usize, to: usize, frame: Frame, faults: bool) {
        if !self.is_up(from, to) || (faults && self.rng.chance(LOSS)) {
            return;
        }
        let at = self.ms + self.rng.range(1, 60);
        self.wire.push((at, from, to, frame));
    }

    fn ask(&mut self, asker: usize, peer: usize, op: Op, purpose: Purpose, faults: bool) {
        self.serial += 1;
        let deadline = self.ms + TIMEOUT_MS;
        let pending = Pending {
            asker,
            peer,
            purpose,
            deadline,
        };
        self.pending.insert(self.serial, pending);
        self.send(asker, peer, Frame::Ask(self.serial, op), faults);
    }

    fn link(&mut self, a: usize, b: usize, up: bool, faults: bool) {
        let pair = (a.min(b), a.max(b));
        if up == self.up.contains(&pair) {
            return;
        }
        let now = self.now();
        if up {
            self.up.insert(pair);
            match pair {
                (S, R) => {
                    self.session += 1;
                    self.sender.connected(&R);
                }
                (S, M) | (M, R) => {
                    let collector = if pair == (S, M) { S } else { R };
                    if self.collecting[collector].begin(M) {
                        self.ask(collector, M, Op::Fetch, Purpose::Fetch, faults);
                    }
                }
                _ => unreachable!(),
            }
        } else {
            self.up.remove(&pair);
            // What was on the link is gone.
            self.wire
                .retain(|(_, f, t, _)| (f.min(t), f.max(t)) != (&pair.0, &pair.1));
            if pair == (S, R) {
                self.session += 1;
                self.sender.disconnected(&R);
                self.sender.session_lost(&R, now);
            } else {
                let collector = if pair == (S, M) { S } else { R };
                self.collecting[collector].forget(&M);
            }
        }
    }

    fn queue(&mut self) {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&(self.queued.len() as u32 + 1).to_be_bytes());
        let id = MessageId(bytes);
        let written = self.ms * 1000 + EPOCH_SECS * 1_000_000;
        let now = self.now();
        self.sender.queue(R, id, written, now);
        self.outbox_disk.insert(id, (written, false));
        self.queued.push(id);
    }

    fn settle(&mut self, id: MessageId, settled: Option<Settled>) {
        if let Some(settled) = settled {
            if matches!(settled, Settled::Delivered { .. }) {
                assert!(
                    self.history.contains(&id),
                    "the sender was told of a delivery the recipient did not store"
                );
            }
            self.outbox_disk.remove(&id);
            assert!(self.settled.insert(id, settled).is_none());
        }
    }

    /// The recipient stores a message (however it came): shown when new to history.
    fn store(&mut self, id: MessageId) -> AckOutcome {
        if self.history.insert(id) {
            self.shown.push(id);
            AckOutcome::Stored
        } else {
            AckOutcome::Duplicate
        }
    }

    /// Receipts from the recipient for `ids`: to the sender when connected, else through
    /// the mailbox.
    fn receipt(&mut self, ids: Vec<MessageId>, faults: bool) {
        if ids.is_empty() {
            return;
        }
        let sealed = Sealed {
            id: self.rng.bytes(),
            to: S,
            expires: self.now_secs() + self.limits.ttl.as_secs(),
            content: Content::Receipts(ids),
        };
        let target = if self.is_up(S, R) { S } else { M };
        let op = Op::Deposit(sealed);
        self.ask(R, target, op, Purpose::Hand(None), faults);
    }

    /// `node` opens a box for itself; the message to receipt, if it carried one.
    fn take_box(&mut self, node: usize, sealed: Sealed) -> Option<MessageId> {
        if sealed.expires <= self.now_secs() {
            return None;
        }
        match (node, sealed.content) {
            (R, Content::Message(id)) => {
                self.store(id);
                Some(id)
            }
            (S, Content::Receipts(ids)) => {
                let now = self.now();
                for id in ids {
                    let ending = Ending::Acked(AckOutcome::Stored);
                    let settled = self.sender.settle(&R, id, ending, now);
                    self.settle(id, settled);
                }
                None
            }
            _ => None,
        }
    }

    /// The mailbox answers `asker`'s `op`.
    fn answer_mailbox(&mut self, asker: usize, op: Op, faults: bool) -> Answer {
        let now_secs = self.now_secs();
        match op {
            Op::Deposit(sealed) => {
                if holding::check(BOX_BYTES, sealed.expires, now_secs).is_err() {
                    return Answer::Refused;
                }
                let deposit = Deposit {
                    to: key(sealed.to),
                    from: key(asker),
                    id: sealed.id,
                    size: BOX_BYTES,
                    expires: sealed.expires,
                };
                let now_us = now_secs * 1_000_000 + (self.ms % 1000) * 1000;
                match self
                    .holding
                    .deposit(deposit, self.limits, true, true, now_us)
                {
                    Ok(Some(info)) => {
                        let sealed = Sealed {
                            expires: info.expires,
                            ..sealed
                        };
                        self.boxes_disk
                            .insert((info.to, info.id), (info, sealed.clone()));
                        self.check_quota();
                        if self.is_up(M, sealed.to) {
                            let to = sealed.to;
                            let purpose = Purpose::Hand(Some((info.to, info.id)));
                            self.ask(M, to, Op::Deposit(sealed), purpose, faults);
                        }
                        Answer::Held
                    }
                    Ok(None) => Answer::Held,
                    Err(_) => Answer::Refused,
                }
            }
            Op::Fetch => {
                let fetch = self.holding.fetch(&key(asker), usize::MAX, PAGE, now_secs);
                for expired in fetch.expired {
                    self.drop_box(&expired.to, &expired.id);
                }
                let items: Vec<Sealed> = fetch
                    .boxes
                    .iter()
                    .map(|b| self.boxes_disk[&(b.to, b.id)].1.clone())
                    .collect();
                assert!(
                    items.iter().all(|b| b.expires > now_secs),
                    "a box past its expiry was handed over"
                );
                Answer::Items(items, fetch.more)
            }
            Op::Release(ids) => {
                for id in ids {
                    self.drop_box(&key(asker), &id);
                }
                Answer::Released
            }
        }
    }

    fn drop_box(&mut self, to: &[u8; 32], id: &[u8; 32]) {
        if self.holding.release(to, id).is_some() {
            self.boxes_disk.remove(&(*to, *id));
        }
    }

    /// What the mailbox's store holds is within the quota, per recipient and per depositor.
    fn check_quota(&self) {
        let mut by_to: HashMap<[u8; 32], (usize, usize)> = HashMap::new();
        let mut by_from: HashMap<[u8; 32], (usize, usize)> = HashMap::new();
        for (info, _) in self.boxes_disk.values() {
            for (map, k) in [(&mut by_to, info.to), (&mut by_from, info.from)] {
                let used = map.entry(k).or_default();
                used.0 += 1;
                used.1 += info.size;
            }
        }
        for (messages, bytes) in by_to.values().chain(by_from.values()) {
            assert!(
                *messages <= self.limits.max_messages,
                "over the message quota"
            );
            assert!(*bytes <= self.limits.max_bytes, "over the byte quota");
        }
    }

    fn arrive(&mut self, from: usize, to: usize, frame: Frame, faults: bool) {
        let now = self.now();
        match frame {
            Frame::Ask(serial, op) => {
                let answer = if to == M {
                    self.answer_mailbox(from, op, faults)
                } else {
                    // A box deposited with its recipient itself.
                    let Op::Deposit(sealed) = op else {
                        return;
                    };
                    let due = self.take_box(to, sealed);
                    self.receipt(due.into_iter().collect(), faults);
                    Answer::Held
                };
                self.send(to, from, Frame::Answer(serial, answer), faults);
            }
            Frame::Answer(serial, answer) => {
                let Some(pending) = self.pending.remove(&serial) else {
                    return;
                };
                self.answered(pending, Some(answer), faults);
            }
            Frame::Direct(session, id) => {
                let outcome = self.store(id);
                self.send(R, S, Frame::Ack(session, id, outcome), faults);
            }
            Frame::Ack(session, id, outcome) => {
                if session == self.session {
                    let settled = self.sender.acked(&R, id, outcome, now);
                    self.settle(id, settled);
                }
            }
        }
    }

    /// An exchange ended with `answer` (`None`: it timed out).
    fn answered(&mut self, pending: Pending, answer: Option<Answer>, faults: bool) {
        let now = self.now();
        let node = pending.asker;
        match (pending.purpose, answer) {
            (Purpose::Deposit(id), answer) => {
                let held = matches!(answer, Some(Answer::Held));
                let how = if held {
                    delivery::Deposit::Held
                } else {
                    delivery::Deposit::Failed
                };
                if self.sender.deposited(id, how, now)
                    && held
                    && let Some(entry) = self.outbox_disk.get_mut(&id)
                {
                    entry.1 = true;
                }
            }
            (Purpose::Hand(Some((to, id))), Some(Answer::Held)) => self.drop_box(&to, &id),
            (Purpose::Hand(_), _) => {}
            (Purpose::Fetch, Some(Answer::Items(items, more))) => {
                let ids: Vec<[u8; 32]> = items.iter().map(|b| b.id).collect();
                let due: Vec<MessageId> = items
                    .into_iter()
                    .filter_map(|b| self.take_box(node, b))
                    .collect();
                self.receipt(due, faults);
                if ids.is_empty() {
                    self.collected(node, Step::Drained, faults);
                } else {
                    let purpose = Purpose::Release { more };
                    self.ask(node, pending.peer, Op::Release(ids), purpose, faults);
                }
            }
            (Purpose::Release { more }, Some(Answer::Released)) => {
                let step = if more { Step::More } else { Step::Drained };
                self.collected(node, step, faults);
            }
            (Purpose::Fetch | Purpose::Release { .. }, _) => {
                self.collected(node, Step::Failed, faults)
            }
        }
    }

    fn collected(&mut self, node: usize, step: Step, faults: bool) {
        let now = self.now();
        if self.collecting[node].ended(M, step, now) {
            self.ask(node, M, Op::Fetch, Purpose::Fetch, faults);
        }
    }

    fn crash(&mut self, node: usize) {
        for peer in [S, M, R].into_iter().filter(|p| *p != node) {
            self.link(node, peer, false, false);
        }
        // Exchanges it asked are forgotten; those it was asked go unanswered.
        let lost: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.asker == node)
            .map(|(s, _)| *s)
            .collect();
        for serial in lost {
            self.pending.remove(&serial);
        }
        self.collecting[node] = Collecting::default();
        match node {
            S => {
                self.sender = Deliveries::new(4);
                for (id, (written, held)) in &self.outbox_disk {
                    self.sender.restore(R, *id, *written, *held);
                }
            }
            M => {
                self.holding = Holding::of(self.boxes_disk.values().map(|(info, _)| *info));
            }
            _ => {}
        }
    }

    /// One 10 ms step; `faults` turns on loss, flapping links and crashes; `away` keeps the
    /// recipient off every link.
    fn step(&mut self, faults: bool, away: bool, new_messages: bool) {
        self.ms += 10;
        let now = self.now();
        if new_messages && self.rng.chance(40) {
            self.queue();
        }
        for node in [S, M, R] {
            if faults && self.rng.chance(CRASH) {
                self.crash(node);
            }
        }
        for (a, b) in [(S, M), (M, R), (S, R)] {
            let barred = away && b == R;
            if barred || (faults && self.is_up(a, b) && self.rng.chance(FLAP)) {
                self.link(a, b, false, faults);
            } else if !self.is_up(a, b) && self.rng.chance(if faults { 20 } else { 200 }) {
                self.link(a, b, true, faults);
            }
        }
        self.deliver_due(faults);
        if !self.sender.stuck(now).is_empty() {
            self.session += 1;
            self.sender.session_lost(&R, now);
        }
        for (_, id) in self.sender.next(now) {
            let frame = Frame::Direct(self.session, id);
            self.send(S, R, frame, faults);
        }
        if self.ms % 100 == 0 {
            self.tick(faults);
        }
    }

    /// The loop's tick: deposits for the absent recipient, collections to retry, and once
    /// a second the sweep of what expired.
    fn tick(&mut self, faults: bool) {
        let now = self.now();
        for (_, id) in self.sender.to_deposit(now) {
            let Some(written) = self.sender.written(&id) else {
                continue;
            };
            if !self.is_up(S, M) {
                continue;
            }
            self.sender.depositing(id);
            let sealed = Sealed {
                id: self.rng.bytes(),
                to: R,
                expires: written / 1_000_000 + self.limits.ttl.as_secs(),
                content: Content::Message(id),
            };
            self.ask(S, M, Op::Deposit(sealed), Purpose::Deposit(id), faults);
        }
        for node in [S, R] {
            for mailbox in self.collecting[node].due(now) {
                if self.is_up(node, mailbox) && self.collecting[node].begin(mailbox) {
                    self.ask(node, mailbox, Op::Fetch, Purpose::Fetch, faults);
                }
            }
        }
        if self.ms % 1000 == 0 {
            let secs = self.now_secs();
            for (_, id, settled) in self.sender.expire(secs, self.limits.ttl, now) {
                self.settle(id, Some(settled));
            }
            for held in self.holding.expired(secs) {
                self.drop_box(&held.to, &held.id);
            }
        }
    }

    /// Hands on every frame due by now, and ends every exchange whose answer is overdue.
    fn deliver_due(&mut self, faults: bool) {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.wire)
            .into_iter()
            .partition(|(at, ..)| *at <= self.ms);
        self.wire = later;
        for (_, from, to, frame) in due {
            self.arrive(from, to, frame, faults);
        }
        let timed_out: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= self.ms)
            .map(|(s, _)| *s)
            .collect();
        for serial in timed_out {
            let pending = self.pending.remove(&serial).expect("pending");
            self.answered(pending, None, faults);
        }
    }

    /// One quiet step with the sender and the recipient never connected to each other, and
    /// the mailbox connected to both.
    fn step_apart(&mut self) {
        self.link(S, R, false, false);
        self.link(S, M, true, false);
        self.link(M, R, true, false);
        self.ms += 10;
        self.deliver_due(false);
        if self.ms % 100 == 0 {
            self.tick(false);
        }
    }

    /// Runs quietly until everything settled, for at most `max_ms`.
    fn settle_all(&mut self, away: bool, max_ms: u64) {
        for _ in 0..max_ms / 10 {
            self.step(false, away, false);
            if self.sender.is_empty() && self.holding.is_empty() && self.pending.is_empty() {
                return;
            }
        }
    }
}

/// Across loss, flapping links, timeouts and crashes of all three, every message reaches
/// the recipient's application once, the sender hears of every delivery and of none that
/// did not happen, and the mailbox lets go of everything, never over its quota.
#[test]
fn mailboxes_hold_within_quota_release_and_deliver_every_message_once() {
    for seed in 0..24 {
        let mut w = World::new(seed, Duration::from_secs(3600));
        for _ in 0..20_000 {
            w.step(true, false, true);
        }
        w.settle_all(false, 600_000);
        let shown: BTreeSet<MessageId> = w.shown.iter().copied().collect();
        let queued: BTreeSet<MessageId> = w.queued.iter().copied().collect();
        assert_eq!(shown.len(), w.shown.len(), "seed {seed}: shown twice");
        assert_eq!(shown, queued, "seed {seed}: not every message was shown");
        assert!(
            w.sender.is_empty(),
            "seed {seed}: the outbox kept {}",
            w.sender.len()
        );
        assert!(
            w.outbox_disk.is_empty(),
            "seed {seed}: the outbox on disk kept some"
        );
        let delivered = w
            .settled
            .values()
            .filter(|s| matches!(s, Settled::Delivered { .. }))
            .count();
        assert_eq!(delivered, queued.len(), "seed {seed}: not all delivered");
        assert!(w.holding.is_empty(), "seed {seed}: the mailbox kept boxes");
        assert!(
            w.boxes_disk.is_empty(),
            "seed {seed}: the mailbox's store kept boxes"
        );
        assert!(queued.len() > 300, "seed {seed}: the run queued too little");
    }
}

/// A recipient away for longer than the messages live is shown none of them, on its
/// return, and they expire at the sender and at the mailbox alike.
#[test]
fn messages_for_a_recipient_away_past_their_lifetime_expire_at_both_ends() {
    for seed in 0..24 {
        let mut w = World::new(seed, Duration::from_secs(30));
        for _ in 0..2_000 {
            w.step(true, true, true);
        }
        assert!(!w.queued.is_empty(), "seed {seed}: nothing queued");
        // Away past every lifetime, and then back.
        for _ in 0..4_000 {
            w.step(false, true, false);
        }
        w.settle_all(false, 120_000);
        assert!(
            w.shown.is_empty(),
            "seed {seed}: an expired message was shown"
        );
        assert!(w.sender.is_empty(), "seed {seed}: the outbox kept messages");
        assert!(
            w.settled.values().all(|s| matches!(s, Settled::Expired)),
            "seed {seed}: a message settled otherwise than expired"
        );
        assert_eq!(w.settled.len(), w.queued.len(), "seed {seed}");
        assert!(
            w.holding.is_empty(),
            "seed {seed}: the mailbox kept expired boxes"
        );
    }
}

/// A box whose forward to its recipient was lost is handed over all the same while the
/// recipient stays connected to the mailbox (and never directly to the sender).
#[test]
#[ignore = "found by this simulation, not fixed yet: a box whose forward was lost waits for the recipient's next connection to the mailbox (the loop does the same); the mailbox is to forward it again"]
fn a_box_whose_forward_was_lost_still_reaches_its_recipient() {
    let mut w = World::new(1, Duration::from_secs(3600));
    w.link(S, M, true, false);
    w.link(M, R, true, false);
    for _ in 0..100 {
        w.step(false, false, false);
    }
    w.queue();
    // Steps with the sender and recipient apart, until the mailbox holds it and its forward
    // is on the wire: then the forward is lost.
    let mut lost = false;
    for _ in 0..1000 {
        w.step_apart();
        if !w.holding.is_empty() {
            let before = w.wire.len();
            w.wire.retain(|(_, from, to, frame)| {
                !(*from == M && *to == R && matches!(frame, Frame::Ask(..)))
            });
            lost |= w.wire.len() < before;
        }
        if lost {
            break;
        }
    }
    assert!(lost, "no forward was sent");
    for _ in 0..60_000 {
        w.step_apart();
        if !w.shown.is_empty() && w.sender.is_empty() {
            break;
        }
    }
    assert_eq!(w.shown.len(), 1, "the recipient never got it");
    assert!(w.sender.is_empty(), "the sender never heard");
}
