//! [`Streams`]: the `/weft/service/1` and `/weft/queue/1` sessions, carried out for the
//! core: one outbound session per provider this node calls and per producer it works
//! from (opened by the first frame to it), and the inbound sessions of members calling
//! this node or working its queues. What the session tasks report comes back as inputs.

use libp2p_stream::Control;

use super::{EventLoop, Shared};
use crate::core::io::SessionId;
use crate::core::io::{Input, Output};
use crate::core::short;
use crate::network::handle::{ServeRequest, WorkItem};
use crate::network::queue_stream::{self, QueueEvent, QueueSessions, ToWorker};
use crate::network::service_stream::{self, ServiceEvent, ServiceSessions};
use crate::network::session_stream::{SessionEvent, Unsent};
use crate::network::tasks::Spawner;
use crate::store::queues::QueueTrees;

/// The service and queue sessions, both ways.
pub(super) struct Streams {
    pub(super) calls: ServiceSessions,
    pub(super) queues: QueueSessions,
    trees: QueueTrees,
}

impl Streams {
    /// Registers both protocols on `control`; items go out read from `trees`.
    pub(super) fn new(
        control: Control,
        trees: QueueTrees,
    ) -> Result<Streams, libp2p_stream::AlreadyRegistered> {
        Ok(Streams {
            calls: ServiceSessions::new(service_stream::PROTOCOL, control.clone())?,
            queues: QueueSessions::new(queue_stream::PROTOCOL, control)?,
            trees,
        })
    }

    /// Starts accepting members' inbound sessions (on the runtime; once the loop runs).
    pub(super) fn start(&mut self, tasks: &Spawner, shared: &Shared) {
        let gate = || (shared.door.clone(), shared.tally.clone());
        let plain = std::sync::Arc::new(|frame: weft_proto::service::ProviderFrame| frame.encode());
        self.calls.start(tasks, gate(), plain);
        let items = queue_stream::encoder(self.trees.clone());
        self.queues.start(tasks, gate(), items);
    }
}

impl EventLoop {
    /// Carries out a service or queue output.
    pub(super) fn carry_out_stream(&mut self, output: Output, tasks: &Spawner) {
        let streams = &mut self.services;
        match output {
            Output::CallOut { peer, call } => {
                if streams.calls.send(peer, call, tasks).is_err() {
                    self.input(Input::ServiceLost { peer });
                }
            }
            Output::ToCaller { session, frame } => {
                if streams.calls.answer(session, frame) == Err(Unsent::Full) {
                    self.shared.tally.add_kind("service", "session_unread");
                }
            }
            Output::Alive(frame) => {
                for _ in streams.calls.answer_all(&frame) {
                    self.shared.tally.add_kind("service", "session_unread");
                }
            }
            Output::Serve {
                handler,
                serve,
                body,
                ..
            } => {
                if !self.local.serve(handler, ServeRequest { serve, body }) {
                    self.core.withdraw(handler, super::now());
                }
            }
            Output::OpenToProducer { peer } => streams.queues.open(peer, tasks),
            Output::ToProducer { peer, frame } => match streams.queues.send_on(peer, frame) {
                Ok(()) | Err(Unsent::NotOpen) => {}
                Err(Unsent::Closed | Unsent::Full) => self.input(Input::ProducerLost { peer }),
            },
            Output::ToWorker { session, frame } => {
                self.write_to_worker(session, ToWorker::Frame(frame));
            }
            Output::Deliver {
                session,
                queue,
                lease,
            } => self.write_to_worker(session, ToWorker::Item { queue, lease }),
            Output::Work {
                worker,
                run,
                lease,
                body,
            } => {
                if !self.local.work(worker, WorkItem { run, lease, body }) {
                    self.core.stop_work(worker);
                }
            }
            other => unreachable!("not a stream output: {other:?}"),
        }
    }

    /// Writes `out` to a worker's session. One that ended already takes its leases back as
    /// its close comes in; one ended now (its worker does not read) takes them back now.
    fn write_to_worker(&mut self, session: SessionId, out: ToWorker) {
        if self.services.queues.answer(session, out) == Err(Unsent::Full) {
            self.shared.tally.add_kind("queue", "session_unread");
            self.input(Input::WorkerGone { session });
        }
    }

    /// What a `/weft/service/1` session task reported.
    pub(super) fn on_service_event(&mut self, event: ServiceEvent) {
        match event {
            SessionEvent::Frame {
                peer,
                session,
                frame,
            } => {
                if self.services.calls.is_outbound(&peer, session) {
                    self.input(Input::ServiceFrame { peer, frame });
                }
            }
            SessionEvent::OutboundClosed {
                peer,
                session,
                reason,
            } => {
                tracing::debug!(peer = %short(&peer), %reason, "service session closed");
                if self.services.calls.outbound_closed(&peer, session) {
                    self.input(Input::ServiceLost { peer });
                }
            }
            SessionEvent::InboundOpened {
                peer,
                session,
                writer,
            } => self.services.calls.inbound_opened(peer, session, writer),
            SessionEvent::Received {
                peer,
                session,
                frame,
            } => {
                if self.services.calls.is_inbound(session) {
                    let call = frame;
                    self.input(Input::ServiceCall {
                        peer,
                        session,
                        call,
                    });
                }
            }
            SessionEvent::Refused { peer, error } => self.refused_frame("service", peer, error),
            SessionEvent::InboundClosed { session } => {
                self.services.calls.inbound_closed(session);
            }
        }
    }

    /// What a `/weft/queue/1` session task reported.
    pub(super) fn on_queue_event(&mut self, event: QueueEvent) {
        match event {
            SessionEvent::Frame {
                peer,
                session,
                frame,
            } => {
                if self.services.queues.is_outbound(&peer, session) {
                    self.input(Input::ProducerFrame { peer, frame });
                }
            }
            SessionEvent::OutboundClosed {
                peer,
                session,
                reason,
            } => {
                tracing::debug!(peer = %short(&peer), %reason, "queue session closed");
                if self.services.queues.outbound_closed(&peer, session) {
                    self.input(Input::ProducerLost { peer });
                }
            }
            SessionEvent::InboundOpened {
                peer,
                session,
                writer,
            } => self.services.queues.inbound_opened(peer, session, writer),
            SessionEvent::Received {
                peer,
                session,
                frame,
            } => {
                if self.services.queues.is_inbound(session) {
                    self.input(Input::WorkerFrame {
                        peer,
                        session,
                        frame,
                    });
                }
            }
            SessionEvent::Refused { peer, error } => self.refused_frame("queue", peer, error),
            SessionEvent::InboundClosed { session } => {
                if self.services.queues.inbound_closed(session) {
                    self.input(Input::WorkerGone { session });
                }
            }
        }
    }

    /// A peer's frame was garbage or oversize: counted, and its connection dropped.
    fn refused_frame(&mut self, kind: &str, peer: libp2p::PeerId, error: weft_proto::DecodeError) {
        self.shared.tally.add_kind(kind, error.reason());
        tracing::warn!(peer = %short(&peer), reason = error.reason(), "refused input from peer: {error}");
        let _ = self.swarm.disconnect_peer_id(peer);
    }
}
