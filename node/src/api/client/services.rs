//! The client's services: list them, call one, and serve one from this program (a local
//! handler on an upgraded connection).

use std::future::Future;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_util::compat::TokioAsyncReadCompatExt;
use weft_proto::api::ServiceInfo;
use weft_proto::codec::{from_cbor, to_cbor};
use weft_proto::service::{HandlerReply, HandlerRequest, MAX_SERVICE_FRAME_BYTES, Outcome};

use super::{Client, ClientError, api_error, collect};
use crate::api::services::SERVICE_UPGRADE;
use crate::network::frame::{read_frame, write_frame};

/// How a program offers a service (see `weft service offer`).
#[derive(Clone, Copy, Debug, Default)]
pub struct OfferOptions {
    /// Answer only while no active provider is reachable (a backup).
    pub standby: bool,
    /// Calls run at once [default: the node's number of cores].
    pub concurrency: Option<u32>,
    /// Past this many calls running and waiting, the offer is overloaded.
    pub max_inflight: Option<u32>,
    /// Past this CPU load (per cent of one core, one-minute average per core), it is.
    pub max_cpu_percent: Option<u16>,
}

impl Client {
    /// Every service offered in the mesh, with its providers.
    pub async fn services(&self) -> Result<Vec<ServiceInfo>, ClientError> {
        self.get("/v1/services").await
    }

    /// Calls `service` with `body`; its reply, or why there is none (one line).
    pub async fn call(
        &self,
        service: &str,
        body: Vec<u8>,
        timeout_ms: u64,
    ) -> Result<Vec<u8>, ClientError> {
        let mut sender = self.connect(false).await?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!(
                "/v1/services/{service}/call?timeout_ms={timeout_ms}"
            ))
            .header("host", "weft")
            .header("content-type", "application/octet-stream")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let status = response.status();
        let bytes = collect(response.into_body()).await?;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        Ok(bytes.to_vec())
    }

    /// Offers `service` from this program: each call runs `handler` on its request (several
    /// at once, as many as the offer's concurrency), whose `Ok` is the reply and `Err` one
    /// line saying why it failed. Returns when the node ends the offer (it stopped), or the
    /// connection breaks.
    pub async fn offer<F, Fut>(
        &self,
        service: &str,
        options: OfferOptions,
        handler: F,
    ) -> Result<(), ClientError>
    where
        F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<u8>, String>> + Send + 'static,
    {
        let mut query = vec![format!("standby={}", options.standby)];
        if let Some(n) = options.concurrency {
            query.push(format!("concurrency={n}"));
        }
        if let Some(n) = options.max_inflight {
            query.push(format!("max_inflight={n}"));
        }
        if let Some(pct) = options.max_cpu_percent {
            query.push(format!("max_cpu={pct}"));
        }
        let path = format!("/v1/services/{service}/offer?{}", query.join("&"));
        let mut sender = self.connect(true).await?;
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header("host", "weft")
            .header("connection", "upgrade")
            .header("upgrade", SERVICE_UPGRADE)
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
        let handler = std::sync::Arc::new(handler);
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
                let body = match read_frame(&mut reader, "call", MAX_SERVICE_FRAME_BYTES).await {
                    Ok(Ok(body)) => body,
                    Ok(Err(e)) => return Err(ClientError::Decode(e.to_string())),
                    // The node ended the offer.
                    Err(_) => return Ok(()),
                };
                let request: HandlerRequest =
                    from_cbor(&body).map_err(|e| ClientError::Decode(e.to_string()))?;
                let (handler, replies) = (handler.clone(), replies.clone());
                tokio::spawn(async move {
                    let outcome = match handler(request.body).await {
                        Ok(reply) => Outcome::Ok(reply),
                        Err(reason) => Outcome::Failed(reason),
                    };
                    let reply = HandlerReply {
                        serve: request.serve,
                        outcome,
                    };
                    let _ = replies.send(reply).await;
                });
            }
        };
        tokio::select! {
            read = reads => read,
            written = writes => written,
        }
    }
}
