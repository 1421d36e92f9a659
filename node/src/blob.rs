//! Blobs: files shared between members, chunked, named by a BLAKE3 tree and fetched over
//! `/weft/blob/1` from every member that has them.
//!
//! - [`store`]: content-addressed chunks beside the database, manifests in sled.
//! - [`serve`]: answering members' requests, each checked against the ACL.
//! - [`fetch`]: pulling a blob from several sources at once, every chunk checked.

pub mod fetch;
pub mod serve;
pub mod store;

use std::path::Path;
use std::sync::Arc;

use libp2p::{PeerId, StreamProtocol};
use tokio::sync::{Semaphore, mpsc};
use weft_proto::blob::{BlobId, FileOffer};
use weft_proto::media::FetchEvent;

use crate::network::event_loop::Shared;
use fetch::Fetcher;
use store::{BlobError, BlobStore};

/// The blob protocol.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/blob/1");

/// Most fetches this node runs at once; more are refused with "busy".
pub const MAX_FETCHES: usize = 8;

/// A node's blobs: its store, its fetcher and the cap on concurrent fetches. Cloning
/// shares them.
#[derive(Clone)]
pub struct Blobs {
    /// Chunks and manifests.
    store: BlobStore,
    fetcher: Fetcher,
    fetches: Arc<Semaphore>,
    /// The task serving members' requests.
    server: tokio::task::AbortHandle,
}

impl Blobs {
    /// The blobs of the node in `data_dir`, serving members (as the shared door says) on
    /// `control` from now on.
    pub fn start(
        data_dir: &Path,
        store: crate::store::Store,
        mut control: libp2p_stream::Control,
        shared: &Shared,
    ) -> Result<Blobs, crate::network::NodeError> {
        let tally = shared.tally.clone();
        let blob_store = BlobStore::open(data_dir, store, tally.clone())
            .map_err(|e| crate::network::NodeError::Invalid(e.to_string()))?;
        let incoming = control
            .accept(PROTOCOL)
            .map_err(|e| crate::network::NodeError::Transport(e.to_string()))?;
        let server = tokio::spawn(serve::accept(
            incoming,
            blob_store.clone(),
            shared.door.clone(),
            tally.clone(),
            shared.metrics.clone(),
        ))
        .abort_handle();
        Ok(Blobs {
            server,
            fetcher: Fetcher {
                control,
                blobs: blob_store.clone(),
                tally,
                metrics: shared.metrics.clone(),
            },
            store: blob_store,
            fetches: Arc::new(Semaphore::new(MAX_FETCHES)),
        })
    }

    /// Stops serving (the node is stopping; the server holds the store).
    pub fn stop(&self) {
        self.server.abort();
    }

    /// Adds the file at `path`, returning the offer a message carries.
    pub async fn share(&self, path: &Path) -> Result<(FileOffer, usize), BlobError> {
        let store = self.store.clone();
        let owned = path.to_path_buf();
        let manifest = tokio::task::spawn_blocking(move || store.add_file(&owned))
            .await
            .map_err(|e| BlobError::Io(path.display().to_string(), std::io::Error::other(e)))??;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().replace('\n', " "))
            .unwrap_or_else(|| "blob".into());
        let offer = FileOffer {
            blob: manifest.id(),
            media_type: media_type(&name).to_string(),
            name,
            size: manifest.size,
        };
        Ok((offer, manifest.chunks.len()))
    }

    /// Fetches `blob` from `sources` and writes it to `out`, reporting on `events` and
    /// ending with `done` or `failed`. A damaged chunk found while writing is fetched again
    /// once.
    pub async fn fetch_to(
        &self,
        blob: BlobId,
        sources: Vec<PeerId>,
        out: &Path,
        events: mpsc::Sender<FetchEvent>,
    ) {
        let Ok(_permit) = self.fetches.clone().try_acquire_owned() else {
            let error = format!("busy: this node already runs {MAX_FETCHES} fetches");
            let _ = events.send(FetchEvent::Failed { error }).await;
            return;
        };
        let mut attempts = 0;
        let end = loop {
            attempts += 1;
            let fetch::Fetched { manifest, given } =
                match self.fetcher.fetch(blob, sources.clone(), &events).await {
                    Ok(fetched) => fetched,
                    Err(e) => {
                        break FetchEvent::Failed {
                            error: e.to_string(),
                        };
                    }
                };
            let store = self.store.clone();
            let dest = out.to_path_buf();
            let m = manifest.clone();
            match tokio::task::spawn_blocking(move || store.export(&m, &dest)).await {
                Ok(Ok(())) => {
                    break FetchEvent::Done {
                        path: out.display().to_string(),
                        size: manifest.size,
                        from: given,
                    };
                }
                Ok(Err(BlobError::Incomplete(_))) if attempts < 2 => continue,
                Ok(Err(e)) => {
                    break FetchEvent::Failed {
                        error: e.to_string(),
                    };
                }
                Err(e) => {
                    break FetchEvent::Failed {
                        error: e.to_string(),
                    };
                }
            }
        };
        let _ = events.send(end).await;
    }
}

/// A file's media type from its extension; `application/octet-stream` when unknown.
pub fn media_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt" | "log" | "md") => "text/plain",
        Some("html" | "htm") => "text/html",
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        Some("pdf") => "application/pdf",
        Some("zip") => "application/zip",
        Some("gz" | "tgz") => "application/gzip",
        Some("tar") => "application/x-tar",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("svg") => "image/svg+xml",
        Some("mp3") => "audio/mpeg",
        Some("ogg" | "opus") => "audio/ogg",
        Some("wav") => "audio/wav",
        Some("mp4" | "m4v") => "video/mp4",
        Some("webm") => "video/webm",
        Some("mkv") => "video/x-matroska",
        _ => "application/octet-stream",
    }
}
