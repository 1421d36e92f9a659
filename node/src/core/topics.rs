//! The topics this node follows and how far it holds each publisher's run on them, as
//! decisions without IO: whether a topic message is taken (its publisher is a member that
//! may publish there, and signed it for this mesh), the next sequence number of this node's
//! own run, what a catch-up request says this node holds, which runs an asker lacks, and
//! which of those messages fit one answer. The event loop carries these to gossipsub, the
//! store and `/weft/sync/1`; the simulation (`core::sim`) drives them between many nodes.
//!
//! A message is delivered when it is taken and history did not hold it, however it came:
//! by gossip as it is published, or handed on by any member in a sync answer (catch-up)
//! after a partition, a restart or a long sleep. A catch-up asks, per followed topic and
//! publisher, from the first sequence number not held, and is answered each run in order,
//! as far as the answerer holds it without a gap: what a catch-up shows comes in each
//! publisher's order.

use std::collections::{HashMap, HashSet};

use libp2p::PeerId;
use weft_keys::sign::SignatureError;
use weft_keys::topic::verify_topic;
use weft_proto::codec::DecodeError;
use weft_proto::mesh::MemberKey;
use weft_proto::sync::{
    Logged, MAX_MARKS_PER_TOPIC, MAX_SYNC_MESSAGE_BYTES, MAX_SYNC_MESSAGES, MAX_SYNC_TOPICS, Mark,
    TopicMarks,
};
use weft_proto::topic::{TopicMessage, TopicName};

use crate::delivery::marks::Marks;
use crate::mesh::membership::Membership;

/// Decides a benchmark message `publisher` signed (it says), heard by gossip, on the terms
/// of any topic message; no mark moves, since it is never stored. The publisher's key when
/// it is taken.
pub fn take_bench(
    mesh: &Membership,
    publisher: &PeerId,
    message: &TopicMessage,
) -> Result<MemberKey, Refusal> {
    judge(mesh, publisher, message)
}

/// Whether `message` keeps the rules, its publisher is a member that may publish on its
/// topic, and the signature holds: the publisher's key then.
fn judge(
    mesh: &Membership,
    publisher: &PeerId,
    message: &TopicMessage,
) -> Result<MemberKey, Refusal> {
    message.check()?;
    let not_allowed = || Refusal::NotAllowed(message.topic.clone());
    let (key, _) = mesh.member(publisher).ok_or_else(not_allowed)?;
    if !mesh.acl().can_publish(&key, &message.topic) {
        return Err(not_allowed());
    }
    verify_topic(&key, &mesh.id(), message).map_err(Refusal::Signature)?;
    Ok(key)
}

/// The followed topics and the marks of their runs.
#[derive(Debug, Default)]
pub struct Topics {
    followed: HashSet<TopicName>,
    marks: Marks<TopicName, MemberKey>,
}

/// A run of one publisher's messages an asker lacks and this node holds whole: from `from`
/// up to, not including, `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The topic.
    pub topic: TopicName,
    /// The publisher's key.
    pub publisher: MemberKey,
    /// The first sequence number the asker lacks.
    pub from: u64,
    /// The first this node lacks: what it holds above a gap it does not hand on, so that
    /// an asker is handed each publisher's messages in order, whoever answers.
    pub until: u64,
}

/// What a taken message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Within the retention: for history (news unless history holds it already) and the
    /// topic log.
    Fresh,
    /// Past the retention: history may have dropped it already, so it cannot tell a replay
    /// from news. For the topic log only, so that the publisher's mark moves on.
    Stale,
}

/// Why a topic message is not taken.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// It breaks the rules of topic messages.
    #[error(transparent)]
    Invalid(#[from] DecodeError),
    /// Its publisher is not a member, or may not publish on its topic.
    #[error("may not publish on {0}")]
    NotAllowed(TopicName),
    /// Its publisher did not sign it for this mesh.
    #[error("not signed by its publisher: {0}")]
    Signature(SignatureError),
    /// A benchmark message where only stored ones belong (a sync answer, history).
    #[error("a benchmark message, which is never stored or handed on")]
    Bench,
}

impl Refusal {
    /// A short, stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Invalid(e) => e.reason(),
            Refusal::NotAllowed(_) => "acl",
            Refusal::Signature(_) => "signature",
            Refusal::Bench => "bench",
        }
    }
}

impl Topics {
    /// Following `followed`, holding each run up to its stored mark (topic, publisher, the
    /// first number not held).
    pub fn new(
        followed: impl IntoIterator<Item = TopicName>,
        stored: impl IntoIterator<Item = (TopicName, MemberKey, u64)>,
    ) -> Topics {
        Topics {
            followed: followed.into_iter().collect(),
            marks: Marks::stored(stored),
        }
    }

    /// Follows `topic`; false when it was followed already.
    pub fn follow(&mut self, topic: TopicName) -> bool {
        self.followed.insert(topic)
    }

    /// Stops following `topic`; false when it was not followed.
    pub fn unfollow(&mut self, topic: &TopicName) -> bool {
        self.followed.remove(topic)
    }

    /// Whether `topic` is followed.
    pub fn follows(&self, topic: &TopicName) -> bool {
        self.followed.contains(topic)
    }

    /// The followed topics, in no order.
    pub fn followed(&self) -> impl Iterator<Item = &TopicName> {
        self.followed.iter()
    }

    /// The sequence number of `publisher`'s next message on `topic` (for this node's own
    /// key: the number its next message gets).
    pub fn next_seq(&self, topic: &TopicName, publisher: &MemberKey) -> u64 {
        self.marks.next(topic, publisher)
    }

    /// `publisher`'s message `seq` on `topic` is held now (this node published it, or took
    /// it).
    pub fn record(&mut self, topic: &TopicName, publisher: MemberKey, seq: u64) {
        self.marks.record(topic, publisher, seq);
    }

    /// Decides `message`, which `publisher` signed (it says), for `mesh`: taken when it keeps
    /// the rules, its publisher is a member that may publish on its topic, and the signature
    /// holds; its run's mark moves on then. `oldest_kept` (microseconds since the Unix epoch)
    /// is the retention's edge. The publisher's key comes with it.
    pub fn take(
        &mut self,
        mesh: &Membership,
        publisher: &PeerId,
        message: &TopicMessage,
        oldest_kept: u64,
    ) -> Result<(Take, MemberKey), Refusal> {
        if message.bench {
            return Err(Refusal::Bench);
        }
        let key = judge(mesh, publisher, message)?;
        self.marks.record(&message.topic, key, message.seq);
        let take = if message.ts < oldest_kept {
            Take::Stale
        } else {
            Take::Fresh
        };
        Ok((take, key))
    }

    /// How far this node holds each topic it follows, for a catch-up request: its marks as
    /// of now (counting messages still on their way to disk), within a request's caps.
    pub fn marks(&self) -> Vec<TopicMarks> {
        let mut topics: Vec<&TopicName> = self.followed.iter().collect();
        topics.sort();
        topics.truncate(MAX_SYNC_TOPICS);
        topics
            .into_iter()
            .map(|topic| {
                let mut held = self.marks.of(topic);
                held.sort_unstable();
                let marks = held
                    .into_iter()
                    .take(MAX_MARKS_PER_TOPIC)
                    .map(|(publisher, next)| Mark { publisher, next })
                    .collect();
                TopicMarks {
                    topic: topic.clone(),
                    marks,
                }
            })
            .collect()
    }

    /// The runs an asker holding `asked` lacks, of topics this node follows too.
    pub fn wanted(&self, asked: &[TopicMarks]) -> Vec<Wanted> {
        let mut out = Vec::new();
        for wanted in asked.iter().take(MAX_SYNC_TOPICS) {
            if !self.followed.contains(&wanted.topic) {
                continue;
            }
            let theirs: HashMap<MemberKey, u64> = wanted
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
                        until: next,
                    });
                }
            }
        }
        out
    }

    /// Of the messages a catch-up brought, those to take: of followed topics, within one
    /// answer's cap.
    pub fn handed_on(&self, messages: Vec<Logged>) -> impl Iterator<Item = Logged> + '_ {
        messages
            .into_iter()
            .take(MAX_SYNC_MESSAGES)
            .filter(|logged| self.followed.contains(&logged.message.topic))
    }
}

/// The messages of the runs `wanted`, each run in order and short of its `until`, within one
/// answer's caps; and whether more remain. `since` reads a run from its first wanted number
/// on for as long as the visitor it is given says to go on (the store's topic log, in the
/// node).
pub fn answer<E>(
    wanted: &[Wanted],
    mut since: impl FnMut(
        &Wanted,
        &mut dyn FnMut(&TopicMessage) -> bool,
    ) -> Result<Vec<TopicMessage>, E>,
) -> Result<(Vec<Logged>, bool), E> {
    let mut out = Vec::new();
    let (mut count, mut bytes) = (0, 0);
    let mut full = false;
    for run in wanted {
        let taken = since(run, &mut |m: &TopicMessage| {
            if m.seq >= run.until {
                return false;
            }
            full = count >= MAX_SYNC_MESSAGES || bytes + m.text.len() > MAX_SYNC_MESSAGE_BYTES;
            if !full {
                count += 1;
                bytes += m.text.len();
            }
            !full
        })?;
        out.extend(taken.into_iter().map(|message| Logged {
            publisher: run.publisher,
            message,
        }));
        if full {
            return Ok((out, true));
        }
    }
    Ok((out, false))
}

#[cfg(test)]
mod tests;
