//! The mesh as its members see it: each member's sync answer says which members it is
//! connected to now, and whether through a relay. With this node's own connections that is
//! the picture of the mesh (`GET /v1/links`, drawn by the web page). A report is believed
//! from members only, names members only, and is dropped once older than
//! [`REPORT_TTL`] (three resyncs missed) or when its member leaves the mesh.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use weft_proto::api::LinkInfo;
use weft_proto::sync::{Link, MAX_SYNC_LINKS};

use super::io::Now;
use super::{Core, RESYNC_EVERY};

/// How long a member's report of its connections stands without being renewed.
pub const REPORT_TTL: Duration = Duration::from_secs(3 * RESYNC_EVERY.as_secs());

/// What each member last said it is connected to, and when.
#[derive(Debug, Default)]
pub struct Reports(BTreeMap<PeerId, (Vec<(PeerId, bool)>, Instant)>);

impl Core {
    /// The members this node is connected to, for its sync answers.
    pub(super) fn own_links(&self) -> Vec<Link> {
        self.peers
            .iter()
            .filter(|(peer, _)| self.admits(peer))
            .map(|(peer, c)| Link {
                peer: peer.to_bytes(),
                relayed: c.path.relayed,
            })
            .take(MAX_SYNC_LINKS)
            .collect()
    }

    /// Takes member `from`'s report of its connections: only those to members count.
    pub(super) fn heard_links(&mut self, from: PeerId, links: Vec<Link>, now: Now) {
        let named: Vec<(PeerId, bool)> = links
            .into_iter()
            .take(MAX_SYNC_LINKS)
            .filter_map(|l| Some((PeerId::from_bytes(&l.peer).ok()?, l.relayed)))
            .filter(|(peer, _)| *peer != from && self.admits(peer))
            .collect();
        self.reports.0.insert(from, (named, now.at));
    }

    /// Every connection between members this node knows of: its own, and those members
    /// reported within [`REPORT_TTL`]; each once, a relayed report winning over a direct one.
    pub fn links(&self, now: Now) -> Vec<LinkInfo> {
        let mut links: BTreeMap<(PeerId, PeerId), bool> = BTreeMap::new();
        let mut add = |a: PeerId, b: PeerId, relayed: bool| {
            let key = if a < b { (a, b) } else { (b, a) };
            *links.entry(key).or_default() |= relayed;
        };
        for (peer, c) in self.peers.iter().filter(|(p, _)| self.admits(p)) {
            add(self.me.peer, *peer, c.path.relayed);
        }
        for (from, (named, at)) in &self.reports.0 {
            let fresh = now.at.saturating_duration_since(*at) < REPORT_TTL;
            if !fresh || !self.admits(from) {
                continue;
            }
            for (to, relayed) in named {
                if self.admits(to) || *to == self.me.peer {
                    add(*from, *to, *relayed);
                }
            }
        }
        links
            .into_iter()
            .map(|((a, b), relayed)| LinkInfo {
                a: a.to_string(),
                b: b.to_string(),
                relayed,
            })
            .collect()
    }

    /// Forgets reports that went stale or whose member left.
    pub(super) fn prune_links(&mut self, now: Now) {
        let admits = |p: &PeerId| self.mesh.admits(p);
        self.reports.0.retain(|from, (_, at)| {
            now.at.saturating_duration_since(*at) < REPORT_TTL && admits(from)
        });
    }
}
