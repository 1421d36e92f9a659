//! [`OneLane`]: gossipsub sends to a peer on one of its connections at a time.
//!
//! gossipsub 0.50 gives all the connections to a peer one shared send queue, and each
//! connection's handler takes the next message whenever its own stream is ready. With two
//! connections to a member (TCP and QUIC, a relayed one and a direct one, an AutoNAT
//! dial-back) a burst goes out interleaved across them, one lagging the other by seconds on
//! a loaded machine, so the member hears it out of order; and what a connection took from
//! the queue just before it closed (a dial-back is closed at once) is lost until catch-up.
//!
//! So each connection's gossipsub handler is wrapped in a [`Lane`] that holds back its
//! request for an outbound stream (it never takes from the queue without one) until this
//! behaviour tells it to send. The first direct connection to a peer sends; a relayed one
//! only while the peer has no direct one. AutoNAT's dial-backs (the only dials on a port of
//! their own; closed as soon as they connect) never send. When the sending connection
//! closes, or its handler stops speaking gossipsub on it (the peer does not speak it there,
//! as on a connection made before the peer let this node in, or gossipsub gave up on the
//! connection after too many stream attempts), the oldest direct connection left (else the
//! oldest relayed one) takes over. Receiving is untouched: every connection still hears what
//! the peer sends on it.
//!
//! Left: a direct connection that comes while a relayed one sends sends too, because the
//! relayed one cannot be stopped without closing it, and it can stay open for hours; a burst
//! to such a member can still interleave, and `core::in_order` puts it back in order.

use std::collections::{HashMap, VecDeque};
use std::task::{Context, Poll};

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{ConnectedPoint, Endpoint, Multiaddr};
use libp2p::swarm::behaviour::FromSwarm;
use libp2p::swarm::handler::{
    ConnectionEvent, ConnectionHandlerEvent, SubstreamProtocol, UpgradeInfoSend,
};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionId, NetworkBehaviour, NotifyHandler, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};

use crate::mesh::addresses::is_relayed;

/// `B` (gossipsub), sending to each peer on one connection.
pub struct OneLane<B> {
    inner: B,
    /// Each peer's connections that may send gossip, oldest first: whether each is
    /// relayed, and whether it was told to send.
    peers: HashMap<PeerId, Vec<Connection>>,
    /// Connections to tell to send.
    start: VecDeque<(PeerId, ConnectionId)>,
}

/// One connection to a peer, as [`OneLane`] sees it.
#[derive(Debug)]
struct Connection {
    id: ConnectionId,
    relayed: bool,
    sending: bool,
}

impl<B> OneLane<B> {
    /// `inner`, sending on one connection per peer.
    pub fn new(inner: B) -> OneLane<B> {
        OneLane {
            inner,
            peers: HashMap::new(),
            start: VecDeque::new(),
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

    fn established(&mut self, peer: PeerId, id: ConnectionId, relayed: bool) {
        let connections = self.peers.entry(peer).or_default();
        connections.push(Connection {
            id,
            relayed,
            sending: false,
        });
        self.start.extend(to_start(connections).map(|c| (peer, c)));
    }

    /// `id` to `peer` closed, or cannot send gossip.
    fn gone(&mut self, peer: PeerId, id: ConnectionId) {
        let Some(connections) = self.peers.get_mut(&peer) else {
            return;
        };
        connections.retain(|c| c.id != id);
        if connections.is_empty() {
            self.peers.remove(&peer);
            return;
        }
        self.start.extend(to_start(connections).map(|c| (peer, c)));
    }
}

/// The connection of `connections` (oldest first) to tell to send now, if any (marked
/// sending): the oldest direct one when none of those sends, else the oldest relayed one
/// when none sends at all.
fn to_start(connections: &mut [Connection]) -> Option<ConnectionId> {
    let direct_sends = connections.iter().any(|c| c.sending && !c.relayed);
    let any_sends = connections.iter().any(|c| c.sending);
    let next = (connections.iter())
        .position(|c| !c.relayed && !direct_sends)
        .or_else(|| connections.iter().position(|c| c.relayed && !any_sends))?;
    connections[next].sending = true;
    Some(connections[next].id)
}

/// Whether `endpoint` is an AutoNAT dial-back: the only dials on a port of their own (the
/// relay client, DCUtR and the node's own dials reuse the listening port), closed as soon
/// as they connect.
fn dial_back(endpoint: &ConnectedPoint) -> bool {
    matches!(
        endpoint,
        ConnectedPoint::Dialer {
            port_use: PortUse::New,
            ..
        }
    )
}

/// Whether `endpoint` goes through a relay.
fn through_relay(endpoint: &ConnectedPoint) -> bool {
    match endpoint {
        ConnectedPoint::Dialer { address, .. } => is_relayed(address),
        ConnectedPoint::Listener {
            local_addr,
            send_back_addr,
        } => is_relayed(local_addr) || is_relayed(send_back_addr),
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for OneLane<B> {
    type ConnectionHandler = Lane<THandler<B>>;
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
        self.inner
            .handle_established_inbound_connection(connection, peer, local, remote)
            .map(Lane::new)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: Option<PeerId>,
        addrs: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner
            .handle_pending_outbound_connection(connection, peer, addrs, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner
            .handle_established_outbound_connection(connection, peer, addr, role, port_use)
            .map(Lane::new)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        // Decided once the swarm says the connection is up: one denied after its handler
        // was made never is.
        match &event {
            FromSwarm::ConnectionEstablished(e) if !dial_back(e.endpoint) => {
                self.established(e.peer_id, e.connection_id, through_relay(e.endpoint));
            }
            FromSwarm::ConnectionClosed(e) => self.gone(e.peer_id, e.connection_id),
            _ => {}
        }
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {
            LaneOut::Inner(event) => self
                .inner
                .on_connection_handler_event(peer, connection, event),
            LaneOut::Stopped => self.gone(peer, connection),
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some((peer_id, connection)) = self.start.pop_front() {
            return Poll::Ready(ToSwarm::NotifyHandler {
                peer_id,
                handler: NotifyHandler::One(connection),
                event: LaneIn::Send,
            });
        }
        self.inner.poll(cx).map(|e| e.map_in(LaneIn::Inner))
    }
}

/// What [`Lane`] hears from its behaviour.
#[derive(Debug)]
pub enum LaneIn<E> {
    /// For the inner handler.
    Inner(E),
    /// Send on this connection from now on.
    Send,
}

/// What [`Lane`] tells its behaviour.
#[derive(Debug)]
pub enum LaneOut<E> {
    /// From the inner handler.
    Inner(E),
    /// The inner handler speaks nothing on this connection any more (the peer refused its
    /// protocol, or it gave up): it cannot send.
    Stopped,
}

/// A connection's gossipsub handler that opens no outbound stream (and so sends nothing)
/// until told to.
pub struct Lane<H: ConnectionHandler> {
    inner: H,
    sending: bool,
    /// Whether to look, at the next poll, whether the inner handler still speaks anything
    /// (something happened on the connection).
    look: bool,
    /// Whether the behaviour was told it stopped.
    stopped: bool,
    /// The inner handler's request for an outbound stream, held until it may send.
    held: Option<SubstreamProtocol<H::OutboundProtocol, H::OutboundOpenInfo>>,
}

impl<H: ConnectionHandler> Lane<H> {
    fn new(inner: H) -> Lane<H> {
        Lane {
            inner,
            sending: false,
            look: false,
            stopped: false,
            held: None,
        }
    }

    /// Whether the inner handler offers no protocol any more: gossipsub's handler, once
    /// disabled, listens for nothing.
    fn speaks_nothing(&self) -> bool {
        (self.inner.listen_protocol().upgrade())
            .protocol_info()
            .next()
            .is_none()
    }
}

impl<H: ConnectionHandler> ConnectionHandler for Lane<H> {
    type FromBehaviour = LaneIn<H::FromBehaviour>;
    type ToBehaviour = LaneOut<H::ToBehaviour>;
    type InboundProtocol = H::InboundProtocol;
    type OutboundProtocol = H::OutboundProtocol;
    type InboundOpenInfo = H::InboundOpenInfo;
    type OutboundOpenInfo = H::OutboundOpenInfo;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        self.inner.listen_protocol()
    }

    fn connection_keep_alive(&self) -> bool {
        self.inner.connection_keep_alive()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<
        ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>,
    > {
        if std::mem::take(&mut self.look) && !self.stopped && self.speaks_nothing() {
            self.stopped = true;
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(LaneOut::Stopped));
        }
        if self.sending
            && let Some(protocol) = self.held.take()
        {
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest { protocol });
        }
        loop {
            match self.inner.poll(cx) {
                Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest { protocol })
                    if !self.sending =>
                {
                    self.held = Some(protocol);
                }
                other => return other.map(|e| e.map_custom(LaneOut::Inner)),
            }
        }
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::ToBehaviour>> {
        self.inner.poll_close(cx).map(|e| e.map(LaneOut::Inner))
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        match event {
            LaneIn::Inner(event) => self.inner.on_behaviour_event(event),
            LaneIn::Send => self.sending = true,
        }
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        self.look = true;
        self.inner.on_connection_event(event);
    }
}

#[cfg(test)]
mod tests {
    use either::Either;
    use libp2p::StreamProtocol;
    use libp2p::core::upgrade::{DeniedUpgrade, ReadyUpgrade};
    use libp2p::swarm::handler::AddressChange;

    use super::*;

    fn connection(id: usize, relayed: bool) -> Connection {
        Connection {
            id: ConnectionId::new_unchecked(id),
            relayed,
            sending: false,
        }
    }

    fn sending(connections: &[Connection]) -> Vec<usize> {
        (0..10)
            .filter(|i| {
                connections
                    .iter()
                    .any(|c| c.sending && c.id == ConnectionId::new_unchecked(*i))
            })
            .collect()
    }

    #[test]
    fn one_direct_connection_sends_and_the_next_takes_over() {
        let mut connections = vec![connection(1, false)];
        assert_eq!(
            to_start(&mut connections),
            Some(ConnectionId::new_unchecked(1))
        );
        // A second direct one and a relayed one: neither sends.
        connections.push(connection(2, false));
        assert_eq!(to_start(&mut connections), None);
        connections.push(connection(3, true));
        assert_eq!(to_start(&mut connections), None);
        assert_eq!(sending(&connections), [1]);
        // The sender closes: the oldest direct one left takes over.
        connections.retain(|c| c.id != ConnectionId::new_unchecked(1));
        assert_eq!(
            to_start(&mut connections),
            Some(ConnectionId::new_unchecked(2))
        );
        assert_eq!(sending(&connections), [2]);
    }

    #[test]
    fn a_relayed_connection_sends_only_while_there_is_no_direct_one() {
        let mut connections = vec![connection(1, true)];
        assert_eq!(
            to_start(&mut connections),
            Some(ConnectionId::new_unchecked(1))
        );
        connections.push(connection(2, true));
        assert_eq!(to_start(&mut connections), None);
        // A direct one sends too: the relayed one cannot be stopped.
        connections.push(connection(3, false));
        assert_eq!(
            to_start(&mut connections),
            Some(ConnectionId::new_unchecked(3))
        );
        assert_eq!(sending(&connections), [1, 3]);
        // Both close: the relayed one left takes over.
        connections.retain(|c| !c.sending);
        assert_eq!(
            to_start(&mut connections),
            Some(ConnectionId::new_unchecked(2))
        );
    }

    /// A handler that asks for an outbound stream once, and speaks a protocol while
    /// `speaks`.
    struct Asking {
        asked: bool,
        speaks: bool,
    }

    impl ConnectionHandler for Asking {
        type FromBehaviour = ();
        type ToBehaviour = ();
        type InboundProtocol = Either<ReadyUpgrade<StreamProtocol>, DeniedUpgrade>;
        type OutboundProtocol = DeniedUpgrade;
        type InboundOpenInfo = ();
        type OutboundOpenInfo = ();

        fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
            let upgrade = match self.speaks {
                true => Either::Left(ReadyUpgrade::new(StreamProtocol::new("/asking"))),
                false => Either::Right(DeniedUpgrade),
            };
            SubstreamProtocol::new(upgrade, ())
        }

        fn poll(
            &mut self,
            _: &mut Context<'_>,
        ) -> Poll<ConnectionHandlerEvent<DeniedUpgrade, (), ()>> {
            if std::mem::replace(&mut self.asked, true) {
                return Poll::Pending;
            }
            Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(DeniedUpgrade, ()),
            })
        }

        fn on_behaviour_event(&mut self, _: ()) {}

        fn on_connection_event(
            &mut self,
            _: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>,
        ) {
        }
    }

    fn poll(
        lane: &mut Lane<Asking>,
    ) -> Poll<ConnectionHandlerEvent<DeniedUpgrade, (), LaneOut<()>>> {
        lane.poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
    }

    #[test]
    fn a_lane_asks_for_its_stream_only_once_told_to_send() {
        let mut lane = Lane::new(Asking {
            asked: false,
            speaks: true,
        });
        assert!(poll(&mut lane).is_pending(), "held");
        lane.on_behaviour_event(LaneIn::Send);
        assert!(matches!(
            poll(&mut lane),
            Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest { .. })
        ));
        assert!(poll(&mut lane).is_pending());
    }

    #[test]
    fn a_lane_whose_handler_stops_speaking_says_so_once() {
        let mut lane = Lane::new(Asking {
            asked: true,
            speaks: true,
        });
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let change = || ConnectionEvent::AddressChange(AddressChange { new_address: &addr });
        lane.on_connection_event(change());
        assert!(poll(&mut lane).is_pending(), "still speaks");
        lane.inner.speaks = false;
        lane.on_connection_event(change());
        assert!(matches!(
            poll(&mut lane),
            Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(LaneOut::Stopped))
        ));
        lane.on_connection_event(change());
        assert!(poll(&mut lane).is_pending(), "said once");
    }
}
