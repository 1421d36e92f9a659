//! Tree `peers`: PeerId bytes -> JSON list of multiaddrs this node reached the peer at (or
//! the peer announced), newest first, at most [`MAX_ADDRS_PER_PEER`].

use libp2p::{Multiaddr, PeerId};

use super::{StoreError, decode, encode};

/// Most addresses remembered per peer.
pub const MAX_ADDRS_PER_PEER: usize = 8;

/// The `peers` tree.
#[derive(Clone)]
pub struct PeersTree(pub(super) sled::Tree);

impl PeersTree {
    /// Remembers `addrs` for `peer`, newest first, dropping the oldest beyond the cap.
    /// Returns true when something changed.
    pub fn remember(&self, peer: &PeerId, addrs: &[Multiaddr]) -> Result<bool, StoreError> {
        let mut known = self.addrs(peer)?;
        let before = known.clone();
        for addr in addrs.iter().rev() {
            known.retain(|a| a != addr);
            known.insert(0, addr.clone());
        }
        known.truncate(MAX_ADDRS_PER_PEER);
        if known == before {
            return Ok(false);
        }
        let strings: Vec<String> = known.iter().map(|a| a.to_string()).collect();
        self.0.insert(peer.to_bytes(), encode(&strings))?;
        Ok(true)
    }

    /// The remembered addresses of `peer`.
    pub fn addrs(&self, peer: &PeerId) -> Result<Vec<Multiaddr>, StoreError> {
        match self.0.get(peer.to_bytes())? {
            None => Ok(Vec::new()),
            Some(bytes) => parse_addrs(&bytes),
        }
    }

    /// Every remembered peer with its addresses.
    pub fn all(&self) -> Result<Vec<(PeerId, Vec<Multiaddr>)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.0.iter() {
            let (key, value) = entry?;
            let peer = PeerId::from_bytes(&key).map_err(|e| StoreError::Corrupt {
                tree: "peers",
                detail: e.to_string(),
            })?;
            out.push((peer, parse_addrs(&value)?));
        }
        Ok(out)
    }
}

fn parse_addrs(bytes: &[u8]) -> Result<Vec<Multiaddr>, StoreError> {
    let strings: Vec<String> = decode("peers", bytes)?;
    strings
        .iter()
        .map(|s| {
            s.parse()
                .map_err(|e: libp2p::multiaddr::Error| StoreError::Corrupt {
                    tree: "peers",
                    detail: e.to_string(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_newest_first_and_caps() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let peer = PeerId::random();
        let addr = |p: u16| -> Multiaddr { format!("/ip4/127.0.0.1/tcp/{p}").parse().unwrap() };
        for p in 1..=10 {
            store.peers.remember(&peer, &[addr(p)]).unwrap();
        }
        let known = store.peers.addrs(&peer).unwrap();
        assert_eq!(known.len(), MAX_ADDRS_PER_PEER);
        assert_eq!(known[0], addr(10));
        assert!(
            !store.peers.remember(&peer, &[addr(10)]).unwrap(),
            "no change"
        );
        assert_eq!(store.peers.all().unwrap().len(), 1);
    }
}
