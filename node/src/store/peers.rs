//! Tree `peers`: PeerId bytes -> JSON list of multiaddrs where a member can be reached, as
//! the address book (`crate::mesh::addresses`) keeps them: members only, at most
//! [`MAX_ADDRS_PER_PEER`] each. Changed only through [`super::write::Write`].

use libp2p::{Multiaddr, PeerId};

use serde::{Deserialize, Serialize};

use super::{StoreError, decode, encode};

/// Most addresses remembered per peer, in all.
pub const MAX_ADDRS_PER_PEER: usize = 8;

/// Where one member can be reached. Encoded with its addresses as text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Record", try_from = "Record")]
pub struct KnownAddrs {
    /// Addresses it announced itself (identify) or this node reached it at.
    pub own: Vec<Multiaddr>,
    /// Addresses other members said it has.
    pub heard: Vec<Multiaddr>,
}

impl KnownAddrs {
    /// All of them, its own first.
    pub fn all(&self) -> Vec<Multiaddr> {
        self.own.iter().chain(&self.heard).cloned().collect()
    }
}

/// How [`KnownAddrs`] is stored.
#[derive(Serialize, Deserialize)]
struct Record {
    own: Vec<String>,
    #[serde(default)]
    heard: Vec<String>,
}

impl From<KnownAddrs> for Record {
    fn from(addrs: KnownAddrs) -> Record {
        let strings = |list: Vec<Multiaddr>| list.iter().map(|a| a.to_string()).collect();
        Record {
            own: strings(addrs.own),
            heard: strings(addrs.heard),
        }
    }
}

impl TryFrom<Record> for KnownAddrs {
    type Error = libp2p::multiaddr::Error;

    fn try_from(record: Record) -> Result<KnownAddrs, Self::Error> {
        let parse = |strings: Vec<String>| -> Result<Vec<Multiaddr>, Self::Error> {
            strings.iter().map(|s| s.parse()).collect()
        };
        Ok(KnownAddrs {
            own: parse(record.own)?,
            heard: parse(record.heard)?,
        })
    }
}

/// The `peers` tree.
#[derive(Clone)]
pub struct PeersTree(pub(super) sled::Tree);

impl PeersTree {
    /// Stores `addrs` as `peer`'s addresses.
    pub fn put(&self, peer: &PeerId, addrs: &KnownAddrs) -> Result<(), StoreError> {
        self.0.insert(peer.to_bytes(), encode(addrs))?;
        Ok(())
    }

    /// Forgets `peer`.
    pub fn forget(&self, peer: &PeerId) -> Result<(), StoreError> {
        self.0.remove(peer.to_bytes())?;
        Ok(())
    }

    /// The remembered addresses of `peer`.
    pub fn addrs(&self, peer: &PeerId) -> Result<KnownAddrs, StoreError> {
        match self.0.get(peer.to_bytes())? {
            None => Ok(KnownAddrs::default()),
            Some(bytes) => parse_addrs(&bytes),
        }
    }

    /// Every remembered peer with its addresses.
    pub fn all(&self) -> Result<Vec<(PeerId, KnownAddrs)>, StoreError> {
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

fn parse_addrs(bytes: &[u8]) -> Result<KnownAddrs, StoreError> {
    decode("peers", bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let peer = PeerId::random();
        let addr = |p: u16| -> Multiaddr { format!("/ip4/127.0.0.1/tcp/{p}").parse().unwrap() };
        let known = KnownAddrs {
            own: (1..=3).map(addr).collect(),
            heard: vec![addr(9)],
        };
        store.peers.put(&peer, &known).unwrap();
        assert_eq!(store.peers.addrs(&peer).unwrap(), known);
        assert_eq!(known.all().len(), 4);
        assert_eq!(store.peers.all().unwrap().len(), 1);
        store.peers.forget(&peer).unwrap();
        assert!(store.peers.all().unwrap().is_empty());
    }
}
