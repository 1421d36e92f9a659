//! Connections to the node kept open between requests: a request whose answer was read
//! whole leaves its connection here for the next one, so a client that makes many (a load
//! test, a CLI command that makes two) connects once. A connection idle for longer than
//! [`IDLE_FOR`] is not reused (the node may be closing it), nor is one the node closed; a
//! request that a kept connection could not take goes out on the next one, or a new one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;

/// Most connections kept idle.
const MAX_IDLE: usize = 4;

/// Longest a connection is kept idle for reuse.
const IDLE_FOR: Duration = Duration::from_secs(5);

/// One HTTP/1.1 connection to the node.
pub(super) type Sender = SendRequest<Full<Bytes>>;

/// What became of a request offered to the kept connections.
pub(super) enum Sent {
    /// A connection took it; its answer.
    Answered(Sender, hyper::Response<Incoming>),
    /// A connection took it and failed.
    Failed(hyper::Error),
    /// None took it (none was kept, or each was closing): it is back.
    NotTaken(Request<Full<Bytes>>),
}

/// The idle connections, shared by a client's clones.
#[derive(Clone, Debug, Default)]
pub(super) struct Pool(Arc<Mutex<Vec<(Instant, Sender)>>>);

impl Pool {
    /// Sends `request` on a kept connection that takes it.
    pub(super) async fn send(&self, mut request: Request<Full<Bytes>>) -> Sent {
        while let Some(mut sender) = self.take() {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Sent::Answered(sender, response),
                Err(mut failed) => match failed.take_message() {
                    // It never went out: the next connection may take it.
                    Some(back) => request = back,
                    None => return Sent::Failed(failed.into_error()),
                },
            }
        }
        Sent::NotTaken(request)
    }

    /// Keeps `sender`, whose last answer was read whole, for the next request.
    pub(super) fn keep(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let Ok(mut idle) = self.0.lock() else {
            return;
        };
        if idle.len() < MAX_IDLE {
            idle.push((Instant::now(), sender));
        }
    }

    fn take(&self) -> Option<Sender> {
        let mut idle = self.0.lock().ok()?;
        while let Some((at, sender)) = idle.pop() {
            if at.elapsed() < IDLE_FOR && !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }
}
