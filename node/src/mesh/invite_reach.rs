//! Between listen addresses and an invite's places to reach its issuer: which of a node's
//! addresses another machine can use (never relayed ones, loopback only when there is
//! nothing else), grouped by host; and back to the multiaddrs a joiner dials.

use std::net::IpAddr;

use libp2p::PeerId;
use libp2p::multiaddr::{Multiaddr, Protocol};
use weft_keys::invite::{Host, Invite, MAX_REACH, Reach};

use crate::mesh::membership::peer_of;

/// The places in `listen` another machine can reach, most useful first: public and private
/// addresses before loopback, which is named only when the node listens on nothing else.
pub fn of(listen: &[Multiaddr]) -> Vec<Reach> {
    let mut places: Vec<Reach> = Vec::new();
    for addr in listen {
        let Some((host, transport, port)) = parse(addr) else {
            continue;
        };
        let place = match places.iter_mut().find(|p| p.host == host) {
            Some(place) => place,
            None => {
                places.push(Reach {
                    host,
                    tcp: None,
                    quic: None,
                });
                places.last_mut().expect("just pushed")
            }
        };
        let slot = match transport {
            Transport::Tcp => &mut place.tcp,
            Transport::Quic => &mut place.quic,
        };
        slot.get_or_insert(port);
    }
    let remote = |p: &Reach| !matches!(p.host, Host::Ip(ip) if ip.is_loopback());
    if places.iter().any(remote) {
        places.retain(remote);
    }
    places.truncate(MAX_REACH);
    places
}

/// The addresses a joiner dials to reach `invite`'s issuer, each ending in its PeerId.
pub fn addrs(invite: &Invite) -> Vec<Multiaddr> {
    let Some(peer) = peer_of(&invite.issuer) else {
        return Vec::new();
    };
    invite
        .reach
        .iter()
        .flat_map(|place| {
            let tcp = place
                .tcp
                .map(|port| with_host(&place.host).with(Protocol::Tcp(port)));
            let quic = place.quic.map(|port| {
                with_host(&place.host)
                    .with(Protocol::Udp(port))
                    .with(Protocol::QuicV1)
            });
            tcp.into_iter().chain(quic)
        })
        .map(|addr| with_peer(addr, peer))
        .collect()
}

enum Transport {
    Tcp,
    Quic,
}

/// The host, transport and port of a direct TCP or QUIC address another machine can dial.
fn parse(addr: &Multiaddr) -> Option<(Host, Transport, u16)> {
    let mut parts = addr.iter();
    let host = match parts.next()? {
        Protocol::Ip4(ip) => Host::Ip(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Host::Ip(IpAddr::V6(ip)),
        Protocol::Dns(name) | Protocol::Dns4(name) | Protocol::Dns6(name) => {
            Host::Dns(name.into_owned())
        }
        _ => return None,
    };
    if let Host::Ip(ip) = &host
        && (ip.is_unspecified() || ip.is_multicast() || is_link_local_v6(ip))
    {
        return None;
    }
    let (transport, port) = match (parts.next()?, parts.next()) {
        (Protocol::Tcp(port), None) => (Transport::Tcp, port),
        (Protocol::Udp(port), Some(Protocol::QuicV1)) if parts.next().is_none() => {
            (Transport::Quic, port)
        }
        _ => return None,
    };
    Some((host, transport, port))
}

/// An IPv6 link-local address needs a zone another machine cannot know.
fn is_link_local_v6(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

fn with_host(host: &Host) -> Multiaddr {
    Multiaddr::empty().with(match host {
        Host::Ip(IpAddr::V4(ip)) => Protocol::Ip4(*ip),
        Host::Ip(IpAddr::V6(ip)) => Protocol::Ip6(*ip),
        Host::Dns(name) => Protocol::Dns(name.clone().into()),
    })
}

fn with_peer(addr: Multiaddr, peer: PeerId) -> Multiaddr {
    addr.with(Protocol::P2p(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs_of(list: &[&str]) -> Vec<Multiaddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn loopback_only_when_there_is_nothing_else_and_each_host_once() {
        let listen = addrs_of(&[
            "/ip4/127.0.0.1/tcp/7420",
            "/ip4/192.168.1.20/tcp/7420",
            "/ip4/127.0.0.1/udp/7420/quic-v1",
            "/ip4/192.168.1.20/udp/7421/quic-v1",
            "/ip6/fe80::1/tcp/7420",
            "/ip4/10.0.0.1/tcp/7420/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit",
        ]);
        assert_eq!(
            of(&listen),
            vec![Reach {
                host: Host::Ip("192.168.1.20".parse().unwrap()),
                tcp: Some(7420),
                quic: Some(7421),
            }]
        );
        let only_loopback = addrs_of(&["/ip4/127.0.0.1/tcp/7420", "/ip6/::1/tcp/7420"]);
        assert_eq!(of(&only_loopback).len(), 2);
    }

    #[test]
    fn a_joiner_dials_what_the_issuer_listens_on() {
        let issuer = weft_keys::Identity::from_secret(&[1; 32]);
        let listen = addrs_of(&[
            "/ip4/192.168.1.20/tcp/7420",
            "/ip4/192.168.1.20/udp/7421/quic-v1",
        ]);
        let invite = Invite {
            mesh: weft_proto::mesh::MeshId::of_founder(&issuer.member_key()),
            issuer: issuer.member_key(),
            secret: weft_keys::invite::InviteSecret([2; 32]),
            reach: of(&listen),
        };
        let peer = peer_of(&issuer.member_key()).unwrap();
        let dialled: Vec<Multiaddr> = listen.into_iter().map(|a| with_peer(a, peer)).collect();
        assert_eq!(addrs(&invite), dialled);
    }
}
