//! Work queues: items that members push and other members work, held by their producers.
//!
//! An item stays on the disk of the node it was pushed to (its **producer**) until a worker
//! acknowledges it. Producers say which queues they hold items of in their signed record
//! ([`crate::service::ProviderRecord::queues`], gossiped on `weft/<mesh>/svc`); a **worker**
//! opens one long-lived `/weft/queue/1` stream to each producer of a queue it works, frames
//! as everywhere (`u32` BE length + CBOR, see [`crate::codec`]), and pulls with credit:
//!
//! ```text
//! worker -> producer  { "Want":    { v: 1, queue, credit: u32, max_deliver: u32 } }  more credit
//!                   | { "Done":    { queue, id: bytes(16), attempt: u32 } }         acknowledged
//!                   | { "Failed":  { queue, id, attempt, reason: string } }        redeliver later
//!                   | { "Release": { queue, id, attempt } }              not run: lease it again
//!                   | { "Running": { queue, leases: [{ id, attempt }] } }     every RUNNING_EVERY_MS
//! producer -> worker  { "Item":    { v: 1, queue, id, attempt, body: bytes } }    uses one credit
//!                   | { "Settled": { queue, id } }         a Done/Failed/Release is on its disk
//!                   | { "Drained": { queue, returned: u32 } }    nothing ready: credit given back
//!                   | { "Pending": { queue, count: u32 } }          items ready again (a hint)
//!                   | { "NotAllowed": { queue } }          the queue's policy refuses this worker
//! ```
//!
//! A worker never holds more items than the credit it gave (its concurrency plus a small
//! prefetch, over all producers). Each delivery is a **lease** numbered by `attempt`: the
//! producer writes it to disk before it sends the item, takes the item back when the
//! worker's stream closes (unless the producer closed it to reconnect a worker that lives:
//! then, as after the producer's restart, the worker's next stream names what it holds in
//! `Running` before its first `Want`) or the lease runs past [`LEASE_MS`] without a
//! `Running` naming it, and counts every delivery. `Failed` sends the item back after a backoff; past the
//! worker's `max_deliver` deliveries the item is a dead letter, kept at the producer until
//! retried. The first `Done` for an item ends it; every `Done`, `Failed` and `Release` is
//! answered `Settled` once it is on the producer's disk, and a worker says it again on its
//! next stream until it is.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::{DecodeError, from_cbor, to_cbor};
use crate::service::MAX_SERVICE_BODY_BYTES;

name_type! {
    /// A valid queue name: 1 to 64 bytes of ASCII letters, digits, `-`, `_`, `.`.
    QueueName, ParseQueueError, "queue"
}

/// The version of `/weft/queue/1` frames this crate writes and reads.
pub const QUEUE_VERSION: u8 = 1;

/// Largest item body: larger ones are refused (share a blob and push its id instead).
pub const MAX_ITEM_BYTES: usize = MAX_SERVICE_BODY_BYTES;

/// Largest frame on `/weft/queue/1`: an item and its envelope.
pub const MAX_QUEUE_FRAME_BYTES: usize = MAX_ITEM_BYTES + 4096;

/// How long a lease lasts without a `Running` naming it: the ack deadline.
pub const LEASE_MS: u64 = 30_000;

/// How often a worker names the items it holds, extending their leases.
pub const RUNNING_EVERY_MS: u64 = 10_000;

/// Most credit one worker may hold at one producer for one queue.
pub const MAX_CREDIT: u32 = 1024;

/// Most queues one worker's session pulls from: a `Want` for one more is refused.
pub const MAX_QUEUES_PER_SESSION: usize = 64;

/// Most leases one `Running` frame names.
pub const MAX_LEASES_PER_FRAME: usize = 1024;

/// Deliveries after which an item is a dead letter, unless the worker says otherwise.
pub const DEFAULT_MAX_DELIVER: u32 = 5;

/// Most deliveries a worker may ask for before an item is a dead letter.
pub const MAX_MAX_DELIVER: u32 = 100;

/// Longest failure reason kept with an item, in bytes.
pub const MAX_REASON_BYTES: usize = 512;

/// Most queues one record names.
pub const MAX_HELD_QUEUES: usize = 64;

/// The name of one item: random, or derived from the queue and a key the producer gave
/// (then pushing the same key again is a no-op).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ItemId(#[serde(with = "crate::codec::byte_array")] pub [u8; 16]);

impl ItemId {
    /// The id of the item pushed to `queue` with idempotency key `key`.
    pub fn keyed(queue: &QueueName, key: &str) -> ItemId {
        let mut hasher = blake3::Hasher::new_derive_key("weft/v1/queue-item-id");
        hasher.update(queue.as_str().as_bytes());
        hasher.update(&[0]);
        hasher.update(key.as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        ItemId(id)
    }
}

impl fmt::Debug for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ItemId({self})")
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ItemId {
    type Err = DecodeError;

    fn from_str(s: &str) -> Result<ItemId, DecodeError> {
        let bad = || DecodeError::Invalid(format!("`{s}` is not an item id (32 hex digits)"));
        if s.len() != 32 {
            return Err(bad());
        }
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
                .map_err(|_| bad())?;
        }
        Ok(ItemId(id))
    }
}

/// One delivery of an item: its id and which delivery it is (from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Lease {
    /// The item.
    pub id: ItemId,
    /// Its delivery number.
    pub attempt: u32,
}

/// A worker's frame to a producer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkerFrame {
    /// More credit: the producer may send up to `credit` more items of `queue`.
    Want {
        /// Frame version, [`QUEUE_VERSION`].
        v: u8,
        /// The queue.
        queue: QueueName,
        /// Items more the worker takes.
        credit: u32,
        /// Deliveries after which an item this worker fails is a dead letter.
        max_deliver: u32,
    },
    /// The worker ran the item: it is done.
    Done {
        /// The queue.
        queue: QueueName,
        /// The delivery acknowledged.
        lease: Lease,
    },
    /// The worker ran the item and it failed: deliver it again later.
    Failed {
        /// The queue.
        queue: QueueName,
        /// The delivery that failed.
        lease: Lease,
        /// Why, in one line.
        reason: String,
    },
    /// The worker will not run the item (it is stopping): lease it to another at once.
    Release {
        /// The queue.
        queue: QueueName,
        /// The delivery given back.
        lease: Lease,
    },
    /// The worker still holds these items: their leases go on.
    Running {
        /// The queue.
        queue: QueueName,
        /// The leases held, at most [`MAX_LEASES_PER_FRAME`].
        leases: Vec<Lease>,
    },
}

/// A producer's frame to a worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProducerFrame {
    /// An item leased to the worker.
    Item {
        /// Frame version, [`QUEUE_VERSION`].
        v: u8,
        /// The queue.
        queue: QueueName,
        /// The delivery.
        lease: Lease,
        /// The item.
        #[serde(with = "crate::codec::byte_vec")]
        body: Vec<u8>,
    },
    /// The worker's word on an item is on the producer's disk.
    Settled {
        /// The queue.
        queue: QueueName,
        /// The item.
        id: ItemId,
    },
    /// Nothing of the queue is ready: the worker's unused credit comes back.
    Drained {
        /// The queue.
        queue: QueueName,
        /// The credit given back.
        returned: u32,
    },
    /// Items of the queue are ready again.
    Pending {
        /// The queue.
        queue: QueueName,
        /// How many.
        count: u32,
    },
    /// The queue's policy does not let this worker work it.
    NotAllowed {
        /// The queue.
        queue: QueueName,
    },
}

/// A queue a producer holds items of, as its record says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    /// The queue.
    pub queue: QueueName,
    /// Items ready to be leased.
    pub pending: u32,
}

impl WorkerFrame {
    /// Decodes a worker's frame body, checking its version and counts.
    pub fn decode(bytes: &[u8]) -> Result<WorkerFrame, DecodeError> {
        let frame: WorkerFrame = from_cbor(bytes)?;
        match &frame {
            WorkerFrame::Want { v, .. } if *v != QUEUE_VERSION => Err(DecodeError::Version(*v)),
            WorkerFrame::Running { leases, .. } if leases.len() > MAX_LEASES_PER_FRAME => Err(
                DecodeError::Invalid(format!("more than {MAX_LEASES_PER_FRAME} leases")),
            ),
            WorkerFrame::Failed { reason, .. } if reason.len() > MAX_REASON_BYTES => {
                Err(DecodeError::TooLarge {
                    what: "failure reason",
                    len: reason.len(),
                    max: MAX_REASON_BYTES,
                })
            }
            _ => Ok(frame),
        }
    }

    /// Encodes it for the wire.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        to_cbor(self)
    }
}

impl ProducerFrame {
    /// Decodes a producer's frame body, checking its version and the item's size.
    pub fn decode(bytes: &[u8]) -> Result<ProducerFrame, DecodeError> {
        let frame: ProducerFrame = from_cbor(bytes)?;
        match &frame {
            ProducerFrame::Item { v, .. } if *v != QUEUE_VERSION => Err(DecodeError::Version(*v)),
            ProducerFrame::Item { body, .. } if body.len() > MAX_ITEM_BYTES => {
                Err(DecodeError::TooLarge {
                    what: "queue item",
                    len: body.len(),
                    max: MAX_ITEM_BYTES,
                })
            }
            _ => Ok(frame),
        }
    }

    /// Encodes it for the wire.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        to_cbor(self)
    }
}

/// Cuts `reason` to at most [`MAX_REASON_BYTES`] on a character boundary.
pub fn clip_reason(reason: &str) -> String {
    let mut end = reason.len().min(MAX_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

/// An item for a local worker, on the local API's upgraded connection (node to program),
/// framed like everything else (`u32` BE length + CBOR); the program answers with a
/// [`crate::service::HandlerReply`] for the same `serve` (`Ok`: done, `Failed`: failed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkRequest {
    /// The run, for the answer.
    pub serve: u64,
    /// The item.
    pub id: ItemId,
    /// Its delivery number, from 1.
    pub attempt: u32,
    /// The item's body.
    #[serde(with = "crate::codec::byte_vec")]
    pub body: Vec<u8>,
}

/// `POST /v1/queues/{queue}/items[?id=KEY]`: the pushed item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    /// The item's id (32 hex digits).
    pub id: String,
    /// False when an item with this key was pushed before (nothing was enqueued).
    pub new: bool,
}

/// `GET /v1/queues/{queue}`: a queue at this node, as its producer and as its worker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStatus {
    /// The queue.
    pub queue: String,
    /// Items held here waiting for a worker (ready or backing off).
    pub pending: u64,
    /// Items held here leased to a worker.
    pub in_flight: u64,
    /// Items held here acknowledged (the last ones kept, see `weft queue status`).
    pub done: u64,
    /// Items held here that went to the dead letters.
    pub dead: u64,
    /// Deliveries after the first (failures, lost leases).
    pub redeliveries: u64,
    /// Workers with a stream open to this node for the queue.
    pub workers: u32,
    /// Producers this node works the queue from (0 when it does not work it).
    pub producers: u32,
    /// Items this node's worker runs or holds now.
    pub working: u32,
}

/// `GET /v1/queues/{queue}/dead`: one dead letter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The item's id (32 hex digits).
    pub id: String,
    /// Deliveries it had.
    pub attempts: u32,
    /// Why the last one failed.
    pub reason: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was pushed, milliseconds since the Unix epoch.
    pub pushed_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn frames_round_trip(
            id in any::<[u8; 16]>(),
            attempt in any::<u32>(),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            credit in any::<u32>(),
            reason in ".{0,40}",
        ) {
            let queue: QueueName = "jobs".parse().unwrap();
            let lease = Lease { id: ItemId(id), attempt };
            let workers = [
                WorkerFrame::Want { v: QUEUE_VERSION, queue: queue.clone(), credit, max_deliver: 5 },
                WorkerFrame::Done { queue: queue.clone(), lease },
                WorkerFrame::Failed { queue: queue.clone(), lease, reason },
                WorkerFrame::Release { queue: queue.clone(), lease },
                WorkerFrame::Running { queue: queue.clone(), leases: vec![lease; 3] },
            ];
            for frame in workers {
                prop_assert_eq!(WorkerFrame::decode(&frame.encode().unwrap()).unwrap(), frame);
            }
            let producers = [
                ProducerFrame::Item { v: QUEUE_VERSION, queue: queue.clone(), lease, body },
                ProducerFrame::Settled { queue: queue.clone(), id: ItemId(id) },
                ProducerFrame::Drained { queue: queue.clone(), returned: credit },
                ProducerFrame::Pending { queue: queue.clone(), count: credit },
                ProducerFrame::NotAllowed { queue },
            ];
            for frame in producers {
                prop_assert_eq!(ProducerFrame::decode(&frame.encode().unwrap()).unwrap(), frame);
            }
            prop_assert_eq!(ItemId(id).to_string().parse::<ItemId>().unwrap(), ItemId(id));
        }
    }

    #[test]
    fn other_versions_oversize_items_and_long_lists_are_refused() {
        let queue: QueueName = "jobs".parse().unwrap();
        let lease = Lease {
            id: ItemId([1; 16]),
            attempt: 1,
        };
        let item = |v, len| ProducerFrame::Item {
            v,
            queue: queue.clone(),
            lease,
            body: vec![0; len],
        };
        let reason =
            |f: ProducerFrame| ProducerFrame::decode(&f.encode().unwrap()).map_err(|e| e.reason());
        assert_eq!(reason(item(QUEUE_VERSION + 1, 1)), Err("version"));
        assert_eq!(
            reason(item(QUEUE_VERSION, MAX_ITEM_BYTES + 1)),
            Err("oversize")
        );
        let running = WorkerFrame::Running {
            queue: queue.clone(),
            leases: vec![lease; MAX_LEASES_PER_FRAME + 1],
        };
        assert!(WorkerFrame::decode(&running.encode().unwrap()).is_err());
        let failed = WorkerFrame::Failed {
            queue,
            lease,
            reason: "x".repeat(MAX_REASON_BYTES + 1),
        };
        assert!(WorkerFrame::decode(&failed.encode().unwrap()).is_err());
        assert_eq!(
            clip_reason(&"é".repeat(MAX_REASON_BYTES)).len(),
            MAX_REASON_BYTES
        );
    }

    #[test]
    fn keyed_ids_depend_on_queue_and_key() {
        let a: QueueName = "a".parse().unwrap();
        let b: QueueName = "b".parse().unwrap();
        assert_eq!(ItemId::keyed(&a, "k"), ItemId::keyed(&a, "k"));
        assert_ne!(ItemId::keyed(&a, "k"), ItemId::keyed(&b, "k"));
        assert_ne!(ItemId::keyed(&a, "k"), ItemId::keyed(&a, "k2"));
        assert!("zz".parse::<ItemId>().is_err());
    }
}
