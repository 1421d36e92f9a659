//! The client's services: list them, call one, and serve one from this program (a local
//! handler on an upgraded connection).

use std::future::Future;

use weft_proto::api::ServiceInfo;
use weft_proto::service::{HandlerReply, HandlerRequest, MAX_SERVICE_FRAME_BYTES, Outcome};

use super::{Client, ClientError};
use crate::api::services::SERVICE_UPGRADE;

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
        let path = format!("/v1/services/{service}/call?timeout_ms={timeout_ms}");
        Ok(self.post_bytes(&path, body).await?.to_vec())
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
        let handler = std::sync::Arc::new(handler);
        let run = move |request: HandlerRequest| {
            let handler = handler.clone();
            async move {
                let outcome = match handler(request.body).await {
                    Ok(reply) => Outcome::Ok(reply),
                    Err(reason) => Outcome::Failed(reason),
                };
                HandlerReply {
                    serve: request.serve,
                    outcome,
                }
            }
        };
        self.handle(&path, SERVICE_UPGRADE, MAX_SERVICE_FRAME_BYTES, run)
            .await
    }
}
