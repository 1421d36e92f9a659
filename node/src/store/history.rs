//! Tree `history`: every message this node sent or received, direct and topic.
//!
//! Two key spaces in one tree:
//! - `b'm' ++ ts (u64 BE) ++ id (32)` -> JSON [`Message`]: ordered by time, so iteration is
//!   chronological;
//! - `b'i' ++ id (32)` -> `ts (u64 BE)`: the index that makes de-duplication a point lookup.

use weft_proto::MessageId;
use weft_proto::api::{DeliveryState, InboxQuery, Kind, Message};
use weft_proto::limits::MAX_INBOX_LIMIT;

use super::{StoreError, decode, encode};

/// How many entries a query returns when it names no limit.
pub const DEFAULT_INBOX_LIMIT: usize = 50;

/// The `history` tree.
#[derive(Clone)]
pub struct HistoryTree(pub(super) sled::Tree);

fn message_key(ts: u64, id: &MessageId) -> Vec<u8> {
    let mut key = Vec::with_capacity(41);
    key.push(b'm');
    key.extend_from_slice(&ts.to_be_bytes());
    key.extend_from_slice(&id.0);
    key
}

fn index_key(id: &MessageId) -> Vec<u8> {
    let mut key = Vec::with_capacity(33);
    key.push(b'i');
    key.extend_from_slice(&id.0);
    key
}

impl HistoryTree {
    /// Stores `message` unless one with its id is already stored. Returns true if stored.
    /// The event loop is the only writer, so check-then-write does not race.
    pub fn insert_if_new(&self, message: &Message) -> Result<bool, StoreError> {
        if self.contains(&message.id)? {
            return Ok(false);
        }
        // Two plain inserts, record first, not a `sled::Batch`: sled rolls (writes and syncs)
        // its IO buffer on every batch, which measured as the dominant cost of a message.
        // sled recovers a prefix of its log, so a crash can leave a record without its index
        // (the retry rewrites the same record under the same key) but never an index without
        // its record.
        self.0
            .insert(message_key(message.ts, &message.id), encode(message))?;
        self.0
            .insert(index_key(&message.id), &message.ts.to_be_bytes())?;
        Ok(true)
    }

    /// Whether a message with `id` is stored.
    pub fn contains(&self, id: &MessageId) -> Result<bool, StoreError> {
        Ok(self.0.contains_key(index_key(id))?)
    }

    /// The stored message with `id`.
    pub fn message(&self, id: &MessageId) -> Result<Option<Message>, StoreError> {
        let Some(ts) = self.0.get(index_key(id))? else {
            return Ok(None);
        };
        let ts = u64::from_be_bytes(ts.as_ref().try_into().map_err(|_| StoreError::Corrupt {
            tree: "history",
            detail: "index entry is not 8 bytes".into(),
        })?);
        match self.0.get(message_key(ts, id))? {
            None => Ok(None),
            Some(bytes) => decode("history", &bytes).map(Some),
        }
    }

    /// Drops every message older than `cutoff` (microseconds since the Unix epoch); how many.
    pub fn prune_before(&self, cutoff: u64) -> Result<usize, StoreError> {
        let end = message_key(cutoff, &MessageId([0; 32]));
        let mut pruned = 0;
        for entry in self.0.range(vec![b'm']..end) {
            let (key, _) = entry?;
            let id: [u8; 32] = key[9..].try_into().map_err(|_| StoreError::Corrupt {
                tree: "history",
                detail: "record key is not 41 bytes".into(),
            })?;
            // Index first: a crash in between leaves a record without its index, which a
            // later prune removes, never an index without its record.
            self.0.remove(index_key(&MessageId(id)))?;
            self.0.remove(key)?;
            pruned += 1;
        }
        Ok(pruned)
    }

    /// Records where delivery of a sent direct message stands.
    pub fn set_state(&self, id: &MessageId, state: DeliveryState) -> Result<(), StoreError> {
        if let Some(mut message) = self.message(id)? {
            message.state = Some(state);
            self.0
                .insert(message_key(message.ts, id), encode(&message))?;
        }
        Ok(())
    }

    /// The newest messages matching `query`, oldest first.
    pub fn query(&self, query: &InboxQuery) -> Result<Vec<Message>, StoreError> {
        let limit = query
            .limit
            .unwrap_or(DEFAULT_INBOX_LIMIT)
            .min(MAX_INBOX_LIMIT);
        let mut out = Vec::new();
        for entry in self.0.scan_prefix([b'm']).rev() {
            if out.len() >= limit {
                break;
            }
            let (_, value) = entry?;
            let message: Message = decode("history", &value)?;
            if matches(query, &message) {
                out.push(message);
            }
        }
        out.reverse();
        Ok(out)
    }
}

fn matches(query: &InboxQuery, message: &Message) -> bool {
    if let Some(peer) = &query.from {
        let involved = message.kind == Kind::Direct
            && (&message.from == peer || message.to.as_ref() == Some(peer));
        if !involved {
            return false;
        }
    }
    if let Some(topic) = &query.topic {
        if message.topic.as_ref() != Some(topic) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_proto::api::Direction;

    fn message(ts: u64, kind: Kind, from: &str, text: &str) -> Message {
        Message {
            id: MessageId::derive(weft_proto::id::IdContext::Direct, &[text.as_bytes()]),
            kind,
            direction: Direction::In,
            from: from.into(),
            to: (kind == Kind::Direct).then(|| "me".into()),
            topic: (kind == Kind::Topic).then(|| "chat".parse().unwrap()),
            ts,
            text: text.into(),
            state: None,
        }
    }

    #[test]
    fn stores_once_orders_by_time_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let h = &store.history;
        let late = message(30, Kind::Direct, "alice", "late");
        let early = message(10, Kind::Topic, "bob", "early");
        let mid = message(20, Kind::Direct, "bob", "mid");
        assert!(h.insert_if_new(&late).unwrap());
        assert!(h.insert_if_new(&early).unwrap());
        assert!(h.insert_if_new(&mid).unwrap());
        assert!(
            !h.insert_if_new(&late).unwrap(),
            "a duplicate is not stored twice"
        );
        assert_eq!(h.query(&InboxQuery::default()).unwrap().len(), 3);

        let all = h.query(&InboxQuery::default()).unwrap();
        let texts: Vec<_> = all.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["early", "mid", "late"], "newest last");

        let from_bob = h
            .query(&InboxQuery {
                from: Some("bob".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            from_bob,
            vec![mid.clone()],
            "topic messages are not direct ones"
        );

        let topic = h
            .query(&InboxQuery {
                topic: Some("chat".parse().unwrap()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(topic, vec![early]);

        let newest = h
            .query(&InboxQuery {
                limit: Some(1),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(newest, vec![late.clone()]);

        h.set_state(&late.id, DeliveryState::Delivered).unwrap();
        assert_eq!(
            h.message(&late.id).unwrap().unwrap().state,
            Some(DeliveryState::Delivered)
        );
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let m = message(5, Kind::Direct, "alice", "kept");
        {
            let store = crate::store::Store::open(dir.path()).unwrap();
            store.history.insert_if_new(&m).unwrap();
            store.flush().unwrap();
        }
        let store = crate::store::Store::open(dir.path()).unwrap();
        assert_eq!(store.history.message(&m.id).unwrap(), Some(m));
    }

    #[test]
    fn prunes_what_is_past_retention_with_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let h = &store.history;
        let old = message(10, Kind::Direct, "alice", "old");
        let new = message(30, Kind::Direct, "alice", "new");
        h.insert_if_new(&old).unwrap();
        h.insert_if_new(&new).unwrap();
        assert_eq!(h.prune_before(20).unwrap(), 1);
        assert!(!h.contains(&old.id).unwrap() && h.contains(&new.id).unwrap());
        assert_eq!(h.query(&InboxQuery::default()).unwrap(), vec![new]);
        assert_eq!(h.prune_before(20).unwrap(), 0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// The seen-set across replays and restarts: however often and in whatever order
        /// copies arrive, with the store reopened in between (a restart), each message is new
        /// exactly once and stored once.
        #[test]
        fn each_message_is_new_once_across_replays_and_restarts(
            arrivals in proptest::collection::vec((0u8..12, proptest::bool::weighted(0.1)), 1..80),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::Store::open(dir.path()).unwrap();
            let mut new = std::collections::BTreeSet::new();
            for (n, restart) in arrivals {
                if restart {
                    store.flush().unwrap();
                    drop(store);
                    store = crate::store::Store::open(dir.path()).unwrap();
                }
                let m = message(u64::from(n) * 10, Kind::Direct, "alice", &format!("m{n}"));
                let fresh = store.history.insert_if_new(&m).unwrap();
                proptest::prop_assert_eq!(fresh, new.insert(n), "message {} new twice", n);
            }
            let stored = store.history.query(&InboxQuery { limit: Some(1000), ..Default::default() }).unwrap();
            proptest::prop_assert_eq!(stored.len(), new.len());
        }
    }
}
