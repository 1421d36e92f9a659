//! Topic catch-up over `/weft/sync/1`: after a partition, a restart or a long sleep, a node
//! gets the topic messages it missed from any member that has them. What a request asks and
//! which messages an answer holds [`core::topics`] decides; here the answer is read from the
//! store and what came is taken.
//!
//! [`core::topics`]: crate::core::topics

use libp2p::PeerId;
use weft_proto::sync::Logged;

use super::EventLoop;
use super::gossip::Taken;
use crate::core::topics::{self, Wanted};
use crate::store::topic_log::TopicLog;

impl EventLoop {
    /// Takes the messages a sync brought from `peer`: each is checked as if it came from its
    /// publisher.
    pub(super) fn take_logged(&mut self, peer: PeerId, messages: Vec<Logged>) {
        let handed_on: Vec<Logged> = self.topics.handed_on(messages).collect();
        let mut taken = 0;
        for logged in handed_on {
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
    topics::answer(wanted, |run, keep| {
        log.since(&run.topic, &run.publisher, run.from, keep)
    })
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot read the topic log");
        (Vec::new(), false)
    })
}
