//! Polling every node of the mesh for a condition, a few API calls at a time, until all
//! meet it or a deadline passes, and reading when each did.

use std::time::{Duration, Instant};

use futures::StreamExt;

use super::nodes::Node;

/// API calls in flight at once when polling every node.
const POLL_PARALLEL: usize = 8;

/// Pause between two rounds of polling.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// Polls `check` on every node not through it yet, [`POLL_PARALLEL`] at a time, until all
/// are or `limit` has passed; returns when each got through (`None`: not within `limit`).
pub async fn until_all<'a, F, Fut>(
    nodes: &'a [Node],
    limit: Duration,
    check: F,
) -> Vec<Option<Instant>>
where
    F: Fn(&'a Node) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    let mut through: Vec<Option<Instant>> = vec![None; nodes.len()];
    loop {
        let pending: Vec<usize> = (0..nodes.len()).filter(|&i| through[i].is_none()).collect();
        let checked: Vec<(usize, bool, Instant)> = futures::stream::iter(pending)
            .map(|i| {
                let ok = check(&nodes[i]);
                async move { (i, ok.await, Instant::now()) }
            })
            .buffer_unordered(POLL_PARALLEL)
            .collect()
            .await;
        for (i, ok, at) in checked {
            if ok {
                through[i] = Some(at);
            }
        }
        if through.iter().all(Option::is_some) || start.elapsed() >= limit {
            return through;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// How long after `since` the last node got through; `None` when some did not.
pub fn last_of(through: &[Option<Instant>], since: Instant) -> Option<Duration> {
    let all: Option<Vec<Instant>> = through.iter().copied().collect();
    all?.into_iter()
        .max()
        .map(|at| at.saturating_duration_since(since))
}

/// The nodes that did not get through.
pub fn late<'a>(nodes: &'a [Node], through: &[Option<Instant>]) -> Vec<&'a Node> {
    nodes
        .iter()
        .zip(through)
        .filter(|(_, at)| at.is_none())
        .map(|(node, _)| node)
        .collect()
}
