//! Who follows which topics, so that a topic followed by few members of a large mesh still
//! reaches them: a node keeps a few connections to members that follow each topic it
//! follows (gossip and catch-up only run between connected members that follow the topic).
//!
//! A member's own word (the topics its sync request names) outranks what others say of it
//! (the `topics` of a directory entry), which is kept only until the member says otherwise.
//! Bounded: at most [`MAX_FOLLOWED_TOPICS`] topics per member, members only.

use std::collections::HashMap;

use libp2p::PeerId;
use weft_proto::sync::MAX_FOLLOWED_TOPICS;
use weft_proto::topic::TopicName;

/// How many connected members that follow a topic a node keeps, per topic it follows.
pub const TOPIC_LINKS: usize = 3;

/// The topics each member follows, as far as this node knows.
#[derive(Debug, Default)]
pub struct Followers {
    /// Per member: its topics, and whether it said them itself.
    of: HashMap<PeerId, (Vec<TopicName>, bool)>,
}

impl Followers {
    /// `peer` said it follows `topics`.
    pub fn said(&mut self, peer: PeerId, topics: impl IntoIterator<Item = TopicName>) {
        self.of.insert(peer, (capped(topics), true));
    }

    /// Another member says `peer` follows `topics`: kept unless `peer` said otherwise.
    pub fn heard(&mut self, peer: PeerId, topics: Vec<TopicName>) {
        match self.of.get(&peer) {
            Some((_, true)) => {}
            _ => {
                self.of.insert(peer, (capped(topics), false));
            }
        }
    }

    /// The topics `peer` follows, as far as this node knows.
    pub fn topics_of(&self, peer: &PeerId) -> Vec<TopicName> {
        self.of
            .get(peer)
            .map(|(t, _)| t.clone())
            .unwrap_or_default()
    }

    /// The members that follow `topic`.
    pub fn of_topic<'a>(&'a self, topic: &'a TopicName) -> impl Iterator<Item = &'a PeerId> {
        (self.of.iter())
            .filter(move |(_, (topics, _))| topics.contains(topic))
            .map(|(peer, _)| peer)
    }

    /// Forgets `peer` (it left the mesh).
    pub fn forget(&mut self, peer: &PeerId) {
        self.of.remove(peer);
    }
}

fn capped(topics: impl IntoIterator<Item = TopicName>) -> Vec<TopicName> {
    let mut topics: Vec<TopicName> = topics.into_iter().take(MAX_FOLLOWED_TOPICS).collect();
    topics.sort();
    topics.dedup();
    topics
}

#[cfg(test)]
mod tests;
