//! A hybrid logical clock in microseconds since the Unix epoch: never goes backwards, never
//! repeats a value within a process, and moves past timestamps seen from peers (within a
//! bounded skew), so a reply is always ordered after what it answers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far ahead of local wall time a peer's timestamp may pull the clock.
pub const MAX_SKEW: Duration = Duration::from_secs(60);

/// The clock.
#[derive(Debug, Default)]
pub struct Hlc {
    last: u64,
}

impl Hlc {
    /// The next timestamp, given wall time `wall_us`.
    pub fn tick(&mut self, wall_us: u64) -> u64 {
        self.last = wall_us.max(self.last + 1);
        self.last
    }

    /// Takes note of a peer's timestamp, ignoring one further ahead than [`MAX_SKEW`].
    pub fn observe(&mut self, remote_us: u64, wall_us: u64) {
        if remote_us <= wall_us.saturating_add(MAX_SKEW.as_micros() as u64) {
            self.last = self.last.max(remote_us);
        }
    }
}

/// Wall time now, microseconds since the Unix epoch.
pub fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_unique_and_follows_peers() {
        let mut c = Hlc::default();
        assert_eq!(c.tick(100), 100);
        assert_eq!(c.tick(100), 101, "same wall time still moves");
        assert_eq!(c.tick(50), 102, "wall time going back does not");
        c.observe(500, 110);
        assert_eq!(c.tick(110), 501, "ordered after what we saw");
        c.observe(u64::MAX / 2, 110);
        assert_eq!(c.tick(110), 502, "a wild peer clock is ignored");
    }
}
