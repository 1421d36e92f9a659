//! [`Collecting`]: a recipient collecting its boxes from mailboxes. One collection per
//! mailbox at a time, in steps: fetch a page, store what it carried, release it, and only
//! once the release is answered fetch the next page (a fetch sent beside the release would
//! be handed the same boxes again). A step that fails (a dropped stream, a refusal, a full
//! disk) is tried again after [`RETRY`] while the mailbox stays connected, so a box is not
//! left waiting for the next reconnection.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How long after a failed step a collection starts again.
pub const RETRY: Duration = Duration::from_secs(5);

/// How a step of a collection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Released, and the mailbox holds more: fetch the next page.
    More,
    /// Nothing more to collect now.
    Drained,
    /// The fetch or the release failed: start again after [`RETRY`].
    Failed,
}

/// The collections under way and those to start again, by mailbox.
#[derive(Debug)]
pub struct Collecting<P> {
    under_way: HashSet<P>,
    retry: HashMap<P, Instant>,
}

impl<P> Default for Collecting<P> {
    fn default() -> Self {
        Collecting {
            under_way: HashSet::new(),
            retry: HashMap::new(),
        }
    }
}

impl<P: Copy + Eq + Hash + Ord> Collecting<P> {
    /// Whether to start collecting from `mailbox` now: not when a collection is under way.
    pub fn begin(&mut self, mailbox: P) -> bool {
        self.retry.remove(&mailbox);
        self.under_way.insert(mailbox)
    }

    /// A step with `mailbox` ended as `step` at `now`; whether to fetch again at once.
    pub fn ended(&mut self, mailbox: P, step: Step, now: Instant) -> bool {
        match step {
            Step::More => self.under_way.contains(&mailbox),
            Step::Drained => {
                self.under_way.remove(&mailbox);
                false
            }
            Step::Failed => {
                if self.under_way.remove(&mailbox) {
                    self.retry.insert(mailbox, now + RETRY);
                }
                false
            }
        }
    }

    /// `mailbox` is gone: no retry (connecting again starts a collection).
    pub fn forget(&mut self, mailbox: &P) {
        self.retry.remove(mailbox);
    }

    /// The mailboxes whose retry is due at `now`, in order; each is forgotten here.
    pub fn due(&mut self, now: Instant) -> Vec<P> {
        let mut due: Vec<P> = self
            .retry
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(p, _)| *p)
            .collect();
        due.sort();
        for p in &due {
            self.retry.remove(p);
        }
        due
    }
}

#[cfg(test)]
mod tests;
