//! Services: request/reply to named services that members offer, with no broker.
//!
//! - As a provider ([`serving`]): a local handler offers a service; calls from members the
//!   service's policy lets call run on it within its concurrency, each call id once; the
//!   provider gossips who it is and what it offers ([`ANNOUNCE_EVERY`]) and says it is
//!   alive on every stream of calls to it ([`ALIVE_EVERY`]).
//! - As a caller ([`calls`], [`catalogue`]): a local call goes to a healthy provider this
//!   node chooses (power of two choices on outstanding calls; a standby only when no active
//!   one is healthy), and to another, with the same id, when its provider's connection
//!   closes, when the provider says nothing for [`HANG_AFTER`] while it holds calls, or when
//!   it answers busy; the first reply ends the call. With no healthy provider a call ends at
//!   once.

pub mod calls;
pub mod catalogue;
pub mod serving;

use std::time::{Duration, Instant};

use libp2p::PeerId;
use weft_keys::service::{sign_record, verify_record};
use weft_proto::api::{ProviderInfo, ServiceInfo};
use weft_proto::mesh::MeshId;
use weft_proto::service::{
    ALIVE_EVERY_MS, ANNOUNCE_EVERY_MS, Call, CallId, HANG_AFTER_MS, MAX_SERVICE_BODY_BYTES,
    Outcome, ProviderFrame, ProviderRecord, Refusal, Reply, SERVICE_VERSION, ServiceName,
    SignedRecord,
};

use self::calls::Calls;
use self::catalogue::Catalogue;
use self::serving::{Answered, OfferOpts, Serve, Serving, Taken};
use super::connections::reachable;
use super::io::{CallEnd, HandlerId, Now, Observation, Output, ServeId, SessionId, Verdict};
use super::rng::Rng;
use super::{Core, short};
use crate::mesh::membership::peer_of;
use crate::network::NodeError;

/// How often a provider gossips its record.
pub const ANNOUNCE_EVERY: Duration = Duration::from_millis(ANNOUNCE_EVERY_MS);

/// How often a provider says it is alive on each stream of calls to it.
pub const ALIVE_EVERY: Duration = Duration::from_millis(ALIVE_EVERY_MS);

/// How long a caller with calls at a provider waits to hear from it before it calls
/// elsewhere.
pub const HANG_AFTER: Duration = Duration::from_millis(HANG_AFTER_MS);

/// The gossipsub topic that carries a mesh's provider records (`weft/<mesh-id>/svc`).
pub fn service_topic(mesh: MeshId) -> String {
    format!("weft/{mesh}/svc")
}

/// Services, both ways.
#[derive(Debug)]
pub struct Services {
    pub(super) catalogue: Catalogue,
    calls: Calls,
    serving: Serving,
    rng: Rng,
    next_announce: Instant,
    next_alive: Instant,
    /// Whether the last record gossiped offered or held anything (then one more says it
    /// stopped).
    announced: bool,
}

impl Services {
    /// No offers and no calls yet; chance drawn from `seed`.
    pub fn new(seed: u64, now: Instant) -> Services {
        Services {
            catalogue: Catalogue::default(),
            calls: Calls::default(),
            serving: Serving::default(),
            rng: Rng::new(seed),
            next_announce: now,
            next_alive: now,
            announced: false,
        }
    }

    /// Whether a call of this node's is under way at `provider`.
    pub(super) fn calling(&self, provider: &PeerId) -> bool {
        self.calls.outstanding(provider) > 0
    }
}

impl Services {
    /// Gossips this node's record at the next tick (what it offers or holds changed).
    pub fn announce_soon(&mut self, now: Instant) {
        self.next_announce = self.next_announce.min(now);
    }
}

impl Core {
    /// Calls `service` with `body`, waiting at most `timeout`: the call's id (its end comes
    /// as [`Output::Called`]), or why it cannot be made, at once (no provider is reachable).
    pub fn call(
        &mut self,
        service: ServiceName,
        body: Vec<u8>,
        timeout: Duration,
        now: Now,
    ) -> Result<CallId, NodeError> {
        if body.len() > MAX_SERVICE_BODY_BYTES {
            return Err(NodeError::TooLarge(format!(
                "a request is at most {MAX_SERVICE_BODY_BYTES} bytes (this one is {}); share a blob and send its id instead",
                body.len()
            )));
        }
        if let Some(e) = self.removed_error() {
            return Err(e);
        }
        let mesh = self.mesh.get().ok_or_else(super::membership::not_in_mesh)?;
        if !mesh.acl().can_call(&self.me.key, &service) {
            return Err(NodeError::Forbidden(format!(
                "the policy of service `{service}` does not let this node call it"
            )));
        }
        let (peers, addresses) = (&self.peers, self.mesh.addresses());
        let services = &mut self.services;
        let provider = services.catalogue.choose(
            &service,
            now.at,
            |p| reachable(peers, addresses, p),
            |p| services.calls.outstanding(p),
            &Default::default(),
            &mut services.rng,
        );
        let Some(provider) = provider else {
            return Err(NodeError::NotFound(format!(
                "no provider of `{service}` is reachable (see `weft services`)"
            )));
        };
        let mut id = [0u8; 16];
        id.copy_from_slice(&self.services.rng.bytes()[..16]);
        let id = CallId(id);
        // What the wire carries as the call's budget (49 days) bounds how long it waits.
        let timeout = timeout.min(Duration::from_millis(u64::from(u32::MAX)));
        let call = Call {
            v: SERVICE_VERSION,
            id,
            service: service.clone(),
            body: body.clone(),
            budget_ms: timeout.as_millis() as u32,
        };
        let deadline = now.at + timeout;
        self.services
            .calls
            .start(id, service, body, deadline, provider, now.at);
        self.reach(provider);
        self.out.push_back(Output::CallOut {
            peer: provider,
            call,
        });
        Ok(id)
    }

    /// Offers `service` from this node, served by a local handler: the handler's id.
    pub fn offer(
        &mut self,
        service: ServiceName,
        opts: OfferOpts,
        now: Now,
    ) -> Result<HandlerId, NodeError> {
        if let Some(e) = self.removed_error() {
            return Err(e);
        }
        let mesh = self.mesh.get().ok_or_else(super::membership::not_in_mesh)?;
        if !mesh.acl().can_offer(&self.me.key, &service) {
            return Err(NodeError::Forbidden(format!(
                "the policy of service `{service}` does not let this node offer it (guests never do)"
            )));
        }
        let Some(handler) = self.services.serving.offer(service.clone(), opts) else {
            return Err(NodeError::Invalid(format!(
                "`{service}` is offered from this node already"
            )));
        };
        tracing::info!(%service, standby = opts.standby, concurrency = opts.concurrency, "offering a service");
        self.services.next_announce = now.at;
        self.services.next_alive = now.at;
        Ok(handler)
    }

    /// `handler` is gone: its service is offered no more, and the calls it held are
    /// answered so that their callers call elsewhere.
    pub fn withdraw(&mut self, handler: HandlerId, now: Now) {
        if let Some(service) = self.services.serving.service_of(&handler) {
            tracing::info!(%service, "no longer offering a service");
        }
        for answered in self.services.serving.withdraw(handler) {
            self.answer_call(answered);
        }
        self.services.next_announce = now.at;
    }

    /// A local handler answered call `serve` with `outcome` (a failure's reason cut to
    /// what the wire carries).
    pub fn served(&mut self, serve: ServeId, outcome: Outcome, now: Now) {
        let outcome = match outcome {
            Outcome::Failed(reason) => Outcome::Failed(weft_proto::queue::clip_reason(&reason)),
            outcome => outcome,
        };
        if let Some((service, started)) = self.services.serving.running(&serve) {
            self.out.push_back(Output::Observed(Observation::Served {
                service: service.clone(),
                ok: matches!(outcome, Outcome::Ok(_)),
                seconds: now.at.saturating_duration_since(started).as_secs_f64(),
            }));
        }
        let Some((answered, next)) = self.services.serving.served(serve, outcome, now.at) else {
            return;
        };
        self.answer_call(answered);
        if let Some(next) = next {
            self.hand_to_handler(next);
        }
    }

    /// Every service offered in the mesh as this node knows it, with its providers.
    pub fn services(&self, now: Now) -> Vec<ServiceInfo> {
        let mut out: std::collections::BTreeMap<ServiceName, Vec<ProviderInfo>> =
            Default::default();
        for offer in self.services.serving.offers() {
            out.entry(offer.service.clone())
                .or_default()
                .push(ProviderInfo {
                    peer_id: self.me.peer.to_string(),
                    local: true,
                    standby: offer.standby,
                    healthy: !offer.load.overloaded,
                    concurrency: offer.concurrency,
                    load: offer.load,
                });
        }
        for (peer, provider) in self.services.catalogue.providers() {
            for offer in &provider.offers {
                let healthy = reachable(&self.peers, self.mesh.addresses(), peer)
                    && self
                        .services
                        .catalogue
                        .healthy(peer, &offer.service, now.at);
                out.entry(offer.service.clone())
                    .or_default()
                    .push(ProviderInfo {
                        peer_id: peer.to_string(),
                        local: false,
                        standby: offer.standby,
                        healthy,
                        concurrency: offer.concurrency,
                        load: offer.load,
                    });
            }
        }
        out.into_iter()
            .map(|(name, providers)| ServiceInfo { name, providers })
            .collect()
    }

    /// A call from `peer` on inbound session `session`: run (or queued, or answered from
    /// what was kept) when `peer` is a member the service's policy lets call.
    pub(super) fn on_service_call(
        &mut self,
        peer: PeerId,
        session: SessionId,
        call: Call,
        now: Now,
    ) {
        let id = call.id;
        let Some((key, _)) = self.mesh.get().and_then(|m| m.member(&peer)) else {
            self.reject("service", &peer, "acl", &"a call from a non-member");
            self.answer_call(refused(session, id, Refusal::NotAllowed));
            return;
        };
        let allowed = self
            .mesh
            .get()
            .is_some_and(|m| m.acl().can_call(&key, &call.service));
        if !allowed {
            let why = format!("a call of `{}` its policy does not allow", call.service);
            self.reject("service", &peer, "service_not_allowed", &why);
            self.answer_call(refused(session, id, Refusal::NotAllowed));
            return;
        }
        match self.services.serving.take(key, session, call, now.at) {
            Taken::Run(serve) => self.hand_to_handler(serve),
            Taken::Queued | Taken::Running => {}
            Taken::Answer(outcome) => self.answer_call(Answered {
                session,
                id,
                outcome,
            }),
        }
    }

    /// A provider's frame on this node's session to `peer`: a reply, or a heartbeat.
    pub(super) fn on_provider_frame(&mut self, peer: PeerId, frame: ProviderFrame, now: Now) {
        let Some((key, _)) = self.mesh.get().and_then(|m| m.member(&peer)) else {
            return;
        };
        self.services.catalogue.heard(&peer, now.at);
        match frame {
            ProviderFrame::Reply(reply) => self.on_reply(peer, reply, now),
            ProviderFrame::Alive { mut offers } => {
                if let Some(mesh) = self.mesh.get() {
                    offers.retain(|o| mesh.acl().can_offer(&key, &o.service));
                }
                self.services.catalogue.alive(peer, key, offers, now.at);
            }
        }
    }

    /// This node's session to provider `peer` is gone: its calls there go elsewhere.
    pub(super) fn on_service_lost(&mut self, peer: PeerId, now: Now) {
        for id in self.services.calls.at(&peer) {
            self.fail_over(id, now);
        }
    }

    /// Decides a gossiped provider record from `via`: believed when it is signed by its
    /// provider, for this mesh, and the provider is a member (offers its policy does not
    /// allow are dropped).
    pub(super) fn accept_record_gossip(&mut self, via: &PeerId, data: &[u8], now: Now) -> Verdict {
        let mut signed = match SignedRecord::decode(data) {
            Ok(signed) => signed,
            Err(e) => {
                self.reject("service", via, e.reason(), &e);
                return Verdict::Reject;
            }
        };
        let Some(mesh) = self.mesh.get() else {
            return Verdict::Ignore;
        };
        if signed.record.mesh != mesh.id() || verify_record(&signed).is_err() {
            self.reject(
                "service",
                via,
                "signature",
                &"a service record not signed by its provider",
            );
            return Verdict::Reject;
        }
        let key = signed.record.provider;
        let Some(peer) = peer_of(&key).filter(|p| mesh.admits(p)) else {
            self.reject("service", via, "acl", &"a service record of a non-member");
            return Verdict::Reject;
        };
        if peer == self.me.peer {
            return Verdict::Ignore;
        }
        signed
            .record
            .offers
            .retain(|o| mesh.acl().can_offer(&key, &o.service));
        if self.services.catalogue.record(peer, signed.record, now.at) {
            Verdict::Accept
        } else {
            Verdict::Ignore
        }
    }

    /// What time did to services: calls whose caller stopped waiting end, providers silent
    /// while they hold calls are taken for hung (their calls go elsewhere), and a provider
    /// gossips its record and says it is alive.
    pub(super) fn tick_services(&mut self, now: Now) {
        self.services.catalogue.expire(now.at);
        self.services.serving.expire(now.at);
        for id in self.services.calls.overdue(now.at) {
            self.end_call(id, CallEnd::TimedOut, now);
        }
        for (peer, oldest) in self.services.calls.oldest_at() {
            let silent = self
                .services
                .catalogue
                .providers()
                .find(|(p, _)| **p == peer)
                .map(|(_, provider)| provider.heard);
            let hung = now.at.saturating_duration_since(oldest) >= HANG_AFTER
                && silent.is_none_or(|heard| now.at.saturating_duration_since(heard) >= HANG_AFTER);
            if hung {
                tracing::warn!(peer = %short(&peer), "a provider says nothing; calling elsewhere");
                self.services.catalogue.hung(&peer);
                self.on_service_lost(peer, now);
            }
        }
        let offering = self.services.serving.is_offering();
        if now.at >= self.services.next_announce {
            self.services.next_announce = now.at + ANNOUNCE_EVERY;
            let providing = offering || !self.queues.holdings().is_empty();
            if providing || self.services.announced {
                self.announce(now);
            }
            self.services.announced = providing;
        }
        if offering && now.at >= self.services.next_alive {
            self.services.next_alive = now.at + ALIVE_EVERY;
            let offers = self.services.serving.offers();
            self.out
                .push_back(Output::Alive(ProviderFrame::Alive { offers }));
        }
    }

    /// How loaded this machine is: the offers' limits and loads say so.
    pub(super) fn machine(&mut self, cpu_permille: u16, mem_permille: u16) {
        self.services.serving.machine(cpu_permille, mem_permille);
    }

    /// Gossips this node's record: what it offers now.
    fn announce(&mut self, now: Now) {
        let Some(mesh) = self.mesh.id() else {
            return;
        };
        let record = ProviderRecord {
            v: SERVICE_VERSION,
            mesh,
            provider: self.me.key,
            seq: now.unix_us / 1000,
            offers: self.services.serving.offers(),
            queues: self.queues.holdings(),
        };
        let Ok(signed) = sign_record(&self.me.identity, record) else {
            return;
        };
        if let Ok(data) = signed.encode() {
            let topic = service_topic(mesh);
            self.out.push_back(Output::Publish { topic, data });
        }
    }

    /// A provider's reply to call `reply.id`: the end of the call, or (busy, not offered)
    /// a reason to call elsewhere.
    fn on_reply(&mut self, peer: PeerId, reply: Reply, now: Now) {
        let Some(calling) = self.services.calls.get(&reply.id) else {
            return; // Ended already: a late or second reply.
        };
        if !calling.tried.contains(&peer) {
            return;
        }
        match reply.outcome {
            Outcome::Ok(body) => self.end_call(reply.id, CallEnd::Replied(body), now),
            Outcome::Failed(reason) => self.end_call(reply.id, CallEnd::Failed(reason), now),
            Outcome::Refused(Refusal::Busy | Refusal::NotOffered) => self.fail_over(reply.id, now),
            Outcome::Refused(refusal) => self.end_call(reply.id, CallEnd::Refused(refusal), now),
        }
    }

    /// Call `id` goes to another provider than those it was at, or ends when there is none.
    fn fail_over(&mut self, id: CallId, now: Now) {
        let Some(calling) = self.services.calls.get(&id) else {
            return;
        };
        let (service, tried, deadline) = (
            calling.service.clone(),
            calling.tried.clone(),
            calling.deadline,
        );
        let (peers, addresses) = (&self.peers, self.mesh.addresses());
        let services = &mut self.services;
        let next = services.catalogue.choose(
            &service,
            now.at,
            |p| reachable(peers, addresses, p),
            |p| services.calls.outstanding(p),
            &tried,
            &mut services.rng,
        );
        let Some(provider) = next else {
            self.end_call(id, CallEnd::NoProvider, now);
            return;
        };
        tracing::info!(%service, to = %short(&provider), "calling another provider");
        self.out.push_back(Output::Observed(Observation::Failover {
            service: service.clone(),
        }));
        self.services.calls.moved(&id, provider, now.at);
        let Some(calling) = self.services.calls.get(&id) else {
            return;
        };
        let budget = deadline.saturating_duration_since(now.at);
        let call = Call {
            v: SERVICE_VERSION,
            id,
            service,
            body: calling.body.clone(),
            budget_ms: budget.as_millis().min(u128::from(u32::MAX)) as u32,
        };
        self.reach(provider);
        self.out.push_back(Output::CallOut {
            peer: provider,
            call,
        });
    }

    fn end_call(&mut self, id: CallId, end: CallEnd, now: Now) {
        if let Some(calling) = self.services.calls.ended(&id) {
            self.out.push_back(Output::Observed(Observation::Call {
                service: calling.service,
                outcome: end.outcome(),
                seconds: now
                    .at
                    .saturating_duration_since(calling.started)
                    .as_secs_f64(),
            }));
            self.out.push_back(Output::Called { id, end });
        }
    }

    fn hand_to_handler(&mut self, serve: Serve) {
        self.out.push_back(Output::Serve {
            handler: serve.handler,
            serve: serve.serve,
            service: serve.service,
            body: serve.body,
        });
    }

    fn answer_call(&mut self, answered: Answered) {
        let reply = Reply {
            v: SERVICE_VERSION,
            id: answered.id,
            outcome: answered.outcome,
        };
        self.out.push_back(Output::ToCaller {
            session: answered.session,
            frame: ProviderFrame::Reply(reply),
        });
    }
}

fn refused(session: SessionId, id: CallId, refusal: Refusal) -> Answered {
    Answered {
        session,
        id,
        outcome: Outcome::Refused(refusal),
    }
}
