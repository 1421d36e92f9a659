//! The media commands: `share`, `send-file`, `fetch`, `pipe`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use libp2p::PeerId;
use std::io::{Read, Write};
use weft_proto::api::{Direction, InboxQuery, Kind};
use weft_proto::blob::{BlobId, FileOffer};
use weft_proto::media::{FetchEvent, FetchRequest};

use super::output::{print_json, short_peer};
use crate::api::client::Client;

/// How often plain (non-terminal) progress lines are printed.
const PLAIN_EVERY: Duration = Duration::from_secs(1);

/// Most bytes a pipe moves per read and write.
const PIPE_BUFFER: usize = 1024 * 1024;

/// `weft share`; `print` off leaves the printing to the caller.
pub async fn share(
    client: &Client,
    path: &Path,
    json: bool,
    print: bool,
) -> anyhow::Result<FileOffer> {
    let path = std::path::absolute(path)?;
    let shared = client.share(&path.to_string_lossy()).await?;
    if !print {
        return Ok(shared.offer);
    }
    if json {
        print_json(&shared)?;
    } else {
        let o = &shared.offer;
        println!("{}", o.blob);
        eprintln!(
            "shared {} ({}, {}, {})",
            o.name,
            bytes(o.size),
            o.media_type,
            super::output::count(shared.chunks as u64, "chunk")
        );
    }
    Ok(shared.offer)
}

/// `weft fetch`.
pub async fn fetch(
    client: &Client,
    blob: BlobId,
    from: Vec<PeerId>,
    out: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<()> {
    let out = match out {
        Some(path) => path,
        None => PathBuf::from(offered_name(client, &blob, &from).await),
    };
    let out = std::path::absolute(out)?;
    if out.exists() {
        anyhow::bail!(
            "{} already exists; name another file with -o PATH",
            out.display()
        );
    }
    let request = FetchRequest {
        blob,
        from: from.iter().map(|p| p.to_string()).collect(),
        out: out.to_string_lossy().into_owned(),
    };
    let mut events = client.fetch(&request).await?;
    let mut shown = Progress::new(json);
    while let Some(event) = events.next().await {
        let event = event?;
        if json {
            print_json(&event)?;
        }
        match event {
            FetchEvent::Started {
                size,
                have,
                sources,
            } => {
                shown.start(size, have, sources.len());
            }
            FetchEvent::Progress { done, .. } => shown.update(done),
            FetchEvent::SourceDropped { peer, reason } => {
                shown.note(&format!("source {} dropped: {reason}", short_peer(&peer)));
            }
            FetchEvent::Done { path, size, from } => {
                shown.finish();
                if !json {
                    println!("fetched {} ({}) to {path}", blob.short(), bytes(size));
                    for (peer, given) in from {
                        eprintln!("  {} from {}", bytes(given), short_peer(&peer));
                    }
                }
                return Ok(());
            }
            FetchEvent::Failed { error } => {
                shown.finish();
                anyhow::bail!("{error}");
            }
        }
    }
    shown.finish();
    anyhow::bail!("the node stopped before the fetch ended; fetch again to resume")
}

/// The name the offer of `blob` gave it, else its id. Only an offer in a direct message
/// from one of `from` (the members it is fetched from) counts: anyone can name a blob in a
/// topic message. The name is made safe as a file name in the current directory.
async fn offered_name(client: &Client, blob: &BlobId, from: &[PeerId]) -> String {
    let mut offered = None;
    for peer in from {
        let query = InboxQuery {
            from: Some(peer.to_string()),
            topic: None,
            limit: Some(weft_proto::limits::MAX_INBOX_LIMIT),
        };
        let messages = client.inbox(&query).await.unwrap_or_default();
        offered = messages
            .iter()
            .rev()
            .filter(|m| m.kind == Kind::Direct && m.direction == Direction::In)
            .filter(|m| m.from == peer.to_string())
            .filter_map(|m| FileOffer::from_text(&m.text))
            .find(|o| o.blob == *blob)
            .and_then(|o| safe_file_name(&o.name));
        if offered.is_some() {
            break;
        }
    }
    offered.unwrap_or_else(|| blob.to_string())
}

/// `name` as a plain file name: no directories, no control characters, not hidden, at
/// most 255 bytes; `None` when nothing usable is left.
pub fn safe_file_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next()?;
    let mut out: String = base.chars().filter(|c| !c.is_control()).collect();
    while out.len() > 255 {
        out.pop();
    }
    let out = out.trim().trim_start_matches('.').to_string();
    (!out.is_empty()).then_some(out)
}

/// Fetch progress: a bar on a terminal, a line a second otherwise, nothing with `--json`.
struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    size: u64,
    started: Instant,
    start_bytes: u64,
    last_line: Option<Instant>,
}

impl Progress {
    fn new(json: bool) -> Progress {
        Progress {
            bar: None,
            plain: !json && !std::io::stderr().is_terminal(),
            size: 0,
            started: Instant::now(),
            start_bytes: 0,
            last_line: None,
        }
    }

    fn start(&mut self, size: u64, have: u64, sources: usize) {
        self.size = size;
        self.start_bytes = have;
        self.started = Instant::now();
        // The first plain line a second in: one at the start says nothing (0%), and a
        // fetch done within the second says it all in its last line.
        self.last_line = Some(self.started);
        if have > 0 {
            self.note(&format!(
                "resuming: {} of {} already here",
                bytes(have),
                bytes(size)
            ));
        }
        let from = super::output::count(sources as u64, "member");
        self.note(&format!("fetching {} from {from}", bytes(size)));
        if !self.plain && std::io::stderr().is_terminal() {
            let style = ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            let bar = ProgressBar::new(size).with_style(style);
            bar.set_position(have);
            self.bar = Some(bar);
        }
    }

    fn update(&mut self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            return;
        }
        if !self.plain || self.last_line.is_some_and(|t| t.elapsed() < PLAIN_EVERY) {
            return;
        }
        self.last_line = Some(Instant::now());
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (done.saturating_sub(self.start_bytes)) as f64 / secs;
        let eta = if rate > 0.0 {
            format!("{:.0}s", (self.size.saturating_sub(done)) as f64 / rate)
        } else {
            "?".into()
        };
        let percent = (done * 100).checked_div(self.size).unwrap_or(100);
        eprintln!(
            "fetched {} of {} ({percent}%), {}/s, ETA {eta}",
            bytes(done),
            bytes(self.size),
            bytes(rate as u64)
        );
    }

    fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None if self.plain => eprintln!("{line}"),
            None => {}
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// `weft pipe`: stdin to the other end, the other end to stdout, until both have ended.
/// Once open, the pipe's socket is driven by two plain threads with blocking reads and
/// writes of up to [`PIPE_BUFFER`]: at Gbit/s rates an async runtime's hand-offs between
/// threads cost more than the copies.
pub async fn pipe(
    client: &Client,
    peer: Option<PeerId>,
    from: Option<PeerId>,
) -> anyhow::Result<()> {
    let peer = peer.map(|p| p.to_string());
    let from = from.map(|p| p.to_string());
    let (other, socket, early) = client.pipe(peer.as_deref(), from.as_deref()).await?;
    if std::io::stderr().is_terminal() {
        eprintln!("pipe open with {}", short_peer(&other));
    }
    let (sent, received) = tokio::task::spawn_blocking(move || splice(socket, &early)).await?;
    let sent = sent.map_err(|e| anyhow::anyhow!("the pipe broke while sending: {e}"))?;
    let received = received.map_err(|e| anyhow::anyhow!("the pipe broke while receiving: {e}"))?;
    tracing::info!(sent, received, "pipe closed");
    Ok(())
}

/// Copies stdin to `socket` (then closes its sending half) and `early` and then `socket` to
/// stdout, on two threads; the bytes each way.
fn splice(
    socket: std::os::unix::net::UnixStream,
    early: &[u8],
) -> (std::io::Result<u64>, std::io::Result<u64>) {
    use std::os::fd::AsFd;
    let up = socket.try_clone().and_then(|mut to| {
        let mut stdin = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
        Ok(std::thread::spawn(move || {
            let sent = copy(&mut stdin, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Write);
            sent
        }))
    });
    let down = (|| {
        let mut stdout = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
        stdout.write_all(early)?;
        let mut from = socket;
        Ok(early.len() as u64 + copy(&mut from, &mut stdout)?)
    })();
    let sent = match up {
        Ok(thread) => thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("panicked"))),
        Err(e) => Err(e),
    };
    (sent, down)
}

/// Copies `from` to `to` until `from` ends, [`PIPE_BUFFER`] at a time.
fn copy(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<u64> {
    let mut buf = vec![0u8; PIPE_BUFFER];
    let mut total = 0;
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                to.write_all(&buf[..n])?;
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A byte count for people: `12.3 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn offered_names_become_plain_file_names() {
        assert_eq!(safe_file_name("photo.jpg").as_deref(), Some("photo.jpg"));
        assert_eq!(safe_file_name("../../.bashrc").as_deref(), Some("bashrc"));
        assert_eq!(safe_file_name("/etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(
            safe_file_name("a\\b\u{1b}[2J.txt").as_deref(),
            Some("b[2J.txt")
        );
        assert_eq!(safe_file_name("..").as_deref(), None);
        assert_eq!(safe_file_name("dir/").as_deref(), None);
        assert!(safe_file_name(&"x".repeat(1000)).unwrap().len() <= 255);
    }
}
