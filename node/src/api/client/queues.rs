//! The client's queues: push an item, look at a queue and its dead letters, retry one, and
//! work a queue from this program (a local worker on an upgraded connection).

use std::future::Future;

use hyper::Method;
use weft_proto::queue::{
    DeadLetter, ItemId, MAX_QUEUE_FRAME_BYTES, Pushed, QueueStatus, WorkRequest,
};
use weft_proto::service::{HandlerReply, Outcome};

use super::{Client, ClientError};
use crate::api::queues::WORK_UPGRADE;

/// How a program works a queue (see `weft queue work`).
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkOptions {
    /// Items run at once [default: the node's number of cores].
    pub concurrency: Option<u32>,
    /// Items held beyond those running [default: a quarter of the concurrency, at least 1].
    pub prefetch: Option<u32>,
    /// Deliveries after which an item this worker fails is a dead letter [default: 5].
    pub max_deliver: Option<u32>,
}

/// An item for a worker to run.
#[derive(Clone, Debug)]
pub struct Item {
    /// Its id.
    pub id: ItemId,
    /// Which delivery this is, from 1.
    pub attempt: u32,
    /// The item.
    pub body: Vec<u8>,
}

impl Client {
    /// Pushes `body` to `queue`, held on the node's disk until a worker acknowledges it
    /// (returns once it is there); with `key`, an item with that key is pushed once.
    pub async fn push(
        &self,
        queue: &str,
        body: Vec<u8>,
        key: Option<&str>,
    ) -> Result<Pushed, ClientError> {
        let mut path = format!("/v1/queues/{queue}/items");
        if let Some(key) = key {
            path.push_str("?key=");
            path.push_str(&percent(key));
        }
        let bytes = self.post_bytes(&path, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Every queue the node holds items of or works.
    pub async fn queues(&self) -> Result<Vec<QueueStatus>, ClientError> {
        self.get("/v1/queues").await
    }

    /// `queue` at the node: what it holds as producer, and works as worker.
    pub async fn queue_status(&self, queue: &str) -> Result<QueueStatus, ClientError> {
        self.get(&format!("/v1/queues/{queue}")).await
    }

    /// The dead letters of `queue` held at the node.
    pub async fn dead_letters(&self, queue: &str) -> Result<Vec<DeadLetter>, ClientError> {
        self.get(&format!("/v1/queues/{queue}/dead")).await
    }

    /// Sends dead letter `id` of `queue` back to the workers.
    pub async fn retry(&self, queue: &str, id: &str) -> Result<(), ClientError> {
        let path = format!("/v1/queues/{queue}/dead/{id}/retry");
        let _: serde_json::Value = self
            .request(Method::POST, &path, Some(&serde_json::json!({})))
            .await?
            .1;
        Ok(())
    }

    /// Works `queue` from this program: each item runs `handler` (several at once, as
    /// many as the concurrency); `Ok` acknowledges it, `Err` (one line) fails it, to be
    /// delivered again after a pause, or to the dead letters after its last delivery.
    /// Returns when the node ends the work (it stopped), or the connection breaks.
    pub async fn work<F, Fut>(
        &self,
        queue: &str,
        options: WorkOptions,
        handler: F,
    ) -> Result<(), ClientError>
    where
        F: Fn(Item) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let mut query = Vec::new();
        for (name, value) in [
            ("concurrency", options.concurrency),
            ("prefetch", options.prefetch),
            ("max_deliver", options.max_deliver),
        ] {
            if let Some(value) = value {
                query.push(format!("{name}={value}"));
            }
        }
        let path = format!("/v1/queues/{queue}/work?{}", query.join("&"));
        let handler = std::sync::Arc::new(handler);
        let run = move |request: WorkRequest| {
            let handler = handler.clone();
            async move {
                let item = Item {
                    id: request.id,
                    attempt: request.attempt,
                    body: request.body,
                };
                let outcome = match handler(item).await {
                    Ok(()) => Outcome::Ok(Vec::new()),
                    Err(reason) => Outcome::Failed(reason),
                };
                HandlerReply {
                    serve: request.serve,
                    outcome,
                }
            }
        };
        self.handle(&path, WORK_UPGRADE, MAX_QUEUE_FRAME_BYTES, run)
            .await
    }
}

/// `s` percent-encoded for a query string.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
