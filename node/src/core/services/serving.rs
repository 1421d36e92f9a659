//! [`Serving`]: what this node offers, and the calls it runs for others.
//!
//! Each service offered here has one handler (a local program, on the API) that runs up to
//! its concurrency of calls at once; more wait in a queue of [`MAX_QUEUED_PER_SLOT`] per
//! slot, and past that, or past the offer's own limits, a call is refused as busy (its
//! caller calls elsewhere). A call is known by its caller and id: the same call arriving
//! again (a retry after a lost connection) is not run twice; while it runs, its reply goes
//! to where it came from last; once answered, the answer is kept for [`DEDUP_WINDOW`] (at
//! most [`MAX_DONE`] answers and [`MAX_DONE_BYTES`] of them) and a retry gets it again.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use weft_proto::mesh::MemberKey;
use weft_proto::service::{Call, CallId, Load, Offer, Outcome, Refusal, ServiceName};

use crate::core::io::{HandlerId, ServeId, SessionId};

/// How long an answered call's reply is kept for a retry.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(120);

/// Most answers kept for retries.
pub const MAX_DONE: usize = 10_000;

/// Most bytes of answers kept for retries.
pub const MAX_DONE_BYTES: usize = 64 << 20;

/// Calls that may wait per slot of an offer's concurrency.
pub const MAX_QUEUED_PER_SLOT: usize = 4;

/// How many recent service times the statistics keep.
const RECENT: usize = 512;

/// How a service is offered here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfferOpts {
    /// Answers only while no active provider is reachable (a backup).
    pub standby: bool,
    /// Calls run at once.
    pub concurrency: u32,
    /// Past this many calls running and waiting, it is overloaded.
    pub max_inflight: Option<u32>,
    /// Past this CPU load (per mille of one core, one-minute average per core), it is
    /// overloaded.
    pub max_cpu_permille: Option<u16>,
}

/// A call to hand to a local handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Serve {
    /// The handler.
    pub handler: HandlerId,
    /// The call, for the handler's answer.
    pub serve: ServeId,
    /// The service.
    pub service: ServiceName,
    /// The request.
    pub body: Vec<u8>,
}

/// What becomes of a call that arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    /// Run it now.
    Run(Serve),
    /// It waits for a slot.
    Queued,
    /// Answer it now with this.
    Answer(Outcome),
    /// It runs already (a retry): its reply goes where this one came from.
    Running,
}

/// A call answered: where its reply goes, and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answered {
    /// The stream of the caller.
    pub session: SessionId,
    /// The call.
    pub id: CallId,
    /// Its outcome.
    pub outcome: Outcome,
}

#[derive(Debug)]
struct Offering {
    handler: HandlerId,
    opts: OfferOpts,
    in_flight: u32,
    queue: VecDeque<Waiting>,
    stats: Stats,
}

#[derive(Debug)]
struct Waiting {
    caller: MemberKey,
    id: CallId,
    session: SessionId,
    body: Vec<u8>,
}

#[derive(Debug)]
struct Run {
    caller: MemberKey,
    id: CallId,
    session: SessionId,
    service: ServiceName,
    started: Instant,
}

#[derive(Debug)]
enum Entry {
    Running(ServeId),
    Queued,
    Done(Outcome),
}

/// The offers and the calls run here.
#[derive(Debug, Default)]
pub struct Serving {
    offers: BTreeMap<ServiceName, Offering>,
    handlers: BTreeMap<HandlerId, ServiceName>,
    running: BTreeMap<ServeId, Run>,
    calls: BTreeMap<(MemberKey, CallId), Entry>,
    done: VecDeque<((MemberKey, CallId), Instant, usize)>,
    done_bytes: usize,
    last: u64,
    cpu_permille: u16,
    mem_permille: u16,
}

impl Serving {
    /// Offers `service` here with `opts`; its handler's id, or `None` when it is offered
    /// here already.
    pub fn offer(&mut self, service: ServiceName, opts: OfferOpts) -> Option<HandlerId> {
        if self.offers.contains_key(&service) {
            return None;
        }
        self.last += 1;
        let handler = HandlerId(self.last);
        let opts = OfferOpts {
            concurrency: opts.concurrency.max(1),
            ..opts
        };
        self.handlers.insert(handler, service.clone());
        let offering = Offering {
            handler,
            opts,
            in_flight: 0,
            queue: VecDeque::new(),
            stats: Stats::default(),
        };
        self.offers.insert(service, offering);
        Some(handler)
    }

    /// `handler` is gone: its service is offered no more, and every call running or
    /// waiting for it is answered as not offered (its caller calls elsewhere).
    pub fn withdraw(&mut self, handler: HandlerId) -> Vec<Answered> {
        let Some(service) = self.handlers.remove(&handler) else {
            return Vec::new();
        };
        let Some(offering) = self.offers.remove(&service) else {
            return Vec::new();
        };
        let refused = Outcome::Refused(Refusal::NotOffered);
        let mut answered = Vec::new();
        for waiting in offering.queue {
            self.calls.remove(&(waiting.caller, waiting.id));
            answered.push(Answered {
                session: waiting.session,
                id: waiting.id,
                outcome: refused.clone(),
            });
        }
        let runs: Vec<ServeId> = self
            .running
            .iter()
            .filter(|(_, run)| run.service == service)
            .map(|(serve, _)| *serve)
            .collect();
        for serve in runs {
            if let Some(run) = self.running.remove(&serve) {
                self.calls.remove(&(run.caller, run.id));
                answered.push(Answered {
                    session: run.session,
                    id: run.id,
                    outcome: refused.clone(),
                });
            }
        }
        answered
    }

    /// Takes `call` from `caller` on `session` at `now` (the caller checked as a member the
    /// service's policy lets call).
    pub fn take(
        &mut self,
        caller: MemberKey,
        session: SessionId,
        call: Call,
        now: Instant,
    ) -> Taken {
        let key = (caller, call.id);
        match self.calls.get(&key) {
            Some(Entry::Done(outcome)) => return Taken::Answer(outcome.clone()),
            Some(Entry::Running(serve)) => {
                if let Some(run) = self.running.get_mut(serve) {
                    run.session = session;
                }
                return Taken::Running;
            }
            Some(Entry::Queued) => {
                if let Some(offering) = self.offers.get_mut(&call.service)
                    && let Some(waiting) = offering
                        .queue
                        .iter_mut()
                        .find(|w| w.caller == caller && w.id == call.id)
                {
                    waiting.session = session;
                }
                return Taken::Running;
            }
            None => {}
        }
        let (cpu, mem) = (self.cpu_permille, self.mem_permille);
        let Some(offering) = self.offers.get_mut(&call.service) else {
            return Taken::Answer(Outcome::Refused(Refusal::NotOffered));
        };
        if offering.load(cpu, mem).overloaded {
            return Taken::Answer(Outcome::Refused(Refusal::Busy));
        }
        if offering.in_flight >= offering.opts.concurrency {
            let room = offering.opts.concurrency as usize * MAX_QUEUED_PER_SLOT;
            if offering.queue.len() >= room {
                return Taken::Answer(Outcome::Refused(Refusal::Busy));
            }
            offering.queue.push_back(Waiting {
                caller,
                id: call.id,
                session,
                body: call.body,
            });
            self.calls.insert(key, Entry::Queued);
            return Taken::Queued;
        }
        offering.in_flight += 1;
        let handler = offering.handler;
        let waiting = Waiting {
            caller,
            id: call.id,
            session,
            body: call.body,
        };
        Taken::Run(self.run(handler, call.service, waiting, now))
    }

    /// The service of call `serve` running here, and when it started.
    pub fn running(&self, serve: &ServeId) -> Option<(&ServiceName, Instant)> {
        self.running
            .get(serve)
            .map(|run| (&run.service, run.started))
    }

    /// The handler answered call `serve` with `outcome` at `now`: where the reply goes,
    /// and the next waiting call to run, if one waits.
    pub fn served(
        &mut self,
        serve: ServeId,
        outcome: Outcome,
        now: Instant,
    ) -> Option<(Answered, Option<Serve>)> {
        let run = self.running.remove(&serve)?;
        let key = (run.caller, run.id);
        let offering = self.offers.get_mut(&run.service)?;
        offering.in_flight = offering.in_flight.saturating_sub(1);
        let took = now.saturating_duration_since(run.started);
        offering
            .stats
            .record(took, !matches!(outcome, Outcome::Ok(_)));
        let next = offering.queue.pop_front();
        let handler = offering.handler;
        if next.is_some() {
            offering.in_flight += 1;
        }
        self.remember(key, outcome.clone(), now);
        let answered = Answered {
            session: run.session,
            id: run.id,
            outcome,
        };
        let next = next.map(|waiting| self.run(handler, run.service, waiting, now));
        Some((answered, next))
    }

    /// What this node offers now, with each offer's load.
    pub fn offers(&self) -> Vec<Offer> {
        self.offers
            .iter()
            .map(|(service, o)| Offer {
                service: service.clone(),
                standby: o.opts.standby,
                concurrency: o.opts.concurrency,
                load: o.load(self.cpu_permille, self.mem_permille),
            })
            .collect()
    }

    /// Whether this node offers anything.
    pub fn is_offering(&self) -> bool {
        !self.offers.is_empty()
    }

    /// The service `handler` serves, if it is one.
    pub fn service_of(&self, handler: &HandlerId) -> Option<&ServiceName> {
        self.handlers.get(handler)
    }

    /// How loaded this machine is (per mille): CPU per core, and memory.
    pub fn machine(&mut self, cpu_permille: u16, mem_permille: u16) {
        self.cpu_permille = cpu_permille;
        self.mem_permille = mem_permille;
    }

    /// Forgets the answers kept past the dedup window at `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some((_, at, _)) = self.done.front() {
            if now.saturating_duration_since(*at) < DEDUP_WINDOW {
                break;
            }
            self.forget_oldest();
        }
    }

    /// Hands `waiting`, a call of `service`, to `handler` at `now`.
    fn run(
        &mut self,
        handler: HandlerId,
        service: ServiceName,
        waiting: Waiting,
        now: Instant,
    ) -> Serve {
        self.last += 1;
        let serve = ServeId(self.last);
        let Waiting {
            caller,
            id,
            session,
            body,
        } = waiting;
        self.calls.insert((caller, id), Entry::Running(serve));
        let run = Run {
            caller,
            id,
            session,
            service: service.clone(),
            started: now,
        };
        self.running.insert(serve, run);
        Serve {
            handler,
            serve,
            service,
            body,
        }
    }

    /// Keeps `outcome` of call `key` for retries, within the caps.
    fn remember(&mut self, key: (MemberKey, CallId), outcome: Outcome, now: Instant) {
        let bytes = match &outcome {
            Outcome::Ok(body) => body.len(),
            Outcome::Failed(reason) => reason.len(),
            Outcome::Refused(_) => 0,
        };
        self.calls.insert(key, Entry::Done(outcome));
        self.done.push_back((key, now, bytes));
        self.done_bytes += bytes;
        while self.done.len() > MAX_DONE || self.done_bytes > MAX_DONE_BYTES {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((key, _, bytes)) = self.done.pop_front() {
            self.done_bytes -= bytes;
            if matches!(self.calls.get(&key), Some(Entry::Done(_))) {
                self.calls.remove(&key);
            }
        }
    }
}

impl Offering {
    fn load(&self, cpu_permille: u16, mem_permille: u16) -> Load {
        let queued = self.queue.len() as u32;
        let over_inflight = self
            .opts
            .max_inflight
            .is_some_and(|max| self.in_flight + queued >= max);
        let over_cpu = self
            .opts
            .max_cpu_permille
            .is_some_and(|max| cpu_permille >= max);
        Load {
            in_flight: self.in_flight,
            queued,
            overloaded: over_inflight || over_cpu,
            served: self.stats.served,
            errors: self.stats.errors,
            mean_us: self.stats.mean_us(),
            p99_us: self.stats.p99_us(),
            cpu_permille,
            mem_permille,
        }
    }
}

/// Calls served and failed, and recent service times.
#[derive(Debug, Default)]
struct Stats {
    served: u64,
    errors: u64,
    recent: VecDeque<u32>,
}

impl Stats {
    fn record(&mut self, took: Duration, failed: bool) {
        self.served += 1;
        if failed {
            self.errors += 1;
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent
            .push_back(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
    }

    fn mean_us(&self) -> u32 {
        let n = self.recent.len().max(1) as u64;
        (self.recent.iter().map(|&t| u64::from(t)).sum::<u64>() / n) as u32
    }

    fn p99_us(&self) -> u32 {
        let mut times: Vec<u32> = self.recent.iter().copied().collect();
        times.sort_unstable();
        times
            .get((times.len() * 99).div_ceil(100).saturating_sub(1))
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
