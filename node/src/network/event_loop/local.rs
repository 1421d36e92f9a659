//! [`Local`]: the node's own callers, as the loop serves them: the commands a
//! [`NodeHandle`](crate::network::NodeHandle) sends, each answered by the core (at once, or
//! once what it changed is on disk), what callers wait for (a delivery, a dial, a flush, a
//! call's end), the local handlers that serve services and the local workers of queues.

use std::collections::HashMap;

use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{broadcast, mpsc, oneshot};
use weft_proto::MessageId;
use weft_proto::api::Event;

use weft_proto::service::CallId;

use crate::core::io::{CallEnd, Delivery, HandlerId, Ticket, WorkerId};
use crate::network::handle::{Command, NodeError, ServeRequest, WorkItem};

/// Work that waits for a flush: it hears whether the flush succeeded.
type Then = Box<dyn FnOnce(bool) + Send>;

/// The local callers.
pub(super) struct Local {
    /// Commands from the handles.
    pub(super) commands: mpsc::Receiver<Command>,
    /// Events for local listeners.
    pub(super) events: broadcast::Sender<Event>,
    /// Benchmark messages heard ([`Event::Bench`]), for `weft bench topic --receive`.
    pub(super) bench: broadcast::Sender<Event>,
    /// Callers waiting for a delivery.
    waiters: HashMap<MessageId, oneshot::Sender<Delivery>>,
    /// Callers waiting for a dial.
    dials: HashMap<ConnectionId, (Multiaddr, oneshot::Sender<Result<PeerId, NodeError>>)>,
    /// Answers waiting for the writes before them to be on disk.
    tickets: HashMap<Ticket, Then>,
    /// Callers waiting for a call's end.
    calls: HashMap<CallId, oneshot::Sender<Result<CallEnd, NodeError>>>,
    /// Where the calls for each local handler go.
    handlers: HashMap<HandlerId, mpsc::Sender<ServeRequest>>,
    /// Where the items for each local worker go.
    workers: HashMap<WorkerId, mpsc::Sender<WorkItem>>,
}

impl Local {
    /// Serving `commands`, telling listeners on `events` (benchmark messages on `bench`).
    pub(super) fn new(
        commands: mpsc::Receiver<Command>,
        events: broadcast::Sender<Event>,
        bench: broadcast::Sender<Event>,
    ) -> Local {
        Local {
            commands,
            events,
            bench,
            waiters: HashMap::new(),
            dials: HashMap::new(),
            tickets: HashMap::new(),
            calls: HashMap::new(),
            handlers: HashMap::new(),
            workers: HashMap::new(),
        }
    }

    /// Sends `result` to `reply` once the writes before `ticket` are on disk (at once when
    /// it is an error, or when there is no ticket).
    pub(super) fn reply_durably<T: Send + 'static>(
        &mut self,
        reply: oneshot::Sender<Result<T, NodeError>>,
        result: Result<T, NodeError>,
        ticket: impl FnOnce() -> Ticket,
    ) {
        match result {
            Err(e) => {
                let _ = reply.send(Err(e));
            }
            Ok(value) => {
                let then = Box::new(move |ok| {
                    let _ = reply.send(if ok {
                        Ok(value)
                    } else {
                        Err(NodeError::StorageFailed(
                            "the change could not be stored".into(),
                        ))
                    });
                });
                self.tickets.insert(ticket(), then);
            }
        }
    }

    /// The writes before `ticket` are on disk (`ok`), or failed.
    pub(super) fn released(&mut self, ticket: Ticket, ok: bool) {
        if let Some(then) = self.tickets.remove(&ticket) {
            then(ok);
        }
    }

    /// The caller waits for message `id`'s delivery.
    pub(super) fn wait(&mut self, id: MessageId) -> oneshot::Receiver<Delivery> {
        let (tx, rx) = oneshot::channel();
        self.waiters.insert(id, tx);
        rx
    }

    /// Message `id` stands as `delivery`: whoever waits hears.
    pub(super) fn delivery(&mut self, id: MessageId, delivery: Delivery) {
        if let Some(waiter) = self.waiters.remove(&id) {
            let _ = waiter.send(delivery);
        }
    }

    /// Forgets the waiters that stopped waiting.
    pub(super) fn forget_gone(&mut self) {
        self.waiters.retain(|_, w| !w.is_closed());
        self.calls.retain(|_, c| !c.is_closed());
    }

    /// The caller waits for call `id`'s end.
    pub(super) fn calling(
        &mut self,
        id: CallId,
        reply: oneshot::Sender<Result<CallEnd, NodeError>>,
    ) {
        self.calls.insert(id, reply);
    }

    /// Call `id` ended as `end`: whoever waits hears.
    pub(super) fn called(&mut self, id: CallId, end: CallEnd) {
        if let Some(reply) = self.calls.remove(&id) {
            let _ = reply.send(Ok(end));
        }
    }

    /// Calls for `handler` go to `requests`.
    pub(super) fn handling(&mut self, handler: HandlerId, requests: mpsc::Sender<ServeRequest>) {
        self.handlers.insert(handler, requests);
    }

    /// `handler` is gone.
    pub(super) fn handled(&mut self, handler: &HandlerId) {
        self.handlers.remove(handler);
    }

    /// Hands `request` to `handler`; false when the handler is gone.
    pub(super) fn serve(&mut self, handler: HandlerId, request: ServeRequest) -> bool {
        let sent = self
            .handlers
            .get(&handler)
            .is_some_and(|tx| tx.try_send(request).is_ok());
        if !sent {
            self.handlers.remove(&handler);
        }
        sent
    }

    /// Items for `worker` go to `items`.
    pub(super) fn working(&mut self, worker: WorkerId, items: mpsc::Sender<WorkItem>) {
        self.workers.insert(worker, items);
    }

    /// `worker` is gone.
    pub(super) fn stopped(&mut self, worker: &WorkerId) {
        self.workers.remove(worker);
    }

    /// Hands `item` to `worker`; false when the worker is gone.
    pub(super) fn work(&mut self, worker: WorkerId, item: WorkItem) -> bool {
        let sent = self
            .workers
            .get(&worker)
            .is_some_and(|tx| tx.try_send(item).is_ok());
        if !sent {
            self.workers.remove(&worker);
        }
        sent
    }

    /// A dial of `addr` for a caller started as `connection`.
    pub(super) fn dialling(
        &mut self,
        connection: ConnectionId,
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, NodeError>>,
    ) {
        self.dials.insert(connection, (addr, reply));
    }

    /// The dial `connection` ended: connected to a peer, or why not.
    pub(super) fn dialled(&mut self, connection: ConnectionId, result: Result<PeerId, String>) {
        if let Some((addr, reply)) = self.dials.remove(&connection) {
            let _ = reply.send(result.map_err(|reason| NodeError::Dial {
                addr: addr.to_string(),
                reason,
            }));
        }
    }
}
