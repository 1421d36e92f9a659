//! Which unacknowledged direct message goes to which peer next.
//!
//! Messages wait per peer in the order they were queued. While a peer is connected and not
//! paused, up to `max_in_flight` of its messages are on the wire at once; the rest wait, so
//! a burst never exceeds the transport's concurrent-stream limit and nothing fails because
//! of it (backpressure instead of loss). A failed send goes back to the front of its queue
//! and pauses the peer for a backoff. A message leaves only when acknowledged (or refused).
//!
//! The payloads live in sled (`store::outbox`); this holds ids, and when each message was
//! written (its timestamp, microseconds since the Unix epoch): the order failed sends go
//! back in, and when a message's lifetime is over.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use weft_proto::MessageId;

use super::backoff;

/// Per-peer delivery queues for peers of type `P`.
#[derive(Debug)]
pub struct Outbox<P> {
    peers: BTreeMap<P, PeerQueue>,
    /// When each message was written.
    written: HashMap<MessageId, u64>,
    max_in_flight: usize,
}

#[derive(Debug, Default)]
struct PeerQueue {
    waiting: VecDeque<MessageId>,
    in_flight: BTreeSet<MessageId>,
    connected: bool,
    paused_until: Option<Instant>,
    failures: u32,
}

impl PeerQueue {
    fn is_empty(&self) -> bool {
        self.waiting.is_empty() && self.in_flight.is_empty()
    }
}

impl<P: Ord + Clone> Outbox<P> {
    /// An empty outbox allowing `max_in_flight` unacknowledged sends per peer.
    pub fn new(max_in_flight: usize) -> Outbox<P> {
        Outbox {
            peers: BTreeMap::new(),
            written: HashMap::new(),
            max_in_flight: max_in_flight.max(1),
        }
    }

    /// Queues `id`, written at `written`, for `peer`, behind what already waits for it.
    pub fn enqueue(&mut self, peer: P, id: MessageId, written: u64) {
        self.peers.entry(peer).or_default().waiting.push_back(id);
        self.written.insert(id, written);
    }

    /// When `id` was written, if it is here.
    pub fn written(&self, id: &MessageId) -> Option<u64> {
        self.written.get(id).copied()
    }

    /// Every message written before `cutoff`.
    pub fn written_before(&self, cutoff: u64) -> Vec<(P, MessageId)> {
        self.peers
            .iter()
            .flat_map(|(p, q)| q.in_flight.iter().chain(&q.waiting).map(move |id| (p, id)))
            .filter(|(_, id)| self.written(id).is_some_and(|at| at < cutoff))
            .map(|(p, id)| (p.clone(), *id))
            .collect()
    }

    /// `peer` is connected: its messages may flow.
    pub fn connected(&mut self, peer: &P) {
        let queue = self.peers.entry(peer.clone()).or_default();
        queue.connected = true;
        queue.paused_until = None;
    }

    /// `peer` lost its last connection. Its in-flight sends come back through
    /// [`Outbox::failed`] as the transport reports them.
    pub fn disconnected(&mut self, peer: &P) {
        if let Some(queue) = self.peers.get_mut(peer) {
            queue.connected = false;
        }
    }

    /// `peer` acknowledged (or refused for good) `id`: it leaves the outbox. Returns false if
    /// it was not there (a late duplicate acknowledgement).
    pub fn acked(&mut self, peer: &P, id: &MessageId) -> bool {
        let Some(queue) = self.peers.get_mut(peer) else {
            return false;
        };
        let was_in_flight = queue.in_flight.remove(id);
        let before = queue.waiting.len();
        queue.waiting.retain(|w| w != id);
        let removed = was_in_flight || queue.waiting.len() != before;
        if removed {
            queue.failures = 0;
            self.written.remove(id);
        }
        if queue.is_empty() && !queue.connected {
            self.peers.remove(peer);
        }
        removed
    }

    /// Sending `id` to `peer` failed: it goes back to the front of the queue and the peer is
    /// paused for the next backoff delay.
    pub fn failed(&mut self, peer: &P, id: MessageId, now: Instant) {
        let Some(queue) = self.peers.get_mut(peer) else {
            return;
        };
        if queue.in_flight.remove(&id) {
            queue.waiting.push_front(id);
            queue.failures += 1;
            queue.paused_until = Some(now + backoff::delay(queue.failures));
        }
    }

    /// Every message in flight to `peer` failed at once (its session closed): all go back to
    /// the front of the queue, oldest first, and the peer is paused for a backoff.
    pub fn fail_all(&mut self, peer: &P, now: Instant) {
        let Some(queue) = self.peers.get_mut(peer) else {
            return;
        };
        if queue.in_flight.is_empty() {
            return;
        }
        let mut failed: Vec<MessageId> = std::mem::take(&mut queue.in_flight).into_iter().collect();
        failed.sort_by_key(|id| std::cmp::Reverse(self.written.get(id).copied()));
        for id in failed {
            queue.waiting.push_front(id);
        }
        queue.failures += 1;
        queue.paused_until = Some(now + backoff::delay(queue.failures));
    }

    /// Every message for `peer`, waiting or in flight.
    pub fn of(&self, peer: &P) -> Vec<MessageId> {
        self.peers.get(peer).map_or_else(Vec::new, |q| {
            q.in_flight.iter().chain(&q.waiting).copied().collect()
        })
    }

    /// How many messages to `peer` are on the wire.
    pub fn in_flight(&self, peer: &P) -> usize {
        self.peers.get(peer).map_or(0, |q| q.in_flight.len())
    }

    /// The sends to start now: for each connected, unpaused peer, waiting messages up to the
    /// in-flight cap. They count as in flight until acknowledged or failed.
    pub fn next(&mut self, now: Instant) -> Vec<(P, MessageId)> {
        let mut out = Vec::new();
        for (peer, queue) in self.peers.iter_mut() {
            if !queue.connected || queue.paused_until.is_some_and(|t| t > now) {
                continue;
            }
            while queue.in_flight.len() < self.max_in_flight {
                let Some(id) = queue.waiting.pop_front() else {
                    break;
                };
                queue.in_flight.insert(id);
                out.push((peer.clone(), id));
            }
        }
        out
    }

    /// Peers with messages waiting that are not connected (they need dialling).
    pub fn unreachable_peers(&self) -> Vec<P> {
        self.peers
            .iter()
            .filter(|(_, q)| !q.connected && !q.is_empty())
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Messages waiting for peers that are not connected, oldest first per peer.
    pub fn waiting_unreachable(&self) -> impl Iterator<Item = (&P, &MessageId)> {
        self.peers
            .iter()
            .filter(|(_, q)| !q.connected)
            .flat_map(|(p, q)| q.waiting.iter().map(move |id| (p, id)))
    }

    /// Messages not yet acknowledged, waiting or in flight.
    pub fn len(&self) -> usize {
        self.peers
            .values()
            .map(|q| q.waiting.len() + q.in_flight.len())
            .sum()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use std::time::Duration;

    fn id(n: u8) -> MessageId {
        MessageId([n; 32])
    }

    #[test]
    fn caps_in_flight_and_keeps_order() {
        let t = Instant::now();
        let mut o = Outbox::new(2);
        for n in 1..=3 {
            o.enqueue("b", id(n), u64::from(n));
        }
        assert!(
            o.next(t).is_empty(),
            "nothing flows before the peer connects"
        );
        o.connected(&"b");
        assert_eq!(o.next(t), vec![("b", id(1)), ("b", id(2))]);
        assert!(o.next(t).is_empty(), "cap reached");
        assert!(o.acked(&"b", &id(1)));
        assert_eq!(o.next(t), vec![("b", id(3))]);
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn failure_requeues_first_and_pauses() {
        let t = Instant::now();
        let mut o = Outbox::new(8);
        o.enqueue("b", id(1), 1);
        o.enqueue("b", id(2), 2);
        o.connected(&"b");
        assert_eq!(o.next(t).len(), 2);
        o.failed(&"b", id(2), t);
        assert!(o.next(t).is_empty(), "paused");
        assert_eq!(o.next(t + backoff::BASE), vec![("b", id(2))]);
        o.disconnected(&"b");
        assert_eq!(o.unreachable_peers(), vec!["b"]);
    }

    #[test]
    fn fail_all_requeues_in_order() {
        let t = Instant::now();
        let mut o = Outbox::new(8);
        for n in 1..=3 {
            o.enqueue("b", id(n), u64::from(n));
        }
        o.connected(&"b");
        assert_eq!(o.next(t).len(), 3);
        assert_eq!(o.in_flight(&"b"), 3);
        o.fail_all(&"b", t);
        assert_eq!(o.in_flight(&"b"), 0);
        let resent: Vec<_> = o
            .next(t + backoff::BASE)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert_eq!(resent, vec![id(1), id(2), id(3)]);
    }

    #[test]
    fn knows_which_messages_are_past_a_time() {
        let mut o = Outbox::new(1);
        o.enqueue("b", id(1), 10);
        o.enqueue("c", id(2), 20);
        o.connected(&"b");
        assert_eq!(o.next(Instant::now()).len(), 1, "in flight counts too");
        assert_eq!(o.written_before(15), vec![("b", id(1))]);
        assert_eq!(o.written(&id(2)), Some(20));
        assert!(o.acked(&"b", &id(1)));
        assert!(o.written_before(15).is_empty());
        assert_eq!(o.written(&id(1)), None);
    }

    #[test]
    fn late_acks_are_harmless() {
        let mut o: Outbox<&str> = Outbox::new(1);
        assert!(!o.acked(&"x", &id(9)));
        o.enqueue("x", id(1), 1);
        assert!(
            o.acked(&"x", &id(1)),
            "an ack for a waiting message also clears it"
        );
        assert!(!o.acked(&"x", &id(1)));
        assert!(o.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Enqueue(u8),
        Connect,
        Disconnect,
        Send,
        AckFirstInFlight,
        FailFirstInFlight,
        /// The recipient stored the first message in flight, but its ack was lost.
        StoredAckLost,
        /// The sender's process died: what was in memory is gone, the outbox on disk stays.
        Reboot,
        Wait,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            any::<u8>().prop_map(Op::Enqueue),
            Just(Op::Connect),
            Just(Op::Disconnect),
            Just(Op::Send),
            Just(Op::AckFirstInFlight),
            Just(Op::FailFirstInFlight),
            Just(Op::StoredAckLost),
            Just(Op::Reboot),
            Just(Op::Wait),
        ]
    }

    proptest! {
        /// Against a model (a set of unacknowledged ids, as the outbox on disk holds them) and
        /// a recipient whose seen-set (its history) de-duplicates: across lost acks and
        /// reboots of the sender nothing is lost, the recipient's application gets every
        /// message exactly once, in flight never exceeds the cap, and once connected with
        /// time passing everything drains.
        #[test]
        fn matches_model(ops in proptest::collection::vec(op(), 0..200), cap in 1usize..5) {
            let mut now = Instant::now();
            let mut o = Outbox::new(cap);
            let mut model: BTreeSet<u8> = BTreeSet::new();
            let mut queued_order: Vec<u8> = Vec::new();
            let mut in_flight: Vec<MessageId> = Vec::new();
            let mut seen: BTreeSet<u8> = BTreeSet::new();
            let mut shown: Vec<u8> = Vec::new();
            // The recipient stores a message: shown to its application only the first time.
            let mut receive = |n: u8, seen: &mut BTreeSet<u8>| if seen.insert(n) { shown.push(n) };
            for op in ops {
                match op {
                    Op::Enqueue(n) => if !seen.contains(&n) && model.insert(n) {
                        queued_order.push(n);
                        o.enqueue("p", id(n), u64::from(n));
                    },
                    Op::StoredAckLost => if let Some(m) = in_flight.first() {
                        receive(m.0[0], &mut seen);
                    },
                    Op::Reboot => {
                        in_flight.clear();
                        o = Outbox::new(cap);
                        queued_order.retain(|n| model.contains(n));
                        for n in &queued_order { o.enqueue("p", id(*n), u64::from(*n)); }
                    }
                    Op::Connect => o.connected(&"p"),
                    Op::Disconnect => {
                        o.disconnected(&"p");
                        for m in in_flight.drain(..) { o.failed(&"p", m, now); }
                    }
                    Op::Send => in_flight.extend(o.next(now).into_iter().map(|(_, m)| m)),
                    Op::AckFirstInFlight => if !in_flight.is_empty() {
                        let m = in_flight.remove(0);
                        receive(m.0[0], &mut seen);
                        prop_assert!(o.acked(&"p", &m));
                        prop_assert!(model.remove(&m.0[0]));
                    },
                    Op::FailFirstInFlight => if !in_flight.is_empty() {
                        let m = in_flight.remove(0);
                        o.failed(&"p", m, now);
                    },
                    Op::Wait => now += Duration::from_secs(60),
                }
                prop_assert!(in_flight.len() <= cap);
                prop_assert_eq!(o.len(), model.len());
            }
            for m in in_flight.drain(..) { o.failed(&"p", m, now); }
            o.connected(&"p");
            let mut delivered = BTreeSet::new();
            for _ in 0..1000 {
                now += Duration::from_secs(60);
                let batch = o.next(now);
                if batch.is_empty() { break; }
                for (_, m) in batch {
                    prop_assert!(delivered.insert(m.0[0]), "sent twice without a failure");
                    receive(m.0[0], &mut seen);
                    prop_assert!(o.acked(&"p", &m));
                }
            }
            prop_assert_eq!(delivered, model);
            prop_assert!(o.is_empty());
            let mut once = shown.clone();
            once.sort_unstable();
            once.dedup();
            prop_assert_eq!(once.len(), shown.len(), "shown twice: {:?}", shown);
            prop_assert_eq!(once.into_iter().collect::<BTreeSet<_>>(), seen);
        }
    }
}
