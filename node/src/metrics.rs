//! [`Metrics`]: weft's own Prometheus metrics, beside the libp2p ones, in one registry that
//! `weft node --metrics ADDR` serves on `/metrics` (Prometheus text format).
//!
//! Every weft metric is named `weft_…` with its unit in the name:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `weft_messages_sent_total` | counter | `kind` (direct, topic) |
//! | `weft_messages_received_total` | counter | `kind` |
//! | `weft_messages_rejected_total` | counter | `kind` (what was refused: direct, topic, acl, sync, join, mailbox, connection, blob, pipe, relay, storage, web: the web page's refusals by `host`, `origin` or `token`), `reason` |
//! | `weft_delivery_latency_seconds` | histogram | | send to the recipient's durable acknowledgement |
//! | `weft_gossip_dropped_total` | counter | | messages gossipsub gave up sending to a member that fell behind (they reach it by catch-up) |
//! | `weft_outbox_depth_messages` | gauge | |
//! | `weft_mailbox_held_messages`, `weft_mailbox_held_bytes` | gauge | |
//! | `weft_acl_decisions_total` | counter | `door` (connection, blob, pipe, relay), `decision` (allow, deny) |
//! | `weft_blob_transferred_bytes_total` | counter | `direction` (sent, received) |
//! | `weft_relay_circuits`, `weft_relay_reservations` | gauge | |
//! | `weft_peers_connected` | gauge | |
//! | `weft_store_size_bytes` | gauge | | sled's size on disk |
//! | `weft_service_calls_total` | counter | `service`, `outcome` (replied, failed, refused, no_provider, timed_out) | calls this node made |
//! | `weft_service_call_seconds` | histogram | `name` | a call from this node to its end |
//! | `weft_service_failovers_total` | counter | `name` | calls sent to another provider |
//! | `weft_service_served_total` | counter | `service`, `outcome` (ok, failed) | calls this node served |
//! | `weft_service_time_seconds` | histogram | `name` | the handler's time per call served |
//! | `weft_service_in_flight` | gauge | `name` | calls running and waiting here |
//! | `weft_queue_depth` | gauge | `queue`, `state` (pending, in_flight, dead) | items held here |
//! | `weft_queue_redeliveries_total`, `weft_queue_dead_letters_total` | counter | `name` | |
//! | `weft_zmq_messages_total` | counter | `endpoint` (`pub`, `call/NAME`, ...), `direction` (in, out) | messages between local ZeroMQ programs and the mesh |
//! | `weft_zmq_refused_total` | counter | `endpoint` (or `curve`), `reason` | what the ZeroMQ endpoints refused local programs |
//!
//! The libp2p metrics (connections, bandwidth by protocol and transport, identify, ping,
//! gossipsub, relay, DCUtR) are registered under the `libp2p_` prefix.

mod work;
pub mod zmq;

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// `kind` (and `reason`) of a message count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// What kind of message or input.
    pub kind: String,
}

/// `kind` and `reason` of a refusal.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    /// What was refused.
    pub kind: String,
    /// Why.
    pub reason: String,
}

/// `door` and `decision` of an ACL check.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// Which door asked.
    pub door: String,
    /// `allow` or `deny`.
    pub decision: String,
}

/// `direction` of blob bytes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabels {
    /// `sent` or `received`.
    pub direction: String,
}

/// weft's metrics. Cloning shares them.
#[derive(Clone)]
pub struct Metrics {
    /// Messages this node sent, by kind.
    pub sent: Family<KindLabels, Counter>,
    /// Messages this node received and stored, by kind.
    pub received: Family<KindLabels, Counter>,
    /// Input refused, by kind and reason.
    pub rejected: Family<RejectLabels, Counter>,
    /// Send to durable acknowledgement, seconds.
    pub delivery_latency: Histogram,
    /// Messages gossipsub gave up sending to a member that fell behind.
    pub gossip_dropped: Counter,
    /// Direct messages waiting for acknowledgement.
    pub outbox_depth: Gauge,
    /// Sealed messages held for others.
    pub mailbox_messages: Gauge,
    /// Their bytes.
    pub mailbox_bytes: Gauge,
    /// ACL checks by door and decision.
    pub acl_decisions: Family<DecisionLabels, Counter>,
    /// Blob bytes moved, by direction.
    pub blob_bytes: Family<DirectionLabels, Counter>,
    /// Circuits relayed now.
    pub relay_circuits: Gauge,
    /// Reservations held here now.
    pub relay_reservations: Gauge,
    /// Peers connected now.
    pub peers: Gauge,
    /// sled's size on disk.
    pub store_bytes: Gauge,
    /// Services and queues.
    pub work: work::WorkMetrics,
    /// The ZeroMQ endpoints.
    pub zmq: zmq::ZmqMetrics,
    /// The libp2p metrics.
    pub libp2p: Arc<libp2p::metrics::Metrics>,
}

impl Metrics {
    /// Registers weft's and libp2p's metrics in `registry`.
    pub fn new(registry: &mut Registry) -> Metrics {
        let libp2p = Arc::new(libp2p::metrics::Metrics::new(registry));
        let weft = registry.sub_registry_with_prefix("weft");
        let m = Metrics {
            sent: Family::default(),
            received: Family::default(),
            rejected: Family::default(),
            // 100 µs .. ~13 s.
            delivery_latency: Histogram::new(exponential_buckets(0.0001, 2.0, 18)),
            gossip_dropped: Counter::default(),
            outbox_depth: Gauge::default(),
            mailbox_messages: Gauge::default(),
            mailbox_bytes: Gauge::default(),
            acl_decisions: Family::default(),
            blob_bytes: Family::default(),
            relay_circuits: Gauge::default(),
            relay_reservations: Gauge::default(),
            peers: Gauge::default(),
            store_bytes: Gauge::default(),
            work: work::WorkMetrics::new(weft),
            zmq: zmq::ZmqMetrics::new(weft),
            libp2p,
        };
        weft.register("messages_sent", "Messages this node sent", m.sent.clone());
        weft.register(
            "messages_received",
            "Messages this node received and stored",
            m.received.clone(),
        );
        weft.register(
            "messages_rejected",
            "Input refused from peers, by kind and reason",
            m.rejected.clone(),
        );
        weft.register_with_unit(
            "delivery_latency",
            "Direct message send to the recipient's durable acknowledgement",
            Unit::Seconds,
            m.delivery_latency.clone(),
        );
        weft.register(
            "gossip_dropped",
            "Messages gossipsub gave up sending to a member that fell behind",
            m.gossip_dropped.clone(),
        );
        weft.register_with_unit(
            "outbox_depth",
            "Direct messages waiting for acknowledgement",
            Unit::Other("messages".into()),
            m.outbox_depth.clone(),
        );
        weft.register_with_unit(
            "mailbox_held",
            "Sealed messages held for other members",
            Unit::Other("messages".into()),
            m.mailbox_messages.clone(),
        );
        weft.register_with_unit(
            "mailbox_held",
            "Bytes of sealed messages held for other members",
            Unit::Bytes,
            m.mailbox_bytes.clone(),
        );
        weft.register(
            "acl_decisions",
            "ACL checks, by door and decision",
            m.acl_decisions.clone(),
        );
        weft.register_with_unit(
            "blob_transferred",
            "Blob bytes moved, by direction",
            Unit::Bytes,
            m.blob_bytes.clone(),
        );
        weft.register(
            "relay_circuits",
            "Circuits relayed through this node now",
            m.relay_circuits.clone(),
        );
        weft.register(
            "relay_reservations",
            "Members holding a relay reservation here now",
            m.relay_reservations.clone(),
        );
        weft.register("peers_connected", "Peers connected now", m.peers.clone());
        weft.register_with_unit(
            "store_size",
            "The database's size on disk",
            Unit::Bytes,
            m.store_bytes.clone(),
        );
        m
    }

    /// Counts a message of `kind` sent.
    pub fn sent(&self, kind: &str) {
        self.sent
            .get_or_create(&KindLabels { kind: kind.into() })
            .inc();
    }

    /// Counts a message of `kind` received.
    pub fn received(&self, kind: &str) {
        self.received
            .get_or_create(&KindLabels { kind: kind.into() })
            .inc();
    }

    /// Counts blob bytes moved.
    pub fn blob_bytes(&self, direction: &str, bytes: u64) {
        self.blob_bytes
            .get_or_create(&DirectionLabels {
                direction: direction.into(),
            })
            .inc_by(bytes);
    }
}
