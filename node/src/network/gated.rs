//! [`Gated`]: a behaviour that runs only on connections to members.
//!
//! Whether a connection gets the inner behaviour is decided once, when it is established, by
//! asking the [`Door`]: a member's connection gets the inner behaviour's handler, anyone
//! else's a dummy one that negotiates no protocol. So a stranger is sent nothing the inner
//! behaviours would send (identify's addresses, gossipsub's subscriptions, AutoNAT answers,
//! relay service) and nothing it sends them is heard. The inner behaviour only ever learns
//! of its own connections: events about the others are not passed on, and neither are its
//! requests to handlers that are not its own. A peer admitted while connected gets the
//! inner behaviour on its next connection.
//!
//! Requests to handlers are routed by connection, as the swarm routes them: the relay
//! server names the circuit's source as the peer of a request to the destination's
//! connection.
//!
//! The addresses the inner behaviours offer for a dial (identify's cache) leave out
//! relayed ones while they hold a direct one: dialling them all at once would connect
//! this node to every relay the peer holds a slot on.
//!
//! A dial of the inner behaviours on a port of its own (the others reuse the listening
//! port) to a member this node already reaches directly is AutoNAT's dial-back: the probe
//! is answered as soon as it connects, and the connection is closed then. Kept, each probe
//! would leave one more connection open for good, and past the cap of connections per
//! peer the next dial-backs would fail, which could make the member take itself for
//! unreachable.

use std::collections::{HashMap, HashSet, VecDeque};
use std::task::{Context, Poll};

use either::Either;
use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::behaviour::{ConnectionClosed, ConnectionEstablished, FromSwarm};
use libp2p::swarm::{
    CloseConnection, ConnectionDenied, ConnectionId, NetworkBehaviour, NotifyHandler, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};

use crate::mesh::addresses::is_relayed;
use crate::mesh::door::Door;

/// `B`, for members only.
pub struct Gated<B> {
    inner: B,
    door: Door,
    /// Connections the inner behaviour runs on, and whose they are.
    enabled: HashMap<ConnectionId, PeerId>,
    /// Those of them that are direct (not through a relay).
    direct: HashSet<ConnectionId>,
    /// Dials the inner behaviour started: it hears how they end, whoever answers.
    dialled: HashSet<ConnectionId>,
    /// Dial-backs connected, to close once the inner behaviour has heard of them.
    dial_backs: HashSet<ConnectionId>,
    /// Dial-backs the inner behaviour has heard of, to close.
    closing: VecDeque<(PeerId, ConnectionId)>,
}

impl<B> Gated<B> {
    /// `inner`, on connections to the members `door` admits.
    pub fn new(inner: B, door: Door) -> Gated<B> {
        Gated {
            inner,
            door,
            enabled: HashMap::new(),
            direct: HashSet::new(),
            dialled: HashSet::new(),
            dial_backs: HashSet::new(),
            closing: VecDeque::new(),
        }
    }

    /// The inner behaviour.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// The inner behaviour, to change.
    pub fn inner_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// The inner behaviour's connections to `peer`, oldest first.
    fn connections_of(&self, peer: &PeerId) -> impl Iterator<Item = ConnectionId> + '_ {
        let mut connections: Vec<ConnectionId> = self
            .enabled
            .iter()
            .filter(|(_, p)| *p == peer)
            .map(|(c, _)| *c)
            .collect();
        connections.sort();
        connections.into_iter()
    }

    /// Whether a new connection to `peer` gets the inner behaviour.
    fn admits(&mut self, peer: &PeerId, connection: ConnectionId) -> bool {
        self.dialled.remove(&connection) || self.door.check("connection", peer)
    }

    /// Gives `connection` to `peer` the inner behaviour.
    fn enable(&mut self, connection: ConnectionId, peer: PeerId, relayed: bool) {
        self.enabled.insert(connection, peer);
        if !relayed {
            self.direct.insert(connection);
        }
    }

    /// A connection that closed, never came up, or was denied after this let it in.
    fn forget(&mut self, connection: ConnectionId) {
        self.dialled.remove(&connection);
        self.enabled.remove(&connection);
        self.direct.remove(&connection);
        self.dial_backs.remove(&connection);
    }

    /// Whether this node reaches `peer` directly already.
    fn reaches_directly(&self, peer: &PeerId) -> bool {
        self.connections_of(peer).any(|c| self.direct.contains(&c))
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for Gated<B> {
    type ConnectionHandler = Either<THandler<B>, dummy::ConnectionHandler>;
    type ToSwarm = B::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        connection: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if !self.admits(&peer, connection) {
            return Ok(Either::Right(dummy::ConnectionHandler));
        }
        let handler = self
            .inner
            .handle_established_inbound_connection(connection, peer, local, remote)?;
        self.enable(connection, peer, is_relayed(local) || is_relayed(remote));
        Ok(Either::Left(handler))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: Option<PeerId>,
        addrs: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        let mut found = self
            .inner
            .handle_pending_outbound_connection(connection, peer, addrs, role)?;
        // Identify's cache holds a member's relayed addresses too, and libp2p dials every
        // address at once: each relayed one would connect this node to that relay as well.
        // They are left out while the cache (the member's own word, pruned of addresses
        // that failed) holds a direct one; the core gives them itself once direct dials
        // failed.
        if found.iter().any(|a| !is_relayed(a)) {
            found.retain(|a| !is_relayed(a));
        }
        Ok(found)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // AutoNAT alone dials on a port of its own (the relay client and DCUtR reuse the
        // listening one), and only members it already reaches.
        let dial_back = self.dialled.contains(&connection)
            && port_use == PortUse::New
            && self.reaches_directly(&peer);
        if !self.admits(&peer, connection) {
            return Ok(Either::Right(dummy::ConnectionHandler));
        }
        let handler = self
            .inner
            .handle_established_outbound_connection(connection, peer, addr, role, port_use)?;
        self.enable(connection, peer, is_relayed(addr));
        if dial_back {
            self.dial_backs.insert(connection);
        }
        Ok(Either::Left(handler))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                if !self.enabled.contains_key(&e.connection_id) {
                    return;
                }
                let other_established = self.connections_of(&e.peer_id).count() - 1;
                self.inner.on_swarm_event(FromSwarm::ConnectionEstablished(
                    ConnectionEstablished {
                        other_established,
                        ..e
                    },
                ));
                if self.dial_backs.remove(&e.connection_id) {
                    // Going: no reason to take a later dial for a dial-back.
                    self.direct.remove(&e.connection_id);
                    self.closing.push_back((e.peer_id, e.connection_id));
                }
            }
            FromSwarm::ConnectionClosed(e) => {
                let enabled = self.enabled.contains_key(&e.connection_id);
                self.forget(e.connection_id);
                if !enabled {
                    return;
                }
                let remaining_established = self.connections_of(&e.peer_id).count();
                self.inner
                    .on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed {
                        remaining_established,
                        ..e
                    }));
            }
            FromSwarm::AddressChange(e) => {
                if self.enabled.contains_key(&e.connection_id) {
                    self.inner.on_swarm_event(event);
                }
            }
            FromSwarm::DialFailure(e) => {
                // A later behaviour may deny a connection this one let in.
                self.forget(e.connection_id);
                self.inner.on_swarm_event(event);
            }
            FromSwarm::ListenFailure(e) => {
                self.forget(e.connection_id);
                self.inner.on_swarm_event(event);
            }
            other => self.inner.on_swarm_event(other),
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {
            Either::Left(event) => self
                .inner
                .on_connection_handler_event(peer, connection, event),
            Either::Right(never) => match never {},
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some((peer_id, connection)) = self.closing.pop_front() {
            tracing::debug!(peer = %crate::core::short(&peer_id), "closing a dial-back");
            return Poll::Ready(ToSwarm::CloseConnection {
                peer_id,
                connection: CloseConnection::One(connection),
            });
        }
        loop {
            let event = match self.inner.poll(cx) {
                Poll::Ready(event) => event,
                Poll::Pending => return Poll::Pending,
            };
            match event {
                ToSwarm::NotifyHandler {
                    peer_id,
                    handler,
                    event,
                } => {
                    // Only ever to one of its own handlers.
                    let (connection, peer_id) = match handler {
                        NotifyHandler::One(c) => match self.enabled.get(&c) {
                            Some(peer) => (c, *peer),
                            None => continue,
                        },
                        NotifyHandler::Any => match self.connections_of(&peer_id).next() {
                            Some(c) => (c, peer_id),
                            None => continue,
                        },
                    };
                    return Poll::Ready(ToSwarm::NotifyHandler {
                        peer_id,
                        handler: NotifyHandler::One(connection),
                        event: Either::Left(event),
                    });
                }
                ToSwarm::Dial { opts } => {
                    self.dialled.insert(opts.connection_id());
                    return Poll::Ready(ToSwarm::Dial { opts });
                }
                other => return Poll::Ready(other.map_in(Either::Left)),
            }
        }
    }
}
