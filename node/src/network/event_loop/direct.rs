//! `/weft/dm/1` both ways: queueing and sending from the outbox, storing and acknowledging
//! what arrives, and settling the outbox when acknowledgements come back.

use std::time::Instant;

use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use tokio::sync::oneshot;
use weft_proto::MessageId;
use weft_proto::api::{DeliveryState, Direction, Event, Kind, Message};
use weft_proto::dm::{AckOutcome, DirectMessage, DmAck, check_text};

use super::{EventLoop, short};
use crate::delivery::clock::wall_us;
use crate::network::dm_codec::DmRequest;
use crate::network::group_flush::Durable;
use crate::network::handle::text_refused;
use crate::network::handle::{Delivery, NodeError, Queued};
use crate::store::outbox::OutboxEntry;
use crate::store::write::Write;

impl EventLoop {
    /// Writes a new direct message to the outbox and history; the caller hears back after
    /// the next flush.
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
        }));
        self.flush.write(Write::InsertHistory(Box::new(record)));
        self.outbox.enqueue(to, id);
        self.queued_at.insert(id, Instant::now());
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

    /// Puts an outbox message on the wire.
    pub(super) fn send_direct(&mut self, peer: PeerId, id: MessageId) {
        let entry = match self.flush.outbox_entry(&id) {
            Some(queued) => Ok(Some(queued.clone())),
            None => self.store.outbox.entry(&id),
        };
        match entry {
            Ok(Some(entry)) => {
                let request = self
                    .swarm
                    .behaviour_mut()
                    .dm
                    .send_request(&peer, DmRequest::Message(entry.message));
                self.sending.insert(request, (peer, id));
            }
            Ok(None) => {
                self.outbox.acked(&peer, &id);
            }
            Err(e) => {
                tracing::error!(id = %id.short(), error = %e, "cannot read outbox entry; retrying later");
                self.outbox.failed(&peer, id, Instant::now());
            }
        }
    }

    pub(super) fn on_dm_event(&mut self, event: request_response::Event<DmRequest, DmAck>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => match request {
                DmRequest::Message(message) => self.on_direct_message(peer, message, channel),
                DmRequest::Refused(e) => {
                    // Garbage or an oversize frame: count it and drop the connection; every
                    // other peer is unaffected.
                    self.reject(&peer, e.reason(), &e);
                    drop(channel);
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
            },
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.on_ack(peer, request_id, response),
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some((_, id)) = self.sending.remove(&request_id) {
                    tracing::debug!(peer = %short(&peer), id = %id.short(), %error, "send failed; will retry");
                    self.outbox.failed(&peer, id, Instant::now());
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(peer = %short(&peer), %error, "inbound direct message failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_direct_message(
        &mut self,
        peer: PeerId,
        message: DirectMessage,
        channel: ResponseChannel<DmAck>,
    ) {
        if let Err(e) = message.validate(&peer.to_bytes(), &self.local.to_bytes()) {
            self.reject(&peer, e.reason(), &e);
            let ack = DmAck::new(
                message.id,
                AckOutcome::Rejected {
                    reason: e.to_string(),
                },
            );
            let _ = self.swarm.behaviour_mut().dm.send_response(channel, ack);
            return;
        }
        self.clock.observe(message.ts, wall_us());
        let record = Message {
            id: message.id,
            kind: Kind::Direct,
            direction: Direction::In,
            from: peer.to_string(),
            to: Some(self.local.to_string()),
            topic: None,
            ts: message.ts,
            text: message.text,
            state: None,
        };
        match self.store.history.contains(&record.id) {
            Ok(stored) => {
                let new = !stored && !self.flush.holds_message(&record.id);
                let outcome = if new {
                    AckOutcome::Stored
                } else {
                    AckOutcome::Duplicate
                };
                let ack = DmAck::new(record.id, outcome);
                let event = new.then(|| Event::Message(record.clone()));
                if new {
                    self.flush.write(Write::InsertHistory(Box::new(record)));
                }
                // A duplicate is answered after the next flush too: its first copy may still
                // be on its way to disk.
                self.flush.push(Durable::Ack {
                    channel,
                    ack,
                    event,
                });
            }
            Err(e) => {
                // Not acknowledged: the sender keeps it and retries.
                *self.rejected.entry("storage".into()).or_default() += 1;
                tracing::error!(peer = %short(&peer), error = %e, "cannot read history");
                drop(channel);
            }
        }
    }

    fn on_ack(&mut self, peer: PeerId, request: OutboundRequestId, ack: DmAck) {
        let Some((_, id)) = self.sending.remove(&request) else {
            return;
        };
        if ack.id != id {
            self.reject(
                &peer,
                "invalid",
                &format!(
                    "acknowledgement names {} for {}",
                    ack.id.short(),
                    id.short()
                ),
            );
            self.outbox.failed(&peer, id, Instant::now());
            return;
        }
        let (state, delivery) = match ack.outcome {
            AckOutcome::Stored | AckOutcome::Duplicate => {
                let latency = self
                    .queued_at
                    .get(&id)
                    .map(|t| t.elapsed())
                    .unwrap_or_default();
                (DeliveryState::Delivered, Delivery::Delivered { latency })
            }
            AckOutcome::Rejected { reason } => {
                tracing::warn!(peer = %short(&peer), id = %id.short(), %reason, "recipient refused a message");
                (DeliveryState::Rejected, Delivery::Rejected { reason })
            }
        };
        // History first, then the outbox: a crash in between resends, and the recipient
        // answers `Duplicate`.
        self.flush.write(Write::SetState(id, state));
        self.flush.write(Write::RemoveOutbox(id));
        self.outbox.acked(&peer, &id);
        self.queued_at.remove(&id);
        if let Delivery::Delivered { latency } = &delivery {
            let _ = self.events.send(Event::Delivered {
                id,
                to: peer.to_string(),
                latency_ms: latency.as_secs_f64() * 1000.0,
            });
        }
        if let Some(waiter) = self.waiters.remove(&id) {
            let _ = waiter.send(delivery);
        }
    }
}
