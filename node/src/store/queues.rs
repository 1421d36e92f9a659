//! Trees `queue_items`, `queue_bodies` and `queue_done`: the work items this node holds as
//! their producer, and the last ones acknowledged.
//!
//! - `queue_items`: item id (16) -> CBOR [`StoredItem`] (its queue, place, deliveries and
//!   state; small, rewritten at every lease).
//! - `queue_bodies`: item id (16) -> the item's bytes, written once.
//! - `queue_done`: item id (16) -> CBOR [`DoneItem`]: acknowledged items, so that a push with
//!   the same key is not enqueued again and a late acknowledgement is known; the core keeps
//!   the newest and forgets the rest.
//!
//! All three change only through [`super::write::Write`], in the flush task.

use serde::{Deserialize, Serialize};
use weft_proto::mesh::MemberKey;
use weft_proto::queue::{ItemId, QueueName};

use weft_proto::codec::{from_cbor, to_cbor};

use super::StoreError;

/// Where an item stands at its producer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemState {
    /// Waiting for a worker.
    Ready,
    /// Leased to a worker, for its delivery `attempt`.
    Leased {
        /// The worker's key.
        worker: MemberKey,
        /// The delivery.
        attempt: u32,
        /// Deliveries after which the worker has it dead-lettered.
        max_deliver: u32,
    },
    /// A dead letter: kept until retried.
    Dead {
        /// Why its last delivery failed.
        reason: String,
    },
}

/// An item, less its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredItem {
    /// The queue.
    pub queue: QueueName,
    /// Its place in this node's pushes (first pushed, first leased).
    pub seq: u64,
    /// When it was pushed, milliseconds since the Unix epoch.
    pub pushed_ms: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Deliveries so far.
    pub attempts: u32,
    /// Where it stands.
    pub state: ItemState,
}

/// An acknowledged item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoneItem {
    /// The queue.
    pub queue: QueueName,
    /// Its place among acknowledgements (the oldest are forgotten first).
    pub seq: u64,
}

/// The queue trees.
#[derive(Clone)]
pub struct QueueTrees {
    pub(super) items: sled::Tree,
    pub(super) bodies: sled::Tree,
    pub(super) done: sled::Tree,
}

impl QueueTrees {
    /// Stores a new item and its bytes.
    pub fn push(&self, id: &ItemId, item: &StoredItem, body: &[u8]) -> Result<(), StoreError> {
        self.bodies.insert(id.0, body)?;
        self.items.insert(id.0, encode("queue_items", item)?)?;
        Ok(())
    }

    /// Rewrites what is known of an item (not its bytes).
    pub fn set(&self, id: &ItemId, item: &StoredItem) -> Result<(), StoreError> {
        self.items.insert(id.0, encode("queue_items", item)?)?;
        Ok(())
    }

    /// An item was acknowledged: it goes, and is remembered as done.
    pub fn finish(&self, id: &ItemId, done: &DoneItem) -> Result<(), StoreError> {
        self.items.remove(id.0)?;
        self.bodies.remove(id.0)?;
        self.done.insert(id.0, encode("queue_done", done)?)?;
        Ok(())
    }

    /// Forgets that an item was done.
    pub fn forget_done(&self, id: &ItemId) -> Result<(), StoreError> {
        self.done.remove(id.0)?;
        Ok(())
    }

    /// The bytes of item `id`, if it is held.
    pub fn body(&self, id: &ItemId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.bodies.get(id.0)?.map(|b| b.to_vec()))
    }

    /// Every held item, less its bytes.
    pub fn items(&self) -> Result<Vec<(ItemId, StoredItem)>, StoreError> {
        self.items
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                Ok((item_id(&key)?, decode("queue_items", &value)?))
            })
            .collect()
    }

    /// Every remembered acknowledged item.
    pub fn done(&self) -> Result<Vec<(ItemId, DoneItem)>, StoreError> {
        self.done
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                Ok((item_id(&key)?, decode("queue_done", &value)?))
            })
            .collect()
    }
}

fn encode<T: Serialize>(tree: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    to_cbor(value).map_err(|e| StoreError::Corrupt {
        tree,
        detail: e.to_string(),
    })
}

fn decode<T: serde::de::DeserializeOwned>(
    tree: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    from_cbor(bytes).map_err(|e| StoreError::Corrupt {
        tree,
        detail: e.to_string(),
    })
}

fn item_id(key: &[u8]) -> Result<ItemId, StoreError> {
    let id: [u8; 16] = key.try_into().map_err(|_| StoreError::Corrupt {
        tree: "queue_items",
        detail: format!("a key of {} bytes", key.len()),
    })?;
    Ok(ItemId(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn an_item_is_pushed_leased_and_finished() {
        let store = Store::temporary().unwrap();
        let trees = &store.queues;
        let id = ItemId([7; 16]);
        let mut item = StoredItem {
            queue: "jobs".parse().unwrap(),
            seq: 1,
            pushed_ms: 5,
            size: 3,
            attempts: 0,
            state: ItemState::Ready,
        };
        trees.push(&id, &item, b"abc").unwrap();
        item.attempts = 1;
        item.state = ItemState::Leased {
            worker: MemberKey([1; 32]),
            attempt: 1,
            max_deliver: 5,
        };
        trees.set(&id, &item).unwrap();
        assert_eq!(trees.items().unwrap(), vec![(id, item.clone())]);
        assert_eq!(trees.body(&id).unwrap().as_deref(), Some(&b"abc"[..]));
        let done = DoneItem {
            queue: item.queue.clone(),
            seq: 1,
        };
        trees.finish(&id, &done).unwrap();
        assert!(trees.items().unwrap().is_empty());
        assert_eq!(trees.body(&id).unwrap(), None);
        assert_eq!(trees.done().unwrap(), vec![(id, done)]);
        trees.forget_done(&id).unwrap();
        assert!(trees.done().unwrap().is_empty());
    }
}
