//! Topic catch-up over `/weft/sync/1`: after a partition, a restart or a long sleep, a node
//! gets the topic messages it missed from any member that has them. A request names, per
//! followed topic and publisher, the first sequence number the asker lacks; the answer hands
//! on the signed messages from there, within caps, and says when there is more.

use std::collections::HashMap;

use libp2p::PeerId;
use weft_proto::sync::{
    Logged, MAX_MARKS_PER_TOPIC, MAX_SYNC_MESSAGE_BYTES, MAX_SYNC_MESSAGES, MAX_SYNC_TOPICS, Mark,
    TopicMarks,
};

use weft_proto::topic::TopicName;

use super::EventLoop;
use super::gossip::Taken;
use crate::store::topic_log::TopicLog;

/// A run of one publisher's messages an asker lacks: from `from` on.
pub(super) struct Wanted {
    topic: TopicName,
    publisher: [u8; 32],
    from: u64,
}

impl EventLoop {
    /// How far this node has each topic it follows, for a sync request: its marks as of
    /// now, counting messages still on their way to disk.
    pub(super) fn topic_marks(&self) -> Vec<TopicMarks> {
        let mut topics: Vec<TopicName> = self.topics.iter().cloned().collect();
        topics.sort();
        topics.truncate(MAX_SYNC_TOPICS);
        topics
            .into_iter()
            .map(|topic| {
                let marks = self
                    .marks
                    .of(&topic)
                    .into_iter()
                    .take(MAX_MARKS_PER_TOPIC)
                    .map(|(publisher, next)| Mark { publisher, next })
                    .collect();
                TopicMarks { topic, marks }
            })
            .collect()
    }

    /// The runs an asker with `asked` marks lacks, of topics this node follows too.
    pub(super) fn wanted(&self, asked: &[TopicMarks]) -> Vec<Wanted> {
        let mut out = Vec::new();
        for wanted in asked.iter().take(MAX_SYNC_TOPICS) {
            if !self.topics.contains(&wanted.topic) {
                continue;
            }
            let theirs: HashMap<[u8; 32], u64> = wanted
                .marks
                .iter()
                .take(MAX_MARKS_PER_TOPIC)
                .map(|m| (m.publisher, m.next))
                .collect();
            let mut ours = self.marks.of(&wanted.topic);
            ours.sort_unstable();
            for (publisher, next) in ours {
                let from = theirs.get(&publisher).copied().unwrap_or(1);
                if from < next {
                    out.push(Wanted {
                        topic: wanted.topic.clone(),
                        publisher,
                        from,
                    });
                }
            }
        }
        out
    }

    /// Takes the messages a sync brought from `peer`: each is checked as if it came from its
    /// publisher.
    pub(super) fn take_logged(&mut self, peer: PeerId, messages: Vec<Logged>) {
        let mut taken = 0;
        for logged in messages.into_iter().take(MAX_SYNC_MESSAGES) {
            if !self.topics.contains(&logged.message.topic) {
                continue;
            }
            let Some(publisher) = crate::mesh::membership::peer_of(&logged.publisher) else {
                continue;
            };
            if let Taken::Stored = self.take_topic(publisher, logged.message) {
                taken += 1;
            }
        }
        if taken > 0 {
            tracing::info!(peer = %super::short(&peer), taken, "took topic messages from a catch-up");
        }
    }
}

/// The logged messages of the runs `wanted`, in order, within the caps of one answer; and
/// whether more remain. It reads the store, so it runs beside the loop.
pub(super) fn read_logged(log: &TopicLog, wanted: &[Wanted]) -> (Vec<Logged>, bool) {
    let mut out = Vec::new();
    let (mut count, mut bytes) = (0, 0);
    let mut full = false;
    for run in wanted {
        let taken = log
            .since(&run.topic, &run.publisher, run.from, |m| {
                full = count >= MAX_SYNC_MESSAGES || bytes + m.text.len() > MAX_SYNC_MESSAGE_BYTES;
                if !full {
                    count += 1;
                    bytes += m.text.len();
                }
                !full
            })
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot read the topic log");
                Vec::new()
            });
        out.extend(taken.into_iter().map(|message| Logged {
            publisher: run.publisher,
            message,
        }));
        if full {
            return (out, true);
        }
    }
    (out, false)
}
