//! [`Client`]: the typed async client of a node's local API. The CLI uses nothing else, and
//! programs built on weft use it through the `weft` facade crate.
//!
//! ```no_run
//! # async fn demo() -> Result<(), weft_node::api::client::ClientError> {
//! let node = weft_node::api::client::Client::for_data_dir("/home/me/.local/share/weft");
//! let status = node.status().await?;
//! println!("{} has {} peers", status.peer_id, status.peers);
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;
use weft_proto::api::{
    AddMemberRequest, ApiError, CreateInviteRequest, CreateMeshRequest, DialRequest, DialResponse,
    Event, IdResponse, InboxQuery, InviteInfo, JoinMeshRequest, MemberInfo, MeshInfo, Message,
    NameRequest, PeerInfo, PublishRequest, PublishResponse, QueuePolicyRequest, SendRequest,
    SendResponse, ServicePolicyRequest, SetRoleRequest, Status, TopicPolicyRequest, WebInfo,
};

use weft_proto::media::{FetchEvent, FetchRequest, ShareRequest, ShareResponse};
use weft_proto::mesh::Role;
use weft_proto::operate::{DoctorCheck, PingEvent, PingRequest};

use super::media::{PIPE_PEER_HEADER, PIPE_UPGRADE};

mod handler;
mod pool;
mod queues;
mod services;

use crate::config::api_socket;
pub use queues::{Item, WorkOptions};
pub use services::OfferOptions;

/// Longest event line accepted from the stream.
const MAX_EVENT_LINE: usize = 1024 * 1024;

/// What went wrong talking to the node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No node serves the socket.
    #[error(
        "no weft node is running on {data_dir} (start one with `weft node --data-dir {data_dir}`)"
    )]
    NotRunning {
        /// The data dir whose socket was tried.
        data_dir: String,
    },
    /// The node answered with an error.
    #[error("{message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The node's one-line explanation.
        message: String,
    },
    /// The connection failed midway.
    #[error("talking to the node failed: {0}")]
    Io(String),
    /// The node's answer did not parse.
    #[error("unexpected answer from the node: {0}")]
    Decode(String),
}

/// A client of one node's API socket. Cheap to clone; clones share the connections kept
/// open between requests (a stream of events or a pipe has its own).
#[derive(Clone, Debug)]
pub struct Client {
    socket: PathBuf,
    pool: pool::Pool,
}

impl Client {
    /// A client of the node whose data dir is `data_dir`.
    pub fn for_data_dir(data_dir: impl AsRef<Path>) -> Client {
        Client {
            socket: api_socket(data_dir.as_ref()),
            pool: pool::Pool::default(),
        }
    }

    /// The node's status.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get("/v1/status").await
    }

    /// The node's PeerId and dialable addresses.
    pub async fn id(&self) -> Result<IdResponse, ClientError> {
        self.get("/v1/id").await
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, ClientError> {
        self.get("/v1/peers").await
    }

    /// Connects the node to `addr`; returns the PeerId once connected.
    pub async fn dial(&self, addr: &str) -> Result<String, ClientError> {
        let body = DialRequest { addr: addr.into() };
        let answer: DialResponse = self.request(Method::POST, "/v1/dial", Some(&body)).await?.1;
        Ok(answer.peer_id)
    }

    /// Sends a direct message. With `wait`, answers once the recipient acknowledged it (or
    /// the timeout passed, leaving it queued); without, once it is durably queued.
    pub async fn send(&self, request: &SendRequest) -> Result<SendResponse, ClientError> {
        Ok(self
            .request(Method::POST, "/v1/messages", Some(request))
            .await?
            .1)
    }

    /// Publishes on `topic`.
    pub async fn publish(&self, topic: &str, text: &str) -> Result<PublishResponse, ClientError> {
        self.publish_as(topic, text, false).await
    }

    /// Gossips a benchmark message on `topic` (`weft bench topic`): stored nowhere.
    pub async fn publish_bench(
        &self,
        topic: &str,
        text: &str,
    ) -> Result<PublishResponse, ClientError> {
        self.publish_as(topic, text, true).await
    }

    async fn publish_as(
        &self,
        topic: &str,
        text: &str,
        bench: bool,
    ) -> Result<PublishResponse, ClientError> {
        let body = PublishRequest {
            text: text.into(),
            bench,
        };
        let path = format!("/v1/topics/{topic}/messages");
        Ok(self.request(Method::POST, &path, Some(&body)).await?.1)
    }

    /// Joins (`true`) or leaves a topic; returns whether anything changed.
    pub async fn subscribe(&self, topic: &str, join: bool) -> Result<bool, ClientError> {
        let method = if join { Method::PUT } else { Method::DELETE };
        let path = format!("/v1/topics/{topic}/subscription");
        let answer: serde_json::Value = self.request::<(), _>(method, &path, None).await?.1;
        Ok(answer["changed"].as_bool().unwrap_or(false))
    }

    /// The stored history matching `query`, oldest first.
    pub async fn inbox(&self, query: &InboxQuery) -> Result<Vec<Message>, ClientError> {
        let qs = serde_urlencoded_query(query);
        self.get(&format!("/v1/messages{qs}")).await
    }

    /// Founds a mesh with this node as its first admin.
    pub async fn mesh_create(&self, name: Option<String>) -> Result<MeshInfo, ClientError> {
        let body = CreateMeshRequest { name };
        Ok(self.request(Method::POST, "/v1/mesh", Some(&body)).await?.1)
    }

    /// The mesh this node belongs to.
    pub async fn mesh(&self) -> Result<MeshInfo, ClientError> {
        self.get("/v1/mesh").await
    }

    /// Issues an invite key (admins only); the answer carries the key.
    pub async fn invite_create(
        &self,
        request: &CreateInviteRequest,
    ) -> Result<InviteInfo, ClientError> {
        Ok(self
            .request(Method::POST, "/v1/invites", Some(request))
            .await?
            .1)
    }

    /// Outstanding invites this node issued.
    pub async fn invites(&self) -> Result<Vec<InviteInfo>, ClientError> {
        self.get("/v1/invites").await
    }

    /// Revokes an invite by its id.
    pub async fn invite_revoke(&self, id: &str) -> Result<InviteInfo, ClientError> {
        let path = format!("/v1/invites/{id}");
        Ok(self.request::<(), _>(Method::DELETE, &path, None).await?.1)
    }

    /// Redeems an invite key: reaches its issuer, proves the secret, adopts the ACL log.
    pub async fn join(&self, invite: &str) -> Result<MeshInfo, ClientError> {
        let body = JoinMeshRequest {
            invite: invite.into(),
        };
        Ok(self.request(Method::POST, "/v1/join", Some(&body)).await?.1)
    }

    /// Admits a known key without an invite (admins only).
    pub async fn member_add(&self, request: &AddMemberRequest) -> Result<MemberInfo, ClientError> {
        Ok(self
            .request(Method::POST, "/v1/members", Some(request))
            .await?
            .1)
    }

    /// Removes a member, permanently (admins only).
    pub async fn member_remove(&self, peer: &str) -> Result<MemberInfo, ClientError> {
        let path = format!("/v1/members/{peer}");
        Ok(self.request::<(), _>(Method::DELETE, &path, None).await?.1)
    }

    /// Names a member (admins only); `None` takes its name away.
    pub async fn member_name(
        &self,
        peer: &str,
        name: Option<String>,
    ) -> Result<MemberInfo, ClientError> {
        let path = format!("/v1/members/{peer}/name");
        Ok(self
            .request(Method::PUT, &path, Some(&NameRequest { name }))
            .await?
            .1)
    }

    /// Sets the name this node calls itself; `None` takes it back.
    pub async fn display_name(&self, name: Option<String>) -> Result<MemberInfo, ClientError> {
        Ok(self
            .request(Method::PUT, "/v1/display-name", Some(&NameRequest { name }))
            .await?
            .1)
    }

    /// Changes a member's role (admins only).
    pub async fn member_role(&self, peer: &str, role: Role) -> Result<MemberInfo, ClientError> {
        let path = format!("/v1/members/{peer}/role");
        Ok(self
            .request(Method::PUT, &path, Some(&SetRoleRequest { role }))
            .await?
            .1)
    }

    /// Restricts who may publish on `topic` (admins only): roles or PeerIds.
    pub async fn topic_policy(&self, topic: &str, publish: Vec<String>) -> Result<(), ClientError> {
        let path = format!("/v1/topics/{topic}/policy");
        self.put_policy(&path, &TopicPolicyRequest { publish })
            .await
    }

    /// Restricts who may offer and who may call `service` (admins only): roles or PeerIds.
    pub async fn service_policy(
        &self,
        service: &str,
        offer: Vec<String>,
        call: Vec<String>,
    ) -> Result<(), ClientError> {
        let path = format!("/v1/services/{service}/policy");
        self.put_policy(&path, &ServicePolicyRequest { offer, call })
            .await
    }

    /// Restricts who may push to and who may work `queue` (admins only): roles or PeerIds.
    pub async fn queue_policy(
        &self,
        queue: &str,
        push: Vec<String>,
        work: Vec<String>,
    ) -> Result<(), ClientError> {
        let path = format!("/v1/queues/{queue}/policy");
        self.put_policy(&path, &QueuePolicyRequest { push, work })
            .await
    }

    async fn put_policy<B: Serialize>(&self, path: &str, body: &B) -> Result<(), ClientError> {
        let _: serde_json::Value = self.request(Method::PUT, path, Some(body)).await?.1;
        Ok(())
    }

    /// The mesh's members.
    pub async fn members(&self) -> Result<Vec<MemberInfo>, ClientError> {
        self.get("/v1/members").await
    }

    /// The node's checks of what it needs to talk to its mesh (`weft doctor`).
    pub async fn doctor(&self) -> Result<Vec<DoctorCheck>, ClientError> {
        self.get("/v1/doctor").await
    }

    /// Where the node's web page is, and the URL that opens it.
    pub async fn web(&self) -> Result<WebInfo, ClientError> {
        self.get("/v1/web").await
    }

    /// Replaces the web page's token (the old one opens nothing more); the new URL.
    pub async fn web_rotate(&self) -> Result<WebInfo, ClientError> {
        Ok(self
            .request::<(), _>(Method::POST, "/v1/web/token", None)
            .await?
            .1)
    }

    /// Every event from now on (only messages on `topic`, if given), until the node stops.
    pub async fn events(
        &self,
        topic: Option<&str>,
    ) -> Result<impl Stream<Item = Result<Event, ClientError>> + use<>, ClientError> {
        let path = match topic {
            Some(t) => format!("/v1/events?topic={t}"),
            None => "/v1/events".to_string(),
        };
        self.events_at(&path).await
    }

    /// The benchmark messages arriving on `topic` (`weft bench topic --receive`), as
    /// [`Event::Bench`] lines (and [`Event::Lagged`] when this stream fell behind).
    pub async fn bench_events(
        &self,
        topic: &str,
    ) -> Result<impl Stream<Item = Result<Event, ClientError>> + use<>, ClientError> {
        self.events_at(&format!("/v1/events?topic={topic}&bench=true"))
            .await
    }

    async fn events_at(
        &self,
        path: &str,
    ) -> Result<impl Stream<Item = Result<Event, ClientError>> + use<>, ClientError> {
        let response = self.send_request::<()>(Method::GET, path, None).await?;
        let status = response.status();
        if !status.is_success() {
            let body = collect(response.into_body()).await?;
            return Err(api_error(status, &body));
        }
        Ok(json_lines(response.into_body()))
    }

    /// Adds the file at `path` (absolute) to the node's blob store.
    pub async fn share(&self, path: &str) -> Result<ShareResponse, ClientError> {
        let request = ShareRequest { path: path.into() };
        Ok(self
            .request(Method::POST, "/v1/blobs", Some(&request))
            .await?
            .1)
    }

    /// Starts fetching a blob; the stream reports progress until `done` or `failed`.
    /// Dropping it stops the fetch (what arrived stays for the next one).
    pub async fn fetch(
        &self,
        request: &FetchRequest,
    ) -> Result<impl Stream<Item = Result<FetchEvent, ClientError>> + use<>, ClientError> {
        self.lines(Method::POST, "/v1/blobs/fetch", request).await
    }

    /// Sends `body` and reads the answer as one JSON value per line.
    async fn lines<B: Serialize, T: DeserializeOwned + Send + 'static>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<impl Stream<Item = Result<T, ClientError>> + use<B, T>, ClientError> {
        let response = self.send_request(method, path, Some(body)).await?;
        let status = response.status();
        if !status.is_success() {
            let body = collect(response.into_body()).await?;
            return Err(api_error(status, &body));
        }
        Ok(json_lines(response.into_body()))
    }

    /// Round trips to a member; the stream says the path, then each reply or loss.
    pub async fn ping(
        &self,
        request: &PingRequest,
    ) -> Result<impl Stream<Item = Result<PingEvent, ClientError>> + use<>, ClientError> {
        self.lines(Method::POST, "/v1/ping", request).await
    }

    /// Opens a pipe to `peer`, or with `peer` `None` waits for a member (`from`, or any) to
    /// open one here. Returns the member at the other end, the socket, which from now on
    /// carries the pipe's bytes both ways (blocking), and bytes of the pipe that arrived with
    /// the answer (they come before anything read from the socket).
    pub async fn pipe(
        &self,
        peer: Option<&str>,
        from: Option<&str>,
    ) -> Result<(String, std::os::unix::net::UnixStream, Bytes), ClientError> {
        let path = match (peer, from) {
            (Some(peer), _) => format!("/v1/pipe?peer={peer}"),
            (None, Some(from)) => format!("/v1/pipe?accept=true&from={from}"),
            (None, None) => "/v1/pipe?accept=true".to_string(),
        };
        let mut sender = self.connect(true).await?;
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header("host", "weft")
            .header("connection", "upgrade")
            .header("upgrade", PIPE_UPGRADE)
            .body(Full::new(Bytes::new()))
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let status = response.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let body = collect(response.into_body()).await?;
            return Err(api_error(status, &body));
        }
        let other = response
            .headers()
            .get(PIPE_PEER_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let parts = upgraded
            .downcast::<TokioIo<UnixStream>>()
            .map_err(|_| ClientError::Io("the pipe is not on the Unix socket".into()))?;
        let socket = parts
            .io
            .into_inner()
            .into_std()
            .and_then(|s| s.set_nonblocking(false).map(|()| s))
            .map_err(|e| ClientError::Io(e.to_string()))?;
        Ok((other, socket, parts.read_buf))
    }

    /// POSTs `body` as raw bytes to `path`: the answer's bytes, or the node's error.
    pub(super) async fn post_bytes(&self, path: &str, body: Vec<u8>) -> Result<Bytes, ClientError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("host", "weft")
            .header("content-type", "application/octet-stream")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let (status, bytes) = self.answered(request).await?;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        Ok(bytes)
    }

    /// Sends `request` on a kept connection, or a new one, and reads its answer whole; the
    /// connection is kept for the next request.
    async fn answered(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let (sender, response) = match self.pool.send(request).await {
            pool::Sent::Answered(sender, response) => (sender, response),
            pool::Sent::Failed(e) => return Err(ClientError::Io(e.to_string())),
            pool::Sent::NotTaken(request) => {
                let mut sender = self.connect(false).await?;
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(|e| ClientError::Io(e.to_string()))?;
                (sender, response)
            }
        };
        let status = response.status();
        let bytes = collect(response.into_body()).await?;
        self.pool.keep(sender);
        Ok((status, bytes))
    }

    async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        Ok(self.request::<(), R>(Method::GET, path, None).await?.1)
    }

    async fn request<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(StatusCode, R), ClientError> {
        let (status, bytes) = self.answered(build(method, path, body)?).await?;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        let value =
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok((status, value))
    }

    async fn send_request<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        let mut sender = self.connect(false).await?;
        sender
            .send_request(build(method, path, body)?)
            .await
            .map_err(|e| ClientError::Io(e.to_string()))
    }

    /// Opens an HTTP/1.1 connection to the node (one that may be upgraded, if asked).
    async fn connect(
        &self,
        upgrades: bool,
    ) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, ClientError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    ClientError::NotRunning {
                        data_dir: self
                            .socket
                            .parent()
                            .unwrap_or(&self.socket)
                            .display()
                            .to_string(),
                    }
                }
                _ => ClientError::Io(format!("{}: {e}", self.socket.display())),
            })?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?;
        if upgrades {
            tokio::spawn(async move {
                let _ = connection.with_upgrades().await;
            });
        } else {
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
        Ok(sender)
    }
}

/// A request with `body` as JSON.
fn build<B: Serialize>(
    method: Method,
    path: &str,
    body: Option<&B>,
) -> Result<Request<Full<Bytes>>, ClientError> {
    let bytes = match body {
        Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Decode(e.to_string()))?,
        None => Vec::new(),
    };
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "weft")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .map_err(|e| ClientError::Io(e.to_string()))
}

async fn collect(body: Incoming) -> Result<Bytes, ClientError> {
    Ok(body
        .collect()
        .await
        .map_err(|e| ClientError::Io(e.to_string()))?
        .to_bytes())
}

fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<ApiError>(body)
        .map(|e| e.error)
        .unwrap_or_else(|_| format!("HTTP {status}: {}", String::from_utf8_lossy(body)));
    ClientError::Api {
        status: status.as_u16(),
        message,
    }
}

/// Splits a streamed body into newline-delimited JSON values.
fn json_lines<T: DeserializeOwned + Send + 'static>(
    body: Incoming,
) -> impl Stream<Item = Result<T, ClientError>> {
    futures::stream::unfold(
        (body, BytesMut::new(), false),
        |(mut body, mut buf, done)| async move {
            loop {
                if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line = buf.split_to(pos + 1);
                    let event = serde_json::from_slice::<T>(&line[..pos])
                        .map_err(|e| ClientError::Decode(e.to_string()));
                    return Some((event, (body, buf, done)));
                }
                if done {
                    return None;
                }
                if buf.len() > MAX_EVENT_LINE {
                    return Some((
                        Err(ClientError::Decode("event line too long".into())),
                        (body, BytesMut::new(), true),
                    ));
                }
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(mut data) = frame.into_data() {
                            while data.has_remaining() {
                                let chunk = data.chunk();
                                buf.extend_from_slice(chunk);
                                let n = chunk.len();
                                data.advance(n);
                            }
                        }
                    }
                    Some(Err(e)) => {
                        return Some((Err(ClientError::Io(e.to_string())), (body, buf, true)));
                    }
                    None => return None,
                }
            }
        },
    )
    .boxed()
}

/// `?from=..&topic=..&limit=..` for the set fields of `query`.
fn serde_urlencoded_query(query: &InboxQuery) -> String {
    let mut parts = Vec::new();
    if let Some(from) = &query.from {
        parts.push(format!("from={from}"));
    }
    if let Some(topic) = &query.topic {
        parts.push(format!("topic={topic}"));
    }
    if let Some(limit) = query.limit {
        parts.push(format!("limit={limit}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}
