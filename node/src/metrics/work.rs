//! [`WorkMetrics`]: services and queues, as the core observes them and as a scrape finds
//! them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use weft_proto::api::ServiceInfo;
use weft_proto::queue::QueueStatus;

use crate::core::io::Observation;

/// `service` (or `queue`) of a count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NameLabels {
    /// The service or queue.
    pub name: String,
}

/// `service` and `outcome` of a call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// The service.
    pub service: String,
    /// How it ended.
    pub outcome: String,
}

/// `queue` and `state` of items held.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DepthLabels {
    /// The queue.
    pub queue: String,
    /// `pending`, `in_flight` or `dead`.
    pub state: String,
}

type Histograms = Family<NameLabels, Histogram, fn() -> Histogram>;

/// 100 µs .. ~13 s.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// The metrics of services and queues. Cloning shares them.
#[derive(Clone)]
pub struct WorkMetrics {
    calls: Family<OutcomeLabels, Counter>,
    call_time: Histograms,
    failovers: Family<NameLabels, Counter>,
    served: Family<OutcomeLabels, Counter>,
    service_time: Histograms,
    in_flight: Family<NameLabels, Gauge>,
    depth: Family<DepthLabels, Gauge>,
    redeliveries: Family<NameLabels, Counter>,
    dead_letters: Family<NameLabels, Counter>,
}

impl WorkMetrics {
    /// Registers them in `weft` (the `weft_` registry).
    pub fn new(weft: &mut Registry) -> WorkMetrics {
        let m = WorkMetrics {
            calls: Family::default(),
            call_time: Family::new_with_constructor(seconds),
            failovers: Family::default(),
            served: Family::default(),
            service_time: Family::new_with_constructor(seconds),
            in_flight: Family::default(),
            depth: Family::default(),
            redeliveries: Family::default(),
            dead_letters: Family::default(),
        };
        weft.register(
            "service_calls",
            "Calls this node made, by service and how they ended",
            m.calls.clone(),
        );
        weft.register_with_unit(
            "service_call",
            "A call from this node to its end, by service (name)",
            Unit::Seconds,
            m.call_time.clone(),
        );
        weft.register(
            "service_failovers",
            "Calls of this node sent to another provider, by service (name)",
            m.failovers.clone(),
        );
        weft.register(
            "service_served",
            "Calls this node served, by service and outcome (ok, failed)",
            m.served.clone(),
        );
        weft.register_with_unit(
            "service_time",
            "The handler's time for a call this node served, by service (name)",
            Unit::Seconds,
            m.service_time.clone(),
        );
        weft.register(
            "service_in_flight",
            "Calls running and waiting at this node, by service (name)",
            m.in_flight.clone(),
        );
        weft.register(
            "queue_depth",
            "Items this node holds as their producer, by queue and state",
            m.depth.clone(),
        );
        weft.register(
            "queue_redeliveries",
            "Items held here delivered again, by queue (name)",
            m.redeliveries.clone(),
        );
        weft.register(
            "queue_dead_letters",
            "Items held here gone to the dead letters, by queue (name)",
            m.dead_letters.clone(),
        );
        m
    }

    /// Counts what the core observed.
    pub fn observe(&self, observation: &Observation) {
        let name = |name: &dyn std::fmt::Display| NameLabels {
            name: name.to_string(),
        };
        match observation {
            Observation::Call {
                service,
                outcome,
                seconds,
            } => {
                let labels = OutcomeLabels {
                    service: service.to_string(),
                    outcome: (*outcome).to_string(),
                };
                self.calls.get_or_create(&labels).inc();
                self.call_time
                    .get_or_create(&name(service))
                    .observe(*seconds);
            }
            Observation::Failover { service } => {
                self.failovers.get_or_create(&name(service)).inc();
            }
            Observation::Served {
                service,
                ok,
                seconds,
            } => {
                let labels = OutcomeLabels {
                    service: service.to_string(),
                    outcome: if *ok { "ok" } else { "failed" }.to_string(),
                };
                self.served.get_or_create(&labels).inc();
                self.service_time
                    .get_or_create(&name(service))
                    .observe(*seconds);
            }
            Observation::Redelivered { queue } => {
                self.redeliveries.get_or_create(&name(queue)).inc();
            }
            Observation::DeadLettered { queue } => {
                self.dead_letters.get_or_create(&name(queue)).inc();
            }
        }
    }

    /// Sets the gauges from what the node reports: its offers' load, its queues' depth.
    pub fn scraped(&self, services: &[ServiceInfo], queues: &[QueueStatus]) {
        for service in services {
            for provider in service.providers.iter().filter(|p| p.local) {
                let load = provider.load;
                let labels = NameLabels {
                    name: service.name.to_string(),
                };
                let running = i64::from(load.in_flight) + i64::from(load.queued);
                self.in_flight.get_or_create(&labels).set(running);
            }
        }
        for queue in queues {
            for (state, n) in [
                ("pending", queue.pending),
                ("in_flight", queue.in_flight),
                ("dead", queue.dead),
            ] {
                let labels = DepthLabels {
                    queue: queue.queue.clone(),
                    state: state.into(),
                };
                self.depth.get_or_create(&labels).set(n as i64);
            }
        }
    }
}
