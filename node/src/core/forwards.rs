//! [`Forwards`]: a mailbox handing boxes to their recipient while it is connected. Each box
//! is forwarded once, when it is deposited. When a forward gets no answer (a dropped
//! stream, a timeout) while the recipient stays connected, the recipient's boxes are
//! forwarded again, in rounds: one round at a time (none while a forward to it is under
//! way), a page each, after a pause that doubles each round, at most [`MAX_ROUNDS`] rounds
//! per connection. A recipient that answers with a refusal is not forwarded to again: it
//! fetches what it can take. One that reconnects starts afresh, and fetches on connecting.
//!
//! So what a recipient can make a mailbox do, by never answering or by refusing, is bounded
//! per connection: a peer cannot turn one failed forward into a stream of them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The pause before the first round of forwarding again; each round doubles it.
pub const RETRY: Duration = Duration::from_secs(5);

/// Most rounds of forwarding again per connection of a recipient.
pub const MAX_ROUNDS: u32 = 4;

/// How a forward ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forwarded {
    /// The recipient holds the box: it may go.
    Held,
    /// The recipient answered, but does not take the box (it fetches what it can take).
    Refused,
    /// No answer: the stream dropped or the exchange timed out.
    Failed,
}

/// The forwards under way and the rounds due, by recipient (of type `P`).
#[derive(Debug)]
pub struct Forwards<P> {
    in_flight: BTreeMap<P, usize>,
    due: BTreeMap<P, Instant>,
    rounds: BTreeMap<P, u32>,
}

impl<P> Default for Forwards<P> {
    fn default() -> Self {
        Forwards {
            in_flight: BTreeMap::new(),
            due: BTreeMap::new(),
            rounds: BTreeMap::new(),
        }
    }
}

impl<P: Ord + Copy> Forwards<P> {
    /// A forward to `recipient` started.
    pub fn sent(&mut self, recipient: P) {
        *self.in_flight.entry(recipient).or_default() += 1;
    }

    /// A forward to `recipient` ended as `how` at `now`, the recipient still `connected` or
    /// not: a failure while it is connected calls for another round, if any is left.
    pub fn ended(&mut self, recipient: P, how: Forwarded, connected: bool, now: Instant) {
        if let Some(n) = self.in_flight.get_mut(&recipient) {
            *n -= 1;
            if *n == 0 {
                self.in_flight.remove(&recipient);
            }
        }
        if how == Forwarded::Failed && connected {
            self.again(recipient, now);
        }
    }

    /// Schedules another round for `recipient` (more is held than a round's page), if any
    /// is left.
    pub fn again(&mut self, recipient: P, now: Instant) {
        let rounds = self.rounds.get(&recipient).copied().unwrap_or(0);
        if rounds < MAX_ROUNDS {
            let pause = RETRY.saturating_mul(1 << rounds);
            self.due.entry(recipient).or_insert(now + pause);
        }
    }

    /// The recipients whose boxes to forward again at `now`: due, and with no forward to
    /// them under way. Each such round counts against [`MAX_ROUNDS`].
    pub fn due(&mut self, now: Instant) -> Vec<P> {
        let due: Vec<P> = self
            .due
            .iter()
            .filter(|(p, at)| **at <= now && !self.in_flight.contains_key(*p))
            .map(|(p, _)| *p)
            .collect();
        for recipient in &due {
            self.due.remove(recipient);
            *self.rounds.entry(*recipient).or_default() += 1;
        }
        due
    }

    /// `recipient` is gone: no round is due for it, and its next connection starts afresh.
    /// (Forwards under way still end, failing.)
    pub fn disconnected(&mut self, recipient: &P) {
        self.due.remove(recipient);
        self.rounds.remove(recipient);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipient_that_never_answers_gets_a_bounded_number_of_rounds_one_at_a_time() {
        let mut forwards = Forwards::default();
        let start = Instant::now();
        let mut now = start;
        forwards.sent(1);
        forwards.sent(1);
        forwards.ended(1, Forwarded::Failed, true, now);
        // The other forward is still under way: no round yet, even when due.
        now += RETRY;
        assert!(forwards.due(now).is_empty());
        forwards.ended(1, Forwarded::Failed, true, now);
        let mut rounds = 0;
        for _ in 0..100 {
            now += Duration::from_secs(60);
            for recipient in forwards.due(now) {
                rounds += 1;
                forwards.sent(recipient);
                forwards.ended(recipient, Forwarded::Failed, true, now);
            }
        }
        assert_eq!(rounds, MAX_ROUNDS);
        // Reconnected, it starts afresh.
        forwards.disconnected(&1);
        forwards.ended(1, Forwarded::Failed, true, now);
        assert_eq!(forwards.due(now + RETRY), vec![1]);
    }

    #[test]
    fn a_refusal_or_a_gone_recipient_calls_for_no_round_and_pauses_double() {
        let mut forwards = Forwards::default();
        let now = Instant::now();
        forwards.sent(1);
        forwards.ended(1, Forwarded::Refused, true, now);
        forwards.sent(2);
        forwards.ended(2, Forwarded::Failed, false, now);
        assert!(forwards.due(now + RETRY * 100).is_empty());
        forwards.again(3, now);
        assert!(forwards.due(now).is_empty(), "a pause first");
        assert_eq!(forwards.due(now + RETRY), vec![3]);
        forwards.again(3, now);
        assert!(
            forwards.due(now + RETRY).is_empty(),
            "the second pause is twice as long"
        );
        assert_eq!(forwards.due(now + RETRY * 2), vec![3]);
    }
}
