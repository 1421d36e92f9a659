use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::core::sim::Rng;

fn id(n: u32) -> MessageId {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    MessageId(bytes)
}

const SEC: Duration = Duration::from_secs(1);

#[test]
fn a_burst_starts_the_acknowledgement_clock() {
    let t = Instant::now();
    let mut d = Deliveries::new(8);
    for n in 1..=3 {
        d.queue("b", id(n), u64::from(n), t);
    }
    d.connected(&"b");
    assert_eq!(d.next(t).len(), 3, "all three go out at once");
    assert!(d.stuck(t + ACK_TIMEOUT).is_empty(), "not yet");
    assert_eq!(d.stuck(t + ACK_TIMEOUT + SEC), vec!["b"]);
    assert!(
        d.stuck(t + ACK_TIMEOUT * 3).is_empty(),
        "given up once, not again while nothing is on the wire"
    );
    let later = t + ACK_TIMEOUT * 3;
    let resent: Vec<_> = d.next(later).into_iter().map(|(_, m)| m).collect();
    assert_eq!(resent, vec![id(1), id(2), id(3)], "retried in order");
}

#[test]
fn an_acknowledgement_restarts_the_clock_and_an_idle_peer_has_none() {
    let t = Instant::now();
    let mut d = Deliveries::new(8);
    d.queue("b", id(1), 1, t);
    d.queue("b", id(2), 2, t);
    d.connected(&"b");
    d.next(t);
    let ack = t + ACK_TIMEOUT - SEC;
    assert!(d.acked(&"b", id(1), AckOutcome::Stored, ack).is_some());
    assert!(
        d.stuck(t + ACK_TIMEOUT + SEC).is_empty(),
        "progress was made"
    );
    assert!(d.acked(&"b", id(2), AckOutcome::Stored, ack).is_some());
    let much_later = t + ACK_TIMEOUT * 10;
    d.queue("b", id(3), 3, much_later);
    d.next(much_later);
    assert!(
        d.stuck(much_later + SEC).is_empty(),
        "a send after an idle spell starts a fresh clock"
    );
}

#[test]
fn settling_says_what_the_message_became_once() {
    let t = Instant::now();
    let mut d = Deliveries::new(8);
    d.queue("b", id(1), 1, t);
    d.queue("b", id(2), 2, t);
    d.restore("b", id(3), 3, false);
    d.connected(&"b");
    d.next(t);
    assert_eq!(
        d.acked(&"b", id(1), AckOutcome::Duplicate, t + SEC),
        Some(Settled::Delivered { latency: Some(SEC) })
    );
    assert_eq!(d.acked(&"b", id(1), AckOutcome::Stored, t + SEC), None);
    assert_eq!(d.acked(&"c", id(2), AckOutcome::Stored, t), None, "not c's");
    let reason = "no".to_string();
    let refused = Ending::Acked(AckOutcome::Rejected {
        reason: reason.clone(),
    });
    let settled = d.settle(&"b", id(2), refused, t).unwrap();
    assert_eq!(settled.state(), DeliveryState::Rejected);
    assert_eq!(settled, Settled::Refused { reason });
    assert_eq!(
        d.acked(&"b", id(3), AckOutcome::Stored, t),
        Some(Settled::Delivered { latency: None }),
        "restored at start: no latency to tell"
    );
    assert!(d.is_empty());
}

#[test]
fn a_message_lives_until_its_second_plus_the_ttl() {
    let t = Instant::now();
    let ttl = Duration::from_secs(100);
    let mut d = Deliveries::new(8);
    d.queue("b", id(1), 1_000 * 1_000_000 + 999_999, t);
    d.queue("c", id(2), 1_050 * 1_000_000, t);
    assert!(d.expire(1_099, ttl, t).is_empty());
    assert_eq!(
        d.expire(1_100, ttl, t),
        vec![("b", id(1), Settled::Expired)]
    );
    assert_eq!(d.len(), 1);
    assert_eq!(d.expire(1_150, ttl, t).len(), 1);
    assert!(d.is_empty());
}

#[test]
fn a_removed_recipient_gets_nothing_more() {
    let t = Instant::now();
    let mut d = Deliveries::new(1);
    d.queue("b", id(1), 1, t);
    d.queue("b", id(2), 2, t);
    d.queue("c", id(3), 3, t);
    d.connected(&"b");
    d.next(t);
    let gone = d.removed(&"b", t);
    assert_eq!(gone.len(), 2, "in flight and waiting alike");
    assert!(gone.iter().all(|(_, s)| *s
        == Settled::Refused {
            reason: REMOVED.to_string()
        }));
    assert_eq!(d.len(), 1, "c's message stays");
    assert!(d.stuck(t + ACK_TIMEOUT * 2).is_empty(), "b's clock stopped");
}

#[test]
fn only_messages_for_absent_recipients_not_yet_with_a_mailbox_are_deposited() {
    let t = Instant::now();
    let mut d = Deliveries::new(8);
    d.queue("away", id(1), 1, t);
    d.queue("away", id(2), 2, t);
    d.restore("away", id(3), 3, true);
    d.queue("here", id(4), 4, t);
    d.connected(&"here");
    let dialling = d.to_deposit(t, |p| *p != "away");
    assert!(dialling.is_empty(), "not while its first dial is under way");
    assert_eq!(
        d.to_deposit(t, |_| true),
        vec![("away", id(1)), ("away", id(2))]
    );
    d.depositing(id(1));
    d.depositing(id(2));
    assert!(d.to_deposit(t, |_| true).is_empty(), "both under way");
    assert!(d.deposited(id(1), Deposit::Held, t));
    assert!(d.deposited(id(2), Deposit::Failed, t));
    assert!(
        d.to_deposit(t, |_| true).is_empty(),
        "paused after the failure"
    );
    assert_eq!(
        d.to_deposit(t + DEPOSIT_RETRY, |_| true),
        vec![("away", id(2))]
    );
    d.depositing(id(2));
    assert!(d.settle(&"away", id(2), Ending::Expired, t).is_some());
    assert!(
        !d.deposited(id(2), Deposit::Held, t),
        "settled meanwhile: nothing to record"
    );
    assert!(
        d.acked(&"away", id(1), AckOutcome::Stored, t).is_some(),
        "a held message still settles when its recipient takes it directly"
    );
}

#[test]
fn deposits_are_capped() {
    let t = Instant::now();
    let mut d = Deliveries::new(8);
    let n = u32::try_from(MAX_DEPOSITING).unwrap() + 10;
    for i in 0..n {
        d.queue("away", id(i), u64::from(i), t);
    }
    let first = d.to_deposit(t, |_| true);
    assert_eq!(first.len(), MAX_DEPOSITING);
    d.depositing(first[0].1);
    assert_eq!(d.to_deposit(t, |_| true).len(), MAX_DEPOSITING - 1);
}

/// A sender's write to its store, queued until the group flush makes it durable.
#[derive(Debug, Clone, Copy)]
enum Write {
    Put(MessageId, u64),
    Remove(MessageId),
}

/// What travels on the one link, on the session it was sent on.
#[derive(Debug, Clone, Copy)]
enum Frame {
    Message(MessageId),
    Ack(MessageId),
}

/// One sender (the real [`Deliveries`]) and one recipient, each with a store that makes
/// writes durable only at a group flush and loses the rest in a crash, over a link that
/// delays, loses, drops and reconnects, on a fake clock.
struct World {
    rng: Rng,
    start: Instant,
    ms: u64,
    sender: Deliveries<u8>,
    outbox_disk: BTreeMap<MessageId, u64>,
    sender_writes: Vec<Write>,
    /// Messages whose `Queued` reply went out: their outbox entry is on disk.
    promised: BTreeSet<MessageId>,
    queued: u32,
    history_disk: BTreeSet<MessageId>,
    /// History writes not yet on disk, and the session each arrived on (acked after flush).
    history_writes: Vec<(MessageId, u64)>,
    /// What the recipient's application was shown, in order.
    shown: Vec<MessageId>,
    /// Frames in flight: when they arrive, on which session, what.
    wire: Vec<(u64, u64, Frame)>,
    session: u64,
    connected: bool,
}

/// How often (per mille per 10 ms step) things happen while faults are on.
const LOSS: u64 = 20;
const DROP: u64 = 2;
const CRASH: u64 = 1;

impl World {
    fn new(seed: u64) -> World {
        World {
            rng: Rng::new(seed),
            start: Instant::now(),
            ms: 0,
            sender: Deliveries::new(4),
            outbox_disk: BTreeMap::new(),
            sender_writes: Vec::new(),
            promised: BTreeSet::new(),
            queued: 0,
            history_disk: BTreeSet::new(),
            history_writes: Vec::new(),
            shown: Vec::new(),
            wire: Vec::new(),
            session: 0,
            connected: false,
        }
    }

    fn now(&self) -> Instant {
        self.start + Duration::from_millis(self.ms)
    }

    fn connect(&mut self) {
        self.connected = true;
        self.sender.connected(&1);
    }

    /// The connection ends: the session's frames are gone and the sender hears so.
    fn drop_link(&mut self) {
        self.connected = false;
        self.session += 1;
        self.sender.disconnected(&1);
        let now = self.now();
        self.sender.session_lost(&1, now);
    }

    fn send(&mut self, frame: Frame, faults: bool) {
        if faults && self.rng.chance(LOSS) {
            return; // The session silently stops carrying: only the ack clock notices.
        }
        let at = self.ms + self.rng.range(1, 40);
        self.wire.push((at, self.session, frame));
    }

    fn queue(&mut self) {
        self.queued += 1;
        let id = id(self.queued);
        let written = self.ms * 1000;
        let now = self.now();
        self.sender.queue(1, id, written, now);
        self.sender_writes.push(Write::Put(id, written));
    }

    fn flush_sender(&mut self) {
        for write in std::mem::take(&mut self.sender_writes) {
            match write {
                Write::Put(id, written) => {
                    self.outbox_disk.insert(id, written);
                    self.promised.insert(id);
                }
                Write::Remove(id) => {
                    self.outbox_disk.remove(&id);
                }
            }
        }
    }

    /// The recipient's flush: what is new in history is shown, and every copy is acked.
    fn flush_recipient(&mut self, faults: bool) {
        for (id, session) in std::mem::take(&mut self.history_writes) {
            if self.history_disk.insert(id) {
                self.shown.push(id);
            }
            if session == self.session {
                self.send(Frame::Ack(id), faults);
            }
        }
    }

    fn crash_sender(&mut self) {
        self.sender_writes.clear();
        self.sender = Deliveries::new(4);
        for (id, written) in &self.outbox_disk {
            self.sender.restore(1, *id, *written, false);
        }
        self.drop_link();
    }

    fn crash_recipient(&mut self) {
        self.history_writes.clear();
        self.drop_link();
    }

    fn arrive(&mut self, frame: Frame) {
        match frame {
            Frame::Message(id) => self.history_writes.push((id, self.session)),
            Frame::Ack(id) => {
                let now = self.now();
                if self.sender.acked(&1, id, AckOutcome::Stored, now).is_some() {
                    self.sender_writes.push(Write::Remove(id));
                }
            }
        }
    }

    /// One 10 ms step; `faults` turns on loss, dropped links and crashes.
    fn step(&mut self, faults: bool, new_messages: bool) {
        self.ms += 10;
        if new_messages && self.rng.chance(50) {
            self.queue();
        }
        if faults && self.rng.chance(CRASH) {
            self.crash_sender();
        }
        if faults && self.rng.chance(CRASH) {
            self.crash_recipient();
        }
        if self.connected && faults && self.rng.chance(DROP) {
            self.drop_link();
        } else if !self.connected && self.rng.chance(50) {
            self.connect();
        }
        let (due, later) = std::mem::take(&mut self.wire)
            .into_iter()
            .partition::<Vec<_>, _>(|(at, _, _)| *at <= self.ms);
        self.wire = later;
        for (_, session, frame) in due {
            if session == self.session {
                self.arrive(frame);
            }
        }
        if self.rng.chance(200) {
            self.flush_sender();
        }
        if self.rng.chance(200) {
            self.flush_recipient(faults);
        }
        let now = self.now();
        if !self.sender.stuck(now).is_empty() {
            self.session += 1; // The shell drops the stuck session for a new one.
        }
        for (_, id) in self.sender.next(now) {
            self.send(Frame::Message(id), faults);
        }
        if self.ms % 1000 == 0 {
            self.check_outbox();
        }
    }

    /// The sender holds exactly what its outbox on disk will hold once its writes land.
    fn check_outbox(&self) {
        let mut will_hold = self.outbox_disk.clone();
        for write in &self.sender_writes {
            match write {
                Write::Put(id, written) => will_hold.insert(*id, *written),
                Write::Remove(id) => will_hold.remove(id),
            };
        }
        assert_eq!(
            self.sender.len(),
            will_hold.len(),
            "the outbox lost or gained a message"
        );
    }
}

/// Every message whose `Queued` reply went out reaches the recipient's application exactly
/// once, across loss, dropped sessions, sessions that silently stop, and crashes of either
/// side that lose what was not flushed; once the faults stop, the outbox drains.
#[test]
fn delivery_is_exactly_once_across_loss_and_crashes() {
    for seed in 0..48 {
        let mut w = World::new(seed);
        for _ in 0..20_000 {
            w.step(true, true);
        }
        if !w.connected {
            w.connect();
        }
        for _ in 0..60_000 {
            w.step(false, false);
            if w.sender.is_empty() && w.sender_writes.is_empty() && w.history_writes.is_empty() {
                break;
            }
        }
        assert!(
            w.sender.is_empty(),
            "seed {seed}: {} never settled",
            w.sender.len()
        );
        w.flush_sender();
        assert!(
            w.outbox_disk.is_empty(),
            "seed {seed}: the outbox on disk kept messages"
        );
        let shown: BTreeSet<MessageId> = w.shown.iter().copied().collect();
        assert_eq!(
            shown.len(),
            w.shown.len(),
            "seed {seed}: a message was shown twice"
        );
        assert!(
            w.promised.is_subset(&shown),
            "seed {seed}: a promised message was lost"
        );
        assert!(
            w.promised.len() > 200,
            "seed {seed}: the run queued too little"
        );
    }
}

#[test]
fn benchmark_messages_are_never_deposited_and_expire_on_their_own_clock() {
    let t = Instant::now();
    let mut d = Deliveries::new(8);
    d.queue("b", id(1), 1_000_000, t);
    d.queue("b", id(2), 1_000_000, t);
    d.mark_bench(id(2));
    d.disconnected(&"b");
    let deposits: Vec<_> = d
        .to_deposit(t, |_| true)
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert_eq!(
        deposits,
        vec![id(1)],
        "only the real message goes to a mailbox"
    );
    // Written at second 1: past a cutoff at second 2, only the benchmark message goes.
    let expired: Vec<_> = d
        .expire_bench(2_000_000, t)
        .into_iter()
        .map(|(_, m, _)| m)
        .collect();
    assert_eq!(expired, vec![id(2)]);
    assert!(
        d.forget_bench(&id(2)),
        "the caller learns it was a benchmark message"
    );
    assert_eq!(d.len(), 1, "the real message still waits");
}
