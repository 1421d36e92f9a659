//! Local handlers' connections: an HTTP upgrade after which the node writes work (a call
//! to serve, an item to run) as frames and the program writes a [`HandlerReply`] for each,
//! in any order, on the same connection.

use std::future::Future;

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use futures::AsyncWriteExt;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::compat::TokioAsyncReadCompatExt;
use weft_proto::codec::{from_cbor, to_cbor};
use weft_proto::service::HandlerReply;

use super::server::{Failure, bad_request};
use crate::network::frame::{read_frame, write_frame};

/// The connection of a local handler, once upgraded.
pub(super) type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// Refuses `request` unless it asks to upgrade to `token`.
pub(super) fn require_upgrade(request: &Request, token: &str) -> Result<(), Failure> {
    let upgrade = request
        .headers()
        .get("upgrade")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(token.as_bytes()));
    if upgrade {
        Ok(())
    } else {
        Err(bad_request(format!(
            "a handler needs `Connection: upgrade` and `Upgrade: {token}`"
        )))
    }
}

/// Switches `request`'s connection to `token` and serves it with `serve`, beside the
/// server; then runs `done`.
pub(super) fn switch<S, D>(
    mut request: Request,
    token: &'static str,
    serve: impl FnOnce(Upgraded) -> S + Send + 'static,
    done: D,
) -> Result<Response, Failure>
where
    S: Future<Output = ()> + Send + 'static,
    D: Future<Output = ()> + Send + 'static,
{
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => serve(TokioIo::new(upgraded)).await,
            Err(e) => tracing::warn!(error = %e, "a handler went away before it started"),
        }
        done.await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "upgrade")
        .header("upgrade", token)
        .body(Body::empty())
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Writes what arrives on `work` to the handler, each as `frame` makes it, and hands its
/// replies (at most `max` bytes each) to `answer`, until either side ends or `answer`
/// says the node is gone.
pub(super) async fn relay<T, F, A, Fut>(
    io: Upgraded,
    mut work: mpsc::Receiver<T>,
    frame: impl Fn(T) -> F,
    max: usize,
    answer: A,
) where
    F: Serialize,
    A: Fn(HandlerReply) -> Fut,
    Fut: Future<Output = bool>,
{
    let (mut reader, mut writer) = futures::AsyncReadExt::split(io.compat());
    let writes = async {
        while let Some(item) = work.recv().await {
            let Ok(body) = to_cbor(&frame(item)) else {
                return;
            };
            if write_frame(&mut writer, &body).await.is_err() {
                return;
            }
        }
        let _ = writer.close().await;
    };
    let reads = async {
        loop {
            let body = match read_frame(&mut reader, "handler reply", max).await {
                Ok(Ok(body)) => body,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "a handler's answer was refused; closing it");
                    return;
                }
                Err(_) => return,
            };
            let Ok(reply) = from_cbor::<HandlerReply>(&body) else {
                tracing::warn!("a handler sent what is not an answer; closing it");
                return;
            };
            if !answer(reply).await {
                return;
            }
        }
    };
    tokio::select! {
        () = writes => {}
        () = reads => {}
    }
}
