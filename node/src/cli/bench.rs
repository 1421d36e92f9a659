//! `weft bench`: a load test a member points at its own mesh, in the spirit of `nats bench`
//! and ZeroMQ's `local_lat`/`remote_lat`. `weft bench call SERVICE` calls a service through
//! the real path (this node's API, the mesh, a provider's handler), keeping `--in-flight`
//! calls under way for `--duration` or `--count` calls, with a live progress line on a
//! terminal and a final table of round trips (min, p50, p99, max), throughput and failures
//! (`--json` too). The service's own policy decides who may call it.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::output::{peer_words, print_json, table};
use crate::api::client::Client;

/// How often the live progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// How long one call may wait for its reply.
const CALL_TIMEOUT_MS: u64 = 30_000;

/// Most different failure reasons kept for the report.
const MAX_REASONS: usize = 8;

/// Most calls under way at once.
pub const MAX_IN_FLIGHT: usize = 1024;

/// Most bytes in one request (the service layer's own cap applies too).
pub const MAX_SIZE: usize = 1024 * 1024;

/// How a `weft bench call` runs.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Bytes in each request.
    pub size: usize,
    /// Calls kept under way at once.
    pub in_flight: usize,
    /// How long to keep calling.
    pub duration: Duration,
    /// Stop after this many calls, when given.
    pub count: Option<u64>,
}

/// What a run measured.
#[derive(Debug, Serialize)]
struct Report {
    service: String,
    size: usize,
    in_flight: usize,
    calls: u64,
    failures: u64,
    seconds: f64,
    calls_per_sec: f64,
    min_ms: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    max_ms: Option<f64>,
    /// Each failure reason, with how many calls failed so.
    reasons: BTreeMap<String, u64>,
}

/// `weft bench call SERVICE`: exit 0 when at least one call was answered and none failed,
/// 1 otherwise (the table or JSON says why).
pub async fn call(client: &Client, service: &str, load: Load, json: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=MAX_IN_FLIGHT).contains(&load.in_flight),
        "--in-flight is 1 to {MAX_IN_FLIGHT}"
    );
    anyhow::ensure!(load.size <= MAX_SIZE, "--size is at most {MAX_SIZE} bytes");
    let body = vec![b'x'; load.size];
    let progress = Progress::new(json);
    let started = Instant::now();
    let deadline = started + load.duration;
    let mut times: Vec<Duration> = Vec::new();
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let (mut started_calls, mut failures) = (0u64, 0u64);
    let mut under_way = FuturesUnordered::new();
    let more = |n: u64| Instant::now() < deadline && load.count.is_none_or(|c| n < c);
    loop {
        while under_way.len() < load.in_flight && more(started_calls) {
            started_calls += 1;
            let (client, body) = (client.clone(), body.clone());
            under_way.push(async move {
                let at = Instant::now();
                let result = client.call(service, body, CALL_TIMEOUT_MS).await;
                (at.elapsed(), result)
            });
        }
        let Some((took, result)) = under_way.next().await else {
            break;
        };
        match result {
            Ok(_) => times.push(took),
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
    let report = Report::of(service, load, times, failures, reasons, started.elapsed());
    if json {
        print_json(&report)?;
    } else {
        report.print();
    }
    anyhow::ensure!(
        report.calls > 0 && report.failures == 0,
        "{} of {} calls failed",
        report.failures,
        report.calls + report.failures
    );
    Ok(())
}

impl Report {
    fn of(
        service: &str,
        load: Load,
        mut times: Vec<Duration>,
        failures: u64,
        reasons: BTreeMap<String, u64>,
        took: Duration,
    ) -> Report {
        times.sort();
        let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
        let at = |q: f64| times.get(((times.len() as f64 - 1.0) * q).round() as usize);
        let seconds = took.as_secs_f64();
        Report {
            service: service.to_string(),
            size: load.size,
            in_flight: load.in_flight,
            calls: times.len() as u64,
            failures,
            seconds,
            calls_per_sec: times.len() as f64 / seconds.max(f64::EPSILON),
            min_ms: times.first().map(ms),
            p50_ms: at(0.5).map(ms),
            p99_ms: at(0.99).map(ms),
            max_ms: times.last().map(ms),
            reasons,
        }
    }

    fn print(&self) {
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3} ms"));
        println!(
            "{} calls of {} B to `{}`, {} in flight, in {:.2} s: {:.0} calls/s, {} failed",
            self.calls,
            self.size,
            self.service,
            self.in_flight,
            self.seconds,
            self.calls_per_sec,
            self.failures
        );
        let header = ["min", "p50", "p99", "max"].map(String::from);
        let row = [self.min_ms, self.p50_ms, self.p99_ms, self.max_ms].map(show);
        table(&header, &[row]);
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

    fn show(&self, calls: u64, failures: u64, elapsed: Duration) {
        let Some((bar, last)) = &self.0 else {
            return;
        };
        if last.get().elapsed() < PROGRESS_EVERY {
            return;
        }
        last.set(Instant::now());
        let rate = calls as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
        bar.set_message(format!(
            "{calls} calls, {rate:.0}/s, {failures} failed, {:.1} s",
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
