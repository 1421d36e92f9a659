//! [`ZmqMetrics`]: what local ZeroMQ programs sent through weft and what weft refused them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// `endpoint` and `direction` of a message count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlowLabels {
    /// The endpoint (`pub`, `call/NAME`, ...).
    pub endpoint: String,
    /// `in` (from the program to the mesh) or `out` (to the program).
    pub direction: String,
}

/// `endpoint` and `reason` of a refusal.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// The endpoint (`pub`, `call/NAME`, ..., or `curve` for a refused handshake).
    pub endpoint: String,
    /// Why, in one word.
    pub reason: String,
}

/// The ZeroMQ endpoints' counts. Cloning shares them.
#[derive(Clone, Debug, Default)]
pub struct ZmqMetrics {
    messages: Family<FlowLabels, Counter>,
    refused: Family<RefusalLabels, Counter>,
}

impl ZmqMetrics {
    /// Registers them in `registry` (weft's, prefixed `weft_`).
    pub fn new(registry: &mut Registry) -> ZmqMetrics {
        let m = ZmqMetrics::default();
        registry.register(
            "zmq_messages",
            "Messages through the ZeroMQ endpoints, by endpoint and direction",
            m.messages.clone(),
        );
        registry.register(
            "zmq_refused",
            "What the ZeroMQ endpoints refused local programs, by endpoint and reason",
            m.refused.clone(),
        );
        m
    }

    /// One message through `endpoint` in `direction` (`in` or `out`).
    pub fn passed(&self, endpoint: &str, direction: &str) {
        self.messages
            .get_or_create(&FlowLabels {
                endpoint: endpoint.to_string(),
                direction: direction.to_string(),
            })
            .inc();
    }

    /// One refusal at `endpoint` for `reason`.
    pub fn refused(&self, endpoint: &str, reason: &str) {
        self.refused
            .get_or_create(&RefusalLabels {
                endpoint: endpoint.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }
}
