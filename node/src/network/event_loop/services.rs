//! [`ServiceSessions`]: the `/weft/service/1` streams, carried out for the core: one
//! outbound session per provider this node calls (opened by the first call to it), and the
//! inbound sessions of members calling this node, on which the core's replies and
//! heartbeats go out. What the session tasks report comes back on
//! [`ServiceSessions::events`].

use std::collections::HashMap;

use libp2p::PeerId;
use libp2p_stream::{Control, IncomingStreams};
use tokio::sync::mpsc;
use weft_proto::service::{Call, ProviderFrame};

use super::Shared;
use crate::core::io::SessionId;
use crate::core::short;
use crate::network::dm_stream::SessionIds;
use crate::network::service_stream::{self, ServiceEvent};
use crate::network::tasks::Spawner;

/// Capacity of the channel from session tasks to the loop.
const EVENT_CAPACITY: usize = 1024;

/// Calls one outbound session may have waiting to be written.
const CALL_CAPACITY: usize = 256;

/// The service sessions, both ways.
pub(super) struct ServiceSessions {
    control: Control,
    ids: SessionIds,
    outbound: HashMap<PeerId, (SessionId, mpsc::Sender<Call>)>,
    inbound: HashMap<SessionId, (PeerId, mpsc::Sender<ProviderFrame>)>,
    events_tx: mpsc::Sender<ServiceEvent>,
    /// What the session tasks report.
    pub(super) events: mpsc::Receiver<ServiceEvent>,
    incoming: Option<IncomingStreams>,
}

impl ServiceSessions {
    /// Registers `/weft/service/1` on `control`; session ids come from `ids`.
    pub(super) fn new(
        mut control: Control,
        ids: SessionIds,
    ) -> Result<ServiceSessions, libp2p_stream::AlreadyRegistered> {
        let incoming = control.accept(service_stream::PROTOCOL)?;
        let (events_tx, events) = mpsc::channel(EVENT_CAPACITY);
        Ok(ServiceSessions {
            control,
            ids,
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            events_tx,
            events,
            incoming: Some(incoming),
        })
    }

    /// Starts accepting members' inbound sessions (on the runtime; once the loop runs).
    pub(super) fn start(&mut self, tasks: &Spawner, shared: &Shared) {
        if let Some(incoming) = self.incoming.take() {
            let gate = (shared.door.clone(), shared.tally.clone());
            let accept = service_stream::accept(
                incoming,
                self.ids.clone(),
                self.events_tx.clone(),
                gate,
                tasks.clone(),
            );
            tasks.spawn("service accept", accept);
        }
    }

    /// Puts `call` on the session to `peer`, starting one if there is none. False when the
    /// session just ended (its task is reporting it).
    pub(super) fn call(&mut self, peer: PeerId, call: Call, tasks: &Spawner) -> bool {
        if let Some((_, tx)) = self.outbound.get(&peer).filter(|(_, tx)| !tx.is_closed()) {
            if tx.try_send(call).is_ok() {
                return true;
            }
            self.outbound.remove(&peer);
            return false;
        }
        let session = self.ids.next();
        let (tx, rx) = mpsc::channel(CALL_CAPACITY);
        let task = service_stream::outbound(
            self.control.clone(),
            peer,
            session,
            rx,
            self.events_tx.clone(),
        );
        tasks.spawn("service outbound", task);
        let sent = tx.try_send(call).is_ok();
        self.outbound.insert(peer, (session, tx));
        sent
    }

    /// Outbound session `session` to `peer` ended.
    pub(super) fn outbound_closed(&mut self, peer: &PeerId, session: SessionId) {
        if self.outbound.get(peer).is_some_and(|(s, _)| *s == session) {
            self.outbound.remove(peer);
        }
    }

    /// A member opened inbound session `session`; frames for it go to `frames`.
    pub(super) fn inbound_opened(
        &mut self,
        peer: PeerId,
        session: SessionId,
        frames: mpsc::Sender<ProviderFrame>,
    ) {
        self.inbound.insert(session, (peer, frames));
    }

    /// Inbound session `session` ended.
    pub(super) fn inbound_closed(&mut self, session: SessionId) {
        self.inbound.remove(&session);
    }

    /// Sends `frame` to the caller of inbound session `session`, if it is still open.
    pub(super) fn answer_caller(&mut self, session: SessionId, frame: ProviderFrame) {
        if let Some((peer, frames)) = self.inbound.get(&session)
            && frames.try_send(frame).is_err()
        {
            // The caller does not read its replies; it will call again.
            tracing::debug!(peer = %short(peer), "a service frame dropped: session full or closed");
        }
    }

    /// Sends `frame` (a heartbeat) on every inbound session.
    pub(super) fn answer_every_caller(&mut self, frame: &ProviderFrame) {
        for (_, frames) in self.inbound.values() {
            let _ = frames.try_send(frame.clone());
        }
    }
}
