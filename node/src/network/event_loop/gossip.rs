//! Topics: joining and leaving, publishing, and validating what arrives before gossipsub may
//! forward it.

use libp2p::gossipsub::{self, MessageAcceptance, PublishError};
use libp2p::{PeerId, Swarm};
use tokio::sync::oneshot;
use weft_keys::topic::sign_topic;
use weft_proto::MessageId;
use weft_proto::api::{Direction, Kind, Message};
use weft_proto::dm::check_text;
use weft_proto::mesh::MeshId;
use weft_proto::topic::{TopicMessage, TopicName};

use super::EventLoop;
use crate::core::topics::Take;
use crate::delivery::clock::wall_us;
use crate::network::behaviour::Behaviour;
use crate::network::group_flush::Durable;
use crate::network::handle::text_refused;
use crate::network::{NodeError, gossip_topic};
use crate::store::write::Write;

/// Joins `topic` of `mesh` on the swarm's gossipsub.
pub(super) fn join(
    swarm: &mut Swarm<Behaviour>,
    mesh: MeshId,
    topic: &TopicName,
) -> Result<(), NodeError> {
    swarm
        .behaviour_mut()
        .gossipsub_mut()
        .subscribe(&gossip_topic(mesh, topic))
        .map(|_| ())
        .map_err(|e| NodeError::Invalid(format!("cannot subscribe to {topic}: {e}")))
}

impl EventLoop {
    /// The mesh this node's topics live in, if it belongs to one.
    pub(super) fn mesh_id(&self) -> Option<MeshId> {
        self.mesh.as_ref().map(|m| m.id())
    }

    /// Joins every subscribed topic in this node's mesh (after founding or joining one;
    /// a node in no mesh keeps its subscriptions but hears no one).
    pub(super) fn join_topics_of_mesh(&mut self) -> Result<(), NodeError> {
        let Some(mesh) = self.mesh_id() else {
            return Ok(());
        };
        for topic in self.topics.followed() {
            join(&mut self.swarm, mesh, topic)?;
        }
        Ok(())
    }

    pub(super) fn subscribe(
        &mut self,
        topic: TopicName,
        subscribe: bool,
    ) -> Result<bool, NodeError> {
        let mesh = self.mesh_id();
        if subscribe {
            if let Some(mesh) = mesh {
                join(&mut self.swarm, mesh, &topic)?;
            }
            let new = self.topics.follow(topic.clone());
            self.flush.write(Write::Follow(topic));
            Ok(new)
        } else {
            if let Some(mesh) = mesh {
                self.swarm
                    .behaviour_mut()
                    .gossipsub_mut()
                    .unsubscribe(&gossip_topic(mesh, &topic));
            }
            let followed = self.topics.unfollow(&topic);
            self.flush.write(Write::Unfollow(topic));
            Ok(followed)
        }
    }

    pub(super) fn publish(
        &mut self,
        topic: TopicName,
        text: String,
        reply: oneshot::Sender<Result<(MessageId, usize), NodeError>>,
    ) {
        if let Err(e) = check_text(&text) {
            let _ = reply.send(Err(text_refused(e)));
            return;
        }
        let Some(mesh) = self.mesh_id() else {
            let _ = reply.send(Err(super::membership::not_in_mesh()));
            return;
        };
        if let Some(e) = self.removed_error() {
            let _ = reply.send(Err(e));
            return;
        }
        if !self.may_publish(&self.local, &topic) {
            let _ = reply.send(Err(NodeError::Forbidden(format!(
                "this node may not publish on `{topic}` (guests never publish; see the topic's policy)"
            ))));
            return;
        }
        let ts = self.clock.tick(wall_us());
        let me = self.identity.public().to_bytes();
        let seq = self.topics.next_seq(&topic, &me);
        let unsigned = TopicMessage::new(topic.clone(), seq, ts, text);
        let message = match sign_topic(&self.identity, &mesh, unsigned) {
            Ok(m) => m,
            Err(e) => {
                let _ = reply.send(Err(NodeError::Invalid(e.to_string())));
                return;
            }
        };
        let payload = match message.encode() {
            Ok(p) => p,
            Err(e) => {
                let _ = reply.send(Err(NodeError::Invalid(e.to_string())));
                return;
            }
        };
        let ident = gossip_topic(mesh, &topic);
        let subscribers = self
            .swarm
            .behaviour()
            .gossipsub()
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&ident.hash()))
            .count();
        match self
            .swarm
            .behaviour_mut()
            .gossipsub_mut()
            .publish(ident, payload)
        {
            // Nobody to hand it to now: it is kept all the same, and subscribers get it when
            // they next sync with this node (catch-up).
            Ok(_) | Err(PublishError::NoPeersSubscribedToTopic) => {}
            Err(e) => {
                let _ = reply.send(Err(NodeError::Publish(format!(
                    "publishing on `{topic}` failed: {e}"
                ))));
                return;
            }
        }
        let id = message.id(&self.local.to_bytes());
        self.metrics.sent("topic");
        self.topics.record(&topic, me, seq);
        self.flush
            .write(Write::LogTopic(me, Box::new(message.clone())));
        let record = Message {
            id,
            kind: Kind::Topic,
            direction: Direction::Out,
            from: self.local.to_string(),
            to: None,
            topic: Some(topic),
            ts,
            text: message.text,
            state: None,
        };
        self.flush.write(Write::InsertHistory(Box::new(record)));
        self.flush.push(Durable::Published {
            reply,
            result: (id, subscribers),
        });
    }

    pub(super) fn on_gossip_event(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        else {
            return;
        };
        let acceptance = self.accept_gossip(&propagation_source, message);
        let _ = self
            .swarm
            .behaviour_mut()
            .gossipsub_mut()
            .report_message_validation_result(&message_id, &propagation_source, acceptance);
    }

    /// Decides whether a topic message may be forwarded, storing it when it is new.
    fn accept_gossip(&mut self, via: &PeerId, message: gossipsub::Message) -> MessageAcceptance {
        if self.is_acl_topic(&message.topic) {
            return self.accept_acl_gossip(via, &message.data);
        }
        let Some(source) = message.source else {
            self.reject("topic", via, "unsigned", &"topic message without a source");
            return MessageAcceptance::Reject;
        };
        let namespace = self.mesh_id().map(|m| m.to_string()).unwrap_or_default();
        let Some(topic) = TopicName::from_gossip_topic(&namespace, message.topic.as_str()) else {
            self.reject(
                "topic",
                via,
                "invalid",
                &format!("unknown topic {}", message.topic),
            );
            return MessageAcceptance::Reject;
        };
        let decoded = match TopicMessage::decode(&message.data) {
            Ok(m) => m,
            Err(e) => {
                self.reject("topic", via, e.reason(), &e);
                return MessageAcceptance::Reject;
            }
        };
        if decoded.topic != topic {
            self.reject(
                "topic",
                via,
                "invalid",
                &"payload topic differs from the gossip topic",
            );
            return MessageAcceptance::Reject;
        }
        match self.take_topic(source, decoded) {
            Taken::Stored => MessageAcceptance::Accept,
            Taken::Seen => MessageAcceptance::Ignore,
            Taken::Refused => MessageAcceptance::Reject,
        }
    }

    /// Takes a topic message `publisher` signed, however it came (gossip or catch-up), as
    /// [`Topics::take`] decides; stores it in history and the topic log when it is new.
    /// Refusals are counted and logged here.
    ///
    /// [`Topics::take`]: crate::core::topics::Topics::take
    pub(super) fn take_topic(&mut self, publisher: PeerId, message: TopicMessage) -> Taken {
        let Some(mesh) = self.mesh.as_ref() else {
            return Taken::Refused;
        };
        let (take, key) = match self
            .topics
            .take(mesh, &publisher, &message, self.oldest_kept())
        {
            Ok(taken) => taken,
            Err(refusal) => {
                self.reject("topic", &publisher, refusal.reason(), &refusal);
                return Taken::Refused;
            }
        };
        if take == Take::Stale {
            self.flush.write(Write::LogTopic(key, Box::new(message)));
            return Taken::Seen;
        }
        self.clock.observe(message.ts, wall_us());
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
        if self.flush.holds_message(&record.id) {
            return Taken::Seen;
        }
        // Logged either way: a message first seen before the log existed joins it.
        self.flush.write(Write::LogTopic(key, Box::new(message)));
        // Whether history holds it already the writer tells, and only news reaches
        // listeners; it is forwarded all the same (gossipsub's own cache keeps replays rare).
        let record = Box::new(record);
        self.flush.write(Write::InsertHistory(record.clone()));
        self.flush.push(Durable::Received(record));
        Taken::Stored
    }
}

/// What became of a topic message.
pub(super) enum Taken {
    /// Queued for history: new unless the writer finds it there.
    Stored,
    /// Already on its way to history.
    Seen,
    /// Not allowed, or not signed by its publisher.
    Refused,
}
