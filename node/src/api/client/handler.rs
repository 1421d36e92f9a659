//! Serving the node from this program: a connection upgraded for a local handler, on which
//! the node writes work as frames and each is answered with a [`HandlerReply`], several at
//! once, in any order.

use std::future::Future;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_util::compat::TokioAsyncReadCompatExt;
use weft_proto::codec::{from_cbor, to_cbor};
use weft_proto::service::HandlerReply;

use super::{Client, ClientError, api_error, collect};
use crate::network::frame::{read_frame, write_frame};

impl Client {
    /// Opens `path` upgraded to `token` and runs `run` on every frame (a `W`, at most
    /// `max` bytes) the node writes, each in its own task; their replies go back. Returns
    /// when the node ends the connection (it stopped), or the connection breaks.
    pub(super) async fn handle<W, F, Fut>(
        &self,
        path: &str,
        token: &str,
        max: usize,
        run: F,
    ) -> Result<(), ClientError>
    where
        W: DeserializeOwned + Send + 'static,
        F: Fn(W) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerReply> + Send + 'static,
    {
        let mut sender = self.connect(true).await?;
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header("host", "weft")
            .header("connection", "upgrade")
            .header("upgrade", token)
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
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let io = TokioIo::new(upgraded).compat();
        let (mut reader, mut writer) = futures::AsyncReadExt::split(io);
        let (replies, mut to_write) = mpsc::channel::<HandlerReply>(64);
        let run = std::sync::Arc::new(run);
        let writes = async {
            while let Some(reply) = to_write.recv().await {
                let body = to_cbor(&reply).map_err(|e| ClientError::Decode(e.to_string()))?;
                write_frame(&mut writer, &body)
                    .await
                    .map_err(|e| ClientError::Io(e.to_string()))?;
            }
            Ok::<(), ClientError>(())
        };
        let reads = async {
            loop {
                let body = match read_frame(&mut reader, "handler work", max).await {
                    Ok(Ok(body)) => body,
                    Ok(Err(e)) => return Err(ClientError::Decode(e.to_string())),
                    // The node ended it.
                    Err(_) => return Ok(()),
                };
                let work: W = from_cbor(&body).map_err(|e| ClientError::Decode(e.to_string()))?;
                let (run, replies) = (run.clone(), replies.clone());
                tokio::spawn(async move {
                    let _ = replies.send(run(work).await).await;
                });
            }
        };
        tokio::select! {
            read = reads => read,
            written = writes => written,
        }
    }
}
