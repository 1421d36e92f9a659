//! `/weft/queue/1`: a worker's pulls and a producer's items, on one long-lived session from
//! each worker to each producer (wire: `weft_proto::queue`; the sessions:
//! [`super::session_stream`]). The worker writes [`WorkerFrame`]s (credit, results, leases
//! it still holds); the producer writes [`ProducerFrame`]s back, an item's bytes read from
//! the store by the session's writer as it goes out.

use std::sync::Arc;

use weft_proto::DecodeError;
use weft_proto::queue::{
    Lease, MAX_CREDIT, MAX_QUEUE_FRAME_BYTES, ProducerFrame, QUEUE_VERSION, QueueName, WorkerFrame,
};

use super::session_stream::{Encoder, Protocol, SessionEvent, Sessions, Wire};
use crate::store::queues::QueueTrees;

/// The protocol.
pub const PROTOCOL: Protocol = Protocol {
    id: "/weft/queue/1",
    kind: "queue",
    max_frame: MAX_QUEUE_FRAME_BYTES,
    not_member: "queue_not_member",
    stream_cap: "queue_stream_cap",
    // Per queue an honest worker has out at most MAX_CREDIT items, a settlement for each
    // result it holds and a hint or a return per `Want`.
    frames: 4 * MAX_CREDIT as usize,
};

/// What goes to a worker: a frame, or a leased item whose bytes are on disk.
#[derive(Debug)]
pub enum ToWorker {
    /// A frame as it is.
    Frame(ProducerFrame),
    /// The item of `lease`, read from the store as it goes out.
    Item {
        /// The queue.
        queue: QueueName,
        /// The delivery.
        lease: Lease,
    },
}

/// The queue sessions: worker frames one way, producer frames the other.
pub type QueueSessions = Sessions<WorkerFrame, ProducerFrame, ToWorker>;

/// What queue session tasks report.
pub type QueueEvent = SessionEvent<WorkerFrame, ProducerFrame, ToWorker>;

/// Encodes what goes to a worker, reading an item's bytes from `trees`. An item gone from
/// the store (acknowledged meanwhile by another lease) goes as an empty `Drained`, which
/// changes nothing at the worker.
pub fn encoder(trees: QueueTrees) -> Encoder<ToWorker> {
    Arc::new(move |out| match out {
        ToWorker::Frame(frame) => frame.encode(),
        ToWorker::Item { queue, lease } => match trees.body(&lease.id) {
            Ok(Some(body)) => ProducerFrame::Item {
                v: QUEUE_VERSION,
                queue,
                lease,
                body,
            }
            .encode(),
            Ok(None) => ProducerFrame::Drained { queue, returned: 0 }.encode(),
            Err(e) => Err(DecodeError::Invalid(format!(
                "cannot read a queue item: {e}"
            ))),
        },
    })
}

impl Wire for WorkerFrame {
    fn decode(bytes: &[u8]) -> Result<WorkerFrame, DecodeError> {
        WorkerFrame::decode(bytes)
    }

    fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        WorkerFrame::encode(self)
    }
}

impl Wire for ProducerFrame {
    fn decode(bytes: &[u8]) -> Result<ProducerFrame, DecodeError> {
        ProducerFrame::decode(bytes)
    }

    fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        ProducerFrame::encode(self)
    }
}
