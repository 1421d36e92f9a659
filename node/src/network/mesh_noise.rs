//! Noise (XX) with the mesh id in the handshake prologue: `/weft/mesh/<mesh-id>`, so a node
//! of another mesh cannot even complete a handshake. The prologue lives in a shared cell read
//! at every new connection, because it changes while the node runs: founding a mesh sets it,
//! and a joiner sets it to its invite's mesh before dialling the issuer. A node in no mesh
//! uses an empty prologue, like any other libp2p node.

use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use futures::{AsyncRead, AsyncWrite};
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo};
use libp2p::{PeerId, noise};
use weft_proto::mesh::MeshId;

/// The prologue new connections use. Cheap to clone; clones share it.
#[derive(Clone, Debug, Default)]
pub struct Prologue(Arc<RwLock<Vec<u8>>>);

impl Prologue {
    /// New connections carry `mesh`'s prologue (none for `None`).
    pub fn set(&self, mesh: Option<MeshId>) {
        let bytes = mesh.map(|m| m.prologue().into_bytes()).unwrap_or_default();
        // A poisoned lock only means a writer panicked mid-assignment of a Vec; the value is
        // still a valid Vec, so take it.
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = bytes;
    }

    fn current(&self) -> Vec<u8> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The security upgrade: libp2p's Noise config with the current prologue.
#[derive(Clone)]
pub struct MeshNoise {
    base: noise::Config,
    prologue: Prologue,
}

impl MeshNoise {
    /// Noise for `key`, reading its prologue from `prologue` at each connection.
    pub fn new(
        key: &libp2p::identity::Keypair,
        prologue: Prologue,
    ) -> Result<MeshNoise, noise::Error> {
        Ok(MeshNoise {
            base: noise::Config::new(key)?,
            prologue,
        })
    }

    fn config(self) -> noise::Config {
        self.base.with_prologue(self.prologue.current())
    }
}

impl UpgradeInfo for MeshNoise {
    type Info = &'static str;
    type InfoIter = std::iter::Once<Self::Info>;

    fn protocol_info(&self) -> Self::InfoIter {
        std::iter::once("/noise")
    }
}

impl<T> InboundConnectionUpgrade<T> for MeshNoise
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Output = (PeerId, noise::Output<T>);
    type Error = noise::Error;
    type Future = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn upgrade_inbound(self, socket: T, info: Self::Info) -> Self::Future {
        self.config().upgrade_inbound(socket, info)
    }
}

impl<T> OutboundConnectionUpgrade<T> for MeshNoise
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Output = (PeerId, noise::Output<T>);
    type Error = noise::Error;
    type Future = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn upgrade_outbound(self, socket: T, info: Self::Info) -> Self::Future {
        self.config().upgrade_outbound(socket, info)
    }
}
