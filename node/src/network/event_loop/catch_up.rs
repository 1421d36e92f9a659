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

impl EventLoop {
    /// How far this node has each topic it follows, for a sync request: its marks as of
    /// now, counting messages still on their way to disk.
    pub(super) fn topic_marks(&mut self) -> Vec<TopicMarks> {
        let mut topics: Vec<TopicName> = self.topics.iter().cloned().collect();
        topics.sort();
        topics.truncate(MAX_SYNC_TOPICS);
        topics
            .into_iter()
            .map(|topic| {
                self.load_marks(&topic);
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

    /// The messages an asker with `asked` marks lacks, of topics this node follows too,
    /// within the caps; and whether more remain.
    pub(super) fn logged_for(&self, asked: &[TopicMarks]) -> (Vec<Logged>, bool) {
        let mut out = Vec::new();
        let (mut count, mut bytes) = (0, 0);
        let mut full = false;
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
            let Ok(ours) = self.store.topics_log.marks(&wanted.topic) else {
                continue;
            };
            for (publisher, _) in ours {
                let from = theirs.get(&publisher).copied().unwrap_or(1);
                let taken = self
                    .store
                    .topics_log
                    .since(&wanted.topic, &publisher, from, |m| {
                        full = count >= MAX_SYNC_MESSAGES
                            || bytes + m.text.len() > MAX_SYNC_MESSAGE_BYTES;
                        if !full {
                            count += 1;
                            bytes += m.text.len();
                        }
                        !full
                    })
                    .unwrap_or_default();
                out.extend(
                    taken
                        .into_iter()
                        .map(|message| Logged { publisher, message }),
                );
                if full {
                    return (out, true);
                }
            }
        }
        (out, false)
    }

    /// Takes the messages a sync brought from `peer`: each is checked as if it came from its
    /// publisher.
    pub(super) fn take_logged(&mut self, peer: PeerId, messages: Vec<Logged>) {
        let mut new = 0;
        for logged in messages.into_iter().take(MAX_SYNC_MESSAGES) {
            if !self.topics.contains(&logged.message.topic) {
                continue;
            }
            let Some(publisher) = crate::mesh::membership::peer_of(&logged.publisher) else {
                continue;
            };
            if let Taken::New = self.take_topic(publisher, logged.message) {
                new += 1;
            }
        }
        if new > 0 {
            tracing::info!(peer = %super::short(&peer), new, "caught up on topic messages");
        }
    }
}
