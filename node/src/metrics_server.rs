//! `weft node --metrics ADDR`: Prometheus text format on `http://ADDR/metrics`. Gauges
//! that describe the node's state (outbox, mailbox, relay, peers, store size) are read at
//! scrape time; counters and histograms move as things happen.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::network::{NodeError, NodeHandle};
use crate::store::Store;

/// The Prometheus text format's content type.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone)]
struct Exporter {
    registry: Arc<Registry>,
    metrics: Metrics,
    handle: NodeHandle,
    store: Store,
}

/// Binds `addr` and serves `/metrics` until aborted; the address bound (port 0 picks
/// one).
pub async fn serve(
    addr: SocketAddr,
    registry: Registry,
    metrics: Metrics,
    handle: NodeHandle,
    store: Store,
) -> Result<(JoinHandle<()>, SocketAddr), NodeError> {
    let failed = |e: std::io::Error| NodeError::Listen(format!("metrics on {addr}"), e.to_string());
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(failed)?;
    let addr = listener.local_addr().map_err(failed)?;
    let exporter = Exporter {
        registry: Arc::new(registry),
        metrics,
        handle,
        store,
    };
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(exporter);
    tracing::info!(%addr, "serving Prometheus metrics on /metrics");
    let serving = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server failed");
        }
    });
    Ok((serving, addr))
}

async fn scrape(State(e): State<Exporter>) -> impl IntoResponse {
    if let Ok(status) = e.handle.status().await {
        let m = &e.metrics;
        m.outbox_depth.set(status.outbox as i64);
        m.peers.set(status.peers as i64);
        let (held, bytes) = status
            .mailbox
            .as_ref()
            .map_or((0, 0), |h| (h.messages, h.bytes));
        m.mailbox_messages.set(held as i64);
        m.mailbox_bytes.set(bytes as i64);
        m.relay_circuits.set(status.relay.circuits as i64);
        m.relay_reservations.set(status.relay.reservations as i64);
    }
    if let (Ok(services), Ok(queues)) = (e.handle.services().await, e.handle.queues().await) {
        e.metrics.work.scraped(&services, &queues);
    }
    if let Ok(size) = e.store.size_on_disk() {
        e.metrics.store_bytes.set(size as i64);
    }
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &e.registry) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], body),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            err.to_string(),
        ),
    }
}
