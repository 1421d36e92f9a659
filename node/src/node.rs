//! A running node: store, swarm, event loop and local API, started together and stopped
//! together. `weft node`, the demo and the tests all start nodes this way.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use libp2p::{Multiaddr, PeerId};
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api;
use crate::api::media::Media;
use crate::blob::Blobs;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::network::{self, EventLoop, NodeError, NodeHandle};
use crate::pipe::Pipes;
use crate::store::Store;

/// A started node. Stop it with [`Node::stop`].
pub struct Node {
    /// The handle to its event loop.
    pub handle: NodeHandle,
    /// Its PeerId.
    pub peer_id: PeerId,
    /// The addresses its listeners bound, as reported at start.
    pub listen_addrs: Vec<Multiaddr>,
    /// The local API socket.
    pub api_socket: PathBuf,
    /// Where it serves Prometheus metrics, when asked to (the port bound, when asked for
    /// port 0).
    pub metrics_addr: Option<std::net::SocketAddr>,
    event_loop: JoinHandle<Result<(), NodeError>>,
    api: JoinHandle<()>,
    media: Media,
    /// The `/metrics` server, when asked for.
    exporter: Option<JoinHandle<()>>,
    /// The web page's server, when asked for.
    web: Option<JoinHandle<()>>,
    /// The local ZeroMQ endpoints, when asked for.
    zmq: Option<crate::zmq::Zmq>,
    api_shutdown: watch::Sender<bool>,
}

impl Node {
    /// Starts a node on `config.data_dir`: opens the store (failing at once if another
    /// process has it), binds the listeners, starts the event loop and serves the API on a
    /// Unix socket readable by the owner only (and, when asked, on the web page's TCP
    /// address behind its token). Returns once all of that is up.
    pub async fn start(config: Config) -> Result<Node, NodeError> {
        prepare_data_dir(&config.data_dir)?;
        let store = Store::open(&config.data_dir)?;
        // Before anything listens: a refused address stops the start with nothing to undo.
        let web = match config.web {
            Some(addr) => {
                Some(crate::web::bind(addr, config.web_allow_remote, &config.data_dir).await?)
            }
            None => None,
        };
        let identity = store
            .identity
            .load()?
            .ok_or_else(|| NodeError::NotInitialised(config.data_dir.display().to_string()))?;
        let name = store.identity.name()?;
        let keypair = keypair(&identity)?;
        let curve = weft_keys::curve::CurveServerKey::of(&identity);

        let mut registry = prometheus_client::registry::Registry::default();
        let shared = network::event_loop::Shared::new(Metrics::new(&mut registry));
        shared.prologue.set(store.mesh.id()?);
        // mDNS announces on every interface, whatever the node listens on: only a node
        // listening on every interface uses it, so one on loopback sends nothing beyond.
        let offer = network::behaviour::Offer {
            relay: config.limits.relay,
            mdns: config.limits.mdns.runs(&config.listen),
        };
        let mut swarm = network::swarm::build(
            keypair,
            shared.prologue.clone(),
            &shared.door,
            &shared.tally,
            offer,
            &mut registry,
        )?;
        let peer_id = *swarm.local_peer_id();
        let listen_addrs =
            network::swarm::listen(&mut swarm, &config.listen, config.listen_is_default).await?;
        let control = swarm.behaviour().stream.new_control();
        let (handle, event_loop) = EventLoop::new(
            swarm,
            store.clone(),
            identity,
            shared.clone(),
            name,
            listen_addrs.clone(),
            config.limits,
        )?;
        let event_loop = tokio::spawn(event_loop.run());
        let zmq = match crate::zmq::start(
            &config.zmq,
            &config.data_dir,
            &curve,
            &handle,
            &shared.metrics.zmq,
        ) {
            Ok(zmq) => zmq,
            Err(e) => {
                let _ = handle.shutdown().await;
                let _ = event_loop.await;
                return Err(e);
            }
        };
        let media = Media {
            blobs: Blobs::start(&config.data_dir, store.clone(), control.clone(), &shared)?,
            pipes: Pipes::start(control.clone(), &shared)?,
            echo: crate::ping::echo::start(
                control.clone(),
                shared.door.clone(),
                shared.tally.clone(),
            )?,
            control,
            door: shared.door.clone(),
            transfers: Default::default(),
        };

        let (exporter, metrics_addr) = match config.metrics {
            Some(addr) => {
                let (serving, bound) = crate::metrics_server::serve(
                    addr,
                    registry,
                    shared.metrics.clone(),
                    handle.clone(),
                    store.clone(),
                )
                .await?;
                (Some(serving), Some(bound))
            }
            None => (None, None),
        };
        let api_socket = config.api_socket();
        let listener = bind_api(&api_socket)?;
        let (api_shutdown, shutdown_rx) = watch::channel(false);
        let router = api::server::router(handle.clone(), store, shutdown_rx.clone(), media.clone())
            .merge(api::doctor::routes(handle.clone(), config.data_dir.clone()))
            .merge(api::web::routes(web.as_ref().map(|(_, door)| door.clone())));
        let web = web.map(|(listener, door)| {
            crate::web::serve(
                listener,
                &door,
                router.clone(),
                shared.metrics.clone(),
                shutdown_rx.clone(),
            )
        });
        let api = tokio::spawn(async move {
            let mut shutdown = shutdown_rx;
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "local API server failed");
            }
        });
        tracing::info!(peer_id = %peer_id, socket = %api_socket.display(), "node started");
        Ok(Node {
            handle,
            peer_id,
            listen_addrs,
            api_socket,
            metrics_addr,
            event_loop,
            api,
            media,
            exporter,
            web,
            zmq,
            api_shutdown,
        })
    }

    /// Runs until `shutdown` resolves, then stops. An error says why the node stopped by
    /// itself (its store failed).
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), NodeError> {
        tokio::select! {
            _ = shutdown => {}
            // The loop stops by itself only when its store failed; stop the rest too.
            _ = self.handle.closed() => {}
        }
        self.stop().await
    }

    /// Stops the API (closing event streams), then the event loop (after a final flush),
    /// and removes the socket. An error says why the loop had already stopped.
    pub async fn stop(self) -> Result<(), NodeError> {
        let _ = self.api_shutdown.send(true);
        let _ = self.api.await;
        if let Some(web) = self.web {
            let _ = web.await;
        }
        self.media.stop();
        if let Some(zmq) = self.zmq {
            zmq.stop();
        }
        if let Some(exporter) = &self.exporter {
            exporter.abort();
        }
        let _ = self.handle.shutdown().await;
        let stopped = match self.event_loop.await {
            Ok(result) => result,
            Err(e) => Err(NodeError::Invalid(format!("the event loop panicked: {e}"))),
        };
        let _ = std::fs::remove_file(&self.api_socket);
        match &stopped {
            Ok(()) => tracing::info!("node stopped"),
            Err(e) => tracing::error!(error = %e, "node stopped"),
        }
        stopped
    }
}

/// What [`init`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// A new identity was created.
    Created(PeerId),
    /// The data dir already held this identity; nothing changed.
    Exists(PeerId),
}

/// Creates the node identity in `data_dir` unless one exists. The database is closed again
/// when this returns.
pub fn init(data_dir: &Path, name: Option<&str>) -> Result<Init, NodeError> {
    weft_proto::acl::check_new_member_name(name)
        .map_err(|e| NodeError::Invalid(format!("not a usable name: {e}")))?;
    prepare_data_dir(data_dir)?;
    let store = Store::open(data_dir)?;
    if let Some(existing) = store.identity.load()? {
        return Ok(Init::Exists(keypair(&existing)?.public().to_peer_id()));
    }
    let identity =
        weft_keys::Identity::generate().map_err(|e| NodeError::Invalid(e.to_string()))?;
    let peer = keypair(&identity)?.public().to_peer_id();
    if store.identity.create(&identity, name)? {
        Ok(Init::Created(peer))
    } else {
        let existing = store.identity.load()?.map(|i| keypair(&i)).transpose()?;
        Ok(Init::Exists(
            existing.map_or(peer, |k| k.public().to_peer_id()),
        ))
    }
}

/// The libp2p keypair of `identity` (its PeerId is the node's identity on the wire).
pub fn keypair(identity: &weft_keys::Identity) -> Result<libp2p::identity::Keypair, NodeError> {
    // `ed25519_from_bytes` zeroizes the copy it is given.
    libp2p::identity::Keypair::ed25519_from_bytes(*identity.secret_bytes())
        .map_err(|e| NodeError::Transport(e.to_string()))
}

/// Creates the data dir if needed, owner-only (0700): it holds the secret key.
pub fn prepare_data_dir(dir: &Path) -> Result<(), NodeError> {
    let io = |e: std::io::Error| {
        NodeError::Invalid(format!("cannot use data dir {}: {e}", dir.display()))
    };
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    check_private(dir)
}

/// Refuses a data dir another user could read, write or replace files in: it holds the
/// identity's secret key and the API socket (which, inside a private dir, no one else can
/// reach, not even between its bind and its chmod).
fn check_private(dir: &Path) -> Result<(), NodeError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| NodeError::Invalid(format!("cannot use data dir {}: {e}", dir.display())))?;
    let me = rustix::process::geteuid().as_raw();
    if !meta.is_dir() {
        return Err(NodeError::Invalid(format!(
            "data dir {} is not a directory (a symlink is refused too)",
            dir.display()
        )));
    }
    if meta.uid() != me {
        return Err(NodeError::Invalid(format!(
            "data dir {} belongs to another user (uid {}); use a dir of your own",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(NodeError::Invalid(format!(
            "data dir {} is open to other users (mode {:o}); fix it with `chmod 700 {}`",
            dir.display(),
            meta.mode() & 0o777,
            dir.display()
        )));
    }
    Ok(())
}

fn bind_api(path: &Path) -> Result<UnixListener, NodeError> {
    let fail =
        |e: &dyn std::fmt::Display| NodeError::Api(path.display().to_string(), e.to_string());
    // The store lock is held, so no other node uses this data dir: a socket file left here
    // is stale (a killed node) and safe to replace.
    if path.exists() {
        std::fs::remove_file(path).map_err(|e| fail(&e))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| fail(&e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| fail(&e))?;
    Ok(listener)
}
