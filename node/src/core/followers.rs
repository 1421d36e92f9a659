//! Who follows which topics, so that a topic followed by few members of a large mesh still
//! reaches them: a node keeps a few connections to members that follow each topic it
//! follows (gossip and catch-up only run between connected members that follow the topic).
//!
//! What a member says of itself (the topics its sync request names) is what counts, and it
//! is relayed one hop in directory entries (`topics`): a node passes on only what members
//! said to it themselves, and an empty or changed hearsay never replaces a member's own
//! word. The followers a node keeps connected per topic are its own picks, drawn at random
//! (so a member cannot take the place by claiming the topic and connecting first), at most
//! [`TOPIC_LINKS`] per topic and [`Followers::new`]'s bound in all. Bounded: at most
//! [`MAX_FOLLOWED_TOPICS`] topics per member, members only.

use std::collections::{BTreeMap, BTreeSet};

use libp2p::PeerId;
use weft_proto::sync::MAX_FOLLOWED_TOPICS;
use weft_proto::topic::TopicName;

/// How many connected members that follow a topic a node keeps, per topic it follows.
pub const TOPIC_LINKS: usize = 3;

/// The topics each member follows, as far as this node knows, and the followers picked.
#[derive(Debug)]
pub struct Followers {
    /// Per member: its topics, and whether it said them itself.
    of: BTreeMap<PeerId, (Vec<TopicName>, bool)>,
    /// Per topic this node follows, the followers it picked to keep connected.
    picked: BTreeMap<TopicName, BTreeSet<PeerId>>,
    /// Most picks in all.
    max_picks: usize,
}

impl Followers {
    /// Keeping at most `max_picks` followers connected in all.
    pub fn new(max_picks: usize) -> Followers {
        Followers {
            of: BTreeMap::new(),
            picked: BTreeMap::new(),
            max_picks,
        }
    }

    /// `peer` said it follows `topics`.
    pub fn said(&mut self, peer: PeerId, topics: impl IntoIterator<Item = TopicName>) {
        self.of.insert(peer, (capped(topics), true));
    }

    /// Another member says `peer` follows `topics`: kept only when `peer` said nothing to
    /// this node itself, and never to forget a topic.
    pub fn heard(&mut self, peer: PeerId, topics: Vec<TopicName>) {
        let (known, own) = self.of.entry(peer).or_default();
        if *own || topics.is_empty() {
            return;
        }
        *known = capped(known.drain(..).chain(topics));
    }

    /// The topics `peer` said it follows, to relay (hearsay is not passed on).
    pub fn said_by(&self, peer: &PeerId) -> Vec<TopicName> {
        match self.of.get(peer) {
            Some((topics, true)) => topics.clone(),
            _ => Vec::new(),
        }
    }

    /// The members that follow `topic`.
    pub fn of_topic<'a>(&'a self, topic: &'a TopicName) -> impl Iterator<Item = &'a PeerId> {
        (self.of.iter())
            .filter(move |(_, (topics, _))| topics.contains(topic))
            .map(|(peer, _)| peer)
    }

    /// How many more followers of `topic` to pick.
    pub fn wanted(&self, topic: &TopicName) -> usize {
        let picked: usize = self.picked.values().map(BTreeSet::len).sum();
        let here = self.picked.get(topic).map_or(0, BTreeSet::len);
        TOPIC_LINKS
            .saturating_sub(here)
            .min(self.max_picks.saturating_sub(picked))
    }

    /// `peers` are picked to carry `topic`.
    pub fn pick(&mut self, topic: &TopicName, peers: &[PeerId]) {
        (self.picked.entry(topic.clone()).or_default()).extend(peers.iter().copied());
    }

    /// Whether `peer` was picked to carry any topic.
    pub fn is_picked(&self, peer: &PeerId) -> bool {
        self.picked.values().any(|p| p.contains(peer))
    }

    /// Whether `peer` was picked to carry `topic`.
    pub fn carries(&self, topic: &TopicName, peer: &PeerId) -> bool {
        self.picked.get(topic).is_some_and(|p| p.contains(peer))
    }

    /// `peer` carries no topic any more (its dial failed, it went, or it left the mesh).
    pub fn unpick(&mut self, peer: &PeerId) {
        self.picked.values_mut().for_each(|p| {
            p.remove(peer);
        });
    }

    /// Only the topics in `followed` are carried (this node left the others).
    pub fn keep_topics(&mut self, followed: &BTreeSet<&TopicName>) {
        self.picked.retain(|topic, _| followed.contains(topic));
    }

    /// Forgets `peer` (it left the mesh).
    pub fn forget(&mut self, peer: &PeerId) {
        self.of.remove(peer);
        self.unpick(peer);
    }
}

fn capped(topics: impl IntoIterator<Item = TopicName>) -> Vec<TopicName> {
    let mut topics: Vec<TopicName> = topics.into_iter().collect();
    topics.sort();
    topics.dedup();
    topics.truncate(MAX_FOLLOWED_TOPICS);
    topics
}

#[cfg(test)]
mod tests;
