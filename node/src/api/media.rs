//! The API routes for blobs and pipes: sharing a file, fetching a blob with streamed
//! progress, and splicing a caller's connection onto a pipe (an HTTP upgrade, after which
//! the connection carries the pipe's raw bytes both ways).

use std::convert::Infallible;
use std::path::Path;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use futures::StreamExt;
use hyper_util::rt::TokioIo;
use libp2p::PeerId;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::compat::FuturesAsyncReadCompatExt;
use weft_proto::media::{FetchRequest, ShareRequest, ShareResponse, Transfer};
use weft_proto::operate::{PingEvent, PingRequest};

use super::server::{ApiState, Failure, bad_request, parse_peer};
use crate::blob::Blobs;
use crate::mesh::door::Door;
use crate::pipe::{Pipe, Pipes};

use super::transfers::{Counted, Transfers, now_ms};

/// The `Upgrade` token of a pipe.
pub const PIPE_UPGRADE: &str = "weft-pipe";

/// The header naming the member at the other end of a pipe.
pub const PIPE_PEER_HEADER: &str = "x-weft-peer";

/// Buffer per direction when splicing a pipe onto a caller's connection.
const SPLICE_BUFFER: usize = 256 * 1024;

/// Blobs, pipes and pings: the streams the API starts beside the event loop.
#[derive(Clone)]
pub struct Media {
    /// Opens ping streams.
    pub control: libp2p_stream::Control,
    /// The node's blobs.
    pub blobs: Blobs,
    /// The node's pipes.
    pub pipes: Pipes,
    /// Who is a member (fetch sources are connected members).
    pub door: Door,
    /// The fetches and pipes running now.
    pub transfers: Transfers,
    /// The task answering members' pings.
    pub echo: tokio::task::AbortHandle,
}

impl Media {
    /// Stops serving blobs, pipes and pings (the node is stopping).
    pub fn stop(&self) {
        self.blobs.stop();
        self.pipes.stop();
        self.echo.abort();
    }
}

/// The routes of this module.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/blobs", post(share))
        .route("/v1/blobs/fetch", post(fetch))
        .route("/v1/pipe", get(pipe))
        .route("/v1/ping", post(ping))
        .route("/v1/transfers", get(transfers))
}

async fn share(
    State(s): State<ApiState>,
    Json(request): Json<ShareRequest>,
) -> Result<Json<ShareResponse>, Failure> {
    let path = absolute(&request.path)?;
    let (offer, chunks) = s
        .media
        .blobs
        .share(path)
        .await
        .map_err(|e| bad_request(e.to_string()))?;
    Ok(Json(ShareResponse { offer, chunks }))
}

async fn fetch(
    State(s): State<ApiState>,
    Json(request): Json<FetchRequest>,
) -> Result<Response, Failure> {
    let out = absolute(&request.out)?.to_path_buf();
    let sources = if request.from.is_empty() {
        s.handle
            .peers()
            .await?
            .iter()
            .filter_map(|p| p.peer_id.parse::<PeerId>().ok())
            .filter(|p| s.media.door.admits(p))
            .collect()
    } else {
        request
            .from
            .iter()
            .map(|p| parse_peer(p))
            .collect::<Result<Vec<_>, _>>()?
    };
    let (tx, rx) = mpsc::channel(64);
    let blobs = s.media.blobs.clone();
    let running = s.media.transfers.start(Transfer::Fetch {
        blob: request.blob,
        sources: vec![],
        done: 0,
        size: 0,
        since_ms: now_ms(),
    });
    let task = tokio::spawn(async move { blobs.fetch_to(request.blob, sources, &out, tx).await });
    // The fetch stops when the caller hangs up; what arrived stays for the next one.
    json_lines(rx, task, move |event| running.fetched(event))
}

async fn transfers(State(s): State<ApiState>) -> Json<Vec<Transfer>> {
    Json(s.media.transfers.list())
}

/// A response of one JSON object per line, one per event `task` sends on `rx` (each shown
/// to `watch` first); `task` stops when the caller hangs up.
fn json_lines<T: serde::Serialize + Send + 'static>(
    rx: mpsc::Receiver<T>,
    task: tokio::task::JoinHandle<()>,
    watch: impl Fn(&T) + Send + Sync + 'static,
) -> Result<Response, Failure> {
    let guard = AbortOnDrop(task);
    let lines = ReceiverStream::new(rx).map(move |event| {
        let _ = &guard;
        watch(&event);
        let mut line = serde_json::to_string(&event).unwrap_or_default();
        line.push('\n');
        Ok::<_, Infallible>(line)
    });
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(lines))
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn ping(
    State(s): State<ApiState>,
    Json(request): Json<PingRequest>,
) -> Result<Response, Failure> {
    let peer = parse_peer(&request.peer)?;
    if !s.media.door.admits(&peer) {
        return Err(bad_request(format!("{peer} is not a member of this mesh")));
    }
    let peers = s.handle.peers().await?;
    let Some(connected) = peers.iter().find(|p| p.peer_id == request.peer) else {
        return Err(Failure(
            StatusCode::BAD_GATEWAY,
            format!("not connected to {peer}; `weft doctor` says why, `weft peers` lists who is"),
        ));
    };
    let (tx, rx) = mpsc::channel(16);
    let path = PingEvent::Path {
        path: connected.path.clone(),
        addr: connected.addr.clone(),
    };
    let _ = tx.send(path).await;
    let interval = std::time::Duration::from_millis(request.interval_ms.min(60_000));
    let control = s.media.control.clone();
    let task = tokio::spawn(crate::ping::ping(
        control,
        peer,
        request.count,
        interval,
        tx,
    ));
    json_lines(rx, task, |_| {})
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `GET /v1/pipe?peer=PEER` opens a pipe; `GET /v1/pipe?accept=true[&from=PEER]` waits for
/// one.
#[derive(Deserialize)]
struct PipeQuery {
    peer: Option<String>,
    #[serde(default)]
    accept: bool,
    from: Option<String>,
}

async fn pipe(
    State(s): State<ApiState>,
    Query(query): Query<PipeQuery>,
    mut request: Request,
) -> Result<Response, Failure> {
    let upgrade = request
        .headers()
        .get("upgrade")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(PIPE_UPGRADE.as_bytes()));
    if !upgrade {
        return Err(bad_request(format!(
            "a pipe needs `Connection: upgrade` and `Upgrade: {PIPE_UPGRADE}`"
        )));
    }
    let pipes = &s.media.pipes;
    let pipe = match (query.accept, query.peer.as_deref()) {
        (true, None) => {
            let from = query.from.as_deref().map(parse_peer).transpose()?;
            pipes.accept(from).await
        }
        (false, Some(peer)) => pipes.open(parse_peer(peer)?).await,
        _ => return Err(bad_request("name a peer or accept, not both".into())),
    }
    .map_err(|e| Failure(StatusCode::BAD_GATEWAY, e))?;
    let peer = pipe.peer.to_string();
    let on_upgrade = hyper::upgrade::on(&mut request);
    let transfers = s.media.transfers.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => splice(TokioIo::new(upgraded), pipe, &transfers).await,
            Err(e) => tracing::warn!(error = %e, "a pipe's caller went away before it opened"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "upgrade")
        .header("upgrade", PIPE_UPGRADE)
        .header(PIPE_PEER_HEADER, peer)
        .body(Body::empty())
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Copies both ways between the caller's connection and the pipe until both halves ended,
/// counting both ways in `transfers` meanwhile.
async fn splice(caller: TokioIo<hyper::upgrade::Upgraded>, pipe: Pipe, transfers: &Transfers) {
    let Pipe { peer, stream, .. } = pipe;
    let running = transfers.start(Transfer::Pipe {
        peer: peer.to_string(),
        sent: 0,
        received: 0,
        since_ms: now_ms(),
    });
    let mut caller = Counted {
        io: caller,
        running,
    };
    let mut stream = stream.compat();
    let copied = tokio::io::copy_bidirectional_with_sizes(
        &mut caller,
        &mut stream,
        SPLICE_BUFFER,
        SPLICE_BUFFER,
    )
    .await;
    let peer = crate::core::short(&peer);
    match copied {
        Ok((sent, received)) => tracing::info!(%peer, sent, received, "pipe closed"),
        Err(e) => tracing::info!(%peer, error = %e, "pipe broken"),
    }
}

/// `path` if absolute: the node and the caller may not share a working directory.
fn absolute(path: &str) -> Result<&Path, Failure> {
    let path = Path::new(path);
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(bad_request(format!(
            "{} is not an absolute path",
            path.display()
        )))
    }
}
