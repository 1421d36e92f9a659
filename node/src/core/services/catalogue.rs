//! [`Catalogue`]: who offers what (and holds which queues' items), as their records (gossip) and their heartbeats (on the
//! streams of calls to them) say, and which provider a call goes to.
//!
//! A provider is healthy for a service when it offers it, was heard from within
//! [`RECORD_TTL_MS`], is not overloaded, is reachable (connected) and was not found hung.
//! A call goes to a healthy active provider, chosen by the power of two choices on
//! outstanding calls (this node's own, plus the provider's running and queued calls); to a
//! standby one only when no active one is healthy.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use weft_proto::mesh::MemberKey;
use weft_proto::queue::{Holding, QueueName};
use weft_proto::service::{Offer, ProviderRecord, RECORD_TTL_MS, ServiceName};

use crate::core::rng::Rng;

/// How long a provider is believed without news.
const TTL: Duration = Duration::from_millis(RECORD_TTL_MS);

/// What this node knows of one provider.
#[derive(Clone, Debug)]
pub struct Provider {
    /// Its member key.
    pub key: MemberKey,
    /// Its newest record's number.
    pub seq: u64,
    /// What it offers, and how loaded.
    pub offers: Vec<Offer>,
    /// The queues it holds items of.
    pub queues: Vec<Holding>,
    /// When it was last heard from (a record or a heartbeat).
    pub heard: Instant,
    /// Whether it was found hung: it answers nothing until it is heard from again.
    pub hung: bool,
}

impl Provider {
    /// Its offer of `service`, if it makes one.
    pub fn offer(&self, service: &ServiceName) -> Option<&Offer> {
        self.offers.iter().find(|o| o.service == *service)
    }

    /// How many items of `queue` it has ready, if it holds any.
    pub fn holding(&self, queue: &QueueName) -> Option<u32> {
        self.queues
            .iter()
            .find(|h| h.queue == *queue)
            .map(|h| h.pending)
    }
}

/// The providers known, by PeerId.
#[derive(Debug, Default)]
pub struct Catalogue {
    providers: BTreeMap<PeerId, Provider>,
    /// The newest record's number from each member, kept after its provider is forgotten
    /// (withdrawn or silent) so that an older record replayed is not believed again.
    newest: BTreeMap<PeerId, u64>,
}

impl Catalogue {
    /// Takes `record` of `peer` (checked: signed by it, a member allowed its offers); false
    /// when it is not newer than what is known.
    pub fn record(&mut self, peer: PeerId, record: ProviderRecord, now: Instant) -> bool {
        if self.newest.get(&peer).is_some_and(|seq| *seq >= record.seq) {
            return false;
        }
        self.newest.insert(peer, record.seq);
        if record.offers.is_empty() && record.queues.is_empty() {
            self.providers.remove(&peer);
            return true;
        }
        // A newer record is word from it: found hung before, it is heard from again.
        self.providers.insert(
            peer,
            Provider {
                key: record.provider,
                seq: record.seq,
                offers: record.offers,
                queues: record.queues,
                heard: now,
                hung: false,
            },
        );
        true
    }

    /// `peer` said it is alive on a stream of this node's calls, with what it offers now.
    pub fn alive(&mut self, peer: PeerId, key: MemberKey, offers: Vec<Offer>, now: Instant) {
        let provider = self.providers.entry(peer).or_insert(Provider {
            key,
            seq: 0,
            offers: Vec::new(),
            queues: Vec::new(),
            heard: now,
            hung: false,
        });
        provider.offers = offers;
        self.heard(&peer, now);
    }

    /// Something came from `peer` (a reply, a heartbeat): it is not hung.
    pub fn heard(&mut self, peer: &PeerId, now: Instant) {
        if let Some(provider) = self.providers.get_mut(peer) {
            provider.heard = now;
            provider.hung = false;
        }
    }

    /// `peer` had calls and said nothing for too long: out of rotation until heard from.
    pub fn hung(&mut self, peer: &PeerId) {
        if let Some(provider) = self.providers.get_mut(peer) {
            provider.hung = true;
        }
    }

    /// `peer` is no member any more.
    pub fn forget(&mut self, peer: &PeerId) {
        self.providers.remove(peer);
        self.newest.remove(peer);
    }

    /// Forgets the providers not heard from within the record lifetime.
    pub fn expire(&mut self, now: Instant) {
        self.providers
            .retain(|_, p| now.saturating_duration_since(p.heard) <= TTL);
    }

    /// Whether `peer` is healthy for `service` at `now`, if it is `reachable`.
    pub fn healthy(&self, peer: &PeerId, service: &ServiceName, now: Instant) -> bool {
        self.providers.get(peer).is_some_and(|p| {
            !p.hung
                && now.saturating_duration_since(p.heard) <= TTL
                && p.offer(service).is_some_and(|o| !o.load.overloaded)
        })
    }

    /// The provider a call of `service` goes to, but those in `exclude`: the less loaded of
    /// two healthy active providers drawn at random (by this node's `outstanding` calls at
    /// each, plus what each runs and queues), a standby one only when no active one is
    /// healthy; `None` when no provider is healthy and reachable.
    pub fn choose(
        &self,
        service: &ServiceName,
        now: Instant,
        reachable: impl Fn(&PeerId) -> bool,
        outstanding: impl Fn(&PeerId) -> usize,
        exclude: &BTreeSet<PeerId>,
        rng: &mut Rng,
    ) -> Option<PeerId> {
        let healthy: Vec<(PeerId, &Offer)> = self
            .providers
            .iter()
            .filter(|(peer, _)| !exclude.contains(peer) && reachable(peer))
            .filter(|(peer, _)| self.healthy(peer, service, now))
            .filter_map(|(peer, p)| Some((*peer, p.offer(service)?)))
            .collect();
        let active: Vec<&(PeerId, &Offer)> = healthy.iter().filter(|(_, o)| !o.standby).collect();
        let pool = if active.is_empty() {
            healthy.iter().collect()
        } else {
            active
        };
        let score = |(peer, offer): &&(PeerId, &Offer)| {
            outstanding(peer) as u64
                + u64::from(offer.load.in_flight)
                + u64::from(offer.load.queued)
        };
        match pool.len() {
            0 => None,
            1 => Some(pool[0].0),
            n => {
                let a = rng.range(0, n as u64 - 1) as usize;
                let b = (a + 1 + rng.range(0, n as u64 - 2) as usize) % n;
                let (a, b) = (&pool[a], &pool[b]);
                Some(if score(b) < score(a) { b.0 } else { a.0 })
            }
        }
    }

    /// Every provider known, in order.
    pub fn providers(&self) -> impl Iterator<Item = (&PeerId, &Provider)> {
        self.providers.iter()
    }

    /// Whether anyone is known to offer `service`.
    pub fn offers(&self, service: &ServiceName) -> bool {
        self.providers.values().any(|p| p.offer(service).is_some())
    }
}

#[cfg(test)]
mod tests {
    use weft_proto::mesh::MeshId;
    use weft_proto::service::{Load, SERVICE_VERSION};

    use super::*;

    fn offer(standby: bool, in_flight: u32) -> Offer {
        Offer {
            service: "echo".parse().unwrap(),
            standby,
            concurrency: 4,
            load: Load {
                in_flight,
                ..Load::default()
            },
        }
    }

    fn record(seq: u64, offers: Vec<Offer>) -> ProviderRecord {
        ProviderRecord {
            v: SERVICE_VERSION,
            mesh: MeshId([0; 20]),
            provider: MemberKey([1; 32]),
            seq,
            offers,
            queues: Vec::new(),
        }
    }

    #[test]
    fn the_less_loaded_active_provider_wins_and_a_standby_only_when_no_active_is_healthy() {
        let (mut catalogue, now, mut rng) = (Catalogue::default(), Instant::now(), Rng::new(1));
        let echo: ServiceName = "echo".parse().unwrap();
        let (busy, idle, standby) = (PeerId::random(), PeerId::random(), PeerId::random());
        catalogue.record(busy, record(1, vec![offer(false, 9)]), now);
        catalogue.record(idle, record(1, vec![offer(false, 0)]), now);
        catalogue.record(standby, record(1, vec![offer(true, 0)]), now);
        let none = BTreeSet::new();
        let all = |_: &PeerId| true;
        for _ in 0..20 {
            let chosen = catalogue.choose(&echo, now, all, |_| 0, &none, &mut rng);
            assert_eq!(
                chosen,
                Some(idle),
                "two active: the idle one, never the standby"
            );
        }
        catalogue.hung(&idle);
        catalogue.hung(&busy);
        assert_eq!(
            catalogue.choose(&echo, now, all, |_| 0, &none, &mut rng),
            Some(standby)
        );
        catalogue.heard(&idle, now);
        assert_eq!(
            catalogue.choose(&echo, now, all, |_| 0, &none, &mut rng),
            Some(idle),
            "heard from again, it is back"
        );
        let exclude: BTreeSet<PeerId> = [idle, standby].into();
        assert_eq!(
            catalogue.choose(&echo, now, |p| *p != busy, |_| 0, &exclude, &mut rng),
            None,
            "nobody healthy and reachable"
        );
    }

    #[test]
    fn newer_records_replace_older_and_are_word_an_empty_one_withdraws_and_silence_expires() {
        let (mut catalogue, now) = (Catalogue::default(), Instant::now());
        let echo: ServiceName = "echo".parse().unwrap();
        let peer = PeerId::random();
        assert!(catalogue.record(peer, record(2, vec![offer(false, 0)]), now));
        assert!(!catalogue.record(peer, record(1, Vec::new()), now), "older");
        assert!(catalogue.offers(&echo));
        assert!(catalogue.record(peer, record(3, Vec::new()), now));
        assert!(!catalogue.offers(&echo), "withdrawn");
        assert!(
            !catalogue.record(peer, record(2, vec![offer(false, 0)]), now),
            "an older record replayed after a withdrawal"
        );
        catalogue.record(peer, record(4, vec![offer(false, 0)]), now);
        catalogue.hung(&peer);
        assert!(!catalogue.healthy(&peer, &echo, now), "found hung");
        catalogue.record(peer, record(5, vec![offer(false, 0)]), now);
        assert!(
            catalogue.healthy(&peer, &echo, now),
            "a newer record is word from it"
        );
        catalogue.expire(now + TTL);
        assert!(catalogue.offers(&echo));
        catalogue.expire(now + TTL + Duration::from_millis(1));
        assert!(!catalogue.offers(&echo), "expired");
    }
}
