//! [`Sessions`]: the `/weft/dm/1` streams, carried out for the core: one outbound session
//! per recipient (opened when the first message for it goes out, given up when the core
//! says it stopped acknowledging) and the inbound sessions peers opened, whose
//! acknowledgements the core decides. What the session tasks report comes back to the loop
//! on [`Sessions::events`].

use std::collections::HashMap;

use libp2p::PeerId;
use libp2p_stream::{Control, IncomingStreams};
use tokio::sync::mpsc;
use weft_proto::dm::DmAck;

use crate::core::short;
use crate::network::behaviour::MAX_DM_IN_FLIGHT;
use crate::network::dm_stream::{self, DmEvent, SessionId, SessionIds};
use crate::network::tally::Tally;
use crate::network::tasks::Spawner;
use crate::store::outbox::{OutboxTree, Outgoing};

/// Capacity of the channel from session tasks to the loop.
const EVENT_CAPACITY: usize = 1024;

/// Inbound sessions one peer may hold open at once.
const MAX_INBOUND_PER_PEER: usize = 4;

/// The sessions, both ways.
pub(super) struct Sessions {
    control: Control,
    ids: SessionIds,
    outbox: OutboxTree,
    /// The session carrying messages to each recipient.
    outbound: HashMap<PeerId, (SessionId, mpsc::Sender<Outgoing>)>,
    /// Sessions carrying messages from peers: where their acknowledgements go.
    inbound: HashMap<SessionId, (PeerId, mpsc::Sender<DmAck>)>,
    events_tx: mpsc::Sender<DmEvent>,
    /// What the session tasks report.
    pub(super) events: mpsc::Receiver<DmEvent>,
    /// Inbound streams, until [`Sessions::start`] hands them to the acceptor task.
    incoming: Option<IncomingStreams>,
}

impl Sessions {
    /// Registers `/weft/dm/1` on `control`; messages whose write was applied are read from
    /// `outbox` by the session that sends them.
    pub(super) fn new(
        mut control: Control,
        outbox: OutboxTree,
    ) -> Result<Sessions, libp2p_stream::AlreadyRegistered> {
        let incoming = control.accept(dm_stream::PROTOCOL)?;
        let (events_tx, events) = mpsc::channel(EVENT_CAPACITY);
        Ok(Sessions {
            control,
            ids: SessionIds::default(),
            outbox,
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            events_tx,
            events,
            incoming: Some(incoming),
        })
    }

    /// Starts accepting inbound sessions (on the runtime; call it once the loop runs).
    pub(super) fn start(&mut self, tasks: &Spawner) {
        if let Some(incoming) = self.incoming.take() {
            let accept = dm_stream::accept(
                incoming,
                self.ids.clone(),
                self.events_tx.clone(),
                tasks.clone(),
            );
            tasks.spawn("dm accept", accept);
        }
    }

    /// Puts `message` on `peer`'s session, starting one if there is none. False when the
    /// session just ended (its task is reporting it): the message is to be retried.
    pub(super) fn send(&mut self, peer: PeerId, message: Outgoing, tasks: &Spawner) -> bool {
        if self.session_to(peer, tasks).try_send(message).is_ok() {
            return true;
        }
        self.outbound.remove(&peer);
        false
    }

    /// The channel into `peer`'s outbound session, starting one if there is none.
    fn session_to(&mut self, peer: PeerId, tasks: &Spawner) -> mpsc::Sender<Outgoing> {
        if let Some((_, tx)) = self.outbound.get(&peer).filter(|(_, tx)| !tx.is_closed()) {
            return tx.clone();
        }
        let session = self.ids.next();
        let (tx, rx) = mpsc::channel(MAX_DM_IN_FLIGHT);
        let task = dm_stream::outbound(
            self.control.clone(),
            peer,
            session,
            (rx, self.outbox.clone()),
            self.events_tx.clone(),
        );
        tasks.spawn("dm outbound", task);
        self.outbound.insert(peer, (session, tx.clone()));
        tx
    }

    /// Gives up the session to `peer`: dropping its channel ends it.
    pub(super) fn retire(&mut self, peer: &PeerId) {
        self.outbound.remove(peer);
    }

    /// Outbound session `session` to `peer` ended.
    pub(super) fn outbound_closed(&mut self, peer: &PeerId, session: SessionId) {
        if self.outbound.get(peer).is_some_and(|(s, _)| *s == session) {
            self.outbound.remove(peer);
        }
    }

    /// A peer opened inbound session `session`; refused (and counted in `tally`) past
    /// [`MAX_INBOUND_PER_PEER`]: dropping `acks` ends it.
    pub(super) fn inbound_opened(
        &mut self,
        peer: PeerId,
        session: SessionId,
        acks: mpsc::Sender<DmAck>,
        tally: &Tally,
    ) {
        let open = self.inbound.values().filter(|(p, _)| *p == peer).count();
        if open >= MAX_INBOUND_PER_PEER {
            tally.add_kind("direct", "too_many_streams");
            tracing::warn!(peer = %short(&peer), reason = "too_many_streams", "refused input from peer: too many /weft/dm/1 streams");
            return;
        }
        self.inbound.insert(session, (peer, acks));
    }

    /// Inbound session `session` ended.
    pub(super) fn inbound_closed(&mut self, session: SessionId) {
        self.inbound.remove(&session);
    }

    /// Sends an acknowledgement on an inbound session, if it is still open.
    pub(super) fn answer(&mut self, session: SessionId, ack: DmAck) {
        if let Some((peer, acks)) = self.inbound.get(&session)
            && acks.try_send(ack).is_err()
        {
            // The sender does not read its acknowledgements; it will retry.
            tracing::debug!(peer = %short(peer), "acknowledgement dropped: session full or closed");
        }
    }
}
