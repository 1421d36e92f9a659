//! `GET /v1/doctor`: the node's checks of what it needs to talk to its mesh
//! ([`crate::doctor`]), for `weft doctor` and the web page.

use std::path::PathBuf;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use super::server::Failure;
use crate::network::NodeHandle;

#[derive(Clone)]
struct DoctorState {
    handle: NodeHandle,
    data_dir: PathBuf,
}

/// The route, for the node on `data_dir` reached through `handle`.
pub fn routes(handle: NodeHandle, data_dir: PathBuf) -> Router {
    Router::new()
        .route("/v1/doctor", get(doctor))
        .with_state(DoctorState { handle, data_dir })
}

async fn doctor(State(s): State<DoctorState>) -> Result<impl IntoResponse, Failure> {
    let status = s.handle.status().await?;
    // Members and peers only add detail: a node in no mesh has none.
    let members = s.handle.members().await.unwrap_or_default();
    let peers = s.handle.peers().await?;
    let checks = tokio::task::spawn_blocking(move || {
        crate::doctor::with_node(&s.data_dir, &status, &members, &peers)
    })
    .await
    .map_err(|e| Failure(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(checks))
}
