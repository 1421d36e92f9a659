//! Two real `weft node` processes in one mesh, on one transport, driven through the CLI.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;

/// Which transport the pair listens on.
#[derive(Clone, Copy)]
pub enum Transport {
    /// TCP + Noise + Yamux.
    Tcp,
    /// QUIC.
    Quic,
}

impl Transport {
    /// Its name in the figures.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "TCP",
            Transport::Quic => "QUIC",
        }
    }

    fn listen(self) -> &'static str {
        match self {
            Transport::Tcp => "/ip4/127.0.0.1/tcp/0",
            Transport::Quic => "/ip4/127.0.0.1/udp/0/quic-v1",
        }
    }
}

/// One node process and its data dir.
struct Proc {
    dir: PathBuf,
    peer_id: String,
    child: Child,
}

/// A sender (it founded the mesh and shares) and a receiver (it joined and fetches).
pub struct Pair {
    sender: Proc,
    receiver: Proc,
}

/// Writes back what the set-up left dirty (the test file, the shared chunks), so the disk
/// is quiet when the clock starts.
fn settle_disk() -> anyhow::Result<()> {
    Command::new("sync").status()?;
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}

/// The `weft` binary beside this example, with the `weft-node` it hands nodes to.
fn weft_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("weft"))
        .context("no directory above the example")?;
    for needed in [&bin, &bin.with_file_name("weft-node")] {
        anyhow::ensure!(
            needed.exists(),
            "{} is missing: build it with `cargo build --release --bins`",
            needed.display()
        );
    }
    Ok(bin)
}

fn weft(dir: &Path, args: &[&str]) -> anyhow::Result<Value> {
    let out = Command::new(weft_bin()?)
        .arg("--data-dir")
        .arg(dir)
        .arg("--json")
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "weft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout).unwrap_or(Value::Null))
}

impl Proc {
    fn start(dir: &Path, transport: Transport) -> anyhow::Result<Proc> {
        weft(dir, &["init"])?;
        let mut child = Command::new(weft_bin()?)
            .arg("--data-dir")
            .arg(dir)
            .args([
                "--json",
                "node",
                "--listen",
                transport.listen(),
                "--mdns",
                "off",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let started: Value = serde_json::from_str(&line).context("the node did not start")?;
        Ok(Proc {
            dir: dir.to_path_buf(),
            peer_id: started["peer_id"].as_str().unwrap_or_default().to_string(),
            child,
        })
    }

    fn weft(&self, args: &[&str]) -> anyhow::Result<Value> {
        weft(&self.dir, args)
    }

    fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .context("no VmHWM")
    }
}

impl Pair {
    /// Starts both nodes in `dir` on `transport`, in one mesh, connected.
    pub fn start(dir: &Path, transport: Transport) -> anyhow::Result<Pair> {
        let sender = Proc::start(&dir.join("sender"), transport)?;
        let receiver = Proc::start(&dir.join("receiver"), transport)?;
        sender.weft(&["mesh", "create"])?;
        let invite = sender.weft(&["invite", "create"])?;
        let key = invite["key"].as_str().context("invite key")?;
        receiver.weft(&["join", key])?;
        Ok(Pair { sender, receiver })
    }

    /// The sender shares `file`; its blob id.
    pub fn share(&self, file: &Path) -> anyhow::Result<String> {
        let shared = self.sender.weft(&["share", &file.to_string_lossy()])?;
        Ok(shared["offer"]["blob"]
            .as_str()
            .context("blob id")?
            .to_string())
    }

    /// The receiver fetches `blob` to `out`: the transfer time (first to last byte, from
    /// the progress events) and the whole command's.
    pub fn fetch(&self, blob: &str, out: &Path) -> anyhow::Result<(Duration, Duration)> {
        settle_disk()?;
        let begun = Instant::now();
        let mut child = Command::new(weft_bin()?)
            .arg("--data-dir")
            .arg(&self.receiver.dir)
            .args([
                "--json",
                "fetch",
                blob,
                "--from",
                &self.sender.peer_id,
                "-o",
            ])
            .arg(out)
            .stdout(Stdio::piped())
            .spawn()?;
        let (mut started, mut complete) = (None, None);
        for line in BufReader::new(child.stdout.take().context("stdout")?).lines() {
            let event: Value = serde_json::from_str(&line?)?;
            match event["event"].as_str() {
                Some("started") => started = Some(Instant::now()),
                Some("progress") if event["done"] == event["size"] && complete.is_none() => {
                    complete = Some(Instant::now())
                }
                Some("failed") => anyhow::bail!("fetch failed: {}", event["error"]),
                _ => {}
            }
        }
        anyhow::ensure!(child.wait()?.success(), "fetch failed");
        let whole = begun.elapsed();
        let transfer = match (started, complete) {
            (Some(s), Some(c)) => c - s,
            _ => whole,
        };
        Ok((transfer, whole))
    }

    /// Sends `bytes` through a pipe from sender to receiver: the time until the last byte
    /// came out at the receiver.
    pub fn pipe(&self, bytes: u64) -> anyhow::Result<Duration> {
        settle_disk()?;
        let bin = weft_bin()?;
        let mut accept = Command::new(&bin)
            .arg("--data-dir")
            .arg(&self.receiver.dir)
            .args(["pipe", "--accept"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut open = Command::new(&bin)
            .arg("--data-dir")
            .arg(&self.sender.dir)
            .args(["pipe", &self.receiver.peer_id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()?;
        let stdout = accept.stdout.take().context("stdout")?;
        let reader = std::thread::spawn(move || super::drain(stdout));
        let mut stdin = open.stdin.take().context("stdin")?;
        let mut block = vec![0u8; 1 << 20];
        let mut state = 7u64;
        super::fill(&mut block, &mut state);
        let begun = Instant::now();
        for _ in 0..bytes / block.len() as u64 {
            stdin.write_all(&block)?;
        }
        drop(stdin);
        let (got, last) = reader
            .join()
            .map_err(|_| anyhow::anyhow!("reader panicked"))??;
        anyhow::ensure!(got == bytes, "the pipe carried {got} of {bytes} bytes");
        open.wait()?;
        accept.wait()?;
        Ok(last - begun)
    }

    /// Peak RSS of the sender and the receiver, in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<(u64, u64)> {
        Ok((self.sender.peak_rss_kib()?, self.receiver.peak_rss_kib()?))
    }

    /// Stops both nodes.
    pub fn stop(mut self) {
        for proc in [&mut self.sender, &mut self.receiver] {
            let _ = Command::new("kill")
                .args(["-TERM", &proc.child.id().to_string()])
                .status();
            let _ = proc.child.wait();
        }
    }
}
