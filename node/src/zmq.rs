//! Local ZeroMQ endpoints: existing ZeroMQ programs join the mesh by changing only their
//! endpoint string. Each endpoint (`weft node --zmq KIND[/NAME][=ENDPOINT]`) binds the
//! libzmq socket that matches what the program connects with and carries its messages
//! through the node's handle, so the ACL applies exactly as through the API:
//!
//! | the program's socket | endpoint | weft binds | module |
//! |---|---|---|---|
//! | PUB | `pub`, `pub/TOPIC` | SUB | [`topics`] |
//! | SUB | `sub`, `sub/TOPIC` | XPUB | [`topics`] |
//! | REQ, DEALER | `call/NAME` | ROUTER | [`calls`] |
//! | REP, ROUTER | `offer/NAME` | DEALER | [`calls`] |
//! | PUSH | `queue/NAME` | PULL | [`queues`] |
//! | PULL | `work/NAME` | PUSH | [`queues`] |
//! | DEALER (acknowledging) | `work-ack/NAME` | ROUTER | [`acked`] |
//!
//! ipc endpoints are Unix sockets in the data dir, owner only. TCP endpoints bind loopback
//! only and require CURVE, with the clients let in by [`curve`]'s ZAP handler.

pub mod acked;
pub mod calls;
pub mod curve;
mod presence;
pub mod queues;
pub mod socket;
pub mod spec;
pub mod topics;

use std::future::Future;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::pin::Pin;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::metrics::zmq::ZmqMetrics;
use crate::network::{NodeError, NodeHandle};
use presence::Presence;
use socket::Socket;
pub use spec::{Kind, Spec, Transport};

/// The most bytes one frame from a program may have; a longer one closes its connection
/// (libzmq's `ZMQ_MAXMSGSIZE`). Frames over the mesh's own caps but under this are refused
/// one by one.
const MAX_FRAME_BYTES: i64 = 4 * 1024 * 1024;

/// The most messages an endpoint reads ahead of what it has carried (libzmq's default).
const RECEIVE_QUEUE: i32 = 1000;

/// The most items a `queue` endpoint reads ahead of what is on disk. libzmq drops what a
/// receiver at its high-water mark had not read yet when the sender's connection closes,
/// so a PUSH program that sends a burst and exits would lose its tail if this were small;
/// past it, the program's sends wait (the back-pressure).
const QUEUE_READ_AHEAD: i32 = 10_000;

/// One endpoint as its task sees it: its name, the node, and where its counts go.
#[derive(Clone)]
pub struct Endpoint {
    /// `pub`, `call/NAME`, ...: in logs and metrics.
    pub name: String,
    /// The node.
    pub handle: NodeHandle,
    metrics: ZmqMetrics,
}

impl Endpoint {
    /// One message carried in `direction` (`in` from the program, `out` to it).
    pub fn passed(&self, direction: &str) {
        self.metrics.passed(&self.name, direction);
    }

    /// A message refused for `reason`: logged in one line and counted.
    pub fn refused(&self, reason: &str, why: &dyn std::fmt::Display) {
        tracing::warn!(endpoint = %self.name, reason, "zmq: refused: {why}");
        self.metrics.refused(&self.name, reason);
    }

    /// The socket itself failed: the endpoint stops, saying why.
    pub fn broken(&self, e: zmq::Error) {
        tracing::error!(endpoint = %self.name, "zmq: the endpoint stopped: {e}");
    }
}

/// The next of what `from` hands over, or never while there is nothing to take from (an
/// offer or a queue's work not under way).
async fn next<T>(from: Option<&mut tokio::sync::mpsc::Receiver<T>>) -> Option<T> {
    match from {
        Some(from) => from.recv().await,
        None => std::future::pending().await,
    }
}

/// The reason label of a refusal by the node, for metrics.
fn reason(e: &NodeError) -> &'static str {
    match e {
        NodeError::Forbidden(_) => "forbidden",
        NodeError::TooLarge(_) => "too-large",
        NodeError::Invalid(_) => "invalid",
        _ => "failed",
    }
}

/// The running endpoints. Dropping them closes them.
pub struct Zmq {
    tasks: Vec<JoinHandle<()>>,
}

impl Zmq {
    /// Closes every endpoint.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Zmq {
    fn drop(&mut self) {
        // The ZAP handler, started first, goes last.
        for task in self.tasks.iter().rev() {
            task.abort();
        }
    }
}

/// An endpoint's task, not yet spawned.
type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs a TCP endpoint only while the ZAP handler runs: with none, libzmq would let every
/// CURVE client in.
async fn while_zap_runs(task: Task, mut zap: watch::Receiver<()>, door: Endpoint) {
    tokio::select! {
        () = task => {}
        _ = zap.changed() => tracing::error!(
            endpoint = %door.name,
            "zmq: the ZAP handler stopped, so this tcp endpoint closed"
        ),
    }
}

/// Binds `specs` for the node on `data_dir` and starts carrying them. A spec that cannot
/// be served (libzmq without CURVE for a TCP endpoint, a path too long, an address in use)
/// stops the start with one line saying why.
pub fn start(
    specs: &[Spec],
    data_dir: &Path,
    server: &weft_keys::curve::CurveServerKey,
    handle: &NodeHandle,
    metrics: &ZmqMetrics,
) -> Result<Option<Zmq>, NodeError> {
    if specs.is_empty() {
        return Ok(None);
    }
    let refuse = |e: String| NodeError::Invalid(format!("zmq: {e}"));
    // Programs connect from wherever they run: endpoints are named by absolute paths.
    let data_dir = &std::path::absolute(data_dir).map_err(|e| refuse(e.to_string()))?;
    let dir = data_dir.join("zmq");
    curve::private_dir(&dir).map_err(refuse)?;
    let context = zmq::Context::new();
    let door = |name: &str| Endpoint {
        name: name.to_string(),
        handle: handle.clone(),
        metrics: metrics.clone(),
    };
    let mut zmq = Zmq { tasks: Vec::new() };
    let mut zap_runs = None;
    let tcp = specs
        .iter()
        .any(|s| !s.connect && matches!(s.transport(data_dir), Transport::Tcp(_)));
    if tcp {
        if zmq::has("curve") != Some(true) {
            return Err(refuse(
                "a tcp endpoint needs CURVE, and this libzmq was built without it (install a libzmq built with libsodium, or use ipc endpoints)".into(),
            ));
        }
        // Before any TCP endpoint binds: without a handler, libzmq lets every client in.
        let zap = context
            .socket(zmq::REP)
            .and_then(|s| s.bind(curve::ZAP_ENDPOINT).map(|()| s))
            .map_err(|e| refuse(format!("cannot start the ZAP handler: {e}")))?;
        let zap = Socket::new(zap).map_err(|e| refuse(e.to_string()))?;
        let (running, runs) = watch::channel(());
        zap_runs = Some(runs);
        let serving = curve::serve(zap, dir.clone(), door("curve"));
        zmq.tasks.push(tokio::spawn(async move {
            serving.await;
            drop(running);
        }));
    }
    // For `weft zmq key`, which runs without the store (the node holds its lock).
    let key = curve::z85(&server.public());
    std::fs::write(dir.join(curve::SERVER_KEY_FILE), format!("{key}\n"))
        .map_err(|e| refuse(format!("cannot write the server key: {e}")))?;
    if tcp {
        tracing::info!(server_key = %key, "zmq: tcp endpoints serve CURVE with this server key");
    }
    let mut places = std::collections::HashSet::new();
    for spec in specs {
        let transport = spec.transport(data_dir);
        transport.check().map_err(refuse)?;
        if !places.insert(transport.endpoint()) {
            return Err(refuse(format!("two endpoints at {}", transport.endpoint())));
        }
        let bound = open(&context, spec, &transport, server)
            .map_err(|e| refuse(format!("{}: {e}", transport.endpoint())))?;
        let name = spec.kind.path();
        let (socket, presence) = bound;
        let task = serve(spec, socket, presence, door(&name)).map_err(refuse)?;
        let task = match (&transport, &zap_runs) {
            (Transport::Tcp(_), Some(runs)) if !spec.connect => {
                Box::pin(while_zap_runs(task, runs.clone(), door(&name)))
            }
            _ => task,
        };
        zmq.tasks.push(tokio::spawn(task));
        let how = if spec.connect {
            "connected to"
        } else {
            "bound at"
        };
        tracing::info!(endpoint = %name, "zmq: endpoint {name} {how} {}", transport.endpoint());
    }
    Ok(Some(zmq))
}

/// The libzmq socket type weft opens for a program's socket on `kind`.
fn socket_type(kind: &Kind) -> zmq::SocketType {
    match kind {
        Kind::Pub(_) => zmq::SUB,
        Kind::Sub(_) => zmq::XPUB,
        Kind::Call(_) => zmq::ROUTER,
        Kind::Offer(_) => zmq::DEALER,
        Kind::Queue(_) => zmq::PULL,
        Kind::Work(_) => zmq::PUSH,
        Kind::WorkAck(_) => zmq::ROUTER,
    }
}

/// Opens `spec`'s socket at `transport`: connected to a program bound there, or bound
/// there (ipc owner only, tcp behind CURVE); with its [`Presence`] when the endpoint hands
/// work to programs, watching from before the first connection.
fn open(
    context: &zmq::Context,
    spec: &Spec,
    transport: &Transport,
    server: &weft_keys::curve::CurveServerKey,
) -> Result<(zmq::Socket, Option<Presence>), String> {
    let socket = context
        .socket(socket_type(&spec.kind))
        .map_err(|e| e.to_string())?;
    let set = |r: zmq::Result<()>| r.map_err(|e| e.to_string());
    set(socket.set_linger(0))?;
    set(socket.set_maxmsgsize(MAX_FRAME_BYTES))?;
    set(socket.set_rcvhwm(RECEIVE_QUEUE))?;
    match &spec.kind {
        Kind::Pub(_) => set(socket.set_subscribe(b""))?,
        Kind::Queue(_) => set(socket.set_rcvhwm(QUEUE_READ_AHEAD))?,
        // One item in weft's queue: the program's own socket is the back-pressure.
        Kind::Work(_) => set(socket.set_sndhwm(1))?,
        // A send to a program that is gone fails, so its item goes to another.
        Kind::WorkAck(_) => set(socket.set_router_mandatory(true))?,
        _ => {}
    }
    let presence = match &spec.kind {
        Kind::Offer(_) | Kind::Work(_) | Kind::WorkAck(_) => {
            Some(Presence::watch(context, &socket)?)
        }
        _ => None,
    };
    if spec.connect {
        // The program's own door: weft is its client, as any ZeroMQ peer would be.
        set(socket.connect(&transport.endpoint()))?;
        return Ok((socket, presence));
    }
    match transport {
        Transport::Ipc(path) => {
            if let Some(parent) = path.parent() {
                curve::private_dir(parent)?;
            }
            // A socket left by a killed node is replaced; anything else there is not ours.
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                if !meta.file_type().is_socket() {
                    return Err(format!("{} exists and is not a socket", path.display()));
                }
                std::fs::remove_file(path)
                    .map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
            }
            set(socket.bind(&transport.endpoint()))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| e.to_string())?;
        }
        Transport::Tcp(_) => {
            set(socket.set_curve_server(true))?;
            set(socket.set_curve_secretkey(server.secret()))?;
            set(socket.set_zap_domain(curve::DOMAIN))?;
            set(socket.bind(&transport.endpoint()))?;
        }
    }
    Ok((socket, presence))
}

/// The task that carries `spec`'s messages on `socket`.
fn serve(
    spec: &Spec,
    socket: zmq::Socket,
    presence: Option<Presence>,
    door: Endpoint,
) -> Result<Task, String> {
    let watched = || presence.ok_or_else(|| "no presence watch".to_string());
    let socket = wrap(socket)?;
    Ok(match &spec.kind {
        Kind::Pub(topic) => Box::pin(topics::publish(socket, topic.clone(), door)),
        Kind::Sub(topic) => Box::pin(topics::subscribe(socket, topic.clone(), door)),
        Kind::Call(service) => Box::pin(calls::call(socket, service.clone(), door)),
        Kind::Offer(service) => Box::pin(calls::offer(socket, watched()?, service.clone(), door)),
        Kind::Queue(queue) => Box::pin(queues::push(socket, queue.clone(), door)),
        Kind::Work(queue) => Box::pin(queues::work(socket, watched()?, queue.clone(), door)),
        Kind::WorkAck(queue) => Box::pin(acked::work(socket, watched()?, queue.clone(), door)),
    })
}

fn wrap(socket: zmq::Socket) -> Result<Socket, String> {
    Socket::new(socket).map_err(|e| e.to_string())
}
