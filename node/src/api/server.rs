//! The API server: routes from HTTP to [`NodeHandle`] calls and store reads.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use futures::StreamExt;
use libp2p::{Multiaddr, PeerId};
use serde::Deserialize;
use tokio::sync::watch;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use weft_keys::invite::Invite;
use weft_proto::api::{
    AddMemberRequest, ApiError, CreateInviteRequest, CreateMeshRequest, DeliveryState, DialRequest,
    DialResponse, Event, InboxQuery, JoinMeshRequest, NameRequest, PublishRequest, PublishResponse,
    SendRequest, SendResponse, SetRoleRequest, TopicPolicyRequest, Waiting,
};
use weft_proto::topic::TopicName;

use super::media::Media;
use crate::network::handle::{Delivery, Policy};
use crate::network::{NodeError, NodeHandle};
use crate::store::Store;

/// Largest request body: a service request (1 MiB) with room to spare. Message texts are
/// capped far below (64 KiB); bodies past this are refused before they are read.
const MAX_BODY_BYTES: usize = weft_proto::service::MAX_SERVICE_BODY_BYTES + 64 * 1024;

/// How long `POST /v1/messages` waits for an acknowledgement when the caller names no
/// timeout.
const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// What every route may use.
#[derive(Clone)]
pub(super) struct ApiState {
    pub(super) handle: NodeHandle,
    store: Store,
    shutdown: watch::Receiver<bool>,
    pub(super) media: Media,
}

/// The API's routes over `handle` (commands), `store` (history reads) and `media` (blobs
/// and pipes). Event streams end when `shutdown` turns true.
pub fn router(
    handle: NodeHandle,
    store: Store,
    shutdown: watch::Receiver<bool>,
    media: Media,
) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/id", get(id))
        .route("/v1/peers", get(peers))
        .route("/v1/dial", post(dial))
        .route("/v1/messages", post(send).get(inbox))
        .route("/v1/topics/{topic}/messages", post(publish))
        .route(
            "/v1/topics/{topic}/subscription",
            put(subscribe).delete(unsubscribe),
        )
        .route("/v1/events", get(events))
        .route("/v1/mesh", post(mesh_create).get(mesh))
        .route("/v1/invites", post(invite_create).get(invites))
        .route("/v1/invites/{id}", axum::routing::delete(invite_revoke))
        .route("/v1/members", get(members).post(member_add))
        .route("/v1/members/{peer}", axum::routing::delete(member_remove))
        .route("/v1/members/{peer}/role", put(member_role))
        .route("/v1/members/{peer}/name", put(member_name))
        .route("/v1/display-name", put(display_name))
        .route("/v1/links", get(links))
        .route("/v1/topics/{topic}/policy", put(topic_policy))
        .route("/v1/join", post(join))
        .merge(super::media::routes())
        .merge(super::services::routes())
        .merge(super::queues::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(ApiState {
            handle,
            store,
            shutdown,
            media,
        })
}

/// An error answer: a status and one line.
pub(super) struct Failure(pub(super) StatusCode, pub(super) String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(ApiError { error: self.1 })).into_response()
    }
}

impl From<NodeError> for Failure {
    fn from(e: NodeError) -> Failure {
        let status = match &e {
            NodeError::Invalid(_) => StatusCode::BAD_REQUEST,
            NodeError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            NodeError::Dial { .. } => StatusCode::BAD_GATEWAY,
            NodeError::Publish(_) => StatusCode::CONFLICT,
            NodeError::Shutdown => StatusCode::SERVICE_UNAVAILABLE,
            NodeError::Forbidden(_) => StatusCode::FORBIDDEN,
            NodeError::NotFound(_) => StatusCode::NOT_FOUND,
            NodeError::Full(_) => StatusCode::INSUFFICIENT_STORAGE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure(status, e.to_string())
    }
}

pub(super) fn bad_request(message: String) -> Failure {
    Failure(StatusCode::BAD_REQUEST, message)
}

pub(super) fn parse_peer(s: &str) -> Result<PeerId, Failure> {
    s.parse()
        .map_err(|_| bad_request(format!("`{s}` is not a PeerId")))
}

fn parse_topic(s: &str) -> Result<TopicName, Failure> {
    s.parse()
        .map_err(|e: weft_proto::topic::ParseTopicError| bad_request(e.to_string()))
}

async fn status(State(s): State<ApiState>) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.status().await?))
}

async fn id(State(s): State<ApiState>) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.id().await?))
}

async fn peers(State(s): State<ApiState>) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.peers().await?))
}

async fn dial(
    State(s): State<ApiState>,
    Json(req): Json<DialRequest>,
) -> Result<impl IntoResponse, Failure> {
    let addr: Multiaddr = req
        .addr
        .parse()
        .map_err(|e| bad_request(format!("`{}` is not a multiaddr: {e}", req.addr)))?;
    let peer = s.handle.dial(addr).await?;
    Ok(Json(DialResponse {
        peer_id: peer.to_string(),
    }))
}

async fn send(
    State(s): State<ApiState>,
    Json(req): Json<SendRequest>,
) -> Result<Response, Failure> {
    let to = parse_peer(&req.to)?;
    let queued = if req.bench {
        s.handle.send_bench(to, req.text, req.wait).await?
    } else {
        s.handle.send(to, req.text, req.wait).await?
    };
    let queued_answer = |id, waiting| {
        (
            StatusCode::ACCEPTED,
            Json(SendResponse {
                id,
                state: DeliveryState::Queued,
                latency_ms: None,
                mailbox: None,
                waiting,
            }),
        )
            .into_response()
    };
    let Some(delivery) = queued.delivery else {
        return Ok(queued_answer(queued.id, None));
    };
    let timeout = req
        .timeout_ms
        .map_or(DEFAULT_SEND_TIMEOUT, Duration::from_millis);
    match tokio::time::timeout(timeout, delivery).await {
        Ok(Ok(Delivery::Delivered { latency })) => Ok(Json(SendResponse {
            id: queued.id,
            state: DeliveryState::Delivered,
            latency_ms: Some(latency.as_secs_f64() * 1000.0),
            mailbox: None,
            waiting: None,
        })
        .into_response()),
        Ok(Ok(Delivery::Held { mailbox })) => Ok(Json(SendResponse {
            id: queued.id,
            state: DeliveryState::Held,
            latency_ms: None,
            mailbox: Some(mailbox.to_string()),
            waiting: None,
        })
        .into_response()),
        Ok(Ok(Delivery::NotHeld { mailbox, reason })) => Err(Failure(
            StatusCode::CONFLICT,
            format!(
                "{to} is not connected and mailbox {mailbox} refused to hold message {}: {reason}; it stays queued",
                queued.id.short()
            ),
        )),
        Ok(Ok(Delivery::Rejected { reason })) => Err(Failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the recipient refused message {}: {reason}",
                queued.id.short()
            ),
        )),
        Ok(Ok(Delivery::Unreachable)) => Ok(queued_answer(queued.id, Some(Waiting::Unreachable))),
        // Timed out, or the node is stopping: the message stays queued either way.
        Ok(Err(_)) | Err(_) => Ok(queued_answer(queued.id, None)),
    }
}

async fn inbox(
    State(s): State<ApiState>,
    Query(query): Query<InboxQuery>,
) -> Result<impl IntoResponse, Failure> {
    if let Some(peer) = &query.from {
        parse_peer(peer)?;
    }
    let store = s.store.clone();
    let messages = tokio::task::spawn_blocking(move || store.history.query(&query))
        .await
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(NodeError::from)?;
    Ok(Json(messages))
}

async fn publish(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Json(req): Json<PublishRequest>,
) -> Result<impl IntoResponse, Failure> {
    let topic = parse_topic(&topic)?;
    let (id, peers) = if req.bench {
        s.handle.publish_bench(topic, req.text).await?
    } else {
        s.handle.publish(topic, req.text).await?
    };
    Ok(Json(PublishResponse { id, peers }))
}

async fn subscribe(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
) -> Result<impl IntoResponse, Failure> {
    let changed = s.handle.subscribe(parse_topic(&topic)?, true).await?;
    Ok(Json(serde_json::json!({ "changed": changed })))
}

async fn unsubscribe(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
) -> Result<impl IntoResponse, Failure> {
    let changed = s.handle.subscribe(parse_topic(&topic)?, false).await?;
    Ok(Json(serde_json::json!({ "changed": changed })))
}

async fn mesh_create(
    State(s): State<ApiState>,
    Json(req): Json<CreateMeshRequest>,
) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.mesh_create(req.name).await?))
}

async fn mesh(State(s): State<ApiState>) -> Result<impl IntoResponse, Failure> {
    match s.handle.mesh().await? {
        Some(info) => Ok(Json(info)),
        None => Err(Failure(
            StatusCode::NOT_FOUND,
            "this node is in no mesh: found one with `weft mesh create`".into(),
        )),
    }
}

async fn invite_create(
    State(s): State<ApiState>,
    Json(req): Json<CreateInviteRequest>,
) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.invite_create(req).await?))
}

async fn invites(State(s): State<ApiState>) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.invites().await?))
}

async fn invite_revoke(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.invite_revoke(id).await?))
}

async fn join(
    State(s): State<ApiState>,
    Json(req): Json<JoinMeshRequest>,
) -> Result<impl IntoResponse, Failure> {
    let invite = Invite::decode(&req.invite).map_err(|e| bad_request(e.to_string()))?;
    Ok(Json(crate::mesh::join::join(&s.handle, invite).await?))
}

async fn member_add(
    State(s): State<ApiState>,
    Json(req): Json<AddMemberRequest>,
) -> Result<impl IntoResponse, Failure> {
    let peer = parse_peer(&req.peer_id)?;
    Ok(Json(s.handle.member_add(peer, req.role, req.name).await?))
}

async fn member_remove(
    State(s): State<ApiState>,
    Path(peer): Path<String>,
) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.member_remove(parse_peer(&peer)?).await?))
}

async fn member_role(
    State(s): State<ApiState>,
    Path(peer): Path<String>,
    Json(req): Json<SetRoleRequest>,
) -> Result<impl IntoResponse, Failure> {
    Ok(Json(
        s.handle.member_role(parse_peer(&peer)?, req.role).await?,
    ))
}

async fn member_name(
    State(s): State<ApiState>,
    Path(peer): Path<String>,
    Json(req): Json<NameRequest>,
) -> Result<impl IntoResponse, Failure> {
    Ok(Json(
        s.handle.member_name(parse_peer(&peer)?, req.name).await?,
    ))
}

async fn display_name(
    State(s): State<ApiState>,
    Json(req): Json<NameRequest>,
) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.display_name(req.name).await?))
}

async fn topic_policy(
    State(s): State<ApiState>,
    Path(topic): Path<String>,
    Json(req): Json<TopicPolicyRequest>,
) -> Result<Response, Failure> {
    let policy = Policy::Topic {
        topic: parse_topic(&topic)?,
        publish: req.publish,
    };
    set_policy(&s, policy).await
}

/// Sets `policy`: `{"changed": true}`.
pub(super) async fn set_policy(s: &ApiState, policy: Policy) -> Result<Response, Failure> {
    s.handle.policy(policy).await?;
    Ok(Json(serde_json::json!({ "changed": true })).into_response())
}

async fn members(State(s): State<ApiState>) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.members().await?))
}

async fn links(State(s): State<ApiState>) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.links().await?))
}

/// `GET /v1/events?topic=T&bench=true`: which events a stream carries.
#[derive(Deserialize)]
struct EventFilter {
    /// Only messages on this topic.
    topic: Option<String>,
    /// Benchmark messages only (`weft bench topic --receive`); never otherwise.
    #[serde(default)]
    bench: bool,
}

async fn events(
    State(s): State<ApiState>,
    Query(filter): Query<EventFilter>,
) -> Result<Response, Failure> {
    let topic = filter.topic.as_deref().map(parse_topic).transpose()?;
    let bench = filter.bench;
    let mut shutdown = s.shutdown.clone();
    let stopped = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    let events = match bench {
        true => s.handle.bench_events(),
        false => s.handle.events(),
    };
    let lines = BroadcastStream::new(events)
        .filter_map(move |item| {
            let line = match item {
                Ok(event) if wanted(&event, topic.as_ref()) => Some(event),
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(missed)) => Some(Event::Lagged { missed }),
            }
            .and_then(|event| serde_json::to_string(&event).ok())
            .map(|mut line| {
                line.push('\n');
                Ok::<_, Infallible>(line)
            });
            std::future::ready(line)
        })
        .take_until(stopped);
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(lines))
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// With a topic filter, only messages on that topic pass (benchmark messages come on
/// their own channel, to the streams that asked for them).
fn wanted(event: &Event, topic: Option<&TopicName>) -> bool {
    match (topic, event) {
        (None, _) | (_, Event::Lagged { .. }) => true,
        (Some(t), Event::Message(m)) => m.topic.as_ref() == Some(t),
        (Some(t), Event::Bench { topic: on, .. }) => t == on,
        (Some(_), _) => false,
    }
}
