//! How far each publisher's run of topic messages is complete here: per topic and publisher,
//! the first sequence number not held, and the numbers held beyond it (a gap waits below
//! them). The store keeps the same marks on disk (`store::topic_log`); this copy is current
//! the moment a message is taken, before its write reaches the disk, so a catch-up request
//! never asks again for what is already on its way to disk.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

/// Most numbers remembered above a gap per publisher; past that they are forgotten (and
/// asked for again, harmlessly, once the gap is filled).
const MAX_ABOVE: usize = 4096;

/// One publisher's run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    next: u64,
    above: BTreeSet<u64>,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            next: 1,
            above: BTreeSet::new(),
        }
    }
}

/// Marks for topics of type `T` and publishers of type `P`.
#[derive(Debug)]
pub struct Marks<T, P> {
    runs: HashMap<T, HashMap<P, Run>>,
}

impl<T, P> Default for Marks<T, P> {
    fn default() -> Self {
        Marks {
            runs: HashMap::new(),
        }
    }
}

impl<T: Hash + Eq + Clone, P: Hash + Eq + Copy> Marks<T, P> {
    /// The marks as stored: per topic and publisher, the first number not held.
    pub fn stored(stored: impl IntoIterator<Item = (T, P, u64)>) -> Self {
        let mut marks = Marks::default();
        for (topic, publisher, next) in stored {
            marks.runs.entry(topic).or_default().insert(
                publisher,
                Run {
                    next: next.max(1),
                    above: BTreeSet::new(),
                },
            );
        }
        marks
    }

    /// `publisher`'s message `seq` on `topic` is held now.
    pub fn record(&mut self, topic: &T, publisher: P, seq: u64) {
        let run = self
            .runs
            .entry(topic.clone())
            .or_default()
            .entry(publisher)
            .or_default();
        if seq < run.next {
            return;
        }
        if seq > run.next {
            if run.above.len() < MAX_ABOVE {
                run.above.insert(seq);
            }
            return;
        }
        run.next += 1;
        while run.above.remove(&run.next) {
            run.next += 1;
        }
    }

    /// The first number of `publisher` on `topic` not held.
    pub fn next(&self, topic: &T, publisher: &P) -> u64 {
        self.runs
            .get(topic)
            .and_then(|r| r.get(publisher))
            .map_or(1, |run| run.next)
    }

    /// Every publisher's first number not held, on `topic`.
    pub fn of(&self, topic: &T) -> Vec<(P, u64)> {
        self.runs
            .get(topic)
            .map(|runs| runs.iter().map(|(p, r)| (*p, r.next)).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the order and duplication of arrivals, the mark is the first number not
        /// among them.
        #[test]
        fn the_mark_is_the_first_missing_number(seqs in proptest::collection::vec(1u64..40, 0..80)) {
            let mut marks: Marks<&str, u8> = Marks::default();
            for seq in &seqs {
                marks.record(&"t", 1, *seq);
            }
            let held: BTreeSet<u64> = seqs.into_iter().collect();
            let first_missing = (1..).find(|n| !held.contains(n)).unwrap();
            prop_assert_eq!(marks.next(&"t", &1), first_missing);
        }
    }

    #[test]
    fn loads_stored_marks_and_keeps_publishers_apart() {
        let mut marks: Marks<&str, u8> = Marks::stored([("t", 1, 5), ("t", 2, 1)]);
        marks.record(&"t", 1, 5);
        marks.record(&"t", 2, 3);
        assert_eq!(marks.next(&"t", &1), 6);
        assert_eq!(marks.next(&"t", &2), 1);
        let mut all = marks.of(&"t");
        all.sort();
        assert_eq!(all, vec![(1, 6), (2, 1)]);
        assert_eq!(marks.next(&"u", &1), 1);
    }
}
