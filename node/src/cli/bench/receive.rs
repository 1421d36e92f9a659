//! `weft bench topic TOPIC --receive`: the other end of `weft bench topic`, run on members
//! that follow TOPIC (it follows TOPIC when the node did not). It counts the benchmark messages that arrive until `--count` of them
//! did or `--duration` passed, and reports how many, from how many publishers, how many a
//! publisher's numbering says were lost on the way, and the one-way latency from each
//! publisher's clock to this one (which includes any offset between the two clocks: exact
//! on one machine).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde::Serialize;
use weft_proto::api::Event;

use super::Quantiles;
use crate::api::client::Client;
use crate::cli::output::print_json;

/// What a receiver measured.
#[derive(Debug, Serialize)]
struct Received {
    topic: String,
    /// Messages that arrived (each once).
    received: u64,
    /// How many members published them.
    publishers: usize,
    /// Messages missing between a publisher's first and last one seen here.
    lost: u64,
    /// Messages that arrived more than once.
    duplicates: u64,
    /// Events this command's stream fell behind by (counted by the node, not lost in the
    /// mesh).
    lagged: u64,
    /// From the first message to the last.
    seconds: f64,
    per_sec: f64,
    /// One-way latencies.
    #[serde(flatten)]
    times: Quantiles,
}

/// When a receiver stops.
#[derive(Debug, Clone, Copy)]
pub struct Until {
    /// After this many messages, when given.
    pub count: Option<u64>,
    /// After this long.
    pub duration: Duration,
}

/// `weft bench topic TOPIC --receive`: exit 0 when a message arrived and none was lost.
pub async fn receive(client: &Client, topic: &str, until: Until, json: bool) -> anyhow::Result<()> {
    // The stream first, so nothing that arrives right after joining is missed.
    let mut events = client.bench_events(topic).await?;
    if client.subscribe(topic, true).await? {
        eprintln!(
            "following `{topic}` now, as `weft subscribe` would (`weft unsubscribe {topic}` leaves it)"
        );
    }
    eprintln!("receiving benchmark messages on `{topic}`");
    let deadline = tokio::time::Instant::now() + until.duration;
    let mut seen: BTreeMap<String, HashSet<u64>> = BTreeMap::new();
    let mut times: Vec<Duration> = Vec::new();
    let (mut duplicates, mut lagged) = (0u64, 0u64);
    let mut span: Option<(Instant, Instant)> = None;
    while until.count.is_none_or(|c| (times.len() as u64) < c) {
        let Ok(next) = tokio::time::timeout_at(deadline, events.next()).await else {
            break;
        };
        match next.transpose()? {
            None => anyhow::bail!("the node closed the event stream (it is stopping)"),
            Some(Event::Bench { from, seq, ts, .. }) => {
                if !seen.entry(from).or_default().insert(seq) {
                    duplicates += 1;
                    continue;
                }
                let now = Instant::now();
                span = Some(span.map_or((now, now), |(first, _)| (first, now)));
                times.push(Duration::from_micros(unix_us().saturating_sub(ts)));
            }
            Some(Event::Lagged { missed }) => lagged += missed,
            Some(_) => {}
        }
    }
    let seconds = span.map_or(0.0, |(first, last)| (last - first).as_secs_f64());
    let report = Received {
        topic: topic.to_string(),
        received: times.len() as u64,
        publishers: seen.len(),
        lost: seen.values().map(missing).sum(),
        duplicates,
        lagged,
        seconds,
        per_sec: times.len() as f64 / seconds.max(f64::EPSILON),
        times: Quantiles::of(times),
    };
    if json {
        print_json(&report)?;
    } else {
        println!(
            "{} messages on `{}` from {} publishers in {:.2} s: {:.0} messages/s, {} lost, {} duplicates, {} lagged",
            report.received,
            report.topic,
            report.publishers,
            report.seconds,
            report.per_sec,
            report.lost,
            report.duplicates,
            report.lagged
        );
        report.times.print();
    }
    anyhow::ensure!(report.received > 0, "no benchmark message arrived");
    anyhow::ensure!(
        report.lost == 0 && report.lagged == 0,
        "{} lost, {} lagged",
        report.lost,
        report.lagged
    );
    Ok(())
}

/// The numbers missing between the lowest and the highest of `seqs`.
fn missing(seqs: &HashSet<u64>) -> u64 {
    let (Some(low), Some(high)) = (seqs.iter().min(), seqs.iter().max()) else {
        return 0;
    };
    (high - low + 1).saturating_sub(seqs.len() as u64)
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_missing_is_counted_between_the_first_and_last_seen() {
        assert_eq!(missing(&HashSet::new()), 0);
        assert_eq!(missing(&[7].into()), 0);
        assert_eq!(missing(&[3, 4, 5].into()), 0);
        assert_eq!(missing(&[3, 5, 9].into()), 4);
    }
}
