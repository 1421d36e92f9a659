//! Trees `topic_log` and `topic_marks`: every topic message this node holds, by topic,
//! publisher and sequence number, so it can hand members what they missed; and, per topic
//! and publisher, the first sequence number it lacks.
//!
//! - `topic_log`: topic length (1) ++ topic ++ publisher key (32) ++ seq (u64 BE) -> CBOR
//!   `TopicMessage` (signature checked before it is stored).
//! - `topic_marks`: topic length (1) ++ topic ++ publisher key (32) -> next (u64 BE): every
//!   message of that publisher below `next` is in the log.
//!
//! Both change only through [`super::write::Write`], in the flush task.

use weft_proto::mesh::MemberKey;
use weft_proto::topic::{TopicMessage, TopicName};

use super::StoreError;

/// The `topic_log` and `topic_marks` trees.
#[derive(Clone)]
pub struct TopicLog {
    pub(super) log: sled::Tree,
    pub(super) marks: sled::Tree,
}

fn topic_prefix(topic: &TopicName) -> Vec<u8> {
    let name = topic.as_str().as_bytes();
    // Topic names are at most 64 bytes, so the length fits a byte.
    let mut out = Vec::with_capacity(1 + name.len() + 40);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out
}

fn mark_key(topic: &TopicName, publisher: &MemberKey) -> Vec<u8> {
    let mut key = topic_prefix(topic);
    key.extend_from_slice(&publisher.0);
    key
}

fn log_key(topic: &TopicName, publisher: &MemberKey, seq: u64) -> Vec<u8> {
    let mut key = mark_key(topic, publisher);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn corrupt(detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        tree: "topic_log",
        detail: detail.to_string(),
    }
}

fn read_u64(bytes: &[u8]) -> Result<u64, StoreError> {
    Ok(u64::from_be_bytes(bytes.try_into().map_err(corrupt)?))
}

impl TopicLog {
    /// Adds `publisher`'s `message` (if new) and moves its mark past every message now held
    /// without a gap.
    pub fn add(&self, publisher: &MemberKey, message: &TopicMessage) -> Result<(), StoreError> {
        let key = log_key(&message.topic, publisher, message.seq);
        if !self.log.contains_key(&key)? {
            let bytes = weft_proto::codec::to_cbor(message).map_err(corrupt)?;
            self.log.insert(key, bytes)?;
        }
        let mark = mark_key(&message.topic, publisher);
        let mut next = match self.marks.get(&mark)? {
            Some(v) => read_u64(&v)?,
            None => 1,
        };
        let start = next;
        while self
            .log
            .contains_key(log_key(&message.topic, publisher, next))?
        {
            next += 1;
        }
        if next != start {
            self.marks.insert(mark, &next.to_be_bytes())?;
        }
        Ok(())
    }

    /// Drops logged messages older than `cutoff` (microseconds since the Unix epoch); the
    /// marks stay, so what was dropped is not asked for again.
    pub fn prune_before(&self, cutoff: u64) -> Result<usize, StoreError> {
        let mut pruned = 0;
        for entry in self.log.iter() {
            let (key, value) = entry?;
            let message: TopicMessage = weft_proto::codec::from_cbor(&value).map_err(corrupt)?;
            if message.ts < cutoff {
                self.log.remove(key)?;
                pruned += 1;
            }
        }
        Ok(pruned)
    }

    /// Every mark: per topic and publisher, the first sequence number not held.
    pub fn marks(&self) -> Result<Vec<(TopicName, MemberKey, u64)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.marks.iter() {
            let (key, value) = entry?;
            let len = usize::from(*key.first().ok_or_else(|| corrupt("empty mark key"))?);
            if key.len() != 1 + len + 32 {
                return Err(corrupt("a mark key of the wrong length"));
            }
            let topic = std::str::from_utf8(&key[1..1 + len])
                .map_err(corrupt)?
                .parse()
                .map_err(corrupt)?;
            let publisher = MemberKey(key[1 + len..].try_into().map_err(corrupt)?);
            out.push((topic, publisher, read_u64(&value)?));
        }
        Ok(out)
    }

    /// The logged messages of the runs `wanted` (a catch-up's answer), in order, within the
    /// caps of one answer; and whether more remain.
    pub fn wanted(
        &self,
        wanted: &[crate::core::topics::Wanted],
    ) -> Result<(Vec<weft_proto::sync::Logged>, bool), StoreError> {
        crate::core::topics::answer(wanted, |run, keep| {
            self.since(&run.topic, &run.publisher, run.from, keep)
        })
    }

    /// `publisher`'s messages on `topic` from `from` on, in order, while `take` says yes
    /// (it sees each message and answers whether to keep going).
    pub fn since(
        &self,
        topic: &TopicName,
        publisher: &MemberKey,
        from: u64,
        mut take: impl FnMut(&TopicMessage) -> bool,
    ) -> Result<Vec<TopicMessage>, StoreError> {
        let start = log_key(topic, publisher, from.max(1));
        let prefix = mark_key(topic, publisher);
        let mut out = Vec::new();
        for entry in self.log.range(start..) {
            let (key, value) = entry?;
            if !key.starts_with(&prefix) {
                break;
            }
            let message: TopicMessage = weft_proto::codec::from_cbor(&value).map_err(corrupt)?;
            if !take(&message) {
                break;
            }
            out.push(message);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64) -> TopicMessage {
        TopicMessage::new("news".parse().unwrap(), seq, seq * 10, format!("m{seq}"))
    }

    #[test]
    fn marks_move_past_contiguous_messages_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(dir.path()).unwrap();
        let log = &store.topics_log;
        let (alice, bob) = (MemberKey([1; 32]), MemberKey([2; 32]));
        let topic: TopicName = "news".parse().unwrap();
        for seq in [1, 2, 4, 5] {
            log.add(&alice, &message(seq)).unwrap();
        }
        log.add(&bob, &message(1)).unwrap();
        let marks = || {
            log.marks()
                .unwrap()
                .into_iter()
                .map(|(t, p, next)| {
                    assert_eq!(t, topic);
                    (p, next)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(marks(), vec![(alice, 3), (bob, 2)]);
        log.add(&alice, &message(3)).unwrap();
        log.add(&alice, &message(3)).unwrap();
        assert_eq!(marks()[0], (alice, 6), "gap filled, once");

        let seqs = |from, max: usize| {
            let mut n = 0;
            log.since(&topic, &alice, from, |_| {
                n += 1;
                n <= max
            })
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect::<Vec<_>>()
        };
        assert_eq!(seqs(4, 10), vec![4, 5]);
        assert_eq!(seqs(0, 2), vec![1, 2]);
        assert!(
            log.since(&topic, &MemberKey([9; 32]), 1, |_| true)
                .unwrap()
                .is_empty()
        );

        // Pruning drops old messages (ts = seq * 10) but keeps the marks.
        assert_eq!(log.prune_before(35).unwrap(), 4);
        assert_eq!(seqs(0, 10), vec![4, 5]);
        assert_eq!(marks()[0], (alice, 6));
    }
}
