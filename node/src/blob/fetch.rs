//! The fetching side of `/weft/blob/1`: gets and checks the manifest, then pulls the chunks
//! not yet on disk from every source at once, each checked against its hash before it is
//! written. A source that refuses, goes away or sends a chunk that fails its hash is
//! dropped and its chunks go back to the others. What arrived stays on disk, so a later
//! fetch moves only what is still missing.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::AsyncReadExt;
use libp2p::{PeerId, Stream};
use libp2p_stream::Control;
use tokio::sync::mpsc;
use weft_proto::blob::{
    BLOB_VERSION, BlobId, BlobReply, BlobRequest, MAX_BLOB_REPLY_BYTES, MAX_CHUNKS_PER_REQUEST,
    MAX_MANIFEST_BYTES, Manifest, Want,
};
use weft_proto::codec::{from_cbor, to_cbor};
use weft_proto::media::FetchEvent;

use super::PROTOCOL;
use super::store::{BlobError, BlobStore};
use crate::core::short;
use crate::network::frame::{read_frame, write_frame};
use crate::network::tally::Tally;

/// Chunks asked for in one request: enough to keep a stream busy between requests.
const BATCH: usize = 16;

/// How long a source may take to answer before it is dropped.
const TIMEOUT: Duration = Duration::from_secs(30);

/// How often progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Why a fetch stopped.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No source had the blob or all of it.
    #[error("{0}")]
    NoSource(String),
    /// The local store failed (a full disk, say).
    #[error(transparent)]
    Local(#[from] BlobError),
}

/// Fetches blobs from members.
#[derive(Clone)]
pub struct Fetcher {
    /// Opens `/weft/blob/1` streams.
    pub control: Control,
    /// Where chunks go.
    pub blobs: BlobStore,
    /// Where refused input is counted.
    pub tally: Tally,
    /// Where bytes received are counted.
    pub metrics: crate::metrics::Metrics,
}

/// A source with a stream open to it, and the chunks it said it lacks.
struct Source {
    peer: PeerId,
    stream: Stream,
    lacks: HashSet<u32>,
}

/// How one round of a source's work ended.
enum Ended {
    /// Nothing left that it can give.
    Idle(Source),
    /// It misbehaved or went away: drop it, and why.
    Dropped(PeerId, String),
    /// Storing a chunk here failed: the whole fetch stops.
    Local(BlobError),
}

/// What every worker of one fetch shares.
struct Shared {
    manifest: Manifest,
    queue: Mutex<VecDeque<u32>>,
    done: AtomicU64,
    /// Bytes each source gave in this fetch.
    given: Mutex<BTreeMap<String, u64>>,
}

/// A fetched blob: its manifest, and the bytes each source gave this time.
pub struct Fetched {
    /// The manifest.
    pub manifest: Manifest,
    /// Bytes by source PeerId.
    pub given: BTreeMap<String, u64>,
}

impl Fetcher {
    /// Fetches `blob` from `sources` until every chunk is on disk; reports on `events`.
    pub async fn fetch(
        &self,
        blob: BlobId,
        sources: Vec<PeerId>,
        events: &mpsc::Sender<FetchEvent>,
    ) -> Result<Fetched, FetchError> {
        let mut open = Vec::new();
        let mut manifest = self.blobs.manifest(&blob)?;
        for peer in sources {
            match self.open(peer, blob, manifest.is_none()).await {
                Ok((source, theirs)) => {
                    if manifest.is_none()
                        && let Some(theirs) = theirs
                    {
                        self.blobs.put_manifest(&theirs)?;
                        manifest = Some(theirs);
                    }
                    open.push(source);
                }
                Err(reason) => drop_source(events, &peer, reason).await,
            }
        }
        let manifest = manifest.ok_or_else(|| {
            FetchError::NoSource(format!(
                "no member asked has blob {blob}; name one that has it with --from PEER"
            ))
        })?;
        let missing = {
            let blobs = self.blobs.clone();
            let m = manifest.clone();
            tokio::task::spawn_blocking(move || blobs.missing(&m))
                .await
                .unwrap_or_default()
        };
        let missing_bytes: u64 = missing
            .iter()
            .map(|&i| manifest.chunk_len(i as usize) as u64)
            .sum();
        let have = manifest.size - missing_bytes.min(manifest.size);
        let _ = events
            .send(FetchEvent::Started {
                size: manifest.size,
                have,
                sources: open.iter().map(|s| s.peer.to_string()).collect(),
            })
            .await;
        let shared = Arc::new(Shared {
            queue: Mutex::new(missing.into()),
            done: AtomicU64::new(have),
            given: Mutex::default(),
            manifest,
        });
        let reporter = tokio::spawn(report(shared.clone(), events.clone()));
        let result = self.pull(&shared, open, events).await;
        reporter.abort();
        let size = shared.manifest.size;
        let done = shared.done.load(Ordering::Relaxed);
        let _ = events.send(FetchEvent::Progress { done, size }).await;
        let given = shared.given.lock().map(|g| g.clone()).unwrap_or_default();
        result.map(|()| Fetched {
            manifest: shared.manifest.clone(),
            given,
        })
    }

    /// Rounds of work by every source left, until nothing is missing or no source can help.
    async fn pull(
        &self,
        shared: &Arc<Shared>,
        mut sources: Vec<Source>,
        events: &mpsc::Sender<FetchEvent>,
    ) -> Result<(), FetchError> {
        loop {
            let left = shared.queue.lock().map(|q| q.len()).unwrap_or(0);
            if left == 0 {
                return Ok(());
            }
            if sources.is_empty() {
                return Err(FetchError::NoSource(format!(
                    "{left} chunks still missing and no source left to fetch them from; fetch again to resume"
                )));
            }
            let before = shared.done.load(Ordering::Relaxed);
            // Every source's first batch is taken before any worker runs, so each has work
            // before one asks ahead.
            let firsts: Vec<Vec<u32>> = sources.iter().map(|s| take(shared, &s.lacks)).collect();
            let workers: Vec<_> = sources
                .drain(..)
                .zip(firsts)
                .map(|(source, first)| {
                    tokio::spawn(work(source, first, shared.clone(), self.clone()))
                })
                .collect();
            for worker in workers {
                match worker.await {
                    Ok(Ended::Idle(source)) => sources.push(source),
                    Ok(Ended::Dropped(peer, reason)) => drop_source(events, &peer, reason).await,
                    Ok(Ended::Local(e)) => return Err(e.into()),
                    Err(e) => {
                        return Err(FetchError::NoSource(format!("a transfer task failed: {e}")));
                    }
                }
            }
            let queue: Vec<u32> = shared
                .queue
                .lock()
                .map(|q| q.iter().copied().collect())
                .unwrap_or_default();
            // A source that lacks everything still missing is of no more use.
            sources.retain(|s| queue.iter().any(|i| !s.lacks.contains(i)));
            if shared.done.load(Ordering::Relaxed) == before
                && !queue.is_empty()
                && sources.is_empty()
            {
                return Err(FetchError::NoSource(format!(
                    "{} chunks are not held by any source asked; fetch again later or name another with --from",
                    queue.len()
                )));
            }
        }
    }

    /// Opens a stream to `peer` and, when `ask_manifest`, gets its manifest of `blob`,
    /// checked against the id.
    async fn open(
        &self,
        peer: PeerId,
        blob: BlobId,
        ask_manifest: bool,
    ) -> Result<(Source, Option<Manifest>), String> {
        let mut control = self.control.clone();
        let opening = control.open_stream(peer, PROTOCOL);
        let mut stream = tokio::time::timeout(TIMEOUT, opening)
            .await
            .map_err(|_| "no stream within 30 s".to_string())?
            .map_err(|e| e.to_string())?;
        // Every source is asked, so one that does not know the blob is found out now.
        request(&mut stream, blob, Want::Manifest).await?;
        let manifest = match read_reply(&mut stream, MAX_MANIFEST_BYTES).await? {
            BlobReply::Manifest(bytes) if ask_manifest => {
                let m = Manifest::decode_for(&blob, &bytes).map_err(|e| {
                    self.tally.add("blob_bad_manifest");
                    format!("sent a manifest that fails its check: {e}")
                })?;
                Some(m)
            }
            BlobReply::Manifest(_) => None,
            BlobReply::Unknown => return Err("does not have this blob".into()),
            BlobReply::Refused(why) => return Err(format!("refused: {why}")),
            other => return Err(format!("answered a manifest request with {other:?}")),
        };
        let source = Source {
            peer,
            stream,
            lacks: HashSet::new(),
        };
        Ok((source, manifest))
    }
}

/// One source's round: asks for `first` (taken for it by [`Fetcher::pull`]) and then for
/// more batches of missing chunks it does not lack, and checks and stores each chunk, until
/// the queue has nothing more for it. The next batch is asked for before the current one is
/// read, so the source goes on sending without waiting a round trip (and this node's last
/// writes) between batches.
async fn work(mut source: Source, first: Vec<u32>, shared: Arc<Shared>, fetcher: Fetcher) -> Ended {
    let blob = shared.manifest.id();
    // Every chunk taken and not yet stored or handed back, in the order taken.
    let mut pending: VecDeque<u32> = first.iter().copied().collect();
    let mut asked: VecDeque<Vec<u32>> = VecDeque::new();
    let mut batch = first;
    let outcome = 'round: loop {
        while !batch.is_empty() {
            let want = Want::Chunks(batch.clone());
            if let Err(reason) = request(&mut source.stream, blob, want).await {
                break 'round Err(Ok(reason));
            }
            asked.push_back(std::mem::take(&mut batch));
            if asked.len() < BATCHES_AHEAD {
                batch = take(&shared, &source.lacks);
                pending.extend(&batch);
            }
        }
        let Some(reading) = asked.pop_front() else {
            break 'round Ok(());
        };
        if let Err(e) = read_batch(&mut source, &shared, &fetcher, reading, &mut pending).await {
            break 'round Err(e);
        }
        batch = take(&shared, &source.lacks);
        pending.extend(&batch);
    };
    if !pending.is_empty()
        && let Ok(mut queue) = shared.queue.lock()
    {
        queue.extend(pending);
    }
    match outcome {
        Ok(()) => Ended::Idle(source),
        Err(Err(local)) => Ended::Local(local),
        Err(Ok(reason)) => Ended::Dropped(source.peer, reason),
    }
}

/// Batches asked of one source at once: the one being read and the next.
const BATCHES_AHEAD: usize = 2;

/// Reads the replies to `batch`, asked of `source` already. Each chunk is checked and
/// written off the runtime while the next one is read (at most [`WRITES_IN_FLIGHT`] at
/// once), and taken off `pending` once stored; a chunk the source lacks goes back to the
/// queue for the others. `Err(Ok(reason))` drops the source; `Err(Err(e))` stops the fetch.
async fn read_batch(
    source: &mut Source,
    shared: &Shared,
    fetcher: &Fetcher,
    batch: Vec<u32>,
    pending: &mut VecDeque<u32>,
) -> Result<(), Result<String, BlobError>> {
    let mut writes = VecDeque::new();
    for index in batch {
        let expected = shared.manifest.chunk_len(index as usize);
        match read_reply(&mut source.stream, MAX_BLOB_REPLY_BYTES)
            .await
            .map_err(Ok)?
        {
            BlobReply::Chunk { index: i, len } if i == index && len as usize == expected => {}
            BlobReply::Missing(i) if i == index => {
                source.lacks.insert(index);
                pending.retain(|p| *p != index);
                if let Ok(mut queue) = shared.queue.lock() {
                    queue.push_back(index);
                }
                continue;
            }
            BlobReply::Refused(why) => return Err(Ok(format!("refused: {why}"))),
            other => {
                fetcher.tally.add("blob_protocol");
                return Err(Ok(format!("answered chunk {index} with {other:?}")));
            }
        }
        let mut bytes = vec![0u8; expected];
        tokio::time::timeout(TIMEOUT, source.stream.read_exact(&mut bytes))
            .await
            .map_err(|_| Ok("stalled mid-chunk".to_string()))?
            .map_err(|e| Ok(format!("went away mid-chunk: {e}")))?;
        let hash = shared.manifest.chunks[index as usize];
        let store = fetcher.blobs.clone();
        let write = tokio::task::spawn_blocking(move || {
            if blake3::hash(&bytes).as_bytes() != &hash {
                return Ok(false);
            }
            store.write_chunk(&hash, &bytes).map(|()| true)
        });
        writes.push_back((index, write));
        if writes.len() > WRITES_IN_FLIGHT
            && let Some(oldest) = writes.pop_front()
        {
            settle(source.peer, shared, fetcher, pending, oldest).await?;
        }
    }
    while let Some(write) = writes.pop_front() {
        settle(source.peer, shared, fetcher, pending, write).await?;
    }
    Ok(())
}

/// Chunk writes one source may have in flight while it reads on.
const WRITES_IN_FLIGHT: usize = 4;

/// A chunk being checked and written, by index.
type Write = (u32, tokio::task::JoinHandle<Result<bool, BlobError>>);

/// Waits for one chunk's check and write: stored, it leaves `pending` and counts; failing
/// its hash, it drops the source.
async fn settle(
    peer: PeerId,
    shared: &Shared,
    fetcher: &Fetcher,
    pending: &mut VecDeque<u32>,
    (index, write): Write,
) -> Result<(), Result<String, BlobError>> {
    let stored = write
        .await
        .map_err(|e| Ok(format!("checking a chunk failed: {e}")))?;
    match stored {
        Ok(true) => {
            pending.retain(|p| *p != index);
            let len = shared.manifest.chunk_len(index as usize) as u64;
            shared.done.fetch_add(len, Ordering::Relaxed);
            fetcher.metrics.blob_bytes("received", len);
            if let Ok(mut given) = shared.given.lock() {
                *given.entry(peer.to_string()).or_default() += len;
            }
            Ok(())
        }
        Ok(false) => {
            fetcher.tally.add("blob_tampered");
            let blob = shared.manifest.id();
            tracing::warn!(peer = %short(&peer), chunk = index, %blob, "a source sent a chunk that fails its hash; dropped it");
            Err(Ok(format!("sent chunk {index}, which fails its hash")))
        }
        Err(e) => Err(Err(e)),
    }
}

/// Takes up to [`BATCH`] queued chunks that a source does not lack.
fn take(shared: &Shared, lacks: &HashSet<u32>) -> Vec<u32> {
    let Ok(mut queue) = shared.queue.lock() else {
        return Vec::new();
    };
    let mut batch = Vec::new();
    let mut kept = VecDeque::new();
    while batch.len() < BATCH.min(MAX_CHUNKS_PER_REQUEST) {
        match queue.pop_front() {
            Some(i) if lacks.contains(&i) => kept.push_back(i),
            Some(i) => batch.push(i),
            None => break,
        }
    }
    kept.extend(queue.drain(..));
    *queue = kept;
    batch
}

async fn request(stream: &mut Stream, blob: BlobId, want: Want) -> Result<(), String> {
    let body = to_cbor(&BlobRequest {
        v: BLOB_VERSION,
        blob,
        want,
    })
    .map_err(|e| e.to_string())?;
    write_frame(stream, &body)
        .await
        .map_err(|e| format!("went away: {e}"))
}

async fn read_reply(stream: &mut Stream, max: usize) -> Result<BlobReply, String> {
    let read = read_frame(stream, "blob reply", max);
    match tokio::time::timeout(TIMEOUT, read).await {
        Err(_) => Err("no answer within 30 s".into()),
        Ok(Err(e)) => Err(format!("went away: {e}")),
        Ok(Ok(Err(refused))) => Err(refused.to_string()),
        Ok(Ok(Ok(body))) => from_cbor(&body).map_err(|e| format!("sent a malformed reply: {e}")),
    }
}

async fn drop_source(events: &mpsc::Sender<FetchEvent>, peer: &PeerId, reason: String) {
    // The reason may hold a peer's words (its refusal): escaped and cut short before it
    // reaches a log, a terminal or a page.
    let reason = crate::cli::output::peer_words(&reason);
    tracing::info!(peer = %short(peer), "blob source dropped: {reason}");
    let _ = events
        .send(FetchEvent::SourceDropped {
            peer: peer.to_string(),
            reason,
        })
        .await;
}

/// Reports progress until aborted.
async fn report(shared: Arc<Shared>, events: mpsc::Sender<FetchEvent>) {
    let mut every = tokio::time::interval(PROGRESS_EVERY);
    loop {
        every.tick().await;
        let done = shared.done.load(Ordering::Relaxed);
        let size = shared.manifest.size;
        if events
            .send(FetchEvent::Progress { done, size })
            .await
            .is_err()
        {
            return;
        }
    }
}
