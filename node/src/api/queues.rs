//! The API routes for queues: push an item (its bytes in, once on disk), a queue's status
//! and dead letters, a retry, the queue's policy, and a local worker's connection (an
//! HTTP upgrade, after which the node writes items and the program writes their ends).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use weft_proto::api::QueuePolicyRequest;
use weft_proto::queue::{
    DEFAULT_MAX_DELIVER, ItemId, MAX_MAX_DELIVER, MAX_QUEUE_FRAME_BYTES, QueueName, WorkRequest,
};
use weft_proto::service::{HandlerReply, Outcome};

use super::server::{ApiState, Failure, bad_request, set_policy};
use super::services::cores;
use super::upgrade::{relay, require_upgrade, switch};
use crate::core::io::RunId;
use crate::core::queues::working::WorkOpts;
use crate::network::handle::{Policy, WorkItem, Working};

/// The `Upgrade` token of a local worker's connection.
pub const WORK_UPGRADE: &str = "weft-worker";

/// The routes of this module.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/queues", get(all))
        .route("/v1/queues/{queue}", get(status))
        .route("/v1/queues/{queue}/items", post(push))
        .route("/v1/queues/{queue}/dead", get(dead))
        .route("/v1/queues/{queue}/dead/{id}/retry", post(retry))
        .route("/v1/queues/{queue}/work", get(work))
        .route("/v1/queues/{queue}/policy", put(policy))
}

fn parse_queue(s: &str) -> Result<QueueName, Failure> {
    s.parse()
        .map_err(|e: weft_proto::queue::ParseQueueError| bad_request(e.to_string()))
}

#[derive(Deserialize)]
struct PushQuery {
    key: Option<String>,
}

/// `POST /v1/queues/QUEUE/items[?key=KEY]`: the body is the item; answered once it is on
/// this node's disk.
async fn push(
    State(s): State<ApiState>,
    Path(queue): Path<String>,
    Query(query): Query<PushQuery>,
    body: Bytes,
) -> Result<Response, Failure> {
    let queue = parse_queue(&queue)?;
    if query
        .key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 256)
    {
        return Err(bad_request("an idempotency key is 1 to 256 bytes".into()));
    }
    let pushed = s.handle.push(queue, body.to_vec(), query.key).await?;
    Ok(Json(pushed).into_response())
}

async fn all(State(s): State<ApiState>) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.queues().await?))
}

async fn status(
    State(s): State<ApiState>,
    Path(queue): Path<String>,
) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.queue_status(parse_queue(&queue)?).await?))
}

async fn dead(
    State(s): State<ApiState>,
    Path(queue): Path<String>,
) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.dead_letters(parse_queue(&queue)?).await?))
}

async fn retry(
    State(s): State<ApiState>,
    Path((queue, id)): Path<(String, String)>,
) -> Result<impl IntoResponse, Failure> {
    let id: ItemId = id
        .parse()
        .map_err(|e: weft_proto::DecodeError| bad_request(e.to_string()))?;
    s.handle.retry(parse_queue(&queue)?, id).await?;
    Ok(Json(serde_json::json!({ "retried": true })))
}

/// `PUT /v1/queues/QUEUE/policy`: who may push to and who may work it (admins only).
async fn policy(
    State(s): State<ApiState>,
    Path(queue): Path<String>,
    Json(req): Json<QueuePolicyRequest>,
) -> Result<Response, Failure> {
    let policy = Policy::Queue {
        queue: parse_queue(&queue)?,
        push: req.push,
        work: req.work,
    };
    set_policy(&s, policy).await
}

/// `GET /v1/queues/QUEUE/work?...` with `Upgrade: weft-worker`: how the queue is worked.
#[derive(Deserialize)]
struct WorkQuery {
    concurrency: Option<u32>,
    prefetch: Option<u32>,
    max_deliver: Option<u32>,
}

async fn work(
    State(s): State<ApiState>,
    Path(queue): Path<String>,
    Query(query): Query<WorkQuery>,
    request: Request,
) -> Result<Response, Failure> {
    require_upgrade(&request, WORK_UPGRADE)?;
    let queue = parse_queue(&queue)?;
    let concurrency = query.concurrency.unwrap_or_else(cores).clamp(1, 1024);
    let opts = WorkOpts {
        concurrency,
        prefetch: query.prefetch.unwrap_or(concurrency.div_ceil(4)).min(1024),
        max_deliver: query
            .max_deliver
            .unwrap_or(DEFAULT_MAX_DELIVER)
            .clamp(1, MAX_MAX_DELIVER),
    };
    let Working { worker, items } = s.handle.work(queue, opts).await?;
    let (handle, stop) = (s.handle.clone(), s.handle.clone());
    let serve = move |io| {
        let frame = |item: WorkItem| WorkRequest {
            serve: item.run.0,
            id: item.lease.id,
            attempt: item.lease.attempt,
            body: item.body,
        };
        let answer = move |reply: HandlerReply| {
            let handle = handle.clone();
            let result = match reply.outcome {
                Outcome::Ok(_) => Ok(()),
                Outcome::Failed(reason) => Err(reason),
                Outcome::Refused(refusal) => Err(refusal.to_string()),
            };
            async move { handle.worked(RunId(reply.serve), result).await.is_ok() }
        };
        relay(io, items, frame, MAX_QUEUE_FRAME_BYTES, answer)
    };
    let done = async move {
        let _ = stop.stop_work(worker).await;
    };
    switch(request, WORK_UPGRADE, serve, done)
}
