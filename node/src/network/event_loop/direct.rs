//! `/weft/dm/1` both ways: queueing and sending from the outbox over per-peer sessions,
//! storing and acknowledging what arrives, settling the outbox when acknowledgements come
//! back, and retiring sessions that stopped making progress.

use std::time::Instant;

use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};
use weft_proto::MessageId;
use weft_proto::api::{DeliveryState, Direction, Event, Kind, Message};
use weft_proto::dm::{AckOutcome, DirectMessage, DmAck, check_text};

use super::{EventLoop, MAX_INBOUND_SESSIONS_PER_PEER, short};
use crate::core::delivery::{ACK_TIMEOUT, Ending, Settled};
use crate::delivery::clock::wall_us;
use crate::network::behaviour::MAX_DM_IN_FLIGHT;
use crate::network::dm_stream::{self, DmEvent, SessionId};
use crate::network::group_flush::Durable;
use crate::network::handle::{Delivery, NodeError, Queued, text_refused};
use crate::store::outbox::{OutboxEntry, Outgoing};
use crate::store::write::Write;

impl EventLoop {
    /// Queues a new direct message in the outbox and history; the caller hears back once
    /// that is on disk.
    pub(super) fn queue_direct(
        &mut self,
        to: PeerId,
        text: String,
        wait: bool,
        reply: oneshot::Sender<Result<Queued, NodeError>>,
    ) {
        if let Err(e) = check_text(&text) {
            let _ = reply.send(Err(text_refused(e)));
            return;
        }
        if to == self.local {
            let _ = reply.send(Err(NodeError::Invalid(
                "cannot send a message to this node itself".into(),
            )));
            return;
        }
        if let Some(e) = self.removed_error() {
            let _ = reply.send(Err(e));
            return;
        }
        if !self.admits(&to) {
            let _ = reply.send(Err(match self.mesh_id() {
                None => super::membership::not_in_mesh(),
                Some(mesh) => NodeError::Forbidden(format!(
                    "{to} is not a member of mesh {mesh}; admit it with `weft members add` or an invite"
                )),
            }));
            return;
        }
        let ts = self.clock.tick(wall_us());
        let message = DirectMessage::new(&self.local.to_bytes(), &to.to_bytes(), ts, text);
        let id = message.id;
        let record = Message {
            id,
            kind: Kind::Direct,
            direction: Direction::Out,
            from: self.local.to_string(),
            to: Some(to.to_string()),
            topic: None,
            ts,
            text: message.text.clone(),
            state: Some(DeliveryState::Queued),
        };
        self.flush.write(Write::PutOutbox(OutboxEntry {
            to: to.to_string(),
            message,
            held: false,
        }));
        self.flush.write(Write::InsertHistory(Box::new(record)));
        self.metrics.sent("direct");
        self.deliveries.queue(to, id, ts, Instant::now());
        let delivery = wait.then(|| {
            let (tx, rx) = oneshot::channel();
            self.waiters.insert(id, tx);
            rx
        });
        self.flush.push(Durable::Queued {
            reply,
            queued: Queued { id, delivery },
        });
    }

    /// Puts an outbox message on the wire, on the peer's session (opened if needed); the
    /// session reads it from disk when its write is no longer queued here.
    pub(super) fn send_direct(&mut self, peer: PeerId, id: MessageId) {
        let sent = self.session_to(peer).try_send(self.flush.outgoing(id));
        if sent.is_err() {
            // The session just ended (its task is reporting it); retry on a new one.
            self.outbound.remove(&peer);
            self.deliveries.send_failed(&peer, id, Instant::now());
        }
    }

    /// The channel into `peer`'s outbound session, starting one if there is none.
    fn session_to(&mut self, peer: PeerId) -> mpsc::Sender<Outgoing> {
        if let Some((_, tx)) = self.outbound.get(&peer).filter(|(_, tx)| !tx.is_closed()) {
            return tx.clone();
        }
        let session = self.session_ids.next();
        let (tx, rx) = mpsc::channel(MAX_DM_IN_FLIGHT);
        let session_task = dm_stream::outbound(
            self.control.clone(),
            peer,
            session,
            (rx, self.store.outbox.clone()),
            self.dm_events_tx.clone(),
        );
        self.tasks.spawn("dm outbound", session_task);
        self.outbound.insert(peer, (session, tx.clone()));
        tx
    }

    /// Gives up on sessions whose messages have waited [`ACK_TIMEOUT`] without any
    /// acknowledgement; their messages go back to the queue.
    pub(super) fn expire_sessions(&mut self, now: Instant) {
        for peer in self.deliveries.stuck(now) {
            tracing::warn!(peer = %short(&peer), "no acknowledgement for {ACK_TIMEOUT:?}; retrying on a new stream");
            self.outbound.remove(&peer);
        }
    }

    /// Sends an acknowledgement on an inbound session, if it is still open.
    pub(super) fn answer(&mut self, session: SessionId, ack: DmAck) {
        if let Some((peer, acks)) = self.inbound.get(&session) {
            if acks.try_send(ack).is_err() {
                // The sender does not read its acknowledgements; it will retry.
                tracing::debug!(peer = %short(peer), "acknowledgement dropped: session full or closed");
            }
        }
    }

    pub(super) fn on_dm_event(&mut self, event: DmEvent) {
        match event {
            DmEvent::Ack { peer, ack } => self.on_ack(peer, ack),
            DmEvent::OutboundClosed {
                peer,
                session,
                reason,
            } => {
                tracing::debug!(peer = %short(&peer), %reason, "outbound session closed");
                if self.outbound.get(&peer).is_some_and(|(s, _)| *s == session) {
                    self.outbound.remove(&peer);
                }
                self.deliveries.session_lost(&peer, Instant::now());
            }
            DmEvent::InboundOpened {
                peer,
                session,
                acks,
            } => {
                let open = self.inbound.values().filter(|(p, _)| *p == peer).count();
                if open >= MAX_INBOUND_SESSIONS_PER_PEER {
                    // Dropping `acks` ends the session.
                    self.reject(
                        "direct",
                        &peer,
                        "too_many_streams",
                        &"too many /weft/dm/1 streams",
                    );
                    return;
                }
                self.inbound.insert(session, (peer, acks));
            }
            DmEvent::InboundClosed { session } => {
                self.inbound.remove(&session);
            }
            DmEvent::Message {
                peer,
                session,
                message,
            } => self.on_direct_message(peer, session, message),
            DmEvent::Unsent { peer, id, error } => match error {
                // It left the outbox meanwhile (settled, or expired).
                None => self.deliveries.vanished(&peer, id),
                Some(e) => {
                    tracing::error!(id = %id.short(), error = %e, "cannot read outbox entry; retrying later");
                    self.deliveries.send_failed(&peer, id, Instant::now());
                }
            },
            DmEvent::Refused { peer, error } => {
                // Garbage or an oversize frame: count it and drop the connection; every
                // other peer is unaffected.
                self.reject("direct", &peer, error.reason(), &error);
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    fn on_direct_message(&mut self, peer: PeerId, session: SessionId, message: DirectMessage) {
        let id = message.id;
        match self.take_direct(peer, message) {
            Err(reason) => {
                self.answer(session, DmAck::new(id, AckOutcome::Rejected { reason }));
            }
            // Answered once its history write is on disk, whatever it is: a duplicate's first
            // copy may still be on its way there.
            Ok(received) => self.flush.push(Durable::Ack {
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
    ) -> Result<Option<Box<Message>>, String> {
        if !self.admits(&peer) {
            self.reject("direct", &peer, "acl", &"direct message from a non-member");
            return Err("not a member of this node's mesh".to_string());
        }
        if let Err(e) = message.validate(&peer.to_bytes(), &self.local.to_bytes()) {
            self.reject("direct", &peer, e.reason(), &e);
            return Err(e.to_string());
        }
        if message.ts < self.oldest_kept() {
            self.reject(
                "direct",
                &peer,
                "too_old",
                &"a direct message older than history keeps",
            );
            return Err("older than this node keeps messages".to_string());
        }
        self.clock.observe(message.ts, wall_us());
        if self.flush.holds_message(&message.id) {
            return Ok(None);
        }
        let record = Box::new(Message {
            id: message.id,
            kind: Kind::Direct,
            direction: Direction::In,
            from: peer.to_string(),
            to: Some(self.local.to_string()),
            topic: None,
            ts: message.ts,
            text: message.text,
            state: None,
        });
        self.flush.write(Write::InsertHistory(record.clone()));
        Ok(Some(record))
    }

    /// Settles every outbox message for `peer` as refused: it was removed from the mesh and
    /// nothing will reach it any more.
    pub(super) fn reject_outbox_to(&mut self, peer: PeerId) {
        for (id, settled) in self.deliveries.removed(&peer, Instant::now()) {
            self.settled(peer, id, settled);
        }
    }

    fn on_ack(&mut self, peer: PeerId, ack: DmAck) {
        if let Some(settled) = self
            .deliveries
            .acked(&peer, ack.id, ack.outcome, Instant::now())
        {
            self.settled(peer, ack.id, settled);
        }
    }

    /// Message `id` to `peer` leaves the outbox, as `ending` says: acknowledged (on
    /// `/weft/dm/1`), receipted (in a sealed box) or expired. Nothing happens when it was not
    /// there (a late copy, or something this node never sent to that peer).
    pub(super) fn settle(&mut self, peer: PeerId, id: MessageId, ending: Ending) {
        if let Some(settled) = self.deliveries.settle(&peer, id, ending, Instant::now()) {
            self.settled(peer, id, settled);
        }
    }

    /// Records that message `id` to `peer` left the outbox as `settled`, and tells whoever
    /// waits.
    pub(super) fn settled(&mut self, peer: PeerId, id: MessageId, settled: Settled) {
        // History first, then the outbox: a crash in between resends, and the recipient
        // answers `Duplicate`.
        self.flush.write(Write::SetState(id, settled.state()));
        self.flush.write(Write::RemoveOutbox(id));
        let delivery = match settled {
            Settled::Delivered { latency } => {
                let latency = latency.unwrap_or_default();
                self.metrics.delivery_latency.observe(latency.as_secs_f64());
                let _ = self.events.send(Event::Delivered {
                    id,
                    to: peer.to_string(),
                    latency_ms: latency.as_secs_f64() * 1000.0,
                });
                Delivery::Delivered { latency }
            }
            Settled::Refused { reason } => {
                tracing::warn!(peer = %short(&peer), id = %id.short(), %reason, "recipient refused a message");
                Delivery::Rejected { reason }
            }
            Settled::Expired => {
                tracing::warn!(peer = %short(&peer), id = %id.short(), "a message expired undelivered");
                let reason = "its lifetime ran out before the recipient got it".to_string();
                Delivery::Rejected { reason }
            }
        };
        if let Some(waiter) = self.waiters.remove(&id) {
            let _ = waiter.send(delivery);
        }
    }
}
