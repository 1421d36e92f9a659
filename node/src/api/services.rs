//! The API routes for services: the services offered in the mesh, a call (the request's
//! bytes in, the reply's bytes out), and a local handler's connection (an HTTP upgrade,
//! after which the node writes calls and the program writes answers, as frames).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use weft_proto::api::ServicePolicyRequest;
use weft_proto::service::{
    HandlerReply, HandlerRequest, MAX_SERVICE_FRAME_BYTES, Refusal, ServiceName,
};

use super::server::{ApiState, Failure, bad_request, set_policy};
use super::upgrade::{relay, require_upgrade, switch};
use crate::core::io::{CallEnd, ServeId};
use crate::core::services::serving::OfferOpts;
use crate::network::handle::{Offered, Policy, ServeRequest};

/// The `Upgrade` token of a local handler's connection.
pub const SERVICE_UPGRADE: &str = "weft-service";

/// How long a call waits for its reply when the caller names no timeout.
const DEFAULT_CALL_TIMEOUT_MS: u64 = 30_000;

/// The routes of this module.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/services", get(services))
        .route("/v1/services/{name}/call", post(call))
        .route("/v1/services/{name}/offer", get(offer))
        .route("/v1/services/{name}/policy", put(policy))
}

fn parse_service(s: &str) -> Result<ServiceName, Failure> {
    s.parse()
        .map_err(|e: weft_proto::service::ParseServiceError| bad_request(e.to_string()))
}

/// `PUT /v1/services/NAME/policy`: who may offer and who may call it (admins only).
async fn policy(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Json(req): Json<ServicePolicyRequest>,
) -> Result<Response, Failure> {
    let policy = Policy::Service {
        service: parse_service(&name)?,
        offer: req.offer,
        call: req.call,
    };
    set_policy(&s, policy).await
}

async fn services(State(s): State<ApiState>) -> Result<impl IntoResponse, Failure> {
    Ok(Json(s.handle.services().await?))
}

#[derive(Deserialize)]
struct CallQuery {
    timeout_ms: Option<u64>,
}

/// `POST /v1/services/NAME/call[?timeout_ms=N]`: the body is the request; the answer's
/// body is the reply (200), or one line of JSON saying why not.
async fn call(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<CallQuery>,
    body: Bytes,
) -> Result<Response, Failure> {
    let service = parse_service(&name)?;
    let timeout_ms = query.timeout_ms.unwrap_or(DEFAULT_CALL_TIMEOUT_MS);
    let timeout = std::time::Duration::from_millis(timeout_ms);
    let end = s
        .handle
        .call(service.clone(), body.to_vec(), timeout)
        .await?;
    let failure = |status, line: String| Err(Failure(status, line));
    match end {
        CallEnd::Replied(reply) => Ok((StatusCode::OK, reply).into_response()),
        CallEnd::Failed(reason) => failure(
            StatusCode::BAD_GATEWAY,
            format!("`{service}` failed: {reason}"),
        ),
        CallEnd::Refused(Refusal::NotAllowed) => failure(
            StatusCode::FORBIDDEN,
            format!("the policy of `{service}` does not let this node call it"),
        ),
        CallEnd::Refused(refusal) => failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`{service}` refused the call: {refusal}"),
        ),
        CallEnd::NoProvider => failure(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no provider of `{service}` is reachable (every one tried failed or left)"),
        ),
        CallEnd::TimedOut => failure(
            StatusCode::GATEWAY_TIMEOUT,
            format!("no reply from `{service}` within {timeout_ms} ms"),
        ),
    }
}

/// `GET /v1/services/NAME/offer?...` with `Upgrade: weft-service`: how the service is
/// offered.
#[derive(Deserialize)]
struct OfferQuery {
    #[serde(default)]
    standby: bool,
    concurrency: Option<u32>,
    max_inflight: Option<u32>,
    /// Per cent of one core (the one-minute load average per core).
    max_cpu: Option<u16>,
}

async fn offer(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<OfferQuery>,
    request: Request,
) -> Result<Response, Failure> {
    require_upgrade(&request, SERVICE_UPGRADE)?;
    let service = parse_service(&name)?;
    let opts = OfferOpts {
        standby: query.standby,
        concurrency: query.concurrency.unwrap_or_else(cores).clamp(1, 1024),
        max_inflight: query.max_inflight,
        max_cpu_permille: query.max_cpu.map(|pct| pct.saturating_mul(10)),
    };
    let Offered { handler, requests } = s.handle.offer(service, opts).await?;
    let (handle, withdraw) = (s.handle.clone(), s.handle.clone());
    let serve = move |io| {
        let frame = |request: ServeRequest| HandlerRequest {
            serve: request.serve.0,
            body: request.body,
        };
        let answer = move |reply: HandlerReply| {
            let handle = handle.clone();
            async move {
                handle
                    .served(ServeId(reply.serve), reply.outcome)
                    .await
                    .is_ok()
            }
        };
        relay(io, requests, frame, MAX_SERVICE_FRAME_BYTES, answer)
    };
    let done = async move {
        let _ = withdraw.withdraw(handler).await;
    };
    switch(request, SERVICE_UPGRADE, serve, done)
}

/// The machine's number of cores: a handler's concurrency when it names none.
pub(super) fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as u32
}
