//! [`Punch`]: hole punching (DCUtR), held to a budget per member.
//!
//! DCUtR dials where the other side says: the addresses in its `CONNECT`. On a relayed
//! connection this node dialled, every `CONNECT` stream the other side opens is one more
//! dial, and one more entry DCUtR keeps for good; on one it accepted, three. Unbounded, a
//! member could make this node connect anywhere, as often as it likes, and grow its memory
//! while at it. So at most [`HANDSHAKES`] of a member's handshakes a minute reach DCUtR
//! (honest use is three per relayed connection; the rest are dropped unheard), and DCUtR's
//! dial to more than [`MAX_ADDRESSES`] addresses, or to any address but a plain IP one (a
//! DNS name would be looked up and dialled at every address it resolves to), or to this
//! machine's loopback while the node listens beyond it (the member would be knocking on
//! this machine's local services), is refused. Refusals are counted (`punch_over_budget`,
//! `punch_addresses`) and said in one line, once per burst.
//!
//! Left: DCUtR keeps an entry for every handshake it hears, for good; the budget bounds
//! how fast that grows (a few hundred bytes a minute per member), not how far.

use std::collections::{HashMap, HashSet, VecDeque};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::behaviour::FromSwarm;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent,
    ToSwarm,
};

use super::tally::Tally;
use crate::core::short;
use crate::mesh::addresses::is_loopback;

/// The window the budget counts over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// A member's handshakes that reach DCUtR per [`WINDOW`].
pub const HANDSHAKES: usize = 12;

/// The most addresses DCUtR may dial at once: as many as a libp2p peer keeps as candidates.
pub const MAX_ADDRESSES: usize = 20;

/// Why DCUtR's dial was refused.
#[derive(Debug, thiserror::Error)]
#[error("a hole punch to more than {MAX_ADDRESSES} addresses, or to one it may not dial")]
pub struct NotPlainAddresses;

/// `B` (DCUtR), held to a budget per member.
pub struct Punch<B> {
    inner: B,
    budget: Budget,
    /// Dials `inner` started that have not connected or failed yet.
    dials: HashSet<ConnectionId>,
    /// Whether this node listens on an address beyond loopback.
    beyond_loopback: bool,
    tally: Tally,
}

impl<B> Punch<B> {
    /// `inner`, its refusals counted in `tally`.
    pub fn new(inner: B, tally: Tally) -> Punch<B> {
        Punch {
            inner,
            budget: Budget::default(),
            dials: HashSet::new(),
            beyond_loopback: false,
            tally,
        }
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for Punch<B> {
    type ConnectionHandler = B::ConnectionHandler;
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
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: Option<PeerId>,
        addrs: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if self.dials.contains(&connection)
            && (addrs.len() > MAX_ADDRESSES
                || !addrs.iter().all(|a| may_punch(a, self.beyond_loopback)))
        {
            self.tally.add("punch_addresses");
            tracing::warn!(
                peer = %peer.as_ref().map(short).unwrap_or_default(),
                addresses = addrs.len(),
                "refused a hole punch: too many addresses, or one it may not dial"
            );
            return Err(ConnectionDenied::new(NotPlainAddresses));
        }
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
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match &event {
            FromSwarm::ConnectionEstablished(e) => {
                self.dials.remove(&e.connection_id);
            }
            FromSwarm::DialFailure(e) => {
                self.dials.remove(&e.connection_id);
            }
            FromSwarm::NewListenAddr(e) if !is_loopback(e.addr) => self.beyond_loopback = true,
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
        match self.budget.allow(peer, Instant::now()) {
            Verdict::Allow => self
                .inner
                .on_connection_handler_event(peer, connection, event),
            Verdict::Refuse { first } => {
                self.tally.add("punch_over_budget");
                if first {
                    tracing::warn!(
                        peer = %short(&peer),
                        "dropping hole-punch handshakes: past this member's {HANDSHAKES} a minute"
                    );
                }
            }
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        let event = std::task::ready!(self.inner.poll(cx));
        if let ToSwarm::Dial { opts } = &event {
            self.dials.insert(opts.connection_id());
        }
        Poll::Ready(event)
    }
}

/// Whether a hole punch may go to `addr`: a plain IP address (TCP or QUIC, nothing to look
/// up) that names one host, and not this machine's loopback when the node listens beyond
/// it (`beyond_loopback`).
fn may_punch(addr: &Multiaddr, beyond_loopback: bool) -> bool {
    let host = match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => {
            let local = ip.is_loopback() && beyond_loopback;
            !(ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || local)
        }
        Some(Protocol::Ip6(ip)) => {
            let local = ip.is_loopback() && beyond_loopback;
            !(ip.is_unspecified() || ip.is_multicast() || local)
        }
        _ => false,
    };
    host && addr.iter().all(|p| {
        matches!(
            p,
            Protocol::Ip4(_)
                | Protocol::Ip6(_)
                | Protocol::Tcp(_)
                | Protocol::Udp(_)
                | Protocol::QuicV1
                | Protocol::P2p(_)
        )
    })
}

/// Whether a handshake is let through.
#[derive(Debug, PartialEq)]
enum Verdict {
    Allow,
    /// Refused; `first` since the member's last allowed one.
    Refuse {
        first: bool,
    },
}

/// Each member's handshakes within the last [`WINDOW`].
#[derive(Debug, Default)]
struct Budget {
    members: HashMap<PeerId, Spent>,
}

/// One member's handshakes within the window, and whether it is being refused.
#[derive(Debug, Default)]
struct Spent {
    at: VecDeque<Instant>,
    refusing: bool,
}

impl Budget {
    /// Counts a handshake of `peer` at `now` if it fits in the budget.
    fn allow(&mut self, peer: PeerId, now: Instant) -> Verdict {
        self.members.retain(|_, spent| {
            while spent
                .at
                .front()
                .is_some_and(|at| now.duration_since(*at) >= WINDOW)
            {
                spent.at.pop_front();
            }
            !spent.at.is_empty()
        });
        let spent = self.members.entry(peer).or_default();
        if spent.at.len() >= HANDSHAKES {
            let first = !spent.refusing;
            spent.refusing = true;
            return Verdict::Refuse { first };
        }
        spent.refusing = false;
        spent.at.push_back(now);
        Verdict::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_gets_its_handshakes_per_window_and_others_are_not_charged() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let start = Instant::now();
        let mut budget = Budget::default();
        for _ in 0..HANDSHAKES {
            assert_eq!(budget.allow(a, start), Verdict::Allow);
        }
        assert_eq!(budget.allow(a, start), Verdict::Refuse { first: true });
        assert_eq!(budget.allow(a, start), Verdict::Refuse { first: false });
        assert_eq!(budget.allow(b, start), Verdict::Allow, "another member");
        assert_eq!(
            budget.allow(a, start + WINDOW),
            Verdict::Allow,
            "a new window"
        );
    }

    #[test]
    fn members_past_the_window_are_forgotten() {
        let start = Instant::now();
        let mut budget = Budget::default();
        for _ in 0..100 {
            budget.allow(PeerId::random(), start);
        }
        budget.allow(PeerId::random(), start + WINDOW);
        assert_eq!(budget.members.len(), 1);
    }

    #[test]
    fn punches_go_to_plain_ip_addresses_of_one_host() {
        let may = |a: &str, beyond| may_punch(&a.parse().unwrap(), beyond);
        assert!(may("/ip4/192.0.2.7/tcp/7420", true));
        assert!(may("/ip6/2001:db8::7/udp/7420/quic-v1", true));
        assert!(!may("/dns4/example.com/tcp/7420", true));
        assert!(!may("/dnsaddr/example.com", true));
        assert!(!may("/ip4/0.0.0.0/tcp/7420", true));
        assert!(!may("/ip4/224.0.0.251/udp/5353/quic-v1", true));
        assert!(!may("/ip4/255.255.255.255/tcp/7420", true));
        assert!(!may(
            "/ip4/192.0.2.7/tcp/7420/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit",
            true
        ));
        // Loopback only for a node that listens nowhere else.
        assert!(!may("/ip4/127.0.0.1/tcp/6379", true));
        assert!(!may("/ip6/::1/tcp/6379", true));
        assert!(may("/ip4/127.0.0.1/tcp/6379", false));
    }
}
