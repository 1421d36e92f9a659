//! `weft bench`: a load test a member points at its own mesh, in the spirit of `nats bench`
//! and ZeroMQ's `local_lat`/`remote_lat`. Each kind goes through the real path, from this
//! node's API on:
//!
//! - `weft bench call SERVICE`: calls through the mesh to a provider's handler; the
//!   service's own policy decides who may call it.
//! - `weft bench dm PEER`: durable direct messages through the outbox and `/weft/dm/1`,
//!   each timed until the recipient's acknowledgement; kept in no history, and only a
//!   member that runs with `--bench-dm on` takes them (guests never send them).
//! - `weft bench topic TOPIC`: gossips messages on TOPIC, at `--rate` when given, stored
//!   nowhere; `weft bench topic TOPIC --receive` on the receiving members counts what
//!   arrives, what was lost and how long it took ([`receive`]).
//!
//! A sender keeps `--in-flight` requests under way for `--duration` or `--count` requests,
//! with a live progress line on a terminal and a final table of round trips (min, p50, p99,
//! max), throughput and failures (`--json` too).

mod receive;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use indicatif::{ProgressBar, ProgressStyle};
use libp2p::PeerId;
use serde::Serialize;
use weft_proto::api::{DeliveryState, SendRequest};

use super::output::{peer_words, print_json, table};
use crate::api::client::Client;

pub use receive::{Until, receive};

/// How often the live progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// How long one request may wait for its answer.
const TIMEOUT_MS: u64 = 30_000;

/// Most different failure reasons kept for the report.
const MAX_REASONS: usize = 8;

/// Most requests under way at once.
pub const MAX_IN_FLIGHT: usize = 1024;

/// Most bytes in one call's request (the service layer's own cap applies too).
pub const MAX_SIZE: usize = 1024 * 1024;

/// How a `weft bench` sender runs.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Bytes in each request.
    pub size: usize,
    /// Requests kept under way at once.
    pub in_flight: usize,
    /// How long to keep sending.
    pub duration: Duration,
    /// Stop after this many requests, when given.
    pub count: Option<u64>,
    /// Start at most this many requests per second, when given.
    pub rate: Option<f64>,
}

/// What a sender measured.
#[derive(Debug, Serialize)]
struct Report {
    /// `call`, `dm` or `topic`.
    kind: &'static str,
    /// The service, member or topic loaded.
    target: String,
    size: usize,
    in_flight: usize,
    /// Requests answered.
    count: u64,
    failures: u64,
    seconds: f64,
    per_sec: f64,
    /// Round trips of the requests answered.
    #[serde(flatten)]
    times: Quantiles,
    /// Each failure reason, with how many requests failed so.
    reasons: BTreeMap<String, u64>,
}

/// Min, p50, p99 and max of some times, in milliseconds (none when there were none).
#[derive(Debug, Serialize)]
struct Quantiles {
    min_ms: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    max_ms: Option<f64>,
}

impl Quantiles {
    fn of(mut times: Vec<Duration>) -> Quantiles {
        times.sort();
        let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
        let at = |q: f64| times.get(((times.len() as f64 - 1.0) * q).round() as usize);
        Quantiles {
            min_ms: times.first().map(ms),
            p50_ms: at(0.5).map(ms),
            p99_ms: at(0.99).map(ms),
            max_ms: times.last().map(ms),
        }
    }

    /// Prints them as a table row under min, p50, p99, max.
    fn print(&self) {
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3} ms"));
        let header = ["min", "p50", "p99", "max"].map(String::from);
        let row = [self.min_ms, self.p50_ms, self.p99_ms, self.max_ms].map(show);
        table(&header, &[row]);
    }
}

/// `weft bench call SERVICE`.
pub async fn call(client: &Client, service: &str, load: Load, json: bool) -> anyhow::Result<()> {
    anyhow::ensure!(load.size <= MAX_SIZE, "--size is at most {MAX_SIZE} bytes");
    let body = vec![b'x'; load.size];
    run("call", service, load, json, || {
        let (client, body) = (client.clone(), body.clone());
        async move {
            client.call(service, body, TIMEOUT_MS).await?;
            Ok(())
        }
    })
    .await
}

/// `weft bench dm PEER`: each message timed until `peer` acknowledged it.
pub async fn dm(client: &Client, peer: PeerId, load: Load, json: bool) -> anyhow::Result<()> {
    let text = text_of(load.size)?;
    run("dm", &peer.to_string(), load, json, || {
        let request = SendRequest {
            to: peer.to_string(),
            text: text.clone(),
            wait: true,
            timeout_ms: Some(TIMEOUT_MS),
            bench: true,
        };
        let client = client.clone();
        async move {
            let answer = client.send(&request).await?;
            match answer.state {
                DeliveryState::Delivered => Ok(()),
                state => anyhow::bail!("not acknowledged in {TIMEOUT_MS} ms (still {state:?})"),
            }
        }
    })
    .await
}

/// `weft bench topic TOPIC`: each message timed until this node gossiped it.
pub async fn topic(client: &Client, topic: &str, load: Load, json: bool) -> anyhow::Result<()> {
    let text = text_of(load.size)?;
    run("topic", topic, load, json, || {
        let (client, text) = (client.clone(), text.clone());
        async move {
            client.publish_bench(topic, &text).await?;
            Ok(())
        }
    })
    .await
}

/// A message text of `size` bytes, within the message cap.
fn text_of(size: usize) -> anyhow::Result<String> {
    let max = weft_proto::limits::MAX_TEXT_BYTES;
    anyhow::ensure!((1..=max).contains(&size), "--size is 1 to {max} bytes");
    Ok("x".repeat(size))
}

/// Keeps `load.in_flight` requests (each from `request`) under way, paced by
/// `load.rate`, until `load` says stop; prints the report. Exit 0 when at least one request
/// was answered and none failed, 1 otherwise (the table or JSON says why).
async fn run<F, Fut>(
    kind: &'static str,
    target: &str,
    load: Load,
    json: bool,
    request: F,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    anyhow::ensure!(
        (1..=MAX_IN_FLIGHT).contains(&load.in_flight),
        "--in-flight is 1 to {MAX_IN_FLIGHT}"
    );
    anyhow::ensure!(
        load.rate.is_none_or(|r| r.is_finite() && r > 0.0),
        "--rate is a positive number of messages per second"
    );
    let progress = Progress::new(json);
    let started = Instant::now();
    let deadline = started + load.duration;
    let gap = load.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let mut times: Vec<Duration> = Vec::new();
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let (mut sent, mut failures) = (0u64, 0u64);
    let mut under_way = FuturesUnordered::new();
    let more = |n: u64| Instant::now() < deadline && load.count.is_none_or(|c| n < c);
    loop {
        while under_way.len() < load.in_flight && more(sent) {
            if let Some(gap) = gap {
                tokio::time::sleep_until((started + gap.mul_f64(sent as f64)).into()).await;
            }
            let at = Instant::now();
            let answer = request();
            sent += 1;
            under_way.push(async move { (answer.await, at.elapsed()) });
        }
        let Some((result, took)) = under_way.next().await else {
            break;
        };
        match result {
            Ok(()) => times.push(took),
            Err(e) => {
                failures += 1;
                let reason = peer_words(&e.to_string());
                if reasons.len() < MAX_REASONS || reasons.contains_key(&reason) {
                    *reasons.entry(reason).or_default() += 1;
                }
            }
        }
        progress.show(times.len() as u64, failures, started.elapsed());
    }
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    let report = Report {
        kind,
        target: target.to_string(),
        size: load.size,
        in_flight: load.in_flight,
        count: times.len() as u64,
        failures,
        seconds,
        per_sec: times.len() as f64 / seconds.max(f64::EPSILON),
        times: Quantiles::of(times),
        reasons,
    };
    if json {
        print_json(&report)?;
    } else {
        report.print();
    }
    anyhow::ensure!(
        report.count > 0 && report.failures == 0,
        "{} of {} failed",
        report.failures,
        report.count + report.failures
    );
    Ok(())
}

impl Report {
    fn print(&self) {
        let (what, to) = match self.kind {
            "call" => ("calls", "to"),
            "dm" => ("messages", "to"),
            _ => ("messages", "on"),
        };
        println!(
            "{} {what} of {} B {to} `{}`, {} in flight, in {:.2} s: {:.0} {what}/s, {} failed",
            self.count,
            self.size,
            self.target,
            self.in_flight,
            self.seconds,
            self.per_sec,
            self.failures
        );
        self.times.print();
        for (reason, n) in &self.reasons {
            println!("failed {n}x: {reason}");
        }
    }
}

/// The live progress line: on a terminal (stderr), not with `--json`.
struct Progress(Option<(ProgressBar, std::cell::Cell<Instant>)>);

impl Progress {
    fn new(json: bool) -> Progress {
        if json || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or(ProgressStyle::default_spinner()),
        );
        Progress(Some((bar, std::cell::Cell::new(Instant::now()))))
    }

    fn show(&self, done: u64, failures: u64, elapsed: Duration) {
        let Some((bar, last)) = &self.0 else {
            return;
        };
        if last.get().elapsed() < PROGRESS_EVERY {
            return;
        }
        last.set(Instant::now());
        let rate = done as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
        bar.set_message(format!(
            "{done} done, {rate:.0}/s, {failures} failed, {:.1} s",
            elapsed.as_secs_f64()
        ));
        bar.tick();
    }

    fn finish(&self) {
        if let Some((bar, _)) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
