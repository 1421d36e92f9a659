//! `/weft/dm/1` both ways: queueing a message in the outbox, storing and acknowledging what
//! arrives (once it is on disk), settling the outbox when acknowledgements come back, and
//! giving up on sessions that stopped making progress. [`super::delivery`] decides; this
//! file writes what a message became and tells whoever waits.

use libp2p::PeerId;
use weft_proto::MessageId;
use weft_proto::api::{DeliveryState, Direction, Event, Kind, Message};
use weft_proto::dm::{AckOutcome, DirectMessage, DmAck, check_text};

use super::commit::Durable;
use super::delivery::{ACK_TIMEOUT, Ending, Settled};
use super::io::{Delivery, Now, Output, SessionId};
use super::membership::not_in_mesh;
use super::{Core, short};
use crate::network::NodeError;
use crate::network::handle::text_refused;
use crate::store::outbox::OutboxEntry;
use crate::store::write::Write;

/// How long a message waits for its recipient before a failed dial to it is reported to
/// whoever waits for the message.
pub const UNREACHABLE_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

impl Core {
    /// Queues a new direct message for `to` in the outbox and history; the caller hears
    /// back once that is on disk (the shell holds its answer until then).
    pub fn send(&mut self, to: PeerId, text: String, now: Now) -> Result<MessageId, NodeError> {
        self.queue_direct(to, text, false, now)
    }

    /// Queues a direct message for `to` in the outbox, and in history unless it is a
    /// benchmark message (`bench`).
    pub(super) fn queue_direct(
        &mut self,
        to: PeerId,
        text: String,
        bench: bool,
        now: Now,
    ) -> Result<MessageId, NodeError> {
        check_text(&text).map_err(text_refused)?;
        if to == self.me.peer {
            return Err(NodeError::Invalid(
                "cannot send a message to this node itself".into(),
            ));
        }
        if let Some(e) = self.removed_error() {
            return Err(e);
        }
        if !self.admits(&to) {
            return Err(match self.mesh.id() {
                None => not_in_mesh(),
                Some(mesh) => NodeError::Forbidden(format!(
                    "{to} is not a member of mesh {mesh}; admit it with `weft members add` or an invite"
                )),
            });
        }
        let ts = self.me.clock.tick(now.unix_us);
        let (from, to_bytes) = (self.me.peer.to_bytes(), to.to_bytes());
        let message = if bench {
            DirectMessage::bench(&from, &to_bytes, ts, text)
        } else {
            DirectMessage::new(&from, &to_bytes, ts, text)
        };
        let id = message.id;
        let record = (!bench).then(|| Message {
            id,
            kind: Kind::Direct,
            direction: Direction::Out,
            from: self.me.peer.to_string(),
            to: Some(to.to_string()),
            topic: None,
            ts,
            text: message.text.clone(),
            state: Some(DeliveryState::Queued),
        });
        self.commit.write(Write::PutOutbox(OutboxEntry {
            to: to.to_string(),
            message,
            held: false,
        }));
        match record {
            Some(record) => self.commit.write(Write::InsertHistory(Box::new(record))),
            None => self.delivery.mark_bench(id),
        }
        self.delivery.queue(to, id, ts, now.at);
        // On the wire at once when its recipient is connected: the session reads it from
        // here while its write is still on its way to disk.
        self.pump(now);
        Ok(id)
    }

    /// Gives up on sessions whose messages have waited [`ACK_TIMEOUT`] without any
    /// acknowledgement; their messages go back to the queue.
    pub(super) fn expire_sessions(&mut self, now: Now) {
        for peer in self.delivery.stuck(now.at) {
            tracing::warn!(peer = %short(&peer), "no acknowledgement for {ACK_TIMEOUT:?}; retrying on a new stream");
            self.out.push_back(Output::Retire(peer));
        }
    }

    /// A direct message from `peer` on inbound session `session`: answered at once when
    /// refused, else once its history write is on disk, whatever it is (a duplicate's first
    /// copy may still be on its way there).
    pub(super) fn on_direct(
        &mut self,
        peer: PeerId,
        session: SessionId,
        message: DirectMessage,
        now: Now,
    ) {
        let id = message.id;
        if message.bench {
            return self.take_bench_dm(peer, session, message, now);
        }
        match self.take_direct(peer, message, now) {
            Err(reason) => {
                let ack = DmAck::new(id, AckOutcome::Rejected { reason });
                self.out.push_back(Output::Ack { session, ack });
            }
            Ok(received) => self.commit.after(Durable::Ack {
                session,
                ack: DmAck::new(id, AckOutcome::Stored),
                received,
            }),
        }
    }

    /// Checks a direct message from `peer` (over `/weft/dm/1` or out of a sealed box) and
    /// queues it for history. `Ok` with the message when it went to history (the writer tells
    /// whether it was new there), `Ok(None)` when an earlier copy is still on its way to
    /// disk; `Err` with the reason to answer when it is refused.
    pub(super) fn take_direct(
        &mut self,
        peer: PeerId,
        message: DirectMessage,
        now: Now,
    ) -> Result<Option<Box<Message>>, String> {
        if !self.admits(&peer) {
            self.reject("direct", &peer, "acl", &"direct message from a non-member");
            return Err("not a member of this node's mesh".to_string());
        }
        if let Err(e) = message.validate(&peer.to_bytes(), &self.me.peer.to_bytes()) {
            self.reject("direct", &peer, e.reason(), &e);
            return Err(e.to_string());
        }
        if message.bench {
            let why = "a benchmark message out of a sealed box (they travel only on /weft/dm/1)";
            self.reject("direct", &peer, "bench", &why);
            return Err(why.to_string());
        }
        if message.ts < self.oldest_kept(now) {
            let why = "a direct message older than history keeps";
            self.reject("direct", &peer, "too_old", &why);
            return Err("older than this node keeps messages".to_string());
        }
        self.me.clock.observe(message.ts, now.unix_us);
        if self.commit.holds_message(&message.id) {
            return Ok(None);
        }
        let record = Box::new(Message {
            id: message.id,
            kind: Kind::Direct,
            direction: Direction::In,
            from: peer.to_string(),
            to: Some(self.me.peer.to_string()),
            topic: None,
            ts: message.ts,
            text: message.text,
            state: None,
        });
        self.commit.write(Write::InsertHistory(record.clone()));
        Ok(Some(record))
    }

    /// `peer` acknowledged `ack.id` on this node's session to it.
    pub(super) fn on_ack(&mut self, peer: PeerId, ack: DmAck, now: Now) {
        if let Some(settled) = self.delivery.acked(&peer, ack.id, ack.outcome, now.at) {
            self.settled(peer, ack.id, settled);
        }
    }

    /// Outbox message `id` did not go on the wire to `peer`: it left the outbox meanwhile
    /// (no `error`), or it is retried after a backoff.
    pub(super) fn on_unsent(
        &mut self,
        peer: PeerId,
        id: MessageId,
        error: Option<String>,
        now: Now,
    ) {
        match error {
            None => self.delivery.vanished(&peer, id),
            Some(e) => {
                tracing::debug!(id = %id.short(), error = %e, "a message did not go out; retrying later");
                self.delivery.send_failed(&peer, id, now.at);
            }
        }
    }

    /// Settles every outbox message for `peer` as refused: it was removed from the mesh and
    /// nothing will reach it any more.
    pub(super) fn reject_outbox_to(&mut self, peer: PeerId, now: Now) {
        for (id, settled) in self.delivery.removed(&peer, now.at) {
            self.settled(peer, id, settled);
        }
    }

    /// Message `id` to `peer` leaves the outbox, as `ending` says: acknowledged (on
    /// `/weft/dm/1`), receipted (in a sealed box) or expired. Nothing happens when it was not
    /// there (a late copy, or something this node never sent to that peer).
    pub(super) fn settle(&mut self, peer: PeerId, id: MessageId, ending: Ending, now: Now) {
        if let Some(settled) = self.delivery.settle(&peer, id, ending, now.at) {
            self.settled(peer, id, settled);
        }
    }

    /// `peer` could not be dialled: whoever waits for its queued messages hears so, unless a
    /// connected mailbox can hold them for it. Not for messages younger than
    /// [`UNREACHABLE_AFTER`]: a member just admitted, or just restarted, has no address this
    /// node could dial yet, and connects by itself a moment later.
    pub(super) fn unreachable(&mut self, peer: PeerId, now: Now) {
        if !self.mailboxes_except(&peer).is_empty() {
            return;
        }
        let settled_in = UNREACHABLE_AFTER.as_micros() as u64;
        let waited = |written: u64| now.unix_us.saturating_sub(written) >= settled_in;
        let due: Vec<MessageId> = self
            .delivery
            .waiting_for(&peer)
            .into_iter()
            .filter(|id| self.delivery.written(id).is_some_and(waited))
            .collect();
        for id in due {
            self.out.push_back(Output::Delivery {
                id,
                delivery: Delivery::Unreachable,
            });
        }
    }

    /// Records that message `id` to `peer` left the outbox as `settled`, and tells whoever
    /// waits.
    /// A benchmark message is in no history and no event says it settled: only its caller
    /// hears.
    pub(super) fn settled(&mut self, peer: PeerId, id: MessageId, settled: Settled) {
        let bench = self.delivery.forget_bench(&id);
        // History first, then the outbox: a crash in between resends, and the recipient
        // answers `Duplicate`.
        if !bench {
            self.commit.write(Write::SetState(id, settled.state()));
        }
        self.commit.write(Write::RemoveOutbox(id));
        let delivery = match settled {
            Settled::Delivered { latency } => {
                let latency = latency.unwrap_or_default();
                if !bench {
                    self.out.push_back(Output::Event(Event::Delivered {
                        id,
                        to: peer.to_string(),
                        latency_ms: latency.as_secs_f64() * 1000.0,
                    }));
                }
                Delivery::Delivered { latency }
            }
            // A refused benchmark run would log each message; its caller counts them.
            Settled::Refused { reason } if bench => Delivery::Rejected { reason },
            Settled::Refused { reason } => {
                tracing::warn!(peer = %short(&peer), id = %id.short(), %reason, "recipient refused a message");
                Delivery::Rejected { reason }
            }
            Settled::Expired if bench => Delivery::Rejected {
                reason: "a benchmark message not acknowledged within its lifetime".to_string(),
            },
            Settled::Expired => {
                tracing::warn!(peer = %short(&peer), id = %id.short(), "a message expired undelivered");
                let reason = "its lifetime ran out before the recipient got it".to_string();
                Delivery::Rejected { reason }
            }
        };
        self.out.push_back(Output::Delivery { id, delivery });
    }
}
