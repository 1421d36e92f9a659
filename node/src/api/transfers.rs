//! What this node's fetches and pipes are doing now, for `GET /v1/transfers` (the web page
//! shows them): each registers itself for as long as it runs ([`Running`], removed when
//! dropped) and updates its progress as it goes. Fetches and pipes are capped
//! ([`crate::blob::MAX_FETCHES`], [`crate::pipe::MAX_PIPES`]), and so is this list.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use weft_proto::media::{FetchEvent, Transfer};

/// The transfers running now. Cloning shares them.
#[derive(Clone, Default)]
pub struct Transfers {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    running: BTreeMap<u64, Transfer>,
}

impl Transfers {
    /// Registers `transfer` until the returned [`Running`] is dropped.
    pub fn start(&self, transfer: Transfer) -> Running {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let id = inner.next;
        inner.next += 1;
        inner.running.insert(id, transfer);
        Running {
            id,
            transfers: self.clone(),
        }
    }

    /// Every transfer running now, oldest first.
    pub fn list(&self) -> Vec<Transfer> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.running.values().cloned().collect()
    }
}

/// One registered transfer; dropping it removes it from the list.
pub struct Running {
    id: u64,
    transfers: Transfers,
}

impl Running {
    /// Changes the transfer's entry.
    fn update(&self, change: impl FnOnce(&mut Transfer)) {
        let mut inner = self
            .transfers
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(t) = inner.running.get_mut(&self.id) {
            change(t);
        }
    }

    /// Takes a fetch's progress from its event.
    pub fn fetched(&self, event: &FetchEvent) {
        self.update(|t| {
            let Transfer::Fetch {
                sources,
                done,
                size,
                ..
            } = t
            else {
                return;
            };
            match event {
                FetchEvent::Started {
                    size: s,
                    have,
                    sources: from,
                } => {
                    (*size, *done) = (*s, *have);
                    sources.clone_from(from);
                }
                FetchEvent::Progress { done: d, size: s } => (*done, *size) = (*d, *s),
                FetchEvent::Done { size: s, .. } => (*done, *size) = (*s, *s),
                FetchEvent::SourceDropped { peer, .. } => sources.retain(|p| p != peer),
                FetchEvent::Failed { .. } => {}
            }
        });
    }

    fn piped(&self, out: u64, back: u64) {
        self.update(|t| {
            if let Transfer::Pipe { sent, received, .. } = t {
                *sent += out;
                *received += back;
            }
        });
    }
}

/// A pipe caller's connection that counts what it carries into the pipe's entry: bytes
/// read from the caller are sent to the peer; bytes written to the caller came from it.
pub struct Counted<T> {
    /// The caller's connection.
    pub io: T,
    /// The pipe's entry.
    pub running: Running,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.running.piped((buf.filled().len() - before) as u64, 0);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = polled {
            self.running.piped(0, n as u64);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Milliseconds since the Unix epoch, for a transfer's start.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut inner = self
            .transfers
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        inner.running.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use weft_proto::blob::BlobId;

    use super::*;

    #[test]
    fn a_fetch_shows_its_progress_while_it_runs_and_leaves_when_it_ends() {
        let transfers = Transfers::default();
        let fetch = Transfer::Fetch {
            blob: BlobId([7; 32]),
            sources: vec![],
            done: 0,
            size: 0,
            since_ms: 1,
        };
        let running = transfers.start(fetch);
        running.fetched(&FetchEvent::Started {
            size: 100,
            have: 10,
            sources: vec!["a".into(), "b".into()],
        });
        running.fetched(&FetchEvent::Progress {
            done: 60,
            size: 100,
        });
        running.fetched(&FetchEvent::SourceDropped {
            peer: "a".into(),
            reason: "went away".into(),
        });
        assert_eq!(
            transfers.list(),
            vec![Transfer::Fetch {
                blob: BlobId([7; 32]),
                sources: vec!["b".into()],
                done: 60,
                size: 100,
                since_ms: 1,
            }]
        );
        drop(running);
        assert!(transfers.list().is_empty());
    }

    #[tokio::test]
    async fn a_pipe_counts_both_ways() {
        let transfers = Transfers::default();
        let (caller, mut far) = tokio::io::duplex(64);
        let running = transfers.start(Transfer::Pipe {
            peer: "p".into(),
            sent: 0,
            received: 0,
            since_ms: 1,
        });
        let mut counted = Counted {
            io: caller,
            running,
        };
        far.write_all(b"hello").await.unwrap();
        let mut got = [0; 5];
        counted.read_exact(&mut got).await.unwrap();
        counted.write_all(b"abc").await.unwrap();
        let [Transfer::Pipe { sent, received, .. }] = transfers.list()[..] else {
            panic!("one pipe");
        };
        assert_eq!((sent, received), (5, 3));
    }
}
