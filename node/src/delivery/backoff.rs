//! Exponential backoff: 500 ms, 1 s, 2 s, ... capped at 30 s.

use std::time::Duration;

/// The first retry delay.
pub const BASE: Duration = Duration::from_millis(500);

/// The longest retry delay.
pub const MAX: Duration = Duration::from_secs(30);

/// The delay before retry number `attempt` (1 is the first retry).
pub fn delay(attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    BASE.saturating_mul(factor).min(MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps() {
        assert_eq!(delay(1), BASE);
        assert_eq!(delay(2), BASE * 2);
        assert_eq!(delay(3), BASE * 4);
        assert_eq!(delay(100), MAX);
    }
}
