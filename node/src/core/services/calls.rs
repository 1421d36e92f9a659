//! [`Calls`]: this node's calls under way: what each asks, where it was sent, where it was
//! tried already, and until when its caller waits. A call that loses its provider (the
//! connection closed, the provider hung, or it answered busy) goes to another with the same
//! id; the first reply ends it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use libp2p::PeerId;
use weft_proto::service::{CallId, ServiceName};

/// One call under way.
#[derive(Clone, Debug)]
pub struct Calling {
    /// The service called.
    pub service: ServiceName,
    /// The request.
    pub body: Vec<u8>,
    /// When the caller stops waiting.
    pub deadline: Instant,
    /// The provider it is at now.
    pub provider: PeerId,
    /// When it was sent there.
    pub sent: Instant,
    /// When it was made.
    pub started: Instant,
    /// Every provider it was sent to.
    pub tried: BTreeSet<PeerId>,
}

/// The calls under way, by id and by provider.
#[derive(Debug, Default)]
pub struct Calls {
    calls: BTreeMap<CallId, Calling>,
    at: BTreeMap<PeerId, BTreeSet<CallId>>,
}

impl Calls {
    /// Call `id` of `service` with `body` goes to `provider` at `now`; its caller waits until
    /// `deadline`.
    pub fn start(
        &mut self,
        id: CallId,
        service: ServiceName,
        body: Vec<u8>,
        deadline: Instant,
        provider: PeerId,
        now: Instant,
    ) {
        self.at.entry(provider).or_default().insert(id);
        let tried = [provider].into();
        let calling = Calling {
            service,
            body,
            deadline,
            provider,
            sent: now,
            started: now,
            tried,
        };
        self.calls.insert(id, calling);
    }

    /// Call `id` goes to `provider` now, instead of where it was.
    pub fn moved(&mut self, id: &CallId, provider: PeerId, now: Instant) {
        let Some(calling) = self.calls.get_mut(id) else {
            return;
        };
        remove(&mut self.at, &calling.provider, id);
        calling.provider = provider;
        calling.sent = now;
        calling.tried.insert(provider);
        self.at.entry(provider).or_default().insert(*id);
    }

    /// Call `id` ended (answered, failed or timed out): what it was, unless it had ended.
    pub fn ended(&mut self, id: &CallId) -> Option<Calling> {
        let calling = self.calls.remove(id)?;
        remove(&mut self.at, &calling.provider, id);
        Some(calling)
    }

    /// Call `id`, if it is under way.
    pub fn get(&self, id: &CallId) -> Option<&Calling> {
        self.calls.get(id)
    }

    /// The calls at `provider`, in order.
    pub fn at(&self, provider: &PeerId) -> Vec<CallId> {
        self.at
            .get(provider)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    /// How many calls are at `provider`.
    pub fn outstanding(&self, provider: &PeerId) -> usize {
        self.at.get(provider).map_or(0, BTreeSet::len)
    }

    /// When the oldest call at each provider was sent there.
    pub fn oldest_at(&self) -> Vec<(PeerId, Instant)> {
        self.at
            .iter()
            .filter_map(|(peer, ids)| {
                let oldest = ids
                    .iter()
                    .filter_map(|id| self.calls.get(id))
                    .map(|c| c.sent)
                    .min()?;
                Some((*peer, oldest))
            })
            .collect()
    }

    /// The calls whose caller stopped waiting at `now`.
    pub fn overdue(&self, now: Instant) -> Vec<CallId> {
        self.calls
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(id, _)| *id)
            .collect()
    }

    /// How many calls are under way.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether no call is under way.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

fn remove(at: &mut BTreeMap<PeerId, BTreeSet<CallId>>, provider: &PeerId, id: &CallId) {
    if let Some(ids) = at.get_mut(provider) {
        ids.remove(id);
        if ids.is_empty() {
            at.remove(provider);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_moved_call_counts_where_it_is_and_remembers_where_it_was() {
        let (mut calls, now) = (Calls::default(), Instant::now());
        let (a, b) = (PeerId::random(), PeerId::random());
        let id = CallId([1; 16]);
        let deadline = now + Duration::from_secs(1);
        calls.start(
            id,
            "echo".parse().unwrap(),
            b"hi".to_vec(),
            deadline,
            a,
            now,
        );
        assert_eq!(calls.outstanding(&a), 1);
        calls.moved(&id, b, now + Duration::from_millis(5));
        assert_eq!((calls.outstanding(&a), calls.outstanding(&b)), (0, 1));
        assert_eq!(calls.get(&id).unwrap().tried, [a, b].into());
        assert_eq!(calls.oldest_at(), vec![(b, now + Duration::from_millis(5))]);
        assert!(
            calls
                .overdue(deadline - Duration::from_millis(1))
                .is_empty()
        );
        assert_eq!(calls.overdue(deadline), vec![id]);
        assert!(calls.ended(&id).is_some());
        assert!(calls.ended(&id).is_none(), "once");
        assert!(calls.is_empty() && calls.at(&b).is_empty());
    }
}
