//! Benchmark traffic (`weft bench dm`, `weft bench topic`): messages that travel the real
//! paths (the outbox and `/weft/dm/1`; gossip) but go to no history, no mailbox and no topic
//! log. A node takes benchmark direct messages only from members, never from guests, and
//! only when its owner let it (`--bench-dm on`); it acknowledges them after its next flush,
//! as it would a stored message. Benchmark topic messages are judged as any topic message,
//! and only event streams that ask for them hear of them.

use std::collections::HashMap;

use libp2p::PeerId;
use weft_proto::MessageId;
use weft_proto::api::Event;
use weft_proto::dm::{AckOutcome, DirectMessage, DmAck};
use weft_proto::mesh::Role;
use weft_proto::topic::{TopicMessage, TopicName};

use super::Core;
use super::commit::Durable;
use super::io::{Now, Output, SessionId, Verdict};
use super::topics::take_bench;
use crate::network::NodeError;

/// How long a benchmark direct message waits for its recipient (its caller waits 30 s):
/// one to a member that is away would otherwise wait out the mailbox TTL, days, and then
/// go out ahead of messages that matter.
const BENCH_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// How far a benchmark topic message's clock may be from this node's, either way. Never
/// stored, such a message cannot be known again by its id as a stored one is; gossipsub's
/// duplicate cache (a minute) catches a replay only while it lasts, so an older one is
/// dropped unforwarded instead.
const BENCH_FRESH: std::time::Duration = std::time::Duration::from_secs(20);

/// What this node does with benchmark traffic.
#[derive(Debug, Default)]
pub(super) struct Bench {
    /// Whether members may send it benchmark direct messages.
    takes_dm: bool,
    /// The number of this node's last benchmark message on each topic, in this run.
    published: HashMap<TopicName, u64>,
}

impl Bench {
    /// Taking benchmark direct messages from members when `takes_dm`.
    pub(super) fn new(takes_dm: bool) -> Bench {
        Bench {
            takes_dm,
            published: HashMap::new(),
        }
    }
}

impl Core {
    /// Queues a benchmark direct message for `to` in the outbox (see the module docs); the
    /// caller hears back once that is on disk.
    pub fn send_bench(
        &mut self,
        to: PeerId,
        text: String,
        now: Now,
    ) -> Result<MessageId, NodeError> {
        if self.mesh.role_of(&self.me.peer) == Some(Role::Guest) {
            return Err(NodeError::Forbidden(
                "guests never run benchmarks against members".into(),
            ));
        }
        self.queue_direct(to, text, true, now)
    }

    /// Gossips a benchmark message on `topic`, on the terms of [`Core::publish`]; nothing
    /// is written.
    pub fn publish_bench(
        &mut self,
        topic: TopicName,
        text: String,
        now: Now,
    ) -> Result<MessageId, NodeError> {
        let ts = self.publishable(&topic, &text, now)?;
        let seq = self.bench.published.entry(topic.clone()).or_default();
        *seq += 1;
        let seq = *seq;
        let message = self.gossip_out(TopicMessage::bench(topic, seq, ts, text))?;
        Ok(message.id(&self.me.peer.to_bytes()))
    }

    /// Benchmark direct messages older than [`BENCH_TTL`] leave the outbox (on the sweep).
    pub(super) fn expire_bench(&mut self, now: Now) {
        let cutoff = now.unix_us.saturating_sub(BENCH_TTL.as_micros() as u64);
        for (to, id, settled) in self.delivery.expire_bench(cutoff, now.at) {
            self.settled(to, id, settled);
        }
    }

    /// A benchmark direct message from `peer` on inbound session `session`: acknowledged
    /// after the next flush when this node takes them from `peer`, refused at once
    /// otherwise.
    pub(super) fn take_bench_dm(
        &mut self,
        peer: PeerId,
        session: SessionId,
        message: DirectMessage,
        now: Now,
    ) {
        let id = message.id;
        let refused = match self.judge_bench_dm(&peer, &message) {
            Ok(()) => {
                self.me.clock.observe(message.ts, now.unix_us);
                let ack = DmAck::new(id, AckOutcome::Stored);
                return self
                    .commit
                    .after(Durable::then(Output::Ack { session, ack }));
            }
            // A member benchmarking a node whose owner did not allow it is not hostile, and
            // a line per message would flood the log: counted, and the sender is told why.
            Err((reason @ "bench_off", why)) => {
                tracing::debug!(peer = %super::short(&peer), "{why}");
                self.count("bench", reason);
                why
            }
            Err((reason, why)) => {
                self.reject("bench", &peer, reason, &why);
                why
            }
        };
        let ack = DmAck::new(id, AckOutcome::Rejected { reason: refused });
        self.out.push_back(Output::Ack { session, ack });
    }

    /// Why `peer`'s benchmark message is refused (a label for metrics and the reason),
    /// if it is.
    fn judge_bench_dm(
        &self,
        peer: &PeerId,
        message: &DirectMessage,
    ) -> Result<(), (&'static str, String)> {
        if !self.admits(peer) {
            return Err(("acl", "not a member of this node's mesh".into()));
        }
        if let Err(e) = message.validate(&peer.to_bytes(), &self.me.peer.to_bytes()) {
            return Err((e.reason(), e.to_string()));
        }
        if self.mesh.role_of(peer) == Some(Role::Guest) {
            return Err((
                "bench_guest",
                "guests never run benchmarks against members".into(),
            ));
        }
        if !self.bench.takes_dm {
            let why = "this node does not take benchmark messages (its owner runs it with --bench-dm off)";
            return Err(("bench_off", why.into()));
        }
        Ok(())
    }

    /// A benchmark message `source` gossiped on a followed topic: local listeners that ask
    /// for benchmark events hear of it when it is allowed, signed and fresh (within
    /// [`BENCH_FRESH`]), and gossipsub forwards it then.
    pub(super) fn take_bench_topic(
        &mut self,
        source: PeerId,
        message: TopicMessage,
        now: Now,
    ) -> Verdict {
        let Some(mesh) = self.mesh.get() else {
            return Verdict::Ignore;
        };
        let fresh = BENCH_FRESH.as_micros() as u64;
        if message.ts.abs_diff(now.unix_us) > fresh {
            return Verdict::Ignore;
        }
        if let Err(refusal) = take_bench(mesh, &source, &message) {
            self.reject("topic", &source, refusal.reason(), &refusal);
            return Verdict::Reject;
        }
        self.out.push_back(Output::Event(Event::Bench {
            topic: message.topic,
            from: source.to_string(),
            seq: message.seq,
            ts: message.ts,
            bytes: message.text.len(),
        }));
        Verdict::Accept
    }
}
