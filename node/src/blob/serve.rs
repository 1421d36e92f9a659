//! The serving side of `/weft/blob/1`: members ask for manifests and chunks; every request
//! is checked against the ACL; at most [`MAX_SERVING`] streams are served at once.

use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream};
use libp2p_stream::IncomingStreams;
use tokio::sync::Semaphore;
use weft_proto::blob::{BlobReply, BlobRequest, MAX_BLOB_REQUEST_BYTES, Manifest, Want};
use weft_proto::codec::{frame, to_cbor};

use super::store::BlobStore;
use crate::core::short;
use crate::mesh::door::Door;
use crate::metrics::Metrics;
use crate::network::frame::read_frame;
use crate::network::tally::Tally;

/// Most `/weft/blob/1` streams served at once; more are refused with "busy".
pub const MAX_SERVING: usize = 32;

/// How long a served stream may sit idle between requests.
const IDLE: Duration = Duration::from_secs(60);

/// How long a refusal to a non-member may take to leave.
const REFUSAL_TIME: Duration = Duration::from_secs(2);

/// Serves inbound `/weft/blob/1` streams until the node stops.
pub async fn accept(
    mut incoming: IncomingStreams,
    blobs: BlobStore,
    door: Door,
    tally: Tally,
    metrics: Metrics,
) {
    let permits = Arc::new(Semaphore::new(MAX_SERVING));
    while let Some((peer, mut stream)) = incoming.next().await {
        // The door before the permit: a stranger's streams never take a member's place.
        if !door.check("blob", &peer) {
            tally.add("blob_not_member");
            tokio::spawn(async move {
                // Its (small) request is let in first, so the refusal is what it reads.
                let why = BlobReply::Refused("not a member of this mesh".into());
                let refuse = async {
                    let _ = read_frame(&mut stream, "blob request", MAX_BLOB_REQUEST_BYTES).await;
                    let _ = send(&mut stream, &why).await;
                };
                let _ = tokio::time::timeout(REFUSAL_TIME, refuse).await;
                let _ = stream.close().await;
            });
            continue;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(peer = %short(&peer), "refused a blob transfer: already serving {MAX_SERVING}");
            tally.add("blob_busy");
            let busy = format!("busy: this node already serves {MAX_SERVING} transfers");
            tokio::spawn(async move {
                let _ = send(&mut stream, &BlobReply::Refused(busy)).await;
                let _ = stream.close().await;
            });
            continue;
        };
        let server = Served {
            peer,
            blobs: blobs.clone(),
            door: door.clone(),
            tally: tally.clone(),
            metrics: metrics.clone(),
            manifest: None,
        };
        tokio::spawn(async move {
            server.serve(stream).await;
            drop(permit);
        });
    }
}

/// One served stream.
struct Served {
    peer: PeerId,
    blobs: BlobStore,
    door: Door,
    tally: Tally,
    metrics: Metrics,
    /// The manifest of the blob last asked about.
    manifest: Option<Arc<Manifest>>,
}

impl Served {
    async fn serve(mut self, mut stream: Stream) {
        loop {
            let read = read_frame(&mut stream, "blob request", MAX_BLOB_REQUEST_BYTES);
            let body = match tokio::time::timeout(IDLE, read).await {
                Ok(Ok(Ok(body))) => body,
                Ok(Ok(Err(refused))) => {
                    self.refuse(&mut stream, refused.reason(), refused.to_string())
                        .await;
                    return;
                }
                // Closed by the asker, or idle too long.
                Ok(Err(_)) | Err(_) => return,
            };
            if !self.door.check("blob", &self.peer) {
                let why = "not a member of this mesh".to_string();
                self.refuse(&mut stream, "blob_not_member", why).await;
                return;
            }
            let request = match BlobRequest::decode(&body) {
                Ok(request) => request,
                Err(e) => {
                    self.refuse(&mut stream, e.reason(), e.to_string()).await;
                    return;
                }
            };
            if self.answer(&mut stream, request).await.is_err() {
                return;
            }
        }
    }

    /// Refuses the stream's request: counted as `reason`, logged, answered.
    async fn refuse(&self, stream: &mut Stream, reason: &str, why: String) {
        tracing::warn!(peer = %short(&self.peer), reason, "refused a blob request: {why}");
        let counted = if reason.starts_with("blob_") {
            reason.to_string()
        } else {
            format!("blob_{reason}")
        };
        self.tally.add(&counted);
        let _ = send(stream, &BlobReply::Refused(why)).await;
        let _ = stream.close().await;
    }

    async fn answer(&mut self, stream: &mut Stream, request: BlobRequest) -> std::io::Result<()> {
        let Some(manifest) = self.manifest_of(&request) else {
            return send(stream, &BlobReply::Unknown).await;
        };
        let indices = match request.want {
            Want::Manifest => {
                let bytes = manifest.encode().map_err(std::io::Error::other)?;
                return send(stream, &BlobReply::Manifest(bytes)).await;
            }
            Want::Chunks(indices) => indices,
        };
        // Read the next chunk from disk while the current one goes out.
        let mut next = indices.first().map(|&i| self.read(&manifest, i));
        for (k, &index) in indices.iter().enumerate() {
            let chunk = match next.take() {
                Some(reading) => reading.await.ok().flatten(),
                None => None,
            };
            next = indices.get(k + 1).map(|&i| self.read(&manifest, i));
            match chunk {
                Some(bytes) => {
                    let header = BlobReply::Chunk {
                        index,
                        len: bytes.len() as u32,
                    };
                    let header = to_cbor(&header).map_err(std::io::Error::other)?;
                    stream.write_all(&frame(&header)).await?;
                    stream.write_all(&bytes).await?;
                    self.metrics.blob_bytes("sent", bytes.len() as u64);
                }
                None => send_unflushed(stream, &BlobReply::Missing(index)).await?,
            }
        }
        stream.flush().await
    }

    /// The manifest `request` is about, from the cache or the store.
    fn manifest_of(&mut self, request: &BlobRequest) -> Option<Arc<Manifest>> {
        if let Some(m) = &self.manifest
            && m.id() == request.blob
        {
            return Some(m.clone());
        }
        let manifest = Arc::new(self.blobs.manifest(&request.blob).ok().flatten()?);
        self.manifest = Some(manifest.clone());
        Some(manifest)
    }

    /// Reads chunk `index` of `manifest` off the runtime: `None` when it is not here (or
    /// was damaged).
    fn read(&self, manifest: &Manifest, index: u32) -> tokio::task::JoinHandle<Option<Vec<u8>>> {
        let blobs = self.blobs.clone();
        let hash = manifest.chunks.get(index as usize).copied();
        tokio::task::spawn_blocking(move || blobs.read_chunk(&hash?).ok().flatten())
    }
}

/// Writes one reply frame and flushes.
async fn send(stream: &mut Stream, reply: &BlobReply) -> std::io::Result<()> {
    send_unflushed(stream, reply).await?;
    stream.flush().await
}

async fn send_unflushed(stream: &mut Stream, reply: &BlobReply) -> std::io::Result<()> {
    let body = to_cbor(reply).map_err(std::io::Error::other)?;
    stream.write_all(&frame(&body)).await
}
