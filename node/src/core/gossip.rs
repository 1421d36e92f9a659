//! Topics: following and leaving them, publishing, and judging what gossip brings before
//! gossipsub may forward it. [`super::topics`] decides which messages are taken; this file
//! stores them and tells listeners.

use libp2p::PeerId;
use weft_keys::topic::sign_topic;
use weft_proto::MessageId;
use weft_proto::api::{Direction, Kind, Message};
use weft_proto::dm::check_text;
use weft_proto::topic::{TopicMessage, TopicName};

use super::commit::Durable;
use super::io::{Gossip, Now, Output, Verdict};
use super::membership::not_in_mesh;
use super::topics::Take;
use super::{Core, acl_topic};
use crate::network::NodeError;
use crate::network::handle::text_refused;
use crate::store::write::Write;

/// What became of a topic message.
pub(super) enum Taken {
    /// Queued for history: new unless the writer finds it there.
    Stored,
    /// Already on its way to history.
    Seen,
    /// Not allowed, or not signed by its publisher.
    Refused,
}

impl Core {
    /// Subscribes to every followed topic in this node's mesh (after founding or joining
    /// one; a node in no mesh keeps its topics but hears no one).
    pub(super) fn follow_topics_of_mesh(&mut self) {
        let mut topics: Vec<String> = self
            .topics
            .followed()
            .flat_map(|t| self.gossip_topics(t))
            .collect();
        topics.sort();
        self.out.extend(topics.into_iter().map(Output::Subscribe));
    }

    /// Follows `topic` (`subscribe`) or leaves it; whether anything changed. The caller
    /// hears back once that is on disk.
    pub fn subscribe(&mut self, topic: TopicName, subscribe: bool) -> Result<bool, NodeError> {
        let gossip = self.gossip_topics(&topic);
        if subscribe {
            self.out.extend(gossip.into_iter().map(Output::Subscribe));
            let new = self.topics.follow(topic.clone());
            self.commit.write(Write::Follow(topic));
            Ok(new)
        } else {
            self.out.extend(gossip.into_iter().map(Output::Unsubscribe));
            let followed = self.topics.unfollow(&topic);
            self.commit.write(Write::Unfollow(topic));
            Ok(followed)
        }
    }

    /// Publishes `text` on `topic`: signed, gossiped, and kept in history and the topic log
    /// (subscribers not reached now catch up on it from any member). The caller hears back
    /// once that is on disk.
    pub fn publish(
        &mut self,
        topic: TopicName,
        text: String,
        now: Now,
    ) -> Result<MessageId, NodeError> {
        let ts = self.publishable(&topic, &text, now)?;
        let seq = self.topics.next_seq(&topic, &self.me.key);
        let message = self.gossip_out(TopicMessage::new(topic.clone(), seq, ts, text))?;
        let id = message.id(&self.me.peer.to_bytes());
        self.topics.record(&topic, self.me.key, seq);
        self.commit
            .write(Write::LogTopic(self.me.key, Box::new(message.clone())));
        let record = Message {
            id,
            kind: Kind::Topic,
            direction: Direction::Out,
            from: self.me.peer.to_string(),
            to: None,
            topic: Some(topic),
            ts,
            text: message.text,
            state: None,
        };
        self.commit.write(Write::InsertHistory(Box::new(record)));
        Ok(id)
    }

    /// Whether this node may publish `text` on `topic` now (a valid text; in a mesh, not
    /// removed from it, and allowed by the topic's policy): the message's time then.
    pub(super) fn publishable(
        &mut self,
        topic: &TopicName,
        text: &str,
        now: Now,
    ) -> Result<u64, NodeError> {
        check_text(text).map_err(text_refused)?;
        self.mesh.id().ok_or_else(not_in_mesh)?;
        if let Some(e) = self.removed_error() {
            return Err(e);
        }
        if !self.mesh.may_publish(&self.me.peer, topic) {
            return Err(NodeError::Forbidden(format!(
                "this node may not publish on `{topic}` (guests never publish; see the topic's policy)"
            )));
        }
        Ok(self.me.clock.tick(now.unix_us))
    }

    /// Signs `unsigned` for this node's mesh and gossips it (a benchmark message on its
    /// topic's benchmark gossip topic).
    pub(super) fn gossip_out(&mut self, unsigned: TopicMessage) -> Result<TopicMessage, NodeError> {
        let mesh = self.mesh.id().ok_or_else(not_in_mesh)?;
        let gossip = self
            .gossip_topic(&unsigned.topic, unsigned.bench)
            .ok_or_else(not_in_mesh)?;
        let message = sign_topic(&self.me.identity, &mesh, unsigned)
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        let data = message
            .encode()
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        self.out.push_back(Output::Publish {
            topic: gossip,
            data,
        });
        Ok(message)
    }

    /// Judges a gossip message: an ACL op, or a topic message taken when new.
    pub(super) fn on_gossip(&mut self, gossip: Gossip, now: Now) {
        let Gossip {
            id,
            via,
            source,
            topic,
            data,
        } = gossip;
        let verdict = self.accept_gossip(&via, source, &topic, &data, now);
        self.out.push_back(Output::Verdict { id, via, verdict });
    }

    fn accept_gossip(
        &mut self,
        via: &PeerId,
        source: Option<PeerId>,
        topic: &str,
        data: &[u8],
        now: Now,
    ) -> Verdict {
        let mesh = self.mesh.id();
        if mesh.is_some_and(|m| acl_topic(m) == topic) {
            return self.accept_acl_gossip(via, data, now);
        }
        if mesh.is_some_and(|m| super::services::service_topic(m) == topic) {
            return self.accept_record_gossip(via, data, now);
        }
        let Some(source) = source else {
            self.reject("topic", via, "unsigned", &"topic message without a source");
            return Verdict::Reject;
        };
        let namespace = mesh.map(|m| m.to_string()).unwrap_or_default();
        let Some((name, bench)) = TopicName::from_gossip_topic(&namespace, topic) else {
            self.reject("topic", via, "invalid", &format!("unknown topic {topic}"));
            return Verdict::Reject;
        };
        let decoded = match TopicMessage::decode(data) {
            Ok(m) => m,
            Err(e) => {
                self.reject("topic", via, e.reason(), &e);
                return Verdict::Reject;
            }
        };
        if decoded.topic != name {
            let why = "payload topic differs from the gossip topic";
            self.reject("topic", via, "invalid", &why);
            return Verdict::Reject;
        }
        if decoded.bench != bench {
            // Nodes that know no benchmark messages must never be sent one on a topic
            // they follow, and a stored message never travels as a benchmark.
            let why =
                "a benchmark message off its topic's benchmark gossip topic, or another on it";
            self.reject("topic", via, "invalid", &why);
            return Verdict::Reject;
        }
        if decoded.bench {
            return self.take_bench_topic(source, decoded, now);
        }
        match self.take_topic(source, decoded, now) {
            Taken::Stored => Verdict::Accept,
            Taken::Seen => Verdict::Ignore,
            Taken::Refused => Verdict::Reject,
        }
    }

    /// Takes a topic message `publisher` signed, however it came (gossip or catch-up), as
    /// [`super::topics::Topics::take`] decides; stores it in history and the topic log when
    /// it is new. Refusals are counted and logged here.
    pub(super) fn take_topic(
        &mut self,
        publisher: PeerId,
        message: TopicMessage,
        now: Now,
    ) -> Taken {
        let oldest_kept = self.oldest_kept(now);
        let Some(mesh) = self.mesh.get() else {
            return Taken::Refused;
        };
        let (take, key) = match self.topics.take(mesh, &publisher, &message, oldest_kept) {
            Ok(taken) => taken,
            Err(refusal) => {
                self.reject("topic", &publisher, refusal.reason(), &refusal);
                return Taken::Refused;
            }
        };
        if take == Take::Stale {
            self.commit.write(Write::LogTopic(key, Box::new(message)));
            return Taken::Seen;
        }
        self.me.clock.observe(message.ts, now.unix_us);
        let record = Message {
            id: message.id(&publisher.to_bytes()),
            kind: Kind::Topic,
            direction: Direction::In,
            from: publisher.to_string(),
            to: None,
            topic: Some(message.topic.clone()),
            ts: message.ts,
            text: message.text.clone(),
            state: None,
        };
        if self.commit.holds_message(&record.id) {
            return Taken::Seen;
        }
        let (topic, seq) = (message.topic.clone(), message.seq);
        // Logged either way: a message first seen before the log existed joins it.
        self.commit.write(Write::LogTopic(key, Box::new(message)));
        // Whether history holds it already the writer tells, and only news reaches
        // listeners; it is forwarded all the same (gossipsub's own cache keeps replays rare).
        let record = Box::new(record);
        self.commit.write(Write::InsertHistory(record.clone()));
        self.commit.after(Durable::Published {
            message: record,
            topic,
            publisher: key,
            seq,
        });
        Taken::Stored
    }
}
