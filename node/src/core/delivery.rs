//! Direct messages from this node's side, from queued to settled: which goes on the wire
//! next, when a recipient that stopped acknowledging is given up on and its messages retried,
//! when a message's lifetime is over, and which wait for a mailbox because their recipient is
//! away.
//!
//! A message is here from the moment it is queued (its outbox entry is on its way to disk)
//! until it settles: acknowledged by the recipient, receipted out of a sealed box, refused,
//! or expired. Settling says what the message became; the shell writes that to history,
//! removes the outbox entry and tells whoever waits. Messages a mailbox holds stay here
//! (their recipient may come back and take them directly) but are not deposited again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use weft_proto::MessageId;
use weft_proto::api::DeliveryState;
use weft_proto::dm::AckOutcome;

use crate::delivery::outbox::Outbox;

/// How long messages may wait on the wire for any acknowledgement before their session is
/// given up and they are retried.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// At most this many messages are being deposited at once: a few full deposits (see
/// [`weft_proto::mailbox::MAX_DEPOSIT_BOXES`]), so one is sealed while another is on the
/// wire and a third being flushed by the mailbox.
pub const MAX_DEPOSITING: usize = 256;

/// How long deposits pause after one failed or was refused.
pub const DEPOSIT_RETRY: Duration = Duration::from_secs(5);

/// Why recipients that were removed from the mesh get nothing more.
const REMOVED: &str = "the recipient was removed from the mesh";

/// How a message leaves the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The recipient answered: stored, a duplicate, or refused.
    Acked(AckOutcome),
    /// Its lifetime ran out first.
    Expired,
}

/// What a message became when it left the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The recipient has it; `latency` since it was queued, when queued in this run.
    Delivered {
        /// From queueing to the acknowledgement.
        latency: Option<Duration>,
    },
    /// The recipient refused it for good.
    Refused {
        /// The recipient's reason.
        reason: String,
    },
    /// Its lifetime ran out before the recipient got it.
    Expired,
}

impl Settled {
    /// The message's state in history.
    pub fn state(&self) -> DeliveryState {
        match self {
            Settled::Delivered { .. } => DeliveryState::Delivered,
            Settled::Refused { .. } => DeliveryState::Rejected,
            Settled::Expired => DeliveryState::Expired,
        }
    }
}

/// How a deposit with a mailbox ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deposit {
    /// The mailbox holds the message.
    Held,
    /// The mailbox refused it, answered nonsense, or could not be reached: deposits pause
    /// for [`DEPOSIT_RETRY`].
    Failed,
}

/// The direct messages this node has queued and not yet settled, for recipients of type `P`.
#[derive(Debug)]
pub struct Deliveries<P> {
    outbox: Outbox<P>,
    /// When each recipient with messages on the wire last made progress (the first of them
    /// went out, or an acknowledgement came): present exactly while some are in flight.
    progress: BTreeMap<P, Instant>,
    /// When each message was queued, in this run: for latency.
    queued_at: HashMap<MessageId, Instant>,
    /// Messages a mailbox holds.
    held: HashSet<MessageId>,
    /// Messages being deposited.
    depositing: HashSet<MessageId>,
    /// No deposits before this (after a failure).
    deposits_paused_until: Option<Instant>,
    /// Benchmark messages: never deposited, never in history.
    bench: HashSet<MessageId>,
}

impl<P: Ord + Clone> Deliveries<P> {
    /// Nothing queued; up to `max_in_flight` messages per recipient on the wire at once.
    pub fn new(max_in_flight: usize) -> Deliveries<P> {
        Deliveries {
            outbox: Outbox::new(max_in_flight),
            progress: BTreeMap::new(),
            queued_at: HashMap::new(),
            held: HashSet::new(),
            depositing: HashSet::new(),
            deposits_paused_until: None,
            bench: HashSet::new(),
        }
    }

    /// A message queued now for `to`, written at `written` (microseconds since the epoch).
    pub fn queue(&mut self, to: P, id: MessageId, written: u64, now: Instant) {
        self.outbox.enqueue(to, id, written);
        self.queued_at.insert(id, now);
    }

    /// Message `id`, queued in this run, is a benchmark message: no mailbox holds it.
    pub fn mark_bench(&mut self, id: MessageId) {
        self.bench.insert(id);
    }

    /// Whether `id` was a benchmark message, which it no longer is to this tracker (call
    /// once it settled).
    pub fn forget_bench(&mut self, id: &MessageId) -> bool {
        self.bench.remove(id)
    }

    /// A message found in the outbox on disk at start; `held` when a mailbox holds it.
    pub fn restore(&mut self, to: P, id: MessageId, written: u64, held: bool) {
        self.outbox.enqueue(to, id, written);
        if held {
            self.held.insert(id);
        }
    }

    /// The sends to start now (see [`Outbox::next`]); the first message on the wire to a
    /// recipient starts its acknowledgement clock.
    pub fn next(&mut self, now: Instant) -> Vec<(P, MessageId)> {
        let sends = self.outbox.next(now);
        for (peer, _) in &sends {
            self.progress.entry(peer.clone()).or_insert(now);
        }
        sends
    }

    /// Putting `id` on the wire to `peer` failed: it is retried after a backoff.
    pub fn send_failed(&mut self, peer: &P, id: MessageId, now: Instant) {
        self.outbox.failed(peer, id, now);
        self.stop_clock_if_idle(peer);
    }

    /// The session to `peer` ended: everything on it is retried after a backoff.
    pub fn session_lost(&mut self, peer: &P, now: Instant) {
        self.outbox.fail_all(peer, now);
        self.progress.remove(peer);
    }

    /// Recipients whose messages waited [`ACK_TIMEOUT`] on the wire without any
    /// acknowledgement: their sessions are given up (the shell drops them) and the messages
    /// retried.
    pub fn stuck(&mut self, now: Instant) -> Vec<P> {
        let stuck: Vec<P> = self
            .progress
            .iter()
            .filter(|(_, since)| now.duration_since(**since) > ACK_TIMEOUT)
            .map(|(peer, _)| peer.clone())
            .collect();
        for peer in &stuck {
            self.session_lost(peer, now);
        }
        stuck
    }

    /// `peer` acknowledged `id` on its session: it settles, and the session made progress.
    pub fn acked(
        &mut self,
        peer: &P,
        id: MessageId,
        outcome: AckOutcome,
        now: Instant,
    ) -> Option<Settled> {
        let settled = self.settle(peer, id, Ending::Acked(outcome), now)?;
        if self.progress.contains_key(peer) {
            self.progress.insert(peer.clone(), now);
        }
        Some(settled)
    }

    /// Message `id` to `peer` leaves the outbox as `ending` says. `None` when it was not
    /// here (a late copy, or something this node never sent to that peer).
    pub fn settle(
        &mut self,
        peer: &P,
        id: MessageId,
        ending: Ending,
        now: Instant,
    ) -> Option<Settled> {
        if !self.outbox.acked(peer, &id) {
            return None;
        }
        self.stop_clock_if_idle(peer);
        self.held.remove(&id);
        self.depositing.remove(&id);
        let queued = self.queued_at.remove(&id);
        Some(match ending {
            Ending::Acked(AckOutcome::Stored | AckOutcome::Duplicate) => Settled::Delivered {
                latency: queued.map(|t| now.saturating_duration_since(t)),
            },
            Ending::Acked(AckOutcome::Rejected { reason }) => Settled::Refused { reason },
            Ending::Expired => Settled::Expired,
        })
    }

    /// Message `id` to `peer` was found gone from disk when its session went to read it (it
    /// settled meanwhile): it leaves without a word.
    pub fn vanished(&mut self, peer: &P, id: MessageId) {
        if self.outbox.acked(peer, &id) {
            self.stop_clock_if_idle(peer);
            self.held.remove(&id);
            self.depositing.remove(&id);
            self.queued_at.remove(&id);
            self.bench.remove(&id);
        }
    }

    /// Every message whose lifetime (`ttl`, counted from the second it was written) is over
    /// at `now_secs` (seconds since the epoch) settles as expired.
    pub fn expire(
        &mut self,
        now_secs: u64,
        ttl: Duration,
        now: Instant,
    ) -> Vec<(P, MessageId, Settled)> {
        // A message written in second `t` lives until `t + ttl`.
        let cutoff = (now_secs.saturating_sub(ttl.as_secs()) + 1).saturating_mul(1_000_000);
        self.outbox
            .written_before(cutoff)
            .into_iter()
            .filter_map(|(peer, id)| {
                let settled = self.settle(&peer, id, Ending::Expired, now)?;
                Some((peer, id, settled))
            })
            .collect()
    }

    /// Every benchmark message written before `cutoff` (microseconds since the epoch)
    /// settles as expired.
    pub fn expire_bench(&mut self, cutoff: u64, now: Instant) -> Vec<(P, MessageId, Settled)> {
        let due: Vec<(P, MessageId)> = self
            .outbox
            .written_before(cutoff)
            .into_iter()
            .filter(|(_, id)| self.bench.contains(id))
            .collect();
        due.into_iter()
            .filter_map(|(peer, id)| {
                let settled = self.settle(&peer, id, Ending::Expired, now)?;
                Some((peer, id, settled))
            })
            .collect()
    }

    /// `peer` was removed from the mesh: everything for it settles as refused.
    pub fn removed(&mut self, peer: &P, now: Instant) -> Vec<(MessageId, Settled)> {
        self.outbox
            .of(peer)
            .into_iter()
            .filter_map(|id| {
                let reason = REMOVED.to_string();
                let ending = Ending::Acked(AckOutcome::Rejected { reason });
                Some((id, self.settle(peer, id, ending, now)?))
            })
            .collect()
    }

    /// Messages to deposit now: waiting for recipients that are not connected and `absent`
    /// (not still being dialled for the first time), not held and not being deposited, as
    /// many as there is room for; none while deposits pause.
    pub fn to_deposit(&self, now: Instant, absent: impl Fn(&P) -> bool) -> Vec<(P, MessageId)> {
        if self.deposits_paused_until.is_some_and(|t| t > now) {
            return Vec::new();
        }
        let room = MAX_DEPOSITING.saturating_sub(self.depositing.len());
        self.outbox
            .waiting_unreachable()
            .filter(|(p, _)| absent(p))
            .filter(|(_, id)| {
                !self.held.contains(*id)
                    && !self.depositing.contains(*id)
                    && !self.bench.contains(*id)
            })
            .take(room)
            .map(|(p, id)| (p.clone(), *id))
            .collect()
    }

    /// `peer`'s messages waiting for it to be connected, not held and not being deposited.
    pub fn waiting_for(&self, peer: &P) -> Vec<MessageId> {
        self.outbox
            .waiting_unreachable()
            .filter(|(p, id)| {
                *p == peer && !self.held.contains(*id) && !self.depositing.contains(*id)
            })
            .map(|(_, id)| *id)
            .collect()
    }

    /// A deposit of `id` started.
    pub fn depositing(&mut self, id: MessageId) {
        self.depositing.insert(id);
    }

    /// Whether so few deposits are under way that more should start now rather than on the
    /// next tick: at most half of [`MAX_DEPOSITING`].
    pub fn wants_deposits(&self) -> bool {
        self.depositing.len() <= MAX_DEPOSITING / 2
    }

    /// The deposit of `id` ended as `how`. False when `id` settled meanwhile (nothing to
    /// record).
    pub fn deposited(&mut self, id: MessageId, how: Deposit, now: Instant) -> bool {
        if !self.depositing.remove(&id) {
            return false;
        }
        match how {
            Deposit::Held => {
                self.held.insert(id);
            }
            Deposit::Failed => self.deposits_paused_until = Some(now + DEPOSIT_RETRY),
        }
        true
    }

    /// `peer` is connected: its messages may flow.
    pub fn connected(&mut self, peer: &P) {
        self.outbox.connected(peer);
    }

    /// `peer` lost its last connection.
    pub fn disconnected(&mut self, peer: &P) {
        self.outbox.disconnected(peer);
    }

    /// Whether any message to `peer` is not settled yet.
    pub fn holds_for(&self, peer: &P) -> bool {
        !self.outbox.of(peer).is_empty()
    }

    /// Recipients with messages waiting that are not connected (they need dialling).
    pub fn unreachable_peers(&self) -> Vec<P> {
        self.outbox.unreachable_peers()
    }

    /// When `id` was written, if it is here.
    pub fn written(&self, id: &MessageId) -> Option<u64> {
        self.outbox.written(id)
    }

    /// How many messages are not settled.
    pub fn len(&self) -> usize {
        self.outbox.len()
    }

    /// Whether every message settled.
    pub fn is_empty(&self) -> bool {
        self.outbox.is_empty()
    }

    fn stop_clock_if_idle(&mut self, peer: &P) {
        if self.outbox.in_flight(peer) == 0 {
            self.progress.remove(peer);
        }
    }
}

#[cfg(test)]
mod tests;
