//! `weft node --web ADDR`: the node's local web page, served by the node itself from files
//! built into the binary. The page's calls are the local API's own routes
//! ([`crate::api::server::router`]), served on the TCP address behind [`guard`]: Host and
//! Origin checked, and the token ([`token`]) on every `/v1/` call. `weft web` prints the
//! URL, with the token in its fragment.
//!
//! - [`token`]: the access token, its file and its rotation.
//! - [`guard`]: the checks in front of every request.
//! - [`assets`]: the page's HTML, script and style sheet.
//! - [`capped`]: the listener, at most 64 connections at once.

pub mod assets;
pub mod capped;
pub mod guard;
pub mod token;

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use weft_proto::api::WebInfo;

use self::guard::Guard;
use self::token::Tokens;
use crate::metrics::Metrics;
use crate::network::NodeError;

/// Where the page is and the token that opens it; the API's `/v1/web` routes read it.
#[derive(Clone, Debug)]
pub struct WebDoor {
    /// The address the page is served on.
    pub addr: SocketAddr,
    /// Its token.
    pub tokens: Tokens,
}

impl WebDoor {
    /// The page's address and the URL that opens it with the current token.
    pub fn info(&self) -> WebInfo {
        // A server on every address is opened through loopback from this machine.
        let mut shown = self.addr;
        if shown.ip().is_unspecified() {
            shown.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        WebInfo {
            addr: self.addr.to_string(),
            url: format!("http://{shown}/#token={}", self.tokens.current().expose()),
        }
    }
}

/// Binds the page's address and opens (or creates) its token in `data_dir`. An address
/// beyond loopback is refused unless `allow_remote`.
pub async fn bind(
    addr: SocketAddr,
    allow_remote: bool,
    data_dir: &Path,
) -> Result<(TcpListener, WebDoor), NodeError> {
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(NodeError::Invalid(format!(
            "--web {addr} is not a loopback address, so others on the network could reach the page; use 127.0.0.1:PORT, or set `web-allow-remote = true` in weft.toml if that is meant"
        )));
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| NodeError::Listen(format!("web page on {addr}"), e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| NodeError::Listen(format!("web page on {addr}"), e.to_string()))?;
    let tokens = Tokens::open(data_dir)?;
    Ok((listener, WebDoor { addr, tokens }))
}

/// Serves the page's files and `api` (the local API's routes) on `listener`, every request
/// behind the guard, until `shutdown` turns true.
pub fn serve(
    listener: TcpListener,
    door: &WebDoor,
    api: Router,
    metrics: Metrics,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let guard = Guard::new(door.addr, door.tokens.clone(), metrics);
    let app = api
        .merge(assets::routes())
        .layer(axum::middleware::from_fn_with_state(guard, guard::check));
    let addr = door.addr;
    tracing::info!(%addr, "serving the web page; `weft web` prints its URL");
    tokio::spawn(async move {
        let mut shutdown = shutdown;
        let serve =
            axum::serve(capped::Capped::new(listener), app).with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, %addr, "web page server failed");
        }
    })
}
