//! [`InOrder`]: local listeners hear each publisher's topic messages in the order it
//! published them. Gossip keeps that order on each path (the shell sends it to a member on
//! one connection), but a message lost on the way comes later, by catch-up. A message that
//! arrives after a gap is stored at once but heard only when the gap fills. A gap is waited
//! on while its publisher's messages keep coming (a path can lag another by seconds on a
//! loaded machine), until nothing of the run has come for [`HOLD`], and for [`MAX_HOLD`] at
//! most: then what was held is heard in order and the missing one when it comes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weft_proto::api::Message;
use weft_proto::mesh::MemberKey;
use weft_proto::topic::TopicName;

/// How long a gap is waited on once nothing more of its run comes.
pub const HOLD: Duration = Duration::from_secs(3);

/// Longest a message waits for the gap before it, however much of its run keeps coming: a
/// lagging connection delivers within seconds, and what takes longer is lost, and comes
/// by catch-up whenever it comes.
pub const MAX_HOLD: Duration = Duration::from_secs(5);

/// Most messages held behind gaps, all publishers together; past that (or past
/// [`MAX_HELD_BYTES`] of text) the publisher holding the most is heard at once, its
/// largest run first, so one publishing fast (or skipping numbers on purpose) does not
/// hurry the others' held runs out of order.
pub const MAX_HELD: usize = 4096;

/// Most bytes of text held behind gaps, all publishers together.
pub const MAX_HELD_BYTES: usize = 8 * 1024 * 1024;

/// One publisher's run on one topic.
type Run = (TopicName, MemberKey);

/// A number behind a gap: its message to hear (none when it was heard already), and when it
/// arrived.
type Waiting = (Option<Message>, Instant);

/// The next number each run is heard from, and what waits behind a gap.
#[derive(Debug, Default)]
pub struct InOrder {
    next: BTreeMap<Run, u64>,
    held: BTreeMap<Run, BTreeMap<u64, Waiting>>,
    count: usize,
    bytes: usize,
}

impl InOrder {
    /// `publisher`'s message `seq` on `topic`, stored and new: what listeners hear now, in
    /// order (it, and what it unblocked; nothing while a gap is before it).
    pub fn arrived(
        &mut self,
        topic: TopicName,
        publisher: MemberKey,
        seq: u64,
        message: Message,
        now: Instant,
    ) -> Vec<Message> {
        self.take((topic, publisher), seq, Some(message), now)
    }

    /// `publisher`'s message `seq` on `topic` was heard already (history held it): its run
    /// goes on past it, and what it unblocked is heard now.
    pub fn passed(
        &mut self,
        topic: TopicName,
        publisher: MemberKey,
        seq: u64,
        now: Instant,
    ) -> Vec<Message> {
        self.take((topic, publisher), seq, None, now)
    }

    /// The held messages of each run that waited long enough at `now` (nothing of it came
    /// for [`HOLD`], or its first held message came [`MAX_HOLD`] ago), in order.
    pub fn due(&mut self, now: Instant) -> Vec<Message> {
        let late: Vec<Run> = self
            .held
            .iter()
            .filter(|(_, held)| {
                let arrived = held.values().map(|(_, arrived)| *arrived);
                match (arrived.clone().min(), arrived.max()) {
                    (Some(first), Some(last)) => last + HOLD <= now || first + MAX_HOLD <= now,
                    _ => false,
                }
            })
            .map(|(run, _)| run.clone())
            .collect();
        late.iter().flat_map(|run| self.release(run)).collect()
    }

    fn take(&mut self, run: Run, seq: u64, message: Option<Message>, now: Instant) -> Vec<Message> {
        let next = *self.next.entry(run.clone()).or_insert(seq);
        if seq > next {
            let size = message.as_ref().map_or(0, |m| m.text.len());
            let held = self.held.entry(run).or_default();
            // A number held already, come again from history (a replay, or catch-up's copy):
            // what is held stays, and waits as it did.
            if message.is_none() && held.contains_key(&seq) {
                return Vec::new();
            }
            // A number seen twice (a publisher that signed two messages with it): the first
            // is heard now rather than lost.
            let displaced = match held.insert(seq, (message, now)) {
                Some((displaced, _)) => displaced,
                None => {
                    self.count += 1;
                    None
                }
            };
            self.bytes += size;
            let mut heard: Vec<Message> = displaced.into_iter().collect();
            if let Some(m) = &heard.first() {
                self.bytes -= m.text.len();
            }
            // Each release empties a run, so this ends.
            while !self.held.is_empty() && (self.count > MAX_HELD || self.bytes > MAX_HELD_BYTES) {
                heard.extend(if self.count > MAX_HELD {
                    self.release_heaviest(|_| 1)
                } else {
                    self.release_heaviest(|(m, _)| m.as_ref().map_or(0, |m| m.text.len()))
                });
            }
            return heard;
        }
        // In order, or an old one come late (heard as it comes: its run went on without it).
        let mut heard: Vec<Message> = message.into_iter().collect();
        if seq == next {
            self.next.insert(run.clone(), seq.saturating_add(1));
            heard.extend(self.unblocked(&run));
        }
        heard
    }

    /// The held messages of `run` that follow on its next number now.
    fn unblocked(&mut self, run: &Run) -> Vec<Message> {
        let mut heard = Vec::new();
        let Some(held) = self.held.get_mut(run) else {
            return heard;
        };
        let mut next = self.next.get(run).copied().unwrap_or_default();
        while let Some((message, _)) = held.remove(&next) {
            self.count -= 1;
            if let Some(message) = message {
                self.bytes -= message.text.len();
                heard.push(message);
            }
            next = next.saturating_add(1);
        }
        if held.is_empty() {
            self.held.remove(run);
        }
        self.next.insert(run.clone(), next);
        heard
    }

    /// Every held message of `run`, in order; its run goes on after the last.
    fn release(&mut self, run: &Run) -> Vec<Message> {
        let Some(held) = self.held.remove(run) else {
            return Vec::new();
        };
        self.count -= held.len();
        if let Some(last) = held.keys().next_back() {
            self.next.insert(run.clone(), last.saturating_add(1));
        }
        let heard: Vec<Message> = held.into_values().filter_map(|(m, _)| m).collect();
        self.bytes -= heard.iter().map(|m| m.text.len()).sum::<usize>();
        heard
    }

    /// The largest run of the publisher that holds the most, each held number weighing
    /// `weight`.
    fn release_heaviest(&mut self, weight: impl Fn(&Waiting) -> usize) -> Vec<Message> {
        let runs: Vec<(&Run, usize)> = (self.held.iter())
            .map(|(run, held)| (run, held.values().map(&weight).sum()))
            .collect();
        let mut by_publisher: BTreeMap<&MemberKey, usize> = BTreeMap::new();
        for ((_, publisher), w) in &runs {
            *by_publisher.entry(publisher).or_default() += w;
        }
        let heaviest = by_publisher.into_iter().max_by_key(|(_, w)| *w);
        let run = heaviest.and_then(|(heaviest, _)| {
            (runs.iter())
                .filter(|((_, publisher), _)| publisher == heaviest)
                .max_by_key(|(_, w)| *w)
                .map(|(run, _)| (*run).clone())
        });
        run.map(|run| self.release(&run)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use weft_proto::MessageId;
    use weft_proto::api::{Direction, Kind};

    use super::*;

    fn message(seq: u64) -> Message {
        Message {
            id: MessageId([seq as u8; 32]),
            kind: Kind::Topic,
            direction: Direction::In,
            from: String::new(),
            to: None,
            topic: None,
            ts: seq,
            text: seq.to_string(),
            state: None,
        }
    }

    fn texts(heard: Vec<Message>) -> Vec<u64> {
        heard.iter().map(|m| m.ts).collect()
    }

    fn news() -> TopicName {
        "news".parse().unwrap()
    }

    /// What listeners hear when publisher `key`'s message `seq` arrives at `at`.
    fn arrive(order: &mut InOrder, key: u8, seq: u64, at: Instant) -> Vec<u64> {
        texts(order.arrived(news(), MemberKey([key; 32]), seq, message(seq), at))
    }

    #[test]
    fn a_swapped_pair_is_heard_in_order() {
        let (mut order, t0) = (InOrder::default(), Instant::now());
        assert_eq!(arrive(&mut order, 1, 1, t0), [1]);
        assert!(arrive(&mut order, 1, 3, t0).is_empty());
        assert!(arrive(&mut order, 1, 4, t0).is_empty());
        assert_eq!(arrive(&mut order, 1, 2, t0), [2, 3, 4]);
        assert_eq!(arrive(&mut order, 1, 5, t0), [5]);
    }

    #[test]
    fn a_gap_in_a_run_gone_quiet_is_held_for_hold_only() {
        let (mut order, t0) = (InOrder::default(), Instant::now());
        arrive(&mut order, 1, 1, t0);
        assert!(arrive(&mut order, 1, 3, t0).is_empty());
        // Another publisher's run is not held up.
        assert_eq!(arrive(&mut order, 2, 7, t0), [7]);
        assert!(order.due(t0 + HOLD / 2).is_empty());
        assert_eq!(texts(order.due(t0 + HOLD)), [3]);
        // The lost one, come at last by catch-up, is heard; the run went on past it.
        assert_eq!(arrive(&mut order, 1, 2, t0 + HOLD), [2]);
        assert_eq!(arrive(&mut order, 1, 4, t0 + HOLD), [4]);
    }

    #[test]
    fn a_gap_is_waited_on_while_its_run_keeps_coming_up_to_a_limit() {
        let (mut order, t0) = (InOrder::default(), Instant::now());
        arrive(&mut order, 1, 1, t0);
        // 2 lags on a slower path while the rest of the burst comes on the other.
        let step = HOLD / 2;
        let mut at = t0;
        for seq in 3..6 {
            at += step;
            assert!(arrive(&mut order, 1, seq, at).is_empty());
            assert!(order.due(at).is_empty(), "{seq} heard before 2");
        }
        assert!(at >= t0 + HOLD, "waited past HOLD");
        assert_eq!(arrive(&mut order, 1, 2, at), [2, 3, 4, 5]);

        // A gap never filled: heard past MAX_HOLD even though the run never stops.
        assert!(arrive(&mut order, 1, 7, at).is_empty());
        let first = at;
        let mut seq = 8;
        while at < first + MAX_HOLD {
            assert!(order.due(at).is_empty());
            at += step;
            arrive(&mut order, 1, seq, at);
            seq += 1;
        }
        assert_eq!(texts(order.due(at)), (7..seq).collect::<Vec<_>>());
    }

    #[test]
    fn a_message_heard_already_moves_its_run_on() {
        let (mut order, t0) = (InOrder::default(), Instant::now());
        let key = MemberKey([1; 32]);
        arrive(&mut order, 1, 1, t0);
        assert!(arrive(&mut order, 1, 3, t0).is_empty());
        assert_eq!(texts(order.passed(news(), key, 2, t0)), [3]);
        // A held number come again from history does not jump the gap.
        let other = MemberKey([3; 32]);
        arrive(&mut order, 3, 1, t0);
        assert!(arrive(&mut order, 3, 3, t0).is_empty());
        assert!(order.passed(news(), other, 3, t0 + HOLD / 2).is_empty());
        assert_eq!(texts(order.passed(news(), other, 2, t0)), [3]);
        // A number signed twice: neither message is lost, and nothing stays counted.
        assert!(arrive(&mut order, 1, 6, t0).is_empty());
        assert_eq!(texts(order.arrived(news(), key, 6, message(60), t0)), [6]);
        assert_eq!(order.count, 1);
        assert_eq!(texts(order.due(t0 + HOLD)), [60]);
        assert_eq!((order.count, order.bytes), (0, 0));
        // The last number there is does not overflow.
        assert_eq!(arrive(&mut order, 2, u64::MAX, t0), [u64::MAX]);
    }

    #[test]
    fn what_is_held_is_bounded() {
        let (topic, t0) = ("news".parse::<TopicName>().unwrap(), Instant::now());
        let mut order = InOrder::default();
        let mut heard = 0;
        for publisher in 0..=(MAX_HELD / 10) as u16 {
            let mut key = MemberKey([0; 32]);
            key.0[..2].copy_from_slice(&publisher.to_le_bytes());
            heard += order.arrived(topic.clone(), key, 1, message(1), t0).len();
            for seq in 3..13 {
                heard += order
                    .arrived(topic.clone(), key, seq, message(seq), t0)
                    .len();
            }
        }
        assert!(order.count <= MAX_HELD);
        assert!(
            heard > (MAX_HELD / 10) + 1,
            "a run was released when the cap was passed"
        );
    }

    /// Holds 3..203 of publisher 1 behind a gap at 2.
    fn honest_gap(order: &mut InOrder, t0: Instant) {
        arrive(order, 1, 1, t0);
        for seq in 3..203 {
            assert!(arrive(order, 1, seq, t0).is_empty());
        }
    }

    /// Publisher 2 skipping numbers on purpose: `per_topic` messages made by `make` held on
    /// each of `topics` topics.
    fn flood(order: &mut InOrder, topics: usize, per_topic: u64, make: impl Fn(u64) -> Message) {
        let (flooder, t0) = (MemberKey([2; 32]), Instant::now());
        for t in 0..topics {
            let topic: TopicName = format!("t{t}").parse().unwrap();
            order.arrived(topic.clone(), flooder, 1, make(1), t0);
            for seq in 3..3 + per_topic {
                order.arrived(topic.clone(), flooder, seq, make(seq), t0);
            }
        }
    }

    #[test]
    fn past_the_count_cap_the_publisher_holding_the_most_is_heard_first() {
        let (mut order, t0) = (InOrder::default(), Instant::now());
        honest_gap(&mut order, t0);
        // Far past the cap, in runs smaller than the honest one.
        flood(&mut order, 64, MAX_HELD as u64 / 32, message);
        assert!(order.count <= MAX_HELD);
        assert_eq!(arrive(&mut order, 1, 2, t0), (2..203).collect::<Vec<_>>());
    }

    #[test]
    fn past_the_bytes_cap_the_publisher_holding_the_most_bytes_is_heard_first() {
        let (mut order, t0) = (InOrder::default(), Instant::now());
        honest_gap(&mut order, t0);
        // Fewer messages than the honest run holds, but large ones.
        let size = 64 * 1024;
        let big = |seq: u64| Message {
            text: "x".repeat(size),
            ..message(seq)
        };
        flood(&mut order, 2, (MAX_HELD_BYTES / size) as u64 / 2 + 1, big);
        assert!(order.bytes <= MAX_HELD_BYTES);
        assert_eq!(arrive(&mut order, 1, 2, t0), (2..203).collect::<Vec<_>>());
    }

    #[test]
    fn both_caps_hold_after_every_arrival() {
        let (mut order, t0) = (InOrder::default(), Instant::now());
        // Large messages just under the bytes cap, then small ones up to the count cap.
        let size = 65_200;
        let big = |seq: u64| Message {
            text: "x".repeat(size),
            ..message(seq)
        };
        let (key, large) = (MemberKey([3; 32]), (MAX_HELD_BYTES / size) as u64);
        order.arrived(news(), key, 1, big(1), t0);
        for seq in 3..3 + large {
            order.arrived(news(), key, seq, big(seq), t0);
        }
        flood(&mut order, 1, MAX_HELD as u64 - large, message);
        assert_eq!(order.count, MAX_HELD);
        // One more large one passes both caps: releasing the small ones (the most) is not
        // enough for the bytes, so the large run goes too.
        order.arrived(news(), key, 3 + large, big(3 + large), t0);
        assert!(order.count <= MAX_HELD && order.bytes <= MAX_HELD_BYTES);
    }
}
